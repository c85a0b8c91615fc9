//! The service's rules over the store in time and across objects: expiry
//! from the clock, grace periods, idempotent replays, verdicts in views,
//! revocation, offboarding, expiry notices.

use crate::fixtures;
use crate::items::*;
use crate::service::*;
use keyward::auth::Caller;
use keyward::service::{CreateKey, PageQuery, RegenerateKey};
use keyward::store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wasm_validator::{ApplicationStatus, StoredKeyStatus, VerdictCode};

pub async fn expiry_is_derived_from_the_clock_on_every_read(store: Arc<dyn Store>) {
    let h = harness(store);
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let soon = CreateKey {
        expires_at: Some(keyward::domain::rfc3339::format(T0 + 60)),
        ..fixtures::key("soon")
    };
    let (id, secret) = create_key(&h, &alice, &app, &soon).await;
    for i in 0..9 {
        create_key(&h, &alice, &app, &fixtures::key(&format!("k{i}"))).await;
    }
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    let err = h
        .service
        .create_key(&alice, &app, &fixtures::key("eleventh"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "KEY_LIMIT_REACHED");
    h.clock.advance(60);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Expired);
    let view = h.service.get_key(&alice, &id).await.unwrap();
    assert_eq!(serde_json::to_value(view.status).unwrap(), "expired");
    // An expired key frees its slot, and can only be deleted.
    create_key(&h, &alice, &app, &fixtures::key("eleventh")).await;
    for refused in [
        h.service.enable_key(&alice, &id, None).await.err(),
        h.service.disable_key(&alice, &id, None).await.err(),
        h.service
            .regenerate_key(&alice, &id, &RegenerateKey::default(), None)
            .await
            .err(),
    ] {
        assert_eq!(refused.map(|e| e.code()), Some("KEY_EXPIRED"));
    }
    let revoked = h.service.revoke_key(&alice, &id, None).await.unwrap();
    assert_eq!(revoked.verdict, VerdictCode::Revoked);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Revoked);
}

pub async fn a_grace_period_ends_in_revocation(store: Arc<dyn Store>) {
    let h = harness(store);
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (id, old) = create_key(&h, &alice, &app, &fixtures::key("rotating")).await;
    let input = RegenerateKey {
        expires_at: None,
        grace_seconds: Some(120),
    };
    let reply = h
        .service
        .regenerate_key(&alice, &id, &input, None)
        .await
        .unwrap();
    assert_eq!(reply.key.name, "rotating");
    assert_eq!(reply.key.replaces.as_deref(), Some(id.as_str()));
    let new = reply.secret;
    assert_eq!(verdict(&h, &old).await, VerdictCode::Valid);
    assert_eq!(verdict(&h, &new).await, VerdictCode::Valid);
    h.clock.advance(120);
    assert_eq!(verdict(&h, &old).await, VerdictCode::Revoked);
    assert_eq!(verdict(&h, &new).await, VerdictCode::Valid);
    let page = h
        .service
        .list_keys(&alice, &app, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        1,
        "the retired key is hidden once revoked"
    );
}

/// Account "col\0b" with user "c" and account "col" with user "b\0c"
/// once shared one idempotency scope: the second replayed the first's
/// answer, secret included. Now each gets its own answer.
pub async fn idempotency_records_replay_only_to_their_caller(store: Arc<dyn Store>) {
    use keyward::idempotency::{Idempotency, fingerprint};
    let h = harness(store.clone());
    let in_account = |account: &str, user: &str| Caller {
        account: account.into(),
        ..admin(user)
    };
    let (a, b) = (in_account("col\u{0}b", "c"), in_account("col", "b\u{0}c"));
    let mut secrets = Vec::new();
    for caller in [&a, &b] {
        let input = fixtures::application("billing");
        let idem = Idempotency::new(
            "deploy-42",
            caller,
            fingerprint("POST", "/applications", b"{}"),
        )
        .unwrap();
        let app = h
            .service
            .create_application(caller, &input, Some(&idem))
            .await
            .unwrap();
        let app = app.id;
        // The same Idempotency-Key and request path for both callers.
        let idem = Idempotency::new(
            "deploy-43",
            caller,
            fingerprint("POST", "/applications/same/keys", b"{}"),
        )
        .unwrap();
        let reply = h
            .service
            .create_key(caller, &app, &fixtures::key("deploy"), Some(&idem))
            .await
            .unwrap();
        assert_eq!(reply.key.account, caller.account);
        secrets.push(reply.secret.expose().to_owned());
    }
    assert_ne!(secrets[0], secrets[1], "B was answered with A's secret");
    assert_eq!(store.list_applications("col").await.unwrap().len(), 1);
    assert_eq!(store.list_applications("col\u{0}b").await.unwrap().len(), 1);
}

