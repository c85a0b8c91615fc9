//! Every route against every kind of caller: the expected status and
//! problem in each cell, and nothing changed by a refused caller.

use crate::github::GithubSigner;
use crate::harness::Server;
use crate::local_server::{JWT_SECRET, all_permissions, mint, now};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The callers of the authorization matrix: one column each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    /// Signed with another secret.
    BadSignature,
    /// A valid payload with `alg: none` and no signature.
    AlgNone,
    Expired,
    /// Every permission, in another account.
    OtherAccount,
    /// Every permission, but the key permissions only for applications the
    /// caller created: acting on someone else's application.
    OwnOnlyOnOthers,
    /// Every permission, `any` variants, with MFA.
    Any,
    /// The same without MFA, under `REQUIRE_MFA_TO_ENABLE`.
    AnyWithoutMfa,
}

const MATRIX_COLUMNS: [Who; 8] = [
    Who::NoToken,
    Who::BadSignature,
    Who::AlgNone,
    Who::Expired,
    Who::OtherAccount,
    Who::OwnOnlyOnOthers,
    Who::Any,
    Who::AnyWithoutMfa,
];

/// What a matrix row acts on, made fresh for every cell by the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Nothing,
    Application,
    ActiveKey,
    DisabledKey,
    /// A user who owns an application with a key (for offboarding).
    User,
    /// A webhook of the account.
    Webhook,
}

struct Row {
    method: Method,
    path: &'static str,
    target: Target,
    body: Option<Value>,
    success: u16,
}

fn matrix_rows() -> Vec<Row> {
    use Target::*;
    let row = |method: Method, path, target, body: Option<Value>, success| Row {
        method,
        path,
        target,
        body,
        success,
    };
    vec![
        row(Method::GET, "/healthz", Nothing, None, 200),
        row(Method::GET, "/openapi.json", Nothing, None, 200),
        row(
            Method::POST,
            "/applications",
            Nothing,
            Some(json!({ "name": "m" })),
            201,
        ),
        row(Method::GET, "/applications", Nothing, None, 200),
        row(Method::GET, "/applications/{id}", Application, None, 200),
        row(
            Method::PATCH,
            "/applications/{id}",
            Application,
            Some(json!({ "name": "renamed" })),
            200,
        ),
        row(
            Method::POST,
            "/applications/{id}/revoke",
            Application,
            None,
            200,
        ),
        row(
            Method::POST,
            "/applications/{id}/keys",
            Application,
            Some(json!({ "name": "k" })),
            201,
        ),
        row(
            Method::GET,
            "/applications/{id}/keys",
            Application,
            None,
            200,
        ),
        row(Method::GET, "/keys/{id}", ActiveKey, None, 200),
        row(
            Method::PATCH,
            "/keys/{id}",
            ActiveKey,
            Some(json!({ "name": "renamed" })),
            200,
        ),
        row(Method::POST, "/keys/{id}/disable", ActiveKey, None, 200),
        row(Method::POST, "/keys/{id}/enable", DisabledKey, None, 200),
        row(Method::POST, "/keys/{id}/regenerate", ActiveKey, None, 201),
        row(Method::POST, "/keys/{id}/revoke", ActiveKey, None, 200),
        row(Method::DELETE, "/keys/{id}", ActiveKey, None, 200),
        row(Method::POST, "/verify", ActiveKey, None, 200),
        row(Method::GET, "/keys/{id}/record", ActiveKey, None, 200),
        row(Method::GET, "/notifications", Nothing, None, 200),
        row(Method::GET, "/audit", Nothing, None, 200),
        row(Method::DELETE, "/users/{id}", User, None, 200),
        row(
            Method::POST,
            "/webhooks",
            Nothing,
            Some(json!({ "url": "https://hooks.example.invalid/m" })),
            201,
        ),
        row(Method::GET, "/webhooks", Nothing, None, 200),
        row(Method::GET, "/webhooks/{id}", Webhook, None, 200),
        row(
            Method::PATCH,
            "/webhooks/{id}",
            Webhook,
            Some(json!({ "enabled": false })),
            200,
        ),
        row(Method::DELETE, "/webhooks/{id}", Webhook, None, 204),
        row(Method::GET, "/webhooks/{id}/deliveries", Webhook, None, 200),
        // Open routes: no token is looked at. GitHub's endpoint answers an
        // unsigned body 401 whoever calls (signed requests:
        // leak_reports.rs); a leak report 202 whatever it holds.
        row(
            Method::POST,
            "/secret-scanning/github",
            Nothing,
            Some(json!([])),
            401,
        ),
        row(
            Method::POST,
            "/keys/leaked",
            Nothing,
            Some(json!({ "keys": ["kw_not_a_key"] })),
            202,
        ),
    ]
}

