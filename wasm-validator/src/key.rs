//! The key format: `<prefix>_<key id><secret><checksum>`.
//!
//! Widths are fixed (22 + 43 + 6 base62 digits), so the part after the
//! first `_` parses without separators. The checksum is CRC32 of everything
//! before it, so a typo or a truncated key is rejected before any look-up.

use crate::{base62, crc32};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_ID_BYTES: usize = 16;
pub const SECRET_BYTES: usize = 32;
pub const KEY_ID_LEN: usize = 22;
pub const SECRET_LEN: usize = 43;
pub const CHECKSUM_LEN: usize = 6;
pub const BODY_LEN: usize = KEY_ID_LEN + SECRET_LEN + CHECKSUM_LEN;
pub const MAX_PREFIX_LEN: usize = 16;
pub const DEFAULT_PREFIX: &str = "kw";

/// The regular expression secret scanners can use (published in the README).
pub const KEY_REGEX: &str = r"\b[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{71}\b";

/// Why a presented string is not a key. Every variant maps to `MALFORMED`;
/// the detail helps a developer, never an attacker (it says nothing about
/// whether a key exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReason {
    Empty,
    BadPrefix,
    BadLength,
    BadCharacter,
    BadChecksum,
}

impl MalformedReason {
    pub fn message(self) -> &'static str {
        match self {
            Self::Empty => "no key was presented",
            Self::BadPrefix => "the key prefix must match [a-z][a-z0-9]{0,15} followed by '_'",
            Self::BadLength => "the key has the wrong length (truncated or extended)",
            Self::BadCharacter => "the key contains a character outside 0-9A-Za-z",
            Self::BadChecksum => "the key checksum does not match (typo or corruption)",
        }
    }
}

