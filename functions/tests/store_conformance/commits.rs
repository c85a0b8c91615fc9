//! The store's own contract: versioned, conditional commits that apply
//! all or nothing.

use crate::items::*;
use keyward::store::{Store, Write};
use std::sync::Arc;
use wasm_validator::StoredKeyStatus;

pub async fn new_items_are_written_and_read_back(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("app_1", "acct"),
                expected: None,
            },
            Write::Key {
                item: key("key_1", "app_1", "acct", T0 + DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    let got = store.get_application("app_1").await.unwrap().unwrap();
    assert_eq!(got, app("app_1", "acct"));
    let got = store.get_key("key_1").await.unwrap().unwrap();
    assert_eq!(got, key("key_1", "app_1", "acct", T0 + DAY));
    assert!(store.get_application("app_2").await.unwrap().is_none());
    assert!(store.get_key("key_2").await.unwrap().is_none());
}

pub async fn an_existing_item_cannot_be_created_again(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![Write::Application {
            item: app("app_1", "acct"),
            expected: None,
        }],
    )
    .await
    .unwrap();
    let mut other = app("app_1", "acct");
    other.name = "impostor".into();
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Application {
                item: other,
                expected: None
            }]
        )
        .await
    ));
    assert_eq!(
        store.get_application("app_1").await.unwrap().unwrap().name,
        "app app_1"
    );
}

pub async fn stale_versions_conflict_and_nothing_is_half_written(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("app_1", "acct"),
                expected: None,
            },
            Write::Key {
                item: key("key_1", "app_1", "acct", T0 + DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    // A good write next to a stale one: neither may land.
    let mut renamed = app("app_1", "acct");
    renamed.name = "renamed".into();
    renamed.version = 2;
    let mut disabled = key("key_1", "app_1", "acct", T0 + DAY);
    disabled.status = StoredKeyStatus::Disabled;
    disabled.version = 6;
    let result = commit(
        &*store,
        vec![
            Write::Application {
                item: renamed.clone(),
                expected: Some(1),
            },
            Write::Key {
                item: disabled,
                expected: Some(5),
            },
            Write::Audit(audit("evt_1", "acct", T0)),
        ],
    )
    .await;
    assert!(is_conflict(result));
    assert_eq!(
        store.get_application("app_1").await.unwrap().unwrap().name,
        "app app_1"
    );
    assert_eq!(
        store.get_key("key_1").await.unwrap().unwrap().status,
        StoredKeyStatus::Active
    );
    assert!(
        store
            .list_audit("acct", 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The right version applies and bumps it.
    commit(
        &*store,
        vec![Write::Application {
            item: renamed,
            expected: Some(1),
        }],
    )
    .await
    .unwrap();
    let stored = store.get_application("app_1").await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("renamed", 2));
    // Updating an item that does not exist conflicts too.
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Application {
                item: app("app_9", "acct"),
                expected: Some(1)
            }]
        )
        .await
    ));
}

pub async fn a_key_needs_its_application(store: Arc<dyn Store>) {
    // The application may come in the same commit.
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("app_1", "acct"),
                expected: None,
            },
            Write::Key {
                item: key("key_1", "app_1", "acct", T0 + DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Key {
                item: key("key_2", "app_none", "acct", T0 + DAY),
                expected: None
            }]
        )
        .await
    ));
    assert!(store.get_key("key_2").await.unwrap().is_none());
    let listed: Vec<String> = store
        .list_application_keys("app_1")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec!["key_1"]);
}

pub async fn account_guard_versions(store: Arc<dyn Store>) {
    assert_eq!(store.account_guard("acct").await.unwrap(), 0);
    commit(
        &*store,
        vec![Write::AccountGuard {
            account: "acct".into(),
            expected: 0,
        }],
    )
    .await
    .unwrap();
    assert_eq!(store.account_guard("acct").await.unwrap(), 1);
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::AccountGuard {
                account: "acct".into(),
                expected: 0
            }]
        )
        .await
    ));
    commit(
        &*store,
        vec![Write::AccountGuard {
            account: "acct".into(),
            expected: 1,
        }],
    )
    .await
    .unwrap();
    assert_eq!(store.account_guard("acct").await.unwrap(), 2);
    assert_eq!(store.account_guard("other").await.unwrap(), 0);
}
