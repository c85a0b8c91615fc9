//! SQLite's meters beyond the conformance suite: the durable floor under
//! each credit balance and what an OS crash may cost, telling a crash of
//! the machine from one of the process, the key cache across debits, and
//! the purge of counters.

use super::{alice_with_a_key, service};
use crate::domain::Key;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::meter::floor_below;
use crate::store::{Store, Write};
use crate::usage::{Balance, Credits, RateLimit};
use std::path::Path;

const T0: i64 = 1_800_000_000;

/// A key made through the service on `store`, then given a rate limit and
/// `credits` credits (as a create with them would write it).
async fn metered(store: &SqliteStore, credits: u64) -> Key {
    let (_, id, _) = alice_with_a_key(&service(store.clone())).await;
    let mut key = store.get_key(&id).await.unwrap().unwrap();
    let version = key.version;
    key.usage.rate_limits = vec![RateLimit {
        name: "day".into(),
        limit: 1_000_000,
        window_seconds: 86_400,
    }];
    key.usage.credits = Some(Credits {
        remaining: credits,
        refill: None,
    });
    key.set_balance = Some(Balance {
        remaining: credits,
        period: 0,
    });
    store
        .commit(vec![Write::Key {
            item: key,
            expected: Some(version),
        }])
        .await
        .unwrap();
    store.get_key(&id).await.unwrap().unwrap()
}

/// `remaining` and `floor` as stored, read by a connection of its own.
fn stored(path: &Path, key_id: &str) -> (u64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT remaining, floor FROM meters WHERE key_id = ?1",
        [key_id],
        |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
    )
    .unwrap()
}

/// What survives a power cut at the worst moment: the files as they were
/// right after the last fsync'd commit.
fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    for suffix in ["", "-wal"] {
        let (mut a, mut b) = (from.as_os_str().to_owned(), to.as_os_str().to_owned());
        a.push(suffix);
        b.push(suffix);
        std::fs::copy(&a, &b).unwrap();
    }
}

/// Debits one credit at a time from balances of several sizes, and every
/// so often "cuts the power": it restores the files as of the last
/// durable commit (everything committed at `NORMAL` since is lost) and
/// opens them under a new boot. The balance found is never more than what
/// was really left, and at most one lease less. A floor that did not lead
/// the balance, or that was not committed durably, fails this.
#[tokio::test]
async fn a_power_cut_loses_at_most_a_lease_and_never_adds_credits() {
    for credits in [50, 300, 2_500] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let store = SqliteStore::open_under(&path, Some("boot-a")).unwrap();
        let key = metered(&store, credits).await;
        let durable = |n: u64| dir.path().join(format!("durable-{n}/keyward.db"));
        copy_database(&path, &durable(0));
        let (mut leases, mut lease_taken_at) = (store.leases(), credits);
        for spent in 1..=credits {
            let metered = store.debit(&key, 1, T0).await.unwrap();
            assert_eq!(metered.refused, None);
            let (remaining, floor) = stored(&path, &key.id);
            assert_eq!(remaining, credits - spent);
            if store.leases() != leases {
                leases = store.leases();
                lease_taken_at = remaining;
                copy_database(&path, &durable(leases));
            }
            assert!(floor <= remaining, "{credits}: {floor} > {remaining}");
            assert_eq!(floor, floor_below(lease_taken_at));
            // About 25 cuts per balance, at every phase of a lease.
            if spent % (credits / 25).max(1) != 0 && spent != credits {
                continue;
            }
            let cut = dir.path().join(format!("cut-{spent}/keyward.db"));
            copy_database(&durable(leases), &cut);
            let after = SqliteStore::open_under(&cut, Some("boot-b")).unwrap();
            let found = after.read_meter(&key).await.unwrap().credits.unwrap();
            let lease = lease_taken_at - floor_below(lease_taken_at);
            assert!(
                found.remaining <= remaining && found.remaining + lease >= remaining,
                "{credits} credits, {spent} spent: {} found after the cut",
                found.remaining
            );
        }
        assert_eq!(
            store.debit(&key, 1, T0).await.unwrap().refused,
            Some(crate::usage::Refusal::UsageExceeded)
        );
        // Leases are few: 50 takes 4 (the first balance is the create's).
        assert!(leases <= 4 + credits / 16, "{credits}: {leases} leases");
    }
}

/// A killed process (its store never counted out) loses nothing under the
/// same boot: the balance is as it was. Opened under another boot, the
/// floors apply. After a clean close, a new boot changes nothing.
#[tokio::test]
async fn floors_apply_after_a_new_boot_only_when_a_store_was_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open_under(&path, Some("boot-a")).unwrap();
    let key = metered(&store, 1_000).await;
    for _ in 0..5 {
        store.debit(&key, 1, T0).await.unwrap();
    }
    let (remaining, floor) = stored(&path, &key.id);
    assert_eq!((remaining, floor), (995, 984));
    // Killed: never counted out.
    std::mem::forget(store);
    let again = SqliteStore::open_under(&path, Some("boot-a")).unwrap();
    assert_eq!(stored(&path, &key.id), (995, 984), "same boot: as it was");
    again.debit(&key, 1, T0).await.unwrap();
    drop(again);
    // The killed store is still counted: the machine may have gone down
    // with it.
    let rebooted = SqliteStore::open_under(&path, Some("boot-b")).unwrap();
    assert_eq!(stored(&path, &key.id), (984, 984), "new boot: the floor");
    rebooted.debit(&key, 1, T0).await.unwrap();
    assert_eq!(stored(&path, &key.id), (983, floor_below(983)));
    drop(rebooted);
    let clean = SqliteStore::open_under(&path, Some("boot-c")).unwrap();
    assert_eq!(stored(&path, &key.id).0, 983, "closed cleanly: as it was");
    // With no boot id, a store open elsewhere might be one of an earlier
    // boot: the floors apply.
    let unknown = SqliteStore::open_under(&path, None).unwrap();
    assert_eq!(stored(&path, &key.id).0, floor_below(983));
    drop((clean, unknown));
}

