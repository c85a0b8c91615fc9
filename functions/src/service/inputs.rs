//! What the lifecycle actions take: plain values, checked by the actions
//! themselves. The HTTP layer reads them from request bodies
//! (`http::bodies`), tests and benchmarks build them directly.

use crate::secret::Secret;

pub struct CreateApplication {
    pub name: String,
    pub description: String,
    /// `None`: the default prefix.
    pub key_prefix: Option<String>,
}

/// A PATCH of an application or a key: `None` leaves a field as it is.
#[derive(Default)]
pub struct UpdateFields {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub struct CreateKey {
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    /// RFC 3339; `None`: the default validity.
    pub expires_at: Option<String>,
}

#[derive(Default)]
pub struct RegenerateKey {
    /// RFC 3339; `None`: a fresh default validity.
    pub expires_at: Option<String>,
    /// `None` or 0: the old key is revoked at once.
    pub grace_seconds: Option<i64>,
}

pub struct VerifyRequest {
    pub key: Secret,
    pub scopes: Vec<String>,
}
