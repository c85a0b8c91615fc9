//! Webhook delivery benchmark (BENCHMARKS.md, "Events out"), one run of
//! `cargo run --profile bench --example delivery-bench`:
//!
//! - what delivery costs the request path: four writers disable and enable
//!   their own key through the service on a SQLite file, in rounds that
//!   alternate without a webhook (nothing to deliver) and with one webhook
//!   and the local deliverer running, side by side; p50/p99 of a change;
//! - throughput: changes delivered per second to a receiver on loopback;
//! - latency from a change's commit to its receipt, p50/p99.
//!
//! `KEYWARD_BENCH_ROUNDS` (default 3) rounds of `KEYWARD_BENCH_CHANGES`
//! (default 2,000) changes per writer, as fast as they go, or each writer
//! pausing `KEYWARD_BENCH_PACE_MS` between changes (the latency of a
//! deliverer that keeps up, rather than of a backlog).

#[path = "../tests/support/fixtures.rs"]
mod fixtures;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use keyward::auth::Caller;
use keyward::clock::{Clock, SystemClock};
use keyward::config::Config;
use keyward::events::address::SystemResolver;
use keyward::events::deliverer::Deliverer;
use keyward::events::delivery::{ATTEMPT_TIMEOUT, Sender};
use keyward::events::outbox::LocalOutbox;
use keyward::events::sealing::SealingKey;
use keyward::service::{CreateKey, CreateWebhook, LogPublisher, Service};
use keyward::store::Store;
use keyward::store::sqlite::SqliteStore;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(receipts): State<Receipts>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if let Ok(event) = serde_json::from_slice::<Value>(&body)
        && let Some(id) = event["id"].as_str()
    {
        receipts.lock().unwrap().entry(id.to_owned()).or_insert(at);
    }
    StatusCode::NO_CONTENT
}

