//! keyward's pure core: the key format, its checksum, hashing, scopes and the
//! verification verdict.
//!
//! No I/O and no clock: randomness and time are arguments. The service
//! (`functions`) and the WebAssembly package both call this crate, so every
//! verifier gives the same verdict.

pub mod base62;
pub mod crc32;
pub mod key;
pub mod scope;
pub mod verdict;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use key::{KEY_REGEX, MalformedReason, ParsedKey, format_key, hash_key, parse};
pub use scope::{granted_by, is_valid_scope, scope_satisfies};
pub use verdict::{
    ApplicationStatus, DecisionFields, KeyRecord, KeyStatus, OwnerStatus, StoredKeyStatus, Verdict,
    VerdictCode, decide, standing, validate, verdict_for,
};
