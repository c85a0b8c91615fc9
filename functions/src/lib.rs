//! keyward: the API-key service.
//!
//! `domain` holds the rules, `service` every lifecycle action over the
//! [`store::Store`] trait, `http` the one router that both the local server
//! and the Lambda functions serve.

pub mod abuse;
pub mod auth;
pub mod aws;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod lambda;
pub mod last_used;
pub mod leaks;
pub mod logging;
pub mod notice;
pub mod secret;
pub mod serve;
pub mod service;
pub mod store;
pub mod usage;
