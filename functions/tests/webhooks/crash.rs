//! `keyward serve` killed with SIGKILL while four writers change keys in two
//! accounts: after the restart every committed change (every event of the
//! audit log) reaches the account's receiver at least once, first in
//! commit order, with a valid signature. Duplicates are allowed and
//! reported; a request the kill cut short counts as no delivery.

use crate::local_server::{JWT_SECRET, LocalServer, all_permissions, mint, now};
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

struct Account {
    name: &'static str,
    token: String,
    keys: Vec<String>,
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let request = match method {
        "POST" => client.post(format!("{base}{path}")).json(&body),
        _ => client.get(format!("{base}{path}")),
    };
    let answer = request.bearer_auth(token).send().await.unwrap();
    assert!(
        answer.status().is_success(),
        "{method} {path}: {}",
        answer.status()
    );
    answer.json().await.unwrap_or(Value::Null)
}

/// Every event id of the account's audit log, in commit order.
async fn audit_ids(client: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit?limit=100&cursor={c}"),
            None => "/audit?limit=100".to_owned(),
        };
        let page = call(client, base, token, "GET", &path, Value::Null).await;
        for event in page["items"].as_array().unwrap() {
            if !event["action"].as_str().unwrap().starts_with("webhook.") {
                ids.push(event["id"].as_str().unwrap().to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_every_committed_change_is_delivered_in_commit_order() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let mut server = LocalServer::start(&[("KEYWARD_WEBHOOK_ALLOW_INSECURE", "true")], None);
    let client = reqwest::Client::new();
    let base = server.base_url().to_owned();
    let mut accounts = Vec::new();
    let mut secrets = Vec::new();
    for name in ["acme", "globex"] {
        let token = mint(JWT_SECRET, "admin", name, &all_permissions(), true, now());
        let created = call(
            &client,
            &base,
            &token,
            "POST",
            "/webhooks",
            json!({"url": receiver.url(&format!("/{name}"))}),
        )
        .await;
        let secret = created["secret"].as_str().unwrap().to_owned();
        // The receiver checks the path's deliveries with it from the first.
        receiver.secrets(&[(&format!("/{name}"), &secret)]).await;
        secrets.push(secret);
        let app = call(
            &client,
            &base,
            &token,
            "POST",
            "/applications",
            json!({"name": name}),
        )
        .await;
        let app_id = app["id"].as_str().unwrap().to_owned();
        let mut keys = Vec::new();
        for n in 0..2 {
            let key = call(
                &client,
                &base,
                &token,
                "POST",
                &format!("/applications/{app_id}/keys"),
                json!({"name": format!("k{n}")}),
            )
            .await;
            keys.push(key["key"]["id"].as_str().unwrap().to_owned());
        }
        accounts.push(Account { name, token, keys });
    }
    assert_ne!(secrets[0], secrets[1], "one signing secret per webhook");

    // Four writers (two keys in each account), disabling and enabling
    // against whichever server runs; errors while it is down are expected.
    let current = Arc::new(RwLock::new(base.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for account in &accounts {
        for key in &account.keys {
            let (current, stop, client) = (current.clone(), stop.clone(), client.clone());
            let (token, key) = (account.token.clone(), key.clone());
            writers.push(tokio::spawn(async move {
                let mut committed = 0u32;
                let mut disable = true;
                while !stop.load(Ordering::SeqCst) {
                    let base = current.read().unwrap().clone();
                    let action = if disable { "disable" } else { "enable" };
                    let sent = client
                        .post(format!("{base}/keys/{key}/{action}"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match sent {
                        Ok(answer) if answer.status().is_success() => {
                            committed += 1;
                            disable = !disable;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                committed
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_and_restart();
    *current.write().unwrap() = server.base_url().to_owned();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut committed = 0;
    for writer in writers {
        committed += writer.await.unwrap();
    }
    assert!(committed > 20, "the writers made only {committed} changes");

    let base = server.base_url().to_owned();
    let started = Instant::now();
    for account in &accounts {
        let expected = audit_ids(&client, &base, &account.token).await;
        let path = format!("/{}", account.name);
        let first_arrivals = loop {
            let (received, _) = receiver.received().await;
            let mut seen = HashSet::new();
            let mut order = Vec::new();
            let mut copies = 0;
            // A request the kill cut short is no delivery; every whole one
            // carries a valid signature.
            for r in received.iter().filter(|r| r["path"] == path.as_str()) {
                if r["complete"] == false {
                    continue;
                }
                assert_eq!(r["verified"], true, "{r}");
                copies += 1;
                let id = r["webhook_id"].as_str().unwrap().to_owned();
                if seen.insert(id.clone()) {
                    order.push(id);
                }
            }
            if expected.iter().all(|id| seen.contains(id)) {
                eprintln!(
                    "{}: {} events, {} deliveries, {} duplicates",
                    account.name,
                    expected.len(),
                    copies,
                    copies - order.len()
                );
                break order;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{}: {} of {} events delivered",
                account.name,
                expected.iter().filter(|id| seen.contains(*id)).count(),
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            first_arrivals, expected,
            "{}: not in commit order",
            account.name
        );
    }
    // Nothing went to a path of no webhook.
    let (received, _) = receiver.received().await;
    let paths: HashMap<String, usize> = received.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r["path"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    assert_eq!(paths.len(), 2, "{paths:?}");
}
