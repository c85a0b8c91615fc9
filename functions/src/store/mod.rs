//! The one I/O boundary of the service: a store of versioned items with
//! atomic, conditional multi-item commits.
//!
//! The store knows no domain rule. The service reads what it needs, decides
//! with the rules in `domain` and `service`, and commits a list of writes,
//! each with the version it expects. A commit applies every write or none;
//! when any expectation fails it answers [`CommitError::Conflict`] and the
//! service reads again and retries. Limits hold under concurrency because a
//! key creation bumps its application's version (and an application creation
//! its account guard's) in the same commit. SQLite does this in one
//! transaction; DynamoDB with `TransactWriteItems` and condition expressions.

pub mod dynamodb;
pub mod sqlite;

use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use crate::error::Cause;
use crate::events::webhook::{Delivery, Webhook};
use crate::usage::{Meter, Refusal};
use async_trait::async_trait;

/// The most writes one commit may hold on every store (DynamoDB's
/// transaction limit). The service splits larger changes.
pub const MAX_COMMIT_WRITES: usize = 100;

/// A store's failure. `Unavailable` and `Internal` keep the error that
/// caused them (when there is one) as their `source()`, for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, busy or unreachable: a retry may succeed (503).
    #[error("the store is unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Option<Cause>,
    },
    /// Any other failure (500).
    #[error("the store failed: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
    #[error("invalid cursor")]
    InvalidCursor,
}

impl StoreError {
    /// `source` made the store unavailable while it was doing `context`.
    pub fn unavailable(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        StoreError::Unavailable {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// `source` failed while the store was doing `context`.
    pub fn internal(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        StoreError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }
}

/// Both stores keep items as JSON.
impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::internal("an item's JSON", e)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("a write's expectation failed")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One write of a commit. A new key's application must exist, in the store
/// or in the same commit; otherwise the commit conflicts.
/// `expected: None` means the item must not exist;
/// `Some(v)` means its stored version must be `v` (the item carries `v + 1`).
// A commit holds a handful of writes, built once; boxing the key would
// only add noise at every site that builds one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Write {
    /// The guard that serialises application creation in an account: its
    /// version is bumped from `expected` (0 when absent).
    AccountGuard {
        account: String,
        expected: u64,
    },
    Application {
        item: Application,
        expected: Option<u64>,
    },
    Key {
        item: Key,
        expected: Option<u64>,
    },
    /// Audit events are append-only.
    Audit(AuditEvent),
    /// Must not exist yet: one notice per key and day.
    Notice(Notice),
    /// Must not exist yet, unless the stored one expired before `now`.
    Idempotency {
        record: IdempotencyRecord,
        now: i64,
    },
    /// The guard of a user's creations: its version is bumped from
    /// `expected` (0 when absent). Every creation by the user bumps it and
    /// offboarding sets `offboarded` under the same condition, so a creation
    /// racing an offboarding conflicts instead of surviving it.
    UserGuard {
        account: String,
        user_id: String,
        expected: u64,
        offboarded: bool,
        at: i64,
    },
    /// A webhook endpoint (deleting one sets `deleted_at`).
    Webhook {
        item: Webhook,
        expected: Option<u64>,
    },
    /// A delivery record: made once per webhook and event (`None`, so a
    /// second deliverer's copy conflicts), then updated after each attempt.
    Delivery {
        item: Delivery,
        expected: Option<u64>,
    },
}

/// A user's guard as stored (version 0 and not offboarded when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserGuard {
    pub version: u64,
    pub offboarded: bool,
}

/// A page of a store-ordered list; the cursor is opaque to callers.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The account guard's version (0 when the account has none yet).
    async fn account_guard(&self, account: &str) -> StoreResult<u64>;
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>>;
    /// Every application of the account, revoked ones included, oldest first.
    async fn list_applications(&self, account: &str) -> StoreResult<Vec<Application>>;
    /// One read: everything verification needs is on the key item.
    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>>;
    /// Every key of the application, revoked ones included, oldest first.
    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>>;
    /// Every key of the account (offboarding).
    async fn list_account_keys(&self, account: &str) -> StoreResult<Vec<Key>>;
    /// Keys of every account with `from < expires_at <= to`.
    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>>;
    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>>;
    async fn user_guard(&self, account: &str, user_id: &str) -> StoreResult<UserGuard>;
    /// Newest first.
    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>>;
    /// Newest first.
    async fn list_notices(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Notice>>;
    /// Applies every write or none.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError>;
    /// Sets `last_used_at` where it is older. Not versioned: usage never
    /// conflicts with lifecycle changes.
    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()>;
    /// Deletes what is past its purge time; returns how many items.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;
    /// True when the store purges by itself (DynamoDB's TTL), so
    /// `purge_expired` has nothing to do.
    fn purges_itself(&self) -> bool {
        false
    }
    /// The account's webhook with this id, deleted or not.
    async fn get_webhook(&self, account: &str, id: &str) -> StoreResult<Option<Webhook>>;
    /// Every webhook of the account, deleted ones included, oldest first.
    async fn list_webhooks(&self, account: &str) -> StoreResult<Vec<Webhook>>;
    /// A webhook's deliveries, newest first.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Delivery>>;
    /// Up to `limit` pending deliveries due at `now`, of every account
    /// (the deliverer orders each webhook's by `sequence`).
    async fn due_deliveries(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>>;
    /// A metered key's live counters at the time of the read: DynamoDB's
    /// came with the key item (`key.meter`); SQLite reads its meter rows.
    async fn read_meter(&self, key: &Key) -> StoreResult<Meter>;
    /// Debits `cost` from every rate limit's current window and from the
    /// credits of `key` (as `get_key` read it) at `now`, all together or
    /// not at all, exactly under any concurrency across processes: the
    /// store decides with [`crate::usage::decide`] on counters it holds
    /// still (SQLite, in one transaction) or checks in its write (DynamoDB,
    /// a conditional update), and answers the counters after.
    async fn debit(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered>;
}

/// The outcome of [`Store::debit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered {
    /// `None`: debited; otherwise why nothing was.
    pub refused: Option<Refusal>,
    /// The counters after the decision.
    pub meter: Meter,
}
