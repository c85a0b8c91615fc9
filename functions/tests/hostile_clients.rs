//! What slow, idle and hostile clients can do to `keyward serve`, against
//! the real binary on a loopback port: hold connections open (idle, header
//! trickled, body trickled, in numbers past the file-descriptor limit), and
//! put control characters where they might reach the log.
//!
//! The timeouts are set to a second or two so that each test takes seconds.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/local_server.rs"]
mod local_server;

use local_server::LocalServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An application with one key; the key's secret.
async fn key(server: &LocalServer) -> String {
    let token = server.admin("alice", "acme");
    let http = reqwest::Client::new();
    let app: Value = http
        .post(server.url("/applications"))
        .bearer_auth(&token)
        .json(&json!({ "name": "billing" }))
        .send()
        .await
        .expect("create application")
        .json()
        .await
        .expect("JSON");
    let app = app["id"].as_str().expect("an application id");
    let key: Value = http
        .post(server.url(&format!("/applications/{app}/keys")))
        .bearer_auth(&token)
        .json(&json!({ "name": "primary" }))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("JSON");
    key["secret"].as_str().expect("a secret").to_owned()
}

/// `POST /verify` on a new connection; the verdict and the time taken.
async fn verify_on_new_connection(server: &LocalServer, key: &str) -> (Value, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    let started = Instant::now();
    let answer = client
        .post(server.url("/verify"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .expect("an answer to POST /verify");
    assert_eq!(answer.status(), StatusCode::OK);
    (answer.json().await.expect("JSON"), started.elapsed())
}

/// Reads until the server closes the connection; the time that took, or
/// `None` if it is still open after `within`. What was read goes to `seen`.
async fn closed_within(
    stream: &mut TcpStream,
    within: Duration,
    seen: &mut Vec<u8>,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection that sent a request's head, and this much of a body that
/// it says is 200 bytes long.
async fn body_started(addr: SocketAddr, sent: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = "POST /verify HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("head sent");
    stream.write_all(sent.as_bytes()).await.expect("body begun");
    stream
}

#[tokio::test]
async fn silent_and_kept_alive_connections_close_after_the_idle_timeout() {
    let server = LocalServer::start(
        &[
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "1"),
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "30"),
        ],
        None,
    );
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(server.addr()).await.expect("connects"));
    }
    let mut kept_alive = TcpStream::connect(server.addr()).await.expect("connects");
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("request sent");
    let mut seen = Vec::new();
    let closed = closed_within(&mut kept_alive, Duration::from_secs(6), &mut seen).await;
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = closed.expect("the kept-alive connection closed after the idle timeout");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
    for stream in &mut silent {
        let mut seen = Vec::new();
        // Opened before the kept-alive one: they are due by now or soon.
        let closed = closed_within(stream, Duration::from_secs(3), &mut seen).await;
        assert!(closed.is_some(), "a silent connection stayed open");
        assert!(seen.is_empty(), "{:?}", String::from_utf8_lossy(&seen));
    }
}

#[tokio::test]
async fn a_trickled_header_is_refused_after_the_header_read_timeout() {
    let server = LocalServer::start(
        &[
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "30"),
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "1"),
        ],
        None,
    );
    let mut stream = TcpStream::connect(server.addr()).await.expect("connects");
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut closed = None;
    for byte in head {
        // A byte every 100 ms: each one is activity, so only the
        // header-read timeout can end this.
        if stream.write_all(&[*byte]).await.is_err() {
            closed = Some(started.elapsed());
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(100), &mut seen)
            .await
            .is_some()
        {
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("the trickled head was still being read after 10 s");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );
    assert!(!String::from_utf8_lossy(&seen).contains(" 200 "));
}

