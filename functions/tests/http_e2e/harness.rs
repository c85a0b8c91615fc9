//! The server harness: a `keyward serve` process per test on its own data
//! folder and port, killed with SIGKILL on drop (or to test a restart), the
//! CLI run against the same data, and HS256 tokens signed with the server's
//! secret.

use crate::client::Api;
use crate::fixtures;
use keyward::auth::{TokenRequest, issue_token};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const JWT_SECRET: &str = "http-e2e-test-secret-0123456789-abcdefghijkl";
const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// The wall-clock time in seconds since 1970, as the server reads it.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// `epoch` as the API writes times.
pub fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .expect("valid epoch")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formattable")
}

/// Asserts that an RFC 3339 time is within a few seconds of `expected`.
#[track_caller]
pub fn assert_about(value: &Value, expected: i64, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {value} is not a time"));
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{what}: {text}: {e}"))
        .unix_timestamp();
    assert!(
        (at - expected).abs() <= 5,
        "{what}: {text} is not about {}",
        rfc3339(expected)
    );
}

/// [`fixtures::all_permissions`] as a token's `permissions` claim.
pub fn all_permissions() -> String {
    fixtures::all_permissions().join(" ")
}

/// Signs an HS256 token as `keyward token` does.
pub fn mint(
    secret: &str,
    sub: &str,
    account: &str,
    permissions: &str,
    mfa: bool,
    iat: i64,
) -> String {
    let permissions: Vec<String> = permissions.split_whitespace().map(String::from).collect();
    issue_token(
        secret.as_bytes(),
        &TokenRequest {
            sub,
            account,
            account_claim: "account",
            permissions: &permissions,
            mfa,
            ttl_seconds: 3600,
            now: iat,
        },
    )
    .expect("token")
}

/// A `keyward serve` process on its own temporary data folder.
pub struct Server {
    pub api: Api,
    child: Child,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `KEYWARD_*` variables (they override the
    /// defaults `KEYWARD_JWT_SECRET`, `KEYWARD_LOG=debug` and
    /// `KEYWARD_VERIFY_FAILURE_LIMIT=0`).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, api) = Self::spawn(dir.path(), &env);
        Server {
            api,
            child,
            dir,
            env,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(dir: &Path) -> PathBuf {
        dir.join("server.log")
    }

    /// The server's stderr (every run of it on this folder).
    pub fn log(&self) -> String {
        std::fs::read_to_string(Self::log_path(self.dir.path())).unwrap_or_default()
    }

    /// `keyward <args>` with the server's environment, so that it shares
    /// the JWT secret and configuration.
    pub fn command(dir: &Path, env: &[(String, String)]) -> Command {
        let mut cmd = Command::new(BIN);
        for (name, _) in std::env::vars() {
            if name.starts_with("KEYWARD_") {
                cmd.env_remove(name);
            }
        }
        // The failed-verification limit is off unless a test sets it: many
        // tests verify wrong keys on purpose, faster than it allows.
        cmd.env("KEYWARD_JWT_SECRET", JWT_SECRET)
            .env("KEYWARD_LOG", "debug")
            .env("KEYWARD_VERIFY_FAILURE_LIMIT", "0")
            .env("KEYWARD_DATA", dir.join("data"));
        // An empty value removes the variable (to run without a JWT secret).
        for (name, value) in env {
            if value.is_empty() {
                cmd.env_remove(name);
            } else {
                cmd.env(name, value);
            }
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, Api) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::log_path(dir))
            .expect("a log file");
        let mut child = Self::command(dir, env)
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("keyward starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("stdout is readable");
        let Some(url) = first.trim().strip_prefix("keyward listening on ") else {
            let _ = child.kill();
            let log = std::fs::read_to_string(Self::log_path(dir)).unwrap_or_default();
            panic!("keyward did not start: stdout {first:?}, log:\n{log}");
        };
        let base = url.to_owned();
        // Keep draining stdout (into a file) so that the server never
        // writes into a full pipe.
        let mut rest = std::fs::File::create(dir.join("stdout.log")).expect("a stdout file");
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut rest);
        });
        (child, Api::new(base))
    }

    /// SIGKILL, then start again on the same data folder (new port).
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// SIGKILL: no graceful shutdown, no final flush.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    /// Starts the server again on the same data folder, on a new port.
    pub fn restart(&mut self) {
        let (child, api) = Self::spawn(self.dir.path(), &self.env);
        self.child = child;
        self.api = api;
    }

    /// Runs the CLI (`notify-expiring`, `token`) against this server's data.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Self::command(self.dir.path(), &self.env)
            .args(args)
            .output()
            .expect("the CLI runs");
        assert!(
            output.status.success(),
            "keyward {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    pub fn notify_expiring(&self) -> Value {
        let data = self.data_dir();
        let out = self.cli(&[
            "notify-expiring",
            "--data",
            data.to_str().expect("UTF-8 path"),
        ]);
        serde_json::from_str(out.trim()).expect("a JSON report")
    }

    /// A valid one-hour token for `sub` in `account`.
    pub fn token(&self, sub: &str, account: &str, permissions: &str) -> String {
        mint(JWT_SECRET, sub, account, permissions, false, now())
    }

    pub fn admin(&self, sub: &str, account: &str) -> String {
        self.token(sub, account, &all_permissions())
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after
/// `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
