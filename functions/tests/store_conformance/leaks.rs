//! The leak response and dormant keys, on each store: each action once,
//! labels for dead keys, and the dormant key's notice then its disable.

use crate::fixtures;
use crate::github::{GithubSigner, batch};
use crate::items::*;
use crate::service::*;
use keyward::config::Config;
use keyward::domain::NoticeKind;
use keyward::leaks::LeakAction;
use keyward::leaks::keyring::GithubKeyring;
use keyward::secret::Secret;
use keyward::service::{CreateKey, PageQuery};
use keyward::store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wasm_validator::VerdictCode;

fn copy(secret: &Secret) -> Secret {
    Secret::new(secret.expose().to_owned())
}

/// The account's audit events with this action, oldest first.
async fn audited(h: &Harness, action: &str) -> Vec<keyward::domain::AuditEvent> {
    let page = h
        .service
        .list_audit(
            &admin("alice"),
            &PageQuery {
                limit: Some(100),
                cursor: None,
            },
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .rev()
        .filter(|e| e.action == action)
        .collect()
}

pub async fn each_leak_action_is_taken_once(store: Arc<dyn Store>) {
    let url = "https://pastebin.example/leak";
    for (action, expected) in [
        (LeakAction::Revoke, VerdictCode::Revoked),
        (LeakAction::Disable, VerdictCode::Disabled),
        (LeakAction::Notify, VerdictCode::Valid),
    ] {
        let h = harness_with(
            store.clone(),
            Config {
                leak_action: action,
                ..Config::default()
            },
        );
        let alice = admin("alice");
        let app = create_app(&h, &alice).await;
        let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("k")).await;
        let before = audited(&h, "key.leaked").await.len();
        for _ in 0..2 {
            let received = h
                .service
                .report_leaked_keys(&[copy(&secret)], Some(url))
                .await
                .unwrap();
            assert_eq!(received, 1);
        }
        assert_eq!(verdict(&h, &secret).await, expected, "{action:?}");
        let view = h.service.get_key(&alice, &id).await.unwrap();
        let leak = view.leak.expect("the leak is on the key");
        assert_eq!(
            (leak.found_by.as_str(), leak.url.as_deref(), leak.action),
            ("leak-report", Some(url), action)
        );
        let events = audited(&h, "key.leaked").await;
        assert_eq!(events.len(), before + 1, "{action:?}: acted on once");
        let event = events
            .iter()
            .find(|e| e.target_id == id)
            .expect("its event");
        assert_eq!(
            (event.actor.as_str(), event.target_id.as_str()),
            ("leak-report", id.as_str())
        );
        assert_eq!(event.after.as_ref().unwrap()["leak"]["url"], url);
        let notices = h
            .service
            .list_notifications(&alice, &PageQuery::default())
            .await
            .unwrap()
            .items;
        let leaked: Vec<_> = notices
            .iter()
            .filter(|n| n.kind == NoticeKind::Leaked && n.key_id == id)
            .collect();
        assert_eq!(leaked.len(), 1, "{action:?}");
        assert_eq!(leaked[0].url.as_deref(), Some(url));
        assert_eq!(
            h.published.0.load(Ordering::SeqCst),
            1,
            "{action:?}: published once"
        );
    }
}

