//! Key status transitions (docs/ARCHITECTURE.md, Statuses and verdicts):
//! disable, enable, revoke, regenerate with and without a grace period, and
//! expiry with time.

use crate::client::{ids, new_key};
use crate::harness::{Server, assert_about, eventually, rfc3339};
use crate::key_format::split_key;
use crate::local_server::now;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The most `grace_seconds` may be (7 days).
const MAX_GRACE: i64 = 604_800;

#[tokio::test]
async fn key_status_transitions_follow_the_table() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "transitions").await;

    // active -> disabled -> active
    let k = srv.create_named_key(&alice, &app, "toggle").await;
    assert_eq!(srv.verdict(&k.secret).await, "VALID");
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/disable", k.id))
        .await;
    assert_eq!(r.ok(200)["status"], "disabled");
    assert_eq!(srv.verdict(&k.secret).await, "DISABLED");
    assert_eq!(srv.key_view(&alice, &k.id).await["status"], "disabled");
    let listed = srv.list_keys(&alice, &app).await;
    assert_eq!(listed[0]["status"], "disabled");
    // A disabled key cannot be regenerated.
    srv.post_empty(&alice, &format!("/keys/{}/regenerate", k.id))
        .await
        .problem(409, "KEY_DISABLED");
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/enable", k.id))
        .await;
    assert_eq!(r.ok(200)["status"], "active");
    assert_eq!(srv.verdict(&k.secret).await, "VALID");

    // active -> revoked: hidden from the list, still readable, terminal.
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/revoke", k.id))
        .await;
    assert_eq!(r.ok(200)["status"], "revoked");
    assert_eq!(srv.verdict(&k.secret).await, "REVOKED");
    assert!(srv.list_keys(&alice, &app).await.is_empty());
    assert_eq!(srv.key_view(&alice, &k.id).await["status"], "revoked");
    for action in ["enable", "disable", "regenerate"] {
        srv.post_empty(&alice, &format!("/keys/{}/{action}", k.id))
            .await
            .problem(409, "KEY_REVOKED");
    }
    srv.patch(&alice, &format!("/keys/{}", k.id), json!({ "name": "x" }))
        .await
        .problem(409, "KEY_REVOKED");
    // Revoking again changes nothing.
    let r = srv.delete(&alice, &format!("/keys/{}", k.id)).await;
    assert_eq!(r.ok(200)["status"], "revoked");

    // disabled -> revoked
    let d = srv
        .create_named_key(&alice, &app, "disabled-then-revoked")
        .await;
    srv.post_empty(&alice, &format!("/keys/{}/disable", d.id))
        .await
        .ok(200);
    let r = srv.delete(&alice, &format!("/keys/{}", d.id)).await;
    assert_eq!(r.ok(200)["status"], "revoked");
    assert_eq!(srv.verdict(&d.secret).await, "REVOKED");

    // Regenerate without grace: the old key is revoked at once.
    let old = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "rotating", "description": "rotate me", "scopes": ["sims:read"] }),
        )
        .await;
    let r = srv
        .post(&alice, &format!("/keys/{}/regenerate", old.id), json!({}))
        .await;
    let new = new_key(&r, 201);
    assert_ne!(new.id, old.id);
    assert_ne!(new.secret, old.secret);
    assert_ne!(split_key(&new.secret).2, split_key(&old.secret).2);
    for field in ["application_id", "name", "description", "scopes", "prefix"] {
        assert_eq!(new.view[field], old.view[field], "{field}");
    }
    assert_eq!(new.view["replaces"], json!(old.id));
    assert_eq!(new.view["status"], "active");
    assert_about(
        &new.view["expires_at"],
        now() + 365 * 86_400,
        "a fresh default validity",
    );
    assert_eq!(srv.verdict(&old.secret).await, "REVOKED");
    assert_eq!(srv.verdict(&new.secret).await, "VALID");
    let old_view = srv.key_view(&alice, &old.id).await;
    assert_eq!(old_view["status"], "revoked");
    assert_eq!(old_view["replaced_by"], json!(new.id));
    assert_eq!(
        ids(&srv.list_keys(&alice, &app).await),
        BTreeSet::from([new.id.clone()])
    );

    // Regenerate with a grace period: the old key stays valid meanwhile,
    // and cannot be regenerated a second time.
    let newer_expiry = rfc3339(now() + 10 * 86_400);
    let r = srv
        .post(
            &alice,
            &format!("/keys/{}/regenerate", new.id),
            json!({ "grace_seconds": 3600, "expires_at": newer_expiry }),
        )
        .await;
    let newer = new_key(&r, 201);
    assert_eq!(newer.view["expires_at"], json!(newer_expiry));
    assert_eq!(srv.verdict(&new.secret).await, "VALID");
    assert_eq!(srv.verdict(&newer.secret).await, "VALID");
    let graced = srv.key_view(&alice, &new.id).await;
    assert_eq!(graced["status"], "active");
    assert_eq!(graced["replaced_by"], json!(newer.id));
    assert!(graced["revoke_at"].is_string(), "{graced}");
    srv.post(
        &alice,
        &format!("/keys/{}/regenerate", new.id),
        json!({ "grace_seconds": 60 }),
    )
    .await
    .problem(409, "KEY_ALREADY_REGENERATED");
    srv.post_empty(&alice, &format!("/keys/{}/regenerate", new.id))
        .await
        .problem(409, "KEY_ALREADY_REGENERATED");

    // The grace period is bounded by 7 days.
    for grace in [MAX_GRACE + 1, -1] {
        srv.post(
            &alice,
            &format!("/keys/{}/regenerate", newer.id),
            json!({ "grace_seconds": grace }),
        )
        .await
        .problem(422, "INVALID_GRACE_PERIOD");
    }
    assert_eq!(srv.verdict(&newer.secret).await, "VALID");
    assert_eq!(
        srv.key_view(&alice, &newer.id).await["replaced_by"],
        Value::Null
    );
    // Exactly 7 days is allowed.
    let r = srv
        .post(
            &alice,
            &format!("/keys/{}/regenerate", newer.id),
            json!({ "grace_seconds": MAX_GRACE }),
        )
        .await;
    let newest = new_key(&r, 201);
    assert_eq!(srv.verdict(&newer.secret).await, "VALID");
    assert_eq!(srv.verdict(&newest.secret).await, "VALID");
}

