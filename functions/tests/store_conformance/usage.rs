//! The store's meters (`Store::read_meter`, `Store::debit`): debits are
//! exact under any concurrency, all together or not at all, per window and
//! per refill period, and a key write that sets a balance resets it.
//!
//! Keys are committed straight to the store as a create would write them
//! (controls on the item, `set_balance` beside it), and every debit passes
//! the key as `get_key` read it, as verification does. Counters are
//! compared through `usage::report`, which does not depend on the order a
//! store keeps windows in.

use crate::items::*;
use keyward::domain::Key;
use keyward::store::{Metered, Store, Write};
use keyward::usage::meter::{period_for, refill_period};
use keyward::usage::{
    Balance, Credits, RateLimit, Refill, RefillInterval, Refusal, UsageControls, UsageReport,
    report,
};
use std::sync::Arc;

/// The window of most limits below (T0 is a whole minute).
const MINUTE: i64 = 60;

fn limit(name: &str, limit: u64, window_seconds: u32) -> RateLimit {
    RateLimit {
        name: name.into(),
        limit,
        window_seconds,
    }
}

fn credits(remaining: u64, refill: Option<Refill>) -> Option<Credits> {
    Some(Credits { remaining, refill })
}

/// Commits application `app_m` (once) and key `id` with these controls
/// and, when it has credits, its balance as a create sets it at `now`;
/// answers the key as `get_key` reads it.
async fn metered_key(
    store: &dyn Store,
    id: &str,
    rate_limits: Vec<RateLimit>,
    credits: Option<Credits>,
    now: i64,
) -> Key {
    let mut item = key(id, "app_m", "acct", T0 + 365 * DAY);
    // Allowed addresses play no part in metering.
    #[allow(clippy::needless_update)]
    let usage = UsageControls {
        rate_limits,
        credits,
        ..UsageControls::default()
    };
    item.set_balance = usage.credits.map(|c| Balance {
        remaining: c.remaining,
        period: period_for(c.refill.as_ref(), now),
    });
    item.usage = usage;
    let mut writes = vec![Write::Key {
        item,
        expected: None,
    }];
    if store.get_application("app_m").await.unwrap().is_none() {
        writes.insert(
            0,
            Write::Application {
                item: app("app_m", "acct"),
                expected: None,
            },
        );
    }
    commit(store, writes).await.unwrap();
    read_key(store, id).await
}

async fn read_key(store: &dyn Store, id: &str) -> Key {
    store.get_key(id).await.unwrap().expect("the key")
}

/// Debits `cost` from the key as read now.
async fn debit(store: &dyn Store, id: &str, cost: u64, now: i64) -> Metered {
    let key = read_key(store, id).await;
    store.debit(&key, cost, now).await.unwrap()
}

/// What the store's counters say of key `id` at `now`.
async fn counted(store: &dyn Store, id: &str, now: i64) -> UsageReport {
    let key = read_key(store, id).await;
    let meter = store.read_meter(&key).await.unwrap();
    report(&key.usage, &meter, now)
}

/// `count` debits of `cost` at once from `key` (one read for all), each
/// in its own task: the refusals, in no particular order, and the credits
/// each accepted debit left.
async fn at_once(
    store: &Arc<dyn Store>,
    key: &Key,
    count: usize,
    now: i64,
) -> (Vec<Option<Refusal>>, Vec<Option<u64>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (store, key) = (store.clone(), key.clone());
        tasks.spawn(async move { store.debit(&key, 1, now).await.unwrap() });
    }
    let (mut refusals, mut left) = (Vec::new(), Vec::new());
    while let Some(metered) = tasks.join_next().await {
        let metered = metered.unwrap();
        if metered.refused.is_none() {
            left.push(report(&key.usage, &metered.meter, now).credits_remaining);
        }
        refusals.push(metered.refused);
    }
    (refusals, left)
}

fn accepted(refusals: &[Option<Refusal>]) -> usize {
    refusals.iter().filter(|r| r.is_none()).count()
}

pub async fn parallel_debits_accept_exactly_the_credits(store: Arc<dyn Store>) {
    let key = metered_key(&*store, "k_credits", vec![], credits(50, None), T0).await;
    let (refusals, mut left) = at_once(&store, &key, 200, T0).await;
    assert_eq!(accepted(&refusals), 50);
    assert!(
        refusals
            .iter()
            .flatten()
            .all(|r| *r == Refusal::UsageExceeded),
        "{refusals:?}"
    );
    // Each accepted debit took one credit of its own: 49 left, then 48, ...
    left.sort();
    assert_eq!(left, (0..50).map(Some).collect::<Vec<_>>());
    assert_eq!(
        counted(&*store, "k_credits", T0).await.credits_remaining,
        Some(0)
    );
}

