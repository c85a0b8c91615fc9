//! report-github-leak and report-leaked-keys, the binaries, on DynamoDB:
//! API Gateway v2 events carrying GitHub's signed batch (and an open
//! report), each leak action, a batch sent twice, a bad signature.

use super::http_routes::{HttpAnswer, assert_problem, http_answer, http_event};
use super::*;
use crate::github::{GithubSigner, batch};
use keyward::domain::NoticeKind;
use keyward::leaks::LeakAction;
use keyward::secret::Secret;
use keyward::service::VerifyRequest;
use wasm_validator::VerdictCode;

/// The partner endpoint's event: GitHub's exact bytes and headers.
fn github_event(body: &[u8], identifier: &str, signature: &str) -> Value {
    let mut event = http_event(
        "POST",
        "POST /secret-scanning/github",
        "/secret-scanning/github",
        None,
        None,
    );
    event["headers"]["github-public-key-identifier"] = identifier.into();
    event["headers"]["github-public-key-signature"] = signature.into();
    event["headers"]["content-type"] = "application/json".into();
    event["headers"]["content-length"] = body.len().to_string().into();
    event["body"] = String::from_utf8(body.to_vec()).unwrap().into();
    event
}

async fn code(service: &Service, secret: &str) -> VerdictCode {
    let request = VerifyRequest {
        key: Secret::new(secret.to_owned()),
        scopes: vec![],
    };
    service.verify(&request).await.unwrap().code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leak_functions_act_on_dynamodb_once_per_key() {
    if !moto::available() {
        return;
    }
    let github = GithubSigner::new();
    let (client, table) = moto::table().await;
    let service = service(client, &table);
    let alice = caller("alice");
    let app = new_app(&service, &alice).await;
    for (action, refused) in [
        (LeakAction::Revoke, VerdictCode::Revoked),
        (LeakAction::Disable, VerdictCode::Disabled),
        (LeakAction::Notify, VerdictCode::Valid),
    ] {
        let name = serde_json::to_value(action).unwrap();
        let name = name.as_str().unwrap().to_owned();
        let mut env = moto::function_env(&table);
        env.push(("KEYWARD_GITHUB_SCANNING_KEYS", github.public_keys()));
        env.push(("KEYWARD_LEAK_ACTION", name.clone()));
        let partner = LambdaProcess::start(
            env!("CARGO_BIN_EXE_report-github-leak"),
            "report-github-leak",
            &env,
        )
        .await;
        let (id, secret) = new_key(&service, &alice, &app, &[], None).await;
        let body = batch(&[&secret, "ghp_notours"]);
        // A signature over other bytes: 401, nothing done.
        let refused_answer: HttpAnswer = http_answer(
            partner
                .invoke(github_event(&body, &github.identifier, &github.sign(b"[]")))
                .await,
        );
        assert_problem(&refused_answer, 401, "INVALID_SIGNATURE");
        assert_eq!(code(&service, &secret).await, VerdictCode::Valid);
        for _ in 0..2 {
            let answer = http_answer(
                partner
                    .invoke(github_event(&body, &github.identifier, &github.sign(&body)))
                    .await,
            );
            assert_eq!(answer.status, 200, "{}", answer.body);
            assert_eq!(answer.body[0]["label"], "true_positive");
            assert_eq!(answer.body[1]["label"], "false_positive");
        }
        assert_eq!(code(&service, &secret).await, refused, "{name}");
        let view = service.get_key(&alice, &id).await.unwrap();
        assert_eq!(view.leak.as_ref().map(|l| l.action), Some(action));
        let notices = service
            .list_notifications(&alice, &Default::default())
            .await
            .unwrap()
            .items;
        assert_eq!(
            notices
                .iter()
                .filter(|n| n.key_id == id && n.kind == NoticeKind::Leaked)
                .count(),
            1,
            "{name}: one notice"
        );
    }
    // The open report, through its binary: 202 alike for a live key and
    // an unknown one.
    let reports = LambdaProcess::start(
        env!("CARGO_BIN_EXE_report-leaked-keys"),
        "report-leaked-keys",
        &moto::function_env(&table),
    )
    .await;
    let (id, secret) = new_key(&service, &alice, &app, &[], None).await;
    let unknown = wasm_validator::key::format_key("acme", &[5; 16], &[5; 32]).1;
    let mut answers = Vec::new();
    for key in [&secret, &unknown] {
        let event = http_event(
            "POST",
            "POST /keys/leaked",
            "/keys/leaked",
            None,
            Some(json!({"keys": [key], "url": "https://pastebin.example/p"})),
        );
        let answer = http_answer(reports.invoke(event).await);
        assert_eq!(answer.status, 202);
        answers.push(answer.body);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(code(&service, &secret).await, VerdictCode::Revoked);
    let audit = service
        .list_audit(&alice, &Default::default())
        .await
        .unwrap();
    let leaked = audit
        .items
        .iter()
        .find(|e| e.action == "key.leaked" && e.target_id == id)
        .expect("the report's event");
    assert_eq!(leaked.actor, "leak-report");
}
