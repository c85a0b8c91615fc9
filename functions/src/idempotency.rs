//! Idempotent retries without a plaintext secret at rest.
//!
//! A create's answer holds the new secret, and a retry must get the same
//! answer. So the answer is stored sealed (ChaCha20-Poly1305) under a key
//! derived (HKDF-SHA256) from the Idempotency-Key itself, which the store
//! never sees: the record is found by a separate hash of account, user and
//! Idempotency-Key. Whoever holds the store cannot open a record without the
//! client's Idempotency-Key.

use crate::auth::Caller;
use crate::domain::IdempotencyRecord;
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use wasm_validator::key::to_hex;
use zeroize::Zeroizing;

pub const HEADER: &str = "idempotency-key";

/// An Idempotency-Key presented with a request, bound to its caller and to
/// the request's fingerprint.
pub struct Idempotency {
    record_id: String,
    cipher_key: Zeroizing<[u8; 32]>,
    account: String,
    user_id: String,
    fingerprint: String,
}

/// Account and user as one unambiguous byte string: each is prefixed with
/// its length, so no two (account, user) pairs encode alike, whatever
/// characters they hold (a separator byte could be part of either).
fn scope(account: &str, user_id: &str) -> Vec<u8> {
    let mut scope = Vec::with_capacity(16 + account.len() + user_id.len());
    for part in [account, user_id] {
        scope.extend_from_slice(&(part.len() as u64).to_be_bytes());
        scope.extend_from_slice(part.as_bytes());
    }
    scope
}

/// SHA-256 over method, path and body: the same key with another request is
/// refused rather than replayed.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    to_hex(&hasher.finalize())
}

