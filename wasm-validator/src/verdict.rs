//! The verification verdict: what `POST /verify`, the authorizer and the
//! WebAssembly package all answer, computed from a presented key, the key's
//! record, the required scopes, the current time and the caller's source
//! address (arguments: the core has no clock and no network).

use crate::key;
use crate::record::{DecisionFields, KeyRecord};
use crate::scope;
use core::net::IpAddr;
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
    IpNotAllowed,
    /// A rate limit's window is full: only keyward, which holds the
    /// counters, answers it.
    RateLimited,
    /// The credits are spent: only keyward answers it, as `RateLimited`.
    UsageExceeded,
    /// A metered key passed every check the record allows: the core cannot
    /// accept it, keyward must (`POST /verify` debits its limits). The
    /// service turns it into `Valid`, `RateLimited` or `UsageExceeded`;
    /// at the edge it is a refusal, so an integration that skips the
    /// central call fails closed.
    CentralCheckRequired,
}

impl VerdictCode {
    pub const ALL: [VerdictCode; 13] = [
        Self::Valid,
        Self::Malformed,
        Self::NotFound,
        Self::Disabled,
        Self::Revoked,
        Self::Expired,
        Self::ApplicationRevoked,
        Self::OwnerDeleted,
        Self::InsufficientScope,
        Self::IpNotAllowed,
        Self::RateLimited,
        Self::UsageExceeded,
        Self::CentralCheckRequired,
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
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::CentralCheckRequired => "CENTRAL_CHECK_REQUIRED",
        }
    }

    /// Whether the core's [`decide`] can answer it: all but the two that
    /// need keyward's counters.
    pub fn decided_by_core(self) -> bool {
        !matches!(self, Self::RateLimited | Self::UsageExceeded)
    }
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

/// The one decision: the verdict code for a parsed key against its record's
/// fields (or `None` when no record exists), the scopes the caller
/// requires, at time `now` (epoch seconds), for a caller at `source_ip`
/// (`None`: unknown, which a key restricted to some addresses refuses).
/// `NOT_FOUND` exactly when the key did not match a record. After the
/// record's own refusals: `INSUFFICIENT_SCOPE`, `IP_NOT_ALLOWED`, then,
/// for a metered key that passed them all, `CENTRAL_CHECK_REQUIRED`.
/// Allocates nothing.
pub fn decide<G: AsRef<str>>(
    parsed: &key::ParsedKey<'_>,
    record: Option<&DecisionFields<'_, G>>,
    required_scopes: &[&str],
    now: i64,
    source_ip: Option<IpAddr>,
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
    let standing = record.standing(now);
    if standing != VerdictCode::Valid {
        return standing;
    }
    let granted = || record.scopes.iter().map(AsRef::as_ref);
    if !required_scopes
        .iter()
        .all(|required| scope::granted_by(granted(), required))
    {
        return VerdictCode::InsufficientScope;
    }
    if !record.allowed_ips.admits(source_ip) {
        return VerdictCode::IpNotAllowed;
    }
    if record.metered {
        return VerdictCode::CentralCheckRequired;
    }
    VerdictCode::Valid
}

