//! The verification verdict: what `POST /verify`, the authorizer and the
//! WebAssembly package all answer, computed from a presented key, the key's
//! record, the required scopes and the current time (an argument: the core
//! has no clock).

use crate::key;
use crate::scope;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Verdict codes, stable and shared by every verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerdictCode {
    Valid,
    Malformed,
    NotFound,
    Disabled,
    Revoked,
    Expired,
    ApplicationRevoked,
    OwnerDeleted,
    InsufficientScope,
}

impl VerdictCode {
    pub const ALL: [VerdictCode; 9] = [
        Self::Valid,
        Self::Malformed,
        Self::NotFound,
        Self::Disabled,
        Self::Revoked,
        Self::Expired,
        Self::ApplicationRevoked,
        Self::OwnerDeleted,
        Self::InsufficientScope,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Disabled => "DISABLED",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::ApplicationRevoked => "APPLICATION_REVOKED",
            Self::OwnerDeleted => "OWNER_DELETED",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
        }
    }
}

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
}

/// The answer to a verification.
///
/// Its strings borrow from the record and the presented key where it can
/// (`Cow`): [`validate`] of a borrowed record allocates nothing, and the
/// service moves the fields of the key it read into its answer. Cloning
/// them was a fifth of a native `validate` (BENCHMARKS.md). Serialises
/// the same either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict<'a> {
    pub valid: bool,
    pub code: VerdictCode,
    /// Set when the key's checksum held: the id is public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Cow<'a, str>>,
    /// The rest is set only when the presented key matched its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Cow<'a, [String]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl<'a> Verdict<'a> {
    fn bare(code: VerdictCode, key_id: Option<Cow<'a, str>>) -> Self {
        Verdict {
            valid: false,
            code,
            key_id,
            application_id: None,
            account: None,
            scopes: None,
            expires_at: None,
        }
    }

    pub fn malformed() -> Self {
        Self::bare(VerdictCode::Malformed, None)
    }

    /// The answer for a key id with no record. Identical to the answer for a
    /// wrong secret, so a verifier cannot tell the two apart.
    pub fn not_found(key_id: impl Into<Cow<'a, str>>) -> Self {
        Self::bare(VerdictCode::NotFound, Some(key_id.into()))
    }

    /// The answer for a key that matched its record: `code` with the
    /// record's public fields.
    pub fn matched(
        code: VerdictCode,
        key_id: impl Into<Cow<'a, str>>,
        application_id: impl Into<Cow<'a, str>>,
        account: impl Into<Cow<'a, str>>,
        scopes: impl Into<Cow<'a, [String]>>,
        expires_at: i64,
    ) -> Self {
        Verdict {
            valid: code == VerdictCode::Valid,
            code,
            key_id: Some(key_id.into()),
            application_id: Some(application_id.into()),
            account: Some(account.into()),
            scopes: Some(scopes.into()),
            expires_at: Some(expires_at),
        }
    }

    /// The same verdict, owning its strings.
    pub fn into_owned(self) -> Verdict<'static> {
        let owned = |s: Cow<'a, str>| Cow::Owned(s.into_owned());
        Verdict {
            valid: self.valid,
            code: self.code,
            key_id: self.key_id.map(owned),
            application_id: self.application_id.map(owned),
            account: self.account.map(owned),
            scopes: self.scopes.map(|s| Cow::Owned(s.into_owned())),
            expires_at: self.expires_at,
        }
    }
}

/// A stored hash compared against when there is no record, so an unknown
/// key id costs the same hash-and-compare as a wrong secret. 64 bytes, like
/// a stored hash, and not hex, so it never matches.
const DECOY_HASH: &str = "decoy-decoy-decoy-decoy-decoy-decoy-decoy-decoy-decoy-decoy-deco";

/// Hashes the presented key and compares it with the decoy, taking the same
/// time as a real comparison. Returns the not-found verdict.
pub fn not_found_after_equal_work<'a>(parsed: &key::ParsedKey<'a>) -> Verdict<'a> {
    // black_box keeps the optimiser from eliding the unused comparison.
    core::hint::black_box(key::hash_matches_hex(parsed.full, DECOY_HASH));
    Verdict::not_found(parsed.key_id)
}

/// The fields of a record the decision reads, borrowed: what
/// [`KeyRecord::decision_fields`] gives, and what the WebAssembly exports
/// read from a JS record without copying the rest. `G` is how a granted
/// scope is held (`String` in a `KeyRecord`, `&str` elsewhere).
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
        }
    }
}

