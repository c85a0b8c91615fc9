//! The layer against a stand-in for keyward that counts, delays or fails
//! its answers: single flight under a burst, negative caching, failures
//! never cached, and 503 whenever keyward cannot decide (unreachable,
//! slow, failing), in both modes.

use crate::support::{app, closed_port, key_and_record, serve, unknown_key};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keyward_sdk::Client;
use keyward_sdk::layer::{CacheConfig, VerifyKeyLayer};
use keyward_sdk::types::KeyRecord;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// How the stand-in answers the record route.
const RECORDS_OK: u8 = 0;
const RECORDS_FAIL: u8 = 1;
/// A 404 that is not keyward's "no such key" (a wrong base URL).
const RECORDS_NO_ROUTE: u8 = 2;

#[derive(Default)]
struct Stub {
    records: Mutex<HashMap<String, KeyRecord>>,
    record_fetches: AtomicUsize,
    verifications: AtomicUsize,
    mode: AtomicU8,
    delay: Mutex<Duration>,
}

fn problem(status: StatusCode, code: &str) -> Response {
    let body = json!({"type": "urn:keyward:problem:x", "title": "x", "status": status.as_u16(), "detail": "stub", "code": code});
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn record(State(stub): State<Arc<Stub>>, Path(id): Path<String>) -> Response {
    stub.record_fetches.fetch_add(1, SeqCst);
    let delay = *stub.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    match stub.mode.load(SeqCst) {
        RECORDS_FAIL => return problem(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        RECORDS_NO_ROUTE => return problem(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND"),
        _ => {}
    }
    match stub.records.lock().unwrap().get(&id) {
        Some(record) => axum::Json(record.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, "KEY_NOT_FOUND"),
    }
}

/// The central check fails: only keyward may accept a metered key, and
/// this one cannot.
async fn verify(State(stub): State<Arc<Stub>>) -> Response {
    stub.verifications.fetch_add(1, SeqCst);
    let delay = *stub.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    problem(StatusCode::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE")
}

async fn stub(records: &[&KeyRecord]) -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub::default());
    for record in records {
        stub.records
            .lock()
            .unwrap()
            .insert(record.key_id.clone(), (*record).clone());
    }
    let router = Router::new()
        .route("/keys/{id}/record", get(record))
        .route("/verify", post(verify))
        .with_state(stub.clone());
    (stub, serve(router).await)
}

fn local(base: &str, cache: CacheConfig) -> VerifyKeyLayer {
    VerifyKeyLayer::local(Client::new(base, "records-token").unwrap(), cache)
}

/// One request through the app, in process.
async fn call(router: &Router, key: &str) -> (StatusCode, Value) {
    let request = Request::get("/read")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// `n` requests at once; every answer's status and code.
async fn burst(router: &Router, key: &str, n: usize) -> Vec<(StatusCode, String)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (router, key) = (router.clone(), key.to_owned());
            tokio::spawn(async move {
                let (status, body) = call(&router, &key).await;
                (status, body["code"].as_str().unwrap_or("VALID").to_owned())
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_one_uncached_key_makes_one_fetch() {
    let (key, record) = key_and_record(1, false);
    let (stub, base) = stub(&[&record]).await;
    *stub.delay.lock().unwrap() = Duration::from_millis(200);
    let negative_ttl = Duration::from_secs(1);
    let layer = local(
        &base,
        CacheConfig {
            negative_ttl,
            ..CacheConfig::default()
        },
    );
    let router = app(&layer);

    let answers = burst(&router, &key, 1000).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{:?}",
        &answers[..3]
    );
    assert_eq!(
        stub.record_fetches.load(SeqCst),
        1,
        "1,000 concurrent requests, one fetch"
    );
    let stats = layer.stats();
    assert_eq!(
        (stats.record_fetches, stats.cache_hits + stats.cache_misses),
        (1, 1000)
    );
    assert_eq!(stats.coalesced(), stats.cache_misses - 1);
    assert!(stats.coalesced() > 0, "{stats:?}");
    // Cached now: another burst is all hits.
    let answers = burst(&router, &key, 1000).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
    assert_eq!(stub.record_fetches.load(SeqCst), 1);
    assert_eq!(layer.stats().cache_hits, stats.cache_hits + 1000);

    // An unknown id: one fetch for the burst, then remembered as unknown
    // for the negative TTL only.
    let unknown = unknown_key();
    let answers = burst(&router, &unknown, 1000).await;
    assert!(
        answers
            .iter()
            .all(|(s, c)| *s == StatusCode::UNAUTHORIZED && c == "NOT_FOUND")
    );
    assert_eq!(stub.record_fetches.load(SeqCst), 2);
    let missed = Instant::now();
    call(&router, &unknown).await;
    if missed.elapsed() < negative_ttl {
        assert_eq!(stub.record_fetches.load(SeqCst), 2, "remembered as unknown");
    }
    tokio::time::sleep(negative_ttl + Duration::from_millis(50)).await;
    let (status, _) = call(&router, &unknown).await;
    assert_eq!(
        (status, stub.record_fetches.load(SeqCst)),
        (StatusCode::UNAUTHORIZED, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_refuses_with_503_and_is_not_cached() {
    let (key, record) = key_and_record(2, false);
    let (stub, base) = stub(&[&record]).await;
    let layer = local(&base, CacheConfig::default());
    let router = app(&layer);
    stub.mode.store(RECORDS_FAIL, SeqCst);
    let answers = burst(&router, &key, 50).await;
    assert!(
        answers
            .iter()
            .all(|(s, c)| *s == StatusCode::SERVICE_UNAVAILABLE && c == "KEYWARD_UNAVAILABLE")
    );
    // A 404 that is not keyward's own "no such key" is no answer either.
    stub.mode.store(RECORDS_NO_ROUTE, SeqCst);
    let (status, body) = call(&router, &key).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("KEYWARD_UNAVAILABLE"))
    );
    stub.mode.store(RECORDS_OK, SeqCst);
    assert_eq!(call(&router, &key).await.0, StatusCode::OK);
    let fetches = stub.record_fetches.load(SeqCst);
    assert!(fetches >= 3, "every failure fetched again: {fetches}");
    assert_eq!(call(&router, &key).await.0, StatusCode::OK);
    assert_eq!(
        stub.record_fetches.load(SeqCst),
        fetches,
        "the good answer is cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metered_key_is_refused_when_keyward_cannot_check_it() {
    let (key, record) = key_and_record(3, true);
    let (stub, base) = stub(&[&record]).await;
    let layer = local(&base, CacheConfig::default());
    let (status, body) = call(&app(&layer), &key).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("KEYWARD_UNAVAILABLE"))
    );
    assert_eq!(
        stub.verifications.load(SeqCst),
        1,
        "the core's CENTRAL_CHECK_REQUIRED went to POST /verify"
    );
    assert_eq!(
        (layer.stats().central_checks, layer.stats().unavailable),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_unreachable_refuses_with_503_in_both_modes() {
    let (key, _) = key_and_record(4, false);
    let nowhere = closed_port().await;
    let client = Client::new(&nowhere, "t").unwrap();
    for layer in [
        VerifyKeyLayer::remote(client.clone()),
        VerifyKeyLayer::local(client, CacheConfig::default()),
    ] {
        let router = app(&layer);
        for _ in 0..2 {
            let (status, body) = call(&router, &key).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("KEYWARD_UNAVAILABLE")),
                "{layer:?}"
            );
            assert_eq!(body["status"], 503);
        }
        assert_eq!(layer.stats().unavailable, 2, "{layer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_slower_than_the_timeout_refuses_with_503_in_both_modes() {
    let (key, record) = key_and_record(5, false);
    let (stub, base) = stub(&[&record]).await;
    *stub.delay.lock().unwrap() = Duration::from_secs(10);
    let client = Client::new(&base, "t").unwrap();
    let timeout = Duration::from_millis(300);
    for layer in [
        VerifyKeyLayer::remote(client.clone()),
        VerifyKeyLayer::local(client, CacheConfig::default()),
    ] {
        let layer = layer.timeout(timeout);
        let started = Instant::now();
        let (status, body) = call(&app(&layer), &key).await;
        let took = started.elapsed();
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("KEYWARD_UNAVAILABLE")),
            "{layer:?}"
        );
        assert!(
            took >= timeout && took < Duration::from_secs(3),
            "{layer:?} took {took:?}"
        );
    }
    assert_eq!(
        (
            stub.verifications.load(SeqCst),
            stub.record_fetches.load(SeqCst)
        ),
        (1, 1)
    );
}
