//! Every error the API can answer, mapped to RFC 9457 problem details in
//! one place. Each variant has a stable machine `code`; details never carry
//! a secret or a hash.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // 400
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("invalid query parameter: {0}")]
    InvalidQuery(String),
    #[error("the pagination cursor is not one this service issued")]
    InvalidCursor,
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    // 401
    #[error("this route needs an Authorization: Bearer <JWT> header")]
    TokenMissing,
    #[error("the bearer token was rejected: {0}")]
    TokenInvalid(String),
    #[error("the bearer token has expired")]
    TokenExpired,
    // 403
    #[error("this action needs the permission {0}")]
    PermissionDenied(String),
    #[error("enabling a key needs a session with multi-factor authentication (amr: mfa)")]
    MfaRequired,
    #[error("this user has been offboarded and cannot create applications or keys")]
    UserOffboarded,
    // 404
    #[error("no application with this id")]
    ApplicationNotFound,
    #[error("no key with this id")]
    KeyNotFound,
    #[error("no route matches this path")]
    RouteNotFound,
    // 405
    #[error("this route does not accept this method")]
    MethodNotAllowed,
    // 409
    #[error("the account already has {0} active applications, the most allowed")]
    ApplicationLimitReached(u32),
    #[error("the application already has {0} active or disabled keys, the most allowed")]
    KeyLimitReached(u32),
    #[error("the application is revoked")]
    ApplicationRevoked,
    #[error("the application's owner has been offboarded")]
    OwnerDeleted,
    #[error("the key is revoked")]
    KeyRevoked,
    #[error("the key has expired; an expired key can only be deleted")]
    KeyExpired,
    #[error("the key is disabled; enable it before regenerating")]
    KeyDisabled,
    #[error("the key has already been regenerated")]
    KeyAlreadyRegenerated,
    #[error("the request conflicted with concurrent changes; retry it")]
    Conflict,
    // 413, 415
    #[error("the request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    // 422
    #[error("the request body does not match the schema: {0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("description must be at most 512 characters")]
    InvalidDescription,
    #[error("key_prefix must match [a-z][a-z0-9]{{0,15}}")]
    InvalidPrefix,
    #[error(
        "invalid scope {0:?}: scopes match [a-z0-9_.-]+(:[a-z0-9_.*-]+)* and are at most 128 characters, at most 64 of them"
    )]
    InvalidScope(String),
    #[error("you cannot grant the scope {0:?}: your permissions do not include it")]
    ScopeNotHeld(String),
    #[error("expires_at must be an RFC 3339 date-time: {0}")]
    InvalidExpiresAt(String),
    #[error("expires_at must be in the future")]
    ExpiresAtInPast,
    #[error("expires_at must be at most {0} days from now")]
    ExpiresAtTooFar(u32),
    #[error("grace_seconds must be between 0 and 604800 (7 days)")]
    InvalidGracePeriod,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    // 429
    #[error("too many failed verifications from this source; retry after {0} seconds")]
    TooManyFailedVerifications(u64),
    // 500, 503
    #[error("internal error")]
    Internal(String),
    #[error("the store is unavailable; retry later")]
    StoreUnavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson(_) | InvalidQuery(_) | InvalidCursor | InvalidIdempotencyKey => {
                StatusCode::BAD_REQUEST
            }
            TokenMissing | TokenInvalid(_) | TokenExpired => StatusCode::UNAUTHORIZED,
            PermissionDenied(_) | MfaRequired | UserOffboarded => StatusCode::FORBIDDEN,
            ApplicationNotFound | KeyNotFound | RouteNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApplicationLimitReached(_)
            | KeyLimitReached(_)
            | ApplicationRevoked
            | OwnerDeleted
            | KeyRevoked
            | KeyExpired
            | KeyDisabled
            | KeyAlreadyRegenerated
            | Conflict => StatusCode::CONFLICT,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InvalidBody(_) | InvalidName(_) | InvalidDescription | InvalidPrefix
            | InvalidScope(_) | ScopeNotHeld(_) | InvalidExpiresAt(_) | ExpiresAtInPast
            | ExpiresAtTooFar(_) | InvalidGracePeriod | IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            TooManyFailedVerifications(_) => StatusCode::TOO_MANY_REQUESTS,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine code (also the last part of the problem `type`).
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson(_) => "MALFORMED_JSON",
            InvalidQuery(_) => "INVALID_QUERY",
            InvalidCursor => "INVALID_CURSOR",
            InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            TokenMissing => "TOKEN_MISSING",
            TokenInvalid(_) => "TOKEN_INVALID",
            TokenExpired => "TOKEN_EXPIRED",
            PermissionDenied(_) => "PERMISSION_DENIED",
            MfaRequired => "MFA_REQUIRED",
            UserOffboarded => "USER_OFFBOARDED",
            ApplicationNotFound => "APPLICATION_NOT_FOUND",
            KeyNotFound => "KEY_NOT_FOUND",
            RouteNotFound => "ROUTE_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApplicationLimitReached(_) => "APPLICATION_LIMIT_REACHED",
            KeyLimitReached(_) => "KEY_LIMIT_REACHED",
            ApplicationRevoked => "APPLICATION_REVOKED",
            OwnerDeleted => "OWNER_DELETED",
            KeyRevoked => "KEY_REVOKED",
            KeyExpired => "KEY_EXPIRED",
            KeyDisabled => "KEY_DISABLED",
            KeyAlreadyRegenerated => "KEY_ALREADY_REGENERATED",
            Conflict => "CONFLICT",
            PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            InvalidBody(_) => "INVALID_BODY",
            InvalidName(_) => "INVALID_NAME",
            InvalidDescription => "INVALID_DESCRIPTION",
            InvalidPrefix => "INVALID_PREFIX",
            InvalidScope(_) => "INVALID_SCOPE",
            ScopeNotHeld(_) => "SCOPE_NOT_HELD",
            InvalidExpiresAt(_) => "INVALID_EXPIRES_AT",
            ExpiresAtInPast => "EXPIRES_AT_IN_PAST",
            ExpiresAtTooFar(_) => "EXPIRES_AT_TOO_FAR",
            InvalidGracePeriod => "INVALID_GRACE_PERIOD",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            TooManyFailedVerifications(_) => "TOO_MANY_FAILED_VERIFICATIONS",
            Internal(_) => "INTERNAL",
            StoreUnavailable(_) => "STORE_UNAVAILABLE",
        }
    }

    /// One error of every kind, with placeholder details: what the OpenAPI
    /// document's check (`tests/openapi_routes.rs`) compares its problem
    /// codes and statuses with. A unit test keeps it complete.
    pub fn one_of_each() -> Vec<ApiError> {
        use ApiError::*;
        let text = String::new;
        vec![
            MalformedJson(text()),
            InvalidQuery(text()),
            InvalidCursor,
            InvalidIdempotencyKey,
            TokenMissing,
            TokenInvalid(text()),
            TokenExpired,
            PermissionDenied(text()),
            MfaRequired,
            UserOffboarded,
            ApplicationNotFound,
            KeyNotFound,
            RouteNotFound,
            MethodNotAllowed,
            ApplicationLimitReached(0),
            KeyLimitReached(0),
            ApplicationRevoked,
            OwnerDeleted,
            KeyRevoked,
            KeyExpired,
            KeyDisabled,
            KeyAlreadyRegenerated,
            Conflict,
            PayloadTooLarge(0),
            UnsupportedMediaType,
            InvalidBody(text()),
            InvalidName(text()),
            InvalidDescription,
            InvalidPrefix,
            InvalidScope(text()),
            ScopeNotHeld(text()),
            InvalidExpiresAt(text()),
            ExpiresAtInPast,
            ExpiresAtTooFar(0),
            InvalidGracePeriod,
            IdempotencyKeyReused,
            TooManyFailedVerifications(0),
            Internal(text()),
            StoreUnavailable(text()),
        ]
    }

    /// What the client is told. Internal details stay in the log.
    fn detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; it has been logged".into(),
            ApiError::StoreUnavailable(_) => "the store is unavailable; retry later".into(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            r#type: format!(
                "urn:keyward:problem:{}",
                self.code().to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            limit: match self {
                ApiError::ApplicationLimitReached(limit) | ApiError::KeyLimitReached(limit) => {
                    Some(*limit)
                }
                _ => None,
            },
        }
    }
}

