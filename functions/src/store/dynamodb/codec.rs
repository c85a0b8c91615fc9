//! Attribute values and the conversions between items and domain values.
//!
//! Every domain value is stored whole as JSON in `item`; the other
//! attributes are copies that conditions, TTL and the index need, or
//! values written outside the JSON (`last_used_at`, a key's counters, the
//! guards).

use super::layout::{CREDITS_PERIOD, CREDITS_REMAINING, parse_window_attribute};
use crate::domain::Key;
use crate::store::{StoreError, StoreResult, UserGuard};
use crate::usage::{Balance, Meter, WindowUse};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// An item as the SDK reads and writes it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string-set attribute (the id sets).
pub(super) fn ids(ids: Vec<String>) -> AttributeValue {
    AttributeValue::Ss(ids)
}

/// The JSON body of an item.
pub(super) fn to_json<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    Ok(s(serde_json::to_string(value)?))
}

/// The domain value in an item's JSON body.
pub(super) fn from_item<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    match item.get("item") {
        Some(AttributeValue::S(json)) => Ok(serde_json::from_str(json)?),
        _ => Err(StoreError::Internal {
            context: "an item without its JSON body".into(),
            source: None,
        }),
    }
}

/// A key: its JSON body, with `last_used_at` from its own attribute, which
/// only the usage flush writes, and its counters, which only debits and
/// balance-setting key writes write. An item from the index holds only the
/// JSON: its key has no counters (the expiry job needs none).
pub(super) fn key_from_item(item: &Item) -> StoreResult<Key> {
    let mut key: Key = from_item(item)?;
    key.last_used_at = number(item, "last_used_at");
    key.meter = meter_from_item(item);
    Ok(key)
}

/// The counters among an item's attributes (a whole key item, or the
/// attributes an update returns): every window counted, old ones included
/// (`usage::decide` ignores them and lists them as stale), and the credit
/// balance when both of its attributes are there.
pub(super) fn meter_from_item(item: &Item) -> Meter {
    let mut windows: Vec<WindowUse> = item
        .iter()
        .filter_map(|(attribute, value)| {
            let (name, window) = parse_window_attribute(attribute)?;
            let AttributeValue::N(used) = value else {
                return None;
            };
            Some(WindowUse {
                name: name.to_owned(),
                window,
                used: used.parse().ok()?,
            })
        })
        .collect();
    // The map's order is random; a meter's is not.
    windows.sort_by(|a, b| (&a.name, a.window).cmp(&(&b.name, b.window)));
    let credits = match (
        number(item, CREDITS_REMAINING),
        number(item, CREDITS_PERIOD),
    ) {
        (Some(remaining), Some(period)) => Some(Balance {
            remaining: remaining.max(0) as u64,
            period,
        }),
        _ => None,
    };
    Meter { windows, credits }
}

/// A user guard item, which has no JSON body.
pub(super) fn user_guard_from_item(item: &Item) -> UserGuard {
    UserGuard {
        version: version(item),
        offboarded: matches!(item.get("offboarded"), Some(AttributeValue::Bool(true))),
    }
}

/// A guard's version (0 when it has none).
pub(super) fn version(item: &Item) -> u64 {
    number(item, "version").unwrap_or(0) as u64
}

pub(super) fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// The ids in a string-set attribute (none when it is absent).
pub(super) fn string_set(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(ids)) => ids.clone(),
        _ => Vec::new(),
    }
}
