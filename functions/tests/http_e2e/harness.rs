//! The server harness of these tests: [`LocalServer`] (support/local_server.rs)
//! with an [`Api`] client for its address, made again at each restart, and
//! the helpers for times in answers.

use crate::client::Api;
use crate::local_server::LocalServer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// A `keyward serve` process and a client for it.
pub struct Server {
    pub api: Api,
    pub local: LocalServer,
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `KEYWARD_*` variables
    /// ([`crate::local_server::command`] says which it sets by default).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let local = LocalServer::start(env, None);
        Server {
            api: Api::new(local.base_url().to_owned()),
            local,
        }
    }

    /// The temporary folder: the data folder, the server's log and stdout.
    pub fn dir(&self) -> &Path {
        self.local.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.local.data_dir()
    }

    /// Everything the server has stored, as text: the data folder's files
    /// (SQLite file, WAL), or on DynamoDB every item of its table.
    pub async fn stored(&self) -> String {
        let Some(table) = self.local.table() else {
            let mut stored = Vec::new();
            for entry in std::fs::read_dir(self.data_dir()).unwrap() {
                stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            return String::from_utf8_lossy(&stored).into_owned();
        };
        let pages = crate::moto::dynamodb()
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("the table scans");
        format!("{pages:?}")
    }

    /// The server's stderr (every run of it on this folder).
    pub fn log(&self) -> String {
        self.local.log()
    }

    /// SIGKILL, then start again on the same data folder (new port).
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// SIGKILL: no graceful shutdown, no final flush.
    pub fn kill(&mut self) {
        self.local.kill();
    }

    /// Starts the server again on the same data folder, on a new port.
    pub fn restart(&mut self) {
        self.local.restart();
        self.api = Api::new(self.local.base_url().to_owned());
    }

    /// Runs the CLI (`notify-expiring`, `token`) against this server's data.
    pub fn cli(&self, args: &[&str]) -> String {
        self.local.cli(args)
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
        self.local.token(sub, account, permissions)
    }

    pub fn admin(&self, sub: &str, account: &str) -> String {
        self.local.admin(sub, account)
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
