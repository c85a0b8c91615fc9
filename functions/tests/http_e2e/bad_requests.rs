//! Bad requests get a stable problem and write nothing. Each test sends one
//! kind of bad request to a server holding one application with one key,
//! then checks that the audit log, the lists and the key are as before.

use crate::client::{NewKey, ids};
use crate::harness::{Server, rfc3339};
use crate::local_server::{JWT_SECRET, all_permissions, mint, now};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const JSON: Option<&str> = Some("application/json");

/// A server with one application ("strict") holding one key ("good"), and
/// the audit log as it was before any bad request.
struct Strict {
    srv: Server,
    alice: String,
    app: String,
    k: NewKey,
    keys_path: String,
    audit_before: Vec<Value>,
}

impl Strict {
    async fn start() -> Self {
        let srv = Server::start();
        let alice = srv.admin("alice", "acme");
        let app = srv.create_app(&alice, "strict").await;
        let k = srv.create_named_key(&alice, &app, "good").await;
        let keys_path = format!("/applications/{app}/keys");
        let audit_before = srv.audit(&alice).await;
        Strict {
            srv,
            alice,
            app,
            k,
            keys_path,
            audit_before,
        }
    }

    /// Nothing was written since the audit log was `audit`: no event, no
    /// other key or application, and the good key unchanged.
    async fn assert_nothing_written_since(&self, audit: &[Value]) {
        let Strict {
            srv, alice, app, k, ..
        } = self;
        assert_eq!(srv.audit(alice).await, audit);
        assert_eq!(
            ids(&srv.list_keys(alice, app).await),
            BTreeSet::from([k.id.clone()])
        );
        assert_eq!(srv.list_apps(alice).await.len(), 1);
        let view = srv.key_view(alice, &k.id).await;
        assert_eq!(
            (view["name"].clone(), view["status"].clone()),
            (json!("good"), json!("active"))
        );
    }

    async fn assert_nothing_written(&self) {
        self.assert_nothing_written_since(&self.audit_before).await;
    }
}

