//! Limits under concurrency (active keys per application, active
//! applications per account), and the limit on failed verifications.

use crate::client::{NewKey, Resp, ids, new_key};
use crate::harness::{Server, eventually};
use crate::key_format::{assemble_key, split_key};
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wasm_validator::base62;

#[tokio::test]
async fn limits_hold_under_thirty_parallel_creates() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "crowded").await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (api, token, path) = (
            srv.api.clone(),
            alice.clone(),
            format!("/applications/{app}/keys"),
        );
        tasks.spawn(async move {
            api.post(&token, &path, json!({ "name": format!("k{i}") }))
                .await
        });
    }
    let answers = tasks.join_all().await;
    let created: Vec<&Resp> = answers.iter().filter(|r| r.status == 201).collect();
    let refused: Vec<&Resp> = answers.iter().filter(|r| r.status != 201).collect();
    assert_eq!(created.len(), 10, "exactly the limit is created");
    assert_eq!(refused.len(), 20);
    for r in &refused {
        r.problem(409, "KEY_LIMIT_REACHED");
    }
    let listed = srv.list_keys(&alice, &app).await;
    assert_eq!(listed.len(), 10);
    let created_ids: BTreeSet<String> = created
        .iter()
        .map(|r| r.body["key"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&listed), created_ids);

    // Disabled keys still count; revoking one frees its slot, once.
    let first = created_ids.iter().next().unwrap().clone();
    let second = created_ids.iter().nth(1).unwrap().clone();
    srv.post_empty(&alice, &format!("/keys/{first}/disable"))
        .await
        .ok(200);
    srv.post(
        &alice,
        &format!("/applications/{app}/keys"),
        json!({ "name": "more" }),
    )
    .await
    .problem(409, "KEY_LIMIT_REACHED");
    srv.post_empty(&alice, &format!("/keys/{second}/revoke"))
        .await
        .ok(200);
    srv.create_named_key(&alice, &app, "in the freed slot")
        .await;
    srv.post(
        &alice,
        &format!("/applications/{app}/keys"),
        json!({ "name": "one too many" }),
    )
    .await
    .problem(409, "KEY_LIMIT_REACHED");
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 10);

    // 30 parallel application creations in a fresh account.
    let bob = srv.admin("bob", "busy-account");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (api, token) = (srv.api.clone(), bob.clone());
        tasks.spawn(async move {
            api.post(
                &token,
                "/applications",
                json!({ "name": format!("app {i}") }),
            )
            .await
        });
    }
    let answers = tasks.join_all().await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 10, "exactly the application limit is created");
    for r in answers.iter().filter(|r| r.status != 201) {
        r.problem(409, "APPLICATION_LIMIT_REACHED");
    }
    assert_eq!(srv.list_apps(&bob).await.len(), 10);
    // The other account is not affected by this one's limit.
    assert_eq!(srv.list_apps(&alice).await.len(), 1);
}

