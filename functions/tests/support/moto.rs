//! Clients for a DynamoDB/SNS-compatible server on loopback (moto's
//! `moto_server`), and fresh tables in it.
//!
//! The server is `KEYWARD_TEST_DYNAMODB_ENDPOINT` when set (`tests/with-moto.sh`
//! and `tests/run.sh` start one for every test binary); otherwise each test
//! binary starts its own from `.venv` when moto is installed there. Without
//! either, a DynamoDB test calls [`available`] first and returns early, after
//! one line saying how to get moto, so a fresh clone's `cargo test` passes
//! with a Rust toolchain alone. With `KEYWARD_REQUIRE_MOTO` set (`tests/run.sh`,
//! CI) a missing moto fails the test instead: nothing is skipped there.

#![allow(dead_code)] // each test target uses part of it

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// How to get moto, said once when DynamoDB tests are skipped.
const HOW_TO_GET_MOTO: &str =
    "python3 -m venv .venv && .venv/bin/pip install 'moto[server]>=5.2,<6'";

/// The server this process started; kept (with its stdin open) until the
/// process exits, which closes the pipe and ends the server.
static STARTED: Mutex<Option<Child>> = Mutex::new(None);

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("functions/ has a parent")
        .to_path_buf()
}

/// Starts `tests/moto_server.py` from `.venv` on a free loopback port; the
/// server exits when this process does (end of its standard input).
fn start_from_venv() -> Option<String> {
    let root = repository_root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let mut child = Command::new(python)
        .arg(root.join("tests/moto_server.py"))
        .args(["127.0.0.1", &port.to_string(), "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    // Drain its request log so the pipe never fills.
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            *STARTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
            return Some(format!("http://127.0.0.1:{port}"));
        }
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

fn find_endpoint() -> &'static Option<String> {
    static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        std::env::var("KEYWARD_TEST_DYNAMODB_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .or_else(start_from_venv)
    })
}

/// True when a DynamoDB-compatible server is there for this test. When
/// not, says so in one line (and how to get moto) and the test returns
/// early; with `KEYWARD_REQUIRE_MOTO` set that fails the test instead.
pub fn available() -> bool {
    if find_endpoint().is_some() {
        return true;
    }
    if std::env::var_os("KEYWARD_REQUIRE_MOTO").is_some() {
        panic!(
            "KEYWARD_REQUIRE_MOTO is set but there is no moto_server: set \
             KEYWARD_TEST_DYNAMODB_ENDPOINT or install it: {HOW_TO_GET_MOTO}"
        );
    }
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        // Straight to the process's stderr: the test harness captures
        // `eprintln!` of passing tests, and this line must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "keyward tests: skipping the DynamoDB and Lambda tests (no moto_server); \
             to run them: {HOW_TO_GET_MOTO}"
        );
    });
    false
}

/// The server's address; call [`available`] first.
pub fn endpoint() -> String {
    find_endpoint()
        .clone()
        .expect("moto::available() is checked before moto::endpoint()")
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
