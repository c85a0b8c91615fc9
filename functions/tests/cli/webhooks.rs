//! `keyward webhooks …`: create (the secret once), list, get, delete, and
//! the deliveries of one, to a receiver on loopback.

use crate::harness::{Setup, detail, items, row, table};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A receiver on a loopback port that answers 204 to its first `max`
/// requests: where the deliveries go.
fn receiver(max: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .into_inner()
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

#[test]
fn webhooks_create_list_get_and_delete() {
    let s = Setup::start();
    let run = s.cli.run(&[
        "webhooks",
        "create",
        "--url",
        "https://hooks.example.com/keyward",
        "--event",
        "key.revoked",
        "--event",
        "key.disabled",
        "--description",
        "alerts",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let id = detail(&run.stdout, "id");
    assert!(id.starts_with("wh_"), "{run:?}");
    assert_eq!(
        detail(&run.stdout, "url"),
        "https://hooks.example.com/keyward"
    );
    assert_eq!(detail(&run.stdout, "events"), "key.disabled, key.revoked");
    assert_eq!(detail(&run.stdout, "enabled"), "true");
    let secret = run
        .stdout
        .lines()
        .last()
        .unwrap()
        .strip_prefix("Secret: ")
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(run.stderr.contains("shown once"), "{run:?}");

    let run = s.cli.run(&[
        "webhooks",
        "create",
        "--url",
        "https://other.example.com/",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let created: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        created["webhook"]["events"],
        serde_json::json!([]),
        "every type"
    );
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(run.stderr.contains("shown once"));
    let other = created["webhook"]["id"].as_str().unwrap();

    let out = s.cli.ok(&["webhooks", "list"]);
    assert_eq!(
        table(&out)[0],
        ["ID", "URL", "EVENTS", "ENABLED", "CREATED"]
    );
    assert_eq!(row(&out, &id)["EVENTS"], "key.disabled, key.revoked");
    assert_eq!(row(&out, other)["EVENTS"], "all");
    assert_eq!(items(&s.cli.json(&["webhooks", "list"])).len(), 2);

    let out = s.cli.ok(&["webhooks", "get", &id]);
    assert_eq!(detail(&out, "description"), "alerts");
    let got = s.cli.json(&["webhooks", "get", &id]);
    assert_eq!(got["url"], "https://hooks.example.com/keyward");
    assert!(got.get("secret").is_none());

    assert_eq!(
        s.cli.ok(&["webhooks", "delete", &id]).trim(),
        format!("Deleted webhook {id}.")
    );
    // 204: the API answers nothing, and --json prints nothing.
    assert_eq!(s.cli.ok(&["webhooks", "delete", other, "--json"]), "");
    assert_eq!(s.cli.ok(&["webhooks", "list"]).trim(), "No webhooks.");
    s.cli
        .fails(&["webhooks", "get", &id], 1, "WEBHOOK_NOT_FOUND");
}

#[test]
fn webhooks_deliveries_lists_what_was_sent() {
    let s = Setup::start_with(&[("KEYWARD_WEBHOOK_ALLOW_INSECURE", "true")]);
    let port = receiver(20);
    let url = format!("http://127.0.0.1:{port}/hook");
    let webhook = s.cli.json(&["webhooks", "create", "--url", &url]);
    let id = webhook["webhook"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.cli.ok(&["webhooks", "deliveries", &id]).trim(),
        "No deliveries."
    );

    s.app("Billing");
    let deadline = Instant::now() + Duration::from_secs(30);
    let deliveries = loop {
        let answer = s.cli.json(&["webhooks", "deliveries", &id]);
        if items(&answer)
            .first()
            .is_some_and(|d| d["status"] == "delivered")
        {
            break answer;
        }
        assert!(Instant::now() < deadline, "not delivered: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let delivery = &items(&deliveries)[0];
    assert_eq!(delivery["event_type"], "application.created");
    assert_eq!(delivery["webhook_id"], id.as_str());

    let out = s.cli.ok(&["webhooks", "deliveries", &id, "--limit", "1"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        [
            "EVENT",
            "TYPE",
            "STATUS",
            "ATTEMPTS",
            "ANSWER",
            "ERROR",
            "NEXT ATTEMPT"
        ]
    );
    let event = delivery["event_id"].as_str().unwrap();
    let line = row(&out, event);
    assert_eq!(line["TYPE"], "application.created");
    assert_eq!(line["STATUS"], "delivered");
    assert_eq!(line["ATTEMPTS"], "1");
    assert_eq!(line["ANSWER"], "204");
}
