//! The embedded store: SQLite, one file in the data folder.
//!
//! Items are stored as JSON next to the columns that index them, the way a
//! DynamoDB item carries its keys; a commit is one `BEGIN IMMEDIATE`
//! transaction, and `synchronous = FULL` makes an acknowledged commit survive
//! a crash. One connection for writes behind a mutex (SQLite serialises
//! writers anyway) and, for a database file, a few more for reads: in WAL
//! mode a reader never waits for a writer, so a verification does not queue
//! behind a commit's fsync (the usage flush commits every second). A read
//! that starts after a commit returns sees it, so a revocation takes effect
//! at once.
//!
//! Writes and list reads run on tokio's blocking pool. A point read (one
//! item by its key: what every verification does) runs on the calling
//! thread when a reading connection is free: it takes microseconds from
//! SQLite's page cache, less than handing it to a pool thread and waking
//! the task again, which was most of a verification's CPU time in
//! `keyward serve` (BENCHMARKS.md, "HTTP"). When every reading connection
//! is busy it goes to the blocking pool like the rest.
//!
//! `get_key`'s answers, unknown ids included, are cached, exactly: see
//! [`key_cache::KeyCache`]. The audit and notice cursors name the caller's
//! own items ([`cursor`]); the files are the owner's only ([`files`]).
//!
//! Metered keys' counters live in their own table and are debited on a
//! connection of their own at `synchronous = NORMAL`, with a durable floor
//! under each credit balance ([`meter`]); an OS crash is told from a clean
//! restart when the store opens ([`recovery`]). Debits that arrive
//! together commit together, on the calling thread like point reads
//! ([`batch`]).

mod apply;
mod batch;
mod cursor;
mod files;
mod key_cache;
mod meter;
mod recovery;
mod rows;
mod schema;
mod webhooks;

pub use files::{private_file, private_folder};
use key_cache::KeyCache;

use super::{CommitError, Metered, Page, Store, StoreError, StoreResult, UserGuard, Write};
use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use crate::events::webhook::{Delivery, Webhook};
use crate::usage::Meter;
use async_trait::async_trait;
use rows::{page, query_items, query_keys, resolve_cursor};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

/// How long notices are kept (the daily job writes one per key and day).
const NOTICE_RETENTION_SECONDS: i64 = 90 * 86_400;

#[derive(Clone)]
pub struct SqliteStore {
    /// Every write (and the reads of an in-memory database, which another
    /// connection would not see).
    conn: Arc<Mutex<Connection>>,
    /// The reads of a database file: one connection per core or so, for
    /// point reads on the calling thread.
    readers: Arc<[Arc<Mutex<Connection>>]>,
    /// Which reading connection the next read on the blocking pool takes.
    next_reader: Arc<AtomicUsize>,
    /// A database file's cache of `get_key` answers (`None` in memory, and
    /// where the WAL index is not a file).
    key_cache: Option<Arc<KeyCache>>,
    /// How many `get_key` calls read SQLite (the cache could not answer).
    key_reads: Arc<AtomicU64>,
    /// Debits, in batches on their own connection (`synchronous =
    /// NORMAL`), used only while holding `conn`'s lock, so this process's
    /// writes queue on that mutex rather than in SQLite's busy handler.
    batcher: Arc<batch::Batcher>,
    /// How many debits took a new lease (a `FULL` commit: [`meter`]).
    leases: Arc<AtomicU64>,
    /// Counts this store out of the file when its last clone is dropped
    /// ([`recovery`]); `None` in memory.
    _counted: Option<Arc<recovery::Counted>>,
}

/// Busy or locked past the busy timeout means unavailable (503, retry);
/// anything else SQLite reports is a failure.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::unavailable("SQLite is busy", e)
            }
            _ => StoreError::internal("SQLite failed", e),
        }
    }
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

