//! The HTTP API: one axum router for every route of docs/ARCHITECTURE.md.
//!
//! The route table names each route's function, so the local server serves
//! them all and each Lambda function serves its own with the same handlers.
//! Extractors (`extract`) turn every bad request into a problem from
//! `error`; request bodies (`bodies`) are the wire types; handlers
//! (`handlers`) only translate between HTTP and the service and pick the
//! status codes.

mod bodies;
mod extract;
mod handlers;

pub use extract::{
    AppState, Authenticate, BearerJwt, Id, JsonBody, MAX_BODY_BYTES, MutationContext, OptionalBody,
    Paging, PeerIp, SignedBody,
};

use crate::error::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use handlers::*;
use tower_http::catch_panic::CatchPanicLayer;

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

/// Every HTTP route and the function that serves it.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/healthz", "healthz", get(healthz)),
        route(M::GET, "/openapi.json", "openapi", get(openapi_document)),
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
        route(M::POST, "/webhooks", "create-webhook", post(create_webhook)),
        route(M::GET, "/webhooks", "list-webhooks", get(list_webhooks)),
        route(M::GET, "/webhooks/{id}", "get-webhook", get(get_webhook)),
        route(
            M::PATCH,
            "/webhooks/{id}",
            "update-webhook",
            patch(update_webhook),
        ),
        route(
            M::DELETE,
            "/webhooks/{id}",
            "delete-webhook",
            delete(delete_webhook),
        ),
        route(
            M::GET,
            "/webhooks/{id}/deliveries",
            "list-webhook-deliveries",
            get(list_webhook_deliveries),
        ),
        route(
            M::POST,
            "/secret-scanning/github",
            "report-github-leak",
            // GitHub's batches are larger than a management body.
            post(report_github_leak)
                .layer(DefaultBodyLimit::max(crate::leaks::github::MAX_BODY_BYTES)),
        ),
        route(
            M::POST,
            "/keys/leaked",
            "report-leaked-keys",
            post(report_leaked_keys),
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
