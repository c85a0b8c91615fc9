//! The store conformance suite, written once against the `Store` trait and
//! run against every store by `conformance_suite!` at the bottom.
//!
//! Two layers: the store's own contract (versioned conditional commits that
//! apply all or nothing, ordering, cursors, usage, purge), and the service's
//! rules that depend on it (limits under concurrency, one regenerate, one
//! idempotent result, expiry derived from the clock, one read per verify).

#[path = "support/fixtures.rs"]
mod fixtures;

mod conformance {
    use crate::fixtures;
    use async_trait::async_trait;
    use keyward::auth::Caller;
    use keyward::clock::ManualClock;
    use keyward::config::Config;
    use keyward::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
    use keyward::secret::Secret;
    use keyward::service::{
        CreateKey, NoticePublisher, PageQuery, RegenerateKey, Service, VerifyRequest,
    };
    use keyward::store::{CommitError, Page, Store, StoreError, StoreResult, UserGuard, Write};
    use serde_json::Value;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wasm_validator::{ApplicationStatus, OwnerStatus, StoredKeyStatus, VerdictCode};

    pub const T0: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    // ---- fixtures ----------------------------------------------------------

    fn app(id: &str, account: &str) -> Application {
        Application {
            id: id.into(),
            account: account.into(),
            name: format!("app {id}"),
            description: String::new(),
            key_prefix: "kw".into(),
            created_by: "alice".into(),
            created_at: T0,
            updated_at: T0,
            status: ApplicationStatus::Active,
            revoked_at: None,
            owner_status: OwnerStatus::Active,
            ttl: None,
            version: 1,
        }
    }

    fn key(id: &str, app: &str, account: &str, expires_at: i64) -> Key {
        Key {
            id: id.into(),
            application_id: app.into(),
            account: account.into(),
            name: format!("key {id}"),
            description: String::new(),
            prefix: "kw".into(),
            hash: "00".repeat(32),
            scopes: vec!["sims:read".into()],
            status: StoredKeyStatus::Active,
            created_by: "alice".into(),
            created_at: T0,
            updated_at: T0,
            expires_at,
            revoked_at: None,
            revoke_at: None,
            replaced_by: None,
            replaces: None,
            last_used_at: None,
            application_status: ApplicationStatus::Active,
            owner_status: OwnerStatus::Active,
            ttl: expires_at + 30 * DAY,
            version: 1,
        }
    }

