//! Clients for the DynamoDB/SNS-compatible server on loopback that
//! `tests/run.sh` starts (`moto_server`), and fresh tables in it.

#![allow(dead_code)] // each test target uses part of it

use std::sync::atomic::{AtomicU64, Ordering};

pub const REGION: &str = "us-east-1";

pub fn endpoint() -> String {
    std::env::var("KEYWARD_TEST_DYNAMODB_ENDPOINT").expect(
        "KEYWARD_TEST_DYNAMODB_ENDPOINT must point at a DynamoDB-compatible server: run tests/run.sh, \
         which starts moto_server",
    )
}

/// A name no other test (or earlier run) has used.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// One SDK configuration for every client: moto's endpoint, a fixed
/// region, test credentials.
fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"),
        ))
        .http_client(keyward::aws::http_client())
        .build()
}

pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config())
}

pub fn sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk_config())
}

/// A fresh table laid out as `infra/template.yaml` declares it.
pub async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let client = dynamodb();
    let table = unique("keyward");
    keyward::store::dynamodb::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    (client, table)
}

/// The variables a Lambda function gets in AWS, pointed at moto.
pub fn function_env(table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", REGION.into()),
        ("KEYWARD_TABLE", table.into()),
        ("KEYWARD_LOG", "warn".into()),
        // As infra/template.yaml sets it for Amazon Linux: one CA bundle
        // instead of a certificate-directory scan at start-up.
        ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt".into()),
    ]
}
