//! Permissions (`own` and `any`), the scopes a creator may grant, and MFA
//! to enable a key.

use crate::client::new_key;
use crate::harness::Server;
use reqwest::Method;
use serde_json::json;

const OWN: &str = "applications:create applications:view keys:create:own keys:view:own \
                   keys:edit:own keys:revoke:own sims:*";

#[tokio::test]
async fn own_and_any_permissions_and_scopes() {
    let srv = Server::start();
    let alice = srv.token("alice", "acme", OWN);
    let carol = srv.token("carol", "acme", OWN);
    let alices_app = srv.create_app(&alice, "alice's").await;
    let carols_app = srv.create_app(&carol, "carol's").await;

    // Alice manages keys on her own application.
    let k = srv.create_named_key(&alice, &alices_app, "mine").await;
    assert_eq!(srv.list_keys(&alice, &alices_app).await.len(), 1);
    srv.key_view(&alice, &k.id).await;
    srv.patch(
        &alice,
        &format!("/keys/{}", k.id),
        json!({ "name": "still mine" }),
    )
    .await
    .ok(200);
    srv.post_empty(&alice, &format!("/keys/{}/disable", k.id))
        .await
        .ok(200);
    srv.post_empty(&alice, &format!("/keys/{}/enable", k.id))
        .await
        .ok(200);
    let k = new_key(
        &srv.post_empty(&alice, &format!("/keys/{}/regenerate", k.id))
            .await,
        201,
    );

    // ... but not on Carol's, in the same account: 403, not 404.
    let carols_key = srv.create_named_key(&carol, &carols_app, "carol's").await;
    let carol_key_path = format!("/keys/{}", carols_key.id);
    srv.post(
        &alice,
        &format!("/applications/{carols_app}/keys"),
        json!({ "name": "x" }),
    )
    .await
    .problem(403, "PERMISSION_DENIED");
    srv.get(&alice, &format!("/applications/{carols_app}/keys"))
        .await
        .problem(403, "PERMISSION_DENIED");
    srv.get(&alice, &carol_key_path)
        .await
        .problem(403, "PERMISSION_DENIED");
    srv.patch(&alice, &carol_key_path, json!({ "name": "x" }))
        .await
        .problem(403, "PERMISSION_DENIED");
    for action in ["disable", "enable", "regenerate", "revoke"] {
        srv.post_empty(&alice, &format!("{carol_key_path}/{action}"))
            .await
            .problem(403, "PERMISSION_DENIED");
    }
    srv.delete(&alice, &carol_key_path)
        .await
        .problem(403, "PERMISSION_DENIED");
    assert_eq!(srv.verdict(&carols_key.secret).await, "VALID");
    assert_eq!(
        srv.key_view(&carol, &carols_key.id).await["name"],
        "carol's"
    );

    // keys:view:any sees every application's keys; without keys:edit it
    // cannot disable them.
    let dave = srv.token("dave", "acme", "keys:view:any");
    assert_eq!(srv.list_keys(&dave, &carols_app).await.len(), 1);
    assert_eq!(
        srv.key_view(&dave, &carols_key.id).await["id"],
        json!(carols_key.id)
    );
    srv.post_empty(&dave, &format!("{carol_key_path}/disable"))
        .await
        .problem(403, "PERMISSION_DENIED");
    assert_eq!(srv.verdict(&carols_key.secret).await, "VALID");
    // Without applications:create, no application.
    srv.post(&dave, "/applications", json!({ "name": "nope" }))
        .await
        .problem(403, "PERMISSION_DENIED");
    // applications:view is needed to see other users' applications.
    srv.get(&dave, &format!("/applications/{carols_app}"))
        .await
        .problem(403, "PERMISSION_DENIED");
    assert!(srv.list_apps(&dave).await.is_empty());
    // Editing or revoking an application needs its own permissions.
    srv.patch(
        &alice,
        &format!("/applications/{alices_app}"),
        json!({ "name": "x" }),
    )
    .await
    .problem(403, "PERMISSION_DENIED");
    srv.post_empty(&alice, &format!("/applications/{alices_app}/revoke"))
        .await
        .problem(403, "PERMISSION_DENIED");

    // Scopes: only what the creator holds; sims:* covers sims:read.
    let path = format!("/applications/{alices_app}/keys");
    srv.post(
        &alice,
        &path,
        json!({ "name": "s", "scopes": ["billing:read"] }),
    )
    .await
    .problem(422, "SCOPE_NOT_HELD");
    srv.post(
        &alice,
        &path,
        json!({ "name": "s", "scopes": ["sims:read", "keys:view:any"] }),
    )
    .await
    .problem(422, "SCOPE_NOT_HELD");
    assert_eq!(srv.list_keys(&alice, &alices_app).await.len(), 1);
    let reader = srv
        .create_key(
            &alice,
            &alices_app,
            json!({ "name": "reader", "scopes": ["sims:read"] }),
        )
        .await;
    let wildcard = srv
        .create_key(
            &alice,
            &alices_app,
            json!({ "name": "wild", "scopes": ["sims:*"] }),
        )
        .await;
    let v = srv.verify(&reader.secret, &["sims:write"]).await;
    assert_eq!(
        (v["valid"].clone(), v["code"].clone()),
        (json!(false), json!("INSUFFICIENT_SCOPE"))
    );
    let v = srv.verify(&reader.secret, &["sims:read"]).await;
    assert_eq!(
        (v["valid"].clone(), v["code"].clone()),
        (json!(true), json!("VALID"))
    );
    let v = srv
        .verify(&wildcard.secret, &["sims:write", "sims:read"])
        .await;
    assert_eq!(v["code"], "VALID");
    let v = srv.verify(&wildcard.secret, &["billing:read"]).await;
    assert_eq!(v["code"], "INSUFFICIENT_SCOPE");
    let v = srv.verify(&k.secret, &["sims:read"]).await;
    assert_eq!(
        v["code"], "INSUFFICIENT_SCOPE",
        "a key without scopes grants none"
    );
    srv.call(
        Method::POST,
        "/verify",
        None,
        Some(&json!({ "key": reader.secret, "scopes": ["Bad Scope"] })),
    )
    .await
    .problem(422, "INVALID_SCOPE");
}

#[tokio::test]
async fn enabling_needs_mfa_when_the_policy_says_so() {
    let srv = Server::start_with(&[("KEYWARD_REQUIRE_MFA_TO_ENABLE", "true")]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "mfa").await;
    let k = srv.create_named_key(&alice, &app, "guarded").await;
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/disable", k.id))
        .await;
    assert_eq!(r.ok(200)["status"], "disabled");
    srv.post_empty(&alice, &format!("/keys/{}/enable", k.id))
        .await
        .problem(403, "MFA_REQUIRED");
    assert_eq!(srv.verdict(&k.secret).await, "DISABLED");
    assert_eq!(srv.key_view(&alice, &k.id).await["status"], "disabled");

    // A token from `keyward token --mfa` carries amr: ["pwd", "mfa"].
    let data = srv.data_dir();
    let with_mfa = srv.cli(&[
        "token",
        "--data",
        data.to_str().unwrap(),
        "--sub",
        "alice",
        "--account",
        "acme",
        "--all",
        "--mfa",
        "--ttl",
        "1h",
    ]);
    let with_mfa = with_mfa.trim();
    assert_eq!(with_mfa.split('.').count(), 3, "a JWT: {with_mfa}");
    let r = srv
        .post_empty(with_mfa, &format!("/keys/{}/enable", k.id))
        .await;
    assert_eq!(r.ok(200)["status"], "active");
    assert_eq!(srv.verdict(&k.secret).await, "VALID");
}
