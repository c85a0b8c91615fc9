//! Another account's objects answer 404, never 403, and stay unchanged.

use crate::harness::Server;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn another_accounts_objects_answer_404_and_stay_unchanged() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let mallory = srv.admin("mallory", "evil-corp");
    let app = srv.create_app(&alice, "private").await;
    let k = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "private key", "scopes": ["sims:read"] }),
        )
        .await;
    let app_before = srv
        .get(&alice, &format!("/applications/{app}"))
        .await
        .ok(200)
        .clone();
    let key_before = srv.key_view(&alice, &k.id).await;
    let audit_before = srv.audit(&alice).await;

    let app_path = format!("/applications/{app}");
    let key_path = format!("/keys/{}", k.id);
    let body = json!({ "name": "pwned" });
    let attempts: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, app_path.clone(), None, "APPLICATION_NOT_FOUND"),
        (
            Method::PATCH,
            app_path.clone(),
            Some(body.clone()),
            "APPLICATION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{app_path}/revoke"),
            None,
            "APPLICATION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{app_path}/keys"),
            Some(body.clone()),
            "APPLICATION_NOT_FOUND",
        ),
        (
            Method::GET,
            format!("{app_path}/keys"),
            None,
            "APPLICATION_NOT_FOUND",
        ),
        (Method::GET, key_path.clone(), None, "KEY_NOT_FOUND"),
        (
            Method::PATCH,
            key_path.clone(),
            Some(body.clone()),
            "KEY_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{key_path}/disable"),
            None,
            "KEY_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{key_path}/enable"),
            None,
            "KEY_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{key_path}/regenerate"),
            None,
            "KEY_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{key_path}/revoke"),
            None,
            "KEY_NOT_FOUND",
        ),
        (Method::DELETE, key_path.clone(), None, "KEY_NOT_FOUND"),
        (
            Method::GET,
            format!("{key_path}/record"),
            None,
            "KEY_NOT_FOUND",
        ),
    ];
    for (method, path, body, code) in &attempts {
        srv.call(method.clone(), path, Some(&mallory), body.as_ref())
            .await
            .problem(404, code);
    }
    // The same answers as for ids that do not exist at all.
    srv.get(&mallory, "/applications/app_doesnotexist")
        .await
        .problem(404, "APPLICATION_NOT_FOUND");
    srv.get(&mallory, "/keys/0000000000000000000000")
        .await
        .problem(404, "KEY_NOT_FOUND");

    // Nothing of account acme shows to, or was changed by, evil-corp.
    assert!(srv.list_apps(&mallory).await.is_empty());
    assert!(srv.audit(&mallory).await.is_empty());
    assert_eq!(
        srv.get(&alice, &format!("/applications/{app}"))
            .await
            .ok(200),
        &app_before
    );
    assert_eq!(srv.key_view(&alice, &k.id).await, key_before);
    assert_eq!(srv.audit(&alice).await, audit_before);
    assert_eq!(srv.verdict(&k.secret).await, "VALID");
    // Offboarding a user of another account touches nothing here.
    let r = srv.delete(&mallory, "/users/alice").await;
    assert_eq!(r.ok(200)["keys"], json!([]));
    assert_eq!(srv.verdict(&k.secret).await, "VALID");
    srv.create_named_key(&alice, &app, "alice still works")
        .await;
}
