//! The tables, and how every connection is set up.
//!
//! Each row keeps its item as JSON in `item`, next to the columns that
//! index it (docs/ARCHITECTURE.md, "SQLite layout").

use crate::store::StoreResult;
use rusqlite::Connection;

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
-- Resolves a cursor (the id of its page's last event) within the account.
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (account, json_extract(item, '$.id'));
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
-- Webhook endpoints, and each event's delivery to each (webhooks.rs):
-- `due` is the next attempt of a pending delivery, NULL otherwise.
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    version INTEGER NOT NULL,
    ttl INTEGER,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_account ON webhooks (account);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    due INTEGER,
    ttl INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries (webhook_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due) WHERE due IS NOT NULL;
-- How far the deliverer has read the audit log (the outbox): the `seq` of
-- the last event it made deliveries for. One row.
CREATE TABLE IF NOT EXISTS outbox_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    seq INTEGER NOT NULL
);
-- The live counters of metered keys, one row per key, apart from the key
-- item (meter.rs): `windows` is the JSON list of the current window of each
-- rate limit; `remaining`, `period` and `floor` the credits (NULL: none).
CREATE TABLE IF NOT EXISTS meters (
    key_id TEXT PRIMARY KEY,
    windows TEXT NOT NULL DEFAULT '[]',
    remaining INTEGER,
    period INTEGER,
    floor INTEGER
) WITHOUT ROWID;
-- How many stores have the file open, and under which boot of the machine
-- (recovery.rs). One row.
CREATE TABLE IF NOT EXISTS meter_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    boot TEXT,
    open INTEGER NOT NULL
);
"#;

/// The writing connection: WAL mode, so that readers never wait for it,
/// `synchronous = FULL`, so that an acknowledged commit survives a crash,
/// and the tables.
pub(super) fn prepare(conn: Connection) -> StoreResult<Connection> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// The debits' connection, opened after [`prepare`]: `synchronous =
/// NORMAL`, so a debit's commit is not an fsync. A committed debit still
/// survives a crash of the process (its WAL frame is in the OS's cache);
/// what an OS crash may roll back, and why no credit is spent twice, is in
/// `meter.rs`.
pub(super) fn prepare_meter(conn: Connection) -> StoreResult<Connection> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    Ok(conn)
}
