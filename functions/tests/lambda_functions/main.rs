//! Every Lambda binary run the way Lambda runs it: the real binary, polling
//! a Lambda Runtime API on loopback, fed real API Gateway v2, authorizer and
//! EventBridge event JSON (functions/tests/fixtures), against DynamoDB and
//! SNS on moto_server.
//!
//! One module per kind of function: `http_routes` (every HTTP function),
//! `authorizer`, `expiry_job` (notify-expiring); the service that sets up
//! their keys is here.

#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/github.rs"]
mod github;
#[path = "../support/lambda_runtime_api.rs"]
mod lambda_runtime_api;
#[path = "../support/moto.rs"]
mod moto;

#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;

mod authorizer;
mod deliver_events;
mod expiry_job;
mod http_routes;
mod leaks;

use base64::Engine;
use keyward::auth::Caller;
use keyward::clock::SystemClock;
use keyward::config::Config;
use keyward::service::{CreateApplication, CreateKey, LogPublisher, Service};
use keyward::store::dynamodb::DynamoStore;
use lambda_runtime_api::{LambdaProcess, Outcome};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The service over the same table, to set up keys in each state.
pub fn service(client: aws_sdk_dynamodb::Client, table: &str) -> Service {
    Service::new(
        Arc::new(DynamoStore::new(client, table)),
        Config::default(),
        Arc::new(SystemClock),
        Arc::new(LogPublisher),
    )
}

/// An administrator of "acme" signed in with MFA, who may also grant
/// `billing:` scopes.
pub fn caller(user: &str) -> Caller {
    let mut caller = Caller {
        mfa: true,
        ..fixtures::admin(user, "acme")
    };
    caller.permissions.push("billing:*".into());
    caller
}

pub async fn new_app(service: &Service, owner: &Caller) -> String {
    let input = CreateApplication {
        key_prefix: Some("acme".into()),
        ..fixtures::application("platform")
    };
    let reply = service
        .create_application(owner, &input, None)
        .await
        .unwrap();
    reply.id
}

pub async fn new_key(
    service: &Service,
    owner: &Caller,
    app: &str,
    scopes: &[&str],
    expires_at: Option<String>,
) -> (String, String) {
    let input = CreateKey {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at,
        ..fixtures::key("k")
    };
    let reply = service.create_key(owner, app, &input, None).await.unwrap();
    (reply.key.id, reply.secret.expose().to_owned())
}

pub fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Calls a moto service with the AWS JSON protocol (`x-amz-target`
/// `<prefix>.<action>`): SQS, EventBridge and DynamoDB Streams, without an
/// SDK for a few calls each.
pub async fn moto_json(service: &str, target: &str, action: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(moto::endpoint())
        .header("x-amz-target", format!("{target}.{action}"))
        // moto picks the service from the credential scope; it checks no
        // signature.
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20261123/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                moto::REGION
            ),
        )
        .header(
            "content-type",
            match target {
                "AWSEvents" => "application/x-amz-json-1.1",
                _ => "application/x-amz-json-1.0",
            },
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{target}.{action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// SQS through [`moto_json`].
pub async fn sqs(action: &str, body: Value) -> Value {
    moto_json("sqs", "AmazonSQS", action, body).await
}
