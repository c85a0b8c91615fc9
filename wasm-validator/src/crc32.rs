//! CRC-32 (IEEE 802.3, reflected: the CRC of zlib, PNG and `crc32fast`),
//! for the key checksum.
//!
//! Slice-by-4 over tables built at compile time: 4 KiB of tables instead of
//! the 16 KiB of a slice-by-16 crate keeps the WebAssembly package small,
//! and a key's 70-odd bytes take a few tens of nanoseconds either way.

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

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
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
    use super::crc32;

    #[test]
    fn check_values() {
        // The CRC-32 check value (the catalogue's "123456789") and others.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn agrees_with_crc32fast_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..4 {
            for end in start..data.len() {
                let slice = &data[start..end];
                assert_eq!(crc32(slice), crc32fast::hash(slice), "{start}..{end}");
            }
        }
    }
}
