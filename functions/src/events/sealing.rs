//! Signing secrets at rest. The deliverer must sign with the secret itself,
//! so the store keeps it sealed (ChaCha20-Poly1305) under the webhook
//! sealing key (`KEYWARD_WEBHOOK_SEALING_KEY`, 32 bytes in base64), bound to
//! the webhook's id: a copy of the table alone opens none, and a sealed
//! secret moved onto another webhook does not open. Only the functions that
//! create webhooks and deliver events get the key.

use super::signing::SigningSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use zeroize::Zeroizing;

/// The variable that holds the key.
pub const SEALING_KEY_VAR: &str = "KEYWARD_WEBHOOK_SEALING_KEY";

/// The version tag in front of every sealed secret.
const SEALED_V1: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error(
        "{SEALING_KEY_VAR} must be the base64 of 32 bytes (for example `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("{SEALING_KEY_VAR} is not set: webhooks need it to seal their signing secrets")]
    MissingKey,
    #[error("a sealed signing secret does not open under this sealing key")]
    WontOpen,
}

/// The key that seals signing secrets. It cannot print itself.
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    pub fn from_base64(text: &str) -> Result<Self, SealingError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| SealingError::BadKey)?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealingError::BadKey)?;
        Ok(SealingKey(Zeroizing::new(key)))
    }

    /// From [`SEALING_KEY_VAR`].
    pub fn from_env() -> Result<Self, SealingError> {
        match std::env::var(SEALING_KEY_VAR) {
            Ok(text) if !text.trim().is_empty() => SealingKey::from_base64(&text),
            _ => Err(SealingError::MissingKey),
        }
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SealingKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// `secret` sealed for the webhook `webhook_id`, with a fresh `nonce`.
    pub fn seal(&self, secret: &SigningSecret, webhook_id: &str, nonce: [u8; 12]) -> String {
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.bytes(),
                    aad: webhook_id.as_bytes(),
                },
            )
            // Encryption fails only for messages past ChaCha20's 256 GiB.
            .expect("32 bytes always seal");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        format!("{SEALED_V1}{}", STANDARD.encode(stored))
    }

    /// The secret `sealed` holds for `webhook_id`.
    pub fn open(&self, sealed: &str, webhook_id: &str) -> Result<SigningSecret, SealingError> {
        let stored = sealed
            .strip_prefix(SEALED_V1)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > 12)
            .ok_or(SealingError::WontOpen)?;
        let (nonce, ciphertext) = stored.split_at(12);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: webhook_id.as_bytes(),
                    },
                )
                .map_err(|_| SealingError::WontOpen)?,
        );
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| SealingError::WontOpen)?;
        Ok(SigningSecret::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_webhook_under_its_key() {
        let key = SealingKey::from_bytes([1; 32]);
        let secret = SigningSecret::from_bytes([9; 32]);
        let sealed = key.seal(&secret, "wh_a", [3; 12]);
        assert!(!sealed.contains(&STANDARD.encode([9u8; 32])));
        assert_eq!(key.open(&sealed, "wh_a").unwrap().bytes(), &[9; 32]);
        assert!(key.open(&sealed, "wh_b").is_err());
        assert!(
            SealingKey::from_bytes([2; 32])
                .open(&sealed, "wh_a")
                .is_err()
        );
        assert!(key.open("v1:AAAA", "wh_a").is_err());
        assert!(key.open("garbage", "wh_a").is_err());
    }

    #[test]
    fn the_key_must_be_32_bytes_of_base64_and_never_prints() {
        assert!(SealingKey::from_base64(&STANDARD.encode([0u8; 31])).is_err());
        assert!(SealingKey::from_base64("not base64!").is_err());
        let key = SealingKey::from_base64(&STANDARD.encode([5u8; 32])).unwrap();
        assert_eq!(format!("{key:?}"), "SealingKey(…)");
    }
}
