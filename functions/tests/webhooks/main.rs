//! Webhook deliveries end to end, in process: the service commits changes,
//! the deliverer reads them from the SQLite outbox and sends them to a real
//! receiver on loopback that checks each with the `standardwebhooks`
//! package. The clock is a [`ManualClock`], so the retry schedule is
//! checked without waiting for it.

mod crash;
#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/local_server.rs"]
mod local_server;
#[path = "../support/webhook_receiver.rs"]
mod receiver;
mod ssrf;

use fixtures::admin;
use keyward::auth::Caller;
use keyward::clock::{Clock, ManualClock, SystemClock};
use keyward::config::Config;
use keyward::domain::AuditEvent;
use keyward::error::ApiError;
use keyward::events::address::SystemResolver;
use keyward::events::deliverer::Deliverer;
use keyward::events::delivery::{AttemptError, Sender};
use keyward::events::outbox::LocalOutbox;
use keyward::events::sealing::SealingKey;
use keyward::events::webhook::DeliveryStatus;
use keyward::events::{Event, EventType};
use keyward::service::{
    CreateKey, CreateWebhook, LogPublisher, PageQuery, RegenerateKey, Service, UpdateFields,
};
use keyward::store::Store;
use keyward::store::sqlite::SqliteStore;
use receiver::Receiver;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct World {
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    service: Service,
    deliverer: Arc<Deliverer>,
    outbox: LocalOutbox,
}

/// A service and a deliverer on one in-memory store; `http` and loopback
/// allowed (the receiver is on loopback), attempts cut at `timeout`.
fn world(config: Config, timeout: Duration) -> World {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    // Real time, so the receiver's timestamp check passes; moved by hand.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let sealing = Arc::new(SealingKey::from_bytes([42; 32]));
    let allow_insecure = config.webhook_allow_insecure;
    let service = Service::new(store.clone(), config, clock.clone(), Arc::new(LogPublisher))
        .with_webhook_sealing(sealing.clone());
    let sender = Sender::new(Arc::new(SystemResolver), allow_insecure, timeout).unwrap();
    let deliverer = Arc::new(Deliverer::new(
        store.clone(),
        sender,
        sealing,
        clock.clone(),
    ));
    let outbox = LocalOutbox::new(store.clone(), deliverer.clone());
    World {
        store,
        clock,
        service,
        deliverer,
        outbox,
    }
}

fn insecure() -> Config {
    Config {
        webhook_allow_insecure: true,
        ..Config::default()
    }
}

impl World {
    /// One round of the deliverer, and every attempt it started finished.
    async fn settle(&self) {
        self.outbox.round().await.unwrap();
        let started = Instant::now();
        while !self.deliverer.is_idle() {
            assert!(started.elapsed() < Duration::from_secs(60), "attempts hang");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn webhook(
        &self,
        caller: &Caller,
        url: String,
        events: Option<&[&str]>,
    ) -> (String, String) {
        let created = self
            .service
            .create_webhook(
                caller,
                &CreateWebhook {
                    url,
                    events: events.map(|e| e.iter().map(|t| t.to_string()).collect()),
                    description: "test receiver".into(),
                },
                None,
            )
            .await
            .unwrap();
        (created.webhook.id, created.secret.expose().to_owned())
    }

    /// The account's audit events, oldest first.
    async fn audit(&self, account: &str) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list_audit(account, 100, cursor.as_deref())
                .await
                .unwrap();
            events.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        events.reverse();
        events
    }
}

fn key_input(name: &str, expires_at: Option<String>) -> CreateKey {
    CreateKey {
        expires_at,
        ..fixtures::key(name)
    }
}

/// Whether any object in `value` has a field named `name`.
fn has_field(value: &Value, name: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k == name || has_field(v, name)),
        Value::Array(items) => items.iter().any(|v| has_field(v, name)),
        _ => false,
    }
}

