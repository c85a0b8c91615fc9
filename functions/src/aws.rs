//! AWS wiring shared by the Lambda functions and the tests: the SDK
//! configuration (loaded the standard way, so `AWS_ENDPOINT_URL` and the
//! usual credential chain apply) and the SNS publisher of expiry notices.

use crate::domain::Notice;
use crate::error::Cause;
use crate::events::Event;
use crate::events::stream::EventBus;
use crate::service::NoticePublisher;
use async_trait::async_trait;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::Region;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use std::time::Duration;

/// The root certificates of Amazon Trust Services, which every AWS endpoint
/// chains to (the file says which and where from).
const AMAZON_ROOTS: &str = include_str!("amazon-trust-services-roots.pem");

/// Which certificate authorities the SDK's HTTPS client trusts
/// (`KEYWARD_TLS_ROOTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRoots {
    /// The five Amazon Trust Services roots, compiled in: enough for every
    /// AWS endpoint, and parsed in a fraction of the time of a system bundle
    /// of ~150, which rustls otherwise reads and parses at every cold start
    /// (BENCHMARKS.md, "Lambda").
    Amazon,
    /// The system's roots (`SSL_CERT_FILE`, else the usual places), for a
    /// custom endpoint (`AWS_ENDPOINT_URL`), whose certificate may come from
    /// any authority.
    Native,
}

impl TlsRoots {
    /// `KEYWARD_TLS_ROOTS` (`amazon` or `native`); by default `native` when
    /// an `AWS_ENDPOINT_URL` variable names a custom endpoint, else
    /// `amazon`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("KEYWARD_TLS_ROOTS").ok().as_deref() {
            Some("amazon") => Ok(TlsRoots::Amazon),
            Some("native") => Ok(TlsRoots::Native),
            Some(other) => Err(format!(
                "KEYWARD_TLS_ROOTS must be amazon or native, not {other:?}"
            )),
            None => {
                let custom_endpoint = std::env::vars_os().any(|(name, _)| {
                    name.to_str().is_some_and(|n| {
                        n == "AWS_ENDPOINT_URL" || n.starts_with("AWS_ENDPOINT_URL_")
                    })
                });
                Ok(if custom_endpoint {
                    TlsRoots::Native
                } else {
                    TlsRoots::Amazon
                })
            }
        }
    }
}

/// The SDK's HTTP client: hyper with rustls on ring, trusting `roots`
/// (plain HTTP works too, for DynamoDB-compatible servers on loopback).
pub fn http_client_trusting(roots: TlsRoots) -> aws_sdk_dynamodb::config::SharedHttpClient {
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match roots {
        TlsRoots::Native => builder.build_https(),
        TlsRoots::Amazon => builder
            .tls_context(
                TlsContext::builder()
                    .with_trust_store(
                        TrustStore::empty().with_pem_certificate(AMAZON_ROOTS.as_bytes()),
                    )
                    .build()
                    // Only a malformed server name can fail the build, and
                    // none is given.
                    .expect("a TLS context with a trust store"),
            )
            .build_https(),
    }
}

/// The SDK's HTTP client with the system's roots (tests, custom endpoints).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    http_client_trusting(TlsRoots::Native)
}