/// True when `prefix` is a valid application key prefix.
pub fn is_valid_prefix(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_PREFIX_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// True when `key_id` has the shape of a key id (22 base62 digits that fit
/// in 16 bytes). Used to answer 404 for a malformed id without a look-up.
pub fn is_valid_key_id(key_id: &str) -> bool {
    key_id.len() == KEY_ID_LEN && base62::is_base62(key_id) && key_id_fits(key_id)
}

/// The largest key id: 2^128 - 1 in fixed-width base62. The alphabet is in
/// ASCII order, so for 22 base62 digits, "fits in 16 bytes" is a byte-wise
/// comparison with this (checked against the decoder by a test).
const MAX_KEY_ID: &[u8; KEY_ID_LEN] = b"7n42DGM5Tflk9n8mt7Fhc7";

/// True when 22 base62 digits fit in 16 bytes, without decoding.
fn key_id_fits(key_id: &str) -> bool {
    key_id.as_bytes() <= MAX_KEY_ID.as_slice()
}

/// The largest secret: 2^256 - 1 in fixed-width base62, compared the same
/// way. 43 digits hold a little more than 32 bytes, so without this check a
/// key could parse that no `format_key` makes (found by the parse_key fuzz
/// target; wasm-validator/tests/fuzz_regressions.rs checks the bound against
/// the decoder).
const MAX_SECRET: &[u8; SECRET_LEN] = b"yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1";

/// CRC32 of `text` as 6 base62 digits: the same digits as
/// `base62::encode(&crc.to_be_bytes(), 6)`, without allocating (verification
/// computes it on every call).
fn checksum_of(text: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32::crc32(text.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = base62::ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// The checksum the key format appends to `text`: the CRC-32 of its bytes
/// as 6 base62 digits. A key is `text + checksum(text)` where `text` is
/// `<prefix>_<key id><secret>`.
///
/// For tests and fuzz targets that build keys from chosen parts (a correct
/// checksum around a wrong secret, an unknown key id), so that they agree
/// with `parse` by construction rather than by a copy of the arithmetic.
pub fn checksum(text: &str) -> String {
    checksum_of(text).iter().map(|&c| char::from(c)).collect()
}

/// Encodes 16 random bytes as a key id.
pub fn encode_key_id(id_bytes: &[u8; KEY_ID_BYTES]) -> String {
    base62::encode(id_bytes, KEY_ID_LEN)
}

/// Builds the full key string from a prefix and random bytes. The caller
/// supplies the randomness (the OS CSPRNG in the service) so this stays pure.
/// Returns the key id and the whole key string.
///
/// # Panics
/// When `prefix` is not a valid prefix: callers validate it first.
pub fn format_key(
    prefix: &str,
    id_bytes: &[u8; KEY_ID_BYTES],
    secret_bytes: &[u8; SECRET_BYTES],
) -> (String, String) {
    assert!(is_valid_prefix(prefix), "invalid key prefix");
    let key_id = encode_key_id(id_bytes);
    let mut key = String::with_capacity(prefix.len() + 1 + BODY_LEN);
    key.push_str(prefix);
    key.push('_');
    key.push_str(&key_id);
    key.push_str(&base62::encode(secret_bytes, SECRET_LEN));
    let checksum = checksum_of(&key);
    key.extend(checksum.iter().map(|&c| char::from(c)));
    (key_id, key)
}

/// A presented key that has the right shape and checksum. Borrowed from the
/// presented string: parsing allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The whole key (without any `Bearer ` scheme or surrounding space):
    /// what is hashed.
    pub full: &'a str,
    pub prefix: &'a str,
    pub key_id: &'a str,
}

// Deliberately no Debug: `full` holds the secret.

/// Strips an optional `Bearer` scheme (case-insensitive, RFC 6750) and
/// surrounding white space.
pub fn strip_bearer(presented: &str) -> &str {
    let trimmed = presented.trim();
    match (trimmed.get(..6), trimmed.get(6..)) {
        (Some(scheme), Some(rest))
            if scheme.eq_ignore_ascii_case("bearer")
                && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
        {
            rest.trim_start()
        }
        _ => trimmed,
    }
}

/// Parses a presented key (bare, or a `Bearer` Authorization value).
pub fn parse(presented: &str) -> Result<ParsedKey<'_>, MalformedReason> {
    let full = strip_bearer(presented);
    if full.is_empty() {
        return Err(MalformedReason::Empty);
    }
    let (prefix, body) = full.split_once('_').ok_or(MalformedReason::BadPrefix)?;
    if !is_valid_prefix(prefix) {
        return Err(MalformedReason::BadPrefix);
    }
    if !base62::is_base62(body) {
        return Err(MalformedReason::BadCharacter);
    }
    if body.len() != BODY_LEN {
        return Err(MalformedReason::BadLength);
    }
    let checked_len = full.len() - CHECKSUM_LEN;
    if checksum_of(&full[..checked_len]) != full.as_bytes()[checked_len..] {
        return Err(MalformedReason::BadChecksum);
    }
    let key_id = &body[..KEY_ID_LEN];
    let secret = &body.as_bytes()[KEY_ID_LEN..KEY_ID_LEN + SECRET_LEN];
    // A key id that overflows 16 bytes, or a secret that overflows 32,
    // cannot have been generated.
    if !key_id_fits(key_id) || secret > MAX_SECRET.as_slice() {
        return Err(MalformedReason::BadCharacter);
    }
    Ok(ParsedKey {
        full,
        prefix,
        key_id,
    })
}

/// SHA-256 of the whole key string: what is stored, never the key.
pub fn hash_key(full_key: &str) -> [u8; 32] {
    Sha256::digest(full_key.as_bytes()).into()
}

/// Lower-case hex of a hash, the stored form.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Parses 64 hex digits (either case) into a hash.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Constant-time comparison of the presented key's hash with a stored one,
/// so response time says nothing about how many bytes matched.
pub fn hash_matches(full_key: &str, stored: &[u8; 32]) -> bool {
    hash_key(full_key).ct_eq(stored).into()
}

/// Lower-case hex of a hash, in an array.
fn hex_digits(hash: &[u8; 32]) -> [u8; 64] {
    // Arithmetic rather than a table look-up: no data-dependent memory
    // access, and the compiler does 16 bytes at a time.
    let digit = |n: u8| n + b'0' + u8::from(n > 9) * (b'a' - b'0' - 10);
    let mut out = [0u8; 64];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(hash) {
        pair[0] = digit(byte >> 4);
        pair[1] = digit(byte & 0x0f);
    }
    out
}

/// True, in constant time, when the SHA-256 of `full_key` is `stored_hex`
/// (64 hex digits of either case, the stored form). Anything that is not
/// a hash's 64 hex digits never matches.
///
/// The same answer as `from_hex(stored_hex) == Some(hash_key(full_key))`
/// (the fuzz target checks it), with less work on every verification:
/// the 32-byte hash becomes 64 hex digits, compared with the stored ones,
/// upper-case A-F folded to lower case (nothing else folds into a hex
/// digit). Decoding the stored hex, with a branch per digit, then
/// `subtle`'s comparison of the bytes, took about 40 ns of a 290 ns native
/// `validate` (BENCHMARKS.md).
pub fn hash_matches_hex(full_key: &str, stored_hex: &str) -> bool {
    /// Compared against when the stored text is not 64 bytes long, so the
    /// comparison does the same work (its length is not secret; this just
    /// keeps one code path). Not hex: it cannot match.
    const NOT_A_HASH: &[u8; 64] = &[b'z'; 64];
    let computed = hex_digits(&hash_key(full_key));
    let stored: &[u8; 64] = stored_hex.as_bytes().try_into().unwrap_or(NOT_A_HASH);
    // OR of the XORs of every byte pair: no branch, no early exit, and
    // one constant-time test of the result (the `constant_time_eq` way).
    let difference = computed.iter().zip(stored).fold(0u8, |diff, (&c, &s)| {
        let lower = s | (u8::from(s.wrapping_sub(b'A') < 6) << 5);
        diff | (c ^ lower)
    });
    difference.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (String, String) {
        let id: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
        let secret: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(71).wrapping_add(5));
        format_key("kw", &id, &secret)
    }

    #[test]
    fn format_has_fixed_widths_and_matches_the_published_regex_shape() {
        let (key_id, key) = sample();
        assert_eq!(key_id.len(), KEY_ID_LEN);
        assert_eq!(key.len(), 2 + 1 + 22 + 43 + 6);
        assert!(key.starts_with("kw_"));
        assert_eq!(&key[3..25], key_id);
        assert!(key[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn all_zero_bytes_are_left_padded() {
        let (key_id, key) = format_key("a", &[0; 16], &[0; 32]);
        assert_eq!(key_id, "0".repeat(22));
        assert!(key.starts_with(&format!("a_{}", "0".repeat(65))));
        assert!(parse(&key).is_ok());
    }

    #[test]
    fn parses_bare_and_bearer_forms() {
        let (key_id, key) = sample();
        for presented in [
            key.clone(),
            format!("Bearer {key}"),
            format!("bearer   {key}"),
            format!("  BEARER {key}\n"),
        ] {
            let parsed = parse(&presented).expect("valid key");
            assert_eq!(parsed.key_id, key_id);
            assert_eq!(parsed.prefix, "kw");
            assert_eq!(parsed.full, key);
        }
    }

    #[test]
    fn every_single_character_typo_is_detected() {
        let (_, key) = sample();
        let body_start = 3;
        for pos in body_start..key.len() {
            for replacement in [b'0', b'a', b'Z', b'9'] {
                let mut bytes = key.clone().into_bytes();
                if bytes[pos] == replacement {
                    continue;
                }
                bytes[pos] = replacement;
                let typo = String::from_utf8(bytes).unwrap();
                assert!(parse(&typo).is_err(), "typo at {pos} not caught");
            }
        }
    }

    #[test]
    fn adjacent_transpositions_are_detected() {
        let (_, key) = sample();
        for pos in 3..key.len() - 1 {
            let mut bytes = key.clone().into_bytes();
            if bytes[pos] == bytes[pos + 1] {
                continue;
            }
            bytes.swap(pos, pos + 1);
            assert!(
                parse(&String::from_utf8(bytes).unwrap()).is_err(),
                "swap at {pos}"
            );
        }
    }

    #[test]
    fn truncation_and_extension_are_rejected_as_bad_length() {
        let (_, key) = sample();
        for cut in 1..=10 {
            assert_eq!(
                parse(&key[..key.len() - cut]).err(),
                Some(MalformedReason::BadLength)
            );
        }
        assert_eq!(
            parse(&format!("{key}0")).err(),
            Some(MalformedReason::BadLength)
        );
    }

    #[test]
    fn bad_shapes_have_reasons() {
        assert_eq!(parse("").err(), Some(MalformedReason::Empty));
        assert_eq!(parse("Bearer ").err(), Some(MalformedReason::Empty));
        assert_eq!(
            parse("nounderscore").err(),
            Some(MalformedReason::BadPrefix)
        );
        assert_eq!(parse("Kw_abc").err(), Some(MalformedReason::BadPrefix));
        assert_eq!(parse("1w_abc").err(), Some(MalformedReason::BadPrefix));
        assert_eq!(
            parse(&format!("{}_x", "a".repeat(17))).err(),
            Some(MalformedReason::BadPrefix)
        );
        assert_eq!(
            parse("kw_abc-def").err(),
            Some(MalformedReason::BadCharacter)
        );
        assert_eq!(parse("kw_é").err(), Some(MalformedReason::BadCharacter));
        let (_, key) = sample();
        let mut bytes = key.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            parse(&String::from_utf8(bytes).unwrap()).err(),
            Some(MalformedReason::BadChecksum)
        );
    }

    #[test]
    fn the_key_id_bound_is_the_decoder_s() {
        assert_eq!(
            MAX_KEY_ID.as_slice(),
            base62::encode(&[0xff; KEY_ID_BYTES], KEY_ID_LEN).as_bytes()
        );
        let max = core::str::from_utf8(MAX_KEY_ID).unwrap();
        assert!(is_valid_key_id(max));
        assert!(base62::decode(max, KEY_ID_BYTES).is_some());
        // Every one-digit step above the bound overflows, below it fits.
        for pos in 0..KEY_ID_LEN {
            for &c in base62::ALPHABET {
                let mut id = *MAX_KEY_ID;
                id[pos] = c;
                let id = core::str::from_utf8(&id).unwrap();
                assert_eq!(
                    is_valid_key_id(id),
                    base62::decode(id, KEY_ID_BYTES).is_some(),
                    "{id}"
                );
            }
        }
        assert!(!is_valid_key_id("zzzzzzzzzzzzzzzzzzzzzz"));
        assert!(!is_valid_key_id("0000000000000000000000_"));
        assert!(!is_valid_key_id("000000000000000000000-"));
    }

    #[test]
    fn checksum_digits_are_the_base62_of_the_crc() {
        for text in ["", "kw_", "acme_0123456789", "a_zzzzzzzz"] {
            let crc = crc32fast::hash(text.as_bytes());
            let expected = base62::encode(&crc.to_be_bytes(), CHECKSUM_LEN);
            assert_eq!(checksum_of(text).as_slice(), expected.as_bytes());
            assert_eq!(checksum(text), expected);
        }
    }

    #[test]
    fn a_key_is_its_text_and_the_checksum_of_it() {
        let (_, key) = sample();
        let (text, digits) = key.split_at(key.len() - CHECKSUM_LEN);
        assert_eq!(checksum(text), digits);
    }

    #[test]
    fn prefixes() {
        assert!(is_valid_prefix("kw"));
        assert!(is_valid_prefix("a"));
        assert!(is_valid_prefix("acme2024sandbox0"));
        assert!(!is_valid_prefix(""));
        assert!(!is_valid_prefix("acme2024sandbox01"));
        assert!(!is_valid_prefix("Acme"));
        assert!(!is_valid_prefix("9a"));
        assert!(!is_valid_prefix("a_b"));
    }

    #[test]
    fn hash_is_sha256_of_the_whole_key_and_compares_in_constant_time() {
        let (_, key) = sample();
        let stored = hash_key(&key);
        // SHA-256 of "abc", the FIPS 180-2 test vector.
        assert_eq!(
            to_hex(&hash_key("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(from_hex(&to_hex(&stored)), Some(stored));
        assert!(hash_matches(&key, &stored));
        let mut other = stored;
        other[31] ^= 1;
        assert!(!hash_matches(&key, &other));
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn hash_matches_hex_agrees_with_decoding_the_stored_hex() {
        let (_, key) = sample();
        let lower = to_hex(&hash_key(&key));
        assert!(hash_matches_hex(&key, &lower));
        assert!(hash_matches_hex(&key, &lower.to_uppercase()));
        assert!(!hash_matches_hex(&key, &lower[..63]));
        assert!(!hash_matches_hex(&key, &format!("{lower}0")));
        assert!(!hash_matches_hex(&key, ""));
        assert!(!hash_matches_hex(&key, &"z".repeat(64)));
        // Every byte value at every position: a match exactly when the
        // stored text still decodes to the key's hash.
        for at in 0..64 {
            for c in 0..=127u8 {
                let mut text = lower.clone().into_bytes();
                text[at] = c;
                let text = String::from_utf8(text).unwrap();
                assert_eq!(
                    hash_matches_hex(&key, &text),
                    from_hex(&text) == Some(hash_key(&key)),
                    "{c:#04x} at {at}"
                );
            }
        }
    }

    #[test]
    fn from_hex_accepts_exactly_hex_digits_of_either_case() {
        let hex = "0123456789abcdef".repeat(4);
        let mut want = [0u8; 32];
        for (i, byte) in want.iter_mut().enumerate() {
            *byte = (((2 * i) % 16) << 4 | ((2 * i + 1) % 16)) as u8;
        }
        assert_eq!(from_hex(&hex), Some(want));
        assert_eq!(from_hex(&hex.to_uppercase()), Some(want));
        for c in 0..=127u8 {
            let value = (c as char).to_digit(16);
            for at in [0, 1, 37, 63] {
                let mut text = hex.clone().into_bytes();
                text[at] = c;
                let text = String::from_utf8(text).unwrap();
                let parsed = from_hex(&text);
                match value {
                    None => assert_eq!(parsed, None, "{c:#04x} at {at}"),
                    Some(v) => {
                        let byte = parsed.expect("hex")[at / 2];
                        let got = if at % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                        assert_eq!(u32::from(got), v, "{c:#04x} at {at}");
                    }
                }
            }
        }
    }
}
