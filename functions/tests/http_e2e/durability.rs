//! Acknowledged writes survive SIGKILL: one kill and restart, and kill -9
//! again and again while writers run.

use crate::client::{Api, NewKey, ids, items, new_key};
use crate::harness::{Server, eventually};
use crate::local_server;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn acknowledged_writes_survive_a_kill_and_restart() {
    let mut srv = Server::start_with(&[("KEYWARD_MAX_ACTIVE_KEYS", "1000")]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "durable").await;
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(srv.create_named_key(&alice, &app, &format!("k{i}")).await);
    }
    srv.post_empty(&alice, &format!("/keys/{}/disable", keys[1].id))
        .await
        .ok(200);
    let keys_path = format!("/applications/{app}/keys");
    let body = json!({ "name": "idempotent" });
    let before = srv
        .post_idem(&alice, &keys_path, "before-the-crash", Some(&body))
        .await;
    keys.push(new_key(&before, 201));
    let before_body = before.body.clone();

    srv.kill_and_restart();

    assert_eq!(srv.list_apps(&alice).await.len(), 1);
    let listed = srv.list_keys(&alice, &app).await;
    assert_eq!(ids(&listed), keys.iter().map(|k| k.id.clone()).collect());
    for (i, k) in keys.iter().enumerate() {
        let expected = if i == 1 { "DISABLED" } else { "VALID" };
        assert_eq!(srv.verdict(&k.secret).await, expected, "key {i}");
    }
    assert_eq!(
        srv.key_view(&alice, &keys[1].id).await["status"],
        "disabled"
    );
    // The sealed answer of an idempotent create survives too.
    let after = srv
        .post_idem(&alice, &keys_path, "before-the-crash", Some(&body))
        .await;
    assert_eq!(after.ok(201), &before_body);
    assert_eq!(srv.list_keys(&alice, &app).await.len(), 6);

    // Killed in the middle of concurrent creates: every create that was
    // answered 201 before the kill is there after the restart.
    let busy = srv.create_app(&alice, "busy").await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<NewKey>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..6 {
        let (api, token, path) = (
            srv.api.clone(),
            alice.clone(),
            format!("/applications/{busy}/keys"),
        );
        let acknowledged = acknowledged.clone();
        tasks.spawn(async move {
            for i in 0.. {
                let builder = api
                    .request(Method::POST, &path, Some(&token))
                    .json(&json!({ "name": format!("t{task}-{i}") }));
                match api.try_send(builder).await {
                    Ok(r) if r.status == 201 => acknowledged.lock().unwrap().push(new_key(&r, 201)),
                    Ok(r) => panic!("unexpected answer: {}", r.text),
                    Err(_) => return,
                }
            }
        });
    }
    let counter = acknowledged.clone();
    eventually(
        Duration::from_secs(10),
        "some creates to be answered",
        move || {
            let done = counter.lock().unwrap().len() >= 30;
            async move { done.then_some(()) }
        },
    )
    .await;
    srv.kill();
    tasks.join_all().await;
    srv.restart();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let listed = ids(&srv.list_keys(&alice, &busy).await);
    for k in &acknowledged {
        assert!(listed.contains(&k.id), "acknowledged key {} was lost", k.id);
        assert_eq!(srv.verdict(&k.secret).await, "VALID");
    }
    // At most the creates in flight at the kill committed unanswered.
    assert!(
        listed.len() <= acknowledged.len() + 6,
        "{} listed",
        listed.len()
    );
}

// ---- crash cycles ----------------------------------------------------------

