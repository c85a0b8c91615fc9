//! keyward's pure core: the key format, its checksum, hashing, scopes and the
//! verification verdict.
//!
//! No I/O and no clock: randomness, time and the caller's source address
//! are arguments. The service (`functions`) and the WebAssembly package both
//! call this crate, so every verifier gives the same verdict.

pub mod base62;
pub mod crc32;
pub mod ip;
pub mod key;
pub mod record;
pub mod scope;
pub mod verdict;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use ip::{AllowedIps, AllowedIpsError, MAX_ALLOWED_IPS, parse_source_ip};
pub use key::{KEY_REGEX, MalformedReason, ParsedKey, format_key, hash_key, parse};
pub use record::{
    ApplicationStatus, DecisionFields, KeyRecord, KeyStatus, OwnerStatus, StoredKeyStatus, standing,
};
pub use scope::{granted_by, is_valid_scope, scope_satisfies};
pub use verdict::{Verdict, VerdictCode, decide, validate, verdict_for};
