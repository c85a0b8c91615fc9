//! The client's errors: keyward's problem answers kept whole (status, stable
//! `code`, detail), and what can go wrong before one arrives.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An RFC 9457 problem as keyward answers every 4xx and 5xx (the
/// `Problem` schema of `infra/openapi.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:keyward:problem:` and the code in lower case with hyphens.
    #[serde(rename = "type")]
    pub type_: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for people; never a secret or a hash.
    pub detail: String,
    /// The stable machine code (`KEY_NOT_FOUND`, `SCOPE_NOT_HELD`, ...):
    /// what code should match on.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The limit reached, on `*_LIMIT_REACHED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The answer's `Retry-After` header, when it had one (429
    /// `TOO_MANY_FAILED_VERIFICATIONS`).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// What a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// keyward answered with a problem: match on [`Problem::code`].
    #[error("keyward answered {} {}: {}", .0.status, .0.code, .0.detail)]
    Api(Box<Problem>),
    /// An error status without a problem body: something between the
    /// client and keyward answered (API Gateway's own 401, 404 or 429, a
    /// proxy). `body` is the start of what it said.
    #[error("HTTP {status} without a problem body: {body}")]
    UnexpectedStatus { status: u16, body: String },
    /// keyward could not be reached, or did not answer in time.
    #[error("could not reach keyward: {0}")]
    Transport(#[source] reqwest::Error),
    /// A success answer that is not what the API document says.
    #[error("keyward's answer (HTTP {status}) could not be read: {source}")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
    /// The client was built with an unusable base URL or token.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status of an answer that was an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(problem) => Some(problem.status),
            Error::UnexpectedStatus { status, .. } => Some(*status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::Decode { .. } | Error::Config(_) => None,
        }
    }

    /// The problem's stable code, when keyward answered one.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(|p| p.code.as_str())
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api(problem) => Some(problem),
            _ => None,
        }
    }

    /// Whether the call timed out (the client's or the call's timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Transport(e) if e.is_timeout())
    }
}

/// The start of a body for an error message: enough to see what answered.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 512;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_as_the_schema_says_and_shows_its_code() {
        let body = r#"{"type":"urn:keyward:problem:key-limit-reached","title":"Conflict",
            "status":409,"detail":"at most 3 keys","code":"KEY_LIMIT_REACHED","limit":3}"#;
        let problem: Problem = serde_json::from_str(body).unwrap();
        assert_eq!(problem.limit, Some(3));
        let error = Error::Api(Box::new(problem));
        assert_eq!(error.status(), Some(409));
        assert_eq!(error.code(), Some("KEY_LIMIT_REACHED"));
        assert_eq!(
            error.to_string(),
            "keyward answered 409 KEY_LIMIT_REACHED: at most 3 keys"
        );
    }

    #[test]
    fn an_excerpt_is_bounded_and_lossy() {
        assert_eq!(excerpt(b"{\"message\":\"Unauthorized\"}").len(), 26);
        assert_eq!(excerpt(&[b'x'; 2000]).len(), 512);
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}
