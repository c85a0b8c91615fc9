//! SQLite's meters across processes: debits from several processes and
//! several stores on one data file at once accept exactly what the counters
//! allow, and a process killed with SIGKILL while debiting never lets a
//! credit be spent twice nor loses more than the debits it had in flight.
//!
//! The other processes are this test binary run again with `worker` as the
//! only test and `KEYWARD_METER_WORKER` set (`worker` does nothing without
//! it). A worker appends one line to its log after each accepted debit
//! returns, so "accepted" is known exactly whenever it is killed.

#![cfg(unix)]

#[allow(dead_code)] // the conformance suite's items; part of them
#[path = "store_conformance/items.rs"]
mod items;

use items::{DAY, T0, app, key};
use keyward::store::sqlite::SqliteStore;
use keyward::store::{Store, Write};
use keyward::usage::{Balance, Credits, RateLimit, Refusal, UsageControls};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in a worker process: the data file.
const WORKER: &str = "KEYWARD_METER_WORKER";
/// The ids of the keys a worker debits, comma-separated.
const KEYS: &str = "KEYWARD_METER_KEYS";
/// The file a worker logs to: `ready`, then the index of the key of each
/// accepted debit, then `done`.
const LOG: &str = "KEYWARD_METER_LOG";
/// A worker starts debiting when this file exists.
const GO: &str = "KEYWARD_METER_GO";
/// Debits each worker process (and each store in the test) runs at once.
const TASKS: usize = 2;

/// A worker process: debits each of its keys, one unit at a time on
/// `TASKS` tasks, until each is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker() {
    let Some(db) = std::env::var_os(WORKER) else {
        return;
    };
    let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let store = SqliteStore::open(Path::new(&db)).unwrap();
    let keys = var(KEYS).split(',').map(str::to_owned).collect();
    let log = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(var(LOG))
            .unwrap(),
    ));
    line(&log, "ready");
    let go = PathBuf::from(var(GO));
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let accepted = log.clone();
    debit_until_refused(Arc::new(store), keys, move |index| {
        line(&accepted, &index.to_string())
    })
    .await;
    line(&log, "done");
}

/// One write per line, straight to the file: it outlives a kill.
fn line(log: &std::sync::Mutex<std::fs::File>, text: &str) {
    log.lock()
        .unwrap()
        .write_all(format!("{text}\n").as_bytes())
        .unwrap();
}

