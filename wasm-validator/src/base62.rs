//! Fixed-width, big-endian base62 over the alphabet `0-9A-Za-z`.
//!
//! Widths are fixed so a key parses without separators: a value is
//! left-padded with `0` to the width of the largest value its byte length
//! can hold.

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The number of base62 digits needed for any value of `bytes` bytes.
pub const fn width_for_bytes(bytes: usize) -> usize {
    // ceil(bytes * 8 / log2(62)); log2(62) ≈ 5.954196310386876. Computed
    // with integers: 62^w >= 256^bytes. Exact for the widths used here and
    // checked by a test for every length up to 64.
    let mut width = 0;
    // Compare log values scaled by 1e6 to stay in const integer math.
    while (width as u64) * 5_954_196 < (bytes as u64) * 8_000_000 {
        width += 1;
    }
    width
}

fn digit_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'Z' => Some(c - b'A' + 10),
        b'a'..=b'z' => Some(c - b'a' + 36),
        _ => None,
    }
}

/// Encodes `bytes` (big-endian) as exactly `width` base62 digits.
///
/// # Panics
/// Never for the widths of [`width_for_bytes`]; a too-small width is a
/// programming error and is caught by the tests.
pub fn encode(bytes: &[u8], width: usize) -> String {
    let mut digits = vec![b'0'; width];
    // Repeated division of the big-endian number by 62.
    let mut num: Vec<u8> = bytes.to_vec();
    let mut pos = width;
    while num.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for byte in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        assert!(
            pos > 0,
            "base62 width {width} too small for {} bytes",
            bytes.len()
        );
        pos -= 1;
        digits[pos] = ALPHABET[rem as usize];
    }
    // Every digit is ASCII from the alphabet.
    String::from_utf8(digits).expect("base62 digits are ASCII")
}

/// Decodes exactly `out_len` bytes (big-endian) from base62 `text`.
/// `None` when a character is outside the alphabet or the value does not
/// fit in `out_len` bytes.
pub fn decode(text: &str, out_len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; out_len];
    for c in text.bytes() {
        let mut carry = u32::from(digit_value(c)?);
        for byte in out.iter_mut().rev() {
            let acc = u32::from(*byte) * 62 + carry;
            *byte = (acc & 0xff) as u8;
            carry = acc >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// True when every character of `text` is in the alphabet.
pub fn is_base62(text: &str) -> bool {
    // Every byte is checked, without stopping at the first bad one, with
    // range checks and no branch per byte, so the compiler can compare 16
    // bytes at a time: verification checks every key it is given, and the
    // branchy loop was a third of parsing one (BENCHMARKS.md).
    text.bytes().fold(true, |all, c| {
        all & ((c.wrapping_sub(b'0') < 10)
            | (c.wrapping_sub(b'A') < 26)
            | (c.wrapping_sub(b'a') < 26))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_base62_accepts_exactly_the_alphabet() {
        for c in 0..=255u8 {
            let one = [c];
            let text = String::from_utf8_lossy(&one);
            assert_eq!(is_base62(&text), ALPHABET.contains(&c), "byte {c:#04x}");
            // A bad byte anywhere in a long run of good ones.
            let mut long = vec![b'a'; 71];
            long[37] = c;
            let long = String::from_utf8_lossy(&long);
            assert_eq!(is_base62(&long), ALPHABET.contains(&c), "byte {c:#04x}");
        }
        assert!(is_base62(""));
    }

    #[test]
    fn widths_match_the_design() {
        assert_eq!(width_for_bytes(16), 22);
        assert_eq!(width_for_bytes(32), 43);
        assert_eq!(width_for_bytes(4), 6);
    }

    #[test]
    fn width_is_minimal_and_sufficient() {
        // 62^w >= 256^n and 62^(w-1) < 256^n, checked with f64 logs, which
        // are accurate enough away from equality (none of these are close).
        for n in 1..=64usize {
            let w = width_for_bytes(n);
            let need = (n as f64) * 8.0 / 62f64.log2();
            assert!((w as f64) >= need && ((w - 1) as f64) < need, "n={n} w={w}");
        }
    }

    #[test]
    fn round_trips_and_pads() {
        assert_eq!(encode(&[0; 4], 6), "000000");
        assert_eq!(encode(&[0, 0, 0, 61], 6), "00000z");
        assert_eq!(encode(&[0, 0, 0, 62], 6), "000010");
        assert_eq!(encode(&[0xff; 4], 6), "4gfFC3");
        let max = [0xffu8; 32];
        let text = encode(&max, 43);
        assert_eq!(text.len(), 43);
        assert_eq!(decode(&text, 32).unwrap(), max.to_vec());
        let some: Vec<u8> = (0u8..16)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        assert_eq!(decode(&encode(&some, 22), 16).unwrap(), some);
    }

    #[test]
    fn decode_rejects_overflow_and_foreign_characters() {
        // 62^6 - 1 does not fit in 4 bytes.
        assert_eq!(decode("zzzzzz", 4), None);
        assert_eq!(decode("00000_", 4), None);
        assert_eq!(decode("4gfFC4", 4), None, "one past u32::MAX");
        assert!(decode("4gfFC3", 4).is_some());
    }
}
