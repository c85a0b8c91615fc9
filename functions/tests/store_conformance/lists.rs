//! The store's own contract: lists per parent and in order, pages and
//! cursors, expiry windows, notices.

use crate::items::*;
use keyward::domain::Key;
use keyward::store::{Page, Store, StoreError, StoreResult, Write};
use std::sync::Arc;

pub async fn lists_are_per_parent_and_oldest_first(store: Arc<dyn Store>) {
    let mut writes = vec![
        Write::Application {
            item: app("app_a", "acct"),
            expected: None,
        },
        Write::Application {
            item: app("app_b", "acct"),
            expected: None,
        },
        Write::Application {
            item: app("app_x", "other"),
            expected: None,
        },
    ];
    for (i, (id, parent, account)) in [
        ("k1", "app_a", "acct"),
        ("k2", "app_b", "acct"),
        ("k3", "app_a", "acct"),
        ("k4", "app_x", "other"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut k = key(id, parent, account, T0 + DAY);
        k.created_at = T0 + i as i64;
        writes.push(Write::Key {
            item: k,
            expected: None,
        });
    }
    commit(&*store, writes).await.unwrap();
    let ids = |keys: Vec<Key>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_application_keys("app_a").await.unwrap()),
        vec!["k1", "k3"]
    );
    assert_eq!(
        ids(store.list_account_keys("acct").await.unwrap()),
        vec!["k1", "k2", "k3"]
    );
    assert!(
        store
            .list_application_keys("app_none")
            .await
            .unwrap()
            .is_empty()
    );
    let apps: Vec<String> = store
        .list_applications("acct")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(apps, vec!["app_a", "app_b"]);
}

pub async fn keys_expiring_in_a_window(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![
            Write::Application {
                item: app("a", "acct"),
                expected: None,
            },
            Write::Application {
                item: app("b", "other"),
                expected: None,
            },
            Write::Key {
                item: key("past", "a", "acct", T0 - 1),
                expected: None,
            },
            Write::Key {
                item: key("edge", "a", "acct", T0),
                expected: None,
            },
            Write::Key {
                item: key("soon", "a", "acct", T0 + DAY),
                expected: None,
            },
            Write::Key {
                item: key("end", "a", "acct", T0 + 14 * DAY),
                expected: None,
            },
            Write::Key {
                item: key("later", "b", "other", T0 + 15 * DAY),
                expected: None,
            },
        ],
    )
    .await
    .unwrap();
    let mut ids: Vec<String> = store
        .list_keys_expiring(T0, T0 + 14 * DAY)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["end", "soon"]);
}

async fn collect_pages<T>(
    mut fetch: impl AsyncFnMut(Option<String>) -> StoreResult<Page<T>>,
) -> Vec<T> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor.clone()).await.unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

pub async fn audit_pages_newest_first_per_account(store: Arc<dyn Store>) {
    for i in 0..7 {
        commit(
            &*store,
            vec![Write::Audit(audit(&format!("evt_{i}"), "acct", T0 + i))],
        )
        .await
        .unwrap();
    }
    commit(&*store, vec![Write::Audit(audit("evt_other", "other", T0))])
        .await
        .unwrap();
    let first = store.list_audit("acct", 3, None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.items[0].id, "evt_6");
    assert!(first.next_cursor.is_some());
    let all = collect_pages(async |c| store.list_audit("acct", 3, c.as_deref()).await).await;
    let ids: Vec<String> = all.into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (0..7).rev().map(|i| format!("evt_{i}")).collect::<Vec<_>>()
    );
    assert!(matches!(
        store.list_audit("acct", 3, Some("not a cursor")).await,
        Err(StoreError::InvalidCursor)
    ));
}

pub async fn notices_are_unique_per_id_and_per_recipient(store: Arc<dyn Store>) {
    commit(
        &*store,
        vec![Write::Notice(notice("k1:2027-01-15", "acct", "alice"))],
    )
    .await
    .unwrap();
    assert!(is_conflict(
        commit(
            &*store,
            vec![Write::Notice(notice("k1:2027-01-15", "acct", "alice"))]
        )
        .await
    ));
    for i in 0..4 {
        commit(
            &*store,
            vec![Write::Notice(notice(
                &format!("k{i}:2027-01-16"),
                "acct",
                "alice",
            ))],
        )
        .await
        .unwrap();
    }
    commit(
        &*store,
        vec![Write::Notice(notice("kb:2027-01-16", "acct", "bob"))],
    )
    .await
    .unwrap();
    let all =
        collect_pages(async |c| store.list_notices("acct", "alice", 2, c.as_deref()).await).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].id, "k3:2027-01-16", "newest first");
    assert_eq!(
        store
            .list_notices("acct", "bob", 10, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        store
            .list_notices("other", "alice", 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
