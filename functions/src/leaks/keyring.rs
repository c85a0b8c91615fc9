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
