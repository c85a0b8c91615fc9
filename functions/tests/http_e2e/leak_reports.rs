//! Leak response over HTTP: GitHub's secret scanning partner endpoint
//! (signatures, labels, the action, a batch sent twice) and open leak
//! reports (one answer for every key, the floor on timing, the limit).

use crate::client::Resp;
use crate::github::{GithubSigner, batch};
use crate::harness::Server;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Instant;

/// A server that knows `signer`'s key, and an administrator of acme.
fn server(signer: &GithubSigner, env: &[(&str, &str)]) -> (Server, String) {
    let keys = signer.public_keys();
    let mut all = vec![("KEYWARD_GITHUB_SCANNING_KEYS", keys.as_str())];
    all.extend_from_slice(env);
    let srv = Server::start_with(&all);
    let admin = srv.admin("alice", "acme");
    (srv, admin)
}

/// POSTs `body` to the partner endpoint with the given headers.
async fn partner(
    srv: &Server,
    body: &[u8],
    identifier: Option<&str>,
    signature: Option<&str>,
) -> Resp {
    let mut request = srv
        .request(Method::POST, "/secret-scanning/github", None)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(identifier) = identifier {
        request = request.header("Github-Public-Key-Identifier", identifier);
    }
    if let Some(signature) = signature {
        request = request.header("Github-Public-Key-Signature", signature);
    }
    srv.send(request).await
}

async fn signed(srv: &Server, signer: &GithubSigner, body: &[u8]) -> Resp {
    partner(
        srv,
        body,
        Some(&signer.identifier),
        Some(&signer.sign(body)),
    )
    .await
}

#[tokio::test]
async fn only_a_good_github_signature_acts_and_everything_else_is_401() {
    let github = GithubSigner::new();
    let (srv, admin) = server(&github, &[]);
    let app = srv.create_app(&admin, "shop").await;
    let key = srv.create_named_key(&admin, &app, "live").await;
    let body = batch(&[&key.secret]);
    let stranger = GithubSigner::new();
    let mut one_byte_off = body.clone();
    let at = one_byte_off.len() - 3;
    one_byte_off[at] ^= 0x01;
    // (case, identifier, signature, body sent)
    type Case<'a> = (&'a str, Option<String>, Option<String>, Vec<u8>);
    let cases: Vec<Case> = vec![
        ("no headers", None, None, body.clone()),
        (
            "no signature",
            Some(github.identifier.clone()),
            None,
            body.clone(),
        ),
        (
            "no identifier",
            None,
            Some(github.sign(&body)),
            body.clone(),
        ),
        (
            "another key's signature",
            Some(github.identifier.clone()),
            Some(stranger.sign(&body)),
            body.clone(),
        ),
        (
            "an unknown identifier",
            Some(stranger.identifier.clone()),
            Some(stranger.sign(&body)),
            body.clone(),
        ),
        (
            "the body one byte off",
            Some(github.identifier.clone()),
            Some(github.sign(&body)),
            one_byte_off,
        ),
        (
            "a raw r||s signature",
            Some(github.identifier.clone()),
            Some(github.sign_raw(&body)),
            body.clone(),
        ),
        (
            "not base64",
            Some(github.identifier.clone()),
            Some("!!".into()),
            body.clone(),
        ),
    ];
    for (case, identifier, signature, sent) in cases {
        let r = partner(&srv, &sent, identifier.as_deref(), signature.as_deref()).await;
        assert_eq!(r.status, 401, "{case}: {}", r.text);
        r.problem(401, "INVALID_SIGNATURE");
        assert!(
            !r.text.contains(&key.secret),
            "{case}: the token echoed in a refusal"
        );
        assert_eq!(srv.verdict(&key.secret).await, "VALID", "{case}: acted on");
    }
    let audit = srv.get(&admin, "/audit").await;
    assert!(!audit.ok(200).to_string().contains("key.leaked"));

    let r = signed(&srv, &github, &body).await;
    let labels = r.ok(200).clone();
    assert_eq!(
        labels,
        json!([{"token_raw": key.secret, "token_type": "keyward_api_key", "label": "true_positive"}])
    );
    assert_eq!(srv.verdict(&key.secret).await, "REVOKED");
    let view = srv.key_view(&admin, &key.id).await;
    assert_eq!(view["leak"]["found_by"], "secret-scanning:github");
    assert_eq!(view["leak"]["action"], "revoke");
    assert!(
        view["leak"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/octocat/")
    );
}

