//! Every lifecycle action, written once over the [`Store`] trait, one file
//! per kind of object (see docs/ARCHITECTURE.md, "The path of a request").
//!
//! A mutation reads what it needs, checks the rules, and returns a [`Plan`]:
//! the writes (each with the version it expects) and the typed result.
//! [`Service::run`] commits the plan, and when a concurrent change made any
//! expectation fail it reads again and re-plans; that is how limits hold
//! under concurrency on any store. With an Idempotency-Key the sealed result
//! is committed in the same transaction, so a retry can never create twice.
//! Results are typed (`CreatedKey`, `KeyView`, …); the HTTP layer picks
//! the status codes.

mod applications;
mod audited;
mod batches;
mod dormant;
mod inputs;
mod keys;
mod leaks;
mod notices;
mod offboarding;
mod paging;
#[cfg(test)]
pub(crate) mod test_support;
mod verify;
mod webhooks;

pub use dormant::DormantReport;
pub use inputs::{CreateApplication, CreateKey, RegenerateKey, UpdateFields, VerifyRequest};
pub use keys::CreatedKey;
pub use leaks::REPORT_FLOOR as LEAK_REPORT_FLOOR;
pub use notices::{LogPublisher, NoticePublisher, NotifyReport};
pub use offboarding::Offboarded;
pub use paging::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, PageOf, PageQuery};
pub use verify::{VerifyAnswer, VerifyContext};
pub use webhooks::{CreateWebhook, CreatedWebhook, UpdateWebhook, validate_event_types};

use crate::auth::{Caller, perm};
use crate::clock::Clock;
use crate::config::{Config, IDEMPOTENCY_TTL_SECONDS};
use crate::domain::{Application, AuditEvent, Key};
use crate::error::ApiError;
use crate::events::sealing::SealingKey;
use crate::idempotency::Idempotency;
use crate::last_used::LastUsedRecorder;
use crate::leaks::keyring::GithubKeyring;
use crate::store::{CommitError, Store, StoreError, Write};
use rand::TryRngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasm_validator::key;

/// Attempts before a mutation gives up on concurrent conflicts (409).
const MAX_ATTEMPTS: u32 = 64;

/// The longest pause between two attempts after a conflict, in milliseconds
/// (jittered below it, doubling from 1 ms).
const MAX_BACKOFF_MILLIS: u64 = 64;

/// The writes of a mutation and the result it gives when they commit.
pub(crate) struct Plan<T> {
    writes: Vec<Write>,
    result: T,
}

impl<T> Plan<T> {
    fn new(result: T) -> Self {
        Plan {
            writes: Vec::new(),
            result,
        }
    }

    fn with(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn os_random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::internal("the OS random source failed", e))?;
    Ok(bytes)
}

fn new_id(prefix: &str) -> Result<String, ApiError> {
    Ok(format!(
        "{prefix}_{}",
        key::encode_key_id(&os_random::<16>()?)
    ))
}

/// A jittered pause before attempt `attempt + 1`, so that many contenders
/// do not collide in lock-step.
async fn back_off(attempt: u32) -> Result<(), ApiError> {
    let cap = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MILLIS);
    let jitter = u64::from(os_random::<1>()?[0]) % cap;
    tokio::time::sleep(Duration::from_millis(jitter)).await;
    Ok(())
}

