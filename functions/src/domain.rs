//! The domain: applications, keys, audit events, notices, and the pure rules
//! over them (validation, derived status, what counts toward a limit, the
//! public views). No I/O: the service reads and writes through the store.

use crate::error::ApiError;
use crate::leaks::Leak;
pub use crate::notice::{Notice, NoticeKind};
use crate::usage::{Balance, Credits, Meter, RateLimit, UsageControls, UsageReport};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use wasm_validator::{
    AllowedIps, ApplicationStatus, KeyRecord, KeyStatus, OwnerStatus, StoredKeyStatus, VerdictCode,
    is_valid_scope, key::is_valid_prefix, scope::MAX_SCOPES,
};

pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// Epoch seconds as RFC 3339 in every API answer.
pub mod rfc3339 {
    use serde::Serializer;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn format(epoch: i64) -> String {
        OffsetDateTime::from_unix_timestamp(epoch)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(epoch: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*epoch))
    }

    /// Views are read back from sealed idempotency records.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        use serde::Deserialize;
        let text = String::deserialize(d)?;
        super::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(epoch: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match epoch {
                Some(e) => s.serialize_str(&super::format(*e)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::super::parse_rfc3339(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// Parses an RFC 3339 `expires_at` into epoch seconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, ApiError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| ApiError::InvalidExpiresAt(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub key_prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: ApplicationStatus,
    pub revoked_at: Option<i64>,
    pub owner_status: OwnerStatus,
    /// Epoch seconds after which the store may purge the item.
    pub ttl: Option<i64>,
    /// Optimistic-concurrency version: every write of the item bumps it, and
    /// a key creation bumps its application's, so creations serialise.
    pub version: u64,
}

/// A stored key. It holds the hash of the key, never the key; `Debug` leaves
/// the hash out so it cannot reach a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub id: String,
    pub application_id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub prefix: String,
    pub hash: String,
    pub scopes: Vec<String>,
    pub status: StoredKeyStatus,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// End of the grace period of a regenerated key.
    pub revoke_at: Option<i64>,
    pub replaced_by: Option<String>,
    pub replaces: Option<String>,
    pub last_used_at: Option<i64>,
    pub application_status: ApplicationStatus,
    pub owner_status: OwnerStatus,
    pub ttl: i64,
    pub version: u64,
    /// Rate limits, credits and allowed addresses (`usage`).
    #[serde(default)]
    pub usage: UsageControls,
    /// The live counters as the store read them with the item (DynamoDB
    /// keeps them on the key item; SQLite answers them from
    /// `Store::read_meter`). Never part of the stored item.
    #[serde(skip)]
    pub meter: Meter,
    /// A credit balance this write sets (create, a PATCH of `credits`,
    /// regenerate); `None` keeps the store's counter. Reads leave it
    /// `None`, so writing back a read key cannot undo concurrent debits.
    #[serde(skip)]
    pub set_balance: Option<Balance>,
    /// Set once the key is reported leaked (`leaks`), whatever was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
    /// Who disabled it, while it is disabled: a user, or a policy
    /// (`secret-scanning:github`, `leak-report`, `policy:dormant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    /// When it was last enabled: a dormant key's idle time starts again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<i64>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("application_id", &self.application_id)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The key's status at `now` (the one rule, from the core).
    pub fn status_at(&self, now: i64) -> KeyStatus {
        KeyStatus::at(self.status, self.expires_at, self.revoke_at, now)
    }

    /// Active or disabled at `now`: neither revoked (grace over included)
    /// nor expired. Live keys are what revocations and offboarding mark and
    /// what counts toward the limit.
    pub fn is_live(&self, now: i64) -> bool {
        matches!(self.status_at(now), KeyStatus::Active | KeyStatus::Disabled)
    }

    /// When the store may purge the item (docs/ARCHITECTURE.md: `max(expires_at,
    /// revoked_at) + retention`; the end of a grace period is a revocation).
    pub fn purge_after(&self, retention_seconds: i64) -> i64 {
        [self.revoked_at, self.revoke_at]
            .into_iter()
            .flatten()
            .fold(self.expires_at, i64::max)
            + retention_seconds
    }

    /// What verification answers for this key's right secret at `now`,
    /// before scopes (the core's one rule).
    pub fn standing(&self, now: i64) -> VerdictCode {
        wasm_validator::standing(
            self.application_status,
            self.owner_status,
            self.status,
            self.expires_at,
            self.revoke_at,
            now,
        )
    }

    /// The key's record (`GET /keys/{id}/record`), a copy.
    pub fn record(&self) -> KeyRecord {
        self.clone().into_record()
    }

    /// The key's record, taking the key's strings rather than copying them:
    /// verification decides on it (`KeyRecord::decision_fields`, the core's
    /// one assembly of what the decision reads) and answers with its fields.
    pub fn into_record(self) -> KeyRecord {
        let metered = self.usage.is_metered();
        KeyRecord {
            key_id: self.id,
            application_id: self.application_id,
            account: self.account,
            hash: self.hash,
            status: self.status,
            expires_at: self.expires_at,
            revoke_at: self.revoke_at,
            scopes: self.scopes,
            application_status: self.application_status,
            owner_status: self.owner_status,
            allowed_ips: self.usage.allowed_ips,
            metered,
        }
    }

    /// The counters a view reports: as read, with the balance this write
    /// sets (a create, a PATCH of credits, a regeneration) in place of the
    /// one read.
    fn live_meter(&self) -> Meter {
        Meter {
            windows: self.meter.windows.clone(),
            credits: self.set_balance.or(self.meter.credits),
        }
    }

    pub fn view(&self, now: i64) -> KeyView {
        let meter = if self.usage.is_metered() {
            self.live_meter()
        } else {
            Meter::default()
        };
        let balance = meter.balance(&self.usage, now);
        KeyView {
            id: self.id.clone(),
            application_id: self.application_id.clone(),
            account: self.account.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes.clone(),
            status: self.status_at(now),
            verdict: self.standing(now),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            revoke_at: self.revoke_at,
            replaced_by: self.replaced_by.clone(),
            replaces: self.replaces.clone(),
            last_used_at: self.last_used_at,
            rate_limits: self.usage.rate_limits.clone(),
            credits: self.usage.credits.map(|credits| Credits {
                remaining: balance.map_or(credits.remaining, |b| b.remaining),
                refill: credits.refill,
            }),
            allowed_ips: self.usage.allowed_ips.clone(),
            usage: self
                .usage
                .is_metered()
                .then(|| crate::usage::report(&self.usage, &meter, now)),
            leak: self.leak.clone(),
            disabled_by: self
                .disabled_by
                .clone()
                .filter(|_| self.status == StoredKeyStatus::Disabled),
        }
    }
}

/// How many of an application's `keys` count toward its limit at `now`:
/// every live key, except one that was regenerated while a key that
/// replaced it (its replacement, or that key's own replacement, down the
/// chain) is live: the live successor holds the place. So a chain of
/// regenerations counts once while any key of it can verify, and once its
/// successors are revoked or expired a key in its grace period counts
/// again: regenerate-with-grace then revoke cannot free a slot.
pub fn keys_counting_toward_limit(keys: &[Key], now: i64) -> usize {
    let by_id: std::collections::HashMap<&str, &Key> =
        keys.iter().map(|k| (k.id.as_str(), k)).collect();
    let has_live_successor = |key: &Key| {
        let mut next = key.replaced_by.as_deref();
        // A chain is at most as long as the list; the bound also ends any
        // cycle a corrupt store could hold.
        for _ in 0..keys.len() {
            match next.and_then(|id| by_id.get(id)) {
                Some(successor) if successor.is_live(now) => return true,
                Some(successor) => next = successor.replaced_by.as_deref(),
                None => return false,
            }
        }
        false
    };
    keys.iter()
        .filter(|k| k.is_live(now) && !has_live_successor(k))
        .count()
}

/// A key as every read returns it: no hash, no secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub application_id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub status: KeyStatus,
    /// The code `POST /verify` gives this key now, before scopes: a key
    /// whose application was revoked or whose owner was offboarded is
    /// `status: active` yet refused, and this says so.
    pub verdict: VerdictCode,
    pub created_by: String,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
    #[serde(with = "rfc3339")]
    pub expires_at: i64,
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<i64>,
    #[serde(with = "rfc3339::option")]
    pub revoke_at: Option<i64>,
    pub replaced_by: Option<String>,
    pub replaces: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<i64>,
    /// The key's rate limits (omitted when it has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    /// The key's credits, `remaining` being the live balance (refilled if
    /// a refill is due); omitted when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// The addresses and blocks it may be verified from (omitted when any).
    #[serde(default, skip_serializing_if = "AllowedIps::is_empty")]
    pub allowed_ips: AllowedIps,
    /// What is left now of each rate limit's window and of the credits;
    /// omitted for a key that is not metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageReport>,
    /// Why and where it was found leaked (omitted when it was not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
    /// Who disabled it, while it is disabled (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
}

impl Application {
    /// New keys (created or regenerated) need a live application whose
    /// owner is still here.
    pub fn accepts_new_keys(&self) -> Result<(), ApiError> {
        if self.status == ApplicationStatus::Revoked {
            Err(ApiError::ApplicationRevoked)
        } else if self.owner_status == OwnerStatus::Deleted {
            Err(ApiError::OwnerDeleted)
        } else {
            Ok(())
        }
    }

    pub fn view(&self) -> ApplicationView {
        ApplicationView {
            id: self.id.clone(),
            account: self.account.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            key_prefix: self.key_prefix.clone(),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            status: self.status,
            revoked_at: self.revoked_at,
            owner_status: self.owner_status,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicationView {
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub key_prefix: String,
    pub created_by: String,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
    pub status: ApplicationStatus,
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<i64>,
    pub owner_status: OwnerStatus,
}

/// Who did what, when, and the object before and after (public views only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub account: String,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[serde(with = "rfc3339")]
    pub at: i64,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A mutating request's sealed answer, kept for retries with the same
/// Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Derived from account, user and key: the key itself is not stored.
    pub id: String,
    pub account: String,
    /// The user who made it: a record is replayed to that caller only.
    #[serde(default)]
    pub user_id: String,
    /// SHA-256 of method, path and body: a retry must match it.
    pub fingerprint: String,
    /// Nonce and AEAD ciphertext of the answer, base64.
    pub sealed: String,
    pub expires_at: i64,
}

// ---- validation of user input -------------------------------------------

pub fn validate_name(name: &str) -> Result<String, ApiError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(ApiError::InvalidName("name must not be empty".into()));
    }
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::InvalidName(format!(
            "name must be at most {MAX_NAME_CHARS} characters (got {chars})"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::InvalidName(
            "name must not contain control characters".into(),
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn validate_description(description: &str) -> Result<String, ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::InvalidDescription);
    }
    Ok(description.trim().to_owned())
}

pub fn validate_prefix(prefix: &str) -> Result<String, ApiError> {
    if is_valid_prefix(prefix) {
        Ok(prefix.to_owned())
    } else {
        Err(ApiError::InvalidPrefix)
    }
}

/// Checks the grammar of each scope, sorts and de-duplicates them.
pub fn validate_scopes(scopes: &[String]) -> Result<Vec<String>, ApiError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ApiError::InvalidScope(format!("{} scopes", scopes.len())));
    }
    if let Some(bad) = scopes.iter().find(|s| !is_valid_scope(s)) {
        return Err(ApiError::InvalidScope(bad.chars().take(140).collect()));
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Resolves an optional requested expiry against the validity bounds.
pub fn resolve_expiry(
    requested: Option<&str>,
    now: i64,
    default_days: u32,
    max_days: u32,
) -> Result<i64, ApiError> {
    let day = crate::config::DAY;
    let Some(text) = requested else {
        return Ok(now + i64::from(default_days) * day);
    };
    let at = parse_rfc3339(text)?;
    if at <= now {
        return Err(ApiError::ExpiresAtInPast);
    }
    if at > now + i64::from(max_days) * day {
        return Err(ApiError::ExpiresAtTooFar(max_days));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions() {
        assert_eq!(validate_name("  ok ").unwrap(), "ok");
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"é".repeat(64)).is_ok());
        assert_eq!(
            validate_name(&"a".repeat(65)).unwrap_err().code(),
            "INVALID_NAME"
        );
        assert!(validate_name("a\u{0}b").is_err());
        assert!(validate_description(&"d".repeat(512)).is_ok());
        assert_eq!(
            validate_description(&"d".repeat(513)).unwrap_err().code(),
            "INVALID_DESCRIPTION"
        );
    }

    #[test]
    fn scopes_are_checked_sorted_and_deduplicated() {
        let scopes = validate_scopes(&["b:x".into(), "a:y".into(), "b:x".into()]).unwrap();
        assert_eq!(scopes, vec!["a:y", "b:x"]);
        assert_eq!(
            validate_scopes(&["Bad".into()]).unwrap_err().code(),
            "INVALID_SCOPE"
        );
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert!(validate_scopes(&many).is_err());
    }

    #[test]
    fn expiry_bounds() {
        let now = 1_800_000_000;
        assert_eq!(
            resolve_expiry(None, now, 365, 730).unwrap(),
            now + 365 * 86_400
        );
        let past = rfc3339::format(now - 1);
        assert_eq!(
            resolve_expiry(Some(&past), now, 365, 730)
                .unwrap_err()
                .code(),
            "EXPIRES_AT_IN_PAST"
        );
        let exact_now = rfc3339::format(now);
        assert!(resolve_expiry(Some(&exact_now), now, 365, 730).is_err());
        let far = rfc3339::format(now + 731 * 86_400);
        assert_eq!(
            resolve_expiry(Some(&far), now, 365, 730)
                .unwrap_err()
                .code(),
            "EXPIRES_AT_TOO_FAR"
        );
        let max = rfc3339::format(now + 730 * 86_400);
        assert_eq!(
            resolve_expiry(Some(&max), now, 365, 730).unwrap(),
            now + 730 * 86_400
        );
        assert_eq!(
            resolve_expiry(Some("tomorrow"), now, 365, 730)
                .unwrap_err()
                .code(),
            "INVALID_EXPIRES_AT"
        );
        let earlier = 1_790_000_000;
        assert_eq!(
            resolve_expiry(Some("2027-01-15T10:00:00+02:00"), earlier, 365, 730).unwrap(),
            1_800_000_000,
            "offsets are honoured"
        );
    }
}
