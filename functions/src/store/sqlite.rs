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
//! Key items read by `get_key` are cached, exactly: see [`KeyCache`].

use super::{CommitError, Page, Store, StoreError, StoreResult, UserGuard, Write};
use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS account_guards (
    account TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    version INTEGER NOT NULL,
    ttl INTEGER,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_by_account ON applications (account);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    account TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    ttl INTEGER NOT NULL,
    last_used_at INTEGER,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_by_application ON keys (application_id);
CREATE INDEX IF NOT EXISTS keys_by_account ON keys (account);
CREATE INDEX IF NOT EXISTS keys_by_expiry ON keys (expires_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_account ON audit (account, seq);
CREATE TABLE IF NOT EXISTS notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    recipient TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notices_by_recipient ON notices (account, recipient, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_guards (
    account TEXT NOT NULL,
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    offboarded INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, user_id)
);
"#;

/// How long notices are kept (the daily job writes one per key and day).
const NOTICE_RETENTION_SECONDS: i64 = 90 * 86_400;

/// The largest number of key items [`KeyCache`] holds; past it, it starts
/// again empty (every commit empties it anyway).
const KEY_CACHE_ITEMS: usize = 10_000;

/// A cache of key items for `get_key` (every verification), which is never
/// stale: an item is served from it only while the database is exactly as
/// it was when the item was read.
///
/// "Exactly as it was" is the WAL index header in the `-shm` file: SQLite
/// rewrites it in every commit, by any connection of any process, before
/// the commit returns (its `iChange` counter goes up by one; a WAL restart
/// changes its salts), and readers of every process read it from that file
/// (https://sqlite.org/walformat.html, "The WAL-Index Header"). One `pread`
/// of its two copies costs less than the `fcntl` lock calls of a SQLite
/// read transaction, which were most of a verification's SQLite time in
/// `keyward serve`; a key read then needs no SQLite call at all
/// (BENCHMARKS.md, "HTTP"). So a revocation, by this process or another,
/// is seen by the very next verification.
///
/// The header is read before the item: an item read after a commit that
/// followed the header read is filed under the older header, which no
/// longer matches, so it is never served. Whenever the header cannot be
/// read whole, or its two copies differ (a commit is writing it), the read
/// goes to SQLite and nothing is cached.
struct KeyCache {
    /// The database's `-shm` file, which SQLite keeps while any connection
    /// (ours included) has the database open in WAL mode.
    shm: std::fs::File,
    state: Mutex<KeyCacheState>,
}

#[derive(Default)]
struct KeyCacheState {
    /// The header the cached items were read under.
    header: Option<[u8; WAL_INDEX_HEADERS]>,
    keys: std::collections::HashMap<String, Key>,
}

/// The WAL index header's two 48-byte copies, at the start of `-shm`.
const WAL_INDEX_HEADERS: usize = 96;

impl KeyCache {
    fn open(db: &Path) -> StoreResult<Self> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let shm = std::fs::File::open(&shm)
            .map_err(|e| internal(format!("cannot open the WAL index: {e}")))?;
        Ok(KeyCache {
            shm,
            state: Mutex::default(),
        })
    }

    /// The WAL index header now, or `None` when it cannot be trusted.
    #[cfg(unix)]
    fn header(&self) -> Option<[u8; WAL_INDEX_HEADERS]> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; WAL_INDEX_HEADERS];
        self.shm.read_exact_at(&mut bytes, 0).ok()?;
        let (first, second) = bytes.split_at(WAL_INDEX_HEADERS / 2);
        (first == second).then_some(bytes)
    }

    /// Elsewhere nothing is cached (no positioned read without moving the
    /// file's cursor, which concurrent readers would share).
    #[cfg(not(unix))]
    fn header(&self) -> Option<[u8; WAL_INDEX_HEADERS]> {
        None
    }

    fn get(&self, header: &[u8; WAL_INDEX_HEADERS], id: &str) -> Option<Key> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.header {
            Some(ref at) if at == header => state.keys.get(id).cloned(),
            _ => None,
        }
    }

    fn put(&self, header: [u8; WAL_INDEX_HEADERS], key: &Key) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.header != Some(header) || state.keys.len() >= KEY_CACHE_ITEMS {
            state.keys.clear();
            state.header = Some(header);
        }
        state.keys.insert(key.id.clone(), key.clone());
    }
}

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
    /// A database file's cache of key items (`None` in memory, and where
    /// the WAL index is not a file).
    key_cache: Option<Arc<KeyCache>>,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn from_sqlite(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => internal(e),
    }
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn to_json<T: Serialize>(item: &T) -> StoreResult<String> {
    serde_json::to_string(item).map_err(internal)
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(internal)
}

