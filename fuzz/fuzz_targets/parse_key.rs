//! Key parsing on arbitrary strings: `strip_bearer`, `parse` and the key id
//! it yields (what the WebAssembly `keyId` export returns).
//!
//! Invariants: nothing panics; a key that parses is exactly the
//! `format_key` of its decoded parts (so every accepted key could have been
//! generated), its checksum is the CRC-32 of what precedes it, and a key
//! that does not parse is `MALFORMED` to `validate` with nothing disclosed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasm_validator::key::{self, BODY_LEN, CHECKSUM_LEN, KEY_ID_BYTES, KEY_ID_LEN, SECRET_BYTES};
use wasm_validator::{VerdictCode, base62, crc32, validate};

/// `text` with its last six bytes replaced by the checksum of what precedes
/// them (without a `Bearer` scheme), so that mutations reach the checks after
/// the checksum: a fuzzer rarely guesses a CRC-32.
fn with_checksum(text: &str) -> String {
    let mut cut = text.len().saturating_sub(CHECKSUM_LEN);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let checked = &text[..cut];
    format!("{checked}{}", key::checksum(key::strip_bearer(checked)))
}

fuzz_target!(|data: &[u8]| {
    // A JS caller's string reaches the core as UTF-8 (lone surrogates
    // replaced), so every input is a string here too. A leading 0x01 byte
    // (never part of a key) asks for a correct checksum.
    let presented = match data {
        [1, rest @ ..] => with_checksum(&String::from_utf8_lossy(rest)),
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let presented = presented.as_str();

    let stripped = key::strip_bearer(presented);
    let range = presented.as_bytes().as_ptr_range();
    let inner = stripped.as_bytes().as_ptr_range();
    assert!(
        range.start <= inner.start && inner.end <= range.end,
        "strip_bearer returns a part of its input"
    );
    assert_eq!(stripped, stripped.trim(), "no surrounding white space");

    let parsed = match key::parse(presented) {
        Ok(parsed) => parsed,
        Err(reason) => {
            assert!(!reason.message().is_empty());
            let verdict = validate(presented, None, &[], 0, None);
            assert_eq!(verdict.code, VerdictCode::Malformed);
            assert!(!verdict.valid && verdict.key_id.is_none());
            return;
        }
    };

    assert_eq!(
        parsed.full, stripped,
        "the key is the stripped presentation"
    );
    assert!(key::is_valid_prefix(parsed.prefix));
    assert!(key::is_valid_key_id(parsed.key_id));
    let body = &parsed.full[parsed.prefix.len() + 1..];
    assert_eq!(
        &parsed.full[..parsed.prefix.len() + 1],
        format!("{}_", parsed.prefix)
    );
    assert_eq!(body.len(), BODY_LEN);
    assert_eq!(&body[..KEY_ID_LEN], parsed.key_id);

    // The checksum is the CRC-32 of everything before it.
    let (checked, checksum) = parsed.full.split_at(parsed.full.len() - CHECKSUM_LEN);
    let crc = crc32::crc32(checked.as_bytes());
    assert_eq!(checksum, base62::encode(&crc.to_be_bytes(), CHECKSUM_LEN));

    // Re-formatting the decoded parts gives back the same string.
    let id: [u8; KEY_ID_BYTES] = base62::decode(parsed.key_id, KEY_ID_BYTES)
        .expect("a parsed key id fits in 16 bytes")
        .try_into()
        .unwrap();
    let secret_digits = &body[KEY_ID_LEN..BODY_LEN - CHECKSUM_LEN];
    let secret: [u8; SECRET_BYTES] = base62::decode(secret_digits, SECRET_BYTES)
        .expect("a parsed key's secret fits in 32 bytes")
        .try_into()
        .unwrap();
    let (key_id, reformatted) = key::format_key(parsed.prefix, &id, &secret);
    assert_eq!(key_id, parsed.key_id);
    assert_eq!(reformatted, parsed.full);

    // The bare key and its Bearer form parse to the same parts.
    for again in [parsed.full.to_owned(), format!("Bearer {}", parsed.full)] {
        let reparsed = key::parse(&again).expect("a parsed key parses again");
        assert!(reparsed == parsed, "same parts");
    }
});
