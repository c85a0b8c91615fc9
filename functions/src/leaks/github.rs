//! GitHub's secret scanning partner program: the signature on a request,
//! the batch it carries and the answer it expects.
//!
//! GitHub signs the raw body with ECDSA P-256 over SHA-256 and sends the
//! DER signature in base64 (`Github-Public-Key-Signature`) with the
//! identifier of its key (`Github-Public-Key-Identifier`); its keys are
//! published as `{"public_keys": [{"key_identifier", "key" (PEM),
//! "is_current"}]}`. Only a DER signature by a listed key over these exact
//! bytes passes: anything else is refused before the body is read as JSON.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const KEY_IDENTIFIER_HEADER: &str = "github-public-key-identifier";
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// The most tokens one request may report.
pub const MAX_BATCH: usize = 1_000;

/// The largest request body accepted, in bytes: a full batch of long
/// tokens and URLs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why GitHub's public keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("GitHub's public keys are not the public_keys JSON: {0}")]
    NotJson(String),
    #[error("GitHub's key {0:?} is not a P-256 public key in PEM")]
    NotP256(String),
    #[error("GitHub's public_keys lists no key")]
    Empty,
}

/// Why a request's signature is refused (each a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    #[error("the request has no Github-Public-Key-Identifier or no Github-Public-Key-Signature")]
    Missing,
    #[error("GitHub has no public key with this identifier")]
    UnknownKey,
    #[error("the signature is not a base64 DER ECDSA signature")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// GitHub's secret scanning public keys, by identifier.
#[derive(Clone, Default)]
pub struct GithubKeys {
    keys: HashMap<String, VerifyingKey>,
}

#[derive(Deserialize)]
struct PublicKeys {
    public_keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
struct PublicKey {
    key_identifier: String,
    key: String,
}

impl GithubKeys {
    /// The keys of a `public_keys` document.
    pub fn from_json(text: &str) -> Result<Self, KeysError> {
        let document: PublicKeys =
            serde_json::from_str(text).map_err(|e| KeysError::NotJson(e.to_string()))?;
        if document.public_keys.is_empty() {
            return Err(KeysError::Empty);
        }
        let mut keys = HashMap::new();
        for listed in document.public_keys {
            let key = VerifyingKey::from_public_key_pem(&listed.key)
                .map_err(|_| KeysError::NotP256(listed.key_identifier.clone()))?;
            keys.insert(listed.key_identifier, key);
        }
        Ok(GithubKeys { keys })
    }

    pub fn knows(&self, identifier: &str) -> bool {
        self.keys.contains_key(identifier)
    }

    /// Checks `signature` (base64 DER) by the key `identifier` over `body`.
    pub fn verify(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureRefusal> {
        let key = self
            .keys
            .get(identifier)
            .ok_or(SignatureRefusal::UnknownKey)?;
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| SignatureRefusal::Malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureRefusal::Malformed)?;
        key.verify(body, &signature)
            .map_err(|_| SignatureRefusal::Mismatch)
    }
}

/// One match GitHub reports.
#[derive(Deserialize)]
pub struct Match {
    pub token: Secret,
    #[serde(rename = "type")]
    pub token_type: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// Why a signed batch is refused (each a 4xx).
#[derive(Debug, thiserror::Error)]
pub enum BatchRefusal {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a JSON array of {{token, type, url, source}}: {0}")]
    NotABatch(String),
    #[error("a request may report at most {MAX_BATCH} tokens")]
    TooLarge,
}

/// The matches of a signed body.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Match>, BatchRefusal> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BatchRefusal::NotJson(e.to_string()))?;
    if value.as_array().is_some_and(|a| a.len() > MAX_BATCH) {
        return Err(BatchRefusal::TooLarge);
    }
    let matches: Vec<Match> =
        serde_json::from_value(value).map_err(|e| BatchRefusal::NotABatch(e.to_string()))?;
    if matches.len() > MAX_BATCH {
        return Err(BatchRefusal::TooLarge);
    }
    Ok(matches)
}

/// What a token was, as GitHub's partner API labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A key this deployment issued (live, revoked or expired).
    TruePositive,
    FalsePositive,
}

/// One entry of the answer.
#[derive(Serialize)]
pub struct Labelled {
    /// GitHub's own token, echoed as its API asks: GitHub found it public.
    #[serde(serialize_with = "crate::secret::serialize_exposed")]
    pub token_raw: Secret,
    pub token_type: String,
    pub label: Label,
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn keys_for(signer: &SigningKey, identifier: &str) -> GithubKeys {
        let pem = signer
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let json = serde_json::json!({"public_keys": [
            {"key_identifier": identifier, "key": pem, "is_current": true}
        ]});
        GithubKeys::from_json(&json.to_string()).unwrap()
    }

    #[test]
    fn only_a_der_signature_by_the_named_key_over_the_exact_body_passes() {
        let signer = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let keys = keys_for(&signer, "abc");
        let body = br#"[{"token":"x","type":"keyward_key","url":"u","source":"content"}]"#;
        let signature: Signature = signer.sign(body);
        let der = STANDARD.encode(signature.to_der().as_bytes());
        assert_eq!(keys.verify("abc", &der, body), Ok(()));
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            keys.verify("abc", &der, &changed),
            Err(SignatureRefusal::Mismatch)
        );
        assert_eq!(
            keys.verify("other", &der, body),
            Err(SignatureRefusal::UnknownKey)
        );
        let raw = STANDARD.encode(signature.to_bytes());
        assert_eq!(
            keys.verify("abc", &raw, body),
            Err(SignatureRefusal::Malformed)
        );
        assert_eq!(
            keys.verify("abc", "not base64!", body),
            Err(SignatureRefusal::Malformed)
        );
        let stranger = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let theirs: Signature = stranger.sign(body);
        let theirs = STANDARD.encode(theirs.to_der().as_bytes());
        assert_eq!(
            keys.verify("abc", &theirs, body),
            Err(SignatureRefusal::Mismatch)
        );
    }

    #[test]
    fn bad_key_documents_are_refused() {
        assert!(matches!(
            GithubKeys::from_json("{}"),
            Err(KeysError::NotJson(_))
        ));
        assert!(matches!(
            GithubKeys::from_json(r#"{"public_keys": []}"#),
            Err(KeysError::Empty)
        ));
        assert!(matches!(
            GithubKeys::from_json(
                r#"{"public_keys": [{"key_identifier": "a", "key": "nope", "is_current": true}]}"#
            ),
            Err(KeysError::NotP256(_))
        ));
    }

    #[test]
    fn batches_are_arrays_of_matches_up_to_the_limit() {
        let one = br#"[{"token":"t","type":"keyward","url":"https://github.com/o/r/blob/x","source":"content"}]"#;
        let parsed = parse_batch(one).unwrap();
        assert_eq!(parsed[0].token.expose(), "t");
        assert_eq!(parsed[0].source.as_deref(), Some("content"));
        assert!(matches!(
            parse_batch(b"{}"),
            Err(BatchRefusal::NotABatch(_))
        ));
        assert!(matches!(parse_batch(b"[{"), Err(BatchRefusal::NotJson(_))));
        let many: Vec<serde_json::Value> = (0..=MAX_BATCH)
            .map(|n| serde_json::json!({"token": n.to_string(), "type": "t"}))
            .collect();
        let body = serde_json::to_vec(&many).unwrap();
        assert!(matches!(parse_batch(&body), Err(BatchRefusal::TooLarge)));
    }
}
