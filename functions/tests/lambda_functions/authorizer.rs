//! The API Gateway Lambda authorizer, fed the authorizer event fixture.

use super::*;

const AUTHORIZER_EVENT: &str = include_str!("../fixtures/apigw-v2-authorizer-request.json");

fn authorizer_event(authorization: &str) -> Value {
    let mut event: Value = serde_json::from_str(AUTHORIZER_EVENT).unwrap();
    event["headers"]["authorization"] = authorization.into();
    event["identitySource"] = json!([authorization]);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorizer_allows_valid_keys_and_denies_every_other() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let service = service(client, &table);
    let (alice, bob) = (caller("alice"), caller("bob"));
    let app = new_app(&service, &alice).await;
    let (valid_id, valid) = new_key(&service, &alice, &app, &["sims:read"], None).await;
    let (_, wrong_scope) = new_key(&service, &alice, &app, &["billing:read"], None).await;
    let (disabled_id, disabled) = new_key(&service, &alice, &app, &["sims:read"], None).await;
    service
        .disable_key(&alice, &disabled_id, None)
        .await
        .unwrap();
    let (revoked_id, revoked) = new_key(&service, &alice, &app, &["sims:read"], None).await;
    service.revoke_key(&alice, &revoked_id, None).await.unwrap();
    let soon = keyward::domain::rfc3339::format(time_now() + 2);
    let (_, expired) = new_key(&service, &alice, &app, &["sims:read"], Some(soon)).await;
    let (_, offboarded) = new_key(&service, &bob, &app, &["sims:read"], None).await;
    service.offboard_user(&alice, "bob", None).await.unwrap();
    let doomed_app = new_app(&service, &alice).await;
    let (_, in_revoked_app) = new_key(&service, &alice, &doomed_app, &["sims:read"], None).await;
    service
        .revoke_application(&alice, &doomed_app, None)
        .await
        .unwrap();
    let (_, unknown) = wasm_validator::format_key("acme", &[3; 16], &[4; 32]);

    let mut env = moto::function_env(&table);
    env.push((
        "KEYWARD_AUTHORIZER_SCOPES",
        json!({"GET /sims/{id}": ["sims:read"]}).to_string(),
    ));
    let authorizer =
        LambdaProcess::start(env!("CARGO_BIN_EXE_authorizer"), "authorizer", &env).await;
    let decide = |authorization: String| {
        let event = authorizer_event(&authorization);
        let authorizer = &authorizer;
        async move {
            match authorizer.invoke(event).await {
                Outcome::Response(r) => r,
                other => panic!("authorizer failed: {other:?}"),
            }
        }
    };

    let allowed = decide(format!("Bearer {valid}")).await;
    assert_eq!(allowed["isAuthorized"], true, "{allowed}");
    assert_eq!(allowed["context"]["key_id"], valid_id.as_str());
    assert_eq!(allowed["context"]["account"], "acme");
    assert_eq!(allowed["context"]["application_id"], app.as_str());
    assert_eq!(allowed["context"]["scopes"], "sims:read");
    // A bare key in the header works too.
    assert_eq!(decide(valid.clone()).await["isAuthorized"], true);

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (presented, code) in [
        ("Bearer not-a-key".to_owned(), "MALFORMED"),
        (format!("Bearer {}", &valid[..valid.len() - 1]), "MALFORMED"),
        (format!("Bearer {unknown}"), "NOT_FOUND"),
        (format!("Bearer {disabled}"), "DISABLED"),
        (format!("Bearer {expired}"), "EXPIRED"),
        (format!("Bearer {revoked}"), "REVOKED"),
        (format!("Bearer {in_revoked_app}"), "APPLICATION_REVOKED"),
        (format!("Bearer {offboarded}"), "OWNER_DELETED"),
        (format!("Bearer {wrong_scope}"), "INSUFFICIENT_SCOPE"),
        (String::new(), "MALFORMED"),
    ] {
        let denied = decide(presented).await;
        assert_eq!(denied["isAuthorized"], false, "{code}: {denied}");
        assert_eq!(denied["context"]["code"], code);
        assert!(denied["context"].get("key_id").is_none());
    }
}

