//! Regression tests for what the model found or points at, each run on
//! both stores by `on_both_stores!`.

use super::*;

/// An administrator of "acme" with every permission (Dave), and `user`
/// with the same permissions.
pub fn admin(user: &str) -> Caller {
    Caller {
        user_id: user.into(),
        ..User::Alice.caller()
    }
}

pub async fn new_app(service: &Service, caller: &Caller) -> String {
    let input = fixtures::application("app");
    let reply = service
        .create_application(caller, &input, None)
        .await
        .unwrap();
    reply.id
}

/// A new key: (id, secret).
pub async fn new_key(service: &Service, caller: &Caller, app: &str) -> (String, String) {
    let input = fixtures::key("key");
    let reply = service.create_key(caller, app, &input, None).await.unwrap();
    (reply.key.id, reply.secret.expose().to_owned())
}

pub async fn verdict_of(service: &Service, secret: &str) -> String {
    let request = VerifyRequest {
        key: Secret::new(secret.to_owned()),
        scopes: vec![],
    };
    let verdict = service.verify(&request).await.unwrap();
    serde_json::to_value(verdict.code)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Offboarding a user who owns ten applications of ten keys touches more
/// items than one DynamoDB transaction holds (100).
pub async fn offboarding_more_than_one_commit_holds(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, dave) = (admin("alice"), admin("dave"));
    let mut secrets = Vec::new();
    let mut apps = Vec::new();
    for _ in 0..DESIGN_LIMIT {
        let app = new_app(&sut.service, &alice).await;
        for _ in 0..DESIGN_LIMIT {
            secrets.push(new_key(&sut.service, &alice, &app).await.1);
        }
        apps.push(app);
    }
    let reply = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap_or_else(|e| panic!("offboarding failed: {e:?}"));
    assert_eq!((reply.applications.len(), reply.keys.len()), (10, 100));
    for secret in &secrets {
        assert_eq!(verdict_of(&sut.service, secret).await, "OWNER_DELETED");
    }
    for app in &apps {
        let view = sut.service.get_application(&dave, app).await.unwrap();
        assert_eq!(
            serde_json::to_value(view.owner_status).unwrap(),
            "deleted",
            "{app}"
        );
    }
    let err = sut
        .service
        .create_application(&alice, &fixtures::application("again"), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some("USER_OFFBOARDED"));
    // Offboarding again finds nothing left to mark.
    let again = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap();
    assert!(again.keys.is_empty());
    assert!(again.applications.is_empty());
}

/// Keys in a grace period do not count toward the limit, so an application
/// can hold many more live keys than ten; revoking it touches them all.
pub async fn revoking_an_application_with_more_live_keys_than_one_commit_holds(
    store: Arc<dyn Store>,
) {
    let sut = system(store, DESIGN_LIMIT);
    let alice = admin("alice");
    let app = new_app(&sut.service, &alice).await;
    let mut secrets = Vec::new();
    for _ in 0..DESIGN_LIMIT {
        let (mut id, secret) = new_key(&sut.service, &alice, &app).await;
        secrets.push(secret);
        for _ in 0..5 {
            let input = RegenerateKey {
                expires_at: None,
                grace_seconds: Some(DAY),
            };
            let reply = sut
                .service
                .regenerate_key(&alice, &id, &input, None)
                .await
                .unwrap();
            id = reply.key.id;
            secrets.push(reply.secret.expose().to_owned());
        }
    }
    assert_eq!(secrets.len(), 60);
    for secret in &secrets {
        assert_eq!(verdict_of(&sut.service, secret).await, "VALID");
    }
    let reply = sut
        .service
        .revoke_application(&alice, &app, None)
        .await
        .unwrap_or_else(|e| panic!("revoking the application failed: {e:?}"));
    assert_eq!(reply.status, wasm_validator::ApplicationStatus::Revoked);
    for secret in &secrets {
        assert_eq!(
            verdict_of(&sut.service, secret).await,
            "APPLICATION_REVOKED"
        );
    }
    let listed = sut
        .service
        .list_keys(&alice, &app, &PageQuery::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "{:?}", listed.items);
}

/// Found by the model: a user could regenerate someone else's key in its own
/// application and so obtain a new key with scopes it may not grant.
pub async fn regenerating_needs_the_scopes_the_new_key_carries(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, bob) = (User::Alice.caller(), User::Bob.caller());
    let bobs_app = new_app(&sut.service, &bob).await;
    let input = CreateKey {
        scopes: vec!["sims:write".into()],
        ..fixtures::key("write")
    };
    let reply = sut
        .service
        .create_key(&alice, &bobs_app, &input, None)
        .await
        .unwrap();
    let id = reply.key.id.as_str();
    let secret = reply.secret.expose();
    let err = sut
        .service
        .regenerate_key(&bob, id, &RegenerateKey::default(), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some("SCOPE_NOT_HELD"));
    assert_eq!(verdict_of(&sut.service, secret).await, "VALID");
    // Alice, who holds sims:*, may.
    sut.service
        .regenerate_key(&alice, id, &RegenerateKey::default(), None)
        .await
        .unwrap();
}

/// Found by the model: offboarding marked keys that were already dead by
/// time (expired, or past their grace period) as owner-deleted, so their
/// verdict changed from EXPIRED/REVOKED to OWNER_DELETED, while a key
/// revoked outright kept REVOKED. Like revoking an application, offboarding
/// now marks only live keys.
pub async fn offboarding_leaves_dead_keys_their_verdict(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, dave) = (admin("alice"), admin("dave"));
    let app = new_app(&sut.service, &alice).await;
    let expiring = CreateKey {
        scopes: vec![],
        expires_at: Some(rfc3339::format(T0 + 60)),
        ..fixtures::key("short")
    };
    let reply = sut
        .service
        .create_key(&alice, &app, &expiring, None)
        .await
        .unwrap();
    let expired = reply.secret.expose().to_owned();
    let (graced_id, graced) = new_key(&sut.service, &alice, &app).await;
    let regenerate = RegenerateKey {
        expires_at: None,
        grace_seconds: Some(30),
    };
    let replacement = sut
        .service
        .regenerate_key(&alice, &graced_id, &regenerate, None)
        .await
        .unwrap();
    let replacement = replacement.secret.expose().to_owned();
    let (revoked_id, revoked) = new_key(&sut.service, &alice, &app).await;
    sut.service
        .revoke_key(&alice, &revoked_id, None)
        .await
        .unwrap();
    sut.clock.advance(120);
    assert_eq!(verdict_of(&sut.service, &expired).await, "EXPIRED");
    assert_eq!(verdict_of(&sut.service, &graced).await, "REVOKED");
    let reply = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap();
    assert_eq!(reply.keys.len(), 1);
    assert_eq!(verdict_of(&sut.service, &expired).await, "EXPIRED");
    assert_eq!(verdict_of(&sut.service, &graced).await, "REVOKED");
    assert_eq!(verdict_of(&sut.service, &revoked).await, "REVOKED");
    assert_eq!(
        verdict_of(&sut.service, &replacement).await,
        "OWNER_DELETED"
    );
}