    fn audit(id: &str, account: &str, at: i64) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            account: account.into(),
            actor: "alice".into(),
            action: "key.created".into(),
            target_type: "key".into(),
            target_id: id.into(),
            at,
            before: None,
            after: Some(serde_json::json!({"n": id})),
        }
    }

    fn notice(id: &str, account: &str, recipient: &str) -> Notice {
        Notice {
            id: id.into(),
            account: account.into(),
            recipient: recipient.into(),
            key_id: "k".into(),
            key_name: "n".into(),
            application_id: "a".into(),
            expires_at: T0 + DAY,
            days_left: 1,
            day: "2027-01-15".into(),
            created_at: T0,
        }
    }

    async fn commit(store: &dyn Store, writes: Vec<Write>) -> Result<(), CommitError> {
        store.commit(writes).await
    }

    fn is_conflict(result: Result<(), CommitError>) -> bool {
        matches!(result, Err(CommitError::Conflict))
    }

    // ---- the store's own contract -------------------------------------------

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
            collect_pages(async |c| store.list_notices("acct", "alice", 2, c.as_deref()).await)
                .await;
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

    // ---- the service's rules over the store ---------------------------------

    struct CountingPublisher(AtomicUsize);

    #[async_trait]
    impl NoticePublisher for CountingPublisher {
        async fn publish(&self, _: &Notice) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    struct Harness {
        service: Arc<Service>,
        clock: Arc<ManualClock>,
        published: Arc<CountingPublisher>,
    }

    fn harness(store: Arc<dyn Store>) -> Harness {
        harness_with(store, Config::default())
    }

    fn harness_with(store: Arc<dyn Store>, config: Config) -> Harness {
        let clock = Arc::new(ManualClock::new(T0));
        let published = Arc::new(CountingPublisher(AtomicUsize::new(0)));
        let service = Arc::new(Service::new(
            store,
            config,
            clock.clone(),
            published.clone(),
        ));
        Harness {
            service,
            clock,
            published,
        }
    }

    fn admin(user: &str) -> Caller {
        fixtures::admin(user, "acct")
    }

    async fn create_app(h: &Harness, caller: &Caller) -> String {
        let input = fixtures::application("billing");
        let reply = h
            .service
            .create_application(caller, &input, None)
            .await
            .unwrap();
        reply.id
    }

    async fn create_key(
        h: &Harness,
        caller: &Caller,
        app: &str,
        input: &CreateKey,
    ) -> (String, Secret) {
        let reply = h
            .service
            .create_key(caller, app, input, None)
            .await
            .unwrap();
        (reply.key.id, reply.secret)
    }

    async fn verdict(h: &Harness, secret: &Secret) -> VerdictCode {
        let request = VerifyRequest {
            key: Secret::new(secret.expose().to_owned()),
            scopes: vec![],
        };
        h.service.verify(&request).await.unwrap().code
    }

    /// An application with two keys, made through the service: (app, first
    /// key id, second key id).
    pub async fn harness_for_tests(store: Arc<dyn Store>) -> (String, String, String) {
        let h = harness(store);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (first, _) = create_key(&h, &alice, &app, &fixtures::key("first")).await;
        let (second, _) = create_key(&h, &alice, &app, &fixtures::key("second")).await;
        (app, first, second)
    }

    pub async fn thirty_parallel_key_creates_leave_exactly_ten(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..30 {
            let (service, alice, app) = (h.service.clone(), alice.clone(), app.clone());
            tasks.spawn(async move {
                service
                    .create_key(&alice, &app, &fixtures::key(&format!("k{i}")), None)
                    .await
            });
        }
        let (mut created, mut refused) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => {
                    created += 1;
                }
                Err(e) => {
                    assert_eq!(e.code(), "KEY_LIMIT_REACHED");
                    refused += 1;
                }
            }
        }
        assert_eq!((created, refused), (10, 20));
        assert_eq!(store.list_application_keys(&app).await.unwrap().len(), 10);
    }

    pub async fn thirty_parallel_application_creates_leave_exactly_ten(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..30 {
            let service = h.service.clone();
            tasks.spawn(async move {
                let input = fixtures::application(&format!("app {i}"));
                service
                    .create_application(&admin("alice"), &input, None)
                    .await
                    .map(|_| 201)
            });
        }
        let mut created = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(status) => {
                    assert_eq!(status, 201);
                    created += 1;
                }
                Err(e) => assert_eq!(e.code(), "APPLICATION_LIMIT_REACHED"),
            }
        }
        assert_eq!(created, 10);
        assert_eq!(store.list_applications("acct").await.unwrap().len(), 10);
    }

    pub async fn expiry_is_derived_from_the_clock_on_every_read(store: Arc<dyn Store>) {
        let h = harness(store);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let soon = CreateKey {
            expires_at: Some(keyward::domain::rfc3339::format(T0 + 60)),
            ..fixtures::key("soon")
        };
        let (id, secret) = create_key(&h, &alice, &app, &soon).await;
        for i in 0..9 {
            create_key(&h, &alice, &app, &fixtures::key(&format!("k{i}"))).await;
        }
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        let err = h
            .service
            .create_key(&alice, &app, &fixtures::key("eleventh"), None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "KEY_LIMIT_REACHED");
        h.clock.advance(60);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Expired);
        let view = h.service.get_key(&alice, &id).await.unwrap();
        assert_eq!(serde_json::to_value(view.status).unwrap(), "expired");
        // An expired key frees its slot, and can only be deleted.
        create_key(&h, &alice, &app, &fixtures::key("eleventh")).await;
        for refused in [
            h.service.enable_key(&alice, &id, None).await.err(),
            h.service.disable_key(&alice, &id, None).await.err(),
            h.service
                .regenerate_key(&alice, &id, &RegenerateKey::default(), None)
                .await
                .err(),
        ] {
            assert_eq!(refused.map(|e| e.code()), Some("KEY_EXPIRED"));
        }
        let revoked = h.service.revoke_key(&alice, &id, None).await.unwrap();
        assert_eq!(revoked.verdict, VerdictCode::Revoked);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Revoked);
    }

    pub async fn parallel_regenerates_make_exactly_one_new_key(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, _) = create_key(&h, &alice, &app, &fixtures::key("rotating")).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (service, alice, id) = (h.service.clone(), alice.clone(), id.clone());
            tasks.spawn(async move {
                let input = RegenerateKey {
                    expires_at: None,
                    grace_seconds: Some(300),
                };
                service
                    .regenerate_key(&alice, &id, &input, None)
                    .await
                    .map(|_| 201)
            });
        }
        let mut created = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(status) => {
                    assert_eq!(status, 201);
                    created += 1;
                }
                Err(e) => assert_eq!(e.code(), "KEY_ALREADY_REGENERATED"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(store.list_application_keys(&app).await.unwrap().len(), 2);
    }

    pub async fn a_grace_period_ends_in_revocation(store: Arc<dyn Store>) {
        let h = harness(store);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, old) = create_key(&h, &alice, &app, &fixtures::key("rotating")).await;
        let input = RegenerateKey {
            expires_at: None,
            grace_seconds: Some(120),
        };
        let reply = h
            .service
            .regenerate_key(&alice, &id, &input, None)
            .await
            .unwrap();
        assert_eq!(reply.key.name, "rotating");
        assert_eq!(reply.key.replaces.as_deref(), Some(id.as_str()));
        let new = reply.secret;
        assert_eq!(verdict(&h, &old).await, VerdictCode::Valid);
        assert_eq!(verdict(&h, &new).await, VerdictCode::Valid);
        h.clock.advance(120);
        assert_eq!(verdict(&h, &old).await, VerdictCode::Revoked);
        assert_eq!(verdict(&h, &new).await, VerdictCode::Valid);
        let page = h
            .service
            .list_keys(&alice, &app, &PageQuery::default())
            .await
            .unwrap();
        assert_eq!(
            page.items.len(),
            1,
            "the retired key is hidden once revoked"
        );
    }

    /// Three writers change one key at once, each its own field, each
    /// checking before and after every write that its field holds its own
    /// last value: a writer that committed over a stale read would put
    /// another writer's field back.
    pub async fn concurrent_writers_to_one_key_lose_no_update(store: Arc<dyn Store>) {
        use keyward::service::UpdateFields;
        const ROUNDS: usize = 12;
        let h = harness(store);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("n-start")).await;
        let mut writers = tokio::task::JoinSet::new();
        for field in ["name", "description", "status"] {
            let (service, alice, id) = (h.service.clone(), alice.clone(), id.clone());
            writers.spawn(async move {
                let value_of = |view: &Value| view[field].as_str().unwrap().to_owned();
                let mut last = value_of(
                    &serde_json::to_value(service.get_key(&alice, &id).await.unwrap()).unwrap(),
                );
                for round in 0..ROUNDS {
                    let now = serde_json::to_value(service.get_key(&alice, &id).await.unwrap());
                    assert_eq!(
                        value_of(&now.unwrap()),
                        last,
                        "{field} before round {round}"
                    );
                    let reply = match field {
                        "status" if round % 2 == 0 => service.disable_key(&alice, &id, None).await,
                        "status" => service.enable_key(&alice, &id, None).await,
                        _ => {
                            let value = format!("{field}-{round}");
                            let input = UpdateFields {
                                name: (field == "name").then(|| value.clone()),
                                description: (field == "description").then(|| value.clone()),
                            };
                            service.update_key(&alice, &id, &input).await
                        }
                    };
                    last = value_of(&serde_json::to_value(reply.unwrap()).unwrap());
                    let now = serde_json::to_value(service.get_key(&alice, &id).await.unwrap());
                    assert_eq!(value_of(&now.unwrap()), last, "{field} after round {round}");
                }
                (field, last)
            });
        }
        let finals = writers.join_all().await;
        let view = h.service.get_key(&alice, &id).await.unwrap();
        let view = serde_json::to_value(view).unwrap();
        for (field, last) in &finals {
            assert_eq!(&view[field], last, "{field} at the end");
        }
        assert_eq!(view["name"], format!("name-{}", ROUNDS - 1));
        assert_eq!(view["description"], format!("description-{}", ROUNDS - 1));
        assert_eq!(view["status"], "active", "an even number of toggles");
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        // One audit event per write, none lost and none doubled.
        let mut events = Vec::new();
        let mut query = PageQuery {
            limit: Some(100),
            cursor: None,
        };
        loop {
            let page = h.service.list_audit(&alice, &query).await.unwrap();
            events.extend(page.items.into_iter().filter(|e| e.target_id == id));
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        let count = |action: &str| events.iter().filter(|e| e.action == action).count();
        assert_eq!(count("key.updated"), 2 * ROUNDS);
        assert_eq!(count("key.disabled") + count("key.enabled"), ROUNDS);
    }

    /// Enabling never adds to the count (disabled keys count already), so
    /// enables racing creates all succeed while the creates stop at the
    /// limit.
    pub async fn parallel_enables_and_creates_keep_the_limit(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(
                create_key(&h, &alice, &app, &fixtures::key(&format!("k{i}")))
                    .await
                    .0,
            );
        }
        for id in &ids[..5] {
            h.service.disable_key(&alice, id, None).await.unwrap();
        }
        for id in &ids[5..8] {
            h.service.revoke_key(&alice, id, None).await.unwrap();
        }
        // 7 count now: 5 disabled, 2 active. 5 enables and 10 creates race.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, id) in ids[..5].iter().enumerate() {
            let (service, alice, id) = (h.service.clone(), alice.clone(), id.clone());
            tasks.spawn(async move {
                (
                    "enable",
                    service
                        .enable_key(&alice, &id, None)
                        .await
                        .map(|_| 200)
                        .map_err(|e| e.code()),
                    i,
                )
            });
        }
        for i in 0..10 {
            let (service, alice, app) = (h.service.clone(), alice.clone(), app.clone());
            tasks.spawn(async move {
                let input = fixtures::key(&format!("late{i}"));
                (
                    "create",
                    service
                        .create_key(&alice, &app, &input, None)
                        .await
                        .map(|_| 201)
                        .map_err(|e| e.code()),
                    i,
                )
            });
        }
        let (mut enabled, mut created, mut refused) = (0, 0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                ("enable", Ok(200), _) => enabled += 1,
                ("create", Ok(201), _) => created += 1,
                ("create", Err("KEY_LIMIT_REACHED"), _) => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((enabled, created, refused), (5, 3, 7));
        let page = h
            .service
            .list_keys(&alice, &app, &PageQuery::default())
            .await
            .unwrap();
        let counted = page
            .items
            .iter()
            .filter(|k| serde_json::to_value(k).unwrap()["status"] != "revoked")
            .count();
        assert_eq!(counted, 10);
    }

    pub async fn parallel_idempotent_retries_create_one_key(store: Arc<dyn Store>) {
        use keyward::idempotency::{Idempotency, fingerprint};
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (service, alice, app) = (h.service.clone(), alice.clone(), app.clone());
            tasks.spawn(async move {
                let idem =
                    Idempotency::new("retry-me", &alice, fingerprint("POST", "/x", b"{}")).unwrap();
                let reply = service
                    .create_key(&alice, &app, &fixtures::key("once"), Some(&idem))
                    .await
                    .unwrap();
                (reply.key.id, reply.secret.expose().to_owned())
            });
        }
        let mut answers = Vec::new();
        while let Some(result) = tasks.join_next().await {
            answers.push(result.unwrap());
        }
        answers.dedup();
        assert_eq!(answers.len(), 1, "every retry got the same answer");
        assert_eq!(store.list_application_keys(&app).await.unwrap().len(), 1);
    }

    /// Account "col\0b" with user "c" and account "col" with user "b\0c"
    /// once shared one idempotency scope: the second replayed the first's
    /// answer, secret included. Now each gets its own answer.
    pub async fn idempotency_records_replay_only_to_their_caller(store: Arc<dyn Store>) {
        use keyward::idempotency::{Idempotency, fingerprint};
        let h = harness(store.clone());
        let in_account = |account: &str, user: &str| Caller {
            account: account.into(),
            ..admin(user)
        };
        let (a, b) = (in_account("col\u{0}b", "c"), in_account("col", "b\u{0}c"));
        let mut secrets = Vec::new();
        for caller in [&a, &b] {
            let input = fixtures::application("billing");
            let idem = Idempotency::new(
                "deploy-42",
                caller,
                fingerprint("POST", "/applications", b"{}"),
            )
            .unwrap();
            let app = h
                .service
                .create_application(caller, &input, Some(&idem))
                .await
                .unwrap();
            let app = app.id;
            // The same Idempotency-Key and request path for both callers.
            let idem = Idempotency::new(
                "deploy-43",
                caller,
                fingerprint("POST", "/applications/same/keys", b"{}"),
            )
            .unwrap();
            let reply = h
                .service
                .create_key(caller, &app, &fixtures::key("deploy"), Some(&idem))
                .await
                .unwrap();
            assert_eq!(reply.key.account, caller.account);
            secrets.push(reply.secret.expose().to_owned());
        }
        assert_ne!(secrets[0], secrets[1], "B was answered with A's secret");
        assert_eq!(store.list_applications("col").await.unwrap().len(), 1);
        assert_eq!(store.list_applications("col\u{0}b").await.unwrap().len(), 1);
    }

    /// Regenerate-with-grace then revoke the replacement once freed a slot
    /// while the old key kept verifying: round after round, 30 keys of one
    /// application answered VALID with a limit of 10.
    pub async fn grace_periods_cannot_lift_the_key_limit(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let mut secrets = Vec::new();
        for i in 0..10 {
            secrets.push(create_key(&h, &alice, &app, &fixtures::key(&format!("k{i}"))).await);
        }
        for round in 0..3 {
            let ids: Vec<String> = secrets.iter().map(|(id, _)| id.clone()).collect();
            for id in ids {
                if store
                    .get_key(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .replaced_by
                    .is_some()
                {
                    continue;
                }
                let input = RegenerateKey {
                    expires_at: None,
                    grace_seconds: Some(3600),
                };
                if let Ok(reply) = h.service.regenerate_key(&alice, &id, &input, None).await {
                    let replacement = reply.key.id;
                    h.service
                        .revoke_key(&alice, &replacement, None)
                        .await
                        .unwrap();
                }
            }
            for i in 0..10 {
                let input = fixtures::key(&format!("round {round} k{i}"));
                match h.service.create_key(&alice, &app, &input, None).await {
                    Ok(reply) => secrets.push((reply.key.id, reply.secret)),
                    Err(e) => assert_eq!(e.code(), "KEY_LIMIT_REACHED"),
                }
            }
            let mut valid = 0;
            for (_, secret) in &secrets {
                if verdict(&h, secret).await == VerdictCode::Valid {
                    valid += 1;
                }
            }
            assert!(
                valid <= 10,
                "round {round}: {valid} keys verify in one application"
            );
        }
        // A revoked replacement gives its place back to the old key, which
        // counts again until its grace period ends; then it frees its slot.
        h.clock.advance(3600);
        create_key(&h, &alice, &app, &fixtures::key("after the grace period")).await;
    }

    /// Reads never show a key as working that verification refuses: a key
    /// created by another user in an offboarded user's application stays
    /// `active`, and its view says `OWNER_DELETED` as verify does.
    pub async fn key_views_carry_the_verdict_verification_gives(store: Arc<dyn Store>) {
        let h = harness(store);
        let (alice, bob) = (admin("alice"), admin("bob"));
        let bobs_app = create_app(&h, &bob).await;
        let (id, secret) =
            create_key(&h, &alice, &bobs_app, &fixtures::key("alice in bob's")).await;
        let view = |v: keyward::domain::KeyView| serde_json::to_value(v).unwrap();
        let before = view(h.service.get_key(&alice, &id).await.unwrap());
        assert_eq!(before["verdict"], "VALID");
        h.service.offboard_user(&alice, "bob", None).await.unwrap();
        let refused = verdict(&h, &secret).await;
        assert_eq!(refused, VerdictCode::OwnerDeleted);
        let after = view(h.service.get_key(&alice, &id).await.unwrap());
        assert_eq!(after["status"], "active");
        assert_eq!(after["verdict"], refused.as_str());
        let listed = h
            .service
            .list_keys(&alice, &bobs_app, &PageQuery::default())
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&listed.items[0]).unwrap()["verdict"],
            "OWNER_DELETED"
        );
        h.service.disable_key(&alice, &id, None).await.unwrap();
        let disabled = view(h.service.get_key(&alice, &id).await.unwrap());
        assert_eq!(disabled["verdict"], verdict(&h, &secret).await.as_str());
    }

    pub async fn revoking_an_application_revokes_its_keys_atomically(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (_, first) = create_key(&h, &alice, &app, &fixtures::key("a")).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (service, alice, app) = (h.service.clone(), alice.clone(), app.clone());
            tasks.spawn(async move {
                service
                    .create_key(&alice, &app, &fixtures::key(&format!("k{i}")), None)
                    .await
                    .is_ok()
            });
        }
        h.service
            .revoke_application(&alice, &app, None)
            .await
            .unwrap();
        while tasks.join_next().await.is_some() {}
        // Whatever interleaving: no key of a revoked application works.
        for k in store.list_application_keys(&app).await.unwrap() {
            assert_eq!(k.application_status, ApplicationStatus::Revoked, "{k:?}");
            assert_eq!(k.status, StoredKeyStatus::Revoked);
        }
        assert_eq!(verdict(&h, &first).await, VerdictCode::ApplicationRevoked);
        let err = h
            .service
            .create_key(&alice, &app, &fixtures::key("late"), None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "APPLICATION_REVOKED");
    }

    pub async fn offboarding_stops_the_users_applications_and_keys(store: Arc<dyn Store>) {
        let h = harness(store);
        let (alice, bob) = (admin("alice"), admin("bob"));
        let bobs_app = create_app(&h, &bob).await;
        let alices_app = create_app(&h, &alice).await;
        let (_, in_bobs_app) =
            create_key(&h, &alice, &bobs_app, &fixtures::key("alice in bob's")).await;
        let (_, bobs_key) =
            create_key(&h, &bob, &alices_app, &fixtures::key("bob in alice's")).await;
        let (_, alices_key) = create_key(&h, &alice, &alices_app, &fixtures::key("alice's")).await;
        let reply = h.service.offboard_user(&alice, "bob", None).await.unwrap();
        assert_eq!(reply.keys.len(), 2);
        assert_eq!(verdict(&h, &in_bobs_app).await, VerdictCode::OwnerDeleted);
        assert_eq!(verdict(&h, &bobs_key).await, VerdictCode::OwnerDeleted);
        assert_eq!(verdict(&h, &alices_key).await, VerdictCode::Valid);
        let err = h
            .service
            .create_key(&bob, &alices_app, &fixtures::key("again"), None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "USER_OFFBOARDED");
    }

    pub async fn expiry_notices_once_per_key_and_day(store: Arc<dyn Store>) {
        let h = harness(store.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let in_days = |d: i64| CreateKey {
            expires_at: Some(keyward::domain::rfc3339::format(T0 + d * DAY)),
            ..fixtures::key("k")
        };
        let (soon, _) = create_key(&h, &alice, &app, &in_days(3)).await;
        create_key(&h, &alice, &app, &in_days(100)).await;
        let first = h.service.notify_expiring().await.unwrap();
        let second = h.service.notify_expiring().await.unwrap();
        assert_eq!((first.sent, first.already_sent), (1, 0));
        assert_eq!((second.sent, second.already_sent), (0, 1));
        assert_eq!(h.published.0.load(Ordering::SeqCst), 1, "published once");
        let notices = h
            .service
            .list_notifications(&alice, &PageQuery::default())
            .await
            .unwrap();
        assert_eq!(notices.items.len(), 1);
        assert_eq!(notices.items[0].key_id, soon);
        assert_eq!(notices.items[0].days_left, 3);
        h.clock.advance(DAY);
        assert_eq!(
            h.service.notify_expiring().await.unwrap().sent,
            1,
            "a new day, a new notice"
        );
        assert_eq!(
            store
                .list_notices("acct", "alice", 10, None)
                .await
                .unwrap()
                .items
                .len(),
            2
        );
    }

    /// A store that counts calls, to prove verification's I/O.
    struct Counting {
        inner: Arc<dyn Store>,
        reads: AtomicUsize,
        writes: AtomicUsize,
    }

    #[async_trait]
    impl Store for Counting {
        async fn account_guard(&self, a: &str) -> StoreResult<u64> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.account_guard(a).await
        }
        async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_application(id).await
        }
        async fn list_applications(&self, a: &str) -> StoreResult<Vec<Application>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_applications(a).await
        }
        async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_key(id).await
        }
        async fn list_application_keys(&self, id: &str) -> StoreResult<Vec<Key>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_application_keys(id).await
        }
        async fn list_account_keys(&self, a: &str) -> StoreResult<Vec<Key>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_account_keys(a).await
        }
        async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_keys_expiring(from, to).await
        }
        async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_idempotency(id).await
        }
        async fn user_guard(&self, a: &str, u: &str) -> StoreResult<UserGuard> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.user_guard(a, u).await
        }
        async fn list_audit(
            &self,
            a: &str,
            l: usize,
            c: Option<&str>,
        ) -> StoreResult<Page<AuditEvent>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_audit(a, l, c).await
        }
        async fn list_notices(
            &self,
            a: &str,
            r: &str,
            l: usize,
            c: Option<&str>,
        ) -> StoreResult<Page<Notice>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.list_notices(a, r, l, c).await
        }
        async fn commit(&self, w: Vec<Write>) -> Result<(), CommitError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.inner.commit(w).await
        }
        async fn record_key_use(&self, u: &[(String, i64)]) -> StoreResult<()> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.inner.record_key_use(u).await
        }
        async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.inner.purge_expired(now).await
        }
        fn purges_itself(&self) -> bool {
            self.inner.purges_itself()
        }
    }

    /// Every change to a key is in the very next verification's answer:
    /// no read path (a separate read connection, a cache) may lag a commit.
    pub async fn the_next_verification_sees_every_change(store: Arc<dyn Store>) {
        let h = harness(store);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("watched")).await;
        for _ in 0..3 {
            assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        }
        h.service.disable_key(&alice, &id, None).await.unwrap();
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Disabled);
        h.service.enable_key(&alice, &id, None).await.unwrap();
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        h.service.revoke_key(&alice, &id, None).await.unwrap();
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Revoked);
    }

    pub async fn verification_reads_one_item_and_writes_nothing(store: Arc<dyn Store>) {
        let counting = Arc::new(Counting {
            inner: store,
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        });
        let h = harness(counting.clone());
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("hot")).await;
        let (reads, writes) = (
            counting.reads.load(Ordering::SeqCst),
            counting.writes.load(Ordering::SeqCst),
        );
        for _ in 0..5 {
            assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        }
        assert_eq!(
            counting.reads.load(Ordering::SeqCst) - reads,
            5,
            "one read per verification"
        );
        assert_eq!(
            counting.writes.load(Ordering::SeqCst) - writes,
            0,
            "no write on the answer's path"
        );
        // The use is written later, once, in a batch.
        assert_eq!(h.service.flush_usage().await.unwrap(), 1);
        assert_eq!(h.service.flush_usage().await.unwrap(), 0);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(
            h.service.flush_usage().await.unwrap(),
            0,
            "at most once a minute per key"
        );
        h.clock.advance(60);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(h.service.flush_usage().await.unwrap(), 1);
        let view = h.service.get_key(&alice, &id).await.unwrap();
        assert_eq!(view.last_used_at, Some(T0 + 60));
    }

    /// `KEYWARD_USAGE_RESOLUTION_SECONDS` coarser than a minute: a use
    /// within the hour after the last one written is not written again.
    pub async fn a_coarser_usage_resolution_writes_less_often(store: Arc<dyn Store>) {
        let config = Config {
            usage_resolution_seconds: 3600,
            ..Config::default()
        };
        let h = harness_with(store, config);
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("hourly")).await;
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(h.service.flush_usage().await.unwrap(), 1);
        h.clock.advance(60);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(
            h.service.flush_usage().await.unwrap(),
            0,
            "a minute later, within the hour"
        );
        h.clock.advance(3600 - 60 - 1);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(h.service.flush_usage().await.unwrap(), 0, "a second early");
        h.clock.advance(1);
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
        assert_eq!(h.service.flush_usage().await.unwrap(), 1);
        let view = h.service.get_key(&alice, &id).await.unwrap();
        assert_eq!(view.last_used_at, Some(T0 + 3600));
    }
}

