//! The service's rules over the store under concurrency: limits, one
//! regenerate, no lost update, one idempotent result.

use crate::fixtures;
use crate::service::*;
use keyward::service::{PageQuery, RegenerateKey};
use keyward::store::Store;
use serde_json::Value;
use std::sync::Arc;
use wasm_validator::VerdictCode;

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
