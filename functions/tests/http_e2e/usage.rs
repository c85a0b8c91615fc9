//! Usage control at verification (docs/ARCHITECTURE.md, README "Usage
//! control"): rate limits, credits and allowed addresses as keys take them
//! (create, PATCH, regenerate), show them (views, records, the audit) and
//! apply them (`POST /verify` with `source_ip` and `cost`).

use crate::client::{Api, items, new_key};
use crate::harness::{Server, assert_about, rfc3339};
use crate::local_server::now;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A day: the window of the rate limits here, so that a test's calls fall
/// in one window (see [`clear_of_window_end`]).
pub(crate) const DAY: i64 = 86_400;

/// `POST /verify` with `body`, answered 200: the verdict.
pub(crate) async fn verify(api: &Api, body: Value) -> Value {
    let r = api.call(Method::POST, "/verify", None, Some(&body)).await;
    r.ok(200).clone()
}

/// The verdict code, checking that `valid` agrees with it.
#[track_caller]
pub(crate) fn code(verdict: &Value) -> &str {
    let code = verdict["code"].as_str().expect("a verdict code");
    assert_eq!(verdict["valid"], json!(code == "VALID"), "{verdict}");
    code
}

/// `POST /verify` of `key` at `cost`: (code, credits_remaining).
pub(crate) async fn spend(api: &Api, key: &str, cost: u64) -> (String, Value) {
    let v = verify(api, json!({ "key": key, "cost": cost })).await;
    (code(&v).to_owned(), v["credits_remaining"].clone())
}

/// Waits, if need be, until the current window of `window` seconds has
/// at least 10 seconds left, so that a test's calls share it (and those
/// of every window that divides it: an hour's covers a day's end).
pub(crate) async fn clear_of_window_end(window: i64) {
    let left = window - now().rem_euclid(window);
    if left < 10 {
        tokio::time::sleep(Duration::from_secs(left as u64 + 1)).await;
    }
}

pub(crate) async fn create(
    srv: &Server,
    token: &str,
    app: &str,
    body: Value,
) -> crate::client::NewKey {
    let r = srv
        .post(token, &format!("/applications/{app}/keys"), body)
        .await;
    new_key(&r, 201)
}

#[tokio::test]
async fn allowed_ips_admit_only_their_addresses() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "addresses").await;
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        // IPv4 blocks; an IPv4-mapped IPv6 source is its IPv4 address.
        (
            &["192.0.2.0/24", "198.51.100.7"],
            &[
                "192.0.2.1",
                "192.0.2.255",
                "198.51.100.7",
                "::ffff:192.0.2.9",
            ],
            &["192.0.3.1", "198.51.100.8", "2001:db8::1"],
        ),
        // /32 and /128: exactly one address each.
        (
            &["203.0.113.5/32", "2001:db8::5/128"],
            &["203.0.113.5", "2001:db8::5", "2001:db8:0:0:0:0:0:5"],
            &["203.0.113.4", "2001:db8::6"],
        ),
        // IPv6 blocks.
        (
            &["2001:db8::/32"],
            &["2001:db8::1", "2001:db8:ffff::1"],
            &["2001:db9::1", "192.0.2.1"],
        ),
        // A mapped block is its IPv4 block.
        (
            &["::ffff:10.0.0.0/104"],
            &["10.1.2.3", "::ffff:10.9.9.9"],
            &["11.0.0.1"],
        ),
        // /0: every address of its family.
        (&["0.0.0.0/0"], &["1.2.3.4", "255.255.255.255"], &["::1"]),
        (&["::/0"], &["::1", "2001:db8::1"], &["1.2.3.4"]),
    ];
    for (allowed, admitted, refused) in cases {
        let k = create(
            &srv,
            &alice,
            &app,
            json!({ "name": "restricted", "allowed_ips": allowed }),
        )
        .await;
        for ip in admitted {
            let v = verify(&srv, json!({ "key": k.secret, "source_ip": ip })).await;
            assert_eq!(code(&v), "VALID", "{ip} in {allowed:?}");
        }
        for ip in refused {
            let v = verify(&srv, json!({ "key": k.secret, "source_ip": ip })).await;
            assert_eq!(code(&v), "IP_NOT_ALLOWED", "{ip} not in {allowed:?}");
            assert_eq!(v["key_id"], json!(k.id), "the key matched: {v}");
        }
        // No source address: refused, never assumed.
        for body in [
            json!({ "key": k.secret }),
            json!({ "key": k.secret, "source_ip": null }),
        ] {
            assert_eq!(code(&verify(&srv, body).await), "IP_NOT_ALLOWED");
        }
        srv.delete(&alice, &format!("/keys/{}", k.id)).await.ok(200);
    }

    // Blocks are kept canonical; the edge record carries them, and the key
    // is not metered. Removing them opens the key to any address.
    let k = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "canonical", "allowed_ips": ["10.1.2.3/8", "192.0.2.7"] }),
    )
    .await;
    assert_eq!(k.view["allowed_ips"], json!(["10.0.0.0/8", "192.0.2.7/32"]));
    assert!(k.view.get("usage").is_none(), "{}", k.view);
    let record = srv.get(&alice, &format!("/keys/{}/record", k.id)).await;
    let record = record.ok(200);
    assert_eq!(record["allowed_ips"], json!(["10.0.0.0/8", "192.0.2.7/32"]));
    assert!(record.get("metered").is_none(), "{record}");
    let r = srv
        .patch(
            &alice,
            &format!("/keys/{}", k.id),
            json!({ "allowed_ips": [] }),
        )
        .await;
    assert!(r.ok(200).get("allowed_ips").is_none(), "{}", r.text);
    let v = verify(&srv, json!({ "key": k.secret })).await;
    assert_eq!(code(&v), "VALID");
}

