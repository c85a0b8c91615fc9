//! One delivery attempt: POST the event, signed, to a webhook's URL.
//!
//! The client follows no redirect (a 3xx is a failed attempt), gives each
//! attempt 15 s, and never reads the answer's body: only its status
//! counts, so an endless or huge body costs nothing. Every connection is
//! made to an address [`PublicOnly`] checked as it resolved the name; a
//! connection kept alive for the next attempt stays with that address, and
//! a new one resolves and checks again, so a name that comes to point
//! inside the network (DNS rebinding) is never connected to.

use super::Event;
use super::address::{PublicOnly, literal_host, may_connect};
use super::signing::{ID_HEADER, SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER};
use reqwest::dns::Resolve;
use reqwest::{Client, Url, redirect};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long one attempt may take, connection to status line.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a connection to a receiver is kept for the next attempt.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an attempt failed, as delivery records show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptError {
    /// The receiver answered, but not 2xx.
    HttpStatus,
    /// The receiver answered 3xx; redirects are not followed.
    RedirectNotFollowed,
    /// No answer within 15 s.
    Timeout,
    /// The connection failed or closed before an answer.
    ConnectionFailed,
    /// The URL's host is, or resolves only to, addresses that are not public.
    AddressNotPublic,
    /// The stored URL no longer parses (it cannot, unless edited by hand).
    InvalidUrl,
    /// The signing secret did not open under the sealing key (the log
    /// says why); nothing was sent.
    SecretUnavailable,
    /// The webhook was disabled or deleted before the attempt; nothing was
    /// sent, and the delivery is not tried again.
    WebhookDisabled,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    Failed {
        status: Option<u16>,
        error: AttemptError,
    },
}

/// Sends events to webhooks. Built once per process; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    client: Client,
    allow_insecure: bool,
}

impl Sender {
    /// A sender that resolves names with `resolver`, keeping only the
    /// addresses it may connect to.
    /// `timeout` is [`ATTEMPT_TIMEOUT`] but in tests.
    pub fn new(
        resolver: Arc<dyn Resolve>,
        allow_insecure: bool,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .dns_resolver(Arc::new(PublicOnly::new(resolver, allow_insecure)))
            .user_agent(concat!("keyward-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender {
            client,
            allow_insecure,
        })
    }

    /// Delivers `event` to `url`, signed with `secret` at `timestamp`.
    pub async fn send(
        &self,
        url: &str,
        secret: &SigningSecret,
        event: &Event,
        timestamp: i64,
    ) -> Outcome {
        let failed = |error| Outcome::Failed {
            status: None,
            error,
        };
        let Ok(url) = Url::parse(url) else {
            return failed(AttemptError::InvalidUrl);
        };
        // A literal address is not resolved, so it is checked here.
        if let Some(ip) = literal_host(&url)
            && !may_connect(ip, self.allow_insecure)
        {
            return failed(AttemptError::AddressNotPublic);
        }
        let body = event.body();
        let signature = secret.sign(&event.id, timestamp, &body);
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &event.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                // The body is dropped unread: the connection closes.
                if status.is_success() {
                    Outcome::Delivered {
                        status: status.as_u16(),
                    }
                } else {
                    Outcome::Failed {
                        status: Some(status.as_u16()),
                        error: if status.is_redirection() {
                            AttemptError::RedirectNotFollowed
                        } else {
                            AttemptError::HttpStatus
                        },
                    }
                }
            }
            Err(e) => failed(classify(&e)),
        }
    }
}

fn classify(error: &reqwest::Error) -> AttemptError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<super::address::NoPublicAddress>() {
            return AttemptError::AddressNotPublic;
        }
        cause = e.source();
    }
    if error.is_timeout() {
        AttemptError::Timeout
    } else {
        AttemptError::ConnectionFailed
    }
}
