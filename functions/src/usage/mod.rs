//! Usage control at verification (docs/ARCHITECTURE.md, "Usage control at
//! verification"): a key's rate limits, credits and allowed addresses
//! ([`controls`]), and the counters that make the first two exact across
//! every process ([`meter`]). The address check is the core's
//! (`wasm_validator::AllowedIps`), so the edge applies it too.

pub mod controls;
pub mod meter;

pub use controls::{Credits, RateLimit, Refill, RefillInterval, UsageControls, UsageInput};
pub use meter::{Balance, Debit, Decision, Meter, Refusal, UsageReport, WindowUse, decide, report};
