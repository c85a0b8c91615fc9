//! Rows to items and back: every item is JSON in its row's `item` column,
//! and a list or a page is a query over those rows.

use super::cursor;
use crate::domain::Key;
use crate::store::{Page, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(super) fn to_json<T: Serialize>(item: &T) -> StoreResult<String> {
    serde_json::to_string(item).map_err(StoreError::from)
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(StoreError::from)
}

/// The `seq` a page starts below: that of the item the cursor names, looked
/// up by `sql` (its id is `?1`, the caller's list the other parameters), or
/// the end when there is no cursor.
pub(super) fn resolve_cursor(
    conn: &Connection,
    cursor: Option<&str>,
    sql: &str,
    list: &[&str],
) -> StoreResult<i64> {
    let Some(cursor) = cursor else {
        return Ok(i64::MAX);
    };
    let id = cursor::decode(cursor)?;
    let mut values: Vec<&str> = vec![&id];
    values.extend_from_slice(list);
    conn.prepare_cached(sql)?
        .query_row(rusqlite::params_from_iter(values), |row| {
            row.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .ok_or(StoreError::InvalidCursor)
}

pub(super) fn query_items<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| row.get::<_, String>(0))?;
    rows.map(|r| {
        r.map_err(StoreError::from)
            .and_then(|text| from_json(&text))
    })
    .collect()
}

pub(super) fn query_keys(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Key>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
    })?;
    rows.map(|r| {
        let (text, last_used_at) = r?;
        let mut key: Key = from_json(&text)?;
        key.last_used_at = last_used_at;
        Ok(key)
    })
    .collect()
}

/// A page of `limit` items of what `sql` selects (`limit + 1` of them,
/// to know whether there are more), with a cursor naming the last one.
pub(super) fn page<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: usize,
    id: impl Fn(&T) -> &str,
) -> StoreResult<Page<T>> {
    let mut items: Vec<T> = query_items(conn, sql, params)?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(|last| cursor::encode(id(last)))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
