//! The Lambda entry points. Each binary in `src/bin` is one line over these:
//! an HTTP function serves its own routes of the shared router; the
//! authorizer and the daily job take their own events.
//!
//! As in aws-lambda-rust-runtime's examples, the SDK clients and the service
//! are built once per container, in `main`, before the runtime loop. Each
//! `main` runs on tokio's current-thread runtime: Lambda hands a container
//! one event at a time, and the default runtime's worker threads would only
//! add their start-up to every cold start (BENCHMARKS.md, "Lambda").

use crate::auth::Caller;
use crate::aws::{self, EventBridgeBus};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::error::ApiError;
use crate::events::address::SystemResolver;
use crate::events::deliverer::Deliverer;
use crate::events::delivery::{ATTEMPT_TIMEOUT, Sender};
use crate::events::sealing::SealingKey;
use crate::events::stream::StreamHandler;
use crate::http::{AppState, Authenticate, router};
use crate::leaks::keyring::{GithubKeyring, KEYS_VAR};
use crate::secret::Secret;
use crate::service::{Service, VerifyContext, VerifyRequest};
use crate::store::dynamodb::DynamoStore;
use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use axum::http::request::Parts;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_http::request::RequestContext;
use lambda_http::{Error, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The caller from the claims that API Gateway's JWT authorizer verified and
/// put in the request context. Without them (a route not behind the
/// authorizer) there is no caller.
pub struct ApiGatewayClaims {
    pub account_claim: String,
}

impl Authenticate for ApiGatewayClaims {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError> {
        #[allow(irrefutable_let_patterns)] // one variant with only `apigw_http` enabled
        let Some(RequestContext::ApiGatewayV2(context)) = parts.extensions.get::<RequestContext>()
        else {
            return Err(ApiError::TokenMissing);
        };
        let claims = context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims)
            .ok_or(ApiError::TokenMissing)?;
        let claims: Map<String, Value> = claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Caller::from_claims(&claims, &self.account_claim)
    }
}

/// The service over the DynamoDB table, built once per container.
pub async fn service_from_env() -> Result<Service, Error> {
    let config = Config::from_env()?;
    let sdk = aws::load_config().await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), aws::table_from_env()?);
    Ok(Service::new(
        Arc::new(store),
        config,
        Arc::new(SystemClock),
        aws::notice_publisher(&sdk),
    ))
}

/// Runs one HTTP function: the shared router restricted to `function`'s
/// routes, behind API Gateway (payload format 2.0).
pub async fn run_http_function(function: &'static str) -> Result<(), Error> {
    crate::logging::init_json()?;
    let mut service = service_from_env().await?;
    // Only create-webhook seals signing secrets, so only it gets the key
    // (infra/template.yaml), and it does not start without one.
    if function == "create-webhook" {
        service = service.with_webhook_sealing(Arc::new(SealingKey::from_env()?));
    }
    // Only report-github-leak checks GitHub's signatures; it does not start
    // without their keys.
    if function == "report-github-leak" {
        let keyring = GithubKeyring::from_env()?
            .ok_or_else(|| format!("{KEYS_VAR} must hold GitHub's secret scanning public keys"))?;
        service = service.with_github_keys(Arc::new(keyring));
    }
    let service = Arc::new(service);
    service.spawn_usage_flusher();
    let account_claim = service.config().account_claim.clone();
    let state = AppState {
        service,
        auth: Arc::new(ApiGatewayClaims { account_claim }),
        verify_failures: None,
    };
    lambda_http::run(router(state, Some(function))).await
}

/// API Gateway HTTP API Lambda authorizer, simple response format.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimpleAuthorizerResponse {
    pub is_authorized: bool,
    pub context: Map<String, Value>,
}

/// The scopes a platform's route requires, from `KEYWARD_AUTHORIZER_SCOPES`:
/// a JSON object from route key (`"GET /sims/{id}"`) to scopes, with
/// `"$default"` for routes not listed.
pub struct RouteScopes(HashMap<String, Vec<String>>);

impl RouteScopes {
    pub fn from_env() -> Result<Self, String> {
        let Ok(json) = std::env::var("KEYWARD_AUTHORIZER_SCOPES") else {
            return Ok(RouteScopes(HashMap::new()));
        };
        let map: HashMap<String, Vec<String>> = serde_json::from_str(&json).map_err(|e| {
            format!("KEYWARD_AUTHORIZER_SCOPES must map route keys to scope lists: {e}")
        })?;
        for scope in map.values().flatten() {
            if !wasm_validator::is_valid_scope(scope) {
                return Err(format!(
                    "KEYWARD_AUTHORIZER_SCOPES: {scope:?} is not a valid scope"
                ));
            }
        }
        Ok(RouteScopes(map))
    }

    fn for_route(&self, route_key: Option<&str>) -> Vec<String> {
        route_key
            .and_then(|k| self.0.get(k))
            .or_else(|| self.0.get("$default"))
            .cloned()
            .unwrap_or_default()
    }
}

