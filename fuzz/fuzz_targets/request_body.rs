//! Request-body decoding of the HTTP API: the real axum router
//! (`keyward::http::router`, every route) on a SQLite store, called with a
//! valid bearer token and arbitrary bodies and content types on every route
//! that takes a body.
//!
//! Input: byte 0 picks the route, byte 1 the content type, byte 2 flags
//! (bit 0: a fresh Idempotency-Key, bit 1: one fixed Idempotency-Key, bit 2:
//! an id that does not exist), the rest is the body; `@KEY@` in the body
//! stands for the live key's secret, so `POST /verify` reaches a real match.
//!
//! Invariants: never a 5xx (a panic in a handler would be a 500); always a
//! JSON body, `application/json` on success and an RFC 9457
//! `application/problem+json` with the status and a `code` on errors; a
//! presented key is never echoed back.
//!
//! The state stays the same from run to run: what a run creates (an
//! application, a key, a regenerated key's predecessor) is revoked after it,
//! so the live application and key stay usable and the limits are never
//! reached.
#![no_main]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use keyward::auth::{self, JwtVerifier, TokenRequest};
use keyward::clock::{Clock, SystemClock};
use keyward::config::Config;
use keyward::http::{AppState, BearerJwt, router};
use keyward::service::{LogPublisher, Service};
use keyward::store::sqlite::SqliteStore;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use tower::ServiceExt;

const ACCOUNT_CLAIM: &str = "account";
const JWT_SECRET: &[u8] = b"keyward fuzz target: a development secret";
const UNKNOWN_ID: &str = "0000000000000000000000";
const KEY_PLACEHOLDER: &[u8] = b"@KEY@";

/// What a run may change: the live application and key.
struct Live {
    application_id: String,
    key_id: String,
    secret: String,
    /// Key ids seen in 201 answers: an idempotent replay of a regenerate
    /// answers with a key that is already revoked.
    seen_keys: HashSet<String>,
}

struct World {
    runtime: tokio::runtime::Runtime,
    app: Router,
    authorization: String,
    live: Mutex<Live>,
    idempotency_counter: Mutex<u64>,
    /// Deleted when the process ends normally; tests/fuzz.sh runs targets
    /// under a TMPDIR it removes, since libFuzzer exits without dropping.
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("keyward-fuzz-")
            .tempdir()
            .expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("keyward.db")).expect("the SQLite store");
        let config = Config::default();
        let service = Arc::new(Service::new(
            Arc::new(store),
            config.clone(),
            Arc::new(SystemClock),
            Arc::new(LogPublisher),
        ));
        let state = AppState {
            service,
            auth: Arc::new(BearerJwt {
                verifier: JwtVerifier::hs256(JWT_SECRET),
                account_claim: ACCOUNT_CLAIM.into(),
            }),
            verify_failures: None,
        };
        let permissions: Vec<String> = auth::perm::ALL
            .iter()
            .map(|p| p.to_string())
            .chain(["sims:*".into(), "billing:read".into()])
            .collect();
        let token = auth::issue_token(
            JWT_SECRET,
            &TokenRequest {
                sub: "fuzzer",
                account: "fuzz",
                account_claim: ACCOUNT_CLAIM,
                permissions: &permissions,
                mfa: true,
                ttl_seconds: 30 * 86_400,
                now: SystemClock.now(),
            },
        )
        .expect("a token");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut world = World {
            runtime,
            app: router(state, None),
            authorization: format!("Bearer {token}"),
            live: Mutex::new(Live {
                application_id: String::new(),
                key_id: String::new(),
                secret: String::new(),
                seen_keys: HashSet::new(),
            }),
            idempotency_counter: Mutex::new(0),
            _dir: dir,
        };
        let (status, app) = world.call(Method::POST, "/applications", br#"{"name":"fuzz"}"#);
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let application_id = app["id"].as_str().unwrap().to_owned();
        let (status, created) = world.call(
            Method::POST,
            &format!("/applications/{application_id}/keys"),
            br#"{"name":"fuzz","scopes":["sims:read","billing:read"]}"#,
        );
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let live = world.live.get_mut().unwrap();
        live.application_id = application_id;
        live.key_id = created["key"]["id"].as_str().unwrap().to_owned();
        live.secret = created["secret"].as_str().unwrap().to_owned();
        live.seen_keys.insert(live.key_id.clone());
        world
    })
}

/// The status, content type and body of one request.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl World {
    fn send(&self, request: Request<Body>) -> Answer {
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().expect("an ASCII content type").to_owned());
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body")
                .to_vec();
            Answer {
                status,
                content_type,
                body,
            }
        })
    }

    /// A JSON request of the harness itself (setup and clean-up).
    fn call(&self, method: Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_vec()))
            .unwrap();
        let answer = self.send(request);
        let json = check(&answer);
        (answer.status, json)
    }
}