/// Instantiates every conformance case against one store. `$make` is an
/// async expression giving `(Arc<dyn Store>, guard)`; the guard lives as long
/// as the test (a temporary folder, a server).
macro_rules! conformance_suite {
    ($store:ident, $ready:expr, $make:expr, [$($case:ident),* $(,)?]) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    if !$ready {
                        return;
                    }
                    let (store, _guard) = $make.await;
                    super::conformance::$case(store).await;
                }
            )*
        }
    };
}

macro_rules! every_case {
    ($store:ident, $ready:expr, $make:expr) => {
        conformance_suite!(
            $store,
            $ready,
            $make,
            [
                new_items_are_written_and_read_back,
                an_existing_item_cannot_be_created_again,
                stale_versions_conflict_and_nothing_is_half_written,
                a_key_needs_its_application,
                account_guard_versions,
                lists_are_per_parent_and_oldest_first,
                keys_expiring_in_a_window,
                audit_pages_newest_first_per_account,
                notices_are_unique_per_id_and_per_recipient,
                idempotency_records_are_unique_until_they_expire,
                key_use_is_recorded_without_bumping_the_version,
                user_guards_version_and_remember_offboarding,
                purge_removes_only_what_is_past_its_time,
                thirty_parallel_key_creates_leave_exactly_ten,
                thirty_parallel_application_creates_leave_exactly_ten,
                expiry_is_derived_from_the_clock_on_every_read,
                parallel_regenerates_make_exactly_one_new_key,
                a_grace_period_ends_in_revocation,
                parallel_idempotent_retries_create_one_key,
                idempotency_records_replay_only_to_their_caller,
                grace_periods_cannot_lift_the_key_limit,
                key_views_carry_the_verdict_verification_gives,
                concurrent_writers_to_one_key_lose_no_update,
                parallel_enables_and_creates_keep_the_limit,
                revoking_an_application_revokes_its_keys_atomically,
                offboarding_stops_the_users_applications_and_keys,
                expiry_notices_once_per_key_and_day,
                verification_reads_one_item_and_writes_nothing,
                a_coarser_usage_resolution_writes_less_often,
                the_next_verification_sees_every_change,
            ]
        );
    };
}