pub struct Service {
    store: Arc<dyn Store>,
    config: Config,
    clock: Arc<dyn Clock>,
    last_used: LastUsedRecorder,
    publisher: Arc<dyn NoticePublisher>,
    /// Seals new webhooks' signing secrets; `None` where no webhook is
    /// created (every Lambda function but create-webhook).
    webhook_sealing: Option<Arc<SealingKey>>,
    /// GitHub's secret scanning keys; `None` where the partner endpoint is
    /// not served (every function but report-github-leak).
    github_keys: Option<Arc<GithubKeyring>>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        clock: Arc<dyn Clock>,
        publisher: Arc<dyn NoticePublisher>,
    ) -> Self {
        Service {
            store,
            last_used: LastUsedRecorder::new(config.usage_resolution_seconds),
            config,
            clock,
            publisher,
            webhook_sealing: None,
            github_keys: None,
        }
    }

    /// The service that checks GitHub's secret scanning requests with
    /// `keyring`.
    pub fn with_github_keys(mut self, keyring: Arc<GithubKeyring>) -> Self {
        self.github_keys = Some(keyring);
        self
    }

    /// The service that seals new webhooks' secrets with `key`.
    pub fn with_webhook_sealing(mut self, key: Arc<SealingKey>) -> Self {
        self.webhook_sealing = Some(key);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Writes noted key uses (called by a background task).
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        self.last_used
            .flush(self.store.as_ref(), self.clock.now())
            .await
    }

    /// The background task that writes noted uses every second, off every
    /// answer's path (in Lambda it resumes with the next invocation).
    pub fn spawn_usage_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = service.flush_usage().await {
                    let error = crate::error::chain(&e);
                    tracing::warn!(%error, "writing key usage failed; will retry");
                }
            }
        })
    }

    /// Plans and commits a mutation, re-planning on conflicts; replays the
    /// stored result for a retried Idempotency-Key.
    async fn run<T, F, Fut>(
        &self,
        idempotency: Option<&Idempotency>,
        plan: F,
    ) -> Result<T, ApiError>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(i64) -> Fut + Send + Sync,
        Fut: Future<Output = Result<Plan<T>, ApiError>> + Send,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            if let Some(idem) = idempotency
                && let Some(record) = self.store.get_idempotency(idem.record_id()).await?
                && record.expires_at > now
            {
                return idem.open(&record);
            }
            let Plan { mut writes, result } = plan(now).await?;
            if writes.is_empty() && idempotency.is_none() {
                return Ok(result);
            }
            if let Some(idem) = idempotency {
                let record =
                    idem.seal(&result, os_random::<12>()?, now + IDEMPOTENCY_TTL_SECONDS)?;
                writes.push(Write::Idempotency { record, now });
            }
            match self.store.commit(writes).await {
                Ok(()) => return Ok(result),
                Err(CommitError::Conflict) => back_off(attempt).await?,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ApiError::Conflict)
    }

    fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: (&str, &str),
        before: Option<Value>,
        after: Option<Value>,
        now: i64,
    ) -> Result<Write, ApiError> {
        Ok(Write::Audit(AuditEvent {
            id: new_id("evt")?,
            account: caller.account.clone(),
            actor: caller.user_id.clone(),
            action: action.to_owned(),
            target_type: target.0.to_owned(),
            target_id: target.1.to_owned(),
            at: now,
            before,
            after,
        }))
    }

    /// The audit event of a change to `key` made by a policy or a report
    /// rather than a caller (`actor`), with its views before and after.
    fn key_event(
        actor: &str,
        action: &str,
        before: Option<&Key>,
        after: &Key,
        now: i64,
    ) -> Result<Write, ApiError> {
        Ok(Write::Audit(AuditEvent {
            id: new_id("evt")?,
            account: after.account.clone(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_type: "key".to_owned(),
            target_id: after.id.clone(),
            at: now,
            before: before.map(|key| to_value(&key.view(now))),
            after: Some(to_value(&after.view(now))),
        }))
    }

    /// The caller's application, or 404 (missing and foreign alike).
    async fn application_for(&self, caller: &Caller, id: &str) -> Result<Application, ApiError> {
        match self.store.get_application(id).await? {
            Some(app) if app.account == caller.account => Ok(app),
            _ => Err(ApiError::ApplicationNotFound),
        }
    }

    /// The caller's key and its application, or 404.
    async fn key_for(&self, caller: &Caller, id: &str) -> Result<(Key, Application), ApiError> {
        if !key::is_valid_key_id(id) {
            return Err(ApiError::KeyNotFound);
        }
        let key = match self.store.get_key(id).await? {
            Some(key) if key.account == caller.account => key,
            _ => return Err(ApiError::KeyNotFound),
        };
        let app = self
            .store
            .get_application(&key.application_id)
            .await?
            .ok_or(ApiError::KeyNotFound)?;
        Ok((key, app))
    }

    /// `key` with its live counters when it is metered (a read of its
    /// meter); an unmetered key costs no read.
    async fn with_meter(&self, mut key: Key) -> Result<Key, ApiError> {
        if key.usage.is_metered() {
            key.meter = self.store.read_meter(&key).await?;
        }
        Ok(key)
    }

    fn may_view_application(caller: &Caller, app: &Application) -> bool {
        caller.has(perm::APPLICATIONS_VIEW) || app.created_by == caller.user_id
    }

    /// Refuses an offboarded caller, and returns the write that bumps the
    /// caller's guard. A creation commits it, so it conflicts with an
    /// offboarding that commits between its read and its commit (and the
    /// offboarding conflicts with it the other way round).
    async fn creator_guard(&self, caller: &Caller, now: i64) -> Result<Write, ApiError> {
        let guard = self
            .store
            .user_guard(&caller.account, &caller.user_id)
            .await?;
        if guard.offboarded {
            return Err(ApiError::UserOffboarded);
        }
        Ok(Write::UserGuard {
            account: caller.account.clone(),
            user_id: caller.user_id.clone(),
            expected: guard.version,
            offboarded: false,
            at: now,
        })
    }
}