/// The authorizer event of a request from `source_ip` (`None`: none given).
fn event_from(authorization: &str, source_ip: Option<&str>) -> Value {
    let mut event = authorizer_event(authorization);
    match source_ip {
        Some(ip) => event["requestContext"]["http"]["sourceIp"] = ip.into(),
        None => {
            let http = event["requestContext"]["http"].as_object_mut().unwrap();
            http.remove("sourceIp");
        }
    }
    event
}

/// A key of `app` with the usage controls of `usage` (a body's fields).
async fn key_with_usage(service: &Service, owner: &Caller, app: &str, usage: Value) -> String {
    let field = |name: &str| usage.get(name).cloned();
    let usage = keyward::usage::UsageInput::from_json(
        field("rate_limits"),
        field("credits"),
        field("allowed_ips"),
    )
    .unwrap();
    let created = service
        .create_key_with_usage(owner, app, &fixtures::key("k"), &usage, None)
        .await
        .unwrap();
    created.secret.expose().to_owned()
}

/// The authorizer checks a key's allowed addresses against the address API
/// Gateway saw (`requestContext.http.sourceIp`), never a header the client
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorizer_checks_the_requests_source_address() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let service = service(client, &table);
    let alice = caller("alice");
    let app = new_app(&service, &alice).await;
    let restricted = key_with_usage(
        &service,
        &alice,
        &app,
        json!({ "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"] }),
    )
    .await;
    let authorizer = LambdaProcess::start(
        env!("CARGO_BIN_EXE_authorizer"),
        "authorizer",
        &moto::function_env(&table),
    )
    .await;
    let decide = |source_ip: Option<&str>| {
        let event = event_from(&format!("Bearer {restricted}"), source_ip);
        let authorizer = &authorizer;
        async move {
            match authorizer.invoke(event).await {
                Outcome::Response(r) => r,
                other => panic!("authorizer failed: {other:?}"),
            }
        }
    };
    // The fixture's own request comes from 203.0.113.9.
    for ip in [
        Some("203.0.113.9"),
        Some("2001:db8::7"),
        Some("::ffff:203.0.113.1"),
    ] {
        let allowed = decide(ip).await;
        assert_eq!(allowed["isAuthorized"], true, "{ip:?}: {allowed}");
    }
    // X-Forwarded-For says 203.0.113.9 in every event: it is not read.
    for ip in [
        Some("198.51.100.1"),
        Some("2001:db9::1"),
        Some("not an address"),
        None,
    ] {
        let denied = decide(ip).await;
        assert_eq!(denied["isAuthorized"], false, "{ip:?}: {denied}");
        assert_eq!(denied["context"]["code"], "IP_NOT_ALLOWED", "{ip:?}");
    }
}

/// Each authorized request costs a metered key 1: two credits let two
/// requests through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorizer_debits_a_metered_key_one_per_request() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let service = service(client, &table);
    let alice = caller("alice");
    let app = new_app(&service, &alice).await;
    let metered = key_with_usage(
        &service,
        &alice,
        &app,
        json!({ "credits": { "remaining": 2 } }),
    )
    .await;
    let authorizer = LambdaProcess::start(
        env!("CARGO_BIN_EXE_authorizer"),
        "authorizer",
        &moto::function_env(&table),
    )
    .await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        match authorizer
            .invoke(authorizer_event(&format!("Bearer {metered}")))
            .await
        {
            Outcome::Response(r) => {
                answers.push((r["isAuthorized"].clone(), r["context"]["code"].clone()))
            }
            other => panic!("authorizer failed: {other:?}"),
        }
    }
    assert_eq!(
        answers,
        [
            (json!(true), Value::Null),
            (json!(true), Value::Null),
            (json!(false), json!("USAGE_EXCEEDED")),
        ]
    );
}
