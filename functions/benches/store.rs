//! Store (BENCHMARKS.md): verifications per second straight through the
//! `Store` trait on SQLite (a file in a temporary folder, WAL, as
//! `keyward serve` opens it), and what is on the answer's path.
//!
//!   cargo bench -p keyward --bench store
//!
//! 1. criterion: one `Store::get_key`, and one whole `Service::verify` of a
//!    valid key (parse, one read, the core's decision, the answer);
//! 2. verifications per second with 1, 2, 8 and 32 verifications in flight
//!    over 100 keys, on a 2-worker tokio runtime (the server's), alternated
//!    rounds, median;
//! 3. verification latency (p50, p99, max) while a writer commits key
//!    updates back to back (each commit an fsync: `synchronous = FULL`);
//! 4. the path, counted by a `Store` wrapper: every verification is exactly
//!    one read and no write; the uses are written later by one batched
//!    `record_key_use`, at most once a minute per key.
//!
//! 5. an unknown key id against a known id with a wrong secret: both
//!    distributions, interleaved in one run, their medians and ratio, and
//!    the SQLite reads each made (`unknown_ids.rs`).
//!
//! `cargo test --benches` runs each criterion benchmark once, short
//! versions of 2, 3 and 5, and all of 4.

use async_trait::async_trait;
use criterion::{Criterion, criterion_group};
use keyward::auth::{Caller, perm};
use keyward::clock::ManualClock;
use keyward::config::Config;
use keyward::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use keyward::events::webhook::{Delivery, Webhook};
use keyward::secret::Secret;
use keyward::service::{
    CreateApplication, CreateKey, LogPublisher, Service, UpdateFields, VerifyRequest,
};
use keyward::store::sqlite::SqliteStore;
use keyward::store::{CommitError, Metered, Page, Store, StoreResult, UserGuard, Write};
use keyward::usage::Meter;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasm_validator::VerdictCode;

mod unknown_ids;

const T0: i64 = 1_800_000_000;
const KEYS: usize = 100;

/// A `Store` that counts what passes through it.
struct Counting {
    inner: Arc<dyn Store>,
    reads: AtomicUsize,
    writes: AtomicUsize,
    /// `record_key_use` calls and the keys they carried.
    use_batches: AtomicUsize,
    uses_written: AtomicUsize,
}

impl Counting {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl Store for Counting {
    async fn account_guard(&self, account: &str) -> StoreResult<u64> {
        self.read();
        self.inner.account_guard(account).await
    }
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        self.read();
        self.inner.get_application(id).await
    }
    async fn list_applications(&self, account: &str) -> StoreResult<Vec<Application>> {
        self.read();
        self.inner.list_applications(account).await
    }
    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
        self.read();
        self.inner.get_key(id).await
    }
    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>> {
        self.read();
        self.inner.list_application_keys(application_id).await
    }
    async fn list_account_keys(&self, account: &str) -> StoreResult<Vec<Key>> {
        self.read();
        self.inner.list_account_keys(account).await
    }
    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        self.read();
        self.inner.list_keys_expiring(from, to).await
    }
    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.read();
        self.inner.get_idempotency(id).await
    }
    async fn user_guard(&self, account: &str, user_id: &str) -> StoreResult<UserGuard> {
        self.read();
        self.inner.user_guard(account, user_id).await
    }
    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        self.read();
        self.inner.list_audit(account, limit, cursor).await
    }
    async fn list_notices(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Notice>> {
        self.read();
        self.inner
            .list_notices(account, recipient, limit, cursor)
            .await
    }
    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.commit(writes).await
    }
    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.use_batches.fetch_add(1, Ordering::Relaxed);
        self.uses_written.fetch_add(uses.len(), Ordering::Relaxed);
        self.inner.record_key_use(uses).await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.purge_expired(now).await
    }
    async fn get_webhook(&self, a: &str, id: &str) -> StoreResult<Option<Webhook>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get_webhook(a, id).await
    }
    async fn list_webhooks(&self, a: &str) -> StoreResult<Vec<Webhook>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.list_webhooks(a).await
    }
    async fn list_deliveries(
        &self,
        id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.list_deliveries(id, limit, cursor).await
    }
    async fn due_deliveries(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.due_deliveries(now, limit).await
    }
    async fn read_meter(&self, key: &Key) -> StoreResult<Meter> {
        self.read();
        self.inner.read_meter(key).await
    }
    async fn debit(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.debit(key, cost, now).await
    }
}