#[tokio::test]
async fn bodies_with_bad_syntax_schema_size_or_media_type_are_refused() {
    let strict = Strict::start().await;
    let Strict {
        srv,
        alice,
        k,
        keys_path,
        ..
    } = &strict;
    // Syntax
    for body in ["{", "{\"name\": ", "not json", "{\"name\": \"x\",}"] {
        srv.post_raw(alice, keys_path, JSON, body)
            .await
            .problem(400, "MALFORMED_JSON");
        srv.post_raw(alice, "/applications", JSON, body)
            .await
            .problem(400, "MALFORMED_JSON");
    }
    srv.post_raw(alice, keys_path, JSON, "")
        .await
        .problem(400, "MALFORMED_JSON");
    // Schema
    for body in [
        json!({ "name": 5 }),
        json!({ "name": "x", "scopes": "sims:read" }),
        json!({ "name": "x", "expires_at": 12345 }),
        json!({ "name": "x", "unknown": true }),
        json!({ "description": "no name" }),
        json!(["name"]),
    ] {
        srv.post(alice, keys_path, body.clone())
            .await
            .problem(422, "INVALID_BODY");
    }
    srv.post(
        alice,
        "/applications",
        json!({ "name": "x", "owner": "me" }),
    )
    .await
    .problem(422, "INVALID_BODY");
    srv.patch(
        alice,
        &format!("/keys/{}", k.id),
        json!({ "status": "active" }),
    )
    .await
    .problem(422, "INVALID_BODY");
    srv.post(
        alice,
        &format!("/keys/{}/disable", k.id),
        json!({ "force": true }),
    )
    .await
    .problem(422, "INVALID_BODY");
    srv.post(
        alice,
        &format!("/keys/{}/regenerate", k.id),
        json!({ "grace_seconds": "1" }),
    )
    .await
    .problem(422, "INVALID_BODY");
    srv.call(Method::POST, "/verify", None, Some(&json!({ "key": 1 })))
        .await
        .problem(422, "INVALID_BODY");
    // Size and media type
    let huge = json!({ "name": "x", "description": "d".repeat(70 * 1024) });
    srv.post(alice, keys_path, huge.clone())
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
    srv.post(alice, "/applications", huge)
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
    srv.post_raw(alice, keys_path, None, r#"{"name":"x"}"#)
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");
    srv.post_raw(alice, keys_path, Some("text/plain"), r#"{"name":"x"}"#)
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");

    strict.assert_nothing_written().await;
}

#[tokio::test]
async fn fields_outside_their_rules_are_refused() {
    let strict = Strict::start().await;
    let Strict {
        srv,
        alice,
        app,
        k,
        keys_path,
        ..
    } = &strict;
    let cases = [
        (json!({ "name": "n".repeat(65) }), "INVALID_NAME"),
        (json!({ "name": "" }), "INVALID_NAME"),
        (json!({ "name": "   " }), "INVALID_NAME"),
        (json!({ "name": "a\u{7}b" }), "INVALID_NAME"),
        (
            json!({ "name": "x", "description": "d".repeat(513) }),
            "INVALID_DESCRIPTION",
        ),
        (
            json!({ "name": "x", "scopes": ["Bad Scope"] }),
            "INVALID_SCOPE",
        ),
        (
            json!({ "name": "x", "expires_at": rfc3339(now() - 60) }),
            "EXPIRES_AT_IN_PAST",
        ),
        (
            json!({ "name": "x", "expires_at": "next tuesday" }),
            "INVALID_EXPIRES_AT",
        ),
        (
            json!({ "name": "x", "expires_at": "2030-13-01T00:00:00Z" }),
            "INVALID_EXPIRES_AT",
        ),
        (
            json!({ "name": "x", "expires_at": rfc3339(now() + 731 * 86_400) }),
            "EXPIRES_AT_TOO_FAR",
        ),
    ];
    for (body, code) in &cases {
        srv.post(alice, keys_path, body.clone())
            .await
            .problem(422, code);
    }
    // 64 characters (even multi-byte ones) and 512 are fine.
    let edge = srv
        .create_key(
            alice,
            app,
            json!({ "name": "é".repeat(64), "description": "d".repeat(512),
                    "expires_at": rfc3339(now() + 729 * 86_400) }),
        )
        .await;
    srv.delete(alice, &format!("/keys/{}", edge.id))
        .await
        .ok(200);
    let audit_after_edge = srv.audit(alice).await;
    srv.post(alice, "/applications", json!({ "name": "n".repeat(65) }))
        .await
        .problem(422, "INVALID_NAME");
    srv.post(
        alice,
        "/applications",
        json!({ "name": "x", "key_prefix": "Bad" }),
    )
    .await
    .problem(422, "INVALID_PREFIX");
    srv.patch(
        alice,
        &format!("/applications/{app}"),
        json!({ "description": "d".repeat(513) }),
    )
    .await
    .problem(422, "INVALID_DESCRIPTION");
    srv.patch(alice, &format!("/keys/{}", k.id), json!({ "name": "" }))
        .await
        .problem(422, "INVALID_NAME");
    srv.post(
        alice,
        &format!("/keys/{}/regenerate", k.id),
        json!({ "expires_at": "soon" }),
    )
    .await
    .problem(422, "INVALID_EXPIRES_AT");

    // Nothing was written beyond the one edge-case key (created, revoked).
    assert_eq!(audit_after_edge.len(), strict.audit_before.len() + 2);
    strict.assert_nothing_written_since(&audit_after_edge).await;
}

#[tokio::test]
async fn bad_idempotency_keys_are_refused() {
    let strict = Strict::start().await;
    let Strict {
        srv,
        alice,
        keys_path,
        ..
    } = &strict;
    srv.post_idem(alice, keys_path, "", Some(&json!({ "name": "x" })))
        .await
        .problem(400, "INVALID_IDEMPOTENCY_KEY");
    srv.post_idem(alice, keys_path, "has space", Some(&json!({ "name": "x" })))
        .await
        .problem(400, "INVALID_IDEMPOTENCY_KEY");

    strict.assert_nothing_written().await;
}

#[tokio::test]
async fn unknown_ids_answer_not_found() {
    let strict = Strict::start().await;
    let Strict { srv, alice, .. } = &strict;
    srv.get(alice, "/applications/app_nope")
        .await
        .problem(404, "APPLICATION_NOT_FOUND");
    srv.post(alice, "/applications/app_nope/keys", json!({ "name": "x" }))
        .await
        .problem(404, "APPLICATION_NOT_FOUND");
    srv.get(alice, "/applications/app_nope/keys")
        .await
        .problem(404, "APPLICATION_NOT_FOUND");
    srv.post_empty(alice, "/applications/app_nope/revoke")
        .await
        .problem(404, "APPLICATION_NOT_FOUND");
    for id in [
        "nope",
        "0000000000000000000000",
        "zzzzzzzzzzzzzzzzzzzzzz",
        "%00",
    ] {
        srv.get(alice, &format!("/keys/{id}"))
            .await
            .problem(404, "KEY_NOT_FOUND");
        srv.post_empty(alice, &format!("/keys/{id}/disable"))
            .await
            .problem(404, "KEY_NOT_FOUND");
        srv.delete(alice, &format!("/keys/{id}"))
            .await
            .problem(404, "KEY_NOT_FOUND");
    }

    strict.assert_nothing_written().await;
}

#[tokio::test]
async fn missing_expired_forged_and_tampered_tokens_answer_401() {
    let strict = Strict::start().await;
    let Strict { srv, keys_path, .. } = &strict;
    let t0 = now();
    let no_token = srv.call(Method::GET, "/applications", None, None).await;
    no_token.problem(401, "TOKEN_MISSING");
    let basic = srv.send(
        srv.request(Method::GET, "/applications", None)
            .header("authorization", "Basic YWxpY2U6cHc="),
    );
    basic.await.problem(401, "TOKEN_MISSING");
    let expired = mint(
        JWT_SECRET,
        "alice",
        "acme",
        &all_permissions(),
        false,
        t0 - 7200,
    );
    srv.get(&expired, "/applications")
        .await
        .problem(401, "TOKEN_EXPIRED");
    let forged = mint(
        "another-secret-of-at-least-32-bytes!!",
        "alice",
        "acme",
        &all_permissions(),
        false,
        t0,
    );
    srv.get(&forged, "/applications")
        .await
        .problem(401, "TOKEN_INVALID");
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims = json!({ "sub": "alice", "account": "acme", "permissions": all_permissions(),
                         "iat": t0, "exp": t0 + 3600 });
    let alg_none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })),
        b64(claims.clone())
    );
    srv.get(&alg_none, "/applications")
        .await
        .problem(401, "TOKEN_INVALID");
    // Another HMAC algorithm with the same secret is refused, as are
    // correctly signed tokens without a usable account or subject.
    let signed = |alg: jsonwebtoken::Algorithm, claims: &Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    srv.get(
        &signed(jsonwebtoken::Algorithm::HS512, &claims),
        "/applications",
    )
    .await
    .problem(401, "TOKEN_INVALID");
    assert_eq!(
        srv.get(
            &signed(jsonwebtoken::Algorithm::HS256, &claims),
            "/applications"
        )
        .await
        .status,
        200,
        "the same claims, correctly signed, are accepted"
    );
    for bad_claims in [
        json!({ "sub": "alice", "exp": t0 + 3600 }),
        json!({ "sub": "alice", "account": "", "exp": t0 + 3600 }),
        json!({ "account": "acme", "exp": t0 + 3600 }),
        json!({ "sub": "alice", "account": "acme" }),
        json!({ "sub": "alice", "account": "acme", "exp": t0 + 3600, "permissions": 7 }),
    ] {
        srv.get(
            &signed(jsonwebtoken::Algorithm::HS256, &bad_claims),
            "/applications",
        )
        .await
        .problem(401, "TOKEN_INVALID");
    }
    // Claims changed after signing.
    let real = srv.token("alice", "acme", "applications:view");
    let tampered = {
        let parts: Vec<&str> = real.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(json!({ "sub": "alice", "account": "evil-corp", "exp": t0 + 3600 })),
            parts[2]
        )
    };
    srv.get(&tampered, "/applications")
        .await
        .problem(401, "TOKEN_INVALID");
    for garbage in ["garbage", "a.b.c", ""] {
        let r = srv
            .send(
                srv.request(Method::GET, "/applications", None)
                    .header("authorization", format!("Bearer {garbage}")),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(
            ["TOKEN_INVALID", "TOKEN_MISSING"].contains(&r.body["code"].as_str().unwrap_or("")),
            "{}",
            r.text
        );
    }
    srv.call(Method::POST, keys_path, None, Some(&json!({ "name": "x" })))
        .await
        .problem(401, "TOKEN_MISSING");
    srv.post(&forged, keys_path, json!({ "name": "x" }))
        .await
        .problem(401, "TOKEN_INVALID");

    strict.assert_nothing_written().await;
}