/// What one writer of the crash test knows: each key's last acknowledged
/// status, and the one request it had in flight when the server died.
#[derive(Default)]
struct WriterLog {
    app: String,
    keys: Vec<(String, String, &'static str)>,
    /// (key id, the status it has if the request committed).
    in_flight: Option<(String, &'static str)>,
    acknowledged: usize,
}

/// One writer: create a key, regenerate it (the old one is revoked at
/// once), disable the new one; again, until the server dies.
/// Rounds a crash writer makes at most before it stops.
const CRASH_WRITER_ROUNDS: usize = 30;

async fn crash_writer(api: Api, token: String, log: std::sync::Arc<std::sync::Mutex<WriterLog>>) {
    let app = log.lock().unwrap().app.clone();
    let record = |change: &dyn Fn(&mut WriterLog)| change(&mut log.lock().unwrap());
    let send = |method: Method, path: String, body: Value| {
        let builder = api.request(method, &path, Some(&token)).json(&body);
        api.try_send(builder)
    };
    // Each round leaves one key that counts toward the limit (40): stop
    // well before it, however fast the server is.
    for i in 0..CRASH_WRITER_ROUNDS {
        record(&|w| w.in_flight = None);
        let body = json!({ "name": format!("k{i}") });
        let Ok(r) = send(Method::POST, format!("/applications/{app}/keys"), body).await else {
            return;
        };
        let created = new_key(&r, 201);
        record(&|w| {
            w.keys
                .push((created.id.clone(), created.secret.clone(), "active"));
            w.acknowledged += 1;
            w.in_flight = Some((created.id.clone(), "revoked"));
        });

        let path = format!("/keys/{}/regenerate", created.id);
        let Ok(r) = send(Method::POST, path, json!({})).await else {
            return;
        };
        let successor = new_key(&r, 201);
        record(&|w| {
            w.keys.last_mut().unwrap().2 = "revoked";
            w.keys
                .push((successor.id.clone(), successor.secret.clone(), "active"));
            w.acknowledged += 1;
            w.in_flight = Some((successor.id.clone(), "disabled"));
        });

        let path = format!("/keys/{}/disable", successor.id);
        let Ok(r) = send(Method::POST, path, json!({})).await else {
            return;
        };
        assert_eq!(r.ok(200)["status"], "disabled");
        record(&|w| {
            w.keys.last_mut().unwrap().2 = "disabled";
            w.acknowledged += 1;
        });
    }
}

/// `PRAGMA integrity_check` of the embedded store, while the server is down.
fn sqlite_integrity(data: &Path) -> String {
    let db = rusqlite::Connection::open(data.join("keyward.db")).expect("the store opens");
    db.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check runs")
}

/// Every acknowledged write in `logs` is there, each with its audit events.
async fn check_crash_logs(
    srv: &Server,
    alice: &str,
    logs: &[std::sync::Arc<std::sync::Mutex<WriterLog>>],
) {
    let mut audit = Vec::new();
    let mut path = "/audit?limit=100".to_owned();
    loop {
        let page = srv.get(alice, &path).await.ok(200).clone();
        audit.extend(items(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit?limit=100&cursor={cursor}"),
            None => break,
        }
    }
    let events_of = |id: &str, action: &str| {
        audit
            .iter()
            .filter(|e| e["target_id"] == id && e["action"] == action)
            .count()
    };
    for log in logs {
        // A copy, so that no lock is held across the requests.
        let (keys, in_flight) = {
            let w = log.lock().unwrap();
            (w.keys.clone(), w.in_flight.clone())
        };
        for (id, secret, acknowledged) in &keys {
            let view = srv.key_view(alice, id).await;
            let status = view["status"].as_str().unwrap().to_owned();
            let in_flight = in_flight.as_ref().filter(|(k, _)| k == id).map(|(_, s)| *s);
            assert!(
                status == *acknowledged || Some(status.as_str()) == in_flight,
                "key {id}: {status}, acknowledged {acknowledged}, in flight {in_flight:?}"
            );
            let verdict = match status.as_str() {
                "active" => "VALID",
                "disabled" => "DISABLED",
                _ => "REVOKED",
            };
            assert_eq!(srv.verdict(secret).await, verdict, "key {id}");
            // Nothing half-written: each change has its audit event.
            assert_eq!(events_of(id, "key.created"), 1, "key {id} created");
            let regenerated = events_of(id, "key.regenerated");
            let disabled = events_of(id, "key.disabled");
            assert_eq!(
                (regenerated, disabled),
                match status.as_str() {
                    "active" => (0, 0),
                    "disabled" => (0, 1),
                    _ => (1, 0),
                },
                "key {id} is {status}"
            );
        }
    }
}

/// kill -9 while four writers run, again and again: after each restart
/// every acknowledged write is there, every key has its audit events, the
/// file is intact, and each application's limit is exactly its limit.
/// `KEYWARD_CRASH_CYCLES` sets the number of cycles (default 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_writers_run_loses_no_acknowledged_write() {
    const LIMIT: usize = 40;
    let cycles: usize = std::env::var("KEYWARD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut srv = Server::start_with(&[
        ("KEYWARD_MAX_ACTIVE_KEYS", &LIMIT.to_string()),
        ("KEYWARD_MAX_ACTIVE_APPLICATIONS", "1000"),
        ("KEYWARD_VERIFY_FAILURE_LIMIT", "0"),
    ]);
    let alice = srv.admin("alice", "acme");
    let mut logs = Vec::new();
    let mut in_flight_total = 0;
    for cycle in 0..cycles {
        let mut writers = tokio::task::JoinSet::new();
        let mut cycle_logs = Vec::new();
        for w in 0..4 {
            let app = srv.create_app(&alice, &format!("crash {cycle}.{w}")).await;
            let log = std::sync::Arc::new(std::sync::Mutex::new(WriterLog {
                app,
                ..WriterLog::default()
            }));
            cycle_logs.push(log.clone());
            writers.spawn(crash_writer(srv.api.clone(), alice.clone(), log));
        }
        // Kill once the writers are well under way, at a different point
        // of each cycle.
        let target = 12 + 5 * (cycle % 5);
        let progress = cycle_logs.clone();
        eventually(
            Duration::from_secs(30),
            "writes to be acknowledged",
            move || {
                let done = progress
                    .iter()
                    .all(|l| l.lock().unwrap().acknowledged >= target);
                async move { done.then_some(()) }
            },
        )
        .await;
        srv.kill();
        writers.join_all().await;
        if !local_server::on_dynamodb() {
            assert_eq!(sqlite_integrity(&srv.data_dir()), "ok", "cycle {cycle}");
        }
        srv.restart();
        in_flight_total += cycle_logs
            .iter()
            .filter(|l| l.lock().unwrap().in_flight.is_some())
            .count();
        // This cycle's acknowledged writes are there.
        check_crash_logs(&srv, &alice, &cycle_logs).await;
        logs.extend(cycle_logs);
    }
    // And every earlier cycle's, after all the later crashes.
    check_crash_logs(&srv, &alice, &logs).await;
    // Each application still stops at exactly its limit.
    for log in &logs {
        let app = log.lock().unwrap().app.clone();
        let mut counted = srv.list_keys(&alice, &app).await.len();
        assert!(counted <= LIMIT, "{counted} keys count in {app}");
        while counted < LIMIT {
            srv.create_named_key(&alice, &app, "fill").await;
            counted += 1;
        }
        srv.post(
            &alice,
            &format!("/applications/{app}/keys"),
            json!({ "name": "one too many" }),
        )
        .await
        .problem(409, "KEY_LIMIT_REACHED");
    }
    eprintln!(
        "{cycles} kill -9 cycles, {} acknowledged writes, {in_flight_total} regenerates or disables in flight at a kill",
        logs.iter()
            .map(|l| l.lock().unwrap().acknowledged)
            .sum::<usize>()
    );
}