/// Every event type a change can cause today (`key.leaked` comes with leak
/// reports), delivered in commit order, each verified by `standardwebhooks`
/// and equal to the audit event it stands for, before and after included;
/// no secret or hash in any.
#[tokio::test]
async fn every_event_type_arrives_signed_in_commit_order_with_its_before_and_after() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let w = world(insecure(), Duration::from_secs(10));
    let alice = admin("alice", "acme");
    let (_, secret) = w.webhook(&alice, receiver.url("/hook"), None).await;
    receiver.control(&secret, &[]).await;

    let app = w
        .service
        .create_application(&alice, &fixtures::application("shop"), None)
        .await
        .unwrap();
    let rename = UpdateFields {
        name: Some("shop2".into()),
        description: None,
    };
    w.service
        .update_application(&alice, &app.id, &rename)
        .await
        .unwrap();
    let first = w
        .service
        .create_key(&alice, &app.id, &fixtures::key("k1"), None)
        .await
        .unwrap();
    w.service
        .update_key(&alice, &first.key.id, &rename)
        .await
        .unwrap();
    w.service
        .disable_key(&alice, &first.key.id, None)
        .await
        .unwrap();
    w.service
        .enable_key(&alice, &first.key.id, None)
        .await
        .unwrap();
    let second = w
        .service
        .regenerate_key(&alice, &first.key.id, &RegenerateKey::default(), None)
        .await
        .unwrap();
    let soon = keyward::domain::rfc3339::format(w.clock.now() + 3 * 86_400);
    let expiring = w
        .service
        .create_key(&alice, &app.id, &key_input("k2", Some(soon)), None)
        .await
        .unwrap();
    let report = w.service.notify_expiring().await.unwrap();
    assert_eq!(report.sent, 1);
    w.service
        .revoke_key(&alice, &expiring.key.id, None)
        .await
        .unwrap();
    let bob = admin("bob", "acme");
    let bobs = w
        .service
        .create_application(&bob, &fixtures::application("bobs"), None)
        .await
        .unwrap();
    w.service.offboard_user(&alice, "bob", None).await.unwrap();
    w.service
        .revoke_application(&alice, &app.id, None)
        .await
        .unwrap();
    // Another account's changes go to its own webhooks, not to these.
    let eve = admin("eve", "other");
    w.service
        .create_application(&eve, &fixtures::application("eves"), None)
        .await
        .unwrap();

    let expected: Vec<Value> = w
        .audit("acme")
        .await
        .iter()
        .filter_map(Event::from_audit)
        .map(|e| serde_json::from_slice(&e.body()).unwrap())
        .collect();
    w.settle().await;
    let received = receiver.wait_for(expected.len()).await;
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| {
            assert_eq!(r["verified"], true, "{r}");
            serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(bodies, expected);
    for (r, body) in received.iter().zip(&bodies) {
        assert_eq!(r["webhook_id"], body["id"]);
        assert!(
            !has_field(body, "hash") && !has_field(body, "secret"),
            "{body}"
        );
        for secret in [first.secret.expose(), second.secret.expose(), &secret] {
            assert!(!r["body"].as_str().unwrap().contains(secret));
        }
    }
    let types: BTreeSet<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    let causable: BTreeSet<&str> = EventType::ALL
        .iter()
        .filter(|t| **t != EventType::KeyLeaked)
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, causable);
    assert!(bodies.iter().any(|b| b["object"]["id"] == bobs.id));
    // Delivered once each: nothing more comes.
    w.settle().await;
    assert_eq!(receiver.received().await.0.len(), expected.len());
}

/// A receiver that fails, times out, redirects and closes the connection
/// gets the delivery again after 5 s, 5 min, 30 min and 2 h, not before;
/// the fifth attempt succeeds and the record says so. The redirect is
/// never followed.
#[tokio::test]
async fn failed_attempts_are_retried_on_the_schedule_until_one_succeeds() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let w = world(insecure(), Duration::from_secs(1));
    let alice = admin("alice", "acme");
    let (webhook, secret) = w
        .webhook(
            &alice,
            receiver.url("/hook"),
            Some(&["application.created"]),
        )
        .await;
    receiver
        .control(&secret, &["fail", "timeout", "redirect", "close"])
        .await;
    w.service
        .create_application(&alice, &fixtures::application("shop"), None)
        .await
        .unwrap();
    let deliveries = || async {
        w.service
            .list_webhook_deliveries(&alice, &webhook, &PageQuery::default())
            .await
            .unwrap()
            .items
    };
    let expected_errors = [
        (Some(500), AttemptError::HttpStatus),
        (None, AttemptError::Timeout),
        (Some(302), AttemptError::RedirectNotFollowed),
        (None, AttemptError::ConnectionFailed),
    ];
    for (attempt, pause) in [0i64, 5, 300, 1_800, 7_200].into_iter().enumerate() {
        if pause > 0 {
            // A second early: nothing is sent.
            w.clock.advance(pause - 1);
            w.settle().await;
            assert_eq!(receiver.received().await.0.len(), attempt, "early retry");
            w.clock.advance(1);
        }
        w.settle().await;
        assert_eq!(receiver.received().await.0.len(), attempt + 1);
        let record = deliveries().await.remove(0);
        assert_eq!(record.attempts as usize, attempt + 1);
        match expected_errors.get(attempt) {
            Some(&(status, error)) => {
                assert_eq!(record.status, DeliveryStatus::Pending);
                assert_eq!(
                    (record.response_status, record.error),
                    (status, Some(error))
                );
                let next = keyward::events::schedule::RETRY_DELAYS[attempt];
                assert_eq!(record.next_attempt_at, Some(w.clock.now() + next));
            }
            None => {
                assert_eq!(record.status, DeliveryStatus::Delivered);
                assert_eq!(record.response_status, Some(204));
                assert_eq!(record.next_attempt_at, None);
            }
        }
    }
    let (received, redirected) = receiver.received().await;
    assert_eq!(redirected, 0, "a redirect was followed");
    let ids: BTreeSet<&str> = received
        .iter()
        .map(|r| r["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every attempt carries the event's id");
}