fn parse_cursor(cursor: Option<&str>) -> StoreResult<i64> {
    match cursor {
        None => Ok(i64::MAX),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(StoreError::InvalidCursor),
    }
}

impl SqliteStore {
    /// Opens (and creates) the database file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Arc::new(Mutex::new(Self::init(
            Connection::open(path).map_err(from_sqlite)?,
        )?));
        // Opened after the writer has set WAL mode and made the schema. One
        // per core, for the point reads the runtime's workers do at once.
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let readers = (0..count)
            .map(|_| {
                let reader = Connection::open(path).map_err(from_sqlite)?;
                reader
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(from_sqlite)?;
                reader
                    .execute_batch("PRAGMA query_only = ON;")
                    .map_err(from_sqlite)?;
                Ok(Arc::new(Mutex::new(reader)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            conn,
            readers: readers.into(),
            next_reader: Arc::default(),
            // The writer's WAL mode and schema made the WAL index.
            key_cache: KeyCache::open(path).ok().map(Arc::new),
        })
    }

    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Arc::new(Mutex::new(Self::init(
            Connection::open_in_memory().map_err(from_sqlite)?,
        )?));
        Ok(SqliteStore {
            readers: vec![conn.clone()].into(),
            conn,
            next_reader: Arc::default(),
            key_cache: None,
        })
    }

    fn init(conn: Connection) -> StoreResult<Connection> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(from_sqlite)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(from_sqlite)?;
        conn.execute_batch(SCHEMA).map_err(from_sqlite)?;
        Ok(conn)
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
        .map_err(|e| E::from(internal(e)))?
    }

    fn query_items<T: DeserializeOwned>(
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Vec<T>> {
        let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params, |row| row.get::<_, String>(0))
            .map_err(from_sqlite)?;
        rows.map(|r| r.map_err(from_sqlite).and_then(|text| from_json(&text)))
            .collect()
    }

    fn query_keys(
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Vec<Key>> {
        let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .map_err(from_sqlite)?;
        rows.map(|r| {
            let (text, last_used_at) = r.map_err(from_sqlite)?;
            let mut key: Key = from_json(&text)?;
            key.last_used_at = last_used_at;
            Ok(key)
        })
        .collect()
    }

    fn page<T: DeserializeOwned>(
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        limit: usize,
    ) -> StoreResult<Page<T>> {
        let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(from_sqlite)?;
        let mut items = Vec::new();
        let mut last_seq = None;
        let mut more = false;
        for row in rows {
            let (seq, text) = row.map_err(from_sqlite)?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(from_json(&text)?);
            last_seq = Some(seq);
        }
        Ok(Page {
            items,
            next_cursor: if more {
                last_seq.map(|s| s.to_string())
            } else {
                None
            },
        })
    }
}

