//! Offboarding a user (`DELETE /users/{id}`): their applications and keys
//! stop working, and they create nothing more.

use crate::harness::Server;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const BOB: &str = "applications:create applications:view keys:create:any keys:view:any \
                   keys:edit:own keys:revoke:own sims:*";

#[tokio::test]
async fn offboarding_a_user_stops_their_applications_and_keys() {
    let srv = Server::start();
    let admin = srv.admin("admin", "acme");
    let bob = srv.token("bob", "acme", BOB);
    let bobs_app = srv.create_app(&bob, "bob's").await;
    let admins_app = srv.create_app(&admin, "admin's").await;
    let bob_in_his = srv.create_named_key(&bob, &bobs_app, "bob in bob's").await;
    let admin_in_bobs = srv
        .create_named_key(&admin, &bobs_app, "admin in bob's")
        .await;
    let bob_in_admins = srv
        .create_named_key(&bob, &admins_app, "bob in admin's")
        .await;
    let admin_in_admins = srv
        .create_named_key(&admin, &admins_app, "admin in admin's")
        .await;

    // Offboarding needs users:offboard.
    srv.delete(&bob, "/users/admin")
        .await
        .problem(403, "PERMISSION_DENIED");

    let r = srv.delete(&admin, "/users/bob").await;
    let summary = r.ok(200);
    assert_eq!(summary["user_id"], "bob");
    assert_eq!(summary["applications"], json!([bobs_app]));
    let offboarded_keys: BTreeSet<String> = summary["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        offboarded_keys,
        BTreeSet::from([
            bob_in_his.id.clone(),
            admin_in_bobs.id.clone(),
            bob_in_admins.id.clone()
        ])
    );

    for k in [&bob_in_his, &admin_in_bobs, &bob_in_admins] {
        assert_eq!(
            srv.verdict(&k.secret).await,
            "OWNER_DELETED",
            "{}",
            k.view["name"]
        );
    }
    assert_eq!(srv.verdict(&admin_in_admins.secret).await, "VALID");
    assert_eq!(
        srv.get(&admin, &format!("/applications/{bobs_app}"))
            .await
            .ok(200)["owner_status"],
        "deleted"
    );
    assert_eq!(
        srv.get(&admin, &format!("/applications/{admins_app}"))
            .await
            .ok(200)["owner_status"],
        "active"
    );

    // Bob can create nothing any more.
    srv.post(&bob, "/applications", json!({ "name": "again" }))
        .await
        .problem(403, "USER_OFFBOARDED");
    srv.post(
        &bob,
        &format!("/applications/{admins_app}/keys"),
        json!({ "name": "again" }),
    )
    .await
    .problem(403, "USER_OFFBOARDED");
    // Nobody creates keys under the offboarded owner's application.
    srv.post(
        &admin,
        &format!("/applications/{bobs_app}/keys"),
        json!({ "name": "x" }),
    )
    .await
    .problem(409, "OWNER_DELETED");
    assert_eq!(srv.list_keys(&admin, &admins_app).await.len(), 2);

    // Others keep working.
    let fresh = srv.create_named_key(&admin, &admins_app, "after").await;
    assert_eq!(srv.verdict(&fresh.secret).await, "VALID");
    let audit = srv.audit(&admin).await;
    assert_eq!(audit[0]["action"], "key.created");
    assert_eq!(audit[1]["action"], "user.offboarded");
    assert_eq!(audit[1]["actor"], "admin");
    assert_eq!(audit[1]["target_id"], "bob");
}

/// An offboarded user is refused as such (403 USER_OFFBOARDED) whatever
/// application it tries to create a key in, its own included.
///
/// Fails at the time of writing: `Service::create_key` and
/// `Service::regenerate_key` check the application's `owner_status` before
/// `refuse_offboarded`, so on its own application the user gets 409
/// OWNER_DELETED instead.
#[tokio::test]
async fn an_offboarded_user_is_refused_as_offboarded_on_its_own_application() {
    let srv = Server::start();
    let admin = srv.admin("admin", "acme");
    let bob = srv.token("bob", "acme", BOB);
    let bobs_app = srv.create_app(&bob, "bob's").await;
    let k = srv.create_named_key(&bob, &bobs_app, "bob's key").await;
    srv.delete(&admin, "/users/bob").await.ok(200);
    srv.post(
        &bob,
        &format!("/applications/{bobs_app}/keys"),
        json!({ "name": "again" }),
    )
    .await
    .problem(403, "USER_OFFBOARDED");
    srv.post_empty(&bob, &format!("/keys/{}/regenerate", k.id))
        .await
        .problem(403, "USER_OFFBOARDED");
}

/// Offboarding is atomic with respect to the user's own concurrent creates:
/// once `DELETE /users/{id}` has answered, no key or application that user
/// created, before or concurrently, may still work.
///
/// Fails at the time of writing: the creates check "not offboarded" with a
/// plain read that is not a condition of their commit, and the offboarding
/// commit is not conditioned on the user's set of keys and applications, so
/// a create that read "not offboarded" before the offboarding committed and
/// committed after the offboarding read the user's items survives with
/// `owner_status: active`.
#[tokio::test]
async fn offboarding_while_the_user_is_creating_leaves_nothing_working() {
    let srv = Server::start_with(&[
        ("KEYWARD_MAX_ACTIVE_KEYS", "1000"),
        ("KEYWARD_MAX_ACTIVE_APPLICATIONS", "1000"),
    ]);
    let admin = srv.admin("admin", "acme");
    let shared = srv.create_app(&admin, "shared").await;
    let mut survivors = Vec::new();
    for round in 0..3 {
        let user = format!("racer{round}");
        let token = srv.token(&user, "acme", BOB);
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..6 {
            let (api, token, shared) = (srv.api.clone(), token.clone(), shared.clone());
            tasks.spawn(async move {
                let mut made = Vec::new();
                for i in 0..200 {
                    let r = if task % 2 == 0 {
                        api.post(
                            &token,
                            &format!("/applications/{shared}/keys"),
                            json!({ "name": format!("k{i}") }),
                        )
                        .await
                    } else {
                        api.post(&token, "/applications", json!({ "name": format!("a{i}") }))
                            .await
                    };
                    if r.status != 201 {
                        r.problem(403, "USER_OFFBOARDED");
                        break;
                    }
                    made.push(r.body.clone());
                }
                made
            });
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        srv.delete(&admin, &format!("/users/{user}")).await.ok(200);
        let made: Vec<Value> = tasks.join_all().await.into_iter().flatten().collect();
        assert!(!made.is_empty(), "the racer created something first");
        for item in &made {
            if let Some(secret) = item["secret"].as_str() {
                let code = srv.verdict(secret).await;
                if code != "OWNER_DELETED" {
                    survivors.push(format!("key {} of {user}: {code}", item["key"]["id"]));
                }
            } else {
                let app = srv
                    .get(
                        &admin,
                        &format!("/applications/{}", item["id"].as_str().unwrap()),
                    )
                    .await;
                if app.ok(200)["owner_status"] != "deleted" {
                    survivors.push(format!("application {} of {user}", item["id"]));
                }
            }
        }
    }
    assert!(
        survivors.is_empty(),
        "still working after offboarding: {survivors:#?}"
    );
}