/// The verdict for a parsed key against its record (or `None` when no
/// record exists), the scopes the caller requires, at time `now` (epoch
/// seconds), from `source_ip`: [`decide`], with the record's fields when
/// the key matched.
pub fn verdict_for<'a>(
    parsed: &key::ParsedKey<'a>,
    record: Option<&'a KeyRecord>,
    required_scopes: &[&str],
    now: i64,
    source_ip: Option<IpAddr>,
) -> Verdict<'a> {
    let fields = record.map(KeyRecord::decision_fields);
    let code = decide(parsed, fields.as_ref(), required_scopes, now, source_ip);
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
/// [`verdict_for`]. Allocates nothing: the verdict borrows. A source
/// address given as text goes through [`crate::parse_source_ip`] first.
pub fn validate<'a>(
    presented: &'a str,
    record: Option<&'a KeyRecord>,
    required_scopes: &[&str],
    now: i64,
    source_ip: Option<IpAddr>,
) -> Verdict<'a> {
    match key::parse(presented) {
        Ok(parsed) => verdict_for(&parsed, record, required_scopes, now, source_ip),
        Err(_) => Verdict::malformed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ApplicationStatus, OwnerStatus, StoredKeyStatus};
    use crate::{AllowedIps, parse_source_ip};
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
            allowed_ips: AllowedIps::default(),
            metered: false,
        };
        (key, record)
    }

    #[test]
    fn every_verdict_code_is_reachable() {
        let (key, record) = key_and_record();
        let mut seen = HashSet::new();
        let mut check =
            |presented: &str, record: Option<&KeyRecord>, scopes: &[&str], now, want| {
                let verdict = validate(presented, record, scopes, now, None);
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
        let mut check_from = |record: &KeyRecord, scopes: &[&str], source: &str, want| {
            let verdict = validate(&key, Some(record), scopes, NOW, parse_source_ip(source));
            assert_eq!(verdict.code, want, "from {source:?}");
            assert_eq!(verdict.valid, want == VerdictCode::Valid);
            seen.insert(want);
        };
        let restricted = KeyRecord {
            allowed_ips: AllowedIps::parse(["192.0.2.0/24", "2001:db8::/32"]).unwrap(),
            ..record.clone()
        };
        check_from(&restricted, &[], "192.0.2.255", VerdictCode::Valid);
        check_from(&restricted, &[], "::ffff:192.0.2.1", VerdictCode::Valid);
        check_from(&restricted, &[], "2001:db8::7", VerdictCode::Valid);
        check_from(&restricted, &[], "192.0.3.0", VerdictCode::IpNotAllowed);
        check_from(&restricted, &[], "", VerdictCode::IpNotAllowed);
        check_from(&restricted, &[], "192.0.2.1/32", VerdictCode::IpNotAllowed);
        // Scope outranks the address; any address suits an unrestricted key.
        check_from(
            &restricted,
            &["billing:write"],
            "198.51.100.1",
            VerdictCode::InsufficientScope,
        );
        check_from(&record, &[], "198.51.100.1", VerdictCode::Valid);
        let metered = KeyRecord {
            metered: true,
            ..restricted.clone()
        };
        check_from(
            &metered,
            &[],
            "192.0.2.1",
            VerdictCode::CentralCheckRequired,
        );
        check_from(&metered, &[], "198.51.100.1", VerdictCode::IpNotAllowed);
        check_from(
            &metered,
            &["billing:write"],
            "192.0.2.1",
            VerdictCode::InsufficientScope,
        );
        let core_codes = VerdictCode::ALL.iter().filter(|c| c.decided_by_core());
        assert_eq!(seen.len(), core_codes.count(), "codes seen: {seen:?}");
        assert!(seen.iter().all(|c| c.decided_by_core()));
    }

    #[test]
    fn a_metered_key_is_never_valid_from_the_core() {
        let (key, record) = key_and_record();
        let metered = KeyRecord {
            metered: true,
            ..record
        };
        let verdict = validate(&key, Some(&metered), &["sims:read"], NOW, None);
        assert_eq!(verdict.code, VerdictCode::CentralCheckRequired);
        assert!(!verdict.valid);
        // The key matched: the caller gets its public fields for the
        // central call.
        assert_eq!(verdict.application_id.as_deref(), Some("app_1"));
        let disabled = KeyRecord {
            status: StoredKeyStatus::Disabled,
            ..metered.clone()
        };
        assert_eq!(
            validate(&key, Some(&disabled), &[], NOW, None).code,
            VerdictCode::Disabled
        );
        assert_eq!(
            validate(&key, Some(&metered), &[], NOW + 3600, None).code,
            VerdictCode::Expired
        );
    }

    #[test]
    fn wrong_secret_answers_exactly_like_an_unknown_key() {
        let (key, record) = key_and_record();
        let (_, other_secret) = key::format_key("acme", &[7; 16], &[8; 32]);
        let wrong = validate(&other_secret, Some(&record), &[], NOW, None);
        let unknown = validate(&other_secret, None, &[], NOW, None);
        assert_eq!(wrong, unknown);
        assert_eq!(wrong.code, VerdictCode::NotFound);
        // Even a revoked record says nothing to a wrong secret.
        let revoked = KeyRecord {
            status: StoredKeyStatus::Revoked,
            ..record.clone()
        };
        assert_eq!(
            validate(&other_secret, Some(&revoked), &[], NOW, None),
            unknown
        );
        assert_eq!(
            validate(&key, Some(&record), &[], NOW, None).code,
            VerdictCode::Valid
        );
    }

    #[test]
    fn a_record_for_another_key_id_never_matches() {
        let (key, mut record) = key_and_record();
        record.key_id = "0".repeat(22);
        assert_eq!(
            validate(&key, Some(&record), &[], NOW, None).code,
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
            validate(&key, Some(&both), &[], NOW, None).code,
            VerdictCode::ApplicationRevoked
        );
        let disabled_and_expired = KeyRecord {
            status: StoredKeyStatus::Disabled,
            ..record
        };
        assert_eq!(
            validate(&key, Some(&disabled_and_expired), &[], NOW + 7200, None).code,
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
        let json = serde_json::to_value(validate(&key, Some(&record), &[], NOW, None)).unwrap();
        assert_eq!(json["code"], "VALID");
        assert_eq!(json["valid"], true);
        assert_eq!(json["expires_at"], NOW + 3600);
        let json = serde_json::to_value(validate("x", None, &[], NOW, None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"valid": false, "code": "MALFORMED"})
        );
        for code in VerdictCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
