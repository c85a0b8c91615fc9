//! Every HTTP function serves its route from API Gateway v2 events: the
//! fleet of binaries, the events made from the fixture, and the answers.

use super::*;

pub(super) const HTTP_EVENT: &str = include_str!("../fixtures/apigw-v2-http-request.json");

macro_rules! binary {
    ($name:literal) => {
        ($name, env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

/// Every HTTP function, by name.
const HTTP_FUNCTIONS: &[(&str, &str)] = &[
    binary!("create-application"),
    binary!("list-applications"),
    binary!("get-application"),
    binary!("update-application"),
    binary!("revoke-application"),
    binary!("create-key"),
    binary!("list-keys"),
    binary!("get-key"),
    binary!("update-key"),
    binary!("disable-key"),
    binary!("enable-key"),
    binary!("regenerate-key"),
    binary!("revoke-key"),
    binary!("get-key-record"),
    binary!("verify-key"),
    binary!("list-notifications"),
    binary!("list-audit"),
    binary!("offboard-user"),
];

fn claims(sub: &str, account: &str, permissions: &str) -> Value {
    json!({
        "aud": "keyward",
        "exp": "1999999999",
        "iat": "1700000000",
        "iss": "https://idp.example.com/",
        "sub": sub,
        "account": account,
        "permissions": permissions,
        "amr": "[pwd mfa]"
    })
}

pub(super) fn admin(sub: &str, account: &str) -> Value {
    claims(sub, account, &fixtures::all_permissions().join(" "))
}

/// The API Gateway v2 fixture, made into `method route_key` for `path`,
/// with the JWT authorizer's claims (or none: a route without authorizer).
pub(super) fn http_event(
    method: &str,
    route_key: &str,
    path: &str,
    claims: Option<Value>,
    body: Option<Value>,
) -> Value {
    let mut event: Value = serde_json::from_str(HTTP_EVENT).unwrap();
    event["routeKey"] = route_key.into();
    event["rawPath"] = path.into();
    event["requestContext"]["routeKey"] = route_key.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    match claims {
        Some(c) => event["requestContext"]["authorizer"]["jwt"]["claims"] = c,
        None => {
            event["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
        }
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    event["headers"]["content-length"] = body.len().to_string().into();
    event["body"] = body.into();
    if let Some(id) = path
        .split('/')
        .nth(2)
        .filter(|_| route_key.contains("{id}"))
    {
        event["pathParameters"] = json!({ "id": id });
    }
    event
}

pub(super) struct HttpAnswer {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) body: Value,
}

pub(super) fn http_answer(outcome: Outcome) -> HttpAnswer {
    let Outcome::Response(response) = outcome else {
        panic!("the function failed: {outcome:?}");
    };
    let raw = response["body"].as_str().unwrap_or_default();
    let text = if response["isBase64Encoded"] == true {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()
    } else {
        raw.to_owned()
    };
    HttpAnswer {
        status: response["statusCode"].as_u64().unwrap() as u16,
        content_type: response["headers"]["content-type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

struct Fleet {
    functions: HashMap<&'static str, LambdaProcess>,
}

impl Fleet {
    async fn start(table: &str) -> Fleet {
        let env = moto::function_env(table);
        let mut functions = HashMap::new();
        for (name, binary) in HTTP_FUNCTIONS {
            functions.insert(*name, LambdaProcess::start(binary, name, &env).await);
        }
        Fleet { functions }
    }

    async fn call(
        &self,
        function: &str,
        (method, route_key, path): (&str, &str, &str),
        claims: Option<Value>,
        body: Option<Value>,
    ) -> HttpAnswer {
        let event = http_event(method, route_key, path, claims, body);
        http_answer(self.functions[function].invoke(event).await)
    }

    async fn verify(&self, secret: &str) -> String {
        let answer = self
            .call(
                "verify-key",
                ("POST", "POST /verify", "/verify"),
                None,
                Some(json!({ "key": secret })),
            )
            .await;
        assert_eq!(answer.status, 200);
        answer.body["code"].as_str().unwrap().to_owned()
    }
}

pub(super) fn assert_problem(answer: &HttpAnswer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert_eq!(answer.body["status"], status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_http_function_serves_its_route_from_api_gateway_events() {
    if !moto::available() {
        return;
    }
    let (_, table) = moto::table().await;
    let fleet = Fleet::start(&table).await;
    let alice = || Some(admin("alice", "acme"));

    let app = fleet
        .call(
            "create-application",
            ("POST", "POST /applications", "/applications"),
            alice(),
            Some(json!({"name": "Billing"})),
        )
        .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.body["created_by"], "alice");
    let app_path = format!("/applications/{app_id}");
    let keys_path = format!("{app_path}/keys");

    let listed = fleet
        .call(
            "list-applications",
            ("GET", "GET /applications", "/applications"),
            alice(),
            None,
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let got = fleet
        .call(
            "get-application",
            ("GET", "GET /applications/{id}", &app_path),
            alice(),
            None,
        )
        .await;
    assert_eq!(
        (got.status, got.body["name"].as_str()),
        (200, Some("Billing"))
    );
    let updated = fleet
        .call(
            "update-application",
            ("PATCH", "PATCH /applications/{id}", &app_path),
            alice(),
            Some(json!({"description": "invoices"})),
        )
        .await;
    assert_eq!(
        (updated.status, updated.body["description"].as_str()),
        (200, Some("invoices"))
    );

    let create = |name: &str| json!({"name": name, "scopes": ["sims:read"]});
    let created = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            alice(),
            Some(create("ci")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key_id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let key_path = format!("/keys/{key_id}");
    assert_eq!(fleet.verify(&secret).await, "VALID");

    let listed = fleet
        .call(
            "list-keys",
            ("GET", "GET /applications/{id}/keys", &keys_path),
            alice(),
            None,
        )
        .await;
    assert_eq!(listed.body["items"][0]["id"], key_id.as_str());
    // verify-key runs on one thread; its background task writes the use
    // while the function waits for its next event.
    let mut got = None;
    for _ in 0..50 {
        let answer = fleet
            .call(
                "get-key",
                ("GET", "GET /keys/{id}", &key_path),
                alice(),
                None,
            )
            .await;
        assert_eq!(answer.status, 200);
        let used = answer.body["last_used_at"].is_string();
        got = Some(answer);
        if used {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = got.unwrap();
    assert!(
        got.body["last_used_at"].is_string(),
        "verify-key did not write last_used_at within 5 s: {}",
        got.body
    );
    let text = got.body.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("hash"),
        "a read shows no secret or hash: {text}"
    );
    let renamed = fleet
        .call(
            "update-key",
            ("PATCH", "PATCH /keys/{id}", &key_path),
            alice(),
            Some(json!({"name": "ci-2"})),
        )
        .await;
    assert_eq!(renamed.body["name"], "ci-2");

    let disabled = fleet
        .call(
            "disable-key",
            (
                "POST",
                "POST /keys/{id}/disable",
                &format!("{key_path}/disable"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(
        (disabled.status, disabled.body["status"].as_str()),
        (200, Some("disabled"))
    );
    assert_eq!(fleet.verify(&secret).await, "DISABLED");
    let enabled = fleet
        .call(
            "enable-key",
            (
                "POST",
                "POST /keys/{id}/enable",
                &format!("{key_path}/enable"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(enabled.body["status"], "active");
    assert_eq!(fleet.verify(&secret).await, "VALID");

    let record = fleet
        .call(
            "get-key-record",
            (
                "GET",
                "GET /keys/{id}/record",
                &format!("{key_path}/record"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(record.status, 200);
    assert_eq!(record.body["key_id"], key_id.as_str());
    assert_eq!(record.body["hash"].as_str().unwrap().len(), 64);

    let regenerated = fleet
        .call(
            "regenerate-key",
            (
                "POST",
                "POST /keys/{id}/regenerate",
                &format!("{key_path}/regenerate"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(regenerated.status, 201, "{}", regenerated.body);
    let new_secret = regenerated.body["secret"].as_str().unwrap().to_owned();
    let new_id = regenerated.body["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(fleet.verify(&secret).await, "REVOKED");
    assert_eq!(fleet.verify(&new_secret).await, "VALID");

    let revoked = fleet
        .call(
            "revoke-key",
            (
                "POST",
                "POST /keys/{id}/revoke",
                &format!("/keys/{new_id}/revoke"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked");
    assert_eq!(fleet.verify(&new_secret).await, "REVOKED");
    let other = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            alice(),
            Some(create("other")),
        )
        .await;
    let other_id = other.body["key"]["id"].as_str().unwrap().to_owned();
    let deleted = fleet
        .call(
            "revoke-key",
            ("DELETE", "DELETE /keys/{id}", &format!("/keys/{other_id}")),
            alice(),
            None,
        )
        .await;
    assert_eq!(
        (deleted.status, deleted.body["status"].as_str()),
        (200, Some("revoked"))
    );

    // Another account's objects are 404, as problem details.
    let mallory = || Some(admin("mallory", "evil"));
    for (function, route, path) in [
        ("get-key", ("GET", "GET /keys/{id}"), key_path.clone()),
        (
            "get-key-record",
            ("GET", "GET /keys/{id}/record"),
            format!("{key_path}/record"),
        ),
        (
            "disable-key",
            ("POST", "POST /keys/{id}/disable"),
            format!("{key_path}/disable"),
        ),
    ] {
        let answer = fleet
            .call(function, (route.0, route.1, &path), mallory(), None)
            .await;
        assert_problem(&answer, 404, "KEY_NOT_FOUND");
    }
    let foreign = fleet
        .call(
            "get-application",
            ("GET", "GET /applications/{id}", &app_path),
            mallory(),
            None,
        )
        .await;
    assert_problem(&foreign, 404, "APPLICATION_NOT_FOUND");
    let foreign = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            mallory(),
            Some(create("x")),
        )
        .await;
    assert_problem(&foreign, 404, "APPLICATION_NOT_FOUND");

    // Bad input and missing claims are problems too, never a 500.
    let bad = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            alice(),
            Some(json!({"name": "x".repeat(65)})),
        )
        .await;
    assert_problem(&bad, 422, "INVALID_NAME");
    let anonymous = fleet
        .call(
            "list-applications",
            ("GET", "GET /applications", "/applications"),
            None,
            None,
        )
        .await;
    assert_problem(&anonymous, 401, "TOKEN_MISSING");
    let limited = fleet
        .call(
            "list-audit",
            ("GET", "GET /audit", "/audit"),
            Some(claims("carol", "acme", "keys:view:own")),
            None,
        )
        .await;
    assert_problem(&limited, 403, "PERMISSION_DENIED");
    // A function serves only its own routes.
    let elsewhere = fleet
        .call(
            "create-key",
            ("GET", "GET /keys/{id}", &key_path),
            alice(),
            None,
        )
        .await;
    assert_problem(&elsewhere, 404, "ROUTE_NOT_FOUND");

    let audit = fleet
        .call("list-audit", ("GET", "GET /audit", "/audit"), alice(), None)
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "application.created",
        "key.created",
        "key.disabled",
        "key.enabled",
        "key.regenerated",
        "key.revoked",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(!audit.body.to_string().contains(&secret));
    let notices = fleet
        .call(
            "list-notifications",
            ("GET", "GET /notifications", "/notifications"),
            alice(),
            None,
        )
        .await;
    assert_eq!(
        (
            notices.status,
            notices.body["items"].as_array().map(Vec::len)
        ),
        (200, Some(0))
    );

    // Offboarding bob stops the key he created; revoking the application
    // stops the rest.
    let bob = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            Some(admin("bob", "acme")),
            Some(create("bob's")),
        )
        .await;
    let bob_secret = bob.body["secret"].as_str().unwrap().to_owned();
    let kept = fleet
        .call(
            "create-key",
            ("POST", "POST /applications/{id}/keys", &keys_path),
            alice(),
            Some(create("kept")),
        )
        .await;
    let kept_secret = kept.body["secret"].as_str().unwrap().to_owned();
    let offboarded = fleet
        .call(
            "offboard-user",
            ("DELETE", "DELETE /users/{id}", "/users/bob"),
            alice(),
            None,
        )
        .await;
    assert_eq!(offboarded.status, 200, "{}", offboarded.body);
    assert_eq!(fleet.verify(&bob_secret).await, "OWNER_DELETED");
    assert_eq!(fleet.verify(&kept_secret).await, "VALID");
    let revoked_app = fleet
        .call(
            "revoke-application",
            (
                "POST",
                "POST /applications/{id}/revoke",
                &format!("{app_path}/revoke"),
            ),
            alice(),
            None,
        )
        .await;
    assert_eq!(revoked_app.body["status"], "revoked");
    assert_eq!(fleet.verify(&kept_secret).await, "APPLICATION_REVOKED");
}
