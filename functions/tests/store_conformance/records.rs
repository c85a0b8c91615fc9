//! The store's own contract: idempotency records, key use, user guards,
//! purge.

use crate::items::*;
use keyward::domain::IdempotencyRecord;
use keyward::store::{Store, UserGuard, Write};
use std::sync::Arc;
use wasm_validator::StoredKeyStatus;

pub async fn idempotency_records_are_unique_until_they_expire(store: Arc<dyn Store>) {
    let record = |sealed: &str, expires_at| IdempotencyRecord {
        id: "idem_1".into(),
        account: "acct".into(),
        user_id: "alice".into(),
        fingerprint: "fp".into(),
        sealed: sealed.into(),
        expires_at,
    };
    commit(
        &*store,
        vec![Write::Idempotency {
            record: record("first", T0 + DAY),
            now: T0,
        }],
    )
    .await
    .unwrap();
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Idempotency {
                record: record("second", T0 + 2 * DAY),
                now: T0 + 10
            }]
        )
        .await
    ));
    assert_eq!(
        store
            .get_idempotency("idem_1")
            .await
            .unwrap()
            .unwrap()
            .sealed,
        "first"
    );
    // Once expired, the id may be used again.
    commit(
        &*store,
        vec![Write::Idempotency {
            record: record("third", T0 + 3 * DAY),
            now: T0 + DAY,
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .get_idempotency("idem_1")
            .await
            .unwrap()
            .unwrap()
            .sealed,
        "third"
    );
    assert!(store.get_idempotency("idem_2").await.unwrap().is_none());
}

pub async fn key_use_is_recorded_without_bumping_the_version(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("a", "acct"),
                expected: None,
            },
            Write::Key {
                item: key("k1", "a", "acct", T0 + DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    store
        .record_key_use(&[("k1".into(), T0 + 100), ("missing".into(), T0)])
        .await
        .unwrap();
    store
        .record_key_use(&[("k1".into(), T0 + 50)])
        .await
        .unwrap();
    let stored = store.get_key("k1").await.unwrap().unwrap();
    assert_eq!(
        stored.last_used_at,
        Some(T0 + 100),
        "only newer uses move it"
    );
    assert_eq!(stored.version, 1);
    // A lifecycle write with the version read before the use still
    // commits, and does not erase the use.
    let mut disabled = stored.clone();
    disabled.status = StoredKeyStatus::Disabled;
    commit(
        &*store,
        vec![Write::Key {
            item: disabled,
            expected: Some(1),
        }],
    )
    .await
    .unwrap();
    let stored = store.get_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.last_used_at),
        (StoredKeyStatus::Disabled, Some(T0 + 100))
    );
}

pub async fn user_guards_version_and_remember_offboarding(store: Arc<dyn Store>) {
    let guard = |expected, offboarded| Write::UserGuard {
        account: "acct".into(),
        user_id: "bob".into(),
        expected,
        offboarded,
        at: T0,
    };
    assert_eq!(
        store.user_guard("acct", "bob").await.unwrap(),
        UserGuard::default()
    );
    commit(&*store, vec![guard(0, false)]).await.unwrap();
    assert_eq!(
        store.user_guard("acct", "bob").await.unwrap(),
        UserGuard {
            version: 1,
            offboarded: false
        }
    );
    // A stale creation and a stale offboarding both conflict.
    assert!(is_conflict(commit(&*store, vec![guard(0, false)]).await));
    assert!(is_conflict(commit(&*store, vec![guard(0, true)]).await));
    commit(&*store, vec![guard(1, true)]).await.unwrap();
    assert_eq!(
        store.user_guard("acct", "bob").await.unwrap(),
        UserGuard {
            version: 2,
            offboarded: true
        }
    );
    assert_eq!(
        store.user_guard("other", "bob").await.unwrap(),
        UserGuard::default()
    );
    // Account and user ids with separators do not run together.
    assert_eq!(
        store.user_guard("acct#bob", "").await.unwrap(),
        UserGuard::default()
    );
}

pub async fn purge_removes_only_what_is_past_its_time(store: Arc<dyn Store>) {
    let mut old = key("old", "a", "acct", T0 - 40 * DAY);
    old.ttl = T0 - 10 * DAY;
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("a", "acct"),
                expected: None,
            },
            Write::Key {
                item: old,
                expected: None,
            },
            Write::Key {
                item: key("live", "a", "acct", T0 + DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    let purged = store.purge_expired(T0).await.unwrap();
    if store.purges_itself() {
        // DynamoDB's TTL deletes on its own schedule; reads derive
        // expiry from the clock meanwhile.
        assert_eq!(purged, 0);
        assert!(store.get_key("old").await.unwrap().is_some());
    } else {
        assert_eq!(purged, 1);
        assert!(store.get_key("old").await.unwrap().is_none());
    }
    assert!(store.get_key("live").await.unwrap().is_some());
    let listed: Vec<String> = store
        .list_application_keys("a")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert!(listed.contains(&"live".to_string()));
}