/// A debit commits to the file, which changes the WAL index header, but
/// changes no key: verification's key cache keeps its answers across it.
/// Any other commit still empties it.
#[tokio::test]
async fn debits_keep_the_key_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    let key = metered(&store, 100).await;
    store.get_key(&key.id).await.unwrap();
    let reads = store.key_reads();
    for _ in 0..20 {
        store.debit(&key, 1, T0).await.unwrap();
        store.get_key(&key.id).await.unwrap().unwrap();
    }
    assert_eq!(store.key_reads(), reads, "every read from the cache");
    store.record_key_use(&[(key.id.clone(), T0)]).await.unwrap();
    store.get_key(&key.id).await.unwrap().unwrap();
    assert_eq!(store.key_reads(), reads + 1, "another commit empties it");
}

/// Purging a key drops its counters; a live key keeps them.
#[tokio::test]
async fn purging_a_key_drops_its_counters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    let (gone, kept) = (metered(&store, 10).await, metered(&store, 10).await);
    for key in [&gone, &kept] {
        store.debit(key, 1, T0).await.unwrap();
    }
    let mut purgeable = gone.clone();
    purgeable.ttl = T0 - 1;
    store
        .commit(vec![Write::Key {
            item: purgeable,
            expected: Some(gone.version),
        }])
        .await
        .unwrap();
    let rows = || -> Vec<String> {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT key_id FROM meters ORDER BY key_id")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let mut both = vec![gone.id.clone(), kept.id.clone()];
    both.sort();
    assert_eq!(rows(), both);
    assert_eq!(store.purge_expired(T0).await.unwrap(), 1);
    assert_eq!(rows(), [kept.id]);
}

/// What a debit costs next to a plain `get_key` (BENCHMARKS.md, "Store"):
/// no assertion on time, it prints. Run it optimised:
/// `cargo test -p keyward --profile bench --lib cost_of_a_debit -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn cost_of_a_debit() {
    use std::time::Instant;
    const N: u32 = 20_000;
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    // A large balance (a lease per 10^7 debits), and a small one set again
    // each round and spent to 0 (leases of 200 credits down to 16).
    let large = metered(&store, 1_000_000_000).await;
    let small = metered(&store, u64::from(N)).await;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let micros = |start: Instant| start.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let (mut get, mut debit, mut small_debit) = (vec![], vec![], vec![]);
    let (mut slowest, mut small_leases) = (0.0f64, 0);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..N {
            std::hint::black_box(store.get_key(&large.id).await.unwrap());
        }
        get.push(micros(start));
        let start = Instant::now();
        for _ in 0..N {
            let one = Instant::now();
            let key = store.get_key(&large.id).await.unwrap().unwrap();
            std::hint::black_box(store.debit(&key, 1, T0).await.unwrap());
            slowest = slowest.max(one.elapsed().as_secs_f64() * 1e3);
        }
        debit.push(micros(start));
        let mut reset = store.get_key(&small.id).await.unwrap().unwrap();
        let version = reset.version;
        reset.set_balance = Some(Balance {
            remaining: u64::from(N),
            period: 0,
        });
        let write = Write::Key {
            item: reset,
            expected: Some(version),
        };
        store.commit(vec![write]).await.unwrap();
        let (start, leases) = (Instant::now(), store.leases());
        for _ in 0..N {
            let metered = store.debit(&small, 1, T0).await.unwrap();
            assert_eq!(metered.refused, None);
        }
        small_debit.push(micros(start));
        small_leases = store.leases() - leases;
    }
    println!(
        "one at a time, median of {ROUNDS} rounds of {N}: get_key {:.2} µs; get_key + debit \
         (1 limit + credits) {:.2} µs, slowest {slowest:.1} ms; debit of {N} credits down to \
         0 ({small_leases} leases) {:.2} µs",
        median(get),
        median(debit),
        median(small_debit),
    );
    for tasks in [2, 8, 32] {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..tasks {
            let (store, id) = (store.clone(), large.id.clone());
            set.spawn(async move {
                for _ in 0..N / tasks {
                    let key = store.get_key(&id).await.unwrap().unwrap();
                    std::hint::black_box(store.debit(&key, 1, T0).await.unwrap());
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
        let rate = f64::from(N / tasks * tasks) / start.elapsed().as_secs_f64();
        println!("{tasks} tasks on 2 workers: {rate:.0} get_key + debit per second");
    }
    println!("SQLite key reads in all: {}", store.key_reads());
}
