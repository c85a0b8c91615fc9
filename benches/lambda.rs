//! Lambda benchmarks (issue: "keyward on AWS"), run by `benches/lambda.sh`:
//! - cold start: process start to first answered invocation under a Lambda
//!   Runtime API on loopback, for `verify-key` and `authorizer` against a
//!   hello-world `lambda_http` binary, alternated, DynamoDB on moto_server;
//! - DynamoDB requests per verification, counted at the SDK.
//!
//! `KEYWARD_BENCH_RUNS` sets the number of cold starts per binary (default
//! 15); `KEYWARD_BENCH_BIN_DIR` is where the binaries are (default
//! `target/release`).

#[path = "../tests/support/lambda_runtime_api.rs"]
mod lambda_runtime_api;
#[path = "../tests/support/moto.rs"]
mod moto;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use keyward::auth::{Caller, perm};
use keyward::clock::SystemClock;
use keyward::config::Config;
use keyward::secret::Secret;
use keyward::service::{CreateApplication, CreateKey, LogPublisher, Service, VerifyRequest};
use keyward::store::dynamodb::DynamoStore;
use lambda_runtime_api::{LambdaProcess, Outcome};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts DynamoDB requests by operation (the `x-amz-target` header).
#[derive(Debug, Default, Clone)]
struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?")
            .trim_start_matches("DynamoDB_20120810.")
            .to_owned();
        *self.0.lock().unwrap().entry(target).or_default() += 1;
        Ok(())
    }
}

impl RequestCounter {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn caller() -> Caller {
    Caller {
        user_id: "bench".into(),
        account: "bench".into(),
        permissions: perm::ALL
            .iter()
            .map(|p| p.to_string())
            .chain(["sims:*".into()])
            .collect(),
        mfa: true,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p90(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 9 / 10).min(samples.len() - 1)]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("KEYWARD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let (_, table) = moto::table().await;
    let counter = RequestCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        moto::dynamodb()
            .config()
            .to_builder()
            .interceptor(counter.clone())
            .build(),
    );
    let service = Service::new(
        Arc::new(DynamoStore::new(client, &table)),
        Config::default(),
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    );
    let app = service
        .create_application(
            &caller(),
            &CreateApplication {
                name: "bench".into(),
                description: String::new(),
                key_prefix: None,
            },
            None,
        )
        .await
        .unwrap();
    let app_id = app.body["id"].as_str().unwrap().to_owned();
    let created = service
        .create_key(
            &caller(),
            &app_id,
            &CreateKey {
                name: "k".into(),
                description: String::new(),
                scopes: vec!["sims:read".into()],
                expires_at: None,
            },
            None,
        )
        .await
        .unwrap();
    let secret = created.body["secret"].as_str().unwrap().to_owned();

    // DynamoDB requests per verification, on the answer's path.
    counter.take();
    let verifications = 100u64;
    for _ in 0..verifications {
        let request = VerifyRequest {
            key: Secret::new(secret.clone()),
            scopes: vec!["sims:read".into()],
        };
        assert!(service.verify(&request).await.unwrap().valid);
    }
    let on_path = counter.take();
    service.flush_usage().await.unwrap();
    let flushed = counter.take();
    println!("dynamodb requests on the path of {verifications} verifications: {on_path:?}");
    println!(
        "  per verification: {:.2}",
        on_path.values().sum::<u64>() as f64 / verifications as f64
    );
    println!("  written later by the usage flush (one batch): {flushed:?}");

    // Cold starts, alternated so that machine noise hits all alike.
    let env = moto::function_env(&table);
    let mut http_event: Value =
        serde_json::from_str(include_str!("../tests/fixtures/apigw-v2-http-request.json")).unwrap();
    http_event["routeKey"] = "POST /verify".into();
    http_event["rawPath"] = "/verify".into();
    http_event["requestContext"]["http"]["path"] = "/verify".into();
    http_event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    http_event["body"] = json!({ "key": secret }).to_string().into();
    let mut authorizer_event: Value = serde_json::from_str(include_str!(
        "../tests/fixtures/apigw-v2-authorizer-request.json"
    ))
    .unwrap();
    authorizer_event["headers"]["authorization"] = format!("Bearer {secret}").into();
    let dir = std::env::var("KEYWARD_BENCH_BIN_DIR").unwrap_or_else(|_| "target/release".into());
    let path = |name: &str| format!("{dir}/{name}");
    let (hello, verify, authorizer) =
        (path("hello-lambda"), path("verify-key"), path("authorizer"));
    // The same function answering a malformed key reads nothing: its cold
    // start is the process's own start-up, without the first round trip.
    let mut malformed_event = http_event.clone();
    malformed_event["body"] = json!({ "key": "kw_not-a-key" }).to_string().into();
    let binaries: [(&str, &str, &Value); 4] = [
        ("hello-lambda", &hello, &http_event),
        ("verify-key", &verify, &http_event),
        ("verify-key, no read", &verify, &malformed_event),
        ("authorizer", &authorizer, &authorizer_event),
    ];
    let mut samples: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..runs {
        for (name, binary, event) in binaries {
            let process = LambdaProcess::start(binary, name, &env).await;
            let outcome = process.invoke(event.clone()).await;
            let elapsed = process.started.elapsed();
            match &outcome {
                Outcome::Response(r) if name == "authorizer" => assert_eq!(r["isAuthorized"], true),
                Outcome::Response(r) => assert_eq!(r["statusCode"], 200, "{r}"),
                Outcome::Error(e) => panic!("{name} failed: {e}"),
            }
            samples.entry(name).or_default().push(elapsed);
        }
    }
    println!("cold start, process start to first answered invocation ({runs} runs each):");
    let baseline = median(samples["hello-lambda"].clone());
    for (name, _, _) in binaries {
        let s = samples[name].clone();
        let m = median(s.clone());
        println!(
            "  {name:<20} median {:>7.2} ms  p90 {:>7.2} ms  ratio to hello-lambda {:.2}",
            m.as_secs_f64() * 1e3,
            p90(s).as_secs_f64() * 1e3,
            m.as_secs_f64() / baseline.as_secs_f64()
        );
    }
}