impl Idempotency {
    pub fn new(header: &str, caller: &Caller, fingerprint: String) -> Result<Self, ApiError> {
        if header.is_empty() || header.len() > 255 || !header.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::InvalidIdempotencyKey);
        }
        let scope = scope(&caller.account, &caller.user_id);
        let mut id = Sha256::new();
        id.update(b"keyward idempotency record v2\0");
        id.update(&scope);
        id.update(header.as_bytes());
        let mut cipher_key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(&scope), header.as_bytes())
            .expand(b"keyward idempotency seal v2", cipher_key.as_mut())
            // An opaque error: it says only that 32 bytes were too many.
            .map_err(|_| ApiError::Internal("deriving the sealing key failed".into()))?;
        Ok(Idempotency {
            record_id: to_hex(&id.finalize()),
            cipher_key,
            account: caller.account.clone(),
            user_id: caller.user_id.clone(),
            fingerprint,
        })
    }

    pub fn record_id(&self) -> &str {
        &self.record_id
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(self.cipher_key.as_ref().into())
    }

    /// Seals a mutation's result (a create's holds the secret) for a
    /// retry to replay.
    pub fn seal<T: Serialize>(
        &self,
        result: &T,
        nonce: [u8; 12],
        expires_at: i64,
    ) -> Result<IdempotencyRecord, ApiError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(result)
                .map_err(|e| ApiError::internal("encoding the answer to seal", e))?,
        );
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: self.record_id.as_bytes(),
                },
            )
            .map_err(|_| ApiError::Internal("sealing failed".into()))?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(IdempotencyRecord {
            id: self.record_id.clone(),
            account: self.account.clone(),
            user_id: self.user_id.clone(),
            fingerprint: self.fingerprint.clone(),
            sealed: STANDARD.encode(stored),
            expires_at,
        })
    }

    /// The stored result, when this request is the one that made it.
    pub fn open<T: DeserializeOwned>(&self, record: &IdempotencyRecord) -> Result<T, ApiError> {
        // Belt and braces: a record is only ever replayed to the caller who
        // made it, even if two callers' record ids were to collide.
        if record.account != self.account || record.user_id != self.user_id {
            return Err(ApiError::IdempotencyKeyReused);
        }
        if record.fingerprint != self.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let stored = STANDARD
            .decode(&record.sealed)
            .map_err(|e| ApiError::internal("an idempotency record is not base64", e))?;
        if stored.len() < 12 {
            return Err(ApiError::Internal("short idempotency record".into()));
        }
        let (nonce, sealed) = stored.split_at(12);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: self.record_id.as_bytes(),
                    },
                )
                .map_err(|_| {
                    ApiError::Internal("idempotency record failed authentication".into())
                })?,
        );
        // Not the error itself: its message may quote the answer, and so
        // the secret in it.
        serde_json::from_slice(&plain).map_err(|e| {
            ApiError::Internal(
                format!(
                    "an opened idempotency record does not decode ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                )
                .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str) -> Caller {
        caller_in("acct", user)
    }

    fn caller_in(account: &str, user: &str) -> Caller {
        Caller {
            user_id: user.into(),
            account: account.into(),
            permissions: vec![],
            mfa: false,
        }
    }

    /// Account "col\0b" with user "c" and account "col" with user "b\0c"
    /// once joined to the same scope, so one could replay the other's
    /// answer (and its secret).
    #[test]
    fn callers_whose_joined_names_agree_get_separate_records() {
        let fp = fingerprint("POST", "/applications/x/keys", b"{}");
        let a = Idempotency::new("deploy-42", &caller_in("col\u{0}b", "c"), fp.clone()).unwrap();
        let b = Idempotency::new("deploy-42", &caller_in("col", "b\u{0}c"), fp).unwrap();
        assert_ne!(a.record_id(), b.record_id());
        let reply = serde_json::json!({"secret": "kw_a"});
        let record = a.seal(&reply, [1; 12], 100).unwrap();
        assert_eq!(record.account, "col\u{0}b");
        assert_eq!(record.user_id, "c");
        // Even handed A's record, B gets no replay.
        assert_eq!(
            b.open::<serde_json::Value>(&record).err().map(|e| e.code()),
            Some("IDEMPOTENCY_KEY_REUSED")
        );
        let opened: serde_json::Value = a.open(&record).unwrap();
        assert_eq!(opened["secret"], "kw_a");
    }

    #[test]
    fn seals_and_opens_only_with_the_same_key_and_request() {
        let fp = fingerprint("POST", "/applications/x/keys", b"{}");
        let idem = Idempotency::new("retry-1", &caller("u1"), fp.clone()).unwrap();
        let reply = serde_json::json!({"secret": "kw_supersecret"});
        let record = idem.seal(&reply, [7; 12], 100).unwrap();
        assert!(!record.sealed.contains("supersecret"));
        assert!(!record.id.contains("retry-1"));
        let opened: serde_json::Value = idem.open(&record).unwrap();
        assert_eq!(opened["secret"], "kw_supersecret");

        let other_body =
            Idempotency::new("retry-1", &caller("u1"), fingerprint("POST", "/x", b"{1}")).unwrap();
        assert_eq!(
            other_body
                .open::<serde_json::Value>(&record)
                .err()
                .map(|e| e.code()),
            Some("IDEMPOTENCY_KEY_REUSED")
        );
        // Another user's same header value finds another record id and
        // cannot open this one.
        let other_user = Idempotency::new("retry-1", &caller("u2"), fp).unwrap();
        assert_ne!(other_user.record_id(), idem.record_id());
        assert!(other_user.open::<serde_json::Value>(&record).is_err());
    }

    #[test]
    fn header_shape() {
        let fp = fingerprint("POST", "/", b"");
        assert!(Idempotency::new("", &caller("u"), fp.clone()).is_err());
        assert!(Idempotency::new("has space", &caller("u"), fp.clone()).is_err());
        assert!(Idempotency::new(&"a".repeat(256), &caller("u"), fp.clone()).is_err());
        assert!(Idempotency::new("0f8fad5b-d9cb-469f-a165-70867728950e", &caller("u"), fp).is_ok());
    }
}