async fn sqlite_store() -> (std::sync::Arc<dyn keyward::store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward::store::sqlite::SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    (std::sync::Arc::new(store), dir)
}

every_case!(sqlite, true, super::sqlite_store());

#[path = "support/moto.rs"]
mod moto;

/// The same suite against DynamoDB, through a DynamoDB-compatible server on
/// loopback (`moto_server`, started by `tests/run.sh`): a fresh table per
/// test.
async fn dynamodb_store() -> (std::sync::Arc<dyn keyward::store::Store>, ()) {
    let (client, table) = moto::table().await;
    (
        std::sync::Arc::new(keyward::store::dynamodb::DynamoStore::new(client, table)),
        (),
    )
}

every_case!(dynamodb, super::moto::available(), super::dynamodb_store());

/// DynamoDB only: an id whose item TTL purged is dropped from its set on
/// the next consistent read (TTL deletes without touching the set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_prunes_ids_of_purged_keys() {
    if !moto::available() {
        return;
    }
    use aws_sdk_dynamodb::types::AttributeValue;
    use keyward::store::Store;
    let (client, table) = moto::table().await;
    let store = keyward::store::dynamodb::DynamoStore::new(client.clone(), &table);
    let h = conformance::harness_for_tests(std::sync::Arc::new(store.clone()));
    let (app, purged, kept) = h.await;
    // What TTL would do: delete the key item, leave the set alone.
    client
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("KEY#{purged}")))
        .key("sk", AttributeValue::S("KEY".into()))
        .send()
        .await
        .unwrap();
    let ids = |item: Option<std::collections::HashMap<String, AttributeValue>>| match item
        .unwrap()
        .get("key_ids")
    {
        Some(AttributeValue::Ss(ids)) => {
            let mut ids = ids.clone();
            ids.sort();
            ids
        }
        _ => Vec::new(),
    };
    let app_item = || {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("APP#{app}")))
            .key("sk", AttributeValue::S("APP".into()))
            .consistent_read(true)
            .send()
    };
    assert_eq!(ids(app_item().await.unwrap().item).len(), 2);
    let listed: Vec<String> = store
        .list_application_keys(&app)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![kept.clone()]);
    assert_eq!(ids(app_item().await.unwrap().item), vec![kept]);
}

