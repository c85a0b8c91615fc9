//! Every route answers as documented (docs/ARCHITECTURE.md, HTTP API),
//! and lists page with cursors.

use crate::client::{items, new_key};
use crate::harness::{Server, assert_about, rfc3339};
use crate::key_format::{assemble_key, sha256_hex, split_key};
use crate::local_server::now;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};

#[tokio::test]
async fn every_route_answers_as_documented() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");

    let r = srv.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.ok(200), &json!({ "status": "ok" }));

    // POST /applications
    let r = srv
        .post(
            &alice,
            "/applications",
            json!({ "name": "Billing", "description": "billing api", "key_prefix": "bill" }),
        )
        .await;
    let app = r.ok(201).clone();
    let app_id = app["id"].as_str().unwrap().to_owned();
    assert!(app_id.starts_with("app_"), "{app}");
    assert_eq!(app["name"], "Billing");
    assert_eq!(app["description"], "billing api");
    assert_eq!(app["key_prefix"], "bill");
    assert_eq!(app["account"], "acme");
    assert_eq!(app["created_by"], "alice");
    assert_eq!(app["status"], "active");
    assert_eq!(app["owner_status"], "active");
    assert_eq!(app["revoked_at"], Value::Null);

    // GET /applications, GET /applications/{id}
    let r = srv.get(&alice, "/applications").await;
    assert_eq!(
        r.ok(200),
        &json!({ "items": [app.clone()], "next_cursor": null })
    );
    assert_eq!(
        srv.get(&alice, &format!("/applications/{app_id}"))
            .await
            .ok(200),
        &app
    );

    // PATCH /applications/{id}
    let r = srv
        .patch(
            &alice,
            &format!("/applications/{app_id}"),
            json!({ "name": "Billing v2" }),
        )
        .await;
    let patched = r.ok(200).clone();
    assert_eq!(patched["name"], "Billing v2");
    assert_eq!(patched["description"], "billing api");
    assert_eq!(
        srv.get(&alice, &format!("/applications/{app_id}"))
            .await
            .ok(200)["name"],
        "Billing v2"
    );

    // POST /applications/{id}/keys
    let expires = now() + 30 * 86_400;
    let r = srv
        .post(
            &alice,
            &format!("/applications/{app_id}/keys"),
            json!({
                "name": "ci",
                "description": "the CI key",
                "scopes": ["sims:write", "sims:read"],
                "expires_at": rfc3339(expires),
            }),
        )
        .await;
    let key = new_key(&r, 201);
    let (prefix, key_id_part, secret_part, _) = split_key(&key.secret);
    assert_eq!(prefix, "bill");
    assert_eq!(
        key_id_part, key.id,
        "the key id is the public part of the key"
    );
    assert_eq!(
        assemble_key(prefix, key_id_part, secret_part),
        key.secret,
        "the checksum is base62(CRC32) of everything before it"
    );
    let v = &key.view;
    assert_eq!(v["application_id"], json!(app_id));
    assert_eq!(v["account"], "acme");
    assert_eq!(v["name"], "ci");
    assert_eq!(v["description"], "the CI key");
    assert_eq!(v["prefix"], "bill");
    assert_eq!(v["scopes"], json!(["sims:read", "sims:write"]));
    assert_eq!(v["status"], "active");
    assert_eq!(v["created_by"], "alice");
    assert_eq!(v["expires_at"], json!(rfc3339(expires)));
    assert_eq!(v["last_used_at"], Value::Null);
    assert!(v.get("hash").is_none() && v.get("secret").is_none(), "{v}");
    assert_eq!(
        r.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["key", "secret"]
    );

    // GET /applications/{id}/keys, GET /keys/{id}
    let r = srv
        .get(&alice, &format!("/applications/{app_id}/keys"))
        .await;
    assert_eq!(
        r.ok(200),
        &json!({ "items": [key.view.clone()], "next_cursor": null })
    );
    assert_eq!(srv.key_view(&alice, &key.id).await, key.view);

    // PATCH /keys/{id}
    let r = srv
        .patch(
            &alice,
            &format!("/keys/{}", key.id),
            json!({ "description": "renamed", "name": "ci-2" }),
        )
        .await;
    assert_eq!(r.ok(200)["description"], "renamed");
    assert_eq!(r.body["name"], "ci-2");
    assert_eq!(srv.key_view(&alice, &key.id).await["name"], "ci-2");

    // POST /keys/{id}/disable and /enable
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/disable", key.id))
        .await;
    assert_eq!(r.ok(200)["status"], "disabled");
    let r = srv
        .post(&alice, &format!("/keys/{}/enable", key.id), json!({}))
        .await;
    assert_eq!(r.ok(200)["status"], "active");

    // GET /keys/{id}/record
    let r = srv.get(&alice, &format!("/keys/{}/record", key.id)).await;
    let record = r.ok(200).clone();
    assert_eq!(record["key_id"], json!(key.id));
    assert_eq!(record["application_id"], json!(app_id));
    assert_eq!(record["account"], "acme");
    assert_eq!(record["hash"], json!(sha256_hex(&key.secret)));
    assert_eq!(record["status"], "active");
    assert_eq!(record["expires_at"], json!(expires));
    assert_eq!(record["scopes"], json!(["sims:read", "sims:write"]));
    assert_eq!(record["application_status"], "active");
    assert_eq!(record["owner_status"], "active");
    let viewer = srv.token("val", "acme", "keys:view:any applications:view");
    srv.get(&viewer, &format!("/keys/{}/record", key.id))
        .await
        .problem(403, "PERMISSION_DENIED");

    // POST /verify: no token needed.
    let verdict = srv.verify(&key.secret, &["sims:read"]).await;
    assert_eq!(
        verdict,
        json!({
            "valid": true,
            "code": "VALID",
            "key_id": key.id,
            "application_id": app_id,
            "account": "acme",
            "scopes": ["sims:read", "sims:write"],
            "expires_at": expires,
        })
    );

    // POST /keys/{id}/regenerate
    let r = srv
        .post(&alice, &format!("/keys/{}/regenerate", key.id), json!({}))
        .await;
    let fresh = new_key(&r, 201);
    assert_ne!(fresh.id, key.id);
    assert_eq!(fresh.view["replaces"], json!(key.id));

    // POST /keys/{id}/revoke and DELETE /keys/{id}
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/revoke", fresh.id))
        .await;
    assert_eq!(r.ok(200)["status"], "revoked");
    assert!(r.body["revoked_at"].is_string(), "{}", r.text);
    let other = srv.create_named_key(&alice, &app_id, "other").await;
    assert_about(
        &other.view["expires_at"],
        now() + 365 * 86_400,
        "the default validity",
    );
    let r = srv.delete(&alice, &format!("/keys/{}", other.id)).await;
    assert_eq!(r.ok(200)["status"], "revoked");

    // GET /notifications
    let r = srv.get(&alice, "/notifications").await;
    assert_eq!(r.ok(200), &json!({ "items": [], "next_cursor": null }));

    // GET /audit (audit:view), newest first.
    let events = srv.audit(&alice).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "application.created",
        "application.updated",
        "key.created",
        "key.updated",
        "key.disabled",
        "key.enabled",
        "key.regenerated",
        "key.revoked",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert_eq!(actions[0], "key.revoked", "newest first: {actions:?}");
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == "alice" && e["account"] == "acme")
    );
    let disabled = events
        .iter()
        .find(|e| e["action"] == "key.disabled")
        .unwrap();
    assert_eq!(disabled["target_id"], json!(key.id));
    assert_eq!(disabled["before"]["status"], "active");
    assert_eq!(disabled["after"]["status"], "disabled");
    srv.get(&viewer, "/audit")
        .await
        .problem(403, "PERMISSION_DENIED");

    // POST /applications/{id}/revoke
    let r = srv
        .post_empty(&alice, &format!("/applications/{app_id}/revoke"))
        .await;
    assert_eq!(r.ok(200)["status"], "revoked");

    // DELETE /users/{id} (users:offboard)
    srv.delete(&viewer, "/users/bob")
        .await
        .problem(403, "PERMISSION_DENIED");
    let r = srv.delete(&alice, "/users/bob").await;
    assert_eq!(
        r.ok(200),
        &json!({ "user_id": "bob", "applications": [], "keys": [] })
    );

    // Unknown routes and wrong methods.
    for path in [
        "/nope",
        "/keys",
        "/applications/x/keys/y",
        "/keys/x/record/y",
    ] {
        srv.get(&alice, path).await.problem(404, "ROUTE_NOT_FOUND");
    }
    for (method, path, allowed) in [
        (Method::PUT, "/applications", "GET,HEAD,POST"),
        (Method::DELETE, "/applications", "GET,HEAD,POST"),
        (Method::GET, "/verify", "POST"),
        (Method::POST, "/healthz", "GET,HEAD"),
        (Method::PUT, "/keys/abc", "DELETE,GET,HEAD,PATCH"),
        (Method::GET, "/keys/abc/disable", "POST"),
        (Method::POST, "/users/bob", "DELETE"),
    ] {
        let r = srv.call(method, path, Some(&alice), None).await;
        r.problem(405, "METHOD_NOT_ALLOWED");
        // RFC 9110: a 405 lists the methods the route accepts.
        let mut allow: Vec<String> = r
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allow.sort();
        assert_eq!(allow.join(","), allowed, "Allow header of {path}");
    }
}