pub async fn github_labels_dead_keys_true_and_acts_only_on_live_ones(store: Arc<dyn Store>) {
    let github = GithubSigner::new();
    let mut h = harness(store);
    let keyring = GithubKeyring::from_setting(&github.public_keys()).unwrap();
    h.service = Arc::new(
        Arc::into_inner(h.service)
            .unwrap()
            .with_github_keys(Arc::new(keyring)),
    );
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let soon = keyward::domain::rfc3339::format(T0 + DAY);
    let (expired_id, expired) = create_key(
        &h,
        &alice,
        &app,
        &CreateKey {
            expires_at: Some(soon),
            ..fixtures::key("expiring")
        },
    )
    .await;
    let (revoked_id, revoked) = create_key(&h, &alice, &app, &fixtures::key("revoked")).await;
    h.service
        .revoke_key(&alice, &revoked_id, None)
        .await
        .unwrap();
    h.clock.advance(2 * DAY);
    let body = batch(&[expired.expose(), revoked.expose(), "kw_nope"]);
    let labels = h
        .service
        .report_github_matches(Some(&github.identifier), Some(&github.sign(&body)), &body)
        .await
        .unwrap();
    let labels: Vec<String> = labels
        .iter()
        .map(|l| {
            serde_json::to_value(l).unwrap()["label"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(labels, ["true_positive", "true_positive", "false_positive"]);
    assert!(
        audited(&h, "key.leaked").await.is_empty(),
        "dead keys are not acted on"
    );
    for id in [&expired_id, &revoked_id] {
        assert!(h.service.get_key(&alice, id).await.unwrap().leak.is_none());
    }
}

pub async fn a_dormant_key_is_noticed_then_disabled_once(store: Arc<dyn Store>) {
    // A short validity: the job reads every unexpired key by expiry day.
    let h = harness_with(
        store.clone(),
        Config {
            disable_unused_after_days: 30,
            default_validity_days: 60,
            max_validity_days: 60,
            ..Config::default()
        },
    );
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (never, never_secret) = create_key(&h, &alice, &app, &fixtures::key("never")).await;
    let (used_early, _) = create_key(&h, &alice, &app, &fixtures::key("early")).await;
    let (used_often, _) = create_key(&h, &alice, &app, &fixtures::key("often")).await;
    store
        .record_key_use(&[(used_early.clone(), T0 + 10 * DAY)])
        .await
        .unwrap();
    let dormant_notices = |h: &Harness| {
        let service = h.service.clone();
        async move {
            let mut ids: Vec<String> = service
                .list_notifications(
                    &admin("alice"),
                    &PageQuery {
                        limit: Some(100),
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|n| n.kind == NoticeKind::Dormant)
                .map(|n| n.key_id)
                .collect();
            ids.sort();
            ids
        }
    };
    let disabled = |h: &Harness| {
        let service = h.service.clone();
        async move {
            let mut ids: Vec<String> = audited_by(&service, "policy:dormant").await;
            ids.sort();
            ids
        }
    };
    // Day by day, with one key in use all along; the job runs twice on
    // the days around each step (and once on day 1).
    for day in 1..=41 {
        h.clock.advance(DAY);
        store
            .record_key_use(&[(used_often.clone(), T0 + day * DAY)])
            .await
            .unwrap();
        if ![1, 22, 23, 29, 30, 32, 33, 39, 40, 41].contains(&day) {
            continue;
        }
        for _ in 0..2 {
            h.service.notify_expiring().await.unwrap();
        }
        let (noticed, off) = (dormant_notices(&h).await, disabled(&h).await);
        match day {
            // Unused since creation: the notice on day 23, the disable on 30.
            ..=22 => assert!(noticed.is_empty() && off.is_empty(), "day {day}"),
            23..=29 => assert_eq!((noticed, off), (vec![never.clone()], vec![]), "day {day}"),
            // Used on day 10: its notice on day 33, its disable on day 40.
            30..=32 => assert_eq!(
                (noticed, off),
                (vec![never.clone()], vec![never.clone()]),
                "day {day}"
            ),
            33..=39 => {
                let mut both = vec![never.clone(), used_early.clone()];
                both.sort();
                assert_eq!((noticed, off), (both, vec![never.clone()]), "day {day}")
            }
            _ => {
                let mut both = vec![never.clone(), used_early.clone()];
                both.sort();
                assert_eq!((noticed.clone(), off), (both.clone(), both), "day {day}")
            }
        }
    }
    assert_eq!(verdict(&h, &never_secret).await, VerdictCode::Disabled);
    let view = h.service.get_key(&alice, &never).await.unwrap();
    assert_eq!(view.disabled_by.as_deref(), Some("policy:dormant"));
    // Enabled again, it starts afresh: no disable the next day.
    h.service.enable_key(&alice, &never, None).await.unwrap();
    h.clock.advance(DAY);
    h.service.notify_expiring().await.unwrap();
    assert_eq!(verdict(&h, &never_secret).await, VerdictCode::Valid);
}

async fn audited_by(service: &keyward::service::Service, actor: &str) -> Vec<String> {
    service
        .list_audit(
            &admin("alice"),
            &PageQuery {
                limit: Some(100),
                cursor: None,
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.actor == actor)
        .map(|e| e.target_id)
        .collect()
}