/// The expected status and, for a refusal, the problem code.
fn expected_cell(row: &Row, who: Who) -> (u16, Option<&'static str>) {
    let unauthenticated = matches!(
        row.path,
        "/healthz" | "/openapi.json" | "/verify" | "/secret-scanning/github" | "/keys/leaked"
    );
    let ok = (row.success, None);
    if unauthenticated {
        // No token is needed, and a bad one is not even looked at.
        return ok;
    }
    let keys_route = row.path.starts_with("/keys/") && row.path != "/keys/{id}/record"
        || row.path.starts_with("/applications/{id}/keys");
    let webhooks_route = row.path.starts_with("/webhooks");
    match who {
        Who::NoToken => (401, Some("TOKEN_MISSING")),
        Who::BadSignature | Who::AlgNone => (401, Some("TOKEN_INVALID")),
        Who::Expired => (401, Some("TOKEN_EXPIRED")),
        // Another account's objects do not exist for the caller; its own
        // collections (and its own user named the same) are its own.
        Who::OtherAccount => match row.target {
            Target::Application => (404, Some("APPLICATION_NOT_FOUND")),
            Target::ActiveKey | Target::DisabledKey => (404, Some("KEY_NOT_FOUND")),
            Target::Webhook => (404, Some("WEBHOOK_NOT_FOUND")),
            Target::Nothing | Target::User => ok,
        },
        // Application permissions are account-wide; key permissions are
        // `own` only; webhooks need `webhooks:manage`, which it lacks.
        Who::OwnOnlyOnOthers if keys_route || webhooks_route => (403, Some("PERMISSION_DENIED")),
        Who::OwnOnlyOnOthers => ok,
        Who::Any => ok,
        Who::AnyWithoutMfa if row.path == "/keys/{id}/enable" => (403, Some("MFA_REQUIRED")),
        Who::AnyWithoutMfa => ok,
    }
}

/// A key's view without `last_used_at`, which the usage flush sets on its
/// own time after a verification.
fn without_usage(mut view: Value) -> Value {
    view.as_object_mut()
        .expect("a key object")
        .remove("last_used_at");
    view
}

