//! Usage control as keys take it: validation of the controls, PATCH,
//! regenerate (the balance moves, never doubles) and a retried creation.
//! Verification against the controls is in `usage.rs`.

use crate::client::new_key;
use crate::harness::Server;
use crate::usage::{DAY, clear_of_window_end, code, create, verify};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_controls_are_refused_with_their_codes_and_create_nothing() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "validated").await;
    let limit = |name: &str, limit: Value, window: Value| json!({ "name": name, "limit": limit, "window_seconds": window });
    let six: Vec<Value> = (0..6)
        .map(|i| limit(&format!("l{i}"), json!(1), json!(60)))
        .collect();
    let fifty_one: Vec<String> = (0..51).map(|i| format!("10.0.{i}.0/24")).collect();
    let cases = [
        (json!({ "rate_limits": six }), "INVALID_RATE_LIMITS"),
        (
            json!({ "rate_limits": [limit("m", json!(1), json!(60)), limit("m", json!(2), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("Upper", json!(1), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit(&"n".repeat(33), json!(1), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("m", json!(0), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("m", json!(1_000_000_001u64), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("m", json!(-1), json!(60))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("m", json!(1), json!(0))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [limit("m", json!(1), json!(86_401))] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "rate_limits": [{ "name": "m", "limit": 1, "window_seconds": 60, "burst": 5 }] }),
            "INVALID_RATE_LIMITS",
        ),
        (
            json!({ "credits": { "remaining": 1_000_000_000_001u64 } }),
            "INVALID_CREDITS",
        ),
        (json!({ "credits": { "remaining": -1 } }), "INVALID_CREDITS"),
        (
            json!({ "credits": { "remaining": 1, "refill": { "amount": 0, "interval": "daily" } } }),
            "INVALID_CREDITS",
        ),
        (
            json!({ "credits": { "remaining": 1, "refill": { "amount": 1, "interval": "weekly" } } }),
            "INVALID_CREDITS",
        ),
        (
            json!({ "credits": { "remaining": 1, "expires": "never" } }),
            "INVALID_CREDITS",
        ),
        (
            json!({ "allowed_ips": ["10.0.0.0/33"] }),
            "INVALID_ALLOWED_IPS",
        ),
        (
            json!({ "allowed_ips": ["10.0.0.0/8", "example.com"] }),
            "INVALID_ALLOWED_IPS",
        ),
        (
            json!({ "allowed_ips": [" 10.0.0.1"] }),
            "INVALID_ALLOWED_IPS",
        ),
        (json!({ "allowed_ips": fifty_one }), "INVALID_ALLOWED_IPS"),
        (
            json!({ "allowed_ips": "10.0.0.0/8" }),
            "INVALID_ALLOWED_IPS",
        ),
        (json!({ "quota": 5 }), "INVALID_BODY"),
    ];
    let created = srv.create_named_key(&alice, &app, "patched").await;
    for (controls, expected) in &cases {
        let mut body = controls.clone();
        body["name"] = json!("refused");
        srv.post(&alice, &format!("/applications/{app}/keys"), body)
            .await
            .problem(422, expected);
        srv.patch(&alice, &format!("/keys/{}", created.id), controls.clone())
            .await
            .problem(422, expected);
    }
    assert_eq!(
        srv.list_keys(&alice, &app).await.len(),
        1,
        "nothing created"
    );
    let view = srv.key_view(&alice, &created.id).await;
    for field in ["rate_limits", "credits", "allowed_ips", "usage"] {
        assert!(view.get(field).is_none(), "{field} unchanged: {view}");
    }

    // The largest allowed: 5 limits at their bounds, 50 addresses.
    let five: Vec<Value> = (0..5)
        .map(|i| limit(&format!("l{i}"), json!(1_000_000_000u64), json!(86_400)))
        .collect();
    let fifty: Vec<String> = (0..50).map(|i| format!("10.0.{i}.0/24")).collect();
    let widest = create(
        &srv,
        &alice,
        &app,
        json!({
            "name": "widest",
            "rate_limits": five,
            "credits": { "remaining": 1_000_000_000_000u64, "refill": { "amount": 1, "interval": "monthly" } },
            "allowed_ips": fifty,
        }),
    )
    .await;
    assert_eq!(widest.view["rate_limits"].as_array().unwrap().len(), 5);
    assert_eq!(widest.view["allowed_ips"].as_array().unwrap().len(), 50);

    // The verification's own inputs: a bad request, not a refusal.
    for (body, expected) in [
        (
            json!({ "key": created.secret, "cost": 10_001 }),
            "INVALID_COST",
        ),
        (json!({ "key": created.secret, "cost": -1 }), "INVALID_COST"),
        (
            json!({ "key": created.secret, "cost": 1.5 }),
            "INVALID_COST",
        ),
        (
            json!({ "key": created.secret, "cost": "1" }),
            "INVALID_COST",
        ),
        (
            json!({ "key": created.secret, "source_ip": "nope" }),
            "INVALID_SOURCE_IP",
        ),
        (
            json!({ "key": created.secret, "source_ip": "10.0.0.0/8" }),
            "INVALID_SOURCE_IP",
        ),
        (
            json!({ "key": created.secret, "source_ip": "10.0.0.1:80" }),
            "INVALID_SOURCE_IP",
        ),
        (
            json!({ "key": created.secret, "source_ip": 167772161 }),
            "INVALID_SOURCE_IP",
        ),
    ] {
        srv.call(Method::POST, "/verify", None, Some(&body))
            .await
            .problem(422, expected);
    }
    for cost in [json!(0), json!(10_000), json!(2.0), json!(null)] {
        let v = verify(&srv, json!({ "key": created.secret, "cost": cost })).await;
        assert_eq!(code(&v), "VALID", "cost {cost}");
        assert!(v.get("credits_remaining").is_none() && v.get("rate_limits").is_none());
    }
}

#[tokio::test]
async fn patch_sets_and_removes_controls_and_is_audited() {
    clear_of_window_end(DAY).await;
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "patched").await;
    let k = srv.create_named_key(&alice, &app, "plain").await;
    assert!(k.view.get("usage").is_none(), "{}", k.view);
    let path = format!("/keys/{}", k.id);

    let r = srv
        .patch(
            &alice,
            &path,
            json!({
                "rate_limits": [{ "name": "d", "limit": 100, "window_seconds": DAY }],
                "credits": { "remaining": 2, "refill": { "amount": 5, "interval": "monthly" } },
                "allowed_ips": ["2001:db8::/32"],
            }),
        )
        .await;
    let patched = r.ok(200);
    assert_eq!(patched["name"], "plain");
    assert_eq!(patched["credits"]["remaining"], 2);
    assert_eq!(patched["usage"]["credits_remaining"], 2);
    assert_eq!(patched["usage"]["rate_limits"][0]["remaining"], 100);
    assert_eq!(patched["allowed_ips"], json!(["2001:db8::/32"]));
    let spent = verify(&srv, json!({ "key": k.secret, "source_ip": "2001:db8::1" })).await;
    assert_eq!(code(&spent), "VALID");
    assert_eq!(spent["credits_remaining"], 1);

    // Renaming keeps the controls and the balance.
    let r = srv.patch(&alice, &path, json!({ "name": "renamed" })).await;
    assert_eq!(r.ok(200)["credits"]["remaining"], 1, "{}", r.text);
    assert_eq!(r.body["rate_limits"][0]["limit"], 100);
    // Naming credits sets the balance, whatever was left.
    let r = srv
        .patch(&alice, &path, json!({ "credits": { "remaining": 40 } }))
        .await;
    assert_eq!(r.ok(200)["credits"], json!({ "remaining": 40 }));
    assert_eq!(r.body["usage"]["rate_limits"][0]["remaining"], 99);
    let v = verify(
        &srv,
        json!({ "key": k.secret, "source_ip": "2001:db8::2", "cost": 40 }),
    )
    .await;
    assert_eq!((code(&v), &v["credits_remaining"]), ("VALID", &json!(0)));

    // null removes each; the key is then unmetered and open.
    let r = srv
        .patch(
            &alice,
            &path,
            json!({ "rate_limits": null, "credits": null, "allowed_ips": null }),
        )
        .await;
    let cleared = r.ok(200);
    for field in ["rate_limits", "credits", "allowed_ips", "usage"] {
        assert!(cleared.get(field).is_none(), "{field}: {cleared}");
    }
    let v = verify(&srv, json!({ "key": k.secret })).await;
    assert_eq!(code(&v), "VALID");
    assert!(v.get("credits_remaining").is_none(), "{v}");
    let record = srv.get(&alice, &format!("{path}/record")).await;
    assert!(record.ok(200).get("metered").is_none());

    // Each change is one event, before -> after, with no secret or hash.
    let events: Vec<Value> = srv
        .audit(&alice)
        .await
        .into_iter()
        .filter(|e| e["action"] == "key.updated" && e["target_id"] == json!(k.id))
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    let first = events.last().unwrap();
    assert!(first["before"].get("rate_limits").is_none(), "{first}");
    assert_eq!(first["after"]["rate_limits"][0]["name"], "d");
    assert_eq!(first["after"]["credits"]["remaining"], 2);
    assert_eq!(first["after"]["allowed_ips"], json!(["2001:db8::/32"]));
    assert!(events[0]["after"].get("credits").is_none(), "{}", events[0]);
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains(&k.secret) && !text.contains("hash"),
        "{text}"
    );
}

#[tokio::test]
async fn regenerate_copies_the_controls_and_moves_the_balance() {
    clear_of_window_end(DAY).await;
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "rotated").await;
    let old = create(
        &srv,
        &alice,
        &app,
        json!({
            "name": "rotating",
            "rate_limits": [{ "name": "d", "limit": 100, "window_seconds": DAY }],
            "credits": { "remaining": 10, "refill": { "amount": 10, "interval": "daily" } },
            "allowed_ips": ["0.0.0.0/0"],
        }),
    )
    .await;
    let from = |key: &str, cost: u64| json!({ "key": key, "source_ip": "192.0.2.1", "cost": cost });
    assert_eq!(
        verify(&srv, from(&old.secret, 3)).await["credits_remaining"],
        7
    );
    let r = srv
        .post(
            &alice,
            &format!("/keys/{}/regenerate", old.id),
            json!({ "grace_seconds": 3600 }),
        )
        .await;
    let new = new_key(&r, 201);
    for field in ["rate_limits", "allowed_ips"] {
        assert_eq!(new.view[field], old.view[field], "{field}");
    }
    assert_eq!(
        new.view["credits"],
        json!({ "remaining": 7, "refill": { "amount": 10, "interval": "daily" } })
    );
    // The new key's windows are its own.
    assert_eq!(new.view["usage"]["rate_limits"][0]["remaining"], 100);

    // The old key keeps its rate limits through the grace period, but no
    // credits and no refill: the balance moved, it did not double.
    let retired = srv.key_view(&alice, &old.id).await;
    assert_eq!(retired["status"], "active");
    assert_eq!(retired["credits"], json!({ "remaining": 0 }));
    assert_eq!(retired["usage"]["rate_limits"][0]["remaining"], 97);
    let v = verify(&srv, from(&old.secret, 1)).await;
    assert_eq!(
        (code(&v), &v["credits_remaining"]),
        ("USAGE_EXCEEDED", &json!(0))
    );
    let v = verify(&srv, from(&new.secret, 7)).await;
    assert_eq!((code(&v), &v["credits_remaining"]), ("VALID", &json!(0)));
    let v = verify(&srv, from(&new.secret, 1)).await;
    assert_eq!(code(&v), "USAGE_EXCEEDED");
    let v = verify(&srv, json!({ "key": new.secret })).await;
    assert_eq!(code(&v), "IP_NOT_ALLOWED", "the addresses were copied");

    // The audit shows the move on both keys.
    let events = srv.audit(&alice).await;
    let regenerated = events
        .iter()
        .find(|e| e["action"] == "key.regenerated")
        .expect("a key.regenerated event");
    assert_eq!(regenerated["before"]["credits"]["remaining"], 7);
    assert_eq!(regenerated["after"]["credits"], json!({ "remaining": 0 }));
    let created = events
        .iter()
        .find(|e| e["action"] == "key.created" && e["target_id"] == json!(new.id))
        .expect("the new key's key.created event");
    assert_eq!(created["after"]["credits"]["remaining"], 7);
}

/// A creation retried with its Idempotency-Key answers the first answer,
/// controls and all (the sealed answer reads back), and creates nothing.
#[tokio::test]
async fn a_retried_creation_answers_the_same_controls() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "retried").await;
    let body = json!({
        "name": "controlled",
        "rate_limits": [{ "name": "m", "limit": 5, "window_seconds": 60 }],
        "credits": { "remaining": 9, "refill": { "amount": 9, "interval": "monthly" } },
        "allowed_ips": ["192.0.2.0/24"],
    });
    let path = format!("/applications/{app}/keys");
    let first = srv
        .post_idem(&alice, &path, "create-once", Some(&body))
        .await;
    let again = srv
        .post_idem(&alice, &path, "create-once", Some(&body))
        .await;
    assert_eq!(again.ok(201), first.ok(201));
    for field in ["rate_limits", "credits", "allowed_ips", "usage"] {
        assert!(
            first.body["key"].get(field).is_some(),
            "{field}: {}",
            first.text
        );
    }
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 1);
}