#[tokio::test]
async fn a_trickled_body_gets_a_problem_after_the_header_read_timeout_and_frees_its_slot() {
    let server = LocalServer::start(
        &[
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "30"),
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "2"),
            ("KEYWARD_MAX_CONNECTIONS", "4"),
        ],
        None,
    );
    let key = key(&server).await;
    // Every slot held by a request in its handler, waiting for its body.
    let mut trickling = Vec::new();
    for _ in 0..4 {
        trickling.push(body_started(server.addr(), "{\"key\": \"").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (verdict, took) = verify_on_new_connection(&server, &key).await;
    assert_eq!(verdict["valid"], true);
    // Waited for the body deadline (2 s from the heads), not for ever.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    for stream in &mut trickling {
        let mut seen = Vec::new();
        closed_within(stream, Duration::from_secs(5), &mut seen).await;
        let answer = String::from_utf8_lossy(&seen);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("\"MALFORMED_JSON\""), "{answer}");
    }
}

#[tokio::test]
async fn past_the_file_descriptor_limit_idle_and_slow_clients_do_not_keep_verifications_out() {
    // 256 descriptors: the default cap is 256 - 64 = 192 connections. The
    // clients below hold 330, with long timeouts, so only the cap's design
    // (close the quietest connection with no request in a handler) helps.
    let server = LocalServer::start(
        &[
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "120"),
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "120"),
        ],
        Some(256),
    );
    let key = key(&server).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(body_started(server.addr(), "{").await);
    }
    for i in 0..310 {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connects");
        if i % 10 == 0 {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").await;
        }
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..10 {
        let (verdict, took) = verify_on_new_connection(&server, &key).await;
        assert_eq!(verdict["valid"], true);
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
    let health = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let log = server.log();
    assert!(!log.contains("accept failed"), "{log}");
    drop(held);
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_its_handler_and_closes_idle_connections() {
    let mut server = LocalServer::start(
        &[
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "60"),
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "60"),
        ],
        None,
    );
    let key = key(&server).await;
    let mut idle = TcpStream::connect(server.addr()).await.expect("connects");
    let body = json!({ "key": key }).to_string();
    let padded = format!("{body:<200}");
    let mut in_flight = body_started(server.addr(), &padded[..10]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut seen = Vec::new();
    let closed = closed_within(&mut idle, Duration::from_secs(3), &mut seen).await;
    assert!(
        closed.is_some(),
        "the idle connection outlived the shutdown"
    );
    in_flight
        .write_all(&padded.as_bytes()[10..])
        .await
        .expect("the rest of the body");
    let mut seen = Vec::new();
    closed_within(&mut in_flight, Duration::from_secs(5), &mut seen).await;
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"valid\":true"), "{answer}");
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn every_log_line_is_one_event_whatever_the_requests_hold() {
    let server = LocalServer::start(&[("KEYWARD_LOG", "trace")], None);
    let key = key(&server).await;
    let hostile = "x\n2030-01-01T00:00:00.000000Z  INFO keyward: forged\r\u{1b}[31m\u{1b}]0;t\u{7}\u{85}\u{2028}";
    let http = reqwest::Client::new();
    let _ = http
        .post(server.url("/verify"))
        .json(&json!({ "key": hostile, "scopes": [hostile] }))
        .send()
        .await;
    let _ = http
        .post(server.url("/verify"))
        .json(&json!({ "key": key, "scopes": [hostile] }))
        .send()
        .await;
    let _ = http
        .get(server.url("/applications/%0A%1B%5B31m?q=%0A%0D"))
        .header("x-note", "a\u{1b}b")
        .send()
        .await;
    let mut raw = TcpStream::connect(server.addr()).await.expect("connects");
    let _ = raw
        .write_all(b"GET /\x1b[31m\nforged HTTP/1.1\r\nHost: \x1b\r\n\r\n")
        .await;
    let _ = closed_within(&mut raw, Duration::from_secs(2), &mut Vec::new()).await;
    let log = server.log();
    assert!(log.lines().count() >= 4, "{log}");
    for line in log.lines() {
        let (time, rest) = line.split_once(' ').expect("a timestamp");
        assert!(time.len() >= 20 && time.ends_with('Z'), "{line:?}");
        let level = rest.trim_start().split(' ').next().unwrap_or_default();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "{line:?}"
        );
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert!(!line.contains(key.as_str()), "the key reached the log");
    }
}