/// Allows a request whose key verifies from the request's source address
/// (and, for a metered key, is debited 1), passing key id, account,
/// application and scopes on as context; denies every other (failing
/// closed when the store cannot answer).
pub async fn authorize(
    service: &Service,
    scopes: &RouteScopes,
    request: &ApiGatewayV2CustomAuthorizerV2Request,
) -> SimpleAuthorizerResponse {
    let presented = request
        .headers
        .get("authorization")
        .or_else(|| request.headers.get("x-api-key"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            request
                .identity_source
                .as_ref()
                .and_then(|s| s.first().cloned())
        })
        .unwrap_or_default();
    let verify = VerifyRequest {
        key: Secret::new(presented),
        scopes: scopes.for_route(request.route_key.as_deref()),
    };
    // The address API Gateway saw the request come from; one the parser
    // cannot read is unknown, which a key with allowed addresses refuses.
    // Each authorized request costs 1.
    let call = VerifyContext {
        source_ip: request
            .request_context
            .http
            .source_ip
            .as_deref()
            .and_then(wasm_validator::parse_source_ip),
        cost: 1,
    };
    let mut context = Map::new();
    match service.verify_in(&verify, call).await.map(|a| a.verdict) {
        Ok(verdict) if verdict.valid => {
            context.insert("key_id".into(), verdict.key_id.unwrap_or_default().into());
            context.insert("account".into(), verdict.account.unwrap_or_default().into());
            context.insert(
                "application_id".into(),
                verdict.application_id.unwrap_or_default().into(),
            );
            context.insert(
                "scopes".into(),
                verdict.scopes.unwrap_or_default().join(" ").into(),
            );
            SimpleAuthorizerResponse {
                is_authorized: true,
                context,
            }
        }
        Ok(verdict) => {
            // API Gateway drops a denial's context: the log is where a
            // platform sees why a key was refused (the code, never the key).
            tracing::info!(
                code = verdict.code.as_str(),
                key_id = verdict.key_id.as_deref(),
                "denied"
            );
            context.insert("code".into(), verdict.code.as_str().into());
            SimpleAuthorizerResponse {
                is_authorized: false,
                context,
            }
        }
        Err(e) => {
            let cause = crate::error::chain(&e);
            tracing::error!(code = e.code(), %cause, "authorizer could not verify; denying");
            context.insert("code".into(), e.code().into());
            SimpleAuthorizerResponse {
                is_authorized: false,
                context,
            }
        }
    }
}

pub async fn run_authorizer() -> Result<(), Error> {
    crate::logging::init_json()?;
    let service = Arc::new(service_from_env().await?);
    service.spawn_usage_flusher();
    let scopes = Arc::new(RouteScopes::from_env()?);
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let (service, scopes) = (service.clone(), scopes.clone());
            async move { Ok::<_, Error>(authorize(&service, &scopes, &event.payload).await) }
        },
    ))
    .await
}

/// The daily job, on an EventBridge schedule (the event's content is not
/// needed: the job looks at the clock).
pub async fn run_notify_expiring() -> Result<(), Error> {
    crate::logging::init_json()?;
    let service = Arc::new(service_from_env().await?);
    lambda_http::lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            let report = service
                .notify_expiring()
                .await
                .map_err(|e| crate::error::chain(&e))?;
            tracing::info!(?report, "expiry notices");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}

/// What `deliver-events` and `retry-deliveries` share: the store, and a
/// sender with the sealing key that opens signing secrets.
async fn deliverer_from_env() -> Result<(Arc<Deliverer>, SdkConfig), Error> {
    let config = Config::from_env()?;
    let sdk = aws::load_config().await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), aws::table_from_env()?);
    let sender = Sender::new(
        Arc::new(SystemResolver),
        config.webhook_allow_insecure,
        ATTEMPT_TIMEOUT,
    )?;
    let deliverer = Deliverer::new(
        Arc::new(store),
        sender,
        Arc::new(SealingKey::from_env()?),
        Arc::new(SystemClock),
    );
    Ok((Arc::new(deliverer), sdk))
}

/// When an invocation must start its last webhook attempt: its deadline
/// less one attempt's timeout and a margin, so it returns in time and what
/// it did not attempt stays due.
fn attempts_stop_at(context: &lambda_http::lambda_runtime::Context) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = std::time::Duration::from_millis(context.deadline.saturating_sub(now_ms));
    let budget = left
        .checked_sub(ATTEMPT_TIMEOUT + std::time::Duration::from_secs(5))
        .unwrap_or_default();
    Some(std::time::Instant::now() + budget)
}

/// `deliver-events`: the table's stream (new audit items) to EventBridge
/// and the webhooks, answering a partial batch response.
pub async fn run_deliver_events() -> Result<(), Error> {
    crate::logging::init_json()?;
    let (deliverer, sdk) = deliverer_from_env().await?;
    let bus = EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        EventBridgeBus::bus_from_env()?,
    );
    let handler = Arc::new(StreamHandler::new(deliverer, Arc::new(bus)));
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let handler = handler.clone();
        async move {
            let stop_at = attempts_stop_at(&event.context);
            Ok::<_, Error>(handler.handle(&event.payload, stop_at).await)
        }
    }))
    .await
}

/// `retry-deliveries`, every minute: the deliveries whose next attempt is
/// due, attempted before the invocation returns.
pub async fn run_retry_deliveries() -> Result<(), Error> {
    crate::logging::init_json()?;
    let (deliverer, _) = deliverer_from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deliverer = deliverer.clone();
        async move {
            let attempted = deliverer
                .deliver_due(attempts_stop_at(&event.context))
                .await
                .map_err(|e| crate::error::chain(&e))?;
            Ok::<_, Error>(serde_json::json!({ "attempted": attempted }))
        }
    }))
    .await
}
