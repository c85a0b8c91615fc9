//! Webhooks, delivery records and the outbox on SQLite.
//!
//! The audit table is the outbox: its `seq` is commit order. The deliverer
//! reads events after its cursor ([`read_outbox`]) and, in one transaction,
//! makes their delivery records and moves the cursor ([`advance`]): a crash
//! before that commit reads the same events again, after it nothing is
//! read twice, and nothing committed is skipped.

use super::rows::{from_json, page, query_items, resolve_cursor};
use crate::domain::AuditEvent;
use crate::events::outbox::Outbox;
use crate::events::webhook::{Delivery, DeliveryStatus, Webhook};
use crate::store::{CommitError, Page, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub(super) fn get(conn: &Connection, account: &str, id: &str) -> StoreResult<Option<Webhook>> {
    conn.prepare_cached("SELECT item FROM webhooks WHERE id = ?1 AND account = ?2")?
        .query_row(params![id, account], |row| row.get::<_, String>(0))
        .optional()?
        .map(|text| from_json(&text))
        .transpose()
}

pub(super) fn list(conn: &Connection, account: &str) -> StoreResult<Vec<Webhook>> {
    query_items(
        conn,
        "SELECT item FROM webhooks WHERE account = ?1 ORDER BY rowid",
        params![account],
    )
}

pub(super) fn list_deliveries(
    conn: &Connection,
    webhook_id: &str,
    limit: usize,
    cursor: Option<&str>,
) -> StoreResult<Page<Delivery>> {
    let before = resolve_cursor(
        conn,
        cursor,
        "SELECT seq FROM deliveries WHERE webhook_id = ?2 AND id = ?1",
        &[webhook_id],
    )?;
    page(
        conn,
        "SELECT item FROM deliveries WHERE webhook_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        params![webhook_id, before, limit as i64 + 1],
        limit,
        |delivery: &Delivery| &delivery.id,
    )
}

pub(super) fn due(conn: &Connection, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
    query_items(
        conn,
        "SELECT item FROM deliveries WHERE due <= ?1 ORDER BY seq LIMIT ?2",
        params![now, limit as i64],
    )
}

fn due_column(delivery: &Delivery) -> Option<i64> {
    match delivery.status {
        DeliveryStatus::Pending => delivery.next_attempt_at,
        DeliveryStatus::Delivered | DeliveryStatus::Failed => None,
    }
}

/// `item`'s JSON at `version`.
fn stored_json(item: &impl serde::Serialize, version: u64) -> rusqlite::Result<String> {
    let mut stored = serde_json::to_value(item)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    stored["version"] = version.into();
    Ok(stored.to_string())
}

/// A webhook write: the rows it changed (0 when its expectation failed).
pub(super) fn put(
    tx: &Transaction<'_>,
    item: &Webhook,
    expected: Option<u64>,
) -> rusqlite::Result<usize> {
    let version = expected.unwrap_or(0) + 1;
    let json = stored_json(item, version)?;
    match expected {
        None => tx.execute(
            "INSERT INTO webhooks (id, account, version, ttl, item) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![item.id, item.account, version as i64, item.ttl, json],
        ),
        Some(v) => tx.execute(
            "UPDATE webhooks SET version = ?3, ttl = ?4, item = ?5 WHERE id = ?1 AND version = ?2",
            params![item.id, v as i64, version as i64, item.ttl, json],
        ),
    }
}

/// A delivery write, as [`put`] is a webhook's.
pub(super) fn put_delivery(
    tx: &Transaction<'_>,
    item: &Delivery,
    expected: Option<u64>,
) -> rusqlite::Result<usize> {
    let version = expected.unwrap_or(0) + 1;
    let json = stored_json(item, version)?;
    let due = due_column(item);
    match expected {
        None => tx.execute(
            "INSERT INTO deliveries (id, webhook_id, version, due, ttl, item) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![item.id, item.webhook_id, version as i64, due, item.ttl, json],
        ),
        Some(v) => tx.execute(
            "UPDATE deliveries SET version = ?3, due = ?4, ttl = ?5, item = ?6 WHERE id = ?1 AND version = ?2",
            params![item.id, v as i64, version as i64, due, item.ttl, json],
        ),
    }
}

/// The outbox cursor: the `seq` of the last audit event delivered for
/// (0 before the first).
pub(super) fn cursor(conn: &Connection) -> StoreResult<u64> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM outbox_cursor WHERE id = 0")?
        .query_row([], |row| row.get(0))
        .optional()?;
    Ok(seq.unwrap_or(0) as u64)
}

/// Up to `limit` audit events after `after`, in commit order, with their
/// `seq`.
pub(super) fn read_outbox(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<(u64, AuditEvent)>> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, item FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after as i64, limit as i64], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (seq, text) = row?;
        Ok((seq as u64, from_json(&text)?))
    })
    .collect()
}

/// Makes `deliveries` (those already made are kept as they are) and moves
/// the cursor from `from` to `to`, in one transaction; a conflict when the
/// cursor is not at `from` (another deliverer moved it).
pub(super) fn advance(
    conn: &mut Connection,
    deliveries: &[Delivery],
    from: u64,
    to: u64,
) -> Result<(), CommitError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    if cursor(&tx)? != from {
        return Err(CommitError::Conflict);
    }
    for delivery in deliveries {
        let json = stored_json(delivery, 1).map_err(StoreError::from)?;
        tx.execute(
            "INSERT INTO deliveries (id, webhook_id, version, due, ttl, item) VALUES (?1, ?2, 1, ?3, ?4, ?5)
             ON CONFLICT (id) DO NOTHING",
            params![
                delivery.id,
                delivery.webhook_id,
                due_column(delivery),
                delivery.ttl,
                json
            ],
        )
        .map_err(StoreError::from)?;
    }
    tx.execute(
        "INSERT INTO outbox_cursor (id, seq) VALUES (0, ?1) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
        params![to as i64],
    )
    .map_err(StoreError::from)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(())
}

#[async_trait]
impl Outbox for super::SqliteStore {
    async fn outbox_cursor(&self) -> StoreResult<u64> {
        self.with_reader(|conn| cursor(conn)).await
    }

    async fn read_outbox(&self, after: u64, limit: usize) -> StoreResult<Vec<(u64, AuditEvent)>> {
        self.with_reader(move |conn| read_outbox(conn, after, limit))
            .await
    }

    async fn advance_outbox(
        &self,
        deliveries: Vec<Delivery>,
        from: u64,
        to: u64,
    ) -> Result<(), CommitError> {
        self.with_conn(move |conn| advance(conn, &deliveries, from, to))
            .await
    }
}
