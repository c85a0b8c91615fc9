//! Exit statuses by problem class: 1 for what the API refuses (404, 422,
//! 401, 403, 409), 3 for what fails on its side or on the way (5xx, no
//! server), 2 for a command line clap refuses; the problem on stderr as
//! `CODE: detail`.

use crate::harness::{Cli, Setup};
use std::io::{Read, Write};
use std::net::TcpListener;

#[test]
fn unknown_ids_are_not_found_with_status_1() {
    let s = Setup::start();
    for (args, code) in [
        (vec!["apps", "get", "app_nope"], "APPLICATION_NOT_FOUND"),
        (
            vec!["apps", "update", "app_nope", "--name", "x"],
            "APPLICATION_NOT_FOUND",
        ),
        (vec!["apps", "revoke", "app_nope"], "APPLICATION_NOT_FOUND"),
        (vec!["keys", "list", "app_nope"], "APPLICATION_NOT_FOUND"),
        (
            vec!["keys", "create", "app_nope", "--name", "x"],
            "APPLICATION_NOT_FOUND",
        ),
        (vec!["keys", "get", "nope"], "KEY_NOT_FOUND"),
        (
            vec!["keys", "update", "nope", "--name", "x"],
            "KEY_NOT_FOUND",
        ),
        (vec!["keys", "disable", "nope"], "KEY_NOT_FOUND"),
        (vec!["keys", "enable", "nope"], "KEY_NOT_FOUND"),
        (vec!["keys", "regenerate", "nope"], "KEY_NOT_FOUND"),
        (vec!["keys", "revoke", "nope"], "KEY_NOT_FOUND"),
        (vec!["webhooks", "get", "wh_nope"], "WEBHOOK_NOT_FOUND"),
        (vec!["webhooks", "delete", "wh_nope"], "WEBHOOK_NOT_FOUND"),
        (
            vec!["webhooks", "deliveries", "wh_nope"],
            "WEBHOOK_NOT_FOUND",
        ),
    ] {
        let run = s.cli.fails(&args, 1, code);
        assert!(run.stderr.contains("no "), "a detail: {run:?}");
        s.cli
            .fails(&[args.as_slice(), &["--json"]].concat(), 1, code);
    }
    // An id with a slash stays one path segment: not another route.
    s.cli
        .fails(&["keys", "get", "../applications"], 1, "KEY_NOT_FOUND");
}

#[test]
fn bad_input_is_the_apis_422_with_status_1() {
    let s = Setup::start();
    let app = s.app("Billing");
    let (key, _) = s.key(&app, "ci");
    for (args, code) in [
        (vec!["apps", "create", "--name", ""], "INVALID_NAME"),
        (
            vec!["apps", "create", "--name", "x", "--prefix", "Not-A-Prefix"],
            "INVALID_PREFIX",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--scope",
                "NOT A SCOPE",
            ],
            "INVALID_SCOPE",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--scope",
                "billing:read",
            ],
            "SCOPE_NOT_HELD",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--expires-at",
                "tomorrow",
            ],
            "INVALID_EXPIRES_AT",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--expires-at",
                "2001-01-01T00:00:00Z",
            ],
            "EXPIRES_AT_IN_PAST",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--rate-limit",
                "per-minute=0/60",
            ],
            "INVALID_RATE_LIMITS",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--credits",
                "10000000000000",
            ],
            "INVALID_CREDITS",
        ),
        (
            vec![
                "keys",
                "create",
                &app,
                "--name",
                "x",
                "--allow-ip",
                "10.0.0.0/99",
            ],
            "INVALID_ALLOWED_IPS",
        ),
        (
            vec!["keys", "regenerate", &key, "--grace", "9999999"],
            "INVALID_GRACE_PERIOD",
        ),
        (
            vec!["webhooks", "create", "--url", "http://hooks.example.com/"],
            "INVALID_WEBHOOK_URL",
        ),
        (
            vec![
                "webhooks",
                "create",
                "--url",
                "https://hooks.example.com/",
                "--event",
                "no.such",
            ],
            "INVALID_EVENT_TYPES",
        ),
    ] {
        s.cli.fails(&args, 1, code);
    }
    // An Idempotency-Key reused with another body.
    s.cli.ok(&[
        "apps",
        "create",
        "--name",
        "Once",
        "--idempotency-key",
        "k-1",
    ]);
    s.cli.fails(
        &[
            "apps",
            "create",
            "--name",
            "Twice",
            "--idempotency-key",
            "k-1",
        ],
        1,
        "IDEMPOTENCY_KEY_REUSED",
    );
}

