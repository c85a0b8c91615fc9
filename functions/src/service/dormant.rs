//! Dormant keys (`KEYWARD_DISABLE_UNUSED_AFTER_DAYS`, 0 = off): the daily
//! job disables an active key not used for that many days (by
//! `last_used_at`, else `created_at`), after a notice to its creator 7
//! days before; actor `policy:dormant`. Both are once per key and dormant
//! spell: the notice's id names the day the key would be disabled, and a
//! disabled key is no longer a candidate.

use super::{Plan, Service};
use crate::config::DAY;
use crate::domain::{Key, Notice, NoticeKind};
use crate::error::ApiError;
use crate::leaks::DORMANT_ACTOR;
use crate::store::{CommitError, Write};
use wasm_validator::{ApplicationStatus, OwnerStatus, StoredKeyStatus};

/// How many days before the disable the notice goes out.
pub const NOTICE_DAYS_BEFORE: i64 = 7;

/// What one run did to dormant keys.
#[derive(Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct DormantReport {
    pub noticed: usize,
    pub disabled: usize,
}

impl Service {
    /// The dormant-key pass of the daily job.
    pub(super) async fn disable_dormant(&self, now: i64) -> Result<DormantReport, ApiError> {
        let mut report = DormantReport::default();
        let after = i64::from(self.config.disable_unused_after_days) * DAY;
        if after == 0 {
            return Ok(report);
        }
        // Every unexpired key, through the expiry index: a live key expires
        // within the longest validity.
        let horizon = now + i64::from(self.config.max_validity_days) * DAY + DAY;
        for listed in self.store.list_keys_expiring(now, horizon).await? {
            if !is_candidate(&listed, now)
                || idle_since(&listed) + after - NOTICE_DAYS_BEFORE * DAY > now
            {
                continue;
            }
            // A list may lag behind the uses (DynamoDB's index does not
            // carry `last_used_at`): decide on the key as it is.
            let Some(key) = self.store.get_key(&listed.id).await? else {
                continue;
            };
            if !is_candidate(&key, now) {
                continue;
            }
            let disable_at = idle_since(&key) + after;
            if disable_at <= now {
                if self.disable_as_dormant(&key.id).await? {
                    report.disabled += 1;
                }
            } else if disable_at - NOTICE_DAYS_BEFORE * DAY <= now {
                let notice = Notice::about(&key, NoticeKind::Dormant, now)
                    .for_day(&crate::domain::rfc3339::format(disable_at)[..10]);
                match self.store.commit(vec![Write::Notice(notice.clone())]).await {
                    Ok(()) => {
                        report.noticed += 1;
                        if let Err(e) = self.publisher.publish(&notice).await {
                            tracing::warn!(notice = %notice.id, error = %e, "publishing a dormant-key notice failed");
                        }
                    }
                    Err(CommitError::Conflict) => {}
                    Err(CommitError::Store(e)) => return Err(e.into()),
                }
            }
        }
        Ok(report)
    }

    /// Disables a key as the policy; false when a change since made it no
    /// candidate (used, disabled, revoked).
    async fn disable_as_dormant(&self, key_id: &str) -> Result<bool, ApiError> {
        let after = i64::from(self.config.disable_unused_after_days) * DAY;
        self.run(None, |now| async move {
            let Some(key) = self.store.get_key(key_id).await? else {
                return Ok(Plan::new(false));
            };
            if !is_candidate(&key, now) || idle_since(&key) + after > now {
                return Ok(Plan::new(false));
            }
            let mut disabled = key.clone();
            disabled.status = StoredKeyStatus::Disabled;
            disabled.disabled_by = Some(DORMANT_ACTOR.to_owned());
            disabled.updated_at = now;
            let audit = Self::key_event(DORMANT_ACTOR, "key.disabled", Some(&key), &disabled, now)?;
            Ok(Plan::new(true).with(audit).with(Write::Key {
                item: disabled,
                expected: Some(key.version),
            }))
        })
        .await
    }
}

/// An active key of a live application and owner, not in a grace period.
fn is_candidate(key: &Key, now: i64) -> bool {
    key.status == StoredKeyStatus::Active
        && key.is_live(now)
        && key.revoke_at.is_none()
        && key.application_status == ApplicationStatus::Active
        && key.owner_status == OwnerStatus::Active
}

/// Since when the key has not been used: its last use, else its creation,
/// or its last enabling if later (a key enabled again starts afresh).
fn idle_since(key: &Key) -> i64 {
    [key.last_used_at, key.enabled_at]
        .into_iter()
        .flatten()
        .fold(key.created_at, i64::max)
}
