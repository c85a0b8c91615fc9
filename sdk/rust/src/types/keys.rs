//! Applications, keys and verification.

use super::{ApplicationStatus, KeyStatus, OwnerStatus, Patch, VerdictCode};
use crate::Secret;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use time::OffsetDateTime;

/// An application as every read returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// `app_` and 22 base62 digits.
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub key_prefix: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub status: ApplicationStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// `deleted` once the application's creator has been offboarded.
    pub owner_status: OwnerStatus,
}

/// `POST /applications`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateApplication {
    /// 1 to 64 characters once trimmed.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The prefix of its keys, `[a-z][a-z0-9]{0,15}`; keyward's default is
    /// `kw`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

/// `PATCH /applications/{id}`: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateApplication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A key as every read returns it, with its status at the time of the
/// read: no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// 22 base62 digits, the public part of the key.
    pub id: String,
    pub application_id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub status: KeyStatus,
    /// What `POST /verify` answers for this key's right secret now, before
    /// scopes: a key of a revoked application keeps `status: active` but
    /// is refused, and this says so.
    pub verdict: VerdictCode,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When a regenerated key's grace period ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoke_at: Option<OffsetDateTime>,
    /// The key that regenerated this one.
    pub replaced_by: Option<String>,
    /// The key this one regenerated.
    pub replaces: Option<String>,
    /// The last successful verification, to the minute.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    /// `remaining` is the balance now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// Blocks as keyward keeps them (`192.0.2.0/24`, `2001:db8::/32`);
    /// empty: any address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<String>,
    /// What is left of the credits and each rate limit's window (metered
    /// keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
    /// Who disabled it (a user id or a policy), while it is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
}

/// At most `limit` units of cost per fixed window of `window_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// `[a-z0-9_.-]{1,32}`, unique within the key.
    pub name: String,
    pub limit: u64,
    pub window_seconds: u32,
}

/// A balance of units that valid verifications spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    pub remaining: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refill {
    pub amount: u64,
    pub interval: RefillInterval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefillInterval {
    Daily,
    Monthly,
}

/// What is left now of a metered key's credits and rate limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_remaining: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<LimitUsage>,
}

/// One rate limit's current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitUsage {
    pub name: String,
    pub limit: u64,
    /// Units left in the current window.
    pub remaining: u64,
    /// The end of the current window.
    #[serde(with = "time::serde::rfc3339")]
    pub reset_at: OffsetDateTime,
}

/// Why and where a key was last reported leaked, and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `secret-scanning:github` or `leak-report`.
    pub found_by: String,
    pub url: Option<String>,
    pub action: LeakAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    Revoke,
    Disable,
    Notify,
}

/// `POST /applications/{id}/keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Each must be covered by the caller's permissions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Without it, keyward's default validity.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<RateLimit>>,
    /// The starting balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// Addresses or CIDR blocks the key may be verified from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
}

/// `PATCH /keys/{id}`: `None` and [`Patch::Keep`] leave a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub rate_limits: Patch<Vec<RateLimit>>,
    /// Setting credits sets the balance to their `remaining`.
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub credits: Patch<Credits>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub allowed_ips: Patch<Vec<String>>,
}

/// `POST /keys/{id}/regenerate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegenerateKey {
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// How long the old key stays valid (at most 7 days); 0, the default,
    /// revokes it at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u32>,
}

/// A new key and its secret: the only time keyward shows the secret.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedKey {
    pub key: Key,
    /// The whole key to present, `<prefix>_<key id><secret><checksum>`.
    pub secret: Secret,
}

/// `POST /verify`: the presented key, the scopes the call needs, where it
/// came from and what it costs a metered key.
///
/// ```
/// use keyward_sdk::types::VerifyRequest;
///
/// let request = VerifyRequest::new("kw_presented")
///     .scopes(["sims:read"])
///     .source_ip("192.0.2.7".parse().unwrap());
/// // Debug output never holds the key.
/// assert!(!format!("{request:?}").contains("kw_presented"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct VerifyRequest<'a> {
    /// The whole key as presented (a `Bearer` scheme is accepted).
    pub key: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// A key with allowed addresses refuses a call without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// Units a valid verification takes from a metered key (0 to 10,000;
    /// keyward's default is 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
}

impl<'a> VerifyRequest<'a> {
    pub fn new(key: &'a str) -> Self {
        VerifyRequest {
            key,
            scopes: Vec::new(),
            source_ip: None,
            cost: None,
        }
    }

    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip.to_canonical());
        self
    }

    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = Some(cost);
        self
    }
}

impl fmt::Debug for VerifyRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("source_ip", &self.source_ip)
            .field("cost", &self.cost)
            .finish()
    }
}

/// The answer to a verification. From `POST /verify`, or, in the layer's
/// local mode, from the core's decision over a cached record. The layer
/// puts it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub valid: bool,
    pub code: VerdictCode,
    /// Present when the key's checksum held (the id is public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// This and the rest: only when the presented key matched its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// A metered key with credits: the balance after this verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_remaining: Option<u64>,
    /// A metered key with rate limits: what is left of each window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<LimitUsage>,
}

impl From<wasm_validator::Verdict<'_>> for Verdict {
    fn from(v: wasm_validator::Verdict<'_>) -> Self {
        Verdict {
            valid: v.valid,
            code: v.code,
            key_id: v.key_id.map(|s| s.into_owned()),
            application_id: v.application_id.map(|s| s.into_owned()),
            account: v.account.map(|s| s.into_owned()),
            scopes: v.scopes.map(|s| s.into_owned()),
            expires_at: v.expires_at,
            credits_remaining: None,
            rate_limits: Vec::new(),
        }
    }
}
