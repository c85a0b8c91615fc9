//! `infra/openapi.yaml` against the code: its operations are exactly
//! `keyward::http::routes()` (method, path and function), its problem codes
//! exactly those `ApiError` answers, each under its own status, the
//! routes it marks open are the ones the router serves without a token, and
//! the leak response's fields and limits are the code's.
//! Then the regression tests of the defects `tests/schemathesis.sh` found,
//! each driving the router on a SQLite store.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use keyward::auth::{JwtVerifier, TokenRequest, issue_token, perm};
use keyward::clock::{Clock, SystemClock};
use keyward::config::Config;
use keyward::error::ApiError;
use keyward::http::{AppState, BearerJwt, router, routes};
use keyward::service::{LogPublisher, Service};
use keyward::store::sqlite::SqliteStore;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const DOCUMENT: &str = "infra/openapi.yaml";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("functions/ has a parent")
        .join(DOCUMENT);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not YAML: {e}"))
}

/// Every operation of the document: (METHOD, path) → the operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let paths = doc["paths"].as_object().expect("paths is a mapping");
    let mut found = BTreeMap::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                found.insert((method.to_ascii_uppercase(), path.clone()), op.clone());
            }
        }
    }
    found
}

#[test]
fn the_document_has_exactly_the_routes_of_the_router() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String, String)> = operations(&doc)
        .into_iter()
        .map(|((method, path), op)| {
            let function = op["x-keyward-function"]
                .as_str()
                .unwrap_or_else(|| panic!("{DOCUMENT}: {method} {path} has no x-keyward-function"));
            (method, path, function.to_owned())
        })
        .collect();
    let routed: BTreeSet<(String, String, String)> = routes()
        .iter()
        .map(|r| {
            (
                r.method.as_str().to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes the document lacks: {undocumented:?}\noperations the router lacks: {unrouted:?}"
    );
    assert!(routed.contains(&("GET".into(), "/healthz".into(), "healthz".into())));

    let ids: Vec<String> = operations(&doc)
        .values()
        .map(|op| {
            op["operationId"]
                .as_str()
                .expect("an operationId")
                .to_owned()
        })
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds repeat: {ids:?}");
}

#[test]
fn the_problem_codes_are_exactly_the_codes_the_server_answers() {
    let doc = document();
    let problem = &doc["components"]["schemas"]["Problem"];
    let documented: BTreeSet<&str> = problem["properties"]["code"]["enum"]
        .as_array()
        .expect("Problem.code has an enum")
        .iter()
        .map(|c| c.as_str().expect("codes are strings"))
        .collect();
    let answered: BTreeSet<&str> = ApiError::one_of_each().iter().map(ApiError::code).collect();
    let missing: Vec<_> = answered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&answered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "codes the document lacks: {missing:?}\ncodes no error answers: {extra:?}"
    );
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .expect("Problem.required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let body = serde_json::to_value(ApiError::KeyNotFound.problem()).expect("a problem serializes");
    let fields: BTreeSet<&str> = body
        .as_object()
        .expect("a problem is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(required, fields, "Problem lists the fields a problem has");
}

/// The verdict codes `POST /verify` may answer are the core's, all but
/// CENTRAL_CHECK_REQUIRED, which the service always settles with a debit.
#[test]
fn the_verdict_codes_are_the_cores_but_the_central_check() {
    let doc = document();
    let documented: BTreeSet<&str> = doc["components"]["schemas"]["Verdict"]["properties"]["code"]
        ["enum"]
        .as_array()
        .expect("Verdict.code has an enum")
        .iter()
        .map(|c| c.as_str().expect("codes are strings"))
        .collect();
    let answered: BTreeSet<&str> = wasm_validator::VerdictCode::ALL
        .into_iter()
        .filter(|c| *c != wasm_validator::VerdictCode::CentralCheckRequired)
        .map(wasm_validator::VerdictCode::as_str)
        .collect();
    assert_eq!(documented, answered);
}

/// Every field a key view, a record or a verify answer can carry is a
/// property of its schema (each schema forbids any other).
#[test]
fn the_usage_fields_are_in_their_schemas() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let properties = |schema: &str| -> BTreeSet<String> {
        schemas[schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has properties"))
            .keys()
            .cloned()
            .collect()
    };
    for (schema, fields) in [
        (
            "Key",
            &["rate_limits", "credits", "allowed_ips", "usage"][..],
        ),
        ("KeyRecord", &["allowed_ips", "metered"]),
        ("Verdict", &["credits_remaining", "rate_limits"]),
        ("VerifyRequest", &["source_ip", "cost"]),
        ("CreateKey", &["rate_limits", "credits", "allowed_ips"]),
        (
            "UpdateKey",
            &[
                "name",
                "description",
                "rate_limits",
                "credits",
                "allowed_ips",
            ],
        ),
        ("Usage", &["credits_remaining", "rate_limits"]),
        ("LimitUsage", &["name", "limit", "remaining", "reset_at"]),
    ] {
        let documented = properties(schema);
        for field in fields {
            assert!(documented.contains(*field), "{schema} lacks {field}");
        }
    }
    let record = wasm_validator::KeyRecord {
        key_id: "k".into(),
        application_id: "a".into(),
        account: "acme".into(),
        hash: "0".repeat(64),
        status: wasm_validator::StoredKeyStatus::Active,
        expires_at: 0,
        revoke_at: Some(1),
        scopes: Vec::new(),
        application_status: wasm_validator::ApplicationStatus::Active,
        owner_status: wasm_validator::OwnerStatus::Active,
        allowed_ips: wasm_validator::AllowedIps::parse(["10.0.0.0/8"]).expect("a block"),
        metered: true,
    };
    let written = serde_json::to_value(&record).expect("a record serializes");
    let written: BTreeSet<String> = written
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(written, properties("KeyRecord"));
}

/// The leak response's shapes are the code's: a key's `leak`, a notice's
/// `kind` and `url`, GitHub's labels, and the limits of both reports.
#[test]
fn the_leak_fields_are_in_their_schemas() {
    use keyward::leaks::github::{
        KEY_IDENTIFIER_HEADER, Label, Labelled, MAX_BATCH, SIGNATURE_HEADER,
    };
    use keyward::leaks::{GITHUB_ACTOR, Leak, LeakAction, MAX_URL_CHARS};
    use keyward::notice::{Notice, NoticeKind};

    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let properties = |schema: &str| -> BTreeSet<String> {
        schemas[schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has properties"))
            .keys()
            .cloned()
            .collect()
    };
    let listed = |value: &Value| -> BTreeSet<String> {
        value
            .as_array()
            .unwrap_or_else(|| panic!("a list: {value}"))
            .iter()
            .map(|v| v.as_str().expect("strings").to_owned())
            .collect()
    };
    let keys_of = |value: Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let as_strings = |values: Vec<Value>| -> BTreeSet<String> {
        values
            .into_iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    };

    // A key view's two new fields; `leak` is written whole, url and all.
    let key = properties("Key");
    assert!(key.contains("leak") && key.contains("disabled_by"));
    let leak = serde_json::to_value(Leak {
        at: 0,
        found_by: GITHUB_ACTOR.to_owned(),
        url: None,
        action: LeakAction::Disable,
    })
    .expect("a leak serializes");
    assert_eq!(keys_of(leak.clone()), properties("Leak"));
    assert_eq!(keys_of(leak), listed(&schemas["Leak"]["required"]));
    let actions = as_strings(
        [LeakAction::Revoke, LeakAction::Disable, LeakAction::Notify]
            .iter()
            .map(|a| serde_json::to_value(a).expect("an action"))
            .collect(),
    );
    assert_eq!(
        listed(&schemas["Leak"]["properties"]["action"]["enum"]),
        actions
    );
    for (schema, field) in [("Leak", "url"), ("LeakReport", "url")] {
        assert_eq!(
            schemas[schema]["properties"][field]["maxLength"],
            json!(MAX_URL_CHARS),
            "{schema}.{field}"
        );
    }

    // A notice: `kind` always, `url` only for a leak that named one.
    let notice = Notice {
        id: "k:leaked".into(),
        kind: NoticeKind::Leaked,
        account: "acme".into(),
        recipient: "u".into(),
        key_id: "k".into(),
        key_name: "key".into(),
        application_id: "app".into(),
        expires_at: 0,
        days_left: 1,
        day: "1970-01-01".into(),
        url: Some("https://example.com/leak".into()),
        created_at: 0,
    };
    let written = keys_of(serde_json::to_value(&notice).expect("a notice serializes"));
    assert_eq!(written, properties("Notice"));
    let without_url = keys_of(
        serde_json::to_value(Notice {
            url: None,
            ..notice
        })
        .expect("a notice serializes"),
    );
    assert_eq!(without_url, listed(&schemas["Notice"]["required"]));
    let kinds = as_strings(
        [
            NoticeKind::Expiring,
            NoticeKind::Leaked,
            NoticeKind::Dormant,
        ]
        .iter()
        .map(|k| serde_json::to_value(k).expect("a kind"))
        .collect(),
    );
    assert_eq!(
        listed(&schemas["Notice"]["properties"]["kind"]["enum"]),
        kinds
    );

    // GitHub's batch, headers and labels.
    assert_eq!(schemas["SecretScanningBatch"]["maxItems"], json!(MAX_BATCH));
    let labelled = serde_json::to_value(Labelled {
        token_raw: keyward::secret::Secret::new("t".into()),
        token_type: "keyward".into(),
        label: Label::TruePositive,
    })
    .expect("a label serializes");
    assert_eq!(keys_of(labelled), properties("SecretScanningLabel"));
    let labels = as_strings(
        [Label::TruePositive, Label::FalsePositive]
            .iter()
            .map(|l| serde_json::to_value(l).expect("a label"))
            .collect(),
    );
    assert_eq!(
        listed(&schemas["SecretScanningLabel"]["properties"]["label"]["enum"]),
        labels
    );
    let operation = &doc["paths"]["/secret-scanning/github"]["post"];
    let headers: BTreeSet<String> = operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "header" && p["required"] == true)
        .map(|p| p["name"].as_str().expect("a name").to_ascii_lowercase())
        .collect();
    assert_eq!(
        headers,
        BTreeSet::from([
            KEY_IDENTIFIER_HEADER.to_owned(),
            SIGNATURE_HEADER.to_owned()
        ])
    );
}

/// `POST /keys/leaked` takes 1 to 100 keys, as the document says; more or
/// none is 422, and what it received is all it says.
#[tokio::test]
async fn a_leak_report_holds_one_to_a_hundred_keys() {
    let doc = document();
    let report = &doc["components"]["schemas"]["LeakReport"]["properties"]["keys"];
    assert_eq!(
        (&report["minItems"], &report["maxItems"]),
        (&json!(1), &json!(100))
    );
    let api = Api::new();
    let body = |n: usize| json!({"keys": vec!["kw_not_a_key"; n]}).to_string();
    let (status, answer) = api
        .send(Method::POST, "/keys/leaked", None, Some(&body(1)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"received": 1}));
    for refused in [0, 101] {
        let answer = api
            .send(Method::POST, "/keys/leaked", None, Some(&body(refused)))
            .await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    }
}

/// Every problem answer of every operation is a `components/responses`
/// entry whose body is the one `Problem` schema, plainly (generated clients
/// then have one error type). Each such response lists the codes it may
/// carry (`x-keyward-codes`, each also named in its description) and is
/// used under one status; status by status, those codes must be
/// `ApiError::status()` exactly.
#[test]
fn each_problem_response_carries_the_codes_of_its_status() {
    let doc = document();
    let mut statuses: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for ((method, path), op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let status: u64 = status.parse().expect("numeric statuses");
            if status < 400 {
                continue;
            }
            let name = response["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/responses/"))
                .unwrap_or_else(|| panic!("{method} {path}: {status} is not a shared response"));
            statuses.entry(name.to_owned()).or_default().insert(status);
        }
    }
    let plain = json!({"$ref": "#/components/schemas/Problem"});
    let mut documented: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (name, response) in doc["components"]["responses"]
        .as_object()
        .expect("responses")
    {
        let Some(schema) = response.pointer("/content/application~1problem+json/schema") else {
            continue;
        };
        assert_eq!(schema, &plain, "{name}: the Problem schema, as it is");
        let status = match statuses.get(name.as_str()) {
            Some(used) if used.len() == 1 => *used.first().expect("one status"),
            used => panic!("{name} is used under one status, not {used:?}"),
        };
        let description = response["description"].as_str().expect("a description");
        // A code may be in more than one response of its status: an
        // operation's own response (GitHub's 413 and 503) names every code
        // it answers, some of which the generic one names too.
        let entry = documented.entry(status).or_default();
        let mut own = BTreeSet::new();
        for code in response["x-keyward-codes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} lists no x-keyward-codes"))
        {
            let code = code.as_str().expect("codes are strings").to_owned();
            assert!(
                description.contains(&format!("`{code}`")),
                "{name}'s description names {code}"
            );
            assert!(own.insert(code.clone()), "{code} twice in {name}");
            entry.insert(code);
        }
    }
    let mut answered: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for error in ApiError::one_of_each() {
        answered
            .entry(u64::from(error.status().as_u16()))
            .or_default()
            .insert(error.code().to_owned());
    }
    // 405 answers a method an operation's path lacks, so no operation lists
    // it; the Problem schema's description names it.
    let not_allowed = answered.remove(&405).expect("a 405");
    assert_eq!(
        not_allowed,
        BTreeSet::from(["METHOD_NOT_ALLOWED".to_owned()])
    );
    let problem = doc["components"]["schemas"]["Problem"]["description"]
        .as_str()
        .expect("Problem's description");
    assert!(problem.contains("`METHOD_NOT_ALLOWED` (405"), "{problem}");
    assert_eq!(documented, answered);
}

