//! Keys built and taken apart from their parts, to present the service
//! with chosen keys: a correct checksum around a wrong secret, an unknown
//! key id. The checksum is the core's (`wasm_validator::key::checksum`), so
//! these keys are well formed by construction.

use sha2::{Digest, Sha256};

/// `<prefix>_<key id><secret><checksum>` with a correct checksum.
pub fn assemble_key(prefix: &str, key_id: &str, secret: &str) -> String {
    let text = format!("{prefix}_{key_id}{secret}");
    let checksum = wasm_validator::key::checksum(&text);
    format!("{text}{checksum}")
}

/// Splits a key into prefix, key id (22), secret (43), checksum (6).
pub fn split_key(key: &str) -> (&str, &str, &str, &str) {
    let (prefix, body) = key.split_once('_').expect("a prefix");
    assert_eq!(body.len(), 71, "{key}");
    assert!(
        body.bytes().all(|b| b.is_ascii_alphanumeric()),
        "base62 body: {key}"
    );
    (prefix, &body[..22], &body[22..65], &body[65..])
}

/// The SHA-256 of `text` in lower-case hex: the stored form of a key.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