#[tokio::test]
async fn labels_tell_this_deployments_keys_from_everything_else_once() {
    let github = GithubSigner::new();
    let (srv, admin) = server(&github, &[]);
    let app = srv.create_app(&admin, "shop").await;
    let live = srv.create_named_key(&admin, &app, "live").await;
    let revoked = srv.create_named_key(&admin, &app, "revoked").await;
    srv.post_empty(&admin, &format!("/keys/{}/revoke", revoked.id))
        .await
        .ok(200);
    // The right shape with the last checksum character changed.
    let mut wrong_checksum = live.secret.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'a' { 'b' } else { 'a' });
    // A well-formed key (checksum holds) that this deployment never issued.
    let never_issued = {
        let (_, full) = wasm_validator::key::format_key("kw", &[9u8; 16], &[9u8; 32]);
        full
    };
    let tokens = [
        live.secret.as_str(),
        revoked.secret.as_str(),
        wrong_checksum.as_str(),
        never_issued.as_str(),
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "AKIAIOSFODNN7EXAMPLE",
    ];
    let body = batch(&tokens);
    let expected = json!([
        "true_positive",
        "true_positive",
        "false_positive",
        "false_positive",
        "false_positive",
        "false_positive"
    ]);
    for _ in 0..2 {
        let r = signed(&srv, &github, &body).await;
        let labels: Vec<Value> = r
            .ok(200)
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].clone())
            .collect();
        assert_eq!(Value::Array(labels), expected);
        let raw: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["token_raw"].as_str().unwrap())
            .collect();
        assert_eq!(raw, tokens);
    }
    // Acted on once: the live key only, one event, one notice.
    let audit = srv.get(&admin, "/audit?limit=100").await;
    let leaked: Vec<&Value> = audit.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.leaked")
        .collect();
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert_eq!(leaked[0]["target_id"], live.id.as_str());
    assert_eq!(leaked[0]["actor"], "secret-scanning:github");
    assert_eq!(leaked[0]["after"]["status"], "revoked");
    let notices = srv.get(&admin, "/notifications").await;
    let notices: Vec<&Value> = notices.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "leaked")
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["key_id"], live.id.as_str());
    assert!(notices[0]["url"].as_str().unwrap().contains("octocat"));
    assert!(!srv.log().contains(&live.secret), "a token reached the log");
}