/// The one decision: the verdict code for a parsed key against its record's
/// fields (or `None` when no record exists), the scopes the caller
/// requires, at time `now` (epoch seconds). `NOT_FOUND` exactly when the key
/// did not match a record. Allocates nothing.
pub fn decide<G: AsRef<str>>(
    parsed: &key::ParsedKey<'_>,
    record: Option<&DecisionFields<'_, G>>,
    required_scopes: &[&str],
    now: i64,
) -> VerdictCode {
    let Some(record) = record else {
        // black_box keeps the optimiser from eliding the unused comparison.
        core::hint::black_box(key::hash_matches_hex(parsed.full, DECOY_HASH));
        return VerdictCode::NotFound;
    };
    // A record for another id, or an unreadable stored hash, cannot match:
    // answer exactly as for an unknown key.
    let matched = key::hash_matches_hex(parsed.full, record.hash);
    if !matched || record.key_id != parsed.key_id {
        return VerdictCode::NotFound;
    }
    match record.standing(now) {
        VerdictCode::Valid => {
            let granted = || record.scopes.iter().map(AsRef::as_ref);
            if required_scopes
                .iter()
                .all(|required| scope::granted_by(granted(), required))
            {
                VerdictCode::Valid
            } else {
                VerdictCode::InsufficientScope
            }
        }
        refused => refused,
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

/// The verdict for a parsed key against its record (or `None` when no
/// record exists), the scopes the caller requires, at time `now` (epoch
/// seconds): [`decide`], with the record's fields when the key matched.
pub fn verdict_for<'a>(
    parsed: &key::ParsedKey<'a>,
    record: Option<&'a KeyRecord>,
    required_scopes: &[&str],
    now: i64,
) -> Verdict<'a> {
    let fields = record.map(KeyRecord::decision_fields);
    let code = decide(parsed, fields.as_ref(), required_scopes, now);
    match record {
        Some(record) if code != VerdictCode::NotFound => Verdict::matched(
            code,
            record.key_id.as_str(),
            record.application_id.as_str(),
            record.account.as_str(),
            record.scopes.as_slice(),
            record.expires_at,
        ),
        _ => Verdict::not_found(parsed.key_id),
    }
}

