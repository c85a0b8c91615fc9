//! The handlers: each reads the request, calls the service, and picks the
//! status code (201 for what a POST creates, 200 otherwise).

use super::bodies::{
    CreateApplicationBody, CreateKeyBody, CreateWebhookBody, EmptyBody, LeakReportBody,
    RegenerateKeyBody, UpdateFieldsBody, UpdateKeyBody, UpdateWebhookBody, VerifyBody,
};
use super::extract::{
    AppState, Id, JsonBody, MutationContext, OptionalBody, Paging, PeerIp, SignedBody,
};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::time::Instant;
use wasm_validator::VerdictCode;

type Answer<T> = Result<T, ApiError>;

/// A new object: 201 with its body.
fn created<T: serde::Serialize>(value: T) -> impl IntoResponse {
    (StatusCode::CREATED, Json(value))
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `infra/openapi.yaml`, compiled into the binary and read once, as JSON.
static OPENAPI_JSON: std::sync::LazyLock<Result<Vec<u8>, String>> =
    std::sync::LazyLock::new(|| {
        let document: serde_json::Value =
            serde_yaml_ng::from_str(include_str!("../../../infra/openapi.yaml"))
                .map_err(|e| e.to_string())?;
        serde_json::to_vec(&document).map_err(|e| e.to_string())
    });

/// The OpenAPI document this server implements, for generators and tools.
pub(super) async fn openapi_document() -> Answer<impl IntoResponse> {
    match &*OPENAPI_JSON {
        Ok(json) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json.clone(),
        )),
        Err(e) => Err(ApiError::internal(
            "reading the OpenAPI document",
            e.clone(),
        )),
    }
}

pub(super) async fn create_application(
    State(s): State<AppState>,
    caller: Caller,
    ctx: MutationContext,
    body: JsonBody<CreateApplicationBody>,
) -> Answer<impl IntoResponse> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    let input = body.value.into();
    let app = s
        .service
        .create_application(&caller, &input, idem.as_ref())
        .await?;
    Ok(created(app))
}

pub(super) async fn list_applications(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_applications(&caller, &q).await?))
}

pub(super) async fn get_application(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_application(&caller, &id).await?))
}

pub(super) async fn update_application(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: JsonBody<UpdateFieldsBody>,
) -> Answer<impl IntoResponse> {
    let input = body.value.into();
    Ok(Json(
        s.service.update_application(&caller, &id, &input).await?,
    ))
}

pub(super) async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
    body: JsonBody<CreateKeyBody>,
) -> Answer<impl IntoResponse> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    let (input, usage) = body.value.into_input()?;
    let key = s
        .service
        .create_key_with_usage(&caller, &id, &input, &usage, idem.as_ref())
        .await?;
    Ok(created(key))
}

pub(super) async fn list_keys(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_keys(&caller, &id, &q).await?))
}

pub(super) async fn get_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_key(&caller, &id).await?))
}

pub(super) async fn update_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: JsonBody<UpdateKeyBody>,
) -> Answer<impl IntoResponse> {
    let (input, usage) = body.value.into_input()?;
    Ok(Json(
        s.service
            .update_key_with_usage(&caller, &id, &input, &usage)
            .await?,
    ))
}

pub(super) async fn regenerate_key(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
    OptionalBody(body): OptionalBody<RegenerateKeyBody>,
) -> Answer<impl IntoResponse> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    let input = body.value.into();
    let key = s
        .service
        .regenerate_key(&caller, &id, &input, idem.as_ref())
        .await?;
    Ok(created(key))
}

/// A lifecycle POST: no fields, an optional Idempotency-Key, 200 with the
/// object as it now is.
macro_rules! lifecycle_handler {
    ($($name:ident),*) => {$(
        pub(super) async fn $name(
            State(s): State<AppState>,
            caller: Caller,
            Id(id): Id,
            ctx: MutationContext,
            OptionalBody(body): OptionalBody<EmptyBody>,
        ) -> Answer<impl IntoResponse> {
            let idem = ctx.idempotency(&caller, &body.raw)?;
            Ok(Json(s.service.$name(&caller, &id, idem.as_ref()).await?))
        }
    )*};
}

lifecycle_handler!(revoke_application, disable_key, enable_key, revoke_key);

pub(super) async fn get_key_record(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_key_record(&caller, &id).await?))
}

