//! What a verifier knows about one key: the statuses, the record
//! (`GET /keys/{id}/record`), the fields of it the decision reads, and the
//! key's standing.

use crate::ip::AllowedIps;
use crate::verdict::VerdictCode;
use serde::{Deserialize, Serialize};

/// A key's stored status. `expired` is never stored: it is derived from
/// `expires_at` on every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredKeyStatus {
    Active,
    Disabled,
    Revoked,
}

/// A key's status as seen at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Disabled,
    Revoked,
    Expired,
}

impl KeyStatus {
    /// The one rule for a key's status at `now`: revoked (now, or at the end
    /// of a regenerate grace period) wins, then expiry, then what is stored.
    pub fn at(stored: StoredKeyStatus, expires_at: i64, revoke_at: Option<i64>, now: i64) -> Self {
        match stored {
            StoredKeyStatus::Revoked => Self::Revoked,
            _ if revoke_at.is_some_and(|t| t <= now) => Self::Revoked,
            _ if expires_at <= now => Self::Expired,
            StoredKeyStatus::Active => Self::Active,
            StoredKeyStatus::Disabled => Self::Disabled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Active,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerStatus {
    Active,
    Deleted,
}

/// Everything a verifier needs about one key, in one item: what
/// `GET /keys/{id}/record` returns and the WebAssembly validator checks.
/// It holds the key's hash, never the key.
///
/// The usage-control fields are optional on the wire (absent when empty or
/// false), so a record written before them still parses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub key_id: String,
    pub application_id: String,
    pub account: String,
    /// Lower-case hex SHA-256 of the whole key string.
    pub hash: String,
    pub status: StoredKeyStatus,
    /// Epoch seconds; the key is expired from this second on.
    pub expires_at: i64,
    /// Epoch seconds at which a regenerated key's grace period ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_at: Option<i64>,
    pub scopes: Vec<String>,
    pub application_status: ApplicationStatus,
    pub owner_status: OwnerStatus,
    /// The source addresses the key is accepted from; empty: any.
    #[serde(default, skip_serializing_if = "AllowedIps::is_empty")]
    pub allowed_ips: AllowedIps,
    /// The key has rate limits or credits: only keyward, which holds the
    /// counters, can accept it (the core answers `CENTRAL_CHECK_REQUIRED`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metered: bool,
}

/// The fields of a record the decision reads, borrowed. Assembled from a
/// [`KeyRecord`] by [`KeyRecord::decision_fields`] (the service turns its
/// stored key into a record by moving its fields), and by the WebAssembly
/// exports straight from what they read of a JS record. `G` is how a
/// granted scope is held (`String` in a `KeyRecord`, `&str` elsewhere).
#[derive(Clone, Copy)]
pub struct DecisionFields<'a, G> {
    pub key_id: &'a str,
    pub hash: &'a str,
    pub status: StoredKeyStatus,
    pub expires_at: i64,
    pub revoke_at: Option<i64>,
    pub scopes: &'a [G],
    pub application_status: ApplicationStatus,
    pub owner_status: OwnerStatus,
    pub allowed_ips: &'a AllowedIps,
    pub metered: bool,
}

impl KeyRecord {
    pub fn decision_fields(&self) -> DecisionFields<'_, String> {
        DecisionFields {
            key_id: &self.key_id,
            hash: &self.hash,
            status: self.status,
            expires_at: self.expires_at,
            revoke_at: self.revoke_at,
            scopes: &self.scopes,
            application_status: self.application_status,
            owner_status: self.owner_status,
            allowed_ips: &self.allowed_ips,
            metered: self.metered,
        }
    }
}

/// A key's standing at `now`: what verification answers for the right
/// secret before scopes are considered, the refusals in their precedence
/// (application revoked, owner deleted, revoked, expired, disabled), else
/// `Valid`. Key views carry it, so no read shows a key as working that
/// verification refuses.
pub fn standing(
    application_status: ApplicationStatus,
    owner_status: OwnerStatus,
    status: StoredKeyStatus,
    expires_at: i64,
    revoke_at: Option<i64>,
    now: i64,
) -> VerdictCode {
    if application_status == ApplicationStatus::Revoked {
        VerdictCode::ApplicationRevoked
    } else if owner_status == OwnerStatus::Deleted {
        VerdictCode::OwnerDeleted
    } else {
        match KeyStatus::at(status, expires_at, revoke_at, now) {
            KeyStatus::Revoked => VerdictCode::Revoked,
            KeyStatus::Expired => VerdictCode::Expired,
            KeyStatus::Disabled => VerdictCode::Disabled,
            KeyStatus::Active => VerdictCode::Valid,
        }
    }
}

impl<G> DecisionFields<'_, G> {
    /// [`standing`] of these fields.
    pub fn standing(&self, now: i64) -> VerdictCode {
        standing(
            self.application_status,
            self.owner_status,
            self.status,
            self.expires_at,
            self.revoke_at,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record_json() -> serde_json::Value {
        json!({
            "key_id": "0xRewg110o1PoYsMfnhp7u",
            "application_id": "app_1",
            "account": "acct_1",
            "hash": "00",
            "status": "active",
            "expires_at": 1_800_000_000,
            "scopes": ["sims:*"],
            "application_status": "active",
            "owner_status": "active",
        })
    }

    #[test]
    fn a_record_without_usage_control_reads_and_writes_as_before() {
        let before = record_json();
        let record: KeyRecord = serde_json::from_value(before.clone()).unwrap();
        assert!(record.allowed_ips.is_empty());
        assert!(!record.metered);
        assert_eq!(serde_json::to_value(&record).unwrap(), before);
    }

    #[test]
    fn usage_control_fields_round_trip_canonical() {
        let mut json = record_json();
        json["allowed_ips"] = json!(["10.1.2.3/8", "::ffff:192.0.2.7"]);
        json["metered"] = json!(true);
        let record: KeyRecord = serde_json::from_value(json.clone()).unwrap();
        assert!(record.metered);
        let written = serde_json::to_value(&record).unwrap();
        assert_eq!(
            written["allowed_ips"],
            json!(["10.0.0.0/8", "192.0.2.7/32"])
        );
        assert_eq!(written["metered"], true);
        json["allowed_ips"] = json!(["10.0.0.0/8", "nope"]);
        let err = serde_json::from_value::<KeyRecord>(json).unwrap_err();
        assert!(err.to_string().contains("allowed_ips[1]"), "{err}");
    }
}