pub async fn a_limit_accepts_exactly_its_units_per_window(store: Arc<dyn Store>) {
    let key = metered_key(&*store, "k_limit", vec![limit("m", 20, 60)], None, T0).await;
    for window_start in [T0, T0 + MINUTE] {
        // The last second of the first window, then the first of the next.
        let now = if window_start == T0 {
            T0 + MINUTE - 1
        } else {
            window_start
        };
        let key = read_key(&*store, &key.id).await;
        let (refusals, _) = at_once(&store, &key, 50, now).await;
        assert_eq!(accepted(&refusals), 20, "window at {window_start}");
        assert!(
            refusals
                .iter()
                .flatten()
                .all(|r| *r == Refusal::RateLimited)
        );
        let counted = counted(&*store, "k_limit", now).await;
        assert_eq!(counted.rate_limits[0].remaining, 0);
        assert_eq!(counted.rate_limits[0].reset_at, window_start + MINUTE);
    }
    // The next window starts empty.
    let next = counted(&*store, "k_limit", T0 + 2 * MINUTE).await;
    assert_eq!(next.rate_limits[0].remaining, 20);
}

pub async fn a_refusal_debits_neither_the_limits_nor_the_credits(store: Arc<dyn Store>) {
    // Credits run out first: the limit keeps its count.
    metered_key(
        &*store,
        "k_both",
        vec![limit("m", 10, 60)],
        credits(3, None),
        T0,
    )
    .await;
    for _ in 0..3 {
        assert_eq!(debit(&*store, "k_both", 1, T0).await.refused, None);
    }
    let refused = debit(&*store, "k_both", 1, T0).await;
    assert_eq!(refused.refused, Some(Refusal::UsageExceeded));
    let after = counted(&*store, "k_both", T0).await;
    assert_eq!(after.rate_limits[0].remaining, 7, "3 used, not 4");
    assert_eq!(after.credits_remaining, Some(0));
    // The answer to a refusal carries the counters as they are.
    let key = read_key(&*store, "k_both").await;
    assert_eq!(report(&key.usage, &refused.meter, T0), after);

    // The limit runs out first: the credits keep theirs.
    metered_key(
        &*store,
        "k_limited",
        vec![limit("m", 2, 60)],
        credits(10, None),
        T0,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(debit(&*store, "k_limited", 1, T0).await.refused, None);
    }
    assert_eq!(
        debit(&*store, "k_limited", 1, T0).await.refused,
        Some(Refusal::RateLimited)
    );
    let after = counted(&*store, "k_limited", T0).await;
    assert_eq!(after.credits_remaining, Some(8));
    assert_eq!(after.rate_limits[0].remaining, 0);

    // A cost larger than what is left takes nothing.
    metered_key(
        &*store,
        "k_cost",
        vec![limit("m", 10, 60)],
        credits(4, None),
        T0,
    )
    .await;
    assert_eq!(
        debit(&*store, "k_cost", 5, T0).await.refused,
        Some(Refusal::UsageExceeded)
    );
    let after = counted(&*store, "k_cost", T0).await;
    assert_eq!(
        (after.credits_remaining, after.rate_limits[0].remaining),
        (Some(4), 10)
    );
    assert_eq!(debit(&*store, "k_cost", 4, T0).await.refused, None);
    let after = counted(&*store, "k_cost", T0).await;
    assert_eq!(
        (after.credits_remaining, after.rate_limits[0].remaining),
        (Some(0), 6)
    );
}

pub async fn a_cost_of_zero_consumes_nothing(store: Arc<dyn Store>) {
    metered_key(
        &*store,
        "k_zero",
        vec![limit("m", 5, 60)],
        credits(2, None),
        T0,
    )
    .await;
    let before = counted(&*store, "k_zero", T0).await;
    let check = debit(&*store, "k_zero", 0, T0).await;
    assert_eq!(check.refused, None);
    assert_eq!(counted(&*store, "k_zero", T0).await, before);
    for _ in 0..2 {
        assert_eq!(debit(&*store, "k_zero", 1, T0).await.refused, None);
    }
    // Nothing left: a check is refused, and still takes nothing.
    assert_eq!(
        debit(&*store, "k_zero", 0, T0).await.refused,
        Some(Refusal::UsageExceeded)
    );
    let after = counted(&*store, "k_zero", T0).await;
    assert_eq!(
        (after.credits_remaining, after.rate_limits[0].remaining),
        (Some(0), 3)
    );
}

pub async fn credits_refill_at_midnight_utc(store: Arc<dyn Store>) {
    let midnight = (T0 / DAY + 1) * DAY;
    let refill = Refill {
        amount: 5,
        interval: RefillInterval::Daily,
    };
    metered_key(
        &*store,
        "k_refill",
        vec![],
        credits(2, Some(refill)),
        midnight - 10,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            debit(&*store, "k_refill", 1, midnight - 1).await.refused,
            None
        );
    }
    assert_eq!(
        debit(&*store, "k_refill", 1, midnight - 1).await.refused,
        Some(Refusal::UsageExceeded)
    );
    // 00:00:00 UTC: the refill sets 5, and this debit takes one.
    let refilled = debit(&*store, "k_refill", 1, midnight).await;
    assert_eq!(refilled.refused, None);
    let key = read_key(&*store, "k_refill").await;
    assert_eq!(
        store.read_meter(&key).await.unwrap().credits,
        Some(Balance {
            remaining: 4,
            period: refill_period(RefillInterval::Daily, midnight),
        })
    );
    assert_eq!(
        report(&key.usage, &refilled.meter, midnight).credits_remaining,
        Some(4)
    );
    // The refill is read lazily too: the next day shows 5 before any debit.
    assert_eq!(
        counted(&*store, "k_refill", midnight + DAY)
            .await
            .credits_remaining,
        Some(5)
    );
}