/// The local server's failed-verification limit of this request's source,
/// or 429 while the source is over it.
fn source_limit(
    s: &AppState,
    source: Option<std::net::IpAddr>,
) -> Answer<Option<(&crate::abuse::FailedVerificationLimit, std::net::IpAddr)>> {
    let limited = s.verify_failures.as_deref().zip(source);
    if let Some((limit, ip)) = limited
        && let Some(seconds) = limit.retry_after(ip, Instant::now())
    {
        return Err(ApiError::TooManyFailedVerifications(seconds));
    }
    Ok(limited)
}

pub(super) async fn verify_key(
    State(s): State<AppState>,
    PeerIp(source): PeerIp,
    body: JsonBody<VerifyBody>,
) -> Answer<impl IntoResponse> {
    let limited = source_limit(&s, source)?;
    let (request, context) = body.value.into_input()?;
    let answer = s.service.verify_in(&request, context).await?;
    // RATE_LIMITED and USAGE_EXCEEDED are a metered key's answers, working
    // as set, not guesses: counting them would let one busy key shut its
    // platform's shared address out of every verification.
    let failed = !answer.verdict.valid
        && !matches!(
            answer.verdict.code,
            VerdictCode::RateLimited | VerdictCode::UsageExceeded
        );
    if let Some((limit, ip)) = limited
        && failed
    {
        limit.record_failure(ip, Instant::now());
    }
    Ok(Json(answer))
}

pub(super) async fn list_notifications(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_notifications(&caller, &q).await?))
}

pub(super) async fn list_audit(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_audit(&caller, &q).await?))
}

pub(super) async fn offboard_user(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ctx: MutationContext,
) -> Answer<impl IntoResponse> {
    let idem = ctx.idempotency(&caller, b"")?;
    Ok(Json(
        s.service.offboard_user(&caller, &id, idem.as_ref()).await?,
    ))
}

pub(super) async fn create_webhook(
    State(s): State<AppState>,
    caller: Caller,
    ctx: MutationContext,
    body: JsonBody<CreateWebhookBody>,
) -> Answer<impl IntoResponse> {
    let idem = ctx.idempotency(&caller, &body.raw)?;
    let input = body.value.into();
    let webhook = s
        .service
        .create_webhook(&caller, &input, idem.as_ref())
        .await?;
    Ok(created(webhook))
}

pub(super) async fn list_webhooks(
    State(s): State<AppState>,
    caller: Caller,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.list_webhooks(&caller, &q).await?))
}

pub(super) async fn get_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    Ok(Json(s.service.get_webhook(&caller, &id).await?))
}

pub(super) async fn update_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: JsonBody<UpdateWebhookBody>,
) -> Answer<impl IntoResponse> {
    let input = body.value.into();
    Ok(Json(s.service.update_webhook(&caller, &id, &input).await?))
}

/// 204: the webhook is gone.
pub(super) async fn delete_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Answer<impl IntoResponse> {
    s.service.delete_webhook(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list_webhook_deliveries(
    State(s): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Paging(q): Paging,
) -> Answer<impl IntoResponse> {
    Ok(Json(
        s.service.list_webhook_deliveries(&caller, &id, &q).await?,
    ))
}

/// GitHub's secret scanning partner endpoint: the labels, 200.
pub(super) async fn report_github_leak(
    State(s): State<AppState>,
    signed: SignedBody,
) -> Answer<impl IntoResponse> {
    let labels = s
        .service
        .report_github_matches(
            signed.identifier.as_deref(),
            signed.signature.as_deref(),
            &signed.body,
        )
        .await?;
    Ok(Json(labels))
}

/// Open leak reports: 202 and how many keys arrived, whatever they were.
/// Every key reported counts against the source's failed-verification
/// limit, so reports cannot probe keys faster than verifications.
pub(super) async fn report_leaked_keys(
    State(s): State<AppState>,
    PeerIp(source): PeerIp,
    body: JsonBody<LeakReportBody>,
) -> Answer<impl IntoResponse> {
    let limited = source_limit(&s, source)?;
    let (keys, url) = body.value.into_parts()?;
    if let Some((limit, ip)) = limited {
        for _ in &keys {
            limit.record_failure(ip, Instant::now());
        }
    }
    let received = s.service.report_leaked_keys(&keys, url.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "received": received })),
    ))
}