#[tokio::test]
async fn credits_accept_exactly_their_units_and_report_what_is_left() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "credits").await;
    let k = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "five", "credits": { "remaining": 5 } }),
    )
    .await;
    assert_eq!(k.view["credits"], json!({ "remaining": 5 }));
    assert_eq!(k.view["usage"], json!({ "credits_remaining": 5 }));
    let record = srv.get(&alice, &format!("/keys/{}/record", k.id)).await;
    assert_eq!(record.ok(200)["metered"], true);

    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(spend(&srv, &k.secret, 1).await);
    }
    let expected: Vec<(String, Value)> = [
        ("VALID", 4),
        ("VALID", 3),
        ("VALID", 2),
        ("VALID", 1),
        ("VALID", 0),
        ("USAGE_EXCEEDED", 0),
        ("USAGE_EXCEEDED", 0),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), json!(n)))
    .collect();
    assert_eq!(seen, expected);
    let view = srv.key_view(&alice, &k.id).await;
    assert_eq!(view["credits"]["remaining"], 0);
    assert_eq!(view["usage"]["credits_remaining"], 0);

    // Cost counts as units; 0 checks without consuming, and is refused
    // once nothing is left.
    let c = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "costly", "credits": { "remaining": 5 } }),
    )
    .await;
    let costs = [(2, "VALID", 3), (2, "VALID", 1), (2, "USAGE_EXCEEDED", 1)];
    for (cost, expected, left) in costs {
        assert_eq!(
            spend(&srv, &c.secret, cost).await,
            (expected.to_owned(), json!(left)),
            "cost {cost}"
        );
    }
    assert_eq!(spend(&srv, &c.secret, 0).await, ("VALID".into(), json!(1)));
    assert_eq!(spend(&srv, &c.secret, 1).await, ("VALID".into(), json!(0)));
    assert_eq!(
        spend(&srv, &c.secret, 0).await,
        ("USAGE_EXCEEDED".into(), json!(0))
    );

    // A daily refill shows in the views with its balance.
    let refilled = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "daily", "credits": { "remaining": 2, "refill": { "amount": 100, "interval": "daily" } } }),
    )
    .await;
    assert_eq!(
        refilled.view["credits"],
        json!({ "remaining": 2, "refill": { "amount": 100, "interval": "daily" } })
    );
}

#[tokio::test]
async fn a_rate_limit_accepts_its_count_per_window() {
    clear_of_window_end(3600).await;
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "limits").await;
    let k = create(
        &srv,
        &alice,
        &app,
        json!({
            "name": "limited",
            "rate_limits": [
                { "name": "daily", "limit": 3, "window_seconds": DAY },
                { "name": "hourly", "limit": 10, "window_seconds": 3600 },
            ],
        }),
    )
    .await;
    let day_end = (now().div_euclid(DAY) + 1) * DAY;
    for left in [2, 1, 0] {
        let v = verify(&srv, json!({ "key": k.secret })).await;
        assert_eq!(code(&v), "VALID", "{v}");
        assert_eq!(v["rate_limits"][0]["name"], "daily");
        assert_eq!(v["rate_limits"][0]["limit"], 3);
        assert_eq!(v["rate_limits"][0]["remaining"], left, "{v}");
        assert_eq!(v["rate_limits"][0]["reset_at"], json!(rfc3339(day_end)));
        assert_eq!(v["rate_limits"][1]["remaining"], 7 + left, "{v}");
        assert!(v.get("credits_remaining").is_none(), "{v}");
    }
    let v = verify(&srv, json!({ "key": k.secret })).await;
    assert_eq!(code(&v), "RATE_LIMITED", "{v}");
    assert_eq!(v["rate_limits"][0]["remaining"], 0);
    // A refusal takes nothing from the other limit.
    assert_eq!(v["rate_limits"][1]["remaining"], 7, "{v}");
    // A cost that does not fit is refused whole.
    let wide = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "wide", "rate_limits": [{ "name": "d", "limit": 5, "window_seconds": DAY }] }),
    )
    .await;
    let v = verify(&srv, json!({ "key": wide.secret, "cost": 4 })).await;
    assert_eq!(code(&v), "VALID");
    let v = verify(&srv, json!({ "key": wide.secret, "cost": 2 })).await;
    assert_eq!(code(&v), "RATE_LIMITED");
    assert_eq!(v["rate_limits"][0]["remaining"], 1, "{v}");

    let view = srv.key_view(&alice, &k.id).await;
    assert_eq!(
        view["rate_limits"],
        json!([
            { "name": "daily", "limit": 3, "window_seconds": DAY },
            { "name": "hourly", "limit": 10, "window_seconds": 3600 },
        ])
    );
    assert_eq!(view["usage"]["rate_limits"][0]["remaining"], 0);
    assert_eq!(view["usage"]["rate_limits"][1]["remaining"], 7);
    let listed = srv.list_keys(&alice, &app).await;
    let listed = listed.iter().find(|l| l["id"] == json!(k.id)).unwrap();
    assert_eq!(listed["usage"], view["usage"]);
}

