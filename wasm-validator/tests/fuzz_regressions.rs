//! Defects the fuzz targets in fuzz/ found, kept as ordinary tests so they
//! stay fixed without nightly or cargo-fuzz. Each crash input is also a seed
//! of its target's corpus (fuzz/corpus/<target>/seed-crash-*), so every
//! fuzz run replays it.

use wasm_validator::key::{self, KEY_ID_LEN, MalformedReason, SECRET_BYTES, SECRET_LEN};
use wasm_validator::{VerdictCode, base62, validate};

/// parse_key: a key whose 43 secret digits exceed 2^256 - 1 parsed,
/// although no `format_key` can make it (43 base62 digits hold a little
/// more than 32 bytes; the key id had this bound, the secret did not). The
/// input as found (`cargo fuzz tmin` could not shorten it).
#[test]
fn a_secret_beyond_32_bytes_is_malformed() {
    let found = "kw_05ti3LMvbf87xXWt5lJWzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzVS0GgxCY";
    assert_eq!(key::parse(found).err(), Some(MalformedReason::BadCharacter));
    assert_eq!(
        validate(found, None, &[], 0, None).code,
        VerdictCode::Malformed
    );

    // The same key with the largest secret 32 bytes hold parses.
    let largest = base62::encode(&[0xff; SECRET_BYTES], SECRET_LEN);
    let key_id = &found[3..3 + KEY_ID_LEN];
    let text = format!("kw_{key_id}{largest}");
    let at_bound = format!("{text}{}", key::checksum(&text));
    assert!(key::parse(&at_bound).is_ok());
}

/// The secret bound is the decoder's: a one-digit change anywhere in the
/// largest secret parses exactly when the digits still decode to 32 bytes.
#[test]
fn a_key_parses_exactly_when_its_secret_decodes_to_32_bytes() {
    let largest = base62::encode(&[0xff; SECRET_BYTES], SECRET_LEN);
    let key_id = "0".repeat(KEY_ID_LEN);
    let mut checked = 0;
    for pos in 0..SECRET_LEN {
        for &digit in base62::ALPHABET {
            let mut secret = largest.clone().into_bytes();
            secret[pos] = digit;
            let secret = String::from_utf8(secret).unwrap();
            let text = format!("kw_{key_id}{secret}");
            let key = format!("{text}{}", key::checksum(&text));
            let fits = base62::decode(&secret, SECRET_BYTES).is_some();
            assert_eq!(key::parse(&key).is_ok(), fits, "{key}");
            if fits {
                // What parses is what `format_key` makes of its parts.
                let bytes: [u8; SECRET_BYTES] = base62::decode(&secret, SECRET_BYTES)
                    .unwrap()
                    .try_into()
                    .unwrap();
                assert_eq!(key::format_key("kw", &[0; 16], &bytes).1, key);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, SECRET_LEN * 62);
}
