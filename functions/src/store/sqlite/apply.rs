//! A commit's writes, each with its expectation, as SQL.

use super::rows::to_json;
use super::{NOTICE_RETENTION_SECONDS, is_constraint};
use super::{meter, webhooks};
use crate::store::{CommitError, StoreError, Write};
use rusqlite::params;

/// Applies one write inside the transaction; `Ok(false)` when its
/// expectation failed.
pub(super) fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> Result<bool, CommitError> {
    let changed = |result: rusqlite::Result<usize>| -> Result<bool, CommitError> {
        match result {
            Ok(n) => Ok(n == 1),
            Err(e) if is_constraint(&e) => Ok(false),
            Err(e) => Err(StoreError::from(e).into()),
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
            if let (Some(_), Some(_), Some(read)) = (expected, item.set_balance, item.meter.credits)
                && !meter::balance_is(tx, &item.id, read)?
            {
                return Ok(false);
            }
            let written = match expected {
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
            }?;
            // A balance set by this write (create, a PATCH of credits,
            // regenerate) is reset in the same commit; `None` leaves the
            // live counter to the debits.
            if let (true, Some(balance)) = (written, item.set_balance) {
                meter::set_balance(tx, &item.id, balance)?;
            }
            Ok(written)
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
        Write::Webhook { item, expected } => changed(webhooks::put(tx, item, *expected)),
        Write::Delivery { item, expected } => {
            changed(webhooks::put_delivery(tx, item, *expected))
        }
    }
}
