//! AWS wiring shared by the Lambda functions and the tests: the SDK
//! configuration (loaded the standard way, so `AWS_ENDPOINT_URL` and the
//! usual credential chain apply) and the SNS publisher of expiry notices.

use crate::domain::Notice;
use crate::service::NoticePublisher;
use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDK's HTTP client: hyper with rustls on ring (plain HTTP works too,
/// for DynamoDB-compatible servers on loopback).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads region, credentials and endpoint from the environment as every
/// AWS SDK does. Called once per process (per Lambda container).
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// `KEYWARD_TABLE`, the one DynamoDB table.
pub fn table_from_env() -> Result<String, String> {
    match std::env::var("KEYWARD_TABLE") {
        Ok(table) if !table.trim().is_empty() => Ok(table),
        _ => Err("KEYWARD_TABLE must name the DynamoDB table".into()),
    }
}

/// Publishes expiry notices to an SNS topic (`KEYWARD_TOPIC_ARN`), with the
/// recipient and account as message attributes for subscription filters.
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        SnsPublisher { client, topic_arn }
    }
}

#[async_trait]
impl NoticePublisher for SnsPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        let attribute = |value: &str| {
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())
        };
        let message = serde_json::to_string(notice).map_err(|e| e.to_string())?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(format!(
                "keyward: key {} expires in {} days",
                notice.key_name, notice.days_left
            ))
            .message(message)
            .message_attributes("recipient", attribute(&notice.recipient)?)
            .message_attributes("account", attribute(&notice.account)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }
}
