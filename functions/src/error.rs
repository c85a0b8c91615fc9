//! Every error the API can answer, mapped to RFC 9457 problem details in
//! one place. Each variant has a stable machine `code`; details never carry
//! a secret or a hash.
//!
//! One table below names every error once: its status, variant, fields,
//! code and message. The macro makes the enum, `status()`, `code()` and
//! the exhaustive `one_of_each()` from it, so none can miss a variant.
//!
//! A 500 or a 503 keeps its cause as its `source()`, with every error under
//! it: the log line shows the whole chain ([`chain`]), the client only a
//! fixed detail.

use crate::config::MAX_GRACE_SECONDS;
use crate::domain::MAX_DESCRIPTION_CHARS;
use crate::store::StoreError;
use crate::usage::controls::MAX_COST;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wasm_validator::scope::{MAX_SCOPE_LEN, MAX_SCOPES};

/// The cause an error keeps for the log, whatever its type.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `api_errors! { STATUS Variant(Field, ...) => "CODE", ["message", args...]; ... }`;
/// a field marked `#[source]` is the error's cause.
macro_rules! api_errors {
    ($(
        $status:ident $variant:ident $(($($(#[$attr:meta])? $field:ty),+))?
            => $code:literal, [$($message:tt)+];
    )*) => {
        #[derive(Debug, thiserror::Error)]
        pub enum ApiError {
            $(
                #[error($($message)+)]
                $variant $(($($(#[$attr])? $field),+))?,
            )*
        }

        impl ApiError {
            pub fn status(&self) -> StatusCode {
                match self {
                    $(api_errors!(@pattern $variant $(($($field),+))?) => StatusCode::$status,)*
                }
            }

            /// The stable machine code (also the last part of the problem
            /// `type`).
            pub fn code(&self) -> &'static str {
                match self {
                    $(api_errors!(@pattern $variant $(($($field),+))?) => $code,)*
                }
            }

            /// One error of every kind, in the table's order, with sample
            /// details: what the OpenAPI document's check
            /// (`functions/tests/openapi_routes.rs`) compares its problem
            /// codes and statuses with.
            pub fn one_of_each() -> Vec<ApiError> {
                vec![$(
                    ApiError::$variant $(($(<$field as Sample>::sample()),+))?,
                )*]
            }
        }
    };
    (@pattern $variant:ident) => { ApiError::$variant };
    (@pattern $variant:ident ($($field:ty),+)) => { ApiError::$variant(..) };
}

api_errors! {
    BAD_REQUEST MalformedJson(String) => "MALFORMED_JSON",
        ["the request body is not valid JSON: {0}"];
    BAD_REQUEST InvalidQuery(String) => "INVALID_QUERY", ["invalid query parameter: {0}"];
    BAD_REQUEST InvalidCursor => "INVALID_CURSOR",
        ["the pagination cursor is not one this service issued"];
    BAD_REQUEST InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
        ["the Idempotency-Key header must be 1 to 255 visible ASCII characters"];
    UNAUTHORIZED TokenMissing => "TOKEN_MISSING",
        ["this route needs an Authorization: Bearer <JWT> header"];
    UNAUTHORIZED TokenInvalid(String) => "TOKEN_INVALID", ["the bearer token was rejected: {0}"];
    UNAUTHORIZED TokenExpired => "TOKEN_EXPIRED", ["the bearer token has expired"];
    UNAUTHORIZED InvalidSignature(String) => "INVALID_SIGNATURE",
        ["the request's GitHub signature was refused: {0}"];
    FORBIDDEN PermissionDenied(String) => "PERMISSION_DENIED",
        ["this action needs the permission {0}"];
    FORBIDDEN MfaRequired => "MFA_REQUIRED",
        ["enabling a key needs a session with multi-factor authentication (amr: mfa)"];
    FORBIDDEN UserOffboarded => "USER_OFFBOARDED",
        ["this user has been offboarded and cannot create applications or keys"];
    NOT_FOUND ApplicationNotFound => "APPLICATION_NOT_FOUND", ["no application with this id"];
    NOT_FOUND KeyNotFound => "KEY_NOT_FOUND", ["no key with this id"];
    NOT_FOUND WebhookNotFound => "WEBHOOK_NOT_FOUND", ["no webhook with this id"];
    NOT_FOUND RouteNotFound => "ROUTE_NOT_FOUND", ["no route matches this path"];
    METHOD_NOT_ALLOWED MethodNotAllowed => "METHOD_NOT_ALLOWED",
        ["this route does not accept this method"];
    CONFLICT ApplicationLimitReached(u32) => "APPLICATION_LIMIT_REACHED",
        ["the account already has {0} active applications, the most allowed"];
    CONFLICT KeyLimitReached(u32) => "KEY_LIMIT_REACHED",
        ["the application already has {0} active or disabled keys, the most allowed"];
    CONFLICT WebhookLimitReached(u32) => "WEBHOOK_LIMIT_REACHED",
        ["the account already has {0} webhooks, the most allowed"];
    CONFLICT ApplicationRevoked => "APPLICATION_REVOKED", ["the application is revoked"];
    CONFLICT OwnerDeleted => "OWNER_DELETED", ["the application's owner has been offboarded"];
    CONFLICT KeyRevoked => "KEY_REVOKED", ["the key is revoked"];
    CONFLICT KeyExpired => "KEY_EXPIRED",
        ["the key has expired; an expired key can only be deleted"];
    CONFLICT KeyDisabled => "KEY_DISABLED", ["the key is disabled; enable it before regenerating"];
    CONFLICT KeyAlreadyRegenerated => "KEY_ALREADY_REGENERATED",
        ["the key has already been regenerated"];
    CONFLICT Conflict => "CONFLICT", ["the request conflicted with concurrent changes; retry it"];
    PAYLOAD_TOO_LARGE PayloadTooLarge(usize) => "PAYLOAD_TOO_LARGE",
        ["the request body exceeds {0} bytes"];
    PAYLOAD_TOO_LARGE BatchTooLarge => "BATCH_TOO_LARGE",
        ["a request may report at most {} tokens", crate::leaks::github::MAX_BATCH];
    UNSUPPORTED_MEDIA_TYPE UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
        ["the request body must be application/json"];
    UNPROCESSABLE_ENTITY InvalidBody(String) => "INVALID_BODY",
        ["the request body does not match the schema: {0}"];
    UNPROCESSABLE_ENTITY InvalidName(String) => "INVALID_NAME", ["{0}"];
    UNPROCESSABLE_ENTITY InvalidDescription => "INVALID_DESCRIPTION",
        ["description must be at most {} characters", MAX_DESCRIPTION_CHARS];
    UNPROCESSABLE_ENTITY InvalidPrefix => "INVALID_PREFIX",
        ["key_prefix must match [a-z][a-z0-9]{{0,15}}"];
    UNPROCESSABLE_ENTITY InvalidScope(String) => "INVALID_SCOPE", [
        "invalid scope {0:?}: scopes match [a-z0-9_.-]+(:[a-z0-9_.*-]+)* and are at most \
         {chars} characters, at most {count} of them",
        chars = MAX_SCOPE_LEN,
        count = MAX_SCOPES
    ];
    UNPROCESSABLE_ENTITY ScopeNotHeld(String) => "SCOPE_NOT_HELD",
        ["you cannot grant the scope {0:?}: your permissions do not include it"];
    UNPROCESSABLE_ENTITY InvalidExpiresAt(String) => "INVALID_EXPIRES_AT",
        ["expires_at must be an RFC 3339 date-time: {0}"];
    UNPROCESSABLE_ENTITY ExpiresAtInPast => "EXPIRES_AT_IN_PAST",
        ["expires_at must be in the future"];
    UNPROCESSABLE_ENTITY ExpiresAtTooFar(u32) => "EXPIRES_AT_TOO_FAR",
        ["expires_at must be at most {0} days from now"];
    UNPROCESSABLE_ENTITY InvalidGracePeriod => "INVALID_GRACE_PERIOD", [
        "grace_seconds must be between 0 and {} ({} days)",
        MAX_GRACE_SECONDS,
        MAX_GRACE_SECONDS / 86_400
    ];
    UNPROCESSABLE_ENTITY InvalidRateLimits(String) => "INVALID_RATE_LIMITS", ["{0}"];
    UNPROCESSABLE_ENTITY InvalidCredits(String) => "INVALID_CREDITS", ["{0}"];
    UNPROCESSABLE_ENTITY InvalidAllowedIps(String) => "INVALID_ALLOWED_IPS", ["{0}"];
    UNPROCESSABLE_ENTITY InvalidCost => "INVALID_COST",
        ["cost must be a whole number from 0 to {}", MAX_COST];
    UNPROCESSABLE_ENTITY InvalidSourceIp => "INVALID_SOURCE_IP",
        ["source_ip must be an IPv4 or IPv6 address"];
    UNPROCESSABLE_ENTITY InvalidWebhookUrl(String) => "INVALID_WEBHOOK_URL", ["{0}"];
    UNPROCESSABLE_ENTITY InvalidEventTypes(String) => "INVALID_EVENT_TYPES", ["{0}"];
    UNPROCESSABLE_ENTITY IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
        ["this Idempotency-Key was already used with a different request"];
    TOO_MANY_REQUESTS TooManyFailedVerifications(u64) => "TOO_MANY_FAILED_VERIFICATIONS",
        ["too many failed verifications from this source; retry after {0} seconds"];
    INTERNAL_SERVER_ERROR Internal(#[source] Cause) => "INTERNAL", ["internal error"];
    SERVICE_UNAVAILABLE StoreUnavailable(#[source] Cause) => "STORE_UNAVAILABLE",
        ["the store is unavailable; retry later"];
    SERVICE_UNAVAILABLE SecretScanningUnavailable => "SECRET_SCANNING_UNAVAILABLE",
        ["GitHub's public keys are not available to check this request; retry later"];
}

/// The field values `one_of_each()` fills in.
trait Sample {
    fn sample() -> Self;
}

macro_rules! sample_is_default {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample() -> Self {
                Self::default()
            }
        }
    )*};
}

sample_is_default!(String, u32, u64, usize);

impl Sample for Cause {
    fn sample() -> Self {
        "a sample cause".into()
    }
}

/// What keyward was doing when `source` failed: the first link of an
/// internal error's chain.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct Failure {
    context: &'static str,
    #[source]
    source: Cause,
}

impl From<StoreError> for ApiError {
    /// The store's error stays whole under the API's: the log shows it and
    /// every cause under it.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => ApiError::InvalidCursor,
            StoreError::Unavailable { .. } => ApiError::StoreUnavailable(Box::new(e)),
            StoreError::Internal { .. } => ApiError::Internal(Box::new(e)),
        }
    }
}

/// `error` and every cause under it, outermost first, joined by `: `
/// (a cause whose text the line already holds is left out).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

impl ApiError {
    /// A 500 for `source`, which failed while keyward was doing `context`.
    pub fn internal(context: &'static str, source: impl Into<Cause>) -> Self {
        ApiError::Internal(Box::new(Failure {
            context,
            source: source.into(),
        }))
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
                ApiError::ApplicationLimitReached(limit)
                | ApiError::KeyLimitReached(limit)
                | ApiError::WebhookLimitReached(limit) => Some(*limit),
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
        // The cause's whole chain, which the log's formats escape; the
        // problem below carries none of it.
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(code = self.code(), cause = %chain(cause.as_ref()), "internal error")
            }
            ApiError::StoreUnavailable(cause) => {
                tracing::error!(code = self.code(), cause = %chain(cause.as_ref()), "store unavailable")
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

impl From<crate::leaks::github::BatchRefusal> for ApiError {
    fn from(refusal: crate::leaks::github::BatchRefusal) -> Self {
        use crate::leaks::github::BatchRefusal;
        match refusal {
            BatchRefusal::NotJson(why) => ApiError::MalformedJson(why),
            BatchRefusal::NotABatch(why) => ApiError::InvalidBody(why),
            BatchRefusal::TooLarge => ApiError::BatchTooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

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
        let all = ApiError::one_of_each();
        let codes: std::collections::BTreeSet<&str> = all.iter().map(ApiError::code).collect();
        assert_eq!(codes.len(), all.len(), "every kind has its own code");
        // Each variant's discriminant once: the table names no variant twice.
        let kinds: std::collections::HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), all.len());
        assert_eq!(all.len(), 51);
    }

    #[test]
    fn messages_state_the_limits_from_their_constants() {
        assert!(
            ApiError::InvalidDescription
                .to_string()
                .contains(&MAX_DESCRIPTION_CHARS.to_string())
        );
        assert!(
            ApiError::InvalidGracePeriod
                .to_string()
                .contains("604800 (7 days)")
        );
        assert!(
            ApiError::InvalidScope("x".into())
                .to_string()
                .contains("at most 64 of them")
        );
    }

    #[test]
    fn internal_details_are_not_disclosed() {
        let problem = ApiError::Internal("disk I/O error at /secret/path".into()).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("/secret/path"));
    }

    #[test]
    fn causes_stay_in_the_chain_and_out_of_the_problem() {
        let io = std::io::Error::other("disk I/O error at /secret/path");
        for (store, status) in [
            (StoreError::internal("reading a key", io), 500),
            (
                StoreError::unavailable(
                    "SQLite is busy",
                    std::io::Error::other("disk I/O error at /secret/path"),
                ),
                503,
            ),
        ] {
            let api = ApiError::from(store);
            // ApiError -> StoreError -> the io::Error it was given.
            let under = api.source().expect("the store's error");
            assert!(under.downcast_ref::<StoreError>().is_some());
            let original = under.source().expect("the original cause");
            assert_eq!(
                original.downcast_ref::<std::io::Error>().map(|e| e.kind()),
                Some(std::io::ErrorKind::Other)
            );
            assert!(chain(&api).ends_with(": disk I/O error at /secret/path"));
            let problem = api.problem();
            assert_eq!(problem.status, status);
            let body = serde_json::to_string(&problem).unwrap();
            assert!(!body.contains("/secret/path"), "{body}");
            assert!(!body.contains("reading a key"), "{body}");
        }
    }

    #[test]
    fn internal_keeps_context_and_cause() {
        let api = ApiError::internal("sealing failed", std::io::Error::other("no entropy"));
        assert_eq!(chain(&api), "internal error: sealing failed: no entropy");
        let under = api.source().and_then(|e| e.source()).expect("the cause");
        assert!(under.downcast_ref::<std::io::Error>().is_some());
        assert!(!api.problem().detail.contains("no entropy"));
    }

    #[test]
    fn the_log_line_holds_the_whole_chain_escaped() {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = crate::logging::local_subscriber(
            move || writer.clone(),
            false,
            tracing_subscriber::EnvFilter::new("info"),
        );
        tracing::subscriber::with_default(subscriber, || {
            let cause = std::io::Error::other("disk failed\nforged line");
            let response =
                ApiError::from(StoreError::internal("reading a key", cause)).into_response();
            assert_eq!(response.status(), 500);
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(
            text.contains("cause=the store failed: reading a key: disk failed\\nforged line"),
            "{text:?}"
        );
    }
}