fn alg_none_token(valid: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let payload = valid.split('.').nth(1).expect("a JWT payload");
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn authorization_matrix_over_every_route() {
    let srv = Server::start_with(&[
        ("KEYWARD_REQUIRE_MFA_TO_ENABLE", "true"),
        ("KEYWARD_MAX_ACTIVE_APPLICATIONS", "1000"),
        ("KEYWARD_MAX_WEBHOOKS", "100"),
        (
            "KEYWARD_GITHUB_SCANNING_KEYS",
            &GithubSigner::new().public_keys(),
        ),
    ]);
    let rows = matrix_rows();
    // The matrix covers exactly the router's routes.
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    let routed: BTreeSet<(String, String)> = keyward::http::routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(covered, routed, "matrix rows vs. the router");

    let all = all_permissions();
    let own_only = [
        "applications:view applications:create applications:edit applications:revoke",
        "keys:view:own keys:create:own keys:edit:own keys:revoke:own",
        "users:offboard audit:view records:read sims:*",
    ]
    .join(" ");
    let any = mint(JWT_SECRET, "carol", "acme", &all, true, now());
    let token_of = |who: Who| -> Option<String> {
        match who {
            Who::NoToken => None,
            Who::BadSignature => Some(mint(
                "a-different-secret-0123456789-abcdefghijklmnop",
                "carol",
                "acme",
                &all,
                true,
                now(),
            )),
            Who::AlgNone => Some(alg_none_token(&any)),
            Who::Expired => Some(mint(JWT_SECRET, "carol", "acme", &all, true, now() - 7200)),
            Who::OtherAccount => Some(mint(JWT_SECRET, "mallory", "evil", &all, true, now())),
            Who::OwnOnlyOnOthers => Some(mint(JWT_SECRET, "bob", "acme", &own_only, true, now())),
            Who::Any => Some(any.clone()),
            Who::AnyWithoutMfa => Some(mint(JWT_SECRET, "carol", "acme", &all, false, now())),
        }
    };

    let mut cells = 0;
    for (n, row) in rows.iter().enumerate() {
        for who in MATRIX_COLUMNS {
            // The target, made by its owner (alice, or a user to offboard).
            let owner_id = match row.target {
                Target::User => format!("dave{n}-{who:?}").to_ascii_lowercase(),
                _ => "alice".to_owned(),
            };
            let owner = srv.admin(&owner_id, "acme");
            let (mut id, mut key) = (String::new(), None);
            let mut webhook_before = None;
            if row.target == Target::Webhook {
                let made = srv
                    .post(
                        &owner,
                        "/webhooks",
                        json!({ "url": "https://hooks.example.invalid/t" }),
                    )
                    .await;
                id = made.ok(201)["webhook"]["id"].as_str().unwrap().to_owned();
                webhook_before = Some(srv.get(&owner, &format!("/webhooks/{id}")).await.text);
            } else if row.target != Target::Nothing {
                let app = srv.create_app(&owner, &format!("app {n} {who:?}")).await;
                let k = srv.create_named_key(&owner, &app, "target").await;
                if row.target == Target::DisabledKey {
                    srv.post_empty(&owner, &format!("/keys/{}/disable", k.id))
                        .await
                        .ok(200);
                }
                id = match row.target {
                    Target::Application => app,
                    Target::User => owner_id.clone(),
                    _ => k.id.clone(),
                };
                key = Some(k);
            }
            let before = match &key {
                Some(k) => (
                    srv.verdict(&k.secret).await,
                    without_usage(srv.key_view(&owner, &k.id).await),
                ),
                None => (String::new(), Value::Null),
            };
            let body = match (row.path, &key) {
                ("/verify", Some(k)) => Some(json!({ "key": k.secret })),
                _ => row.body.clone(),
            };
            let path = row.path.replace("{id}", &id);
            let r = srv
                .call(
                    row.method.clone(),
                    &path,
                    token_of(who).as_deref(),
                    body.as_ref(),
                )
                .await;
            let (status, code) = expected_cell(row, who);
            let cell = format!("{} {} as {who:?}", row.method, row.path);
            match code {
                Some(code) => r.problem(status, code),
                None => {
                    assert_eq!(r.status, status, "{cell}: {}", r.text);
                }
            }
            cells += 1;

            // A refused caller, or one of another account, changed nothing.
            let refused = code.is_some() || who == Who::OtherAccount;
            if let (true, Some(k)) = (refused, &key) {
                assert_eq!(srv.verdict(&k.secret).await, before.0, "{cell}: verdict");
                let after = without_usage(srv.key_view(&owner, &k.id).await);
                assert_eq!(after, before.1, "{cell}: key");
            }
            if let (true, Some(before)) = (refused, &webhook_before) {
                let after = srv.get(&owner, &format!("/webhooks/{id}")).await.text;
                assert_eq!(&after, before, "{cell}: webhook");
            }
            // Another account sees none of acme's objects in its own lists.
            if who == Who::OtherAccount && r.status == 200 && row.method == Method::GET {
                assert!(
                    !r.text.contains("alice") && !r.text.contains("acme"),
                    "{cell}: another account's data: {}",
                    r.text
                );
            }
        }
    }
    assert_eq!(cells, rows.len() * MATRIX_COLUMNS.len());
}
