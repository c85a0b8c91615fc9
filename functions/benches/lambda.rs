//! Lambda benchmarks (issue: "keyward on AWS"), run by `benches/lambda.sh`:
//! - cold start: process start to first answered invocation under a Lambda
//!   Runtime API on loopback, for `verify-key` and `authorizer` against a
//!   hello-world `lambda_http` binary and against the same with one
//!   `GetItem` (`hello-dynamodb`), alternated, DynamoDB on moto_server;
//! - DynamoDB requests per verification, counted at the SDK;
//! - DynamoDB requests per application and key creation, and the size of
//!   each kind of item as DynamoDB bills it, for the cost estimate
//!   (BENCHMARKS.md, "Scale on paper").
//!
//! `KEYWARD_BENCH_RUNS` sets the number of cold starts per binary (default
//! 15); `KEYWARD_BENCH_BIN_DIR` is where the binaries are (default
//! `target/release`).

#[path = "../tests/support/lambda_runtime_api.rs"]
mod lambda_runtime_api;
#[path = "../tests/support/moto.rs"]
mod moto;
#[path = "../tests/support/request_counter.rs"]
mod request_counter;

use aws_sdk_dynamodb::types::AttributeValue;
use keyward::auth::{Caller, perm};
use keyward::clock::SystemClock;
use keyward::config::Config;
use keyward::secret::Secret;
use keyward::service::{CreateApplication, CreateKey, LogPublisher, Service, VerifyRequest};
use keyward::store::dynamodb::DynamoStore;
use lambda_runtime_api::{LambdaProcess, Outcome};
use request_counter::RequestCounter;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

/// An item's size as DynamoDB counts it for capacity units: each
/// attribute's name plus its value (strings and binaries by length; a
/// number about one byte per two significant digits plus one; sets and
/// lists by their members, a list or map 3 bytes plus 1 per element).
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn number(n: &str) -> usize {
        let digits = n.trim_start_matches('-').replace('.', "");
        let significant = digits
            .trim_start_matches('0')
            .trim_end_matches('0')
            .len()
            .max(1);
        significant.div_ceil(2) + 1
    }
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number(n),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
            AttributeValue::Ns(ns) => ns.iter().map(|n| number(n)).sum(),
            AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter().map(|(name, v)| name.len() + value(v)).sum()
}

