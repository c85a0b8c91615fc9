//! Where GitHub's public keys come from (`KEYWARD_GITHUB_SCANNING_KEYS`):
//! the `public_keys` JSON itself, a file that holds it, or an URL that
//! serves it (GitHub's own, `https://api.github.com/meta/public_keys/secret_scanning`),
//! fetched on first use, kept an hour, and fetched again (at most once a
//! minute) when a request names a key it does not list, so GitHub's key
//! rotation needs no redeploy. A key that cannot be read refuses the
//! request (503): nothing is acted on unverified.

use super::github::{GithubKeys, KeysError, SignatureRefusal};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const KEYS_VAR: &str = "KEYWARD_GITHUB_SCANNING_KEYS";

/// How long fetched keys are used before they are fetched again.
const KEEP_FOR: Duration = Duration::from_secs(3_600);
/// The shortest time between two fetches for an unknown identifier.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// Why a request could not be checked, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Refused(#[from] SignatureRefusal),
    #[error("GitHub's public keys could not be read: {0}")]
    Unavailable(String),
}

enum Source {
    Fixed(GithubKeys),
    Fetched {
        url: String,
        client: reqwest::Client,
        cache: Mutex<Option<(Instant, GithubKeys)>>,
    },
}

pub struct GithubKeyring {
    source: Source,
}

impl GithubKeyring {
    /// From the setting's value: an URL, the JSON, or a file's path.
    pub fn from_setting(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let source = if value.starts_with("https://") || value.starts_with("http://") {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("{KEYS_VAR}: cannot build an HTTP client: {e}"))?;
            Source::Fetched {
                url: value.to_owned(),
                client,
                cache: Mutex::new(None),
            }
        } else if value.starts_with('{') {
            Source::Fixed(GithubKeys::from_json(value).map_err(|e| format!("{KEYS_VAR}: {e}"))?)
        } else {
            let text = std::fs::read_to_string(value)
                .map_err(|e| format!("{KEYS_VAR}: cannot read {value}: {e}"))?;
            Source::Fixed(
                GithubKeys::from_json(&text).map_err(|e| format!("{KEYS_VAR} ({value}): {e}"))?,
            )
        };
        Ok(GithubKeyring { source })
    }

    /// From [`KEYS_VAR`]; `None` when it is not set.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(KEYS_VAR) {
            Ok(value) if !value.trim().is_empty() => Self::from_setting(&value).map(Some),
            _ => Ok(None),
        }
    }

    /// Checks a request's signature; see the module's documentation.
    pub async fn verify(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), KeyringError> {
        match &self.source {
            Source::Fixed(keys) => Ok(keys.verify(identifier, signature, body)?),
            Source::Fetched { url, client, cache } => {
                let mut cached = cache.lock().await;
                let stale = match &*cached {
                    None => true,
                    Some((at, keys)) => {
                        at.elapsed() > KEEP_FOR
                            || (!keys.knows(identifier) && at.elapsed() > REFETCH_AFTER)
                    }
                };
                if stale {
                    match fetch(client, url).await {
                        Ok(keys) => *cached = Some((Instant::now(), keys)),
                        // Keys that were good still are until GitHub says
                        // otherwise; with none, nothing can be checked.
                        Err(e) if cached.is_none() => {
                            return Err(KeyringError::Unavailable(e.to_string()));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "refreshing GitHub's public keys failed; keeping the ones fetched before")
                        }
                    }
                }
                let (_, keys) = cached.as_ref().expect("fetched above");
                Ok(keys.verify(identifier, signature, body)?)
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<GithubKeys, String> {
    let answer = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !answer.status().is_success() {
        return Err(format!("{url} answered {}", answer.status()));
    }
    let text = answer.text().await.map_err(|e| e.to_string())?;
    GithubKeys::from_json(&text).map_err(|e: KeysError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn document(key: &SigningKey, identifier: &str) -> String {
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        serde_json::json!({"public_keys": [
            {"key_identifier": identifier, "key": pem, "is_current": true}
        ]})
        .to_string()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// GitHub's meta endpoint on loopback: the document, or 500 once
    /// `failing`; counts the fetches.
    async fn meta(
        document: String,
    ) -> (String, Arc<AtomicUsize>, Arc<std::sync::atomic::AtomicBool>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, fail) = (fetches.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/meta/public_keys/secret_scanning",
            axum::routing::get(move || {
                let (count, fail, document) = (count.clone(), fail.clone(), document.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    if fail.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new())
                    } else {
                        (axum::http::StatusCode::OK, document)
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/meta/public_keys/secret_scanning",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, fetches, failing)
    }

    #[tokio::test]
    async fn fetched_keys_are_kept_and_an_unknown_identifier_waits_a_minute() {
        let github = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let (url, fetches, failing) = meta(document(&github, "current")).await;
        let keyring = GithubKeyring::from_setting(&url).unwrap();
        let body = b"[]";
        keyring
            .verify("current", &sign(&github, body), body)
            .await
            .unwrap();
        keyring
            .verify("current", &sign(&github, body), body)
            .await
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "kept, not fetched again");
        // An identifier the document lacks: refused, and not fetched again
        // within the minute.
        let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let refused = keyring.verify("next", &sign(&other, body), body).await;
        assert!(matches!(
            refused,
            Err(KeyringError::Refused(SignatureRefusal::UnknownKey))
        ));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // GitHub down after the first fetch: the keys fetched still check.
        failing.store(true, Ordering::SeqCst);
        keyring
            .verify("current", &sign(&github, body), body)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn no_keys_to_fetch_is_unavailable_and_bad_settings_are_refused() {
        let github = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let (url, _, failing) = meta(document(&github, "current")).await;
        failing.store(true, Ordering::SeqCst);
        let keyring = GithubKeyring::from_setting(&url).unwrap();
        let body = b"[]";
        assert!(matches!(
            keyring.verify("current", &sign(&github, body), body).await,
            Err(KeyringError::Unavailable(_))
        ));
        assert!(GithubKeyring::from_setting("{not json").is_err());
        assert!(GithubKeyring::from_setting("/no/such/file.json").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.json");
        std::fs::write(&file, document(&github, "current")).unwrap();
        let from_file = GithubKeyring::from_setting(file.to_str().unwrap()).unwrap();
        from_file
            .verify("current", &sign(&github, body), body)
            .await
            .unwrap();
    }
}
