//! Expiry notices (the daily job and the caller's list) and the audit log.

use super::Service;
use super::paging::{PageOf, PageQuery};
use crate::auth::{Caller, perm};
use crate::config::DAY;
use crate::domain::{AuditEvent, Notice, NoticeKind};
use crate::error::ApiError;
use crate::store::{CommitError, Write};
use async_trait::async_trait;
use serde::Serialize;
use wasm_validator::{ApplicationStatus, OwnerStatus};

/// Where expiry notices go besides the store: the log locally, SNS in AWS.
#[async_trait]
pub trait NoticePublisher: Send + Sync {
    async fn publish(&self, notice: &Notice) -> Result<(), String>;
}

pub struct LogPublisher;

#[async_trait]
impl NoticePublisher for LogPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        tracing::info!(
            notice = %notice.id,
            kind = ?notice.kind,
            recipient = %notice.recipient,
            key_id = %notice.key_id,
            days_left = notice.days_left,
            "notice"
        );
        Ok(())
    }
}

/// The actor of the events the expiry job writes.
pub const EXPIRY_NOTICE_ACTOR: &str = "policy:expiry-notice";

/// What one run of the expiry job did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct NotifyReport {
    pub examined: usize,
    pub sent: usize,
    pub already_sent: usize,
    pub publish_failures: usize,
    /// Dormant keys noticed and disabled (`KEYWARD_DISABLE_UNUSED_AFTER_DAYS`).
    pub dormant: super::dormant::DormantReport,
    pub purged: u64,
}

impl Service {
    pub async fn list_audit(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<AuditEvent>, ApiError> {
        caller.require(perm::AUDIT_VIEW)?;
        let page = self
            .store
            .list_audit(&caller.account, query.limit()?, query.cursor.as_deref())
            .await?;
        Ok(page.into())
    }

    pub async fn list_notifications(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<Notice>, ApiError> {
        let page = self
            .store
            .list_notices(
                &caller.account,
                &caller.user_id,
                query.limit()?,
                query.cursor.as_deref(),
            )
            .await?;
        Ok(page.into())
    }

    /// The daily job: one notice per key expiring within the window and per
    /// day, whoever runs it and however often. A notice is published only by
    /// the run whose write created it.
    pub async fn notify_expiring(&self) -> Result<NotifyReport, ApiError> {
        let now = self.clock.now();
        let window = i64::from(self.config.notice_window_days) * DAY;
        let mut report = NotifyReport::default();
        for key in self.store.list_keys_expiring(now, now + window).await? {
            if !key.is_live(now)
                || key.replaced_by.is_some()
                || key.application_status == ApplicationStatus::Revoked
                || key.owner_status == OwnerStatus::Deleted
            {
                continue;
            }
            report.examined += 1;
            let notice = Notice::about(&key, NoticeKind::Expiring, now);
            // The event that tells webhooks, committed with the notice: one
            // per key and day too.
            let event = Self::key_event(EXPIRY_NOTICE_ACTOR, "key.expiring", None, &key, now)?;
            match self
                .store
                .commit(vec![Write::Notice(notice.clone()), event])
                .await
            {
                Ok(()) => {
                    report.sent += 1;
                    if let Err(e) = self.publisher.publish(&notice).await {
                        report.publish_failures += 1;
                        tracing::warn!(notice = %notice.id, error = %e, "publishing a notice failed");
                    }
                }
                Err(CommitError::Conflict) => report.already_sent += 1,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        report.dormant = self.disable_dormant(now).await?;
        report.purged = self.store.purge_expired(now).await?;
        Ok(report)
    }
}
