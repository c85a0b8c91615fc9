//! keyward-sdk end to end: the client and the layer against the real
//! `keyward serve` (built by the workspace's `cargo test`; `support` finds
//! it), and the layer against a stand-in that counts, delays or fails
//! keyward's answers. Each test has its own server, so they run in
//! parallel.

mod client;
mod layer_cache;
mod layer_verdicts;
mod schema;
mod support;