#[tokio::test]
async fn bad_query_strings_and_cursors_are_refused() {
    let strict = Strict::start().await;
    let Strict {
        srv,
        alice,
        keys_path,
        ..
    } = &strict;
    for query in ["limit=0", "limit=-1", "limit=ten", "colour=blue"] {
        srv.get(alice, &format!("{keys_path}?{query}"))
            .await
            .problem(400, "INVALID_QUERY");
        srv.get(alice, &format!("/applications?{query}"))
            .await
            .problem(400, "INVALID_QUERY");
        srv.get(alice, &format!("/audit?{query}"))
            .await
            .problem(400, "INVALID_QUERY");
    }
    for cursor in ["!!!", "bm90LWEtY3Vyc29y", "-5", "abc"] {
        srv.get(alice, &format!("{keys_path}?cursor={cursor}"))
            .await
            .problem(400, "INVALID_CURSOR");
        srv.get(alice, &format!("/audit?cursor={cursor}"))
            .await
            .problem(400, "INVALID_CURSOR");
        srv.get(alice, &format!("/notifications?cursor={cursor}"))
            .await
            .problem(400, "INVALID_CURSOR");
    }
    // limit above the maximum is capped, not refused.
    srv.get(alice, &format!("{keys_path}?limit=100000"))
        .await
        .ok(200);

    strict.assert_nothing_written().await;
}

#[tokio::test]
async fn malformed_keys_are_a_verdict_not_an_error() {
    let strict = Strict::start().await;
    let Strict { srv, alice, k, .. } = &strict;
    for presented in [
        "",
        "kw_",
        "not a key",
        &k.secret[..k.secret.len() - 1],
        &format!("{}x", k.secret),
    ] {
        let v = srv.verify(presented, &[]).await;
        assert_eq!(
            v,
            json!({ "valid": false, "code": "MALFORMED" }),
            "{presented:?}"
        );
    }
    srv.post_raw(alice, "/verify", JSON, "{\"key\":")
        .await
        .problem(400, "MALFORMED_JSON");

    strict.assert_nothing_written().await;
}