#[test]
fn a_retry_with_the_same_idempotency_key_creates_nothing_new() {
    let s = Setup::start();
    let first = s.cli.json(&[
        "apps",
        "create",
        "--name",
        "Once",
        "--idempotency-key",
        "retry-1",
    ]);
    let again = s.cli.json(&[
        "apps",
        "create",
        "--name",
        "Once",
        "--idempotency-key",
        "retry-1",
    ]);
    assert_eq!(first["id"], again["id"]);
    let app = first["id"].as_str().unwrap();
    let key = s.cli.json(&[
        "keys",
        "create",
        app,
        "--name",
        "k",
        "--idempotency-key",
        "retry-2",
    ]);
    let key_again = s.cli.json(&[
        "keys",
        "create",
        app,
        "--name",
        "k",
        "--idempotency-key",
        "retry-2",
    ]);
    assert_eq!(key["key"]["id"], key_again["key"]["id"]);
    assert_eq!(
        s.cli.json(&["keys", "list", app])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn refused_tokens_and_permissions_exit_1() {
    let s = Setup::start();
    let app = s.app("Billing");
    let none = s.cli.with_token(None);
    let run = none.fails(&["apps", "list"], 1, "TOKEN_MISSING");
    assert!(run.stderr.contains("KEYWARD_TOKEN"), "a hint: {run:?}");
    s.cli
        .with_token(Some("not-a-jwt"))
        .fails(&["apps", "list"], 1, "TOKEN_INVALID");
    let forged = crate::local_server::mint(
        "another-secret-0123456789-abcdefghijklmnopqrstuv",
        "alice",
        "acme",
        "applications:view",
        false,
        crate::local_server::now(),
    );
    s.cli
        .with_token(Some(&forged))
        .fails(&["apps", "get", &app], 1, "TOKEN_INVALID");

    let viewer = s.as_user("bob", "applications:view keys:view");
    assert!(viewer.ok(&["apps", "list"]).contains(&app));
    for args in [
        vec!["apps", "create", "--name", "x"],
        vec!["apps", "revoke", &app],
        vec!["audit"],
        vec!["webhooks", "list"],
        vec!["webhooks", "create", "--url", "https://hooks.example.com/"],
    ] {
        viewer.fails(&args, 1, "PERMISSION_DENIED");
    }
    // A token with characters no header can carry never leaves the CLI.
    let run = s.cli.with_token(Some("a\u{7f}b")).run(&["apps", "list"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn enabling_without_mfa_where_the_server_requires_it_exits_1() {
    let s = Setup::start_with(&[("KEYWARD_REQUIRE_MFA_TO_ENABLE", "true")]);
    let app = s.app("Billing");
    let (key, _) = s.key(&app, "ci");
    s.cli.ok(&["keys", "disable", &key]);
    s.as_user("carol", "keys:edit:any keys:view:any").fails(
        &["keys", "enable", &key],
        1,
        "MFA_REQUIRED",
    );
    s.cli.ok(&["keys", "enable", &key]);
}

#[test]
fn a_server_that_is_down_exits_3() {
    let mut s = Setup::start();
    s.server.kill();
    for args in [
        vec!["apps", "list"],
        vec!["keys", "get", "k"],
        vec!["verify", "kw_x"],
        vec!["audit", "--json"],
        vec!["webhooks", "list"],
    ] {
        let run = s.cli.fails(&args, 3, "UNREACHABLE");
        assert!(run.stderr.contains("cannot reach the API"), "{run:?}");
    }
}

/// A fake API on loopback that answers every request with `answer`.
fn fake_api(answer: &'static str, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn server_failures_exit_3_and_keep_their_code() {
    let problem = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n\
                   Content-Length: 71\r\nConnection: close\r\n\r\n\
                   {\"code\":\"STORE_UNAVAILABLE\",\"detail\":\"the store is unavailable; retry\"}";
    let api = fake_api(problem, 2);
    let cli = Cli::new(&api, Some("token"));
    let run = cli.fails(&["apps", "list"], 3, "STORE_UNAVAILABLE");
    assert!(run.stderr.contains("the store is unavailable"), "{run:?}");
    cli.fails(&["verify", "kw_x"], 3, "STORE_UNAVAILABLE");

    let proxy = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\
                 Connection: close\r\n\r\n<html/>\r\n";
    Cli::new(&fake_api(proxy, 1), None).fails(&["keys", "get", "k"], 3, "HTTP_502");

    let not_json = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 7\r\n\
                    Connection: close\r\n\r\n<html/>";
    Cli::new(&fake_api(not_json, 1), None).fails(&["apps", "list"], 3, "BAD_ANSWER");
}

#[test]
fn command_line_errors_exit_2() {
    let s = Setup::start();
    for args in [
        vec!["apps"],
        vec!["apps", "create"],
        vec!["apps", "update", "app_x"],
        vec!["apps", "list", "--limit", "0"],
        vec![
            "keys",
            "create",
            "app_x",
            "--name",
            "x",
            "--rate-limit",
            "fast",
        ],
        vec![
            "keys", "create", "app_x", "--name", "x", "--refill", "5/daily",
        ],
        vec!["keys", "update", "k", "--credits", "5", "--no-credits"],
        vec!["keys", "regenerate", "k", "--grace", "-5"],
        vec!["verify"],
        vec!["apps", "list", "--api", "ftp://example.com"],
        vec!["completions", "tcsh"],
    ] {
        let run = s.cli.run(&args);
        assert_eq!(run.code, 2, "keyward {args:?}: {run:?}");
        assert!(
            run.stderr.contains("error:") || run.stderr.contains("Usage:"),
            "{run:?}"
        );
        assert_eq!(run.stdout, "");
    }
    let run = s.cli.run(&["keys", "update", "k"]);
    assert_eq!(run.code, 2, "nothing to change: {run:?}");
    assert!(
        run.stderr.starts_with("USAGE: nothing to change"),
        "{run:?}"
    );
}

#[test]
fn help_documents_the_exit_statuses_and_the_token_variable() {
    let s = Setup::start();
    for args in [
        vec!["apps", "--help"],
        vec!["keys", "create", "--help"],
        vec!["verify", "--help"],
    ] {
        let out = s.cli.ok(&args);
        assert!(out.contains("Exit status:"), "{out}");
        assert!(
            out.contains("3  the API failed or could not be reached"),
            "{out}"
        );
        assert!(out.contains("KEYWARD_TOKEN"), "{out}");
        // The variable's value (the token) is never shown.
        assert!(!out.contains(s.cli.token.as_deref().unwrap()), "{out}");
    }
}