/// Concurrent lifecycle actions on one key or application: one regenerate
/// wins, and keys created while their application is revoked do not work.
#[tokio::test]
async fn concurrent_regenerates_and_application_revocation_stay_consistent() {
    let srv = Server::start_with(&[("KEYWARD_MAX_ACTIVE_KEYS", "100")]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "contended").await;

    for (grace, losers) in [
        (600, &["KEY_ALREADY_REGENERATED"][..]),
        (0, &["KEY_REVOKED", "KEY_ALREADY_REGENERATED"][..]),
    ] {
        let k = srv.create_named_key(&alice, &app, "contended").await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (api, token, path) = (
                srv.api.clone(),
                alice.clone(),
                format!("/keys/{}/regenerate", k.id),
            );
            tasks.spawn(async move {
                api.post(&token, &path, json!({ "grace_seconds": grace }))
                    .await
            });
        }
        let answers = tasks.join_all().await;
        let winners: Vec<NewKey> = answers
            .iter()
            .filter(|r| r.status == 201)
            .map(|r| new_key(r, 201))
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one regenerate wins (grace {grace})"
        );
        for r in answers.iter().filter(|r| r.status != 201) {
            assert_eq!(r.status, 409, "{}", r.text);
            assert!(
                losers.contains(&r.body["code"].as_str().unwrap()),
                "{}",
                r.text
            );
        }
        let old = srv.key_view(&alice, &k.id).await;
        assert_eq!(old["replaced_by"], json!(winners[0].id));
        let expected = if grace > 0 { "VALID" } else { "REVOKED" };
        assert_eq!(srv.verdict(&k.secret).await, expected);
        assert_eq!(srv.verdict(&winners[0].secret).await, "VALID");
    }
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 3);

    // Keys created while the application is being revoked.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (api, token, path) = (
            srv.api.clone(),
            alice.clone(),
            format!("/applications/{app}/keys"),
        );
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 3)).await;
            api.post(&token, &path, json!({ "name": format!("k{i}") }))
                .await
        });
    }
    tokio::time::sleep(Duration::from_millis(25)).await;
    srv.post_empty(&alice, &format!("/applications/{app}/revoke"))
        .await
        .ok(200);
    for r in tasks.join_all().await {
        if r.status == 201 {
            let k = new_key(&r, 201);
            assert_eq!(srv.verdict(&k.secret).await, "APPLICATION_REVOKED");
        } else {
            r.problem(409, "APPLICATION_REVOKED");
        }
    }
    assert!(srv.list_keys(&alice, &app).await.is_empty());
}

// ---- failed verifications --------------------------------------------------

#[tokio::test]
async fn failed_verifications_from_one_source_are_limited_with_429() {
    let srv = Server::start_with(&[
        ("KEYWARD_VERIFY_FAILURE_LIMIT", "5"),
        ("KEYWARD_VERIFY_FAILURE_WINDOW_SECONDS", "2"),
    ]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "guarded").await;
    let good = srv.create_named_key(&alice, &app, "good").await;
    let (prefix, id, secret, _) = split_key(&good.secret);
    let guess = assemble_key(prefix, id, &secret.chars().rev().collect::<String>());

    // Valid verifications do not count.
    for _ in 0..10 {
        assert_eq!(srv.verdict(&good.secret).await, "VALID");
    }
    let started = Instant::now();
    for i in 0..5 {
        assert_eq!(srv.verdict(&guess).await, "NOT_FOUND", "guess {i}");
    }
    let body = json!({ "key": guess });
    let refused = srv.call(Method::POST, "/verify", None, Some(&body)).await;
    refused.problem(429, "TOO_MANY_FAILED_VERIFICATIONS");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    // While refused, even the right key is refused: a guesser must not learn
    // which guess was right.
    let body = json!({ "key": good.secret });
    srv.call(Method::POST, "/verify", None, Some(&body))
        .await
        .problem(429, "TOO_MANY_FAILED_VERIFICATIONS");
    // Management routes are not affected.
    srv.key_view(&alice, &good.id).await;

    // Once the window has ended, the source may verify again.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(started.elapsed())).await;
    eventually(Duration::from_secs(3), "the window to end", || async {
        let body = json!({ "key": good.secret });
        let r = srv.call(Method::POST, "/verify", None, Some(&body)).await;
        (r.status == 200).then_some(())
    })
    .await;
    assert_eq!(srv.verdict(&good.secret).await, "VALID");
    assert!(
        !srv.log().contains(&good.secret),
        "the secret reached the log"
    );
}

#[tokio::test]
async fn with_the_limit_off_failed_verifications_are_never_refused() {
    let srv = Server::start_with(&[("KEYWARD_VERIFY_FAILURE_LIMIT", "0")]);
    for i in 0..150u64 {
        // Well-formed keys that name no key: the number i as key id and secret.
        let n = i.to_be_bytes();
        let key = assemble_key("kw", &base62::encode(&n, 22), &base62::encode(&n, 43));
        assert_eq!(srv.verdict(&key).await, "NOT_FOUND");
    }
}
