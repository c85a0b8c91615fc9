//! Exact under concurrency: limits per window, credits, refills, and
//! every counter of a debit together.

use super::{
    DAY, RATE_LIMITED, T, USAGE_EXCEEDED, accepted, controls, create, credits, limit, meter, moto,
    race, store, used, verify,
};
use keyward::usage::meter::refill_period;
use keyward::usage::{Balance, Credits, Refill, RefillInterval, Refusal};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_credits_accept_exactly_fifty_of_two_hundred_racing_debits() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let balance = Balance {
        remaining: 50,
        period: 0,
    };
    let id = create(&store, controls(vec![], credits(50)), Some(balance)).await;
    let refusals = race(&store, &id, 200, T).await;
    assert_eq!(accepted(&refusals), 50);
    assert!(
        refusals
            .iter()
            .flatten()
            .all(|r| *r == Refusal::UsageExceeded)
    );
    assert_eq!(meter(&store, &id).await.credits.unwrap().remaining, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_limit_of_twenty_accepts_exactly_twenty_per_window() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let id = create(&store, controls(vec![limit("minute", 20, 60)], None), None).await;
    let window = T / 60;
    assert_eq!(accepted(&race(&store, &id, 60, T + 59).await), 20);
    assert_eq!(accepted(&race(&store, &id, 60, T + 60).await), 20);
    let counted = meter(&store, &id).await;
    assert_eq!(used(&counted, "minute", window), Some(20));
    assert_eq!(used(&counted, "minute", window + 1), Some(20));
    // Two windows on, the oldest goes and the previous one stays.
    assert_eq!(verify(&store, &id, 1, T + 120).await.refused, None);
    let counted = meter(&store, &id).await;
    assert_eq!(used(&counted, "minute", window), None);
    assert_eq!(used(&counted, "minute", window + 1), Some(20));
    assert_eq!(used(&counted, "minute", window + 2), Some(1));
}

#[tokio::test]
async fn every_limit_and_the_credits_are_debited_together_or_not_at_all() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let balance = Balance {
        remaining: 3,
        period: 0,
    };
    // The credits run out first: the window stops counting with them.
    let usage = controls(vec![limit("minute", 10, 60)], credits(3));
    let id = create(&store, usage, Some(balance)).await;
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(verify(&store, &id, 1, T).await.refused);
    }
    assert_eq!(verdicts, [None, None, None, USAGE_EXCEEDED, USAGE_EXCEEDED]);
    assert_eq!(used(&meter(&store, &id).await, "minute", T / 60), Some(3));
    // The limit runs out first: the credits stop with it.
    let usage = controls(vec![limit("minute", 2, 60)], credits(10));
    let balance = Balance {
        remaining: 10,
        period: 0,
    };
    let id = create(&store, usage, Some(balance)).await;
    let mut verdicts = Vec::new();
    for _ in 0..4 {
        verdicts.push(verify(&store, &id, 1, T).await.refused);
    }
    assert_eq!(verdicts, [None, None, RATE_LIMITED, RATE_LIMITED]);
    assert_eq!(meter(&store, &id).await.credits.unwrap().remaining, 8);
    // A cost that fits the limit but not the credits takes from neither.
    let usage = controls(vec![limit("minute", 10, 60)], credits(4));
    let balance = Balance {
        remaining: 4,
        period: 0,
    };
    let id = create(&store, usage, Some(balance)).await;
    assert_eq!(verify(&store, &id, 3, T).await.refused, None);
    assert_eq!(verify(&store, &id, 2, T).await.refused, USAGE_EXCEEDED);
    let counted = meter(&store, &id).await;
    assert_eq!(counted.credits.unwrap().remaining, 1);
    assert_eq!(used(&counted, "minute", T / 60), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credits_refill_once_at_midnight_utc_however_many_race() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let midnight = (T / DAY + 1) * DAY;
    let refill = Refill {
        amount: 3,
        interval: RefillInterval::Daily,
    };
    let usage = controls(
        vec![],
        Some(Credits {
            remaining: 2,
            refill: Some(refill),
        }),
    );
    let balance = Balance {
        remaining: 2,
        period: refill_period(RefillInterval::Daily, midnight - 1),
    };
    let id = create(&store, usage, Some(balance)).await;
    assert_eq!(accepted(&race(&store, &id, 5, midnight - 1).await), 2);
    // Ten race into the new day: one refill, three credits, not thirty.
    assert_eq!(accepted(&race(&store, &id, 10, midnight).await), 3);
    let counted = meter(&store, &id).await.credits.unwrap();
    assert_eq!(
        (counted.remaining, counted.period),
        (0, refill_period(RefillInterval::Daily, midnight))
    );
}
