//! The layer's cost and its cache at work (README.md, "Performance"):
//!
//!   cargo bench -p keyward-sdk --bench layer
//!
//! 1. Overhead per request, local mode with the record cached, against the
//!    same axum app without the layer, in alternated rounds (the order
//!    flipped each round); medians of the per-request time and of the
//!    per-round difference. First in process (no sockets: the difference is
//!    the layer alone, the header, the core's parse, the cache look-up,
//!    SHA-256 and the decision, the verdict in the extensions), then over
//!    loopback HTTP/1.1, as a client sees it.
//! 2. Bursts against a stand-in for keyward whose record route takes
//!    20 ms: 1,000 concurrent requests for one uncached key, then 10,000
//!    concurrent requests over 100 uncached keys; the record fetches made,
//!    the hit rate and the misses served by another request's fetch.
//!
//! `cargo test --benches` runs a short round of each, checking the counts.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keyward_sdk::Client;
use keyward_sdk::layer::{CacheConfig, VerifyKeyLayer};
use keyward_sdk::types::{ApplicationStatus, KeyRecord, OwnerStatus, StoredKeyStatus};
use keyward_sdk::wasm_validator::{AllowedIps, key};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tower::ServiceExt;

fn key_and_record(n: u16) -> (String, KeyRecord) {
    let mut id = [7u8; 16];
    id[..2].copy_from_slice(&n.to_be_bytes());
    let (key_id, key) = key::format_key("kw", &id, &[9; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let record = KeyRecord {
        key_id,
        application_id: "app_0000000000000000000001".into(),
        account: "acme".into(),
        hash: key::to_hex(&key::hash_key(&key)),
        status: StoredKeyStatus::Active,
        expires_at: now + 86_400,
        revoke_at: None,
        scopes: vec!["sims:read".into()],
        application_status: ApplicationStatus::Active,
        owner_status: OwnerStatus::Active,
        allowed_ips: AllowedIps::default(),
        metered: false,
    };
    (key, record)
}

/// keyward's record route, 20 ms per answer, counting its calls.
async fn stand_in(records: HashMap<String, KeyRecord>) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let (records, counter) = (Arc::new(records), fetches.clone());
    let router = Router::new().route(
        "/keys/{id}/record",
        get(move |Path(id): Path<String>| {
            let (records, counter) = (records.clone(), counter.clone());
            async move {
                counter.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                match records.get(&id) {
                    Some(record) => axum::Json(record.clone()).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, fetches)
}

fn local_layer(base: &str) -> VerifyKeyLayer {
    let cache = CacheConfig {
        ttl: Duration::from_secs(3600),
        ..CacheConfig::default()
    };
    VerifyKeyLayer::local(Client::new(base, "records-token").unwrap(), cache)
}

fn request(key: &str) -> Request<Body> {
    Request::get("/read")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap()
}

async fn call(router: &Router, key: &str) -> Response {
    router.clone().oneshot(request(key)).await.unwrap()
}

/// Nanoseconds per request of `n` requests in a row, in process.
async fn round(router: &Router, key: &str, n: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        let response = call(router, key).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Nanoseconds per request of `n` requests in a row over HTTP/1.1 on one
/// kept-alive loopback connection.
async fn round_http(client: &reqwest::Client, url: &str, key: &str, n: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        let response = client.get(url).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap();
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `rounds` rounds of `run(false)` (without the layer) and `run(true)`
/// (with it), the order flipped each round; prints the medians of each and
/// of the per-round difference.
async fn alternate<F, Fut>(what: &str, rounds: u32, mut run: F)
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = f64>,
{
    let (mut without, mut with, mut difference) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (a, b) = if r % 2 == 0 {
            let a = run(false).await;
            (a, run(true).await)
        } else {
            let b = run(true).await;
            (run(false).await, b)
        };
        without.push(a);
        with.push(b);
        difference.push(b - a);
    }
    let (a, b) = (median(&mut without), median(&mut with));
    println!("{what}, {rounds} alternated rounds");
    println!("  without the layer  {a:>8.0} ns/request (median)");
    println!(
        "  with the layer     {b:>8.0} ns/request (median), {:.3}x",
        b / a
    );
    println!(
        "  the layer's cost   {:>8.0} ns/request (median of per-round differences)",
        median(&mut difference)
    );
}

async fn overhead(rounds: u32, per_round: u32) {
    let (key, record) = key_and_record(0);
    let (base, _) = stand_in(HashMap::from([(record.key_id.clone(), record)])).await;
    let handler = get(|| async { "ok" });
    // `with_state` turns the handlers into services once, as `axum::serve`
    // does; a bare `Router` called as a service would redo it (and make
    // the layer's service again) on every request.
    let bare = Router::new().route("/read", handler.clone()).with_state(());
    let layer = local_layer(&base).scopes(["sims:read"]);
    let guarded = Router::new()
        .route("/read", handler)
        .route_layer(layer.clone())
        .with_state(());
    // Warm: the record is cached before the first measured round.
    round(&guarded, &key, 100).await;
    round(&bare, &key, 100).await;
    let what = format!(
        "overhead, local mode, record cached: {per_round} requests a round, in process, one at a time"
    );
    alternate(&what, rounds, |with| {
        let (router, key) = (if with { &guarded } else { &bare }, &key);
        async move { round(router, key, per_round).await }
    })
    .await;

    let (bare_url, guarded_url) = (serve(bare).await, serve(guarded).await);
    let client = reqwest::Client::new();
    let per_round = per_round / 10;
    let what = format!(
        "overhead, local mode, record cached: {per_round} requests a round, over loopback HTTP/1.1, one at a time"
    );
    alternate(&what, rounds, |with| {
        let (url, key, client) = (if with { &guarded_url } else { &bare_url }, &key, &client);
        async move { round_http(client, url, key, per_round).await }
    })
    .await;
    let stats = layer.stats();
    assert_eq!(stats.record_fetches, 1, "{stats:?}");
    println!(
        "  cache: {} hits, {} misses, hit rate {:.5}",
        stats.cache_hits,
        stats.cache_misses,
        stats.hit_rate()
    );
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/read", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// `per_key` concurrent requests for each of `keys` uncached keys, then
/// the same again once they are cached.
async fn burst(keys: u16, per_key: usize) {
    let pairs: Vec<(String, KeyRecord)> = (1..=keys).map(key_and_record).collect();
    let records = pairs
        .iter()
        .map(|(_, r)| (r.key_id.clone(), r.clone()))
        .collect();
    let (base, fetches) = stand_in(records).await;
    let layer = local_layer(&base);
    let router = Router::new()
        .route("/read", get(|| async { "ok" }))
        .route_layer(layer.clone())
        .with_state(());
    let total = pairs.len() * per_key;
    println!(
        "burst: {total} concurrent requests, {per_key} for each of {keys} uncached keys, twice"
    );
    let mut before = layer.stats();
    for wave in ["uncached", "cached"] {
        let started = Instant::now();
        let tasks: Vec<_> = pairs
            .iter()
            .flat_map(|(key, _)| std::iter::repeat_n(key.clone(), per_key))
            .map(|key| {
                let router = router.clone();
                tokio::spawn(async move { call(&router, &key).await.status() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        let took = started.elapsed();
        let after = layer.stats();
        let (hits, misses) = (
            after.cache_hits - before.cache_hits,
            after.cache_misses - before.cache_misses,
        );
        let fetched = after.record_fetches - before.record_fetches;
        println!(
            "  {wave:>8}: {fetched} record fetches, {hits} hits, {misses} misses ({} served by another's fetch), {:.0} ms",
            misses - fetched,
            took.as_secs_f64() * 1e3
        );
        before = after;
    }
    let stats = layer.stats();
    assert_eq!(fetches.load(SeqCst), usize::from(keys), "one fetch per key");
    assert_eq!(stats.record_fetches, u64::from(keys));
    println!("  overall hit rate {:.3}", stats.hit_rate());
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if full {
            overhead(30, 20_000).await;
            burst(1, 1_000).await;
            burst(100, 100).await;
        } else {
            overhead(2, 200).await;
            burst(1, 200).await;
            burst(10, 20).await;
        }
    });
}