/// The routes the document leaves open (`security: []`) are the ones the
/// router serves without a token; every other one answers 401 without it,
/// and documents that 401 (`Unauthorized`). An open route may answer 401
/// for another reason (GitHub's signature), never for a token.
#[tokio::test]
async fn the_documented_security_is_the_routers() {
    let doc = document();
    let api = Api::new();
    let unauthorized = json!({"$ref": "#/components/responses/Unauthorized"});
    for ((method, path), op) in operations(&doc) {
        let open = op.get("security") == Some(&json!([]));
        let responses = op["responses"].as_object().expect("responses");
        assert_eq!(
            !open,
            responses.get("401") == Some(&unauthorized),
            "{method} {path}: a secured operation documents the token's 401 (Unauthorized), \
             an open one does not"
        );
        let concrete = path.replace("{id}", "kw-openapi-test");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let (status, body) = api.send(method.clone(), &concrete, None, None).await;
        if open {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["code"], "TOKEN_MISSING");
        }
    }
}

// ---- regression tests of what schemathesis found -------------------------

/// The router of the local server on a SQLite store in a temporary folder,
/// with a token holding every management permission.
struct Api {
    router: Router,
    token: String,
    _data: tempfile::TempDir,
}

impl Api {
    fn new() -> Self {
        let data = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&data.path().join("keyward.db")).expect("a SQLite store");
        let secret = b"openapi-routes-test-secret-32-bytes-long";
        let service = Arc::new(Service::new(
            Arc::new(store),
            Config::default(),
            Arc::new(SystemClock),
            Arc::new(LogPublisher),
        ));
        let state = AppState {
            service,
            auth: Arc::new(BearerJwt {
                verifier: JwtVerifier::hs256(secret),
                account_claim: "account".into(),
            }),
            verify_failures: None,
        };
        let permissions: Vec<String> = perm::ALL.iter().map(|p| p.to_string()).collect();
        let token = issue_token(
            secret,
            &TokenRequest {
                sub: "tester",
                account: "acme",
                account_claim: "account",
                permissions: &permissions,
                mfa: true,
                ttl_seconds: 3600,
                now: SystemClock.now(),
            },
        )
        .expect("a token");
        Api {
            router: router(state, None),
            token,
            _data: data,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    async fn call(&self, method: Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.send(method, path, Some(&self.token), body).await
    }

    /// A new application and a key in it: (application id, key id, secret).
    async fn application_with_key(&self) -> (String, String, String) {
        let (status, app) = self
            .call(Method::POST, "/applications", Some(r#"{"name": "app"}"#))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let app_id = app["id"].as_str().expect("an id").to_owned();
        let (status, created) = self
            .call(
                Method::POST,
                &format!("/applications/{app_id}/keys"),
                Some(r#"{"name": "key"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key_id = created["key"]["id"].as_str().expect("a key id").to_owned();
        let secret = created["secret"].as_str().expect("a secret").to_owned();
        (app_id, key_id, secret)
    }
}

fn assert_problem(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["code"], code, "{}", answer.1);
}

/// Defect: serde's derived structs also read a JSON array, field by field in
/// order, so `PATCH` with `["renamed", "x"]` renamed the object and
/// `[null, null]` was a 200. Every body is an object now; anything else is
/// 422 INVALID_BODY.
#[tokio::test]
async fn a_json_array_is_refused_not_read_as_the_fields_in_order() {
    let api = Api::new();
    let (app_id, key_id, secret) = api.application_with_key().await;

    let renamed = api
        .call(
            Method::PATCH,
            &format!("/applications/{app_id}"),
            Some(r#"["renamed", "by position"]"#),
        )
        .await;
    assert_problem(&renamed, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    let (_, app) = api
        .call(Method::GET, &format!("/applications/{app_id}"), None)
        .await;
    assert_eq!(app["name"], "app", "the array changed nothing");

    let nulls = api
        .call(
            Method::PATCH,
            &format!("/keys/{key_id}"),
            Some("[null, null]"),
        )
        .await;
    assert_problem(&nulls, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    let created = api
        .call(Method::POST, "/applications", Some(r#"["by position"]"#))
        .await;
    assert_problem(&created, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    let verified = api
        .call(Method::POST, "/verify", Some(&format!(r#"["{secret}"]"#)))
        .await;
    assert_problem(&verified, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    let lifecycle = api
        .call(Method::POST, &format!("/keys/{key_id}/disable"), Some("[]"))
        .await;
    assert_problem(&lifecycle, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");

    // An object after white space is still an object.
    let (status, verdict) = api
        .call(
            Method::POST,
            "/verify",
            Some(&format!(" \n\t{{\"key\": \"{secret}\"}}")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict["code"], "VALID");
    // Broken JSON stays a 400, whatever it starts with.
    let broken = api
        .call(Method::PATCH, &format!("/keys/{key_id}"), Some("[null,"))
        .await;
    assert_problem(&broken, StatusCode::BAD_REQUEST, "MALFORMED_JSON");
}

/// Defect: `grace_seconds: 3600.0` is the integer 3600 to JSON (and to the
/// document's `type: integer`), but serde's `i64` refused it with 422.
#[tokio::test]
async fn grace_seconds_may_be_a_whole_number_written_with_a_fraction() {
    let api = Api::new();
    let (_, key_id, _) = api.application_with_key().await;
    let before = SystemClock.now();
    let (status, created) = api
        .call(
            Method::POST,
            &format!("/keys/{key_id}/regenerate"),
            Some(r#"{"grace_seconds": 3600.0}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, old) = api
        .call(Method::GET, &format!("/keys/{key_id}"), None)
        .await;
    assert_eq!(
        old["status"], "active",
        "the old key lives through its grace"
    );
    let revoke_at = time::OffsetDateTime::parse(
        old["revoke_at"].as_str().expect("a grace period end"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
    .unix_timestamp();
    assert!((before + 3600..=SystemClock.now() + 3600).contains(&revoke_at));

    let new_id = created["key"]["id"].as_str().expect("the new key's id");
    let regenerate = |body: &'static str| {
        let path = format!("/keys/{new_id}/regenerate");
        let api = &api;
        async move { api.call(Method::POST, &path, Some(body)).await }
    };
    let fraction = regenerate(r#"{"grace_seconds": 1.5}"#).await;
    assert_problem(&fraction, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
    let huge = regenerate(r#"{"grace_seconds": 1e300}"#).await;
    assert_problem(
        &huge,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_GRACE_PERIOD",
    );
    let beyond_u64 = regenerate(r#"{"grace_seconds": 18446744073709551616}"#).await;
    assert_problem(
        &beyond_u64,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_GRACE_PERIOD",
    );
    let negative = regenerate(r#"{"grace_seconds": -60.0}"#).await;
    assert_problem(
        &negative,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_GRACE_PERIOD",
    );
    let text = regenerate(r#"{"grace_seconds": "60"}"#).await;
    assert_problem(&text, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY");
}

/// Defect: `DELETE /users/{id}` said "1 to 256 characters" (and the document
/// says `maxLength: 256`, which counts characters) but counted UTF-8 bytes,
/// so 100 `é` were refused with 400.
#[tokio::test]
async fn a_user_id_is_limited_in_characters_not_bytes() {
    let api = Api::new();
    let encoded = |id: &str| -> String {
        id.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    for id in ["é".repeat(100), "é".repeat(256), "a".repeat(256)] {
        let (status, body) = api
            .call(Method::DELETE, &format!("/users/{}", encoded(&id)), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], id.as_str());
    }
    for id in ["é".repeat(257), "a".repeat(257)] {
        let refused = api
            .call(Method::DELETE, &format!("/users/{}", encoded(&id)), None)
            .await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "INVALID_QUERY");
    }
}
