//! keyward's Rust SDK: a typed async client for keyward's HTTP API
//! ([`Client`]), and, with the `axum` feature, a tower layer that verifies
//! API keys in front of an axum service ([`layer::VerifyKeyLayer`]).
//!
//! # The client
//!
//! One method per route; each returns a [`Call`] that is sent when awaited,
//! after an optional [`Call::idempotency_key`] or [`Call::timeout`]. keyward's
//! problem answers come back as [`Error::Api`] with their stable `code`.
//!
//! ```no_run
//! use keyward_sdk::types::{CreateApplication, CreateKey, VerifyRequest};
//! use keyward_sdk::{Client, Error};
//!
//! # async fn run() -> Result<(), Error> {
//! let client = Client::new("https://keyward.example.com", "<a JWT>")?;
//! let app = client
//!     .create_application(&CreateApplication {
//!         name: "billing".into(),
//!         ..CreateApplication::default()
//!     })
//!     .idempotency_key("create-billing-app")
//!     .await?;
//! let created = client
//!     .create_key(
//!         &app.id,
//!         &CreateKey {
//!             name: "ci".into(),
//!             scopes: vec!["sims:read".into()],
//!             ..CreateKey::default()
//!         },
//!     )
//!     .await?;
//! // The secret is shown once; its Debug output is redacted.
//! let secret = created.secret.expose();
//!
//! let verdict = client
//!     .verify(&VerifyRequest::new(secret).scopes(["sims:read"]))
//!     .await?;
//! assert!(verdict.valid);
//!
//! match client.get_key("0000000000000000000000").await {
//!     Err(e) if e.code() == Some("KEY_NOT_FOUND") => {}
//!     other => panic!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # The layer
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Extension, Router, routing::get};
//! use keyward_sdk::Client;
//! use keyward_sdk::layer::{CacheConfig, VerifyKeyLayer};
//! use keyward_sdk::types::Verdict;
//! use std::net::SocketAddr;
//!
//! // Local mode: a token with `records:read`; remote mode needs none:
//! // `VerifyKeyLayer::remote(Client::builder(url).build()?)`.
//! let client = Client::new("https://keyward.example.com", "<a records:read JWT>")?;
//! let keys = VerifyKeyLayer::local(client, CacheConfig::default());
//!
//! async fn sims(Extension(verdict): Extension<Verdict>) -> String {
//!     format!("hello, {}", verdict.account.unwrap_or_default())
//! }
//!
//! let app = Router::new()
//!     .route("/sims", get(sims))
//!     .route_layer(keys.clone().scopes(["sims:read"]));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! // The peer address is the `source_ip` of keys restricted by address.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod secret;
pub mod types;

#[cfg(feature = "axum")]
mod cache;
#[cfg(feature = "axum")]
pub mod layer;
#[cfg(feature = "axum")]
mod refusal;

pub use client::{Call, Client, ClientBuilder, DEFAULT_TIMEOUT};
pub use error::{Error, Problem};
pub use secret::Secret;
pub use types::KeyRecord;
/// The core the layer's local mode decides with.
pub use wasm_validator;
