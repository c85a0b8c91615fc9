//! GitHub's side of the secret scanning partner program, for tests: a P-256
//! key pair made in the test, its `public_keys` document in GitHub's
//! format, and request bodies and signatures as GitHub sends them.

#![allow(dead_code)] // each test target uses part of it

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

pub struct GithubSigner {
    key: SigningKey,
    pub identifier: String,
}

impl GithubSigner {
    /// A fresh key pair, named like GitHub's (a hex SHA-256).
    pub fn new() -> Self {
        let key = loop {
            if let Ok(key) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
                break key;
            }
        };
        let identifier = wasm_validator::key::to_hex(&rand::random::<[u8; 32]>());
        GithubSigner { key, identifier }
    }

    /// GitHub's `public_keys` document listing this key (and an old one).
    pub fn public_keys(&self) -> String {
        let pem = |key: &SigningKey| {
            key.verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
        };
        let retired = SigningKey::from_slice(&[3u8; 32]).unwrap();
        json!({"public_keys": [
            {"key_identifier": "0".repeat(64), "key": pem(&retired), "is_current": false},
            {"key_identifier": self.identifier, "key": pem(&self.key), "is_current": true},
        ]})
        .to_string()
    }

    /// The base64 DER signature GitHub sends of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// The same signature as raw `r || s`, which GitHub does not send.
    pub fn sign_raw(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_bytes())
    }
}

/// One match as GitHub reports it.
pub fn found(token: &str) -> Value {
    json!({
        "token": token,
        "type": "keyward_api_key",
        "url": "https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/config.env",
        "source": "content"
    })
}

/// A batch body, serialised as GitHub does (compact JSON).
pub fn batch(tokens: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&tokens.iter().map(|t| found(t)).collect::<Vec<_>>()).unwrap()
}
