//! Faults between keyward and DynamoDB: a fault-injecting proxy on loopback
//! (functions/tests/support/fault_proxy.rs) in front of moto_server, under the
//! DynamoDB store with keyward's SDK settings, and under the real Lambda
//! binaries (real API Gateway v2 and authorizer event JSON).
//!
//! What must hold: verification and the authorizer fail closed (503
//! `STORE_UNAVAILABLE`, deny), bounded retries and timeouts (no hang), no
//! acknowledged write lost, none applied twice, limits exact.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/lambda_runtime_api.rs"]
mod lambda_runtime_api;
#[path = "support/moto.rs"]
mod moto;

use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use fault_proxy::{Fault, FaultProxy};
use keyward::auth::Caller;
use keyward::aws::{MAX_ATTEMPTS, OPERATION_TIMEOUT};
use keyward::clock::SystemClock;
use keyward::config::Config;
use keyward::error::ApiError;
use keyward::idempotency::{self, Idempotency};
use keyward::secret::Secret;
use keyward::service::{CreateApplication, LogPublisher, Service, VerifyRequest};
use keyward::store::Store;
use keyward::store::dynamodb::DynamoStore;
use lambda_runtime_api::{LambdaProcess, Outcome};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_validator::VerdictCode;

const HTTP_EVENT: &str = include_str!("fixtures/apigw-v2-http-request.json");
const AUTHORIZER_EVENT: &str = include_str!("fixtures/apigw-v2-authorizer-request.json");

/// Longer than an attempt's timeout, so that every attempt of a call held
/// this long times out.
const HANG: Duration = Duration::from_secs(8);

/// The faults every read must survive by failing closed, by name.
fn read_faults() -> Vec<(&'static str, Fault)> {
    vec![
        (
            "ProvisionedThroughputExceeded",
            Fault::PROVISIONED_THROUGHPUT,
        ),
        ("ThrottlingException", Fault::THROTTLING),
        ("500 InternalServerError", Fault::INTERNAL_SERVER_ERROR),
        ("bare 503", Fault::Bare(503)),
        ("connection reset", Fault::Reset),
        ("answer cut off", Fault::TruncateResponse),
        ("held past the timeout", Fault::Delay(HANG)),
    ]
}