impl SqliteStore {
    /// Opens (and creates) the database file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_under(path, recovery::boot_id().as_deref())
    }

    /// Opens the file as [`Self::open`] does on the machine's boot `boot`.
    fn open_under(path: &Path, boot: Option<&str>) -> StoreResult<Self> {
        files::private_database(path)
            .map_err(|e| StoreError::internal(format!("cannot create {}", path.display()), e))?;
        let mut writer = schema::prepare(Connection::open(path)?)?;
        recovery::count_in(&mut writer, boot)?;
        let conn = Arc::new(Mutex::new(writer));
        let counted = Arc::new(recovery::Counted { conn: conn.clone() });
        let meter = schema::prepare_meter(Connection::open(path)?)?;
        // Opened after the writer has set WAL mode and made the schema. One
        // per core, for the point reads the runtime's workers do at once.
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let readers = (0..count)
            .map(|_| {
                let reader = Connection::open(path)?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                reader.execute_batch("PRAGMA query_only = ON;")?;
                Ok(Arc::new(Mutex::new(reader)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // The writer's WAL mode and schema made the WAL index.
        let key_cache = KeyCache::open(path).ok().map(Arc::new);
        if key_cache.is_some() {
            // Where the WAL index header can be read, checkpoints run off
            // the debits' path (batch.rs).
            meter.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        }
        let meter = Some(Arc::new(Mutex::new(meter)));
        Ok(SqliteStore {
            batcher: Arc::new(batch::Batcher::new(conn.clone(), meter, key_cache.clone())),
            conn,
            readers: readers.into(),
            next_reader: Arc::default(),
            key_cache,
            key_reads: Arc::default(),
            leases: Arc::default(),
            _counted: Some(counted),
        })
    }

    /// How many `get_key` calls have read SQLite rather than the cache
    /// (tests and benchmarks count them).
    pub fn key_reads(&self) -> u64 {
        self.key_reads.load(Ordering::Relaxed)
    }

    /// How many debits took a new lease on a credit balance, each a
    /// `FULL` commit (tests and benchmarks count them).
    pub fn leases(&self) -> u64 {
        self.leases.load(Ordering::Relaxed)
    }

    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Arc::new(Mutex::new(schema::prepare(Connection::open_in_memory()?)?));
        Ok(SqliteStore {
            readers: vec![conn.clone()].into(),
            batcher: Arc::new(batch::Batcher::new(conn.clone(), None, None)),
            conn,
            next_reader: Arc::default(),
            key_cache: None,
            key_reads: Arc::default(),
            leases: Arc::default(),
            _counted: None,
        })
    }

    /// Runs `f` with the writing connection on the blocking pool.
    async fn with_conn<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        Self::on_blocking_pool(self.conn.clone(), f).await
    }

    /// Runs a read (a list, or anything that may take a while) with a
    /// reading connection on the blocking pool.
    async fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
    {
        let at = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        Self::on_blocking_pool(self.readers[at].clone(), f).await
    }

    /// Runs a point read on this thread with the first free reading
    /// connection, or like [`Self::with_reader`] when none is free.
    async fn point_read<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
    {
        for reader in self.readers.iter() {
            let mut guard = match reader.try_lock() {
                Ok(guard) => guard,
                // As in `on_blocking_pool`: a read cannot leave anything
                // half-done behind a poisoned lock.
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return f(&mut guard);
        }
        self.with_reader(f).await
    }

    async fn on_blocking_pool<T, E>(
        conn: Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-applied
            // transaction (SQLite rolls it back), so a poisoned lock is safe
            // to reuse.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(StoreError::internal("a blocking task failed", e)))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn account_guard(&self, account: &str) -> StoreResult<u64> {
        let account = account.to_owned();
        self.point_read(move |conn| {
            conn.query_row(
                "SELECT version FROM account_guards WHERE account = ?1",
                params![account],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(StoreError::from)
        })
        .await
    }

    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            Ok(query_items(
                conn,
                "SELECT item FROM applications WHERE id = ?1",
                params![id],
            )?
            .pop())
        })
        .await
    }

    async fn list_applications(&self, account: &str) -> StoreResult<Vec<Application>> {
        let account = account.to_owned();
        self.with_reader(move |conn| {
            query_items(
                conn,
                "SELECT item FROM applications WHERE account = ?1 ORDER BY rowid",
                params![account],
            )
        })
        .await
    }

    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
        // Read before the item (see KeyCache).
        let header = self.key_cache.as_ref().and_then(|c| c.header());
        if let (Some(cache), Some(header)) = (&self.key_cache, &header)
            && let Some(answer) = cache.get(header, id)
        {
            return Ok(answer);
        }
        self.key_reads.fetch_add(1, Ordering::Relaxed);
        let owned_id = id.to_owned();
        // The key with this id or, when there is none, the next one (the
        // first past the last): both answers read and decode one real item,
        // so an unknown id costs what a known one does (BENCHMARKS.md,
        // "Store"). Only in an empty table is there nothing to read.
        let read = self
            .point_read(move |conn| {
                Ok(query_keys(
                    conn,
                    "SELECT item, last_used_at FROM
                       (SELECT item, last_used_at FROM keys WHERE id >= ?1 ORDER BY id LIMIT 1)
                     UNION ALL
                     SELECT item, last_used_at FROM
                       (SELECT item, last_used_at FROM keys ORDER BY id LIMIT 1)
                     LIMIT 1",
                    params![owned_id],
                )?
                .pop())
            })
            .await?;
        // Unknown ids too, under the item read for them (KeyCache).
        if let (Some(cache), Some(header), Some(read)) = (&self.key_cache, header, &read) {
            cache.put(header, id, read);
        }
        Ok(read.filter(|key| key.id == id))
    }

    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>> {
        let application_id = application_id.to_owned();
        self.with_reader(move |conn| {
            query_keys(
                conn,
                "SELECT item, last_used_at FROM keys WHERE application_id = ?1 ORDER BY rowid",
                params![application_id],
            )
        })
        .await
    }

    async fn list_account_keys(&self, account: &str) -> StoreResult<Vec<Key>> {
        let account = account.to_owned();
        self.with_reader(move |conn| {
            query_keys(
                conn,
                "SELECT item, last_used_at FROM keys WHERE account = ?1 ORDER BY rowid",
                params![account],
            )
        })
        .await
    }

    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        self.with_reader(move |conn| {
            query_keys(
                conn,
                "SELECT item, last_used_at FROM keys WHERE expires_at > ?1 AND expires_at <= ?2 ORDER BY expires_at, id",
                params![from, to],
            )
        })
        .await
    }

    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            Ok(query_items(
                conn,
                "SELECT item FROM idempotency WHERE id = ?1",
                params![id],
            )?
            .pop())
        })
        .await
    }

    async fn user_guard(&self, account: &str, user_id: &str) -> StoreResult<UserGuard> {
        let (account, user_id) = (account.to_owned(), user_id.to_owned());
        self.point_read(move |conn| {
            conn.query_row(
                "SELECT version, offboarded FROM user_guards WHERE account = ?1 AND user_id = ?2",
                params![account, user_id],
                |row| {
                    Ok(UserGuard {
                        version: row.get::<_, i64>(0)? as u64,
                        offboarded: row.get(1)?,
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(StoreError::from)
        })
        .await
    }

    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        let (account, cursor) = (account.to_owned(), cursor.map(str::to_owned));
        self.with_reader(move |conn| {
            // MIN: were an id in the account twice, a page would rather skip
            // than repeat (and loop).
            let before = resolve_cursor(
                conn,
                cursor.as_deref(),
                "SELECT MIN(seq) FROM audit WHERE account = ?2 AND json_extract(item, '$.id') = ?1",
                &[&account],
            )?;
            page(
                conn,
                "SELECT item FROM audit WHERE account = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                params![account, before, limit as i64 + 1],
                limit,
                |event: &AuditEvent| &event.id,
            )
        })
        .await
    }

    async fn list_notices(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Notice>> {
        let (account, recipient) = (account.to_owned(), recipient.to_owned());
        let cursor = cursor.map(str::to_owned);
        self.with_reader(move |conn| {
            let before = resolve_cursor(
                conn,
                cursor.as_deref(),
                "SELECT seq FROM notices WHERE id = ?1 AND account = ?2 AND recipient = ?3",
                &[&account, &recipient],
            )?;
            page(
                conn,
                "SELECT item FROM notices WHERE account = ?1 AND recipient = ?2 AND seq < ?3
                 ORDER BY seq DESC LIMIT ?4",
                params![account, recipient, before, limit as i64 + 1],
                limit,
                |notice: &Notice| &notice.id,
            )
        })
        .await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            for write in &writes {
                if !apply::apply(&tx, write)? {
                    // Dropping the transaction rolls every write back.
                    return Err(CommitError::Conflict);
                }
            }
            tx.commit().map_err(StoreError::from)?;
            Ok(())
        })
        .await
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        let uses = uses.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    )
                    ?;
                for (id, at) in &uses {
                    stmt.execute(params![id, at])?;
                }
            }
            tx.commit().map_err(StoreError::from)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let mut purged = 0;
            for sql in [
                "DELETE FROM keys WHERE ttl <= ?1",
                "DELETE FROM applications WHERE ttl IS NOT NULL AND ttl <= ?1",
                "DELETE FROM notices WHERE ttl <= ?1",
                "DELETE FROM idempotency WHERE expires_at <= ?1",
                "DELETE FROM webhooks WHERE ttl IS NOT NULL AND ttl <= ?1",
                "DELETE FROM deliveries WHERE ttl <= ?1",
            ] {
                purged += tx.execute(sql, params![now])? as u64;
            }
            // Counters are not items: not counted.
            tx.execute(meter::PURGE, [])?;
            tx.commit()?;
            Ok(purged)
        })
        .await
    }

    async fn get_webhook(&self, account: &str, id: &str) -> StoreResult<Option<Webhook>> {
        let (account, id) = (account.to_owned(), id.to_owned());
        self.with_reader(move |conn| webhooks::get(conn, &account, &id))
            .await
    }

    async fn list_webhooks(&self, account: &str) -> StoreResult<Vec<Webhook>> {
        let account = account.to_owned();
        self.with_reader(move |conn| webhooks::list(conn, &account))
            .await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        let (id, cursor) = (webhook_id.to_owned(), cursor.map(str::to_owned));
        self.with_reader(move |conn| webhooks::list_deliveries(conn, &id, limit, cursor.as_deref()))
            .await
    }

    async fn due_deliveries(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        self.with_reader(move |conn| webhooks::due(conn, now, limit))
            .await
    }

    async fn read_meter(&self, key: &Key) -> StoreResult<Meter> {
        let id = key.id.clone();
        self.point_read(move |conn| meter::read(conn, &id)).await
    }

    async fn debit(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered> {
        let key = Arc::new(key.clone());
        if cost == 0 {
            // A check writes nothing: a read transaction is enough.
            return self
                .point_read(move |conn| meter::check(conn, &key, now))
                .await;
        }
        let batched = meter::Request {
            key: key.clone(),
            cost,
            now,
        };
        if let Some(metered) = self.batcher.debit(batched).await? {
            return Ok(metered);
        }
        let request = meter::Request { key, cost, now };
        // A new lease: on the writing connection, at `synchronous = FULL`,
        // off this thread (an fsync).
        self.leases.fetch_add(1, Ordering::Relaxed);
        let cache = self.key_cache.clone();
        self.with_conn(move |conn| {
            let applied =
                meter::debit_all(conn, &[&request], meter::Commit::Durable, cache.as_deref())?;
            let answer = applied.answers.into_iter().next();
            answer
                .transpose()?
                .flatten()
                .ok_or_else(|| StoreError::Internal {
                    context: "a durable debit was not applied".into(),
                    source: None,
                })
        })
        .await
    }
}

#[cfg(test)]
mod tests;