/// The invariants every answer keeps; returns its JSON.
fn check(answer: &Answer) -> Value {
    assert!(
        !answer.status.is_server_error(),
        "{} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
        panic!(
            "{} answered a body that is not JSON ({e}): {:?}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
    });
    if answer.status.is_success() {
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    } else {
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/problem+json"),
            "{} {json}",
            answer.status
        );
        assert_eq!(json["status"], answer.status.as_u16(), "{json}");
        assert!(
            json["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{json}"
        );
        assert!(
            json["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:keyward:problem:"))
        );
        assert!(
            json["title"].is_string() && json["detail"].is_string(),
            "{json}"
        );
    }
    json
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("Application/JSON"),
    Some("application/problem+json"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some(" application/json ;"),
    Some("multipart/form-data; boundary=x"),
    Some("application/jsonx"),
    Some(""),
];

#[derive(Clone, Copy, PartialEq)]
enum Route {
    CreateApplication,
    UpdateApplication,
    CreateKey,
    UpdateKey,
    RegenerateKey,
    Verify,
}

const ROUTES: [Route; 6] = [
    Route::CreateApplication,
    Route::UpdateApplication,
    Route::CreateKey,
    Route::UpdateKey,
    Route::RegenerateKey,
    Route::Verify,
];

fn replace_placeholder(body: &[u8], secret: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        if rest.starts_with(KEY_PLACEHOLDER) {
            out.extend_from_slice(secret.as_bytes());
            rest = &rest[KEY_PLACEHOLDER.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let [route, content_type, flags, body @ ..] = data else {
        return;
    };
    let world = world();
    let route = ROUTES[*route as usize % ROUTES.len()];
    let content_type = CONTENT_TYPES[*content_type as usize % CONTENT_TYPES.len()];
    let unknown = flags & 4 != 0;

    let (application_id, key_id, secret) = {
        let live = world.live.lock().unwrap();
        let pick = |id: &str| {
            if unknown {
                UNKNOWN_ID.to_owned()
            } else {
                id.to_owned()
            }
        };
        (
            pick(&live.application_id),
            pick(&live.key_id),
            live.secret.clone(),
        )
    };
    let (method, path) = match route {
        Route::CreateApplication => (Method::POST, "/applications".to_owned()),
        Route::UpdateApplication => (Method::PATCH, format!("/applications/{application_id}")),
        Route::CreateKey => (Method::POST, format!("/applications/{application_id}/keys")),
        Route::UpdateKey => (Method::PATCH, format!("/keys/{key_id}")),
        Route::RegenerateKey => (Method::POST, format!("/keys/{key_id}/regenerate")),
        Route::Verify => (Method::POST, "/verify".to_owned()),
    };
    let body = replace_placeholder(body, &secret);

    let mut request = Request::builder()
        .method(method)
        .uri(&path)
        .header(header::AUTHORIZATION, &world.authorization);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if flags & 1 != 0 {
        let mut counter = world.idempotency_counter.lock().unwrap();
        *counter += 1;
        request = request.header("idempotency-key", format!("fuzz-{counter}"));
    } else if flags & 2 != 0 {
        request = request.header("idempotency-key", "fuzz-fixed");
    }
    let answer = world.send(request.body(Body::from(body.clone())).unwrap());
    let json = check(&answer);

    // A presented key is never echoed back: checked when the body holds the
    // live secret once, as the value of "key".
    let presented_once = serde_json::from_slice::<Value>(&body)
        .is_ok_and(|v| v["key"] == secret.as_str())
        && body
            .windows(secret.len())
            .filter(|w| *w == secret.as_bytes())
            .count()
            == 1;
    if presented_once {
        assert!(
            !contains(&answer.body, secret.as_bytes()),
            "the presented key came back: {json}"
        );
    }

    if answer.status != StatusCode::CREATED {
        return;
    }
    // Undo what the run created, so the next run starts from the same state.
    let revoke = |path: String| {
        let (status, answer) = world.call(Method::POST, &path, b"");
        assert!(
            status.is_success() || status == StatusCode::CONFLICT,
            "{status} {answer}"
        );
    };
    match route {
        Route::CreateApplication => revoke(format!(
            "/applications/{}/revoke",
            json["id"].as_str().unwrap()
        )),
        Route::CreateKey => revoke(format!(
            "/keys/{}/revoke",
            json["key"]["id"].as_str().unwrap()
        )),
        Route::RegenerateKey => {
            let new_id = json["key"]["id"].as_str().unwrap().to_owned();
            let mut live = world.live.lock().unwrap();
            if live.seen_keys.insert(new_id.clone()) {
                // The old key may have a grace period: end it now.
                revoke(format!("/keys/{}/revoke", live.key_id));
                live.key_id = new_id;
                live.secret = json["secret"].as_str().unwrap().to_owned();
            }
        }
        _ => {}
    }
});