/// Everything that needs time to pass: keys that expire, and a grace period
/// that ends. One short wait for all of them.
#[tokio::test]
async fn expiry_and_grace_periods_take_effect_with_time() {
    let srv = Server::start_with(&[("KEYWARD_MAX_ACTIVE_KEYS", "3")]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "short-lived").await;
    let soon = rfc3339(now() + 3);
    let expiring = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "expiring", "expires_at": soon }),
        )
        .await;
    let disabled = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "disabled", "expires_at": soon }),
        )
        .await;
    srv.post_empty(&alice, &format!("/keys/{}/disable", disabled.id))
        .await
        .ok(200);
    let graced = srv.create_named_key(&alice, &app, "graced").await;
    let r = srv
        .post(
            &alice,
            &format!("/keys/{}/regenerate", graced.id),
            json!({ "grace_seconds": 2 }),
        )
        .await;
    let successor = new_key(&r, 201);
    assert_eq!(srv.verdict(&expiring.secret).await, "VALID");
    assert_eq!(srv.verdict(&graced.secret).await, "VALID");
    // The limit (3) is reached: expiring, disabled, successor.
    srv.post(
        &alice,
        &format!("/applications/{app}/keys"),
        json!({ "name": "x" }),
    )
    .await
    .problem(409, "KEY_LIMIT_REACHED");

    let (s, t) = (&srv, &alice);
    let (e, d, g) = (&expiring.id, &disabled.id, &graced.id);
    eventually(
        Duration::from_secs(8),
        "the keys to expire",
        move || async move {
            let expired = s.key_view(t, e).await["status"] == "expired"
                && s.key_view(t, d).await["status"] == "expired"
                && s.key_view(t, g).await["status"] == "revoked";
            expired.then_some(())
        },
    )
    .await;

    // Listed as expired; verification says EXPIRED whatever was stored.
    let listed = srv.list_keys(&alice, &app).await;
    let status_of = |id: &str| {
        listed
            .iter()
            .find(|k| k["id"] == id)
            .map(|k| k["status"].clone())
    };
    assert_eq!(status_of(&expiring.id), Some(json!("expired")));
    assert_eq!(status_of(&disabled.id), Some(json!("expired")));
    assert_eq!(status_of(&successor.id), Some(json!("active")));
    assert_eq!(status_of(&graced.id), None, "revoked keys are not listed");
    assert_eq!(srv.verdict(&expiring.secret).await, "EXPIRED");
    assert_eq!(srv.verdict(&disabled.secret).await, "EXPIRED");
    // The grace period is over: the old key is revoked, its successor valid.
    assert_eq!(srv.verdict(&graced.secret).await, "REVOKED");
    assert_eq!(srv.verdict(&successor.secret).await, "VALID");

    // An expired key can never be enabled, disabled or regenerated.
    for key in [&expiring, &disabled] {
        for action in ["enable", "disable", "regenerate"] {
            srv.post_empty(&alice, &format!("/keys/{}/{action}", key.id))
                .await
                .problem(409, "KEY_EXPIRED");
        }
    }
    assert_eq!(srv.verdict(&expiring.secret).await, "EXPIRED");

    // Expired keys do not count toward the limit.
    let extra = srv.create_named_key(&alice, &app, "extra").await;
    assert_eq!(srv.verdict(&extra.secret).await, "VALID");

    // ... but they can be deleted (revoked).
    let r = srv.delete(&alice, &format!("/keys/{}", expiring.id)).await;
    assert_eq!(r.ok(200)["status"], "revoked");
    assert_eq!(srv.verdict(&expiring.secret).await, "REVOKED");
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/revoke", disabled.id))
        .await;
    assert_eq!(r.ok(200)["status"], "revoked");
    assert_eq!(srv.verdict(&disabled.secret).await, "REVOKED");
    assert_eq!(
        ids(&srv.list_keys(&alice, &app).await),
        BTreeSet::from([successor.id.clone(), extra.id.clone()])
    );
}
