//! Page cursors: the key attributes of a page's last item, as opaque
//! base64url JSON. A cursor is checked against the partition it is used
//! on, so that a caller cannot page through another account's items.

use super::codec::{Item, s};
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;

/// The attributes that locate an item in a query: the table's key, and on
/// the index the index's key too.
pub(super) fn key_attributes(on_index: bool) -> &'static [&'static str] {
    if on_index {
        &["pk", "sk", "gsi1pk", "gsi1sk"]
    } else {
        &["pk", "sk"]
    }
}

/// The cursor that starts the page after `item`.
pub(super) fn encode(item: &Item, names: &[&str]) -> Option<String> {
    let mut map = BTreeMap::new();
    for name in names {
        if let Some(AttributeValue::S(v)) = item.get(*name) {
            map.insert(name.to_string(), v.clone());
        }
    }
    serde_json::to_vec(&map)
        .ok()
        .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// The exclusive start key of a cursor, which must carry exactly `names`
/// and name `partition` (attribute, value).
pub(super) fn decode(
    cursor: Option<&str>,
    names: &[&str],
    partition: (&str, &str),
) -> StoreResult<Option<Item>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let map: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    if map.len() != names.len() || names.iter().any(|n| !map.contains_key(*n)) {
        return Err(StoreError::InvalidCursor);
    }
    if map.get(partition.0).map(String::as_str) != Some(partition.1) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(Some(map.into_iter().map(|(k, v)| (k, s(v))).collect()))
}
