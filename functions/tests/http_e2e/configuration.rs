//! The local server and CLI: bad configuration is a clear error, and
//! without a JWT secret the server makes a development one.

use crate::harness::{Server, eventually};
use crate::local_server::{self, JWT_SECRET, mint, now};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `keyward` to completion, failing if it is still running after 15 s.
fn run_to_exit(mut cmd: Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward starts");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("waitable").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keyward kept running: the configuration was accepted");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cases = [
        ("KEYWARD_JWT_SECRET", "too short", "KEYWARD_JWT_SECRET"),
        ("KEYWARD_MAX_ACTIVE_KEYS", "0", "KEYWARD_MAX_ACTIVE_KEYS"),
        (
            "KEYWARD_MAX_ACTIVE_APPLICATIONS",
            "many",
            "KEYWARD_MAX_ACTIVE_APPLICATIONS",
        ),
        (
            "KEYWARD_DEFAULT_VALIDITY_DAYS",
            "800",
            "KEYWARD_DEFAULT_VALIDITY_DAYS",
        ),
        (
            "KEYWARD_REQUIRE_MFA_TO_ENABLE",
            "maybe",
            "KEYWARD_REQUIRE_MFA_TO_ENABLE",
        ),
        ("KEYWARD_ADDR", "not an address", "KEYWARD_ADDR"),
        ("KEYWARD_LOG", "keyward=loud[", "KEYWARD_LOG"),
        (
            "KEYWARD_DISABLE_UNUSED_AFTER_DAYS",
            "3",
            "KEYWARD_DISABLE_UNUSED_AFTER_DAYS",
        ),
        ("KEYWARD_LEAK_ACTION", "shred", "KEYWARD_LEAK_ACTION"),
    ];
    for (name, value, mentioned) in cases {
        let env = [(name.to_owned(), value.to_owned())];
        let mut cmd = local_server::command(dir.path(), &env);
        cmd.args(["serve", "--data"]).arg(dir.path().join("data"));
        if name != "KEYWARD_ADDR" {
            cmd.args(["--addr", "127.0.0.1:0"]);
        }
        let output = run_to_exit(cmd);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value} was accepted");
        assert!(!stdout.contains("listening"), "{name}={value}: {stdout}");
        assert!(
            stderr.contains(mentioned),
            "{name}={value}: the error names {mentioned}: {stderr}"
        );
    }
    // The CLI refuses bad input the same way.
    let output = run_to_exit({
        let mut cmd = local_server::command(dir.path(), &[]);
        cmd.args(["token", "--sub", "u", "--account", "a", "--ttl", "forever"]);
        cmd
    });
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ttl"));
}

/// Without `KEYWARD_JWT_SECRET`, `serve` makes a development secret in the
/// data folder, prints a ready token, and `keyward token` signs with it.
#[tokio::test]
async fn without_a_secret_the_server_makes_a_dev_secret_and_the_cli_signs_with_it() {
    // On DynamoDB `serve` refuses to make one (on_dynamodb.rs tests that).
    if local_server::on_dynamodb() {
        return;
    }
    let mut srv = Server::start_with(&[("KEYWARD_JWT_SECRET", "")]);
    let secret_file = srv.data_dir().join("dev-jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).expect("a dev secret file");
    assert!(secret.trim().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the dev secret is private: {mode:o}");
    }

    // The printed development token works (user alice, account acme, the
    // README's: the console it opens shows what the walk-through made).
    let stdout_log = srv.dir().join("stdout.log");
    let printed = eventually(Duration::from_secs(5), "the printed dev token", || {
        let text = std::fs::read_to_string(&stdout_log).unwrap_or_default();
        let token = text
            .split_whitespace()
            .find(|w| w.starts_with("eyJ") && w.split('.').count() == 3)
            .map(str::to_owned);
        async move { token }
    })
    .await;
    let app = srv.create_app(&printed, "dev").await;
    let got = srv.get(&printed, &format!("/applications/{app}")).await;
    assert_eq!(got.ok(200)["account"], "acme");
    assert_eq!(got.ok(200)["created_by"], "alice");

    // `keyward token` signs with the same secret.
    let data = srv.data_dir();
    let token = srv.cli(&[
        "token",
        "--data",
        data.to_str().unwrap(),
        "--sub",
        "carol",
        "--account",
        "acme",
        "--permissions",
        "applications:view",
    ]);
    let token = token.trim().to_owned();
    assert_eq!(srv.list_apps(&token).await.len(), 1);
    srv.post(&token, "/applications", json!({ "name": "x" }))
        .await
        .problem(403, "PERMISSION_DENIED");
    // Tokens signed with any other secret are refused.
    let foreign = mint(
        JWT_SECRET,
        "carol",
        "acme",
        "applications:view",
        false,
        now(),
    );
    srv.get(&foreign, "/applications")
        .await
        .problem(401, "TOKEN_INVALID");

    // The secret is kept across restarts.
    srv.kill_and_restart();
    assert_eq!(srv.list_apps(&token).await.len(), 1);
}

/// `keyward token` where no secret exists refuses, with the way out, and
/// makes no secret (one the running server would not know).
#[test]
fn token_without_a_secret_refuses_and_makes_none() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("fresh");
    let output = run_to_exit({
        let mut cmd =
            local_server::command(dir.path(), &[("KEYWARD_JWT_SECRET".into(), String::new())]);
        cmd.args(["token", "--sub", "u", "--account", "a", "--data"])
            .arg(&data);
        cmd
    });
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keyward serve --data"), "{stderr}");
    assert!(!data.join("dev-jwt-secret").exists());
}

/// `--addr` takes a name; `serve --help` says where tokens' secret comes
/// from; SIGTERM stops the server with a line that says so.
#[test]
fn serve_takes_a_host_name_documents_the_secret_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let help = run_to_exit({
        let mut cmd = local_server::command(dir.path(), &[]);
        cmd.args(["serve", "--help"]);
        cmd
    });
    assert!(String::from_utf8_lossy(&help.stdout).contains("KEYWARD_JWT_SECRET"));
    let mut child = local_server::command(dir.path(), &[])
        .args(["serve", "--addr", "localhost:0", "--data"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward starts");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("keyward listening on http://"), "{first}");
    // Once it answers, its signal handler is in place.
    let addr = first
        .trim()
        .trim_start_matches("keyward listening on http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    #[cfg(unix)]
    {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("keyward: stopped"));
    }
}

/// `keyward healthcheck`, a container's health check: 0 while the server
/// answers, 1 once it is gone; a wildcard address is probed on loopback.
#[test]
fn healthcheck_exits_0_while_the_server_answers_and_1_after() {
    let mut srv = Server::start();
    let port = srv.local.addr().port();
    let dir = srv.dir().to_path_buf();
    let probe = |addr: &str| {
        let mut cmd = local_server::command(&dir, &[]);
        cmd.args(["healthcheck", "--timeout", "5"])
            .env("KEYWARD_ADDR", addr);
        run_to_exit(cmd)
    };
    for addr in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let ok = probe(&addr);
        assert!(ok.status.success(), "{addr}: {ok:?}");
    }
    srv.kill();
    let gone = probe(&format!("127.0.0.1:{port}"));
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unhealthy"));
}
