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

/// The longest `url` a report may carry; longer ones are cut (a URL is
/// for people to follow, not an identifier).
pub const MAX_URL_CHARS: usize = 2_048;

impl Finding {
    pub fn new(found_by: &'static str, url: Option<&str>) -> Self {
        Finding {
            found_by,
            url: url.map(|u| u.chars().take(MAX_URL_CHARS).collect()),
        }
    }
}
