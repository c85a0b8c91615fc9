//! The HTTP API: one axum router for every route of docs/ARCHITECTURE.md.
//!
//! The route table names each route's function, so the local server serves
//! them all and each Lambda function serves its own with the same handlers.
//! Extractors turn every bad request into a problem from `error`; handlers
//! only translate between HTTP and the service.

use crate::abuse::FailedVerificationLimit;
use crate::auth::{Caller, JwtVerifier};
use crate::error::ApiError;
use crate::idempotency::{self, Idempotency, Reply};
use crate::service::{
    CreateApplication, CreateKey, PageQuery, RegenerateKey, Service, UpdateFields, VerifyRequest,
};
use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Path, Query,
    Request, State,
};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Turns a request into a caller: the local server verifies a bearer JWT;
/// in AWS the API's JWT authorizer has verified it and the claims come from
/// the request context.
pub trait Authenticate: Send + Sync {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError>;
}

/// `Authorization: Bearer <JWT>`, verified here.
pub struct BearerJwt {
    pub verifier: JwtVerifier,
    pub account_claim: String,
}

impl Authenticate for BearerJwt {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::TokenMissing)?
            .to_str()
            .map_err(|_| ApiError::TokenInvalid("the Authorization header is not ASCII".into()))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ApiError::TokenMissing),
        };
        let claims = self.verifier.verify(token)?;
        Caller::from_claims(&claims, &self.account_claim)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub auth: Arc<dyn Authenticate>,
    /// The local server's limit on failed verifications per source; `None`
    /// in Lambda, where API Gateway throttles and there is no peer address.
    pub verify_failures: Option<Arc<FailedVerificationLimit>>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts)
    }
}

/// The peer's address when the server records it (the local server does;
/// behind API Gateway there is none).
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(PeerIp(peer.map(|c| c.0.ip())))
    }
}

/// A path id; a segment that cannot be decoded is simply not found.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

/// `?limit=&cursor=`.
pub struct Paging(pub PageQuery);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Paging(q))
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))
    }
}

/// What a mutation's Idempotency-Key is bound to: method, path, header.
pub struct MutationContext {
    method: Method,
    path: String,
    idempotency_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MutationContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let idempotency_key = match parts.headers.get(idempotency::HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::InvalidIdempotencyKey)?
                    .to_owned(),
            ),
        };
        Ok(MutationContext {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            idempotency_key,
        })
    }
}

impl MutationContext {
    fn idempotency(&self, caller: &Caller, body: &[u8]) -> Result<Option<Idempotency>, ApiError> {
        self.idempotency_key
            .as_deref()
            .map(|key| {
                let fingerprint = idempotency::fingerprint(self.method.as_str(), &self.path, body);
                Idempotency::new(key, caller, fingerprint)
            })
            .transpose()
    }
}

/// A JSON body, with its raw bytes for the idempotency fingerprint. An empty
/// body reads as `T::default()` where `T` allows it ([`OptionalBody`]).
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

async fn read_body(req: Request) -> Result<(Bytes, bool), ApiError> {
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    let bytes = Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(MAX_BODY_BYTES)
        } else {
            ApiError::MalformedJson("the body could not be read".into())
        }
    })?;
    if !bytes.is_empty() && json_type != Some(true) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok((bytes, json_type.unwrap_or(false)))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::InvalidBody(e.to_string()),
        _ => ApiError::MalformedJson(e.to_string()),
    })?;
    // serde's derived structs also read a JSON array, field by field in
    // order (`["name", "description"]`); every body here is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".into(),
        ));
    }
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (raw, _) = read_body(req).await?;
        if raw.is_empty() {
            return Err(ApiError::MalformedJson("a JSON body is required".into()));
        }
        Ok(JsonBody {
            value: parse_json(&raw)?,
            raw,
        })
    }
}

/// A JSON body that may be omitted.
pub struct OptionalBody<T>(pub JsonBody<T>);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (raw, _) = read_body(req).await?;
        let value = if raw.is_empty() {
            T::default()
        } else {
            parse_json(&raw)?
        };
        Ok(OptionalBody(JsonBody { value, raw }))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (status, Json(self.body)).into_response()
    }
}

type Answer<T> = Result<T, ApiError>;

// ---- handlers ------------------------------------------------------------

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn create_application(
    State(s): State<AppState>,
    caller: Caller,
    ctx: MutationContext,
    body: JsonBody<CreateApplication>,
) -> Answer<Reply> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    s.service
        .create_application(&caller, &body.value, idem.as_ref())
        .await
}

async fn list_applications(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_applications(&caller, &q).await?))
}

async fn get_application(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_application(&caller, &id).await?))
}

async fn update_application(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: JsonBody<UpdateFields>,
) -> Answer<Reply> {
    s.service
        .update_application(&caller, &id, &body.value)
        .await
}

async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
    body: JsonBody<CreateKey>,
) -> Answer<Reply> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    s.service
        .create_key(&caller, &id, &body.value, idem.as_ref())
        .await
}

async fn list_keys(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_keys(&caller, &id, &q).await?))
}

