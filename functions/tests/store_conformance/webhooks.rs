//! The store's own contract for webhooks and delivery records: versioned
//! writes, the account's list, a delivery made once, deliveries due by
//! time, and each webhook's deliveries newest first.

use crate::items::*;
use keyward::events::webhook::{Delivery, DeliveryStatus, Webhook};
use keyward::events::{Event, EventData, EventObject, EventType};
use keyward::store::{Store, Write};
use std::sync::Arc;

fn webhook(id: &str, account: &str, created_at: i64) -> Webhook {
    Webhook {
        id: id.into(),
        account: account.into(),
        url: "https://hooks.example.invalid/".into(),
        description: String::new(),
        events: vec![],
        enabled: true,
        sealed_secret: "v1:sealed".into(),
        created_by: "alice".into(),
        created_at,
        updated_at: created_at,
        deleted_at: None,
        ttl: None,
        version: 0,
    }
}

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        kind: EventType::KeyRevoked,
        account: "acct".into(),
        occurred_at: T0,
        actor: "alice".into(),
        object: EventObject {
            kind: "key".into(),
            id: "k".into(),
        },
        data: EventData::default(),
    }
}

pub async fn webhooks_are_versioned_and_listed_per_account(store: Arc<dyn Store>) {
    let first = webhook("wh_1", "acct", T0);
    commit(
        &*store,
        vec![Write::Webhook {
            item: first.clone(),
            expected: None,
        }],
    )
    .await
    .unwrap();
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Webhook {
                item: first.clone(),
                expected: None
            }]
        )
        .await
    ));
    commit(
        &*store,
        vec![
            Write::Webhook {
                item: webhook("wh_2", "acct", T0 + 1),
                expected: None,
            },
            Write::Webhook {
                item: webhook("wh_3", "other", T0),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    let stored = store.get_webhook("acct", "wh_1").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(store.get_webhook("other", "wh_1").await.unwrap(), None);
    let mut disabled = stored.clone();
    disabled.enabled = false;
    commit(
        &*store,
        vec![Write::Webhook {
            item: disabled.clone(),
            expected: Some(1),
        }],
    )
    .await
    .unwrap();
    // The same change from the stale version conflicts.
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Webhook {
                item: disabled,
                expected: Some(1)
            }]
        )
        .await
    ));
    let listed: Vec<String> = store
        .list_webhooks("acct")
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, ["wh_1", "wh_2"]);
    let read = store.get_webhook("acct", "wh_1").await.unwrap().unwrap();
    assert!(!read.enabled);
    assert_eq!(read.version, 2);
}

pub async fn deliveries_are_made_once_due_by_time_and_paged(store: Arc<dyn Store>) {
    let hook = webhook("wh_1", "acct", T0);
    let mut made = Vec::new();
    for n in 0..5u64 {
        let delivery = Delivery::new(&hook, &event(&format!("evt_{n}")), n + 1, T0);
        commit(
            &*store,
            vec![Write::Delivery {
                item: delivery.clone(),
                expected: None,
            }],
        )
        .await
        .unwrap();
        made.push(delivery);
    }
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Delivery {
                item: made[0].clone(),
                expected: None
            }]
        )
        .await
    ));
    // Delivered and retried-later ones are not due now.
    let mut delivered = made[0].clone();
    delivered.version = 1;
    let delivered = delivered.after_attempt(
        keyward::events::delivery::Outcome::Delivered { status: 204 },
        T0,
    );
    let mut later = made[1].clone();
    later.version = 1;
    let later = later.after_attempt(
        keyward::events::delivery::Outcome::Failed {
            status: Some(500),
            error: keyward::events::delivery::AttemptError::HttpStatus,
        },
        T0,
    );
    commit(
        &*store,
        vec![
            Write::Delivery {
                item: delivered.clone(),
                expected: Some(1),
            },
            Write::Delivery {
                item: later,
                expected: Some(1),
            },
        ],
    )
    .await
    .unwrap();
    let due = |now| {
        let store = store.clone();
        async move {
            let mut ids: Vec<String> = store
                .due_deliveries(now, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(due(T0).await, ["wh_1.evt_2", "wh_1.evt_3", "wh_1.evt_4"]);
    assert_eq!(due(T0 - 1).await, Vec::<String>::new());
    assert_eq!(
        due(T0 + 5).await,
        ["wh_1.evt_1", "wh_1.evt_2", "wh_1.evt_3", "wh_1.evt_4"]
    );
    // A stale attempt record conflicts.
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Delivery {
                item: delivered,
                expected: Some(1)
            }]
        )
        .await
    ));

    let first = store.list_deliveries("wh_1", 2, None).await.unwrap();
    let ids: Vec<&str> = first.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["wh_1.evt_4", "wh_1.evt_3"]);
    let second = store
        .list_deliveries("wh_1", 10, first.next_cursor.as_deref())
        .await
        .unwrap();
    let ids: Vec<&str> = second.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["wh_1.evt_2", "wh_1.evt_1", "wh_1.evt_0"]);
    assert_eq!(second.next_cursor, None);
    assert_eq!(second.items[2].status, DeliveryStatus::Delivered);
    assert!(
        store
            .list_deliveries("wh_2", 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