/// Applies one write inside the transaction; `Ok(false)` when its
/// expectation failed.
fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> Result<bool, CommitError> {
    let changed = |result: rusqlite::Result<usize>| -> Result<bool, CommitError> {
        match result {
            Ok(n) => Ok(n == 1),
            Err(e) if is_constraint(&e) => Ok(false),
            Err(e) => Err(from_sqlite(e).into()),
        }
    };
    match write {
        Write::AccountGuard { account, expected: 0 } => changed(tx.execute(
            "INSERT INTO account_guards (account, version) VALUES (?1, 1) ON CONFLICT (account) DO NOTHING",
            params![account],
        )),
        Write::AccountGuard { account, expected } => changed(tx.execute(
            "UPDATE account_guards SET version = version + 1 WHERE account = ?1 AND version = ?2",
            params![account, *expected as i64],
        )),
        Write::Application { item, expected } => {
            let mut item = item.clone();
            item.version = expected.unwrap_or(0) + 1;
            let json = to_json(&item)?;
            match expected {
                None => changed(tx.execute(
                    "INSERT INTO applications (id, account, version, ttl, item) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![item.id, item.account, item.version as i64, item.ttl, json],
                )),
                Some(v) => changed(tx.execute(
                    "UPDATE applications SET version = ?3, ttl = ?4, item = ?5 WHERE id = ?1 AND version = ?2",
                    params![item.id, *v as i64, item.version as i64, item.ttl, json],
                )),
            }
        }
        Write::Key { item, expected } => {
            let mut item = item.clone();
            item.version = expected.unwrap_or(0) + 1;
            // last_used_at lives in its own column, written by usage only.
            item.last_used_at = None;
            let json = to_json(&item)?;
            match expected {
                // A key's application must exist (the same rule DynamoDB's
                // conditional update of the application's key set applies).
                None => changed(tx.execute(
                    "INSERT INTO keys (id, application_id, account, expires_at, version, ttl, item)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM applications WHERE id = ?2)",
                    params![
                        item.id,
                        item.application_id,
                        item.account,
                        item.expires_at,
                        item.version as i64,
                        item.ttl,
                        json
                    ],
                )),
                Some(v) => changed(tx.execute(
                    "UPDATE keys SET expires_at = ?3, version = ?4, ttl = ?5, item = ?6
                     WHERE id = ?1 AND version = ?2",
                    params![item.id, *v as i64, item.expires_at, item.version as i64, item.ttl, json],
                )),
            }
        }
        Write::Audit(event) => changed(tx.execute(
            "INSERT INTO audit (account, item) VALUES (?1, ?2)",
            params![event.account, to_json(event)?],
        )),
        Write::Notice(notice) => changed(tx.execute(
            "INSERT INTO notices (id, account, recipient, ttl, item) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                notice.id,
                notice.account,
                notice.recipient,
                notice.created_at + NOTICE_RETENTION_SECONDS,
                to_json(notice)?
            ],
        )),
        Write::Idempotency { record, now } => changed(tx.execute(
            "INSERT INTO idempotency (id, expires_at, item) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, item = excluded.item
             WHERE idempotency.expires_at <= ?4",
            params![record.id, record.expires_at, to_json(record)?, now],
        )),
        Write::UserGuard {
            account,
            user_id,
            expected: 0,
            offboarded,
            at,
        } => changed(tx.execute(
            "INSERT INTO user_guards (account, user_id, version, offboarded, at) VALUES (?1, ?2, 1, ?3, ?4)
             ON CONFLICT (account, user_id) DO NOTHING",
            params![account, user_id, offboarded, at],
        )),
        Write::UserGuard {
            account,
            user_id,
            expected,
            offboarded,
            at,
        } => changed(tx.execute(
            "UPDATE user_guards SET version = version + 1, offboarded = ?4, at = ?5
             WHERE account = ?1 AND user_id = ?2 AND version = ?3",
            params![account, user_id, *expected as i64, offboarded, at],
        )),
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
            .map_err(from_sqlite)
        })
        .await
    }

    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            Ok(Self::query_items(
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
            Self::query_items(
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
            && let Some(key) = cache.get(header, id)
        {
            return Ok(Some(key));
        }
        let owned_id = id.to_owned();
        let key = self
            .point_read(move |conn| {
                Ok(Self::query_keys(
                    conn,
                    "SELECT item, last_used_at FROM keys WHERE id = ?1",
                    params![owned_id],
                )?
                .pop())
            })
            .await?;
        // Unknown ids are not cached: anyone can present any number of them.
        if let (Some(cache), Some(header), Some(key)) = (&self.key_cache, header, &key) {
            cache.put(header, key);
        }
        Ok(key)
    }

    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>> {
        let application_id = application_id.to_owned();
        self.with_reader(move |conn| {
            Self::query_keys(
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
            Self::query_keys(
                conn,
                "SELECT item, last_used_at FROM keys WHERE account = ?1 ORDER BY rowid",
                params![account],
            )
        })
        .await
    }

    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        self.with_reader(move |conn| {
            Self::query_keys(
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
            Ok(Self::query_items(
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
            .map_err(from_sqlite)
        })
        .await
    }

    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        let before = parse_cursor(cursor)?;
        let account = account.to_owned();
        self.with_reader(move |conn| {
            Self::page(
                conn,
                "SELECT seq, item FROM audit WHERE account = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                params![account, before, limit as i64 + 1],
                limit,
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
        let before = parse_cursor(cursor)?;
        let (account, recipient) = (account.to_owned(), recipient.to_owned());
        self.with_reader(move |conn| {
            Self::page(
                conn,
                "SELECT seq, item FROM notices WHERE account = ?1 AND recipient = ?2 AND seq < ?3
                 ORDER BY seq DESC LIMIT ?4",
                params![account, recipient, before, limit as i64 + 1],
                limit,
            )
        })
        .await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(from_sqlite)?;
            for write in &writes {
                if !apply(&tx, write)? {
                    // Dropping the transaction rolls every write back.
                    return Err(CommitError::Conflict);
                }
            }
            tx.commit().map_err(from_sqlite)?;
            Ok(())
        })
        .await
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        let uses = uses.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(from_sqlite)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    )
                    .map_err(from_sqlite)?;
                for (id, at) in &uses {
                    stmt.execute(params![id, at]).map_err(from_sqlite)?;
                }
            }
            tx.commit().map_err(from_sqlite)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(from_sqlite)?;
            let mut purged = 0;
            for sql in [
                "DELETE FROM keys WHERE ttl <= ?1",
                "DELETE FROM applications WHERE ttl IS NOT NULL AND ttl <= ?1",
                "DELETE FROM notices WHERE ttl <= ?1",
                "DELETE FROM idempotency WHERE expires_at <= ?1",
            ] {
                purged += tx.execute(sql, params![now]).map_err(from_sqlite)? as u64;
            }
            tx.commit().map_err(from_sqlite)?;
            Ok(purged)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use crate::auth::{Caller, perm};
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::service::{CreateApplication, CreateKey, LogPublisher, Service, VerifyRequest};
    use std::sync::Arc;
    use wasm_validator::VerdictCode;

    fn service(store: SqliteStore) -> Service {
        Service::new(
            Arc::new(store),
            Config::default(),
            Arc::new(ManualClock::new(1_800_000_000)),
            Arc::new(LogPublisher),
        )
    }

    /// Alice (every permission), an application and a key of hers made
    /// through `service`: the key's id and a request that verifies it.
    async fn alice_with_a_key(service: &Service) -> (Caller, String, VerifyRequest) {
        let alice = Caller {
            user_id: "alice".into(),
            account: "acct".into(),
            permissions: perm::ALL.iter().map(|p| p.to_string()).collect(),
            mfa: true,
        };
        let app = service
            .create_application(
                &alice,
                &CreateApplication {
                    name: "app".into(),
                    description: String::new(),
                    key_prefix: None,
                },
                None,
            )
            .await
            .unwrap();
        let key = service
            .create_key(
                &alice,
                &app.id,
                &CreateKey {
                    name: "k".into(),
                    description: String::new(),
                    scopes: Vec::new(),
                    expires_at: None,
                },
                None,
            )
            .await
            .unwrap();
        let id = key.key.id;
        let request = VerifyRequest {
            key: key.secret,
            scopes: Vec::new(),
        };
        (alice, id, request)
    }

    /// A writer that knows nothing of this store's cache (another program
    /// on the file, here a bare SQLite connection) changes a key this store
    /// has just read, and so cached; the next read has the change, and the
    /// one after (from the cache again) too.
    #[tokio::test]
    async fn a_change_by_a_bare_connection_is_seen_through_the_key_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.key_cache.is_some(), "a database file has the cache");
        let service = service(store.clone());
        let (_, id, request) = alice_with_a_key(&service).await;
        for _ in 0..3 {
            assert_eq!(
                service.verify(&request).await.unwrap().code,
                VerdictCode::Valid
            );
        }
        let cache = store.key_cache.as_ref().unwrap();
        let header = cache.header().expect("a readable WAL index header");
        assert!(cache.get(&header, &id).is_some(), "the key was cached");
        let bare = rusqlite::Connection::open(&path).unwrap();
        for (status, code) in [
            ("disabled", VerdictCode::Disabled),
            ("active", VerdictCode::Valid),
            ("revoked", VerdictCode::Revoked),
        ] {
            let changed = bare
                .execute(
                    "UPDATE keys SET item = json_set(item, '$.status', ?2) WHERE id = ?1",
                    rusqlite::params![id, status],
                )
                .unwrap();
            assert_eq!(changed, 1);
            for _ in 0..2 {
                assert_eq!(
                    service.verify(&request).await.unwrap().code,
                    code,
                    "{status}"
                );
            }
        }
    }

    /// Another process on the same folder (`keyward notify-expiring`, a
    /// second server) writes through its own connections; this store's
    /// reading connection must see each commit on its next read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_by_another_store_on_the_file_is_seen_by_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let verifier = service(SqliteStore::open(&path).unwrap());
        let writer = service(SqliteStore::open(&path).unwrap());
        let (alice, id, request) = alice_with_a_key(&writer).await;
        let code = || async { verifier.verify(&request).await.unwrap().code };
        assert_eq!(code().await, VerdictCode::Valid);
        writer.disable_key(&alice, &id, None).await.unwrap();
        assert_eq!(code().await, VerdictCode::Disabled);
        writer.enable_key(&alice, &id, None).await.unwrap();
        assert_eq!(code().await, VerdictCode::Valid);
        writer.revoke_key(&alice, &id, None).await.unwrap();
        assert_eq!(code().await, VerdictCode::Revoked);
    }
}