/// Every item in the table, by kind (the prefix of its partition key):
/// count, largest size in bytes.
async fn item_sizes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> BTreeMap<String, (usize, usize)> {
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let kind = pk.split('#').next().unwrap_or("?").to_owned();
            let entry = kinds.entry(kind).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(item_size(item));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    kinds
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
    let app_id = app.id.clone();
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
    let secret = created.secret.expose().to_owned();
    let key_id = created.key.id.clone();

    // DynamoDB requests per verification, on the answer's path.
    counter.take();
    let verifications = 100u64;
    let mut warm = Vec::new();
    for _ in 0..verifications {
        let request = VerifyRequest {
            key: Secret::new(secret.clone()),
            scopes: vec!["sims:read".into()],
        };
        let at = std::time::Instant::now();
        assert!(service.verify(&request).await.unwrap().valid);
        warm.push(at.elapsed());
    }
    let on_path = counter.take();
    // What the first answer of a cold verify-key waits for besides its own
    // start-up: one GetItem from a client with no connection yet, to this
    // moto_server (Python), against one from a warm client.
    let mut cold = Vec::new();
    for _ in 0..15 {
        let fresh = DynamoStore::new(moto::dynamodb(), &table);
        let at = std::time::Instant::now();
        assert!(
            keyward::store::Store::get_key(&fresh, &key_id)
                .await
                .unwrap()
                .is_some()
        );
        cold.push(at.elapsed());
    }
    println!(
        "one verification to moto_server, warm client: median {:.2} ms; first GetItem of a new client: median {:.2} ms",
        median(warm).as_secs_f64() * 1e3,
        median(cold).as_secs_f64() * 1e3
    );
    service.flush_usage().await.unwrap();
    let flushed = counter.take();
    println!("dynamodb requests on the path of {verifications} verifications: {on_path:?}");
    println!(
        "  per verification: {:.2}",
        on_path.values().sum::<u64>() as f64 / verifications as f64
    );
    println!("  written later by the usage flush (one batch): {flushed:?}");

    // What the lifecycle writes cost: requests of a second application and
    // of keys created into it (the first, and one with nine before it), and
    // the items as stored.
    let app2 = service
        .create_application(
            &caller(),
            &CreateApplication {
                name: "bench 2".into(),
                description: "an application with a description of ordinary length".into(),
                key_prefix: None,
            },
            None,
        )
        .await
        .unwrap();
    let created_app = counter.take();
    let app2_id = app2.id.clone();
    let mut per_key = Vec::new();
    for i in 0..10 {
        service
            .create_key(
                &caller(),
                &app2_id,
                &CreateKey {
                    name: format!("production key {i}"),
                    description: "used by the billing service".into(),
                    scopes: vec!["sims:read".into(), "sims:write".into()],
                    expires_at: None,
                },
                None,
            )
            .await
            .unwrap();
        per_key.push(counter.take());
    }
    println!("dynamodb requests of one application creation: {created_app:?}");
    println!(
        "dynamodb requests of the first key creation: {:?}",
        per_key[0]
    );
    println!(
        "dynamodb requests of the tenth key creation: {:?}",
        per_key[9]
    );
    println!("items by kind (count, largest size in bytes as DynamoDB counts it):");
    for (kind, (count, size)) in item_sizes(&moto::dynamodb(), &table).await {
        println!("  {kind:<8} {count:>4} items, largest {size:>5} bytes");
    }

    // Cold starts, alternated so that machine noise hits all alike.
    // As in AWS, where no custom endpoint is set: the SDK trusts the
    // compiled-in Amazon roots (the endpoint here is plain HTTP, so no
    // certificate is checked either way). The "native roots" run is the
    // same binary trusting the system's bundle, as every function did
    // before (functions/src/aws.rs).
    let mut env = moto::function_env(&table);
    let mut native_roots_env = env.clone();
    env.push(("KEYWARD_TLS_ROOTS", "amazon".into()));
    native_roots_env.push(("KEYWARD_TLS_ROOTS", "native".into()));
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
    let (hello, hello_dynamodb, verify, authorizer) = (
        path("hello-lambda"),
        path("hello-dynamodb"),
        path("verify-key"),
        path("authorizer"),
    );
    // The second baseline reads the very item verify-key reads.
    let mut hello_dynamodb_env = moto::function_env(&table);
    hello_dynamodb_env.push(("BENCH_ITEM_PK", format!("KEY#{key_id}")));
    // The same function answering a malformed key reads nothing: its cold
    // start is the process's own start-up, without the first round trip.
    let mut malformed_event = http_event.clone();
    malformed_event["body"] = json!({ "key": "kw_not-a-key" }).to_string().into();
    type Run<'a> = (&'a str, &'a str, &'a Value, &'a [(&'static str, String)]);
    let binaries: [Run; 7] = [
        ("hello-lambda", &hello, &http_event, &env),
        (
            "hello-dynamodb",
            &hello_dynamodb,
            &http_event,
            &hello_dynamodb_env,
        ),
        ("verify-key", &verify, &http_event, &env),
        ("verify-key, no read", &verify, &malformed_event, &env),
        ("authorizer", &authorizer, &authorizer_event, &env),
        (
            "verify-key, native roots",
            &verify,
            &http_event,
            &native_roots_env,
        ),
        (
            "no read, native roots",
            &verify,
            &malformed_event,
            &native_roots_env,
        ),
    ];
    let mut samples: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..runs {
        for (name, binary, event, env) in binaries {
            let process = LambdaProcess::start(binary, name, env).await;
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
    let with_read = median(samples["hello-dynamodb"].clone());
    for (name, _, _, _) in binaries {
        let s = samples[name].clone();
        let m = median(s.clone());
        println!(
            "  {name:<24} median {:>6.2} ms  p90 {:>6.2} ms  ÷ hello-lambda {:.2}  ÷ hello-dynamodb {:.2}",
            m.as_secs_f64() * 1e3,
            p90(s).as_secs_f64() * 1e3,
            m.as_secs_f64() / baseline.as_secs_f64(),
            m.as_secs_f64() / with_read.as_secs_f64()
        );
    }
}
