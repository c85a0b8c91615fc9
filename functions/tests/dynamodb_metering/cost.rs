//! What a metered verification costs: its DynamoDB requests, and the key
//! item's size, which sets the write units of each debit.

use super::request_counter::RequestCounter;
use super::{RATE_LIMITED, T, controls, create, limit, moto, verify};
use aws_sdk_dynamodb::types::AttributeValue;
use keyward::store::dynamodb::DynamoStore;
use keyward::usage::meter::refill_period;
use keyward::usage::{Balance, Credits, Refill, RefillInterval};
use std::collections::{BTreeMap, HashMap};

fn calls(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn a_metered_verification_is_one_get_item_and_one_update_item() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let counter = RequestCounter::default();
    let counted = client.config().to_builder().interceptor(counter.clone());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(counted.build()), table);
    let refill = Refill {
        amount: 100,
        interval: RefillInterval::Daily,
    };
    let usage = controls(
        vec![limit("second", 50, 1), limit("minute", 100, 60)],
        Some(Credits {
            remaining: 100,
            refill: Some(refill),
        }),
    );
    let balance = Balance {
        remaining: 100,
        period: refill_period(RefillInterval::Daily, T),
    };
    let metered = create(&store, usage, Some(balance)).await;
    let plain = create(&store, controls(vec![], None), None).await;
    counter.take();
    // Steady state: windows moving on and stale ones removed, all in the
    // one write.
    for second in 0..5 {
        assert_eq!(verify(&store, &metered, 1, T + second).await.refused, None);
        let one_each = calls(&[("GetItem", 1), ("UpdateItem", 1)]);
        assert_eq!(counter.take(), one_each, "second {second}");
    }
    // A check of cost 0 and a refusal write nothing.
    assert_eq!(verify(&store, &metered, 0, T).await.refused, None);
    assert_eq!(counter.take(), calls(&[("GetItem", 1)]));
    assert_eq!(verify(&store, &metered, 60, T).await.refused, RATE_LIMITED);
    assert_eq!(counter.take(), calls(&[("GetItem", 1)]));
    // No controls: one read, no write.
    for _ in 0..3 {
        assert_eq!(verify(&store, &plain, 1, T).await.refused, None);
        assert_eq!(counter.take(), calls(&[("GetItem", 1)]));
    }
}

/// An item's size as DynamoDB counts it for capacity units (strings by
/// length, numbers about one byte per two significant digits plus one).
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    let number = |n: &str| {
        let digits = n.trim_start_matches('-').replace('.', "");
        let significant = digits.trim_matches('0').len().max(1);
        significant.div_ceil(2) + 1
    };
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => number(n),
                    _ => 1,
                }
        })
        .sum()
}

#[tokio::test]
async fn a_key_with_a_limit_and_daily_credits_stays_under_one_write_unit() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let store = DynamoStore::new(client.clone(), &table);
    let usage = controls(
        vec![limit("per-minute", 600, 60)],
        Some(Credits {
            remaining: 100_000,
            refill: Some(Refill {
                amount: 100_000,
                interval: RefillInterval::Daily,
            }),
        }),
    );
    let balance = Balance {
        remaining: 100_000,
        period: refill_period(RefillInterval::Daily, T),
    };
    let id = create(&store, usage, Some(balance)).await;
    // Two windows on the item, the most a single limit keeps.
    verify(&store, &id, 1, T).await;
    verify(&store, &id, 1, T + 60).await;
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("KEY#{id}")))
        .key("sk", AttributeValue::S("KEY".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let size = item_size(&item);
    println!("metered key item: {size} bytes");
    assert!(size <= 1024, "{size} bytes: a debit would cost 2 WRU");
}
