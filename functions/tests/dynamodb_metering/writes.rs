//! Debits beside the other writes of a key: balances set by key writes,
//! a refill racing a PATCH, a purged key, an answer lost on the way.

use super::fault_proxy::{Fault, FaultProxy};
use super::{DAY, T, controls, create, credits, limit, meter, moto, store, used, verify};
use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use keyward::store::dynamodb::DynamoStore;
use keyward::store::{Store, Write};
use keyward::usage::meter::refill_period;
use keyward::usage::{Balance, Credits, Refill, RefillInterval};

#[tokio::test]
async fn a_key_write_sets_the_balance_only_when_it_says_so() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let balance = |remaining| Balance {
        remaining,
        period: 0,
    };
    // A regenerated key starts from the live balance of the key it
    // replaces, not from the controls' `remaining`.
    let id = create(&store, controls(vec![], credits(9)), Some(balance(5))).await;
    assert_eq!(meter(&store, &id).await.credits, Some(balance(5)));
    verify(&store, &id, 2, T).await;
    // A lifecycle write of the key as read (rename, disable, …) leaves
    // the counters to the debits.
    let mut read = store.get_key(&id).await.unwrap().unwrap();
    assert_eq!(read.meter.credits, Some(balance(3)));
    read.name = "renamed".into();
    let expected = Some(read.version);
    store
        .commit(vec![Write::Key {
            item: read,
            expected,
        }])
        .await
        .unwrap();
    let read = store.get_key(&id).await.unwrap().unwrap();
    assert_eq!(
        (read.name.as_str(), read.meter.credits),
        ("renamed", Some(balance(3)))
    );
    // A PATCH of credits sets them.
    let mut patched = read.clone();
    patched.usage = controls(vec![], credits(10));
    patched.set_balance = Some(balance(10));
    store
        .commit(vec![Write::Key {
            item: patched,
            expected: Some(read.version),
        }])
        .await
        .unwrap();
    assert_eq!(meter(&store, &id).await.credits, Some(balance(10)));
    // A debit decided on the key as read before the PATCH takes from the
    // new balance.
    assert_eq!(store.debit(&read, 1, T).await.unwrap().refused, None);
    assert_eq!(meter(&store, &id).await.credits, Some(balance(9)));
    // Lists carry the counters too.
    let listed = store
        .list_application_keys(&read.application_id)
        .await
        .unwrap();
    assert_eq!(listed[0].meter.credits, Some(balance(9)));
    assert_eq!(store.read_meter(&listed[0]).await.unwrap(), listed[0].meter);
}

#[tokio::test]
async fn a_refill_decided_before_a_patch_does_not_overwrite_it() {
    if !moto::available() {
        return;
    }
    let store = store().await;
    let midnight = (T / DAY + 1) * DAY;
    let daily = |amount| Credits {
        remaining: amount,
        refill: Some(Refill {
            amount,
            interval: RefillInterval::Daily,
        }),
    };
    let yesterday = refill_period(RefillInterval::Daily, midnight - 1);
    let balance = |remaining| Balance {
        remaining,
        period: yesterday,
    };
    let id = create(&store, controls(vec![], Some(daily(100))), Some(balance(0))).await;
    let stale = store.get_key(&id).await.unwrap().unwrap();
    // Just before midnight, a PATCH lowers the refill to 5 and sets the
    // balance in yesterday's period.
    let mut patched = stale.clone();
    patched.usage = controls(vec![], Some(daily(5)));
    patched.set_balance = Some(balance(5));
    let expected = Some(stale.version);
    store
        .commit(vec![Write::Key {
            item: patched,
            expected,
        }])
        .await
        .unwrap();
    // A debit that read the key before the PATCH refills after midnight:
    // by the refill it reads back (5), not the one it decided with (100).
    assert_eq!(
        store.debit(&stale, 1, midnight).await.unwrap().refused,
        None
    );
    let counted = meter(&store, &id).await.credits.unwrap();
    assert_eq!(counted.remaining, 4);
}

#[tokio::test]
async fn a_debit_whose_answer_is_lost_is_taken_once() {
    if !moto::available() {
        return;
    }
    let (_, table) = moto::table().await;
    let proxy = FaultProxy::start(&moto::endpoint()).await;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(proxy.url())
        .region(Region::new(moto::REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .http_client(keyward::aws::http_client())
        .retry_config(keyward::aws::retry_config())
        .timeout_config(keyward::aws::timeout_config())
        .retry_partition(RetryPartition::new(moto::unique("metering")))
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table);
    let balance = Balance {
        remaining: 5,
        period: 0,
    };
    let usage = controls(vec![limit("minute", 10, 60)], credits(5));
    let id = create(&store, usage, Some(balance)).await;
    // The update applies and its answer is lost; the SDK sends it again.
    proxy.next("UpdateItem", [Fault::LoseResponse]);
    let metered = verify(&store, &id, 1, T).await;
    assert_eq!(metered.refused, None);
    assert_eq!(proxy.count("UpdateItem"), 2, "the SDK resent the update");
    let counted = meter(&store, &id).await;
    assert_eq!(counted.credits.unwrap().remaining, 4);
    assert_eq!(used(&counted, "minute", T / 60), Some(1));
    assert_eq!(metered.meter, counted);
}

#[tokio::test]
async fn a_debit_never_brings_back_a_purged_key() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let store = DynamoStore::new(client.clone(), &table);
    // A limit alone: no credit balance whose absence would fail the update.
    let id = create(&store, controls(vec![limit("minute", 10, 60)], None), None).await;
    let read = store.get_key(&id).await.unwrap().unwrap();
    // TTL purges the key between the read and the debit.
    client
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("KEY#{id}")))
        .key("sk", AttributeValue::S("KEY".into()))
        .send()
        .await
        .unwrap();
    assert!(store.debit(&read, 1, T).await.is_err());
    assert!(store.get_key(&id).await.unwrap().is_none());
}
