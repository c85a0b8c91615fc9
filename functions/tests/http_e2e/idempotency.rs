//! Idempotent retries: the same `Idempotency-Key` and body create once
//! and replay the same answer.

use crate::client::{NewKey, new_key};
use crate::harness::Server;
use serde_json::json;

#[tokio::test]
async fn idempotent_retries_create_once_and_replay_the_same_answer() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");

    let once = json!({ "name": "once" });
    let first = srv
        .post_idem(&alice, "/applications", "app-once", Some(&once))
        .await;
    let again = srv
        .post_idem(&alice, "/applications", "app-once", Some(&once))
        .await;
    assert_eq!(first.ok(201), again.ok(201));
    assert_eq!(srv.list_apps(&alice).await.len(), 1);
    srv.post_idem(
        &alice,
        "/applications",
        "app-once",
        Some(&json!({ "name": "other" })),
    )
    .await
    .problem(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(srv.list_apps(&alice).await.len(), 1);
    let app = first.body["id"].as_str().unwrap().to_owned();

    let path = format!("/applications/{app}/keys");
    let body = json!({ "name": "retried", "scopes": ["sims:read"] });
    let first = srv.post_idem(&alice, &path, "key-once", Some(&body)).await;
    let retry = srv.post_idem(&alice, &path, "key-once", Some(&body)).await;
    let (a, b) = (new_key(&first, 201), new_key(&retry, 201));
    assert_eq!(a.id, b.id);
    assert_eq!(a.secret, b.secret, "the retry shows the same secret");
    assert_eq!(first.body, retry.body);
    assert_eq!(srv.verdict(&a.secret).await, "VALID");
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 1);

    // The same Idempotency-Key with another body is refused, creating nothing.
    srv.post_idem(
        &alice,
        &path,
        "key-once",
        Some(&json!({ "name": "something else" })),
    )
    .await
    .problem(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 1);

    // Another user's identical Idempotency-Key is a different request.
    let bob = srv.admin("bob", "acme");
    let r = srv.post_idem(&bob, &path, "key-once", Some(&body)).await;
    let bobs = new_key(&r, 201);
    assert_ne!(bobs.id, a.id);
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 2);

    // Ten concurrent retries of one request create exactly one key.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (api, token, path, body) = (srv.api.clone(), alice.clone(), path.clone(), body.clone());
        tasks.spawn(async move {
            api.post_idem(&token, &path, "parallel-retry", Some(&body))
                .await
        });
    }
    let answers = tasks.join_all().await;
    let keys: Vec<NewKey> = answers.iter().map(|r| new_key(r, 201)).collect();
    assert!(
        answers.iter().all(|r| r.body == answers[0].body),
        "every retry gets the same answer"
    );
    assert!(keys.iter().all(|k| k.secret == keys[0].secret));
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 3);
    let created_events = srv
        .audit(&alice)
        .await
        .iter()
        .filter(|e| e["action"] == "key.created")
        .count();
    assert_eq!(created_events, 3);

    // Lifecycle POSTs replay too.
    let disable = format!("/keys/{}/disable", a.id);
    let d1 = srv.post_idem(&alice, &disable, "disable-1", None).await;
    let d2 = srv.post_idem(&alice, &disable, "disable-1", None).await;
    assert_eq!(d1.ok(200), d2.ok(200));
    assert_eq!(d1.body["status"], "disabled");
}
