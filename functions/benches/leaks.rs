//! Leak response benchmark (BENCHMARKS.md, "Leak response"): the time from
//! GitHub's partner request with a batch of 100 of this deployment's live
//! keys to every one of them refusing verification,
//!
//! - in one process on a SQLite file (`Service::report_github_matches`,
//!   then `Service::verify` of each key);
//! - on DynamoDB through the Lambda binaries: `report-github-leak` under a
//!   Lambda Runtime API on loopback, fed an API Gateway v2 event, against
//!   moto_server, then each key verified on the same table.
//!
//! `cargo run --profile bench --example leak-bench` (DynamoDB needs
//! moto_server: run it under `tests/with-moto.sh`); `KEYWARD_BENCH_ROUNDS`
//! (default 5); `KEYWARD_BENCH_BIN_DIR` is where `report-github-leak` is
//! (default `target/release`).

#[path = "../tests/support/github.rs"]
mod github;
#[path = "../tests/support/lambda_runtime_api.rs"]
mod lambda_runtime_api;
#[path = "../tests/support/moto.rs"]
mod moto;

#[path = "../tests/support/fixtures.rs"]
mod fixtures;
use github::{GithubSigner, batch};
use keyward::auth::Caller;
use keyward::clock::SystemClock;
use keyward::config::Config;
use keyward::leaks::keyring::GithubKeyring;
use keyward::secret::Secret;
use keyward::service::{CreateKey, LogPublisher, Service, VerifyRequest};
use keyward::store::Store;
use keyward::store::dynamodb::DynamoStore;
use keyward::store::sqlite::SqliteStore;
use lambda_runtime_api::{LambdaProcess, Outcome};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_validator::VerdictCode;

const TOKENS: usize = 100;
const HTTP_EVENT: &str = include_str!("../tests/fixtures/apigw-v2-http-request.json");

fn admin() -> Caller {
    fixtures::admin("bench", "bench")
}

fn config() -> Config {
    Config {
        max_active_keys: 1000,
        ..Config::default()
    }
}

/// `TOKENS` live keys in one application.
async fn keys(service: &Service) -> Vec<String> {
    let caller = admin();
    let app = service
        .create_application(&caller, &fixtures::application("bench"), None)
        .await
        .unwrap();
    let mut secrets = Vec::new();
    for n in 0..TOKENS {
        let input = CreateKey {
            name: format!("k{n}"),
            scopes: Vec::new(),
            ..fixtures::key("k")
        };
        let created = service
            .create_key(&caller, &app.id, &input, None)
            .await
            .unwrap();
        secrets.push(created.secret.expose().to_owned());
    }
    secrets
}

async fn all_refused(service: &Service, secrets: &[String]) {
    for secret in secrets {
        let request = VerifyRequest {
            key: Secret::new(secret.clone()),
            scopes: Vec::new(),
        };
        let code = service.verify(&request).await.unwrap().code;
        assert_eq!(code, VerdictCode::Revoked);
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn sqlite_round(github: &GithubSigner) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("keyward.db")).unwrap());
    let keyring = GithubKeyring::from_setting(&github.public_keys()).unwrap();
    let service = Service::new(
        store,
        config(),
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    )
    .with_github_keys(Arc::new(keyring));
    let secrets = keys(&service).await;
    let tokens: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let body = batch(&tokens);
    let signature = github.sign(&body);
    let started = Instant::now();
    let labels = service
        .report_github_matches(Some(&github.identifier), Some(&signature), &body)
        .await
        .unwrap();
    let answered = started.elapsed();
    assert_eq!(labels.len(), TOKENS);
    all_refused(&service, &secrets).await;
    (answered, started.elapsed())
}

async fn dynamodb_round(github: &GithubSigner, binary: &str) -> (Duration, Duration) {
    let (client, table) = moto::table().await;
    let service = Service::new(
        Arc::new(DynamoStore::new(client, &table)),
        config(),
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    );
    let secrets = keys(&service).await;
    let tokens: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let body = batch(&tokens);
    let mut env = moto::function_env(&table);
    env.push(("KEYWARD_GITHUB_SCANNING_KEYS", github.public_keys()));
    let function = LambdaProcess::start(binary, "report-github-leak", &env).await;
    let mut event: Value = serde_json::from_str(HTTP_EVENT).unwrap();
    event["routeKey"] = "POST /secret-scanning/github".into();
    event["rawPath"] = "/secret-scanning/github".into();
    event["requestContext"]["routeKey"] = "POST /secret-scanning/github".into();
    event["requestContext"]["http"]["method"] = "POST".into();
    event["requestContext"]["http"]["path"] = "/secret-scanning/github".into();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    event["headers"]["github-public-key-identifier"] = github.identifier.clone().into();
    event["headers"]["github-public-key-signature"] = github.sign(&body).into();
    event["headers"]["content-length"] = body.len().to_string().into();
    event["body"] = String::from_utf8(body).unwrap().into();
    // moto_server now and then stalls past the functions' 3 s SDK call
    // timeout: the batch answers 503 and GitHub sends it again, which is
    // idempotent. Counted, as GitHub would see it.
    let started = Instant::now();
    let mut invocations = 0;
    loop {
        invocations += 1;
        let outcome = function.invoke(event.clone()).await;
        let Outcome::Response(response) = outcome else {
            panic!("report-github-leak failed: {outcome:?}");
        };
        match response["statusCode"].as_u64() {
            Some(200) => break,
            Some(503) if invocations < 5 => continue,
            _ => panic!("report-github-leak answered {response}"),
        }
    }
    let answered = started.elapsed();
    if invocations > 1 {
        println!("  (a batch answered 503 and was sent again: {invocations} invocations)");
    }
    all_refused(&service, &secrets).await;
    (answered, started.elapsed())
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("KEYWARD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let github = GithubSigner::new();
    let (mut answered, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a, r) = sqlite_round(&github).await;
        answered.push(a);
        refused.push(r);
    }
    println!(
        "SQLite, one process, {TOKENS} live keys in one signed batch, {rounds} rounds: answered in {:?}, all {TOKENS} refusing verification {:?} after the request (medians)",
        median(answered),
        median(refused)
    );
    if !moto::available() {
        println!("DynamoDB: skipped (no moto_server; run under tests/with-moto.sh)");
        return;
    }
    let dir = std::env::var("KEYWARD_BENCH_BIN_DIR").unwrap_or_else(|_| "target/release".into());
    let binary = format!("{dir}/report-github-leak");
    let (mut answered, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a, r) = dynamodb_round(&github, &binary).await;
        answered.push(a);
        refused.push(r);
    }
    println!(
        "DynamoDB (moto_server on loopback) through report-github-leak, {rounds} rounds: answered in {:?}, all {TOKENS} refusing verification {:?} after the request (medians)",
        median(answered),
        median(refused)
    );
}
