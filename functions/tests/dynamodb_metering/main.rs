//! Metering on the DynamoDB store, on moto_server: `Store::debit` is exact
//! under concurrency (tokio tasks, and several OS processes), debits every
//! limit and the credits together or not at all, refills once per period,
//! leaves a balance set by a key write alone, survives a lost answer, and
//! costs one `GetItem` and one `UpdateItem` per metered verification
//! (`functions/src/store/dynamodb/debit.rs`).
//!
//! A verification here is what the service does for a key that passed
//! every other check: `get_key`, then `debit` with the key as read.

#[path = "../support/fault_proxy.rs"]
mod fault_proxy;
#[path = "../support/moto.rs"]
mod moto;
#[path = "../support/request_counter.rs"]
mod request_counter;

mod cost;
mod exactness;
mod processes;
mod writes;

use keyward::domain::{Application, Key};
use keyward::store::dynamodb::DynamoStore;
use keyward::store::{Metered, Store, Write};
use keyward::usage::{Balance, Credits, Meter, RateLimit, Refusal, UsageControls};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasm_validator::{ApplicationStatus, OwnerStatus, StoredKeyStatus};

/// A minute-aligned time (window 30,000,000 of a 60-second limit).
const T: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const USAGE_EXCEEDED: Option<Refusal> = Some(Refusal::UsageExceeded);
const RATE_LIMITED: Option<Refusal> = Some(Refusal::RateLimited);

fn limit(name: &str, limit: u64, window_seconds: u32) -> RateLimit {
    RateLimit {
        name: name.into(),
        limit,
        window_seconds,
    }
}

fn controls(rate_limits: Vec<RateLimit>, credits: Option<Credits>) -> UsageControls {
    // Allowed addresses play no part in metering.
    UsageControls {
        rate_limits,
        credits,
        ..UsageControls::default()
    }
}

fn credits(remaining: u64) -> Option<Credits> {
    Some(Credits {
        remaining,
        refill: None,
    })
}

fn application(id: &str) -> Application {
    Application {
        id: id.into(),
        account: "acme".into(),
        name: "metered".into(),
        description: String::new(),
        key_prefix: "kw".into(),
        created_by: "alice".into(),
        created_at: T,
        updated_at: T,
        status: ApplicationStatus::Active,
        revoked_at: None,
        owner_status: OwnerStatus::Active,
        ttl: None,
        version: 1,
    }
}

fn key(id: &str, application_id: &str, usage: UsageControls) -> Key {
    Key {
        id: id.into(),
        application_id: application_id.into(),
        account: "acme".into(),
        name: format!("key {id}"),
        description: String::new(),
        prefix: "kw".into(),
        hash: "00".repeat(32),
        scopes: vec!["sims:read".into()],
        status: StoredKeyStatus::Active,
        created_by: "alice".into(),
        created_at: T,
        updated_at: T,
        expires_at: T + 365 * DAY,
        revoked_at: None,
        revoke_at: None,
        replaced_by: None,
        replaces: None,
        last_used_at: None,
        application_status: ApplicationStatus::Active,
        owner_status: OwnerStatus::Active,
        ttl: T + 400 * DAY,
        version: 1,
        usage,
        meter: Default::default(),
        set_balance: None,
        leak: None,
        disabled_by: None,
        enabled_at: None,
    }
}

/// A fresh id as long as keyward's (22 base62 digits): item sizes here are
/// those of real keys. Each test has a table of its own.
fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:022}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Creates an application and a key with `usage` in `store`, its balance
/// set to `balance`; the key's id.
async fn create(store: &DynamoStore, usage: UsageControls, balance: Option<Balance>) -> String {
    let (app, id) = (format!("app_{}", fresh_id()), fresh_id());
    let mut item = key(&id, &app, usage);
    item.set_balance = balance;
    let writes = vec![
        Write::Application {
            item: application(&app),
            expected: None,
        },
        Write::Key {
            item,
            expected: None,
        },
    ];
    store.commit(writes).await.unwrap();
    id
}

async fn store() -> DynamoStore {
    let (client, table) = moto::table().await;
    DynamoStore::new(client, table)
}

/// A verification's store calls: read the key, debit it.
async fn verify(store: &DynamoStore, id: &str, cost: u64, now: i64) -> Metered {
    let key = store.get_key(id).await.unwrap().expect("the key exists");
    store.debit(&key, cost, now).await.unwrap()
}

/// Verifications in flight at once per process: moto_server answers one
/// connection at a time, and hundreds of connections at once overflow its
/// listen queue (connection errors, not races). Still far more than moto
/// serialises, so reads and writes of different debits interleave.
const IN_FLIGHT: usize = 32;

/// `n` verifications of cost 1 at once, each in its own task.
async fn race(store: &DynamoStore, id: &str, n: usize, now: i64) -> Vec<Option<Refusal>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, id, gate) = (store.clone(), id.to_owned(), gate.clone());
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                verify(&store, &id, 1, now).await.refused
            })
        })
        .collect();
    let mut refusals = Vec::new();
    for task in tasks {
        refusals.push(task.await.unwrap());
    }
    refusals
}

fn accepted(refusals: &[Option<Refusal>]) -> usize {
    refusals.iter().filter(|r| r.is_none()).count()
}

/// The key's counters as stored.
async fn meter(store: &DynamoStore, id: &str) -> Meter {
    store.get_key(id).await.unwrap().unwrap().meter
}

fn used(meter: &Meter, name: &str, window: i64) -> Option<u64> {
    meter
        .windows
        .iter()
        .find(|w| w.name == name && w.window == window)
        .map(|w| w.used)
}
