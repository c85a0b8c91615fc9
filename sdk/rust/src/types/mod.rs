//! The request and answer bodies of keyward's HTTP API, as
//! `infra/openapi.yaml` names them: snake_case JSON, timestamps as RFC 3339
//! ([`time::OffsetDateTime`]), a key record's and a verdict's times as epoch
//! seconds.
//!
//! The statuses and verdict codes are the core's own enums
//! ([`wasm_validator`]), so the client, the layer and keyward share one
//! definition.

mod account;
mod keys;

pub use account::*;
pub use keys::*;
pub use wasm_validator::{
    ApplicationStatus, KeyRecord, KeyStatus, OwnerStatus, StoredKeyStatus, VerdictCode,
};

use serde::{Deserialize, Serialize, Serializer};

/// One page of a list: `items`, and the cursor of the next page (`None` on
/// the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` of a list: the default is keyward's (50, at most 100).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListOptions {
    /// The page after `page`, or `None` after the last.
    pub fn after<T>(&self, page: &Page<T>) -> Option<ListOptions> {
        page.next_cursor.as_ref().map(|cursor| ListOptions {
            limit: self.limit,
            cursor: Some(cursor.clone()),
        })
    }
}

/// A field of a PATCH that can be left as it is, removed (`null`) or set.
///
/// ```
/// use keyward_sdk::types::{Patch, UpdateKey};
///
/// let change = UpdateKey {
///     allowed_ips: Patch::Clear,
///     name: Some("renamed".into()),
///     ..UpdateKey::default()
/// };
/// assert_eq!(
///     serde_json::to_value(&change).unwrap(),
///     serde_json::json!({"name": "renamed", "allowed_ips": null}),
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Omitted: the field stays as it is.
    #[default]
    Keep,
    /// `null`: the field is removed.
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Never written: every `Patch` field skips `Keep`.
            Patch::Keep | Patch::Clear => s.serialize_none(),
            Patch::Set(value) => value.serialize(s),
        }
    }
}