/// How long one HTTP attempt may take, connecting included. A key
/// verification is one `GetItem` that DynamoDB answers in milliseconds and a
/// 100-item transaction in tens of them; without this the SDK sets no read
/// timeout at all, and a verification stuck on a dead connection would hang
/// until Lambda's 10 s timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Connecting (TCP and TLS) to the regional endpoint, within an attempt
/// (the SDK's default is 3.1 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// All attempts of one call, back-offs included: a caller (the authorizer,
/// a platform's verification) gets `STORE_UNAVAILABLE` within this, not
/// after the function's timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(3_000);
/// Attempts of one call in the SDK's standard retry mode (which retries
/// throttling, 5xx, timeouts and broken connections, spending from a
/// per-client token bucket so that an outage does not multiply the load).
pub const MAX_ATTEMPTS: u32 = 3;
/// The first back-off's upper bound (full jitter, doubling per attempt).
/// The SDK's default of 1 s would spend most of the operation's budget on
/// the first retry; DynamoDB's throttling is per partition and short-lived.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The SDK's retry settings for every client keyward builds.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The SDK's timeouts for every client keyward builds.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Loads region, credentials and endpoint from the environment as every
/// AWS SDK does, with the roots `KEYWARD_TLS_ROOTS` picks. Called once per
/// process (per Lambda container).
///
/// When the environment holds the credentials and the region, as Lambda's
/// always does (the execution role's keys and `AWS_REGION`), the loader is
/// given them directly: the default chains would pick the same values
/// first, but building them also builds an STS client for web identity, an
/// IMDS client and their endpoint rules, a fifth of a cold start's CPU
/// (BENCHMARKS.md, "Lambda").
///
/// Retries and timeouts are keyward's ([`retry_config`], [`timeout_config`]),
/// not the SDK's defaults or `AWS_MAX_ATTEMPTS`-style variables.
pub async fn load_config() -> Result<SdkConfig, String> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client_trusting(TlsRoots::from_env()?))
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = non_empty_env("AWS_REGION") {
        loader = loader.region(Region::new(region));
    }
    if non_empty_env("AWS_ACCESS_KEY_ID").is_some()
        && non_empty_env("AWS_SECRET_ACCESS_KEY").is_some()
    {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    Ok(loader.load().await)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `KEYWARD_TABLE`, the one DynamoDB table.
pub fn table_from_env() -> Result<String, String> {
    non_empty_env("KEYWARD_TABLE")
        .ok_or_else(|| "KEYWARD_TABLE must name the DynamoDB table".into())
}

/// Where notices go: the SNS topic `KEYWARD_TOPIC_ARN` when set, else the
/// log (they are kept in the store either way, for `GET /notifications`).
pub fn notice_publisher(sdk: &SdkConfig) -> std::sync::Arc<dyn NoticePublisher> {
    match non_empty_env("KEYWARD_TOPIC_ARN") {
        Some(arn) => std::sync::Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(sdk), arn)),
        None => std::sync::Arc::new(crate::service::LogPublisher),
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
            .subject(notice.subject())
            .message(message)
            .message_attributes("recipient", attribute(&notice.recipient)?)
            .message_attributes("account", attribute(&notice.account)?)
            .message_attributes("kind", attribute(notice.kind.as_str())?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }
}

/// The bus `deliver-events` puts every event on (`KEYWARD_EVENT_BUS`):
/// source `keyward`, detail-type the event type, detail the event.
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

/// The `source` of keyward's events on the bus, for rules to match.
pub const EVENT_SOURCE: &str = "keyward";

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        EventBridgeBus { client, bus }
    }

    /// The bus named by `KEYWARD_EVENT_BUS`.
    pub fn bus_from_env() -> Result<String, String> {
        non_empty_env("KEYWARD_EVENT_BUS")
            .ok_or_else(|| "KEYWARD_EVENT_BUS must name the EventBridge bus".into())
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, event: &Event) -> Result<(), Cause> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(event.kind.as_str())
            .detail(serde_json::to_string(event)?)
            .build();
        let output = self.client.put_events().entries(entry).send().await?;
        // PutEvents answers 200 and reports a refused entry in the body.
        if output.failed_entry_count() > 0 {
            let why = output
                .entries()
                .iter()
                .filter_map(|e| e.error_code())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!("EventBridge refused the event: {why}").into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{AMAZON_ROOTS, TlsRoots, http_client_trusting};
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        assert_eq!(
            AMAZON_ROOTS.matches("-----BEGIN CERTIFICATE-----").count(),
            5
        );
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(AMAZON_ROOTS.contains(name), "{name}");
        }
    }

    /// The client parses the roots when the SDK first builds its connector;
    /// a root it cannot parse would panic there. An HTTPS request to a port
    /// nothing listens on gets that far and then fails to connect.
    #[tokio::test]
    async fn a_client_trusting_the_amazon_roots_builds_its_tls_connector() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .endpoint_url("https://127.0.0.1:9")
            .http_client(http_client_trusting(TlsRoots::Amazon))
            .build();
        let error = aws_sdk_dynamodb::Client::from_conf(config)
            .list_tables()
            .send()
            .await
            .expect_err("nothing listens on port 9");
        assert!(
            format!("{error:?}").contains("DispatchFailure"),
            "{error:?}"
        );
    }
}