/// Regenerate-with-grace then revoke the replacement once freed a slot
/// while the old key kept verifying: round after round, 30 keys of one
/// application answered VALID with a limit of 10.
pub async fn grace_periods_cannot_lift_the_key_limit(store: Arc<dyn Store>) {
    let h = harness(store.clone());
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let mut secrets = Vec::new();
    for i in 0..10 {
        secrets.push(create_key(&h, &alice, &app, &fixtures::key(&format!("k{i}"))).await);
    }
    for round in 0..3 {
        let ids: Vec<String> = secrets.iter().map(|(id, _)| id.clone()).collect();
        for id in ids {
            if store
                .get_key(&id)
                .await
                .unwrap()
                .unwrap()
                .replaced_by
                .is_some()
            {
                continue;
            }
            let input = RegenerateKey {
                expires_at: None,
                grace_seconds: Some(3600),
            };
            if let Ok(reply) = h.service.regenerate_key(&alice, &id, &input, None).await {
                let replacement = reply.key.id;
                h.service
                    .revoke_key(&alice, &replacement, None)
                    .await
                    .unwrap();
            }
        }
        for i in 0..10 {
            let input = fixtures::key(&format!("round {round} k{i}"));
            match h.service.create_key(&alice, &app, &input, None).await {
                Ok(reply) => secrets.push((reply.key.id, reply.secret)),
                Err(e) => assert_eq!(e.code(), "KEY_LIMIT_REACHED"),
            }
        }
        let mut valid = 0;
        for (_, secret) in &secrets {
            if verdict(&h, secret).await == VerdictCode::Valid {
                valid += 1;
            }
        }
        assert!(
            valid <= 10,
            "round {round}: {valid} keys verify in one application"
        );
    }
    // A revoked replacement gives its place back to the old key, which
    // counts again until its grace period ends; then it frees its slot.
    h.clock.advance(3600);
    create_key(&h, &alice, &app, &fixtures::key("after the grace period")).await;
}

/// Reads never show a key as working that verification refuses: a key
/// created by another user in an offboarded user's application stays
/// `active`, and its view says `OWNER_DELETED` as verify does.
pub async fn key_views_carry_the_verdict_verification_gives(store: Arc<dyn Store>) {
    let h = harness(store);
    let (alice, bob) = (admin("alice"), admin("bob"));
    let bobs_app = create_app(&h, &bob).await;
    let (id, secret) = create_key(&h, &alice, &bobs_app, &fixtures::key("alice in bob's")).await;
    let view = |v: keyward::domain::KeyView| serde_json::to_value(v).unwrap();
    let before = view(h.service.get_key(&alice, &id).await.unwrap());
    assert_eq!(before["verdict"], "VALID");
    h.service.offboard_user(&alice, "bob", None).await.unwrap();
    let refused = verdict(&h, &secret).await;
    assert_eq!(refused, VerdictCode::OwnerDeleted);
    let after = view(h.service.get_key(&alice, &id).await.unwrap());
    assert_eq!(after["status"], "active");
    assert_eq!(after["verdict"], refused.as_str());
    let listed = h
        .service
        .list_keys(&alice, &bobs_app, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&listed.items[0]).unwrap()["verdict"],
        "OWNER_DELETED"
    );
    h.service.disable_key(&alice, &id, None).await.unwrap();
    let disabled = view(h.service.get_key(&alice, &id).await.unwrap());
    assert_eq!(disabled["verdict"], verdict(&h, &secret).await.as_str());
}

