//! The management CLI end to end: each test starts the real `keyward serve`
//! on its own data folder and port (`local_server`), then runs the real
//! `keyward` binary against it with `KEYWARD_API` and `KEYWARD_TOKEN`, as a
//! person or a script would, and checks what it prints (the table's key
//! facts, the `--json` answer parsed) and its exit status.
//!
//! `harness` runs the binary; the other modules hold the tests, one
//! resource or concern each.

#[path = "../support/fixtures.rs"]
mod fixtures;
mod harness;
#[path = "../support/local_server.rs"]
mod local_server;

mod activity;
mod apps;
mod completions;
mod keys;
mod problems;
mod verify;
mod walkthrough;
mod webhooks;
