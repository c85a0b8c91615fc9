//! The audit and notice cursors reveal nothing beyond the caller's own data:
//! they do not move with other accounts' activity, name the caller's own
//! item, and mean nothing in another account's list.

use crate::domain::{AuditEvent, Notice};
use crate::store::sqlite::SqliteStore;
use crate::store::{Page, Store, StoreError, StoreResult, Write};

const T0: i64 = 1_800_000_000;

fn event(id: &str, account: &str) -> Write {
    Write::Audit(AuditEvent {
        id: id.into(),
        account: account.into(),
        actor: "alice".into(),
        action: "key.create".into(),
        target_type: "key".into(),
        target_id: "k".into(),
        at: T0,
        before: None,
        after: None,
    })
}

fn notice(id: &str, account: &str, recipient: &str) -> Write {
    Write::Notice(Notice {
        id: id.into(),
        kind: Default::default(),
        url: None,
        account: account.into(),
        recipient: recipient.into(),
        key_id: "k".into(),
        key_name: "k".into(),
        application_id: "app".into(),
        expires_at: T0 + 86_400,
        days_left: 1,
        day: "2027-01-15".into(),
        created_at: T0,
    })
}

/// Account `acct` writes `own` items; on `busy`, account `other` writes
/// 1,000 items before the first and 100 between each of the others (in
/// commits of 100, the most one may hold).
async fn interleave(
    store: &SqliteStore,
    busy: bool,
    own: usize,
    item: impl Fn(&str, bool) -> Write,
) {
    for i in 0..own {
        let others = match (busy, i) {
            (false, _) => 0,
            (true, 0) => 1_000,
            (true, _) => 100,
        };
        for chunk in (0..others).collect::<Vec<_>>().chunks(100) {
            let writes = chunk
                .iter()
                .map(|j| item(&format!("theirs_{i}_{j}"), false))
                .collect();
            store.commit(writes).await.unwrap();
        }
        store
            .commit(vec![item(&format!("ours_{i}"), true)])
            .await
            .unwrap();
    }
}

/// Every page's (item ids, cursor), following the cursors.
async fn pages<T>(
    mut fetch: impl AsyncFnMut(Option<String>) -> StoreResult<Page<T>>,
    id: impl Fn(&T) -> String,
) -> Vec<(Vec<String>, Option<String>)> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor.clone()).await.unwrap();
        cursor = page.next_cursor.clone();
        pages.push((page.items.iter().map(&id).collect(), page.next_cursor));
        if cursor.is_none() {
            return pages;
        }
    }
}

fn assert_private(quiet: &[(Vec<String>, Option<String>)], busy: &[(Vec<String>, Option<String>)]) {
    assert_eq!(busy, quiet, "the cursors do not move with other accounts");
    assert!(busy.len() > 2, "several pages: {busy:?}");
    for (ids, cursor) in busy {
        if let Some(cursor) = cursor {
            assert_eq!(
                &super::super::cursor::decode(cursor).unwrap(),
                ids.last().unwrap(),
                "a cursor names the page's last item, nothing else"
            );
        }
    }
}

#[tokio::test]
async fn audit_cursors_do_not_move_with_other_accounts() {
    let item = |id: &str, ours: bool| event(id, if ours { "acct" } else { "other" });
    let mut listed = Vec::new();
    for busy in [false, true] {
        let store = SqliteStore::open_in_memory().unwrap();
        interleave(&store, busy, 7, item).await;
        let list = pages(
            async |c| store.list_audit("acct", 2, c.as_deref()).await,
            |e: &AuditEvent| e.id.clone(),
        )
        .await;
        // Another account's list knows none of these cursors.
        for cursor in list.iter().filter_map(|(_, c)| c.as_deref()) {
            assert!(matches!(
                store.list_audit("other", 2, Some(cursor)).await,
                Err(StoreError::InvalidCursor)
            ));
        }
        listed.push(list);
    }
    assert_private(&listed[0], &listed[1]);
}

#[tokio::test]
async fn notice_cursors_do_not_move_with_other_accounts_or_recipients() {
    // Theirs alternate between another account's alice and this one's bob.
    let item = |id: &str, ours: bool| match (ours, id.len() % 2) {
        (true, _) => notice(id, "acct", "alice"),
        (false, 0) => notice(id, "other", "alice"),
        (false, _) => notice(id, "acct", "bob"),
    };
    let mut listed = Vec::new();
    for busy in [false, true] {
        let store = SqliteStore::open_in_memory().unwrap();
        interleave(&store, busy, 7, item).await;
        let list = pages(
            async |c| store.list_notices("acct", "alice", 2, c.as_deref()).await,
            |n: &Notice| n.id.clone(),
        )
        .await;
        for cursor in list.iter().filter_map(|(_, c)| c.as_deref()) {
            for (account, recipient) in [("other", "alice"), ("acct", "bob")] {
                assert!(matches!(
                    store
                        .list_notices(account, recipient, 2, Some(cursor))
                        .await,
                    Err(StoreError::InvalidCursor)
                ));
            }
        }
        listed.push(list);
    }
    assert_private(&listed[0], &listed[1]);
}
