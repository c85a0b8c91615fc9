//! The local-server harness the test targets share: a `keyward serve`
//! process on its own temporary data folder and a free loopback port,
//! killed with SIGKILL on drop (or to test a restart), the CLI run against
//! the same data and configuration, and HS256 tokens signed with the
//! server's secret.
//!
//! With `KEYWARD_TEST_SERVE_STORE=dynamodb` in the test's environment every
//! server runs `--store dynamodb` on a fresh table of the moto server at
//! `KEYWARD_TEST_DYNAMODB_ENDPOINT` (`tests/with-moto.sh` sets it): how
//! `tests/run.sh` runs the HTTP end-to-end and CLI suites a second time, as
//! containers would run keyward.
//!
//! It uses `fixtures` (support/fixtures.rs), which the test target declares
//! next to it at its root.

#![allow(dead_code)] // each test target uses part of it

use keyward::auth::{TokenRequest, issue_token};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

pub const JWT_SECRET: &str = "local-server-test-secret-0123456789-abcdefghijkl";
const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// The wall-clock time in seconds since 1970, as the server reads it.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// [`crate::fixtures::all_permissions`] as a token's `permissions` claim.
pub fn all_permissions() -> String {
    crate::fixtures::all_permissions().join(" ")
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

/// `keyward <args>` on the data folder in `dir`, with the test defaults
/// (`KEYWARD_JWT_SECRET`, `KEYWARD_LOG=debug`,
/// `KEYWARD_VERIFY_FAILURE_LIMIT=0`) and then `env` over them; an empty
/// value in `env` removes the variable (to run without a JWT secret). No
/// `KEYWARD_*` variable of the test process reaches it.
pub fn command(dir: &Path, env: &[(String, String)]) -> Command {
    configure(Command::new(BIN), dir, env)
}

fn configure(mut cmd: Command, dir: &Path, env: &[(String, String)]) -> Command {
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

/// Whether this run's servers are on DynamoDB (`KEYWARD_TEST_SERVE_STORE`).
pub fn on_dynamodb() -> bool {
    match std::env::var("KEYWARD_TEST_SERVE_STORE").as_deref() {
        Ok("dynamodb") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("KEYWARD_TEST_SERVE_STORE={other:?}: sqlite or dynamodb"),
    }
}

/// The sealing key every server of a table shares (`serve --store
/// dynamodb` makes none).
const SEALING_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// The variables that point `keyward` at `table` on the DynamoDB-compatible
/// server at `endpoint`, with the sealing key the servers of a table share.
pub fn dynamodb_env(endpoint: &str, table: &str) -> Vec<(String, String)> {
    [
        ("KEYWARD_STORE", "dynamodb"),
        ("KEYWARD_TABLE", table),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("KEYWARD_WEBHOOK_SEALING_KEY", SEALING_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// On DynamoDB: a fresh table, made by `keyward dynamodb create-table` as a
/// user would, and the variables that point a server at it.
fn store_env(dir: &Path) -> Vec<(String, String)> {
    if !on_dynamodb() {
        return Vec::new();
    }
    let endpoint = std::env::var("KEYWARD_TEST_DYNAMODB_ENDPOINT").expect(
        "KEYWARD_TEST_SERVE_STORE=dynamodb needs KEYWARD_TEST_DYNAMODB_ENDPOINT (tests/with-moto.sh)",
    );
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let table = format!(
        "keyward-serve-{}-{}-{}",
        std::process::id(),
        now(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let env = dynamodb_env(&endpoint, &table);
    let made = command(dir, &env)
        .env("KEYWARD_LOG", "warn")
        .args(["dynamodb", "create-table"])
        .output()
        .expect("keyward dynamodb create-table runs");
    assert!(
        made.status.success(),
        "keyward dynamodb create-table: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    env
}

/// A `keyward serve` process on its own temporary data folder.
pub struct LocalServer {
    child: Child,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    open_files: Option<u32>,
    base: String,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test shows what the server said last (its folder goes).
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("the server's last log lines:\n{}", tail.join("\n"));
        }
    }
}

impl LocalServer {
    /// Starts a server with extra `KEYWARD_*` variables (see [`command`]),
    /// and with `ulimit -n` set to `open_files` when given.
    pub fn start(env: &[(&str, &str)], open_files: Option<u32>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        // The test's own variables win over the store's.
        let mut all = store_env(dir.path());
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = all;
        let (child, base) = Self::spawn(dir.path(), &env, open_files);
        LocalServer {
            child,
            dir,
            env,
            open_files,
            base,
        }
    }

    /// `http://127.0.0.1:<port>`, the address of the running server.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The address of `path` on the running server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> SocketAddr {
        self.base
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{} is not http://<socket address>", self.base))
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

    fn spawn(dir: &Path, env: &[(String, String)], open_files: Option<u32>) -> (Child, String) {
        let program = match open_files {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(BIN);
                sh
            }
            None => Command::new(BIN),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::log_path(dir))
            .expect("a log file");
        let mut child = configure(program, dir, env)
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
        (child, base)
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
        let (child, base) = Self::spawn(self.dir.path(), &self.env, self.open_files);
        self.child = child;
        self.base = base;
    }

    /// The DynamoDB table it runs on, if it does.
    pub fn table(&self) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(name, _)| name == "KEYWARD_TABLE")
            .map(|(_, table)| table.as_str())
    }

    /// The server's process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("waitable")
    }

    /// Runs the CLI (`notify-expiring`, `token`) against this server's data.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = command(self.dir.path(), &self.env)
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

    /// A valid one-hour token for `sub` in `account`.
    pub fn token(&self, sub: &str, account: &str, permissions: &str) -> String {
        mint(JWT_SECRET, sub, account, permissions, false, now())
    }

    pub fn admin(&self, sub: &str, account: &str) -> String {
        self.token(sub, account, &all_permissions())
    }
}