struct Bench {
    service: Arc<Service>,
    store: Arc<Counting>,
    /// The store under `store`, for its count of SQLite key reads.
    sqlite: SqliteStore,
    clock: Arc<ManualClock>,
    /// `KEYS` valid keys (id, whole key).
    keys: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

fn caller() -> Caller {
    Caller {
        user_id: "bench".into(),
        account: "bench".into(),
        permissions: perm::ALL.iter().map(|p| p.to_string()).collect(),
        mfa: false,
    }
}

async fn setup() -> Bench {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sqlite = SqliteStore::open(&dir.path().join("keyward.db")).expect("the store opens");
    let store = Arc::new(Counting {
        inner: Arc::new(sqlite.clone()),
        reads: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
        use_batches: AtomicUsize::new(0),
        uses_written: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config {
        max_active_keys: KEYS as u32,
        ..Config::default()
    };
    let service = Arc::new(Service::new(
        store.clone(),
        config,
        clock.clone(),
        Arc::new(LogPublisher),
    ));
    let caller = caller();
    let app = service
        .create_application(
            &caller,
            &CreateApplication {
                name: "bench".into(),
                description: String::new(),
                key_prefix: None,
            },
            None,
        )
        .await
        .expect("an application");
    let app_id = app.id.clone();
    let mut keys = Vec::new();
    for i in 0..KEYS {
        let input = CreateKey {
            name: format!("bench {i}"),
            description: String::new(),
            scopes: Vec::new(),
            expires_at: None,
        };
        let reply = service
            .create_key(&caller, &app_id, &input, None)
            .await
            .expect("a key");
        keys.push((reply.key.id.clone(), reply.secret.expose().to_owned()));
    }
    Bench {
        service,
        store,
        sqlite,
        clock,
        keys,
        _dir: dir,
    }
}

fn request(key: &str) -> VerifyRequest {
    VerifyRequest {
        key: Secret::new(key.to_owned()),
        scopes: Vec::new(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    // The server's runtime: one worker per core (2 here), the blocking pool
    // for SQLite.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn criterion_benches(c: &mut Criterion) {
    let rt = runtime();
    let bench = rt.block_on(setup());
    let (id, key) = bench.keys[0].clone();
    let req = request(&key);
    let mut group = c.benchmark_group("store");
    group.bench_function("Store::get_key (SQLite)", |b| {
        b.iter(|| rt.block_on(bench.store.inner.get_key(black_box(&id))))
    });
    group.bench_function("Service::verify, valid key (SQLite)", |b| {
        b.iter(|| rt.block_on(bench.service.verify(black_box(&req))))
    });
    group.finish();
}

criterion_group!(benches, criterion_benches);

/// Verifications per second with `in_flight` of them at a time, `total` in
/// all, spread over the keys.
async fn throughput(
    bench: &Bench,
    requests: &Arc<Vec<VerifyRequest>>,
    in_flight: usize,
    total: usize,
) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let service = bench.service.clone();
            let requests = requests.clone();
            tokio::spawn(async move {
                for i in (t..total).step_by(in_flight) {
                    let verdict = service
                        .verify(&requests[i % requests.len()])
                        .await
                        .expect("verify answers");
                    assert!(verdict.valid);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a verifying task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn throughput_table(rounds: usize, total: usize) {
    let rt = runtime();
    let bench = rt.block_on(setup());
    let requests = Arc::new(
        bench
            .keys
            .iter()
            .map(|(_, k)| request(k))
            .collect::<Vec<_>>(),
    );
    let levels = [1, 2, 8, 32];
    let mut rates = vec![Vec::new(); levels.len()];
    rt.block_on(async {
        throughput(&bench, &requests, 8, total / 4).await; // warm-up
        for _ in 0..rounds {
            for (i, &n) in levels.iter().enumerate() {
                rates[i].push(throughput(&bench, &requests, n, total).await);
            }
        }
    });
    println!(
        "\nService::verify on SQLite, {KEYS} keys, {total} verifications per level x {rounds} alternated rounds, 2 tokio workers, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| verifications in flight | per second (median) | µs each |\n| ---: | ---: | ---: |");
    for (n, mut r) in levels.iter().zip(rates) {
        r.sort_by(f64::total_cmp);
        let median = r[r.len() / 2];
        println!("| {n} | {median:.0} | {:.1} |", 1e6 / median);
    }
}

/// Verification latency while a writer commits key updates back to back,
/// verifications one at a time for `run`.
fn under_writes(run: Duration) {
    let rt = runtime();
    let bench = rt.block_on(setup());
    let requests: Vec<VerifyRequest> = bench.keys.iter().map(|(_, k)| request(k)).collect();
    let (latencies, writes, elapsed) = rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (service, stop) = (bench.service.clone(), stop.clone());
            let id = bench.keys[KEYS - 1].0.clone();
            tokio::spawn(async move {
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let rename = UpdateFields {
                        name: Some(format!("renamed {writes}")),
                        description: None,
                    };
                    service
                        .update_key(&caller(), &id, &rename)
                        .await
                        .expect("an update");
                    writes += 1;
                }
                writes
            })
        };
        // Let the writer get going.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let start = Instant::now();
        let mut latencies = Vec::new();
        for i in 0.. {
            if start.elapsed() >= run {
                break;
            }
            let at = Instant::now();
            let verdict = bench
                .service
                .verify(&requests[i % KEYS])
                .await
                .expect("verify answers");
            latencies.push(at.elapsed());
            assert!(verdict.valid);
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        (latencies, writer.await.expect("the writer"), elapsed)
    });
    let verifications = latencies.len();
    let mut sorted = latencies;
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "\nService::verify on SQLite while a writer commits key updates back to back: \
         {verifications} verifications one at a time in {:.2} s ({:.0}/s), {writes} commits meanwhile ({:.0}/s)",
        elapsed.as_secs_f64(),
        verifications as f64 / elapsed.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "verification latency: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(at(0.5)),
        us(at(0.99)),
        us(sorted[sorted.len() - 1])
    );
}

/// Counts what one verification does to the store, and when uses are written.
fn answer_path() {
    let rt = runtime();
    rt.block_on(async {
        let bench = setup().await;
        let store = &bench.store;
        let (reads, writes) = (store.reads.load(Ordering::SeqCst), store.writes.load(Ordering::SeqCst));
        let verifications = 10 * KEYS;
        for i in 0..verifications {
            let verdict = bench.service.verify(&request(&bench.keys[i % KEYS].1)).await.unwrap();
            assert_eq!(verdict.code, VerdictCode::Valid);
        }
        let reads = store.reads.load(Ordering::SeqCst) - reads;
        let writes = store.writes.load(Ordering::SeqCst) - writes;
        assert_eq!(reads, verifications, "one read per verification");
        assert_eq!(writes, 0, "no write on the answer's path");
        // The flusher's job (every second in the server): one batch.
        let written = bench.service.flush_usage().await.unwrap();
        let batches = store.use_batches.load(Ordering::SeqCst);
        assert_eq!((written, batches), (KEYS, 1), "one batch with every used key");
        // Used again within the minute: nothing to write.
        for (_, key) in &bench.keys {
            bench.service.verify(&request(key)).await.unwrap();
        }
        assert_eq!(bench.service.flush_usage().await.unwrap(), 0, "at most once a minute per key");
        bench.clock.advance(60);
        for (_, key) in &bench.keys {
            bench.service.verify(&request(key)).await.unwrap();
        }
        assert_eq!(bench.service.flush_usage().await.unwrap(), KEYS);
        let last_used = store.inner.get_key(&bench.keys[0].0).await.unwrap().unwrap().last_used_at;
        assert_eq!(last_used, Some(T0 + 60));
        println!(
            "\nanswer's path: {verifications} verifications of {KEYS} keys made {reads} reads \
             (get_key) and {writes} writes; the flush then wrote {written} uses in {batches} \
             record_key_use batch; {KEYS} more within the minute wrote 0; after 60 s, {KEYS} in one \
             more batch ({} batches, {} uses in all)",
            store.use_batches.load(Ordering::SeqCst),
            store.uses_written.load(Ordering::SeqCst),
        );
    });
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    if std::env::args().any(|a| a == "--bench") {
        throughput_table(9, 20_000);
        under_writes(Duration::from_secs(3));
        unknown_ids::compare(3_000, 100);
    } else {
        throughput_table(1, 200);
        under_writes(Duration::from_millis(50));
        unknown_ids::compare(200, 20);
    }
    answer_path();
}
