//! Secrets that do not print themselves: the whole key a create or a
//! regenerate answers once, a webhook's signing secret, and the client's
//! bearer token.

use serde::{Deserialize, Deserializer};
use std::fmt;
use zeroize::Zeroize;

/// A secret string: `Debug` shows `Secret(<redacted>)`, there is no
/// `Display` and no `Serialize`, and the bytes are zeroed when it is dropped.
/// [`Secret::expose`] is the one way to read it, so every place that does
/// is easy to find.
///
/// ```
/// use keyward_sdk::Secret;
///
/// let secret = Secret::new("kw_0123456789");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.expose(), "kw_0123456789");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: to store it where secrets belong, or to present it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_even_nested() {
        #[derive(Debug)]
        #[allow(dead_code)] // read by Debug only
        struct Holder {
            secret: Secret,
        }
        let holder = Holder {
            secret: serde_json::from_str("\"kw_topsecret\"").unwrap(),
        };
        let shown = format!("{holder:?} {holder:#?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert_eq!(holder.secret.expose(), "kw_topsecret");
    }
}
