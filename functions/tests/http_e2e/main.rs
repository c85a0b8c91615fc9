//! HTTP end-to-end tests: each test starts the real `keyward serve` binary on
//! its own data folder and port, talks to it over HTTP as a client would,
//! and checks status codes, problem `code`s and bodies against docs/ARCHITECTURE.md.
//!
//! The harness (`harness`: `Server`, over the shared `local_server`;
//! `client`: `Api`, `Resp`) spawns the binary, kills it with SIGKILL on drop
//! (or to test a restart), mints HS256 tokens with the same secret, and
//! refuses every 5xx answer: no input may produce one. Each test has its
//! own server, so tests run in parallel. Waits poll with a deadline; the one
//! test that needs wall-clock time to pass (expiry, grace periods) is
//! `key_lifecycle::expiry_and_grace_periods_take_effect_with_time`.
//!
//! The other modules hold the tests, one concern each.

mod client;
#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/github.rs"]
mod github;
mod harness;
mod key_format;
#[path = "../support/local_server.rs"]
mod local_server;
#[path = "../support/moto.rs"]
mod moto;

mod accounts;
mod applications;
mod authorization_matrix;
mod bad_requests;
mod configuration;
mod durability;
mod idempotency;
mod key_lifecycle;
mod leak_reports;
mod limits;
mod notices_and_usage;
mod offboarding;
mod on_dynamodb;
mod permissions;
mod routes;
mod secrets;
mod usage;
mod usage_controls;
mod webhooks;