#[tokio::test]
async fn bad_batches_are_refused_and_change_nothing() {
    let github = GithubSigner::new();
    let (srv, admin) = server(&github, &[]);
    let app = srv.create_app(&admin, "shop").await;
    let key = srv.create_named_key(&admin, &app, "live").await;
    signed(&srv, &github, b"[{\"token\": ")
        .await
        .problem(400, "MALFORMED_JSON");
    signed(&srv, &github, br#"{"token": "x"}"#)
        .await
        .problem(422, "INVALID_BODY");
    signed(&srv, &github, br#"[{"type": "keyward_api_key"}]"#)
        .await
        .problem(422, "INVALID_BODY");
    let mut tokens = vec!["filler"; keyward::leaks::github::MAX_BATCH];
    tokens.push(&key.secret);
    signed(&srv, &github, &batch(&tokens))
        .await
        .problem(413, "BATCH_TOO_LARGE");
    assert_eq!(srv.verdict(&key.secret).await, "VALID");
    // Without GitHub's keys the endpoint cannot check anything: 503, the
    // one 5xx a client may see here (the harness refuses every other).
    let bare = Server::start();
    let body = batch(&[&key.secret]);
    let r = reqwest::Client::new()
        .post(format!("{}/secret-scanning/github", bare.local.base_url()))
        .header("Github-Public-Key-Identifier", &github.identifier)
        .header("Github-Public-Key-Signature", github.sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "SECRET_SCANNING_UNAVAILABLE");
}

#[tokio::test]
async fn open_reports_answer_alike_for_every_key_and_count_toward_the_limit() {
    let github = GithubSigner::new();
    let (srv, admin) = server(&github, &[("KEYWARD_LEAK_ACTION", "disable")]);
    let app = srv.create_app(&admin, "shop").await;
    let mut live = Vec::new();
    for n in 0..5 {
        live.push(srv.create_named_key(&admin, &app, &format!("k{n}")).await);
    }
    let unknown = |n: u8| wasm_validator::key::format_key("kw", &[n; 16], &[n; 32]).1;
    let report = |key: String| {
        let srv = &srv;
        async move {
            let started = Instant::now();
            let r = srv
                .call(
                    Method::POST,
                    "/keys/leaked",
                    None,
                    Some(&json!({"keys": [key], "url": "https://pastebin.example/x"})),
                )
                .await;
            (r, started.elapsed())
        }
    };
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for (n, key) in live.iter().enumerate() {
        let (known, took_known) = report(key.secret.clone()).await;
        let (other, took_unknown) = report(unknown(n as u8 + 1)).await;
        assert_eq!((known.status, other.status), (202, 202));
        assert_eq!(known.text, other.text, "the answers differ");
        assert_eq!(known.body, json!({"received": 1}));
        known_times.push(took_known);
        unknown_times.push(took_unknown);
        assert_eq!(srv.verdict(&key.secret).await, "DISABLED");
        let view = srv.key_view(&admin, &key.id).await;
        assert_eq!(view["leak"]["found_by"], "leak-report");
        assert_eq!(view["leak"]["url"], "https://pastebin.example/x");
        assert_eq!(view["disabled_by"], "leak-report");
    }
    known_times.sort();
    unknown_times.sort();
    let (known, unknown) = (known_times[2], unknown_times[2]);
    eprintln!("open leak reports, median of 5: a live key {known:?}, an unknown key {unknown:?}");
    // Both wait out the floor, which is longer than acting on a key takes:
    // what is left to tell them apart is noise (the medians above).
    let floor = keyward::service::LEAK_REPORT_FLOOR;
    assert!(
        known_times[0] >= floor && unknown_times[0] >= floor,
        "an answer came before the floor: {known_times:?} {unknown_times:?}"
    );
    for bad in [
        json!({"keys": []}),
        json!({"keys": ["a"], "extra": 1}),
        json!({"url": "u"}),
    ] {
        srv.call(Method::POST, "/keys/leaked", None, Some(&bad))
            .await
            .problem(422, "INVALID_BODY");
    }
}

#[tokio::test]
async fn open_reports_are_limited_per_source() {
    let github = GithubSigner::new();
    let (srv, _) = server(
        &github,
        &[
            ("KEYWARD_VERIFY_FAILURE_LIMIT", "3"),
            ("KEYWARD_VERIFY_FAILURE_WINDOW_SECONDS", "60"),
        ],
    );
    let body = json!({"keys": ["kw_a", "kw_b", "kw_c"]});
    srv.call(Method::POST, "/keys/leaked", None, Some(&body))
        .await
        .ok(202);
    let r = srv
        .call(Method::POST, "/keys/leaked", None, Some(&body))
        .await;
    r.problem(429, "TOO_MANY_FAILED_VERIFICATIONS");
    assert!(r.headers.get("retry-after").is_some());
}
