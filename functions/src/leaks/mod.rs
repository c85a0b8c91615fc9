//! Leak response (docs/ARCHITECTURE.md, "Leak response"): keys found in
//! public (GitHub's secret scanning partner program, [`github`]) or
//! reported by whoever holds them, and the action the deployment takes
//! (`KEYWARD_LEAK_ACTION`); the keyring of GitHub's public keys
//! ([`keyring`]).

pub mod github;
pub mod keyring;

use crate::domain::rfc3339;
use serde::{Deserialize, Serialize};

/// The actor of what GitHub's secret scanning reports.
pub const GITHUB_ACTOR: &str = "secret-scanning:github";
/// The actor of what `POST /keys/leaked` reports.
pub const REPORT_ACTOR: &str = "leak-report";
/// The actor that disables keys unused for too long.
pub const DORMANT_ACTOR: &str = "policy:dormant";

/// What happens to a live key found leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LeakAction {
    /// Revoked at once: it stops working and cannot be enabled.
    #[default]
    Revoke,
    /// Disabled: it stops working until someone enables it.
    Disable,
    /// Left working; its creator is told and the leak is recorded.
    Notify,
}

/// Why a key counts as leaked and where it was found: on the key item, in
/// its views and its `key.leaked` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    #[serde(with = "rfc3339")]
    pub at: i64,
    /// Who reported it: [`GITHUB_ACTOR`] or [`REPORT_ACTOR`].
    pub found_by: String,
    /// Where it was found, when the report says.
    pub url: Option<String>,
    /// What the deployment did.
    pub action: LeakAction,
}

/// Where a leak report comes from.
#[derive(Debug, Clone)]
pub struct Finding {
    pub found_by: &'static str,
    pub url: Option<String>,
}

/// The longest `url` a report may carry.
pub const MAX_URL_CHARS: usize = 2_048;

impl Finding {
    /// A finding by `found_by`; its `url` is kept only when it is an
    /// `http` or `https` URL of at most [`MAX_URL_CHARS`]: anyone may
    /// report, and the URL reaches key views, notices, events and e-mail.
    pub fn new(found_by: &'static str, url: Option<&str>) -> Self {
        let url = url
            .filter(|u| u.chars().count() <= MAX_URL_CHARS)
            .and_then(|u| url::Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(String::from);
        Finding { found_by, url }
    }
}

impl Leak {
    /// Whether this leak has been acted on for the key as it is now: it
    /// has, unless the key was enabled again after it (a key disabled as
    /// leaked and enabled is acted on if it leaks again).
    pub fn still_holds(&self, enabled_at: Option<i64>) -> bool {
        enabled_at.is_none_or(|enabled| enabled <= self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_kept() {
        for (given, kept) in [
            (
                Some("https://github.com/o/r/blob/x"),
                Some("https://github.com/o/r/blob/x"),
            ),
            (
                Some("http://pastebin.example/p"),
                Some("http://pastebin.example/p"),
            ),
            (Some("javascript:alert(1)"), None),
            (Some("<script>x</script>"), None),
            (Some("data:text/html,x"), None),
            (None, None),
        ] {
            assert_eq!(
                Finding::new(REPORT_ACTOR, given).url.as_deref(),
                kept,
                "{given:?}"
            );
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(Finding::new(REPORT_ACTOR, Some(&long)).url, None);
    }

    #[test]
    fn a_leak_holds_until_the_key_is_enabled_again() {
        let leak = Leak {
            at: 100,
            found_by: REPORT_ACTOR.into(),
            url: None,
            action: LeakAction::Disable,
        };
        assert!(leak.still_holds(None));
        assert!(leak.still_holds(Some(50)));
        assert!(!leak.still_holds(Some(150)));
    }
}