/// The whole verification in one call: parse (shape and checksum), then
/// [`verdict_for`]. Allocates nothing: the verdict borrows.
pub fn validate<'a>(
    presented: &'a str,
    record: Option<&'a KeyRecord>,
    required_scopes: &[&str],
    now: i64,
) -> Verdict<'a> {
    match key::parse(presented) {
        Ok(parsed) => verdict_for(&parsed, record, required_scopes, now),
        Err(_) => Verdict::malformed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const NOW: i64 = 1_800_000_000;

    fn key_and_record() -> (String, KeyRecord) {
        let (key_id, key) = key::format_key("acme", &[7; 16], &[9; 32]);
        let record = KeyRecord {
            key_id,
            application_id: "app_1".into(),
            account: "acct_1".into(),
            hash: key::to_hex(&key::hash_key(&key)),
            status: StoredKeyStatus::Active,
            expires_at: NOW + 3600,
            revoke_at: None,
            scopes: vec!["sims:*".into(), "billing:read".into()],
            application_status: ApplicationStatus::Active,
            owner_status: OwnerStatus::Active,
        };
        (key, record)
    }

    #[test]
    fn every_verdict_code_is_reachable() {
        let (key, record) = key_and_record();
        let mut seen = HashSet::new();
        let mut check =
            |presented: &str, record: Option<&KeyRecord>, scopes: &[&str], now, want| {
                let verdict = validate(presented, record, scopes, now);
                assert_eq!(verdict.code, want, "presented {presented:?}");
                assert_eq!(verdict.valid, want == VerdictCode::Valid);
                seen.insert(want);
            };
        check(&key, Some(&record), &[], NOW, VerdictCode::Valid);
        check(
            &format!("Bearer {key}"),
            Some(&record),
            &["sims:read"],
            NOW,
            VerdictCode::Valid,
        );
        check(
            &key[..key.len() - 1],
            Some(&record),
            &[],
            NOW,
            VerdictCode::Malformed,
        );
        check(&key, None, &[], NOW, VerdictCode::NotFound);
        let disabled = KeyRecord {
            status: StoredKeyStatus::Disabled,
            ..record.clone()
        };
        check(&key, Some(&disabled), &[], NOW, VerdictCode::Disabled);
        let revoked = KeyRecord {
            status: StoredKeyStatus::Revoked,
            ..record.clone()
        };
        check(&key, Some(&revoked), &[], NOW, VerdictCode::Revoked);
        check(&key, Some(&record), &[], NOW + 3600, VerdictCode::Expired);
        check(&key, Some(&record), &[], NOW + 3599, VerdictCode::Valid);
        let app_revoked = KeyRecord {
            application_status: ApplicationStatus::Revoked,
            ..record.clone()
        };
        check(
            &key,
            Some(&app_revoked),
            &[],
            NOW,
            VerdictCode::ApplicationRevoked,
        );
        let owner_deleted = KeyRecord {
            owner_status: OwnerStatus::Deleted,
            ..record.clone()
        };
        check(
            &key,
            Some(&owner_deleted),
            &[],
            NOW,
            VerdictCode::OwnerDeleted,
        );
        check(
            &key,
            Some(&record),
            &["billing:write"],
            NOW,
            VerdictCode::InsufficientScope,
        );
        check(
            &key,
            Some(&record),
            &["sims:read", "billing:write"],
            NOW,
            VerdictCode::InsufficientScope,
        );
        let graced = KeyRecord {
            revoke_at: Some(NOW + 10),
            ..record.clone()
        };
        check(&key, Some(&graced), &[], NOW + 9, VerdictCode::Valid);
        check(&key, Some(&graced), &[], NOW + 10, VerdictCode::Revoked);
        assert_eq!(seen.len(), VerdictCode::ALL.len(), "codes seen: {seen:?}");
    }

    #[test]
    fn wrong_secret_answers_exactly_like_an_unknown_key() {
        let (key, record) = key_and_record();
        let (_, other_secret) = key::format_key("acme", &[7; 16], &[8; 32]);
        let wrong = validate(&other_secret, Some(&record), &[], NOW);
        let unknown = validate(&other_secret, None, &[], NOW);
        assert_eq!(wrong, unknown);
        assert_eq!(wrong.code, VerdictCode::NotFound);
        // Even a revoked record says nothing to a wrong secret.
        let revoked = KeyRecord {
            status: StoredKeyStatus::Revoked,
            ..record.clone()
        };
        assert_eq!(validate(&other_secret, Some(&revoked), &[], NOW), unknown);
        assert_eq!(
            validate(&key, Some(&record), &[], NOW).code,
            VerdictCode::Valid
        );
    }

    #[test]
    fn a_record_for_another_key_id_never_matches() {
        let (key, mut record) = key_and_record();
        record.key_id = "0".repeat(22);
        assert_eq!(
            validate(&key, Some(&record), &[], NOW).code,
            VerdictCode::NotFound
        );
    }

    #[test]
    fn status_precedence() {
        // Application revocation outranks everything about the key itself.
        let (key, record) = key_and_record();
        let both = KeyRecord {
            status: StoredKeyStatus::Revoked,
            application_status: ApplicationStatus::Revoked,
            owner_status: OwnerStatus::Deleted,
            ..record.clone()
        };
        assert_eq!(
            validate(&key, Some(&both), &[], NOW).code,
            VerdictCode::ApplicationRevoked
        );
        let disabled_and_expired = KeyRecord {
            status: StoredKeyStatus::Disabled,
            ..record
        };
        assert_eq!(
            validate(&key, Some(&disabled_and_expired), &[], NOW + 7200).code,
            VerdictCode::Expired
        );
    }

    #[test]
    fn the_decoy_is_as_long_as_a_stored_hash_and_never_matches() {
        let (key, _) = key_and_record();
        assert_eq!(DECOY_HASH.len(), 64);
        assert!(!key::hash_matches_hex(&key, DECOY_HASH));
    }

    #[test]
    fn verdict_json_shape() {
        let (key, record) = key_and_record();
        let json = serde_json::to_value(validate(&key, Some(&record), &[], NOW)).unwrap();
        assert_eq!(json["code"], "VALID");
        assert_eq!(json["valid"], true);
        assert_eq!(json["expires_at"], NOW + 3600);
        let json = serde_json::to_value(validate("x", None, &[], NOW)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"valid": false, "code": "MALFORMED"})
        );
        for code in VerdictCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
