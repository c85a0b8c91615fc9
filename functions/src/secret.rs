//! A type for key secrets that cannot print itself.
//!
//! As crates.io keeps its tokens: no `Debug`, no `Display`, no `Serialize`
//! (only [`serialize_exposed`], named at each use),
//! so a secret cannot reach a log line, an error or a stored item by
//! accident; reading it takes an explicit `expose()`. It is zeroed on drop.

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself. Every call site is a place a secret leaves its box:
    /// the create/regenerate answer, hashing, parsing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

// Presented keys arrive in request bodies; accepting them into a `Secret`
// straight from JSON keeps them out of every other type.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// Serialises the secret itself: `#[serde(serialize_with)]` on the one
/// answer that shows a secret once (create and regenerate), and on the
/// sealed copy of that answer kept for idempotent retries.
pub fn serialize_exposed<S: serde::Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_and_exposes_only_on_request() {
        let secret: Secret = serde_json::from_str("\"kw_abc\"").unwrap();
        assert_eq!(secret.expose(), "kw_abc");
    }
}