/// A receiver that answers with an endless body costs one attempt: the
/// answer's status counts, its body is not read.
#[tokio::test]
async fn an_endless_answer_body_is_not_read() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let w = world(insecure(), Duration::from_secs(10));
    let alice = admin("alice", "acme");
    let (webhook, secret) = w.webhook(&alice, receiver.url("/hook"), None).await;
    receiver.control(&secret, &["huge"]).await;
    w.service
        .create_application(&alice, &fixtures::application("shop"), None)
        .await
        .unwrap();
    let started = Instant::now();
    w.settle().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let record = w
        .service
        .list_webhook_deliveries(&alice, &webhook, &PageQuery::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(record.response_status, Some(200));
}

/// One account's receiver hanging until the timeout does not hold back
/// another account's delivery.
#[tokio::test]
async fn a_slow_receiver_does_not_delay_another_accounts_deliveries() {
    let (Some(slow), Some(quick)) = (Receiver::start(), Receiver::start()) else {
        return;
    };
    let w = world(insecure(), Duration::from_secs(8));
    let (alice, eve) = (admin("alice", "acme"), admin("eve", "other"));
    let (_, slow_secret) = w.webhook(&alice, slow.url("/hook"), None).await;
    let (_, quick_secret) = w.webhook(&eve, quick.url("/hook"), None).await;
    slow.control(&slow_secret, &["timeout"]).await;
    quick.control(&quick_secret, &[]).await;
    w.service
        .create_application(&alice, &fixtures::application("a"), None)
        .await
        .unwrap();
    w.service
        .create_application(&eve, &fixtures::application("e"), None)
        .await
        .unwrap();
    let started = Instant::now();
    w.outbox.round().await.unwrap();
    quick.wait_for(1).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the quick receiver waited {:?}",
        started.elapsed()
    );
    assert!(!w.deliverer.is_idle(), "the slow attempt is still running");
}

/// Filters, disabling and deleting decide what is delivered; bad filters
/// and the eleventh webhook are refused with stable codes.
#[tokio::test]
async fn filters_disabled_and_deleted_webhooks_and_the_limit() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let w = world(insecure(), Duration::from_secs(5));
    let alice = admin("alice", "acme");
    let (filtered, secret) = w
        .webhook(&alice, receiver.url("/filtered"), Some(&["key.revoked"]))
        .await;
    receiver.control(&secret, &[]).await;
    let (disabled, _) = w.webhook(&alice, receiver.url("/disabled"), None).await;
    let (deleted, _) = w.webhook(&alice, receiver.url("/deleted"), None).await;
    w.service
        .update_webhook(
            &alice,
            &disabled,
            &keyward::service::UpdateWebhook {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.service.delete_webhook(&alice, &deleted).await.unwrap();
    assert!(matches!(
        w.service.get_webhook(&alice, &deleted).await,
        Err(ApiError::WebhookNotFound)
    ));
    let app = w
        .service
        .create_application(&alice, &fixtures::application("shop"), None)
        .await
        .unwrap();
    let key = w
        .service
        .create_key(&alice, &app.id, &fixtures::key("k"), None)
        .await
        .unwrap();
    w.service
        .revoke_key(&alice, &key.key.id, None)
        .await
        .unwrap();
    w.settle().await;
    let received = receiver.wait_for(1).await;
    w.settle().await;
    let received_after = receiver.received().await.0;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received_after.len(), 1);
    assert_eq!(received[0]["path"], "/filtered");
    assert!(
        received[0]["body"]
            .as_str()
            .unwrap()
            .contains("\"key.revoked\"")
    );
    let page = w
        .service
        .list_webhook_deliveries(&alice, &filtered, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);

    for events in [vec!["key.exploded"], vec![]] {
        let refused = w
            .service
            .create_webhook(
                &alice,
                &CreateWebhook {
                    url: receiver.url("/x"),
                    events: Some(events.iter().map(|e| e.to_string()).collect()),
                    description: String::new(),
                },
                None,
            )
            .await;
        assert!(matches!(refused, Err(ApiError::InvalidEventTypes(_))));
    }
    // Three made (one deleted), so eight more fit under ten.
    for n in 0..8 {
        w.webhook(&alice, receiver.url(&format!("/more{n}")), None)
            .await;
    }
    let over = w
        .service
        .create_webhook(
            &alice,
            &CreateWebhook {
                url: receiver.url("/eleventh"),
                events: None,
                description: String::new(),
            },
            None,
        )
        .await;
    assert!(matches!(over, Err(ApiError::WebhookLimitReached(10))));
}