/// A client through the proxy with keyward's retry and timeout settings,
/// and a retry token bucket of its own (the SDK shares one per partition
/// in a process, and these tests spend many retries).
fn client_via(proxy: &FaultProxy) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(proxy.url())
        .region(Region::new(moto::REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .http_client(keyward::aws::http_client())
        .retry_config(keyward::aws::retry_config())
        .timeout_config(keyward::aws::timeout_config())
        .retry_partition(RetryPartition::new(moto::unique("faults")))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn service(client: aws_sdk_dynamodb::Client, table: &str, config: Config) -> Service {
    Service::new(
        Arc::new(DynamoStore::new(client, table)),
        config,
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    )
}

/// The administrator of "acme", signed in with MFA.
fn alice() -> Caller {
    Caller {
        mfa: true,
        ..fixtures::admin("alice", "acme")
    }
}

/// A table with one application; the direct (fault-free) store and
/// service, and a proxy in front of moto.
struct Setup {
    table: String,
    store: DynamoStore,
    direct: Service,
    app: String,
    proxy: FaultProxy,
}

async fn setup() -> Setup {
    let (client, table) = moto::table().await;
    let direct = service(client.clone(), &table, Config::default());
    let input = CreateApplication {
        key_prefix: Some("acme".into()),
        ..fixtures::application("platform")
    };
    let reply = direct
        .create_application(&alice(), &input, None)
        .await
        .unwrap();
    Setup {
        store: DynamoStore::new(client, &table),
        app: reply.id.clone(),
        table,
        direct,
        proxy: FaultProxy::start(&moto::endpoint()).await,
    }
}

impl Setup {
    fn via_proxy(&self, config: Config) -> Service {
        service(client_via(&self.proxy), &self.table, config)
    }

    /// Key ids in the store for the application, read without faults.
    async fn stored_keys(&self) -> BTreeSet<String> {
        self.stored_names().await.into_keys().collect()
    }

    /// Name of each stored key, by id.
    async fn stored_names(&self) -> BTreeMap<String, String> {
        let keys = self.store.list_application_keys(&self.app).await.unwrap();
        keys.into_iter().map(|k| (k.id, k.name)).collect()
    }

    async fn verify_directly(&self, secret: &str) -> VerdictCode {
        let request = VerifyRequest {
            key: Secret::new(secret.to_owned()),
            scopes: Vec::new(),
        };
        self.direct.verify(&request).await.unwrap().code
    }
}

fn key_id_and_secret(body: &Value) -> (String, String) {
    (
        body["key"]["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// The `ClientRequestToken` of each `TransactWriteItems` the proxy saw.
fn request_tokens(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .seen_of("TransactWriteItems")
        .iter()
        .map(|seen| {
            let body: Value = serde_json::from_str(&seen.body).unwrap();
            body["ClientRequestToken"].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_fails_closed_within_bounded_attempts_on_every_fault() {
    if !moto::available() {
        return;
    }
    let setup = setup().await;
    let reply = setup
        .direct
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .unwrap();
    let (_, secret) = key_id_and_secret(&serde_json::to_value(&reply).unwrap());
    let verifier = setup.via_proxy(Config::default());
    let request = VerifyRequest {
        key: Secret::new(secret.to_owned()),
        scopes: Vec::new(),
    };
    for (name, fault) in read_faults() {
        setup.proxy.repeat("GetItem", [fault]);
        let before = setup.proxy.count("GetItem");
        let started = Instant::now();
        let outcome = verifier.verify(&request).await;
        let took = started.elapsed();
        match outcome {
            Err(ApiError::StoreUnavailable(_)) => {}
            Err(other) => panic!("{name}: {} instead of STORE_UNAVAILABLE", other.code()),
            Ok(verdict) => panic!("{name}: a verdict ({:?}) without the store", verdict.code),
        }
        let attempts = setup.proxy.count("GetItem") - before;
        assert!(
            (1..=MAX_ATTEMPTS as usize).contains(&attempts),
            "{name}: {attempts} attempts"
        );
        assert!(
            took < OPERATION_TIMEOUT + Duration::from_millis(500),
            "{name}: took {took:?}"
        );
        setup.proxy.clear();
    }
    // The same client verifies again once the store answers.
    assert_eq!(
        verifier.verify(&request).await.unwrap().code,
        VerdictCode::Valid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttled_writes_are_retried_a_bounded_number_of_times() {
    if !moto::available() {
        return;
    }
    let setup = setup().await;
    let creator = setup.via_proxy(Config::default());
    // Two throttled attempts, then one that passes: the SDK's retries
    // absorb them.
    setup.proxy.next(
        "TransactWriteItems",
        [Fault::PROVISIONED_THROUGHPUT, Fault::THROTTLING],
    );
    let reply = creator
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .unwrap();
    assert_eq!(setup.proxy.count("TransactWriteItems"), 3);
    // Throttled on every attempt: 503 after MAX_ATTEMPTS, nothing written.
    setup
        .proxy
        .repeat("TransactWriteItems", [Fault::THROTTLING]);
    let error = creator
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .err()
        .expect("a throttled create fails");
    assert_eq!(error.code(), "STORE_UNAVAILABLE");
    assert_eq!(
        setup.proxy.count("TransactWriteItems"),
        3 + MAX_ATTEMPTS as usize
    );
    let (id, _) = key_id_and_secret(&serde_json::to_value(&reply).unwrap());
    assert_eq!(setup.stored_keys().await, BTreeSet::from([id]));
}

/// The SDK resends a create whose answer was lost; moto (which ignores
/// `ClientRequestToken`) refuses the replay's conditions. The store must
/// recognise its own applied commit, not re-plan a second key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_whose_answer_is_lost_creates_one_key_and_answers_it() {
    if !moto::available() {
        return;
    }
    let setup = setup().await;
    let creator = setup.via_proxy(Config::default());
    setup
        .proxy
        .next("TransactWriteItems", [Fault::LoseResponse]);
    let reply = creator
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .unwrap();
    let (id, secret) = key_id_and_secret(&serde_json::to_value(&reply).unwrap());
    assert_eq!(setup.stored_keys().await, BTreeSet::from([id]));
    assert_eq!(setup.verify_directly(&secret).await, VerdictCode::Valid);
    // One request, resent with the same token by the SDK.
    let tokens = request_tokens(&setup.proxy);
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(
        !tokens[0].is_empty() && tokens[0] == tokens[1],
        "{tokens:?}"
    );
}

/// DynamoDB answers `TransactionInProgressException` to a replayed token
/// while an earlier attempt of it is still being applied. The SDK retries
/// it with the same token; when its attempts run out the earlier attempt
/// may still land, so the outcome is unknown: 503, not a conflict that the
/// service would re-plan into a second key beside the one landing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_still_in_progress_is_resent_and_never_replanned() {
    if !moto::available() {
        return;
    }
    const IN_PROGRESS: &str = "TransactionInProgressException";
    const LANDS_AFTER: Duration = Duration::from_millis(2_000);
    let setup = setup().await;
    let creator = setup.via_proxy(Config::default());
    // Once, after applying: the SDK's resend finds it applied.
    setup.proxy.next(
        "TransactWriteItems",
        [Fault::ErrorAfterApply {
            status: 400,
            error_type: IN_PROGRESS,
        }],
    );
    let reply = creator
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .unwrap();
    let (first, _) = key_id_and_secret(&serde_json::to_value(&reply).unwrap());
    assert_eq!(setup.stored_keys().await, BTreeSet::from([first.clone()]));
    let tokens = request_tokens(&setup.proxy);
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[0], tokens[1]);

    // The first attempt lands late (held past its timeout), every resend
    // meets it in progress.
    let in_progress = Fault::Error {
        status: 400,
        error_type: IN_PROGRESS,
    };
    setup.proxy.next(
        "TransactWriteItems",
        [Fault::Delay(LANDS_AFTER), in_progress.clone(), in_progress],
    );
    let started = Instant::now();
    let error = creator
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .err()
        .expect("the outcome is unknown while the first attempt is in progress");
    assert_eq!(error.code(), "STORE_UNAVAILABLE");
    // The held attempt lands after LANDS_AFTER; on a loaded machine moto
    // may take longer to apply it, so wait for it (bounded) rather than a
    // fixed time.
    tokio::time::sleep(LANDS_AFTER.saturating_sub(started.elapsed())).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stored = setup.stored_keys().await;
    while stored.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stored = setup.stored_keys().await;
    }
    assert_eq!(stored.len(), 2, "one late key beside the first: {stored:?}");
    // And no third: nothing re-planned a key after the 503.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(setup.stored_keys().await.len(), 2);
}

/// Parallel creates at the key limit while writes are lost, throttled,
/// failed and delayed. Even requests carry an Idempotency-Key and, when
/// answered 503, are retried with it once the store is healthy; odd ones
/// carry none, so their 503 leaves the outcome unknown.
///
/// What must hold, per request (each names its key after itself): one
/// answered 201 created exactly the key it answered, which verifies; one
/// refused created none; a keyless one answered 503 created at most one.
/// The limit is never exceeded, and a refusal means it was reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn limits_stay_exact_and_no_write_is_lost_or_doubled_under_faults() {
    if !moto::available() {
        return;
    }
    const LIMIT: u32 = 5;
    const REQUESTS: usize = 12;
    let setup = setup().await;
    let config = Config {
        max_active_keys: LIMIT,
        ..Config::default()
    };
    let creator = Arc::new(setup.via_proxy(config));
    setup.proxy.repeat(
        "TransactWriteItems",
        [
            Fault::LoseResponse,
            Fault::Pass,
            Fault::THROTTLING,
            Fault::LoseResponse,
            Fault::Pass,
            Fault::ErrorAfterApply {
                status: 500,
                error_type: "InternalServerError",
            },
            Fault::Pass,
            Fault::Reset,
            Fault::LoseResponse,
            Fault::Pass,
            Fault::Delay(Duration::from_millis(1_200)),
            Fault::Pass,
            Fault::INTERNAL_SERVER_ERROR,
            Fault::Pass,
        ],
    );
    setup
        .proxy
        .repeat("GetItem", [Fault::Pass, Fault::Pass, Fault::THROTTLING]);
    let create = |n: usize| {
        let creator = creator.clone();
        let app = setup.app.clone();
        async move {
            let idem = n.is_multiple_of(2).then(|| {
                let fingerprint = idempotency::fingerprint("POST", "/keys", b"k");
                Idempotency::new(&format!("create-{n}"), &alice(), fingerprint).unwrap()
            });
            creator
                .create_key(
                    &alice(),
                    &app,
                    &fixtures::key(&format!("k{n}")),
                    idem.as_ref(),
                )
                .await
                .map(|r| serde_json::to_value(&r).unwrap())
                .map_err(|e| e.code())
        }
    };
    let outcomes = futures::future::join_all((0..REQUESTS).map(|n| tokio::spawn(create(n)))).await;
    let requests_seen = setup.proxy.seen().len();
    setup.proxy.clear();
    let mut retried = 0;
    let mut finals = Vec::new();
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let mut outcome = outcome.unwrap();
        if outcome == Err("STORE_UNAVAILABLE") && n.is_multiple_of(2) {
            retried += 1;
            outcome = create(n).await;
        }
        finals.push(outcome);
    }
    let stored = setup.stored_names().await;
    let (mut answered, mut refused, mut unknown) = (0, 0, 0);
    for (n, outcome) in finals.into_iter().enumerate() {
        let name = format!("k{n}");
        let created: Vec<&str> = stored
            .iter()
            .filter(|(_, stored_name)| **stored_name == name)
            .map(|(id, _)| id.as_str())
            .collect();
        match outcome {
            Ok(body) => {
                answered += 1;
                let (id, secret) = key_id_and_secret(&body);
                assert_eq!(created, [id.as_str()], "request {n} answered {id}");
                assert_eq!(setup.verify_directly(&secret).await, VerdictCode::Valid);
            }
            Err("KEY_LIMIT_REACHED") => {
                refused += 1;
                assert!(created.is_empty(), "request {n} was refused: {created:?}");
            }
            Err("STORE_UNAVAILABLE") => {
                unknown += 1;
                assert!(created.len() <= 1, "request {n}: {created:?}");
            }
            Err(code) => panic!("request {n}: {code}"),
        }
    }
    eprintln!(
        "{REQUESTS} parallel creates at limit {LIMIT}: {answered} answered 201, \
         {refused} refused, {retried} retried with their Idempotency-Key after a 503, \
         {unknown} keyless 503s; {} keys stored; {requests_seen} DynamoDB requests \
         through the proxy",
        stored.len()
    );
    assert!(stored.len() <= LIMIT as usize, "{} keys", stored.len());
    if refused > 0 {
        assert_eq!(stored.len(), LIMIT as usize);
    }
}

// ---- through the Lambda binaries ----------------------------------------

/// The variables Lambda gives a function, its endpoint the proxy.
fn env_via(proxy: &FaultProxy, table: &str) -> Vec<(&'static str, String)> {
    let mut env = moto::function_env(table);
    for (name, value) in &mut env {
        if *name == "AWS_ENDPOINT_URL" {
            *value = proxy.url();
        }
    }
    env
}

fn http_event(route_key: &str, path: &str, body: Value, headers: &[(&str, &str)]) -> Value {
    let mut event: Value = serde_json::from_str(HTTP_EVENT).unwrap();
    let method = route_key.split(' ').next().unwrap();
    event["routeKey"] = route_key.into();
    event["rawPath"] = path.into();
    event["requestContext"]["routeKey"] = route_key.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!({
        "aud": "keyward", "exp": "1999999999", "iat": "1700000000",
        "iss": "https://idp.example.com/", "sub": "alice", "account": "acme",
        "permissions": fixtures::all_permissions().join(" "), "amr": "[pwd mfa]"
    });
    let body = body.to_string();
    event["headers"]["content-length"] = body.len().to_string().into();
    for (name, value) in headers {
        event["headers"][*name] = (*value).into();
    }
    event["body"] = body.into();
    if let Some(id) = path.split('/').nth(2) {
        event["pathParameters"] = json!({ "id": id });
    }
    event
}

/// Status and JSON body of an HTTP function's answer.
fn http_answer(outcome: Outcome) -> (u16, Value) {
    let Outcome::Response(response) = outcome else {
        panic!("the function failed: {outcome:?}");
    };
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (response["statusCode"].as_u64().unwrap() as u16, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_verify_function_answers_503_and_the_authorizer_denies_on_store_faults() {
    if !moto::available() {
        return;
    }
    let setup = setup().await;
    let reply = setup
        .direct
        .create_key(&alice(), &setup.app, &fixtures::key("k"), None)
        .await
        .unwrap();
    let (_, secret) = key_id_and_secret(&serde_json::to_value(&reply).unwrap());
    let env = env_via(&setup.proxy, &setup.table);
    let verify_key = LambdaProcess::start(env!("CARGO_BIN_EXE_verify-key"), "verify-key", &env);
    let authorizer = LambdaProcess::start(env!("CARGO_BIN_EXE_authorizer"), "authorizer", &env);
    let (verify_key, authorizer) = tokio::join!(verify_key, authorizer);
    let verify_event = http_event("POST /verify", "/verify", json!({ "key": secret }), &[]);
    let mut authorizer_event: Value = serde_json::from_str(AUTHORIZER_EVENT).unwrap();
    authorizer_event["headers"]["authorization"] = format!("Bearer {secret}").into();
    authorizer_event["identitySource"] = json!([format!("Bearer {secret}")]);

    // Both answer normally first (and have their connections warm).
    let (status, body) = http_answer(verify_key.invoke(verify_event.clone()).await);
    assert_eq!((status, body["code"].as_str()), (200, Some("VALID")));
    let Outcome::Response(allowed) = authorizer.invoke(authorizer_event.clone()).await else {
        panic!("the authorizer failed");
    };
    assert_eq!(allowed["isAuthorized"], true, "{allowed}");

    for (name, fault) in read_faults() {
        setup.proxy.repeat("GetItem", [fault]);
        let started = Instant::now();
        let (status, body) = http_answer(verify_key.invoke(verify_event.clone()).await);
        assert_eq!(status, 503, "{name}: {body}");
        assert_eq!(body["code"], "STORE_UNAVAILABLE", "{name}: {body}");
        let took = started.elapsed();
        assert!(
            took < OPERATION_TIMEOUT + Duration::from_secs(1),
            "{name}: {took:?}"
        );
        let Outcome::Response(denied) = authorizer.invoke(authorizer_event.clone()).await else {
            panic!("{name}: the authorizer failed instead of denying");
        };
        assert_eq!(denied["isAuthorized"], false, "{name}: {denied}");
        assert_eq!(denied["context"]["code"], "STORE_UNAVAILABLE", "{name}");
        setup.proxy.clear();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_create_key_function_answers_a_retry_after_a_lost_response_with_the_first_key() {
    if !moto::available() {
        return;
    }
    let setup = setup().await;
    let env = env_via(&setup.proxy, &setup.table);
    let create_key =
        LambdaProcess::start(env!("CARGO_BIN_EXE_create-key"), "create-key", &env).await;
    let path = format!("/applications/{}/keys", setup.app);
    let event = |idempotency_key: Option<&str>| {
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|key| (idempotency::HEADER, key))
            .into_iter()
            .collect();
        http_event(
            "POST /applications/{id}/keys",
            &path,
            json!({ "name": "k", "scopes": ["sims:read"] }),
            &headers,
        )
    };

    // Without an Idempotency-Key: one answer lost, the SDK's resend, one key.
    setup
        .proxy
        .next("TransactWriteItems", [Fault::LoseResponse]);
    let (status, body) = http_answer(create_key.invoke(event(None)).await);
    assert_eq!(status, 201, "{body}");
    let (first, _) = key_id_and_secret(&body);
    assert_eq!(setup.stored_keys().await, BTreeSet::from([first.clone()]));

    // Every attempt's answer lost: the outcome is unknown, so 503; the
    // client's retry with the same Idempotency-Key gets the key that the
    // first attempt created, and no other.
    setup
        .proxy
        .repeat("TransactWriteItems", [Fault::LoseResponse]);
    let (status, body) = http_answer(create_key.invoke(event(Some("retry-me"))).await);
    assert_eq!((status, &body["code"]), (503, &json!("STORE_UNAVAILABLE")));
    setup.proxy.clear();
    let (status, body) = http_answer(create_key.invoke(event(Some("retry-me"))).await);
    assert_eq!(status, 201, "{body}");
    let (second, secret) = key_id_and_secret(&body);
    assert_eq!(setup.stored_keys().await, BTreeSet::from([first, second]));
    assert_eq!(setup.verify_directly(&secret).await, VerdictCode::Valid);
}