/// Debits the keys of `keys` in turn on `TASKS` tasks until each is
/// refused; `accepted(i)` runs after each accepted debit of `keys[i]`
/// returns.
async fn debit_until_refused(
    store: Arc<dyn Store>,
    keys: Vec<String>,
    accepted: impl Fn(usize) + Clone + Send + Sync + 'static,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (store, keys, accepted) = (store.clone(), keys.clone(), accepted.clone());
        tasks.spawn(async move {
            let mut live = Vec::new();
            for (index, id) in keys.iter().enumerate() {
                live.push((index, store.get_key(id).await.unwrap().unwrap()));
            }
            while !live.is_empty() {
                let mut still = Vec::new();
                for (index, key) in live {
                    if store.debit(&key, 1, T0).await.unwrap().refused.is_none() {
                        accepted(index);
                        still.push((index, key));
                    }
                }
                live = still;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Commits application `app_m` and a key per `(id, limits, credits)`, the
/// balance set as a create sets it.
async fn metered_keys(store: &dyn Store, keys: &[(&str, Vec<RateLimit>, Option<u64>)]) {
    let mut writes = vec![Write::Application {
        item: app("app_m", "acct"),
        expected: None,
    }];
    for (id, rate_limits, credits) in keys {
        let mut item = key(id, "app_m", "acct", T0 + 365 * DAY);
        // Allowed addresses play no part in metering.
        #[allow(clippy::needless_update)]
        let usage = UsageControls {
            rate_limits: rate_limits.clone(),
            credits: credits.map(|remaining| Credits {
                remaining,
                refill: None,
            }),
            ..UsageControls::default()
        };
        item.usage = usage;
        item.set_balance = credits.map(|remaining| Balance {
            remaining,
            period: 0,
        });
        writes.push(Write::Key {
            item,
            expected: None,
        });
    }
    store.commit(writes).await.unwrap();
}

/// A worker process on `db`, logging to `log`.
fn spawn_worker(db: &Path, keys: &[&str], log: &Path, go: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["worker", "--exact", "--test-threads", "1", "--quiet"])
        .env(WORKER, db)
        .env(KEYS, keys.join(","))
        .env(LOG, log)
        .env(GO, go)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// A worker's log so far.
fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until every worker has logged `ready`.
fn wait_ready(logs: &[PathBuf]) {
    let start = Instant::now();
    while !logs
        .iter()
        .all(|log| lines(log).first().is_some_and(|l| l == "ready"))
    {
        assert!(start.elapsed() < Duration::from_secs(60), "workers start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Accepted debits of key `index` in a worker's log.
fn accepted_in(log: &Path, index: usize) -> u64 {
    let index = index.to_string();
    lines(log).iter().filter(|l| **l == index).count() as u64
}

/// Two worker processes and two stores of this process (separate
/// connections), `TASKS` debits at once in each, on a key with credits
/// and a key with a rate limit: exactly the credits and exactly the limit
/// are accepted in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn debits_from_several_processes_accept_exactly_the_counters() {
    const CREDITS: u64 = 1_000;
    const LIMIT: u64 = 800;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let (a, b) = (
        SqliteStore::open(&db).unwrap(),
        SqliteStore::open(&db).unwrap(),
    );
    let day_limit = RateLimit {
        name: "day".into(),
        limit: LIMIT,
        window_seconds: 86_400,
    };
    metered_keys(
        &a,
        &[
            ("k_credits", vec![], Some(CREDITS)),
            ("k_limited", vec![day_limit], None),
        ],
    )
    .await;
    let keys = ["k_credits", "k_limited"];
    let go = dir.path().join("go");
    let logs: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("log-{i}")))
        .collect();
    let mut children: Vec<Child> = logs
        .iter()
        .map(|log| spawn_worker(&db, &keys, log, &go))
        .collect();
    wait_ready(&logs);
    std::fs::write(&go, b"").unwrap();
    let here: Arc<[std::sync::atomic::AtomicU64; 2]> = Arc::default();
    let mut stores = tokio::task::JoinSet::new();
    for store in [a.clone(), b] {
        let (here, keys) = (here.clone(), keys.map(str::to_owned).to_vec());
        stores.spawn(debit_until_refused(Arc::new(store), keys, move |i| {
            here[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
    }
    while let Some(done) = stores.join_next().await {
        done.unwrap();
    }
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a worker failed");
    }
    for (index, expected) in [(0, CREDITS), (1, LIMIT)] {
        let in_workers: u64 = logs.iter().map(|log| accepted_in(log, index)).sum();
        let in_here = here[index].load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            in_workers + in_here,
            expected,
            "{}: {in_workers} in the workers, {in_here} here",
            keys[index]
        );
        // Both sides took part (the test is about racing them).
        assert!(in_here > 0 && in_workers > 0, "{}", keys[index]);
    }
    for log in &logs {
        assert_eq!(lines(log).last().map(String::as_str), Some("done"));
    }
    let credits = a.get_key("k_credits").await.unwrap().unwrap();
    let meter = a.read_meter(&credits).await.unwrap();
    assert_eq!(meter.credits.map(|c| c.remaining), Some(0));
    let limited = a.get_key("k_limited").await.unwrap().unwrap();
    assert_eq!(
        a.debit(&limited, 1, T0).await.unwrap().refused,
        Some(Refusal::RateLimited)
    );
}

/// A worker process debits a key with N credits and is killed with
/// SIGKILL at a random moment, round after round. After each kill the
/// file, opened again, holds every debit the worker reported accepted
/// (none is answered twice: remaining <= N - accepted) and loses none but
/// those in flight at the kill (committed, not yet reported: at most
/// `TASKS` per kill, less than a lease: remaining >= N - accepted -
/// TASKS * kills). A kill of the process is not an OS crash, so no floor
/// applies (`recovery.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_debiting_never_spends_a_credit_twice() {
    const CREDITS: u64 = 100_000;
    const ROUNDS: u64 = 6;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    {
        let setup = SqliteStore::open(&db).unwrap();
        metered_keys(&setup, &[("k", vec![], Some(CREDITS))]).await;
    }
    let mut accepted = 0;
    for round in 1..=ROUNDS {
        let log = dir.path().join(format!("log-{round}"));
        let go = dir.path().join(format!("go-{round}"));
        let mut child = spawn_worker(&db, &["k"], &log, &go);
        wait_ready(std::slice::from_ref(&log));
        std::fs::write(&go, b"").unwrap();
        let at = rand::random_range(20..200);
        tokio::time::sleep(Duration::from_millis(at)).await;
        child.kill().unwrap();
        assert!(!child.wait().unwrap().success(), "killed, not finished");
        let in_round = accepted_in(&log, 0);
        assert!(in_round > 0, "round {round}: no debit in {at} ms");
        accepted += in_round;

        let store = SqliteStore::open(&db).unwrap();
        let key = store.get_key("k").await.unwrap().unwrap();
        let remaining = store
            .read_meter(&key)
            .await
            .unwrap()
            .credits
            .unwrap()
            .remaining;
        assert!(
            remaining <= CREDITS - accepted,
            "round {round}: {remaining} left after {accepted} accepted"
        );
        let in_flight = TASKS as u64 * round;
        assert!(
            remaining + in_flight >= CREDITS - accepted,
            "round {round}: {remaining} left after {accepted} accepted"
        );
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        eprintln!(
            "round {round}: killed after {at} ms, {in_round} accepted, {accepted} in all, {remaining} left"
        );
    }
}
