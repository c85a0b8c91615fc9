//! `tests/webhook_receiver.py` on a free loopback port: a receiver that
//! checks every delivery with the `standardwebhooks` package of PyPI, and
//! misbehaves on request.

#![allow(dead_code)] // each test target uses part of it

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl Receiver {
    /// The receiver, or `None` (said once) when `.venv` has no
    /// `standardwebhooks`; under `KEYWARD_REQUIRE_MOTO` (`tests/run.sh`)
    /// that fails instead.
    pub fn start() -> Option<Receiver> {
        let python = root().join(".venv/bin/python");
        let ready = python.exists()
            && Command::new(&python)
                .args(["-c", "import standardwebhooks"])
                .status()
                .is_ok_and(|s| s.success());
        if !ready {
            assert!(
                std::env::var_os("KEYWARD_REQUIRE_MOTO").is_none(),
                "tests/run.sh installs standardwebhooks into .venv"
            );
            eprintln!(
                "skipped: no .venv with standardwebhooks (.venv/bin/pip install standardwebhooks)"
            );
            return None;
        }
        let mut child = Command::new(python)
            .arg(root().join("tests/webhook_receiver.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {line:?}"));
        Some(Receiver {
            child,
            port,
            client: reqwest::Client::new(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sets the signing secret and the misbehaviour of the next requests.
    pub async fn control(&self, secret: &str, plan: &[&str]) {
        let answer = self
            .client
            .put(self.url("/_control"))
            .json(&json!({"secret": secret, "plan": plan}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204);
    }

    /// Sets a signing secret per path (several webhooks on one receiver).
    pub async fn secrets(&self, secrets: &[(&str, &str)]) {
        let map: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|(path, secret)| (path.to_string(), json!(secret)))
            .collect();
        let answer = self
            .client
            .put(self.url("/_control"))
            .json(&json!({"secrets": map}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204);
    }

    /// Every request so far, and how often the redirect target was hit.
    pub async fn received(&self) -> (Vec<Value>, u64) {
        let body: Value = self
            .client
            .get(self.url("/_received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["received"].as_array().unwrap().clone(),
            body["redirected"].as_u64().unwrap(),
        )
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let (received, _) = self.received().await;
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} of {count} deliveries arrived",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
