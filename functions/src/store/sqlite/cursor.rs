//! The cursors of the audit and notice pages.
//!
//! A cursor names the last item of its page by that item's id, which the
//! caller has just been shown, and is resolved to the item's place within
//! the caller's own list (the account's events, the recipient's notices).
//! It carries no sequence number: the tables' `seq` counts every account's
//! rows, so a cursor made of it told a tenant how much the others did. An
//! id that is not in the caller's list (another account's, or made up) is
//! an invalid cursor.

use crate::store::{StoreError, StoreResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longer than any id the service makes (an event id, `<key id>:<day>`).
const MAX_ID_BYTES: usize = 256;

/// The cursor after the item with this id.
pub(super) fn encode(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// The id a cursor names (resolving it is the caller's query).
pub(super) fn decode(cursor: &str) -> StoreResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .filter(|bytes| !bytes.is_empty() && bytes.len() <= MAX_ID_BYTES)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(StoreError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};
    use crate::store::StoreError;

    #[test]
    fn an_id_round_trips_and_anything_else_is_invalid() {
        for id in ["evt_0", "k1:2027-01-15", "é"] {
            assert_eq!(decode(&encode(id)).unwrap(), id);
        }
        for bad in ["", "not a cursor", "42", "_w", &"QUFB".repeat(100)] {
            assert!(
                matches!(decode(bad), Err(StoreError::InvalidCursor)),
                "{bad:?}"
            );
        }
    }
}
