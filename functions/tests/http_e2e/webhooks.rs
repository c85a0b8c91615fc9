//! Webhook endpoints over HTTP: the signing secret shown once (and never in
//! a read, the audit log or the server's log), reads, PATCH, DELETE, the
//! limit, and bad input refused with stable codes.

use crate::harness::Server;
use serde_json::json;

#[tokio::test]
async fn a_webhook_shows_its_secret_once_and_never_again() {
    let srv = Server::start();
    let admin = srv.admin("alice", "acme");
    let body = json!({
        "url": "https://hooks.example.invalid/keyward",
        "events": ["key.revoked", "key.created", "key.revoked"],
        "description": "ops",
    });
    let made = srv
        .post_idem(&admin, "/webhooks", "hook-1", Some(&body))
        .await;
    let created = made.ok(201).clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let payload = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    assert_eq!(bytes.len(), 32);
    let webhook = &created["webhook"];
    let id = webhook["id"].as_str().unwrap();
    // Sorted, de-duplicated filters; enabled.
    assert_eq!(webhook["events"], json!(["key.created", "key.revoked"]));
    assert_eq!(webhook["enabled"], true);
    // The retry answers the same secret and makes nothing new.
    let again = srv
        .post_idem(&admin, "/webhooks", "hook-1", Some(&body))
        .await;
    assert_eq!(again.ok(201)["secret"], secret.as_str());
    let list = srv.get(&admin, "/webhooks").await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 1);

    let read = srv.get(&admin, &format!("/webhooks/{id}")).await;
    assert_eq!(read.ok(200)["url"], "https://hooks.example.invalid/keyward");
    let patched = srv
        .patch(
            &admin,
            &format!("/webhooks/{id}"),
            json!({"events": null, "enabled": false, "description": "paused"}),
        )
        .await;
    let patched = patched.ok(200);
    assert_eq!(patched["events"], json!([]));
    assert_eq!(
        (patched["enabled"].clone(), patched["description"].clone()),
        (json!(false), json!("paused"))
    );
    let deliveries = srv.get(&admin, &format!("/webhooks/{id}/deliveries")).await;
    assert_eq!(deliveries.ok(200)["items"], json!([]));
    let audit = srv.get(&admin, "/audit").await;
    let audit = audit.ok(200).to_string();
    assert!(audit.contains("webhook.created") && audit.contains("webhook.updated"));

    let gone = srv.delete(&admin, &format!("/webhooks/{id}")).await;
    assert_eq!(gone.status, 204);
    srv.get(&admin, &format!("/webhooks/{id}"))
        .await
        .problem(404, "WEBHOOK_NOT_FOUND");
    srv.delete(&admin, &format!("/webhooks/{id}"))
        .await
        .problem(404, "WEBHOOK_NOT_FOUND");
    let list = srv.get(&admin, "/webhooks").await;
    assert_eq!(list.ok(200)["items"], json!([]));

    // Nowhere but the one answer (and its sealed idempotent copy, which the
    // store holds encrypted): not in reads, the audit log or the log.
    let audit = srv.get(&admin, "/audit").await;
    for text in [
        read.text.as_str(),
        patched.to_string().as_str(),
        audit.text.as_str(),
        &srv.log(),
    ] {
        assert!(!text.contains(&secret), "the secret leaked");
        assert!(!text.contains(payload));
        assert!(!text.contains("sealed_secret"));
    }
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_stable_codes_and_nothing_is_made() {
    let srv = Server::start_with(&[("KEYWARD_MAX_WEBHOOKS", "2")]);
    let admin = srv.admin("alice", "acme");
    let long = format!("https://hooks.example.invalid/{}", "a".repeat(2_048));
    for (body, code) in [
        (
            json!({"url": "http://hooks.example.invalid/"}),
            "INVALID_WEBHOOK_URL",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.invalid/"}),
            "INVALID_WEBHOOK_URL",
        ),
        (json!({"url": long}), "INVALID_WEBHOOK_URL"),
        (
            json!({"url": "https://169.254.169.254/latest"}),
            "INVALID_WEBHOOK_URL",
        ),
        (json!({"url": "https://[::1]/"}), "INVALID_WEBHOOK_URL"),
        (json!({"url": "not a url"}), "INVALID_WEBHOOK_URL"),
        (
            json!({"url": "https://hooks.example.invalid/", "events": ["key.exploded"]}),
            "INVALID_EVENT_TYPES",
        ),
        (
            json!({"url": "https://hooks.example.invalid/", "events": []}),
            "INVALID_EVENT_TYPES",
        ),
        (
            json!({"url": "https://hooks.example.invalid/", "events": "key.created"}),
            "INVALID_BODY",
        ),
        (
            json!({"url": "https://hooks.example.invalid/", "secret": "whsec_mine"}),
            "INVALID_BODY",
        ),
        (json!({}), "INVALID_BODY"),
    ] {
        srv.post(&admin, "/webhooks", body.clone())
            .await
            .problem(422, code);
    }
    let list = srv.get(&admin, "/webhooks").await;
    assert_eq!(list.ok(200)["items"], json!([]));
    for _ in 0..2 {
        srv.post(
            &admin,
            "/webhooks",
            json!({"url": "https://hooks.example.invalid/"}),
        )
        .await
        .ok(201);
    }
    let over = srv
        .post(
            &admin,
            "/webhooks",
            json!({"url": "https://hooks.example.invalid/"}),
        )
        .await;
    over.problem(409, "WEBHOOK_LIMIT_REACHED");
    assert_eq!(over.body["limit"], 2);
    for id in [
        "nope",
        "wh_",
        "wh_0000000000000000000000",
        "app_0000000000000000000000",
    ] {
        srv.get(&admin, &format!("/webhooks/{id}"))
            .await
            .problem(404, "WEBHOOK_NOT_FOUND");
    }
    let first = srv.get(&admin, "/webhooks").await;
    let id = first.ok(200)["items"][0]["id"].as_str().unwrap().to_owned();
    srv.patch(
        &admin,
        &format!("/webhooks/{id}"),
        json!({"url": "https://10.1.1.1/"}),
    )
    .await
    .problem(422, "INVALID_WEBHOOK_URL");
    srv.patch(
        &admin,
        &format!("/webhooks/{id}"),
        json!({"events": ["nope"]}),
    )
    .await
    .problem(422, "INVALID_EVENT_TYPES");
    // Who may not see it, or an unknown id, learns nothing from the body.
    let viewer = srv.token("bob", "acme", "keys:view:any");
    srv.patch(
        &viewer,
        &format!("/webhooks/{id}"),
        json!({"url": "ftp://x"}),
    )
    .await
    .problem(403, "PERMISSION_DENIED");
    srv.patch(
        &admin,
        "/webhooks/wh_0000000000000000000000",
        json!({"url": "ftp://x"}),
    )
    .await
    .problem(404, "WEBHOOK_NOT_FOUND");
    let unchanged = srv.get(&admin, &format!("/webhooks/{id}")).await;
    assert_eq!(unchanged.ok(200)["url"], "https://hooks.example.invalid/");
}
