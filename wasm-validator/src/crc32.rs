//! CRC-32 (IEEE 802.3, reflected: the CRC of zlib, PNG and `crc32fast`),
//! for the key checksum.
//!
//! Natively this is `crc32fast`, which folds the key's 70-odd bytes with
//! the CPU's carry-less multiply (PCLMULQDQ) where it has one: the checksum
//! is computed on every verification, and the 4 KiB table below took about
//! a third of a native `validate` (BENCHMARKS.md, "Core, native").
//!
//! In WebAssembly (no carry-less multiply) it is slice-by-4 over tables
//! built at compile time: 4 KiB of tables instead of the 16 KiB of a
//! slice-by-16 crate keeps the package small. The tests check the tables
//! against `crc32fast` natively, so both builds compute the same function.

/// The CRC-32 of `data`.
#[cfg(not(target_arch = "wasm32"))]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The CRC-32 of `data`.
#[cfg(target_arch = "wasm32")]
pub fn crc32(data: &[u8]) -> u32 {
    crc32_by_tables(data)
}

const POLY: u32 = 0xEDB8_8320;

const fn tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut j = 1;
        while j < 4 {
            let prev = t[j - 1][i];
            t[j][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            j += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 4] = tables();

/// The CRC-32 of `data`, slice-by-4.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
fn crc32_by_tables(data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut crc = !0u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        crc ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        crc = t[3][(crc & 0xff) as usize]
            ^ t[2][((crc >> 8) & 0xff) as usize]
            ^ t[1][((crc >> 16) & 0xff) as usize]
            ^ t[0][(crc >> 24) as usize];
    }
    for &b in words.remainder() {
        crc = t[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::{crc32, crc32_by_tables};

    #[test]
    fn check_values() {
        // The CRC-32 check value (the catalogue's "123456789") and others.
        for crc in [crc32, crc32_by_tables] {
            assert_eq!(crc(b"123456789"), 0xCBF4_3926);
            assert_eq!(crc(b""), 0);
            assert_eq!(crc(b"a"), 0xE8B7_BE43);
            assert_eq!(
                crc(b"The quick brown fox jumps over the lazy dog"),
                0x414F_A339
            );
        }
    }

    #[test]
    fn agrees_with_crc32fast_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..4 {
            for end in start..data.len() {
                let slice = &data[start..end];
                assert_eq!(
                    crc32_by_tables(slice),
                    crc32fast::hash(slice),
                    "{start}..{end}"
                );
            }
        }
    }
}