/// Precedence: only a verification that passes every other check reaches
/// the counters.
#[tokio::test]
async fn refusals_before_the_counters_consume_nothing() {
    clear_of_window_end(DAY).await;
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "precedence").await;
    let body = |name: &str, extra: Value| {
        let mut body = json!({
            "name": name,
            "scopes": ["sims:read"],
            "credits": { "remaining": 3 },
            "rate_limits": [{ "name": "d", "limit": 3, "window_seconds": DAY }],
            "allowed_ips": ["192.0.2.0/24"],
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let soon = create(
        &srv,
        &alice,
        &app,
        body("expiring", json!({ "expires_at": rfc3339(now() + 2) })),
    )
    .await;
    let disabled = create(&srv, &alice, &app, body("disabled", json!({}))).await;
    srv.post_empty(&alice, &format!("/keys/{}/disable", disabled.id))
        .await
        .ok(200);
    let k = create(&srv, &alice, &app, body("live", json!({}))).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    let from = |key: &str, scopes: Value, ip: &str| json!({ "key": key, "scopes": scopes, "source_ip": ip, "cost": 1 });
    let refusals = [
        (from(&soon.secret, json!([]), "192.0.2.1"), "EXPIRED"),
        (from(&disabled.secret, json!([]), "192.0.2.1"), "DISABLED"),
        (
            from(&k.secret, json!(["billing:read"]), "192.0.2.1"),
            "INSUFFICIENT_SCOPE",
        ),
        (
            from(&k.secret, json!(["sims:read"]), "198.51.100.1"),
            "IP_NOT_ALLOWED",
        ),
        (json!({ "key": k.secret }), "IP_NOT_ALLOWED"),
    ];
    for _ in 0..4 {
        for (body, expected) in &refusals {
            let v = verify(&srv, body.clone()).await;
            assert_eq!(code(&v), *expected, "{v}");
            assert!(v.get("credits_remaining").is_none(), "{v}");
            assert!(v.get("rate_limits").is_none(), "{v}");
        }
    }
    for key in [&soon.id, &disabled.id, &k.id] {
        let view = srv.key_view(&alice, key).await;
        assert_eq!(view["usage"]["credits_remaining"], 3, "{view}");
        assert_eq!(view["usage"]["rate_limits"][0]["remaining"], 3, "{view}");
    }
    // The live key still has all of it.
    let v = verify(&srv, from(&k.secret, json!(["sims:read"]), "192.0.2.9")).await;
    assert_eq!(code(&v), "VALID", "{v}");
    assert_eq!(v["credits_remaining"], 2);
    assert_eq!(v["rate_limits"][0]["remaining"], 2);
}

/// `last_used_at` records valid verifications only: a metered key refused
/// by its counters was not used.
#[tokio::test]
async fn only_a_valid_verification_counts_as_a_use() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "used").await;
    let spent = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "spent", "credits": { "remaining": 0 } }),
    )
    .await;
    let fresh = create(
        &srv,
        &alice,
        &app,
        json!({ "name": "fresh", "credits": { "remaining": 1 } }),
    )
    .await;
    assert_eq!(spend(&srv, &spent.secret, 1).await.0, "USAGE_EXCEEDED");
    assert_eq!(spend(&srv, &fresh.secret, 1).await.0, "VALID");
    let used = crate::harness::eventually(Duration::from_secs(10), "last_used_at", || {
        let srv = &srv;
        let (alice, id) = (&alice, &fresh.id);
        async move {
            let view = srv.key_view(alice, id).await;
            (!view["last_used_at"].is_null()).then_some(view)
        }
    })
    .await;
    assert_about(&used["last_used_at"], now(), "the valid use");
    let view = srv.key_view(&alice, &spent.id).await;
    assert!(view["last_used_at"].is_null(), "{view}");
    let page = srv.get(&alice, &format!("/applications/{app}/keys")).await;
    assert_eq!(items(page.ok(200)).len(), 2);
}
