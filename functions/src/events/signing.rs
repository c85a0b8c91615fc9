//! Standard Webhooks signatures, so a receiver checks keyward's deliveries
//! with the `standardwebhooks` packages of PyPI or npm.
//!
//! The signing secret is `whsec_` and the base64 of 32 random bytes; the
//! signature of a delivery is `v1,` and the base64 HMAC-SHA256, under those
//! bytes, of `<webhook-id>.<webhook-timestamp>.<body>`.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The header names of a delivery.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A webhook's signing key. Like [`Secret`] it cannot print itself; it is
/// zeroed on drop. It leaves its box twice: once, as text, in the answer
/// that creates the webhook, and sealed for the store (`sealing`).
pub struct SigningSecret(Zeroizing<[u8; 32]>);

impl SigningSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SigningSecret(Zeroizing::new(bytes))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `whsec_…`: what the receiver configures, shown once.
    pub fn to_text(&self) -> Secret {
        Secret::new(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.0.as_ref())
        ))
    }

    /// The `webhook-signature` value for one delivery.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        signature(self.0.as_ref(), message_id, timestamp, body)
    }
}

fn signature(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks specification's reference
    /// libraries.
    #[test]
    fn signs_the_reference_example() {
        let text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = STANDARD.decode(&text[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let secret = SigningSecret::from_bytes([7; 32]);
        let base = secret.sign("evt_1", 1_800_000_000, b"{}");
        assert!(base.starts_with("v1,"));
        assert_ne!(base, secret.sign("evt_2", 1_800_000_000, b"{}"));
        assert_ne!(base, secret.sign("evt_1", 1_800_000_001, b"{}"));
        assert_ne!(base, secret.sign("evt_1", 1_800_000_000, b"{ }"));
        assert_ne!(
            base,
            SigningSecret::from_bytes([8; 32]).sign("evt_1", 1_800_000_000, b"{}")
        );
        assert!(secret.to_text().expose().starts_with(SECRET_PREFIX));
    }
}