pub async fn revoking_an_application_revokes_its_keys_atomically(store: Arc<dyn Store>) {
    let h = harness(store.clone());
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (_, first) = create_key(&h, &alice, &app, &fixtures::key("a")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (service, alice, app) = (h.service.clone(), alice.clone(), app.clone());
        tasks.spawn(async move {
            service
                .create_key(&alice, &app, &fixtures::key(&format!("k{i}")), None)
                .await
                .is_ok()
        });
    }
    h.service
        .revoke_application(&alice, &app, None)
        .await
        .unwrap();
    while tasks.join_next().await.is_some() {}
    // Whatever interleaving: no key of a revoked application works.
    for k in store.list_application_keys(&app).await.unwrap() {
        assert_eq!(k.application_status, ApplicationStatus::Revoked, "{k:?}");
        assert_eq!(k.status, StoredKeyStatus::Revoked);
    }
    assert_eq!(verdict(&h, &first).await, VerdictCode::ApplicationRevoked);
    let err = h
        .service
        .create_key(&alice, &app, &fixtures::key("late"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "APPLICATION_REVOKED");
}

pub async fn offboarding_stops_the_users_applications_and_keys(store: Arc<dyn Store>) {
    let h = harness(store);
    let (alice, bob) = (admin("alice"), admin("bob"));
    let bobs_app = create_app(&h, &bob).await;
    let alices_app = create_app(&h, &alice).await;
    let (_, in_bobs_app) =
        create_key(&h, &alice, &bobs_app, &fixtures::key("alice in bob's")).await;
    let (_, bobs_key) = create_key(&h, &bob, &alices_app, &fixtures::key("bob in alice's")).await;
    let (_, alices_key) = create_key(&h, &alice, &alices_app, &fixtures::key("alice's")).await;
    let reply = h.service.offboard_user(&alice, "bob", None).await.unwrap();
    assert_eq!(reply.keys.len(), 2);
    assert_eq!(verdict(&h, &in_bobs_app).await, VerdictCode::OwnerDeleted);
    assert_eq!(verdict(&h, &bobs_key).await, VerdictCode::OwnerDeleted);
    assert_eq!(verdict(&h, &alices_key).await, VerdictCode::Valid);
    let err = h
        .service
        .create_key(&bob, &alices_app, &fixtures::key("again"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "USER_OFFBOARDED");
}

pub async fn expiry_notices_once_per_key_and_day(store: Arc<dyn Store>) {
    let h = harness(store.clone());
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let in_days = |d: i64| CreateKey {
        expires_at: Some(keyward::domain::rfc3339::format(T0 + d * DAY)),
        ..fixtures::key("k")
    };
    let (soon, _) = create_key(&h, &alice, &app, &in_days(3)).await;
    create_key(&h, &alice, &app, &in_days(100)).await;
    let first = h.service.notify_expiring().await.unwrap();
    let second = h.service.notify_expiring().await.unwrap();
    assert_eq!((first.sent, first.already_sent), (1, 0));
    assert_eq!((second.sent, second.already_sent), (0, 1));
    assert_eq!(h.published.0.load(Ordering::SeqCst), 1, "published once");
    let notices = h
        .service
        .list_notifications(&alice, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(notices.items.len(), 1);
    assert_eq!(notices.items[0].key_id, soon);
    assert_eq!(notices.items[0].days_left, 3);
    h.clock.advance(DAY);
    assert_eq!(
        h.service.notify_expiring().await.unwrap().sent,
        1,
        "a new day, a new notice"
    );
    assert_eq!(
        store
            .list_notices("acct", "alice", 10, None)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}
