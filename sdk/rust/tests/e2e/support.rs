//! The harness: a live `keyward serve` on a temporary folder and a free
//! loopback port (tokens from its own `keyward token`), an axum app behind
//! the layer, and small stand-ins for keyward when a test needs to count
//! or delay its answers.

use axum::routing::get;
use axum::{Extension, Json, Router};
use keyward_sdk::Client;
use keyward_sdk::layer::VerifyKeyLayer;
use keyward_sdk::types::{KeyRecord, Verdict};
use keyward_sdk::wasm_validator::{self, AllowedIps, key};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const JWT_SECRET: &str = "keyward-sdk-test-secret-0123456789-abcdefghij";
pub const ACCOUNT: &str = "acme";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The `keyward` binary next to this test's own folder in the target
/// directory (`target/debug/deps/..`), wherever CARGO_TARGET_DIR put it;
/// `KEYWARD_BIN` overrides it.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from <target>/<profile>/deps");
    let bin = dir.join(format!("keyward{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: these tests run the real server; build it first with \
         `cargo build --bin keyward` (the workspace's `cargo test` builds it)",
        bin.display()
    );
    bin
}

/// `keyward <args>` on `dir`, with only the variables the test sets.
fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            cmd.env_remove(name);
        }
    }
    // The failed-verification limit is off: the tests present wrong keys
    // on purpose, faster than it allows.
    cmd.env("KEYWARD_JWT_SECRET", JWT_SECRET)
        .env("KEYWARD_LOG", "debug")
        .env("KEYWARD_VERIFY_FAILURE_LIMIT", "0")
        .env("KEYWARD_DATA", dir.join("data"))
        .stdin(Stdio::null());
    cmd
}

/// A `keyward serve` process, killed on drop.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    pub base: String,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("a log file");
        let mut child = command(dir.path())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("keyward starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("stdout is readable");
        let Some(base) = first.trim().strip_prefix("keyward listening on ") else {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("keyward did not start: stdout {first:?}, log:\n{log}");
        };
        let base = base.to_owned();
        // Drained so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Server { child, dir, base }
    }

    /// A one-hour token of `sub` in [`ACCOUNT`]: every management
    /// permission and `sims:*` when `admin`, else `permissions` only.
    pub fn token(&self, sub: &str, permissions: &str, admin: bool) -> String {
        let mut cmd = command(self.dir.path());
        cmd.args(["token", "--sub", sub, "--account", ACCOUNT])
            .args(["--permissions", permissions]);
        if admin {
            cmd.arg("--all");
        }
        let out = cmd.output().expect("keyward token runs");
        assert!(
            out.status.success(),
            "keyward token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_owned()
    }

    /// A client of this server as `sub`, an administrator who may grant
    /// `sims:*` scopes.
    pub fn admin(&self, sub: &str) -> Client {
        Client::new(&self.base, self.token(sub, "sims:*", true)).expect("a client")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("the server's last log lines:");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The handler behind the layer: the verdict it found in the extensions.
async fn echo(Extension(verdict): Extension<Verdict>) -> Json<Verdict> {
    Json(verdict)
}

/// `/read` requires `sims:read`, `/write` `sims:write`; both behind clones
/// of `layer` (one cache).
pub fn app(layer: &VerifyKeyLayer) -> Router {
    let read = Router::new()
        .route("/read", get(echo))
        .route_layer(layer.clone().scopes(["sims:read"]));
    let write = Router::new()
        .route("/write", get(echo))
        .route_layer(layer.clone().scopes(["sims:write"]));
    read.merge(write)
}

/// Serves `router` on a free loopback port, with the peer address as
/// `ConnectInfo`; answers its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A loopback URL where nothing listens.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A key with the same prefix and id as `key` and another secret, with a
/// correct checksum: it parses, and matches no record.
pub fn wrong_secret(key: &str) -> String {
    let parsed = key::parse(key).expect("a key");
    let text = format!(
        "{}_{}{}",
        parsed.prefix,
        parsed.key_id,
        wasm_validator::base62::encode(&[9; 32], key::SECRET_LEN)
    );
    let checksum = key::checksum(&text);
    text + &checksum
}

/// A well-formed key whose id keyward has never issued.
pub fn unknown_key() -> String {
    key::format_key("kw", &[0x42; 16], &[7; 32]).1
}

/// A key of our own and its record, valid for an hour, for the stand-ins.
pub fn key_and_record(seed: u8, metered: bool) -> (String, KeyRecord) {
    let (key_id, key) = key::format_key("kw", &[seed; 16], &[seed.wrapping_add(1); 32]);
    let record = KeyRecord {
        key_id,
        application_id: "app_0000000000000000000001".into(),
        account: ACCOUNT.into(),
        hash: key::to_hex(&key::hash_key(&key)),
        status: keyward_sdk::types::StoredKeyStatus::Active,
        expires_at: now() + 3600,
        revoke_at: None,
        scopes: vec!["sims:read".into()],
        application_status: keyward_sdk::types::ApplicationStatus::Active,
        owner_status: keyward_sdk::types::OwnerStatus::Active,
        allowed_ips: AllowedIps::default(),
        metered,
    };
    (key, record)
}