pub async fn a_key_write_with_a_balance_resets_it(store: Arc<dyn Store>) {
    metered_key(&*store, "k_set", vec![], credits(10, None), T0).await;
    for _ in 0..4 {
        assert_eq!(debit(&*store, "k_set", 1, T0).await.refused, None);
    }
    let remaining = |store: Arc<dyn Store>| async move {
        counted(&*store, "k_set", T0).await.credits_remaining
    };
    // A write without a balance (a rename) leaves the counter alone.
    let mut renamed = read_key(&*store, "k_set").await;
    let version = renamed.version;
    renamed.name = "renamed".into();
    commit(
        &*store,
        vec![Write::Key {
            item: renamed.clone(),
            expected: Some(version),
        }],
    )
    .await
    .unwrap();
    assert_eq!(remaining(store.clone()).await, Some(6));
    // A write that conflicts sets nothing, its balance included.
    let mut stale = renamed.clone();
    stale.set_balance = Some(Balance {
        remaining: 99,
        period: 0,
    });
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Key {
                item: stale,
                expected: Some(version),
            }],
        )
        .await
    ));
    assert_eq!(remaining(store.clone()).await, Some(6));
    // A PATCH of credits: the balance is what it sets.
    let mut patched = read_key(&*store, "k_set").await;
    let version = patched.version;
    patched.usage.credits = credits(20, None);
    patched.set_balance = Some(Balance {
        remaining: 20,
        period: 0,
    });
    commit(
        &*store,
        vec![Write::Key {
            item: patched,
            expected: Some(version),
        }],
    )
    .await
    .unwrap();
    assert_eq!(remaining(store.clone()).await, Some(20));
    assert_eq!(debit(&*store, "k_set", 1, T0).await.refused, None);
    assert_eq!(remaining(store.clone()).await, Some(19));
}

pub async fn read_meter_answers_what_was_debited(store: Arc<dyn Store>) {
    let limits = vec![limit("minute", 100, 60), limit("day", 1_000, 86_400)];
    metered_key(&*store, "k_read", limits, credits(500, None), T0).await;
    let fresh = counted(&*store, "k_read", T0).await;
    assert_eq!(fresh.credits_remaining, Some(500));
    assert_eq!(
        fresh
            .rate_limits
            .iter()
            .map(|l| l.remaining)
            .collect::<Vec<_>>(),
        [100, 1_000]
    );
    let mut last = None;
    for (at, cost) in [(T0, 3), (T0 + 10, 2), (T0 + MINUTE, 7)] {
        let metered = debit(&*store, "k_read", cost, at).await;
        assert_eq!(metered.refused, None);
        last = Some((at, metered));
    }
    let (at, metered) = last.unwrap();
    let key = read_key(&*store, "k_read").await;
    let read = report(&key.usage, &store.read_meter(&key).await.unwrap(), at);
    assert_eq!(read, report(&key.usage, &metered.meter, at));
    assert_eq!(read.credits_remaining, Some(488));
    let remaining: Vec<u64> = read.rate_limits.iter().map(|l| l.remaining).collect();
    // The minute window started again at T0 + 60; the day did not.
    assert_eq!(remaining, [93, 988]);
}

/// Regenerate moves the balance it read to the new key: a debit between
/// that read and the commit must make the commit conflict, or the credit
/// it spent would be spent again by the new key.
pub async fn a_balance_set_from_a_stale_read_conflicts(store: Arc<dyn Store>) {
    metered_key(&*store, "k_moved", vec![], credits(10, None), T0).await;
    // Read as the service reads a metered key: the item, then its meter.
    let mut old = read_key(&*store, "k_moved").await;
    old.meter = store.read_meter(&old).await.unwrap();
    assert_eq!(debit(&*store, "k_moved", 1, T0).await.refused, None);
    let mut retired = old.clone();
    retired.set_balance = Some(Balance {
        remaining: 0,
        period: 0,
    });
    let version = old.version;
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Key {
                item: retired,
                expected: Some(version),
            }],
        )
        .await
    ));
    assert_eq!(
        counted(&*store, "k_moved", T0).await.credits_remaining,
        Some(9),
        "the conflicting write set nothing"
    );
    // Read again, the same write commits.
    let mut again = read_key(&*store, "k_moved").await;
    again.meter = store.read_meter(&again).await.unwrap();
    again.set_balance = Some(Balance {
        remaining: 0,
        period: 0,
    });
    let version = again.version;
    commit(
        &*store,
        vec![Write::Key {
            item: again,
            expected: Some(version),
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        counted(&*store, "k_moved", T0).await.credits_remaining,
        Some(0)
    );
}