#[tokio::test]
async fn lists_paginate_with_cursors() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "paged").await;
    let mut created = BTreeSet::new();
    for i in 0..5 {
        created.insert(
            srv.create_named_key(&alice, &app, &format!("k{i}"))
                .await
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut path = format!("/applications/{app}/keys?limit=2");
    let mut pages = 0;
    loop {
        let page = srv.get(&alice, &path).await.ok(200).clone();
        pages += 1;
        let page_items = items(&page);
        assert!(page_items.len() <= 2);
        seen.extend(
            page_items
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/applications/{app}/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "no duplicates: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);

    // The audit log pages too (6 events: 1 application, 5 keys).
    let first = srv.get(&alice, "/audit?limit=4").await.ok(200).clone();
    assert_eq!(items(&first).len(), 4);
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let second = srv
        .get(&alice, &format!("/audit?limit=4&cursor={cursor}"))
        .await
        .ok(200)
        .clone();
    assert_eq!(items(&second).len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    let all: HashSet<String> = items(&first)
        .iter()
        .chain(items(&second).iter())
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 6);
}

/// `GET /openapi.json` serves infra/openapi.yaml, as JSON, to anyone.
#[tokio::test]
async fn the_openapi_document_is_served_as_json() {
    let srv = Server::start();
    let r = srv
        .call(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    let served = r.ok(200).clone();
    let document: serde_json::Value =
        serde_yaml_ng::from_str(include_str!("../../../infra/openapi.yaml")).unwrap();
    assert_eq!(served, document);
    assert!(served["paths"]["/openapi.json"]["get"].is_object());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
}