/// RFC 9457 problem details, with keyward's stable `code` as an extension.
#[derive(Debug, Serialize)]
pub struct Problem {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    /// The limit a `*_LIMIT_REACHED` problem reached, for clients to show
    /// without reading `detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(code = self.code(), %cause, "internal error")
            }
            ApiError::StoreUnavailable(cause) => {
                tracing::error!(code = self.code(), %cause, "store unavailable")
            }
            _ => tracing::debug!(code = self.code(), "request refused"),
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyFailedVerifications(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_carry_status_code_and_type() {
        let problem = ApiError::KeyLimitReached(10).problem();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.code, "KEY_LIMIT_REACHED");
        assert_eq!(problem.limit, Some(10));
        assert_eq!(
            ApiError::ApplicationLimitReached(7).problem().limit,
            Some(7)
        );
        assert_eq!(ApiError::KeyRevoked.problem().limit, None);
        assert_eq!(problem.r#type, "urn:keyward:problem:key-limit-reached");
        assert!(problem.detail.contains("10"));
    }

    #[test]
    fn one_of_each_has_every_kind_once() {
        // No wildcard arm: a new variant stops this compiling until it gets
        // an index here and an entry in `one_of_each`, in the same order.
        fn index(e: &ApiError) -> usize {
            use ApiError::*;
            match e {
                MalformedJson(_) => 0,
                InvalidQuery(_) => 1,
                InvalidCursor => 2,
                InvalidIdempotencyKey => 3,
                TokenMissing => 4,
                TokenInvalid(_) => 5,
                TokenExpired => 6,
                PermissionDenied(_) => 7,
                MfaRequired => 8,
                UserOffboarded => 9,
                ApplicationNotFound => 10,
                KeyNotFound => 11,
                RouteNotFound => 12,
                MethodNotAllowed => 13,
                ApplicationLimitReached(_) => 14,
                KeyLimitReached(_) => 15,
                ApplicationRevoked => 16,
                OwnerDeleted => 17,
                KeyRevoked => 18,
                KeyExpired => 19,
                KeyDisabled => 20,
                KeyAlreadyRegenerated => 21,
                Conflict => 22,
                PayloadTooLarge(_) => 23,
                UnsupportedMediaType => 24,
                InvalidBody(_) => 25,
                InvalidName(_) => 26,
                InvalidDescription => 27,
                InvalidPrefix => 28,
                InvalidScope(_) => 29,
                ScopeNotHeld(_) => 30,
                InvalidExpiresAt(_) => 31,
                ExpiresAtInPast => 32,
                ExpiresAtTooFar(_) => 33,
                InvalidGracePeriod => 34,
                IdempotencyKeyReused => 35,
                TooManyFailedVerifications(_) => 36,
                Internal(_) => 37,
                StoreUnavailable(_) => 38,
            }
        }
        let all = ApiError::one_of_each();
        let indices: Vec<usize> = all.iter().map(index).collect();
        assert_eq!(indices, (0..39).collect::<Vec<_>>());
        let codes: std::collections::BTreeSet<&str> = all.iter().map(ApiError::code).collect();
        assert_eq!(codes.len(), all.len(), "every kind has its own code");
    }

    #[test]
    fn internal_details_are_not_disclosed() {
        let problem = ApiError::Internal("disk I/O error at /secret/path".into()).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("/secret/path"));
    }
}