fn admin() -> Caller {
    fixtures::admin("bench", "bench")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Round {
    change_p50: Duration,
    change_p99: Duration,
    delivered_per_second: Option<f64>,
    latency_p50: Option<Duration>,
    latency_p99: Option<Duration>,
    /// The JSON of one delivery record (a key.disabled or key.enabled
    /// event with the key's view before and after), for the cost on paper.
    record_bytes: usize,
}

/// One round on a fresh file: four writers × `changes` changes, with or
/// without a webhook and the deliverer.
async fn round(
    with_webhook: bool,
    changes: usize,
    pace: Duration,
    receiver: &str,
    receipts: &Receipts,
) -> Round {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("keyward.db")).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sealing = Arc::new(SealingKey::from_bytes([7; 32]));
    let config = Config {
        webhook_allow_insecure: true,
        max_active_keys: 100,
        ..Config::default()
    };
    let service = Arc::new(
        Service::new(store.clone(), config, clock.clone(), Arc::new(LogPublisher))
            .with_webhook_sealing(sealing.clone()),
    );
    let caller = admin();
    let app = service
        .create_application(&caller, &fixtures::application("bench"), None)
        .await
        .unwrap();
    let mut keys = Vec::new();
    for n in 0..4 {
        let key = service
            .create_key(
                &caller,
                &app.id,
                &CreateKey {
                    name: format!("k{n}"),
                    scopes: Vec::new(),
                    ..fixtures::key("k")
                },
                None,
            )
            .await
            .unwrap();
        keys.push(key.key.id);
    }
    let mut deliverer_task = None;
    if with_webhook {
        service
            .create_webhook(
                &caller,
                &CreateWebhook {
                    url: receiver.to_owned(),
                    events: Some(vec!["key.disabled".into(), "key.enabled".into()]),
                    description: String::new(),
                },
                None,
            )
            .await
            .unwrap();
        let sender = Sender::new(Arc::new(SystemResolver), true, ATTEMPT_TIMEOUT).unwrap();
        let deliverer = Arc::new(Deliverer::new(
            store.clone(),
            sender,
            sealing,
            clock.clone(),
        ));
        deliverer_task = Some(LocalOutbox::new(store.clone(), deliverer).spawn());
    }
    receipts.lock().unwrap().clear();
    let started = Instant::now();
    let mut writers = Vec::new();
    for key in keys.clone() {
        let (service, caller) = (service.clone(), caller.clone());
        writers.push(tokio::spawn(async move {
            let mut took = Vec::with_capacity(changes);
            let mut committed = Vec::with_capacity(changes);
            for n in 0..changes {
                let at = Instant::now();
                if n % 2 == 0 {
                    service.disable_key(&caller, &key, None).await.unwrap();
                } else {
                    service.enable_key(&caller, &key, None).await.unwrap();
                }
                took.push(at.elapsed());
                committed.push(Instant::now());
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
            }
            (key, took, committed)
        }));
    }
    let mut took = Vec::new();
    let mut commits: HashMap<String, Vec<Instant>> = HashMap::new();
    for writer in writers {
        let (key, times, committed) = writer.await.unwrap();
        took.extend(times);
        commits.insert(key, committed);
    }
    took.sort();
    let mut result = Round {
        change_p50: percentile(&took, 0.5),
        change_p99: percentile(&took, 0.99),
        delivered_per_second: None,
        latency_p50: None,
        latency_p99: None,
        record_bytes: 0,
    };
    if let Some(task) = deliverer_task {
        let total = keys.len() * changes;
        let deadline = Instant::now() + Duration::from_secs(300);
        while receipts.lock().unwrap().len() < total {
            assert!(Instant::now() < deadline, "deliveries stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.abort();
        let receipts = receipts.lock().unwrap().clone();
        let last = receipts.values().max().copied().unwrap();
        result.delivered_per_second = Some(total as f64 / (last - started).as_secs_f64());
        // Each key's changes are its audit events, in commit order.
        let mut events = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_audit("bench", 100, cursor.as_deref())
                .await
                .unwrap();
            events.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        events.reverse();
        let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
        for event in events {
            if event.action == "key.disabled" || event.action == "key.enabled" {
                by_key.entry(event.target_id).or_default().push(event.id);
            }
        }
        let mut latencies = Vec::new();
        for (key, ids) in by_key {
            for (id, committed) in ids.iter().zip(&commits[&key]) {
                latencies.push(receipts[id].saturating_duration_since(*committed));
            }
        }
        latencies.sort();
        let webhook = &store.list_webhooks("bench").await.unwrap()[0];
        let sample = store.list_deliveries(&webhook.id, 1, None).await.unwrap();
        if let Some(record) = sample.items.first() {
            result.record_bytes = serde_json::to_vec(record).unwrap().len();
        }
        result.latency_p50 = Some(percentile(&latencies, 0.5));
        result.latency_p99 = Some(percentile(&latencies, 0.99));
    }
    result
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("KEYWARD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let changes: usize = std::env::var("KEYWARD_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let pace = Duration::from_millis(
        std::env::var("KEYWARD_BENCH_PACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let receipts: Receipts = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receipts.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    println!(
        "{rounds} rounds of 4 writers x {changes} changes (disable/enable, {pace:?} apart), SQLite file"
    );
    for n in 0..rounds {
        let without = round(false, changes, pace, &receiver, &receipts).await;
        let with = round(true, changes, pace, &receiver, &receipts).await;
        println!(
            "round {n}: change p50/p99 without a webhook {:?}/{:?}, with one and the deliverer {:?}/{:?} (p50 ratio {:.2}); \
             delivered {:.0}/s; commit to receipt p50 {:?}, p99 {:?}; a delivery record {} B of JSON",
            without.change_p50,
            without.change_p99,
            with.change_p50,
            with.change_p99,
            with.change_p50.as_secs_f64() / without.change_p50.as_secs_f64(),
            with.delivered_per_second.unwrap_or_default(),
            with.latency_p50.unwrap_or_default(),
            with.latency_p99.unwrap_or_default(),
            with.record_bytes,
        );
    }
}