/// DynamoDB only: `gsi1` carries the keys and the JSON body, nothing else,
/// so the usage flush (`SET last_used_at`) changes no attribute of the
/// index and DynamoDB writes no index copy for it (BENCHMARKS.md, "Scale on
/// paper"); the expiry job still reads whole keys from the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_index_holds_only_the_item_body() {
    if !moto::available() {
        return;
    }
    use keyward::store::Store;
    let (client, table) = moto::table().await;
    let store = keyward::store::dynamodb::DynamoStore::new(client.clone(), &table);
    let (_, _, kept) = conformance::harness_for_tests(std::sync::Arc::new(store.clone())).await;
    store
        .record_key_use(&[(kept.clone(), 1_700_000_000)])
        .await
        .unwrap();
    let stored = store.get_key(&kept).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(1_700_000_000));

    let entries = client
        .scan()
        .table_name(&table)
        .index_name("gsi1")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let keys_in_index = entries
        .iter()
        .filter(|e| e.get("pk").and_then(|v| v.as_s().ok()) == Some(&format!("KEY#{kept}")))
        .count();
    assert_eq!(keys_in_index, 1, "the key is in the expiry index");
    for entry in &entries {
        let mut names: Vec<&str> = entry.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["gsi1pk", "gsi1sk", "item", "pk", "sk"], "{entry:?}");
    }
    let expiring = store
        .list_keys_expiring(stored.expires_at - 1, stored.expires_at)
        .await
        .unwrap();
    let from_index = expiring.iter().find(|k| k.id == kept).expect("listed");
    assert_eq!(
        (&from_index.name, &from_index.hash, from_index.expires_at),
        (&stored.name, &stored.hash, stored.expires_at)
    );
}