async fn get_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_key(&caller, &id).await?))
}

async fn update_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: JsonBody<UpdateFields>,
) -> Answer<Reply> {
    s.service.update_key(&caller, &id, &body.value).await
}

/// Lifecycle POSTs take no fields, but accept `{}`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

async fn regenerate_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
    OptionalBody(body): OptionalBody<RegenerateKey>,
) -> Answer<Reply> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    s.service
        .regenerate_key(&caller, &id, &body.value, idem.as_ref())
        .await
}

/// A lifecycle POST: no fields, an optional Idempotency-Key.
macro_rules! lifecycle_handler {
    ($($name:ident),*) => {$(
        async fn $name(
            State(s): State<AppState>,
            caller: Caller,
            Id(id): Id,
            ctx: MutationContext,
            OptionalBody(body): OptionalBody<EmptyBody>,
        ) -> Answer<Reply> {
            let idem = ctx.idempotency(&caller, &body.raw)?;
            s.service.$name(&caller, &id, idem.as_ref()).await
        }
    )*};
}

lifecycle_handler!(revoke_application, disable_key, enable_key, revoke_key);

async fn get_key_record(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_key_record(&caller, &id).await?))
}

async fn verify_key(
    State(s): State<AppState>,
    PeerIp(source): PeerIp,
    body: JsonBody<VerifyRequest>,
) -> Answer<impl IntoResponse> {
    let limited = s.verify_failures.as_deref().zip(source);
    if let Some((limit, ip)) = limited
        && let Some(seconds) = limit.retry_after(ip, Instant::now())
    {
        return Err(ApiError::TooManyFailedVerifications(seconds));
    }
    let verdict = s.service.verify(&body.value).await?;
    if let Some((limit, ip)) = limited
        && !verdict.valid
    {
        limit.record_failure(ip, Instant::now());
    }
    Ok(Json(verdict))
}

async fn list_notifications(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_notifications(&caller, &q).await?))
}

async fn list_audit(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_audit(&caller, &q).await?))
}

async fn offboard_user(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
) -> Answer<Reply> {
    let idem = ctx.idempotency(&caller, b"")?;
    s.service.offboard_user(&caller, &id, idem.as_ref()).await
}

async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

// ---- the route table -----------------------------------------------------

/// One log line per request: the route template (ids stay out), status and
/// time taken. Headers and bodies, where tokens and keys travel, never.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// One route: method, path (axum syntax), the function that serves it.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub function: &'static str,
    handler: MethodRouter<AppState>,
}

fn route(
    method: Method,
    path: &'static str,
    function: &'static str,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        function,
        handler,
    }
}

/// Every HTTP route of docs/ARCHITECTURE.md and the function that serves it.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/healthz", "healthz", get(healthz)),
        route(
            M::POST,
            "/applications",
            "create-application",
            post(create_application),
        ),
        route(
            M::GET,
            "/applications",
            "list-applications",
            get(list_applications),
        ),
        route(
            M::GET,
            "/applications/{id}",
            "get-application",
            get(get_application),
        ),
        route(
            M::PATCH,
            "/applications/{id}",
            "update-application",
            patch(update_application),
        ),
        route(
            M::POST,
            "/applications/{id}/revoke",
            "revoke-application",
            post(revoke_application),
        ),
        route(
            M::POST,
            "/applications/{id}/keys",
            "create-key",
            post(create_key),
        ),
        route(
            M::GET,
            "/applications/{id}/keys",
            "list-keys",
            get(list_keys),
        ),
        route(M::GET, "/keys/{id}", "get-key", get(get_key)),
        route(M::PATCH, "/keys/{id}", "update-key", patch(update_key)),
        route(
            M::POST,
            "/keys/{id}/disable",
            "disable-key",
            post(disable_key),
        ),
        route(M::POST, "/keys/{id}/enable", "enable-key", post(enable_key)),
        route(
            M::POST,
            "/keys/{id}/regenerate",
            "regenerate-key",
            post(regenerate_key),
        ),
        route(M::POST, "/keys/{id}/revoke", "revoke-key", post(revoke_key)),
        route(M::DELETE, "/keys/{id}", "revoke-key", delete(revoke_key)),
        route(
            M::GET,
            "/keys/{id}/record",
            "get-key-record",
            get(get_key_record),
        ),
        route(M::POST, "/verify", "verify-key", post(verify_key)),
        route(
            M::GET,
            "/notifications",
            "list-notifications",
            get(list_notifications),
        ),
        route(M::GET, "/audit", "list-audit", get(list_audit)),
        route(
            M::DELETE,
            "/users/{id}",
            "offboard-user",
            delete(offboard_user),
        ),
    ]
}

/// The router with every route (`function: None`) or one function's.
pub fn router(state: AppState, function: Option<&str>) -> Router {
    let mut router = Router::new();
    for r in routes() {
        if function.is_none_or(|f| f == r.function) {
            router = router.route(r.path, r.handler);
        }
    }
    // The local server also serves the web console; no Lambda function does.
    if function.is_none() {
        router = router.merge(crate::console::router());
    }
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .with_state(state)
}
