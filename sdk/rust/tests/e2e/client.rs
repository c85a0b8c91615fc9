//! The client against a live `keyward serve`: every method once, the
//! idempotency key, the typed errors; and every answer kept by the SDK's
//! types read back unchanged and fitting the OpenAPI document.

use crate::schema;
use crate::support::{ACCOUNT, Server, now};
use keyward_sdk::types::*;
use keyward_sdk::{Client, Error};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

fn app_named(name: &str) -> CreateApplication {
    CreateApplication {
        name: name.into(),
        description: Some("made by the SDK tests".into()),
        key_prefix: Some("acme".into()),
    }
}

fn key_named(name: &str) -> CreateKey {
    CreateKey {
        name: name.into(),
        scopes: vec!["sims:read".into()],
        ..CreateKey::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_lifecycle_against_a_live_server() {
    let server = Server::start();
    let admin = server.admin("alice");

    // Applications, with an idempotent create.
    let app = admin
        .create_application(&app_named("billing"))
        .idempotency_key("sdk-app-1")
        .await
        .unwrap();
    assert_eq!(
        (app.account.as_str(), app.key_prefix.as_str()),
        (ACCOUNT, "acme")
    );
    let again = admin
        .create_application(&app_named("billing"))
        .idempotency_key("sdk-app-1")
        .await
        .unwrap();
    assert_eq!(
        again.id, app.id,
        "a retry with the same key creates nothing"
    );
    let reused = admin
        .create_application(&app_named("other"))
        .idempotency_key("sdk-app-1")
        .await
        .unwrap_err();
    assert_eq!(
        (reused.status(), reused.code()),
        (Some(422), Some("IDEMPOTENCY_KEY_REUSED"))
    );
    let apps = admin
        .list_applications(&ListOptions::default())
        .await
        .unwrap();
    assert_eq!(apps.items.iter().filter(|a| a.id == app.id).count(), 1);
    assert_eq!(admin.get_application(&app.id).await.unwrap(), app);
    let renamed = admin
        .update_application(
            &app.id,
            &UpdateApplication {
                name: Some("invoices".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "invoices");

    // Keys: create (idempotent), page through, change, verify.
    let created = admin
        .create_key(&app.id, &key_named("ci"))
        .idempotency_key("sdk-key-1")
        .await
        .unwrap();
    assert!(created.secret.expose().starts_with("acme_"));
    assert!(!format!("{created:?}").contains(created.secret.expose()));
    let replay = admin
        .create_key(&app.id, &key_named("ci"))
        .idempotency_key("sdk-key-1")
        .await
        .unwrap();
    assert_eq!(replay.key.id, created.key.id);
    let id = created.key.id.clone();
    for name in ["second", "third"] {
        admin.create_key(&app.id, &key_named(name)).await.unwrap();
    }
    let mut options = ListOptions {
        limit: Some(1),
        cursor: None,
    };
    let mut seen = Vec::new();
    loop {
        let page = admin.list_keys(&app.id, &options).await.unwrap();
        assert!(page.items.len() <= 1);
        seen.extend(page.items.iter().map(|k| k.name.clone()));
        match options.after(&page) {
            Some(next) => options = next,
            None => break,
        }
    }
    // Oldest first; keys made in the same second come in id order.
    seen.sort();
    assert_eq!(seen, ["ci", "second", "third"]);
    assert_eq!(admin.get_key(&id).await.unwrap().name, "ci");
    let limited = admin
        .update_key(
            &id,
            &UpdateKey {
                rate_limits: Patch::Set(vec![RateLimit {
                    name: "minute".into(),
                    limit: 100,
                    window_seconds: 60,
                }]),
                allowed_ips: Patch::Set(vec!["127.0.0.1".into()]),
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.rate_limits.len(), 1);
    assert_eq!(limited.allowed_ips, ["127.0.0.1/32"]);
    let cleared = admin
        .update_key(
            &id,
            &UpdateKey {
                rate_limits: Patch::Clear,
                allowed_ips: Patch::Clear,
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap();
    assert!(cleared.rate_limits.is_empty() && cleared.allowed_ips.is_empty());

    let verify = |scope: &'static str| {
        let admin = admin.clone();
        let secret = created.secret.clone();
        async move {
            admin
                .verify(&VerifyRequest::new(secret.expose()).scopes([scope]))
                .await
                .unwrap()
        }
    };
    let verdict = verify("sims:read").await;
    assert!(verdict.valid);
    assert_eq!(verdict.key_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        verify("sims:write").await.code,
        VerdictCode::InsufficientScope
    );

    let disabled = admin.disable_key(&id).await.unwrap();
    assert_eq!(disabled.status, KeyStatus::Disabled);
    assert_eq!(disabled.disabled_by.as_deref(), Some("alice"));
    assert_eq!(verify("sims:read").await.code, VerdictCode::Disabled);
    assert_eq!(
        admin.enable_key(&id).await.unwrap().status,
        KeyStatus::Active
    );

    // The record is the core's type: the core accepts the key against it.
    let record = admin.get_key_record(&id).await.unwrap();
    assert_eq!(record.key_id, id);
    let local = keyward_sdk::wasm_validator::validate(
        created.secret.expose(),
        Some(&record),
        &["sims:read"],
        now(),
        None,
    );
    assert_eq!(local.code, VerdictCode::Valid);

    let regenerated = admin
        .regenerate_key(
            &id,
            &RegenerateKey {
                grace_seconds: Some(60),
                ..RegenerateKey::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(regenerated.key.replaces.as_deref(), Some(id.as_str()));
    let old = admin.get_key(&id).await.unwrap();
    assert_eq!(
        old.replaced_by.as_deref(),
        Some(regenerated.key.id.as_str())
    );
    assert!(old.revoke_at.is_some_and(|t| t > OffsetDateTime::now_utc()));
    let revoked = admin.revoke_key(&regenerated.key.id).await.unwrap();
    assert_eq!(revoked.status, KeyStatus::Revoked);

    // Leak reports need no token and say nothing about the keys.
    let anonymous = Client::builder(&server.base).build().unwrap();
    let receipt = anonymous
        .report_leaked_keys(&["kw_not-a-key", created.secret.expose()], None)
        .await
        .unwrap();
    assert_eq!(receipt.received, 2);

    // Webhooks.
    let hook = admin
        .create_webhook(&CreateWebhook {
            url: "https://hooks.example.com/keyward".into(),
            events: Some(vec![EventType::KeyRevoked, EventType::KeyCreated]),
            description: None,
        })
        .idempotency_key("sdk-hook-1")
        .await
        .unwrap();
    assert!(hook.secret.expose().starts_with("whsec_"));
    assert_eq!(
        hook.webhook.events,
        [EventType::KeyCreated, EventType::KeyRevoked]
    );
    let hooks = admin.list_webhooks(&ListOptions::default()).await.unwrap();
    assert_eq!(hooks.items, std::slice::from_ref(&hook.webhook));
    let changed = admin
        .update_webhook(
            &hook.webhook.id,
            &UpdateWebhook {
                events: Patch::Clear,
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(changed.events.is_empty() && !changed.enabled);
    assert_eq!(admin.get_webhook(&hook.webhook.id).await.unwrap(), changed);
    admin
        .list_webhook_deliveries(&hook.webhook.id, &ListOptions::default())
        .await
        .unwrap();
    admin.delete_webhook(&hook.webhook.id).await.unwrap();
    let gone = admin.get_webhook(&hook.webhook.id).await.unwrap_err();
    assert_eq!(
        (gone.status(), gone.code()),
        (Some(404), Some("WEBHOOK_NOT_FOUND"))
    );

    // Offboarding, revoking the application, and the audit log of it all.
    let bob = server.admin("bob");
    let bobs = bob.create_application(&app_named("bob's")).await.unwrap();
    let summary = admin.offboard_user("bob").await.unwrap();
    assert_eq!(
        (summary.user_id.as_str(), summary.applications.as_slice()),
        ("bob", [bobs.id.clone()].as_slice())
    );
    let app_revoked = admin.revoke_application(&app.id).await.unwrap();
    assert_eq!(app_revoked.status, ApplicationStatus::Revoked);
    let audit = admin
        .list_audit(&ListOptions {
            limit: Some(100),
            cursor: None,
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(AuditEvent::action).collect();
    for action in [
        "application.created",
        "key.created",
        "key.disabled",
        "key.regenerated",
        "webhook.created",
        "user.offboarded",
        "application.revoked",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    assert!(
        audit
            .items
            .iter()
            .any(|e| matches!(e, AuditEvent::Key(k) if k.target_id == id && k.after.is_some()))
    );
    let notices = admin
        .list_notifications(&ListOptions::default())
        .await
        .unwrap();
    assert!(
        notices
            .items
            .iter()
            .any(|n| n.kind == NoticeKind::Leaked && n.key_id == id),
        "{notices:?}"
    );

    // Typed errors.
    let missing = admin.get_key("0000000000000000000000").await.unwrap_err();
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("KEY_NOT_FOUND"))
    );
    let Error::Api(problem) = &missing else {
        panic!("{missing:?}")
    };
    assert_eq!(problem.type_, "urn:keyward:problem:key-not-found");
    let forged = Client::new(&server.base, "not.a.jwt")
        .unwrap()
        .get_key(&id)
        .await
        .unwrap_err();
    assert_eq!(
        (forged.status(), forged.code()),
        (Some(401), Some("TOKEN_INVALID"))
    );
    let reader = Client::new(&server.base, server.token("carol", "records:read", false)).unwrap();
    let denied = reader
        .create_application(&app_named("x"))
        .await
        .unwrap_err();
    assert_eq!(
        (denied.status(), denied.code()),
        (Some(403), Some("PERMISSION_DENIED"))
    );
    let down = Client::new(crate::support::closed_port().await, "t")
        .unwrap()
        .get_key(&id)
        .await
        .unwrap_err();
    assert!(matches!(down, Error::Transport(_)), "{down:?}");
}

/// `T` read from keyward's own JSON and written again gives that JSON back
/// (no field lost, renamed or reshaped), and it fits the document.
fn round_trip<T: DeserializeOwned + Serialize>(schema_name: &str, raw: &Value) -> T {
    schema::check(schema_name, raw);
    let typed: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{schema_name} does not read: {e}\n{raw:#}"));
    let written = serde_json::to_value(&typed).unwrap();
    assert_eq!(&written, raw, "{schema_name} changed in a round trip");
    typed
}

async fn get_raw(server: &Server, token: &str, path: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_round_trip_and_fit_the_openapi_document() {
    let server = Server::start();
    let token = server.token("alice", "sims:*", true);
    let admin = Client::new(&server.base, token.as_str()).unwrap();
    let app = admin
        .create_application(&app_named("schemas"))
        .await
        .unwrap();
    // A key with every optional part: usage controls, a leak, a successor.
    let full = CreateKey {
        description: Some("every field".into()),
        expires_at: Some(OffsetDateTime::from_unix_timestamp(now() + 86_400).unwrap()),
        rate_limits: Some(vec![RateLimit {
            name: "day".into(),
            limit: 10,
            window_seconds: 86_400,
        }]),
        credits: Some(Credits {
            remaining: 5,
            refill: Some(Refill {
                amount: 5,
                interval: RefillInterval::Daily,
            }),
        }),
        allowed_ips: Some(vec!["127.0.0.1".into(), "2001:db8::/32".into()]),
        ..key_named("full")
    };
    let created = admin.create_key(&app.id, &full).await.unwrap();
    let id = created.key.id.clone();
    admin
        .create_webhook(&CreateWebhook {
            url: "https://hooks.example.com/k".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let verify = serde_json::to_value(
        VerifyRequest::new(created.secret.expose())
            .source_ip("127.0.0.1".parse().unwrap())
            .cost(2),
    )
    .unwrap();
    schema::check("VerifyRequest", &verify);
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/verify", server.base))
        .json(&verify)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verdict: Verdict = round_trip("Verdict", &answer);
    assert_eq!(
        (verdict.credits_remaining, verdict.rate_limits.len()),
        (Some(3), 1)
    );
    // Regenerated first: the report then revokes the old key (the
    // server's default leak action), which could not be regenerated.
    admin
        .regenerate_key(
            &id,
            &RegenerateKey {
                grace_seconds: Some(3600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    admin
        .report_leaked_keys(
            &[created.secret.expose()],
            Some("https://example.com/paste"),
        )
        .await
        .unwrap();

    let key: Key = round_trip(
        "Key",
        &get_raw(&server, &token, &format!("/keys/{id}")).await,
    );
    assert!(
        key.usage.is_some()
            && key.leak.is_some()
            && key.credits.is_some()
            && key.replaced_by.is_some()
    );
    let record: KeyRecord = round_trip(
        "KeyRecord",
        &get_raw(&server, &token, &format!("/keys/{id}/record")).await,
    );
    assert!(record.metered && !record.allowed_ips.is_empty() && record.revoke_at.is_some());
    round_trip::<Application>(
        "Application",
        &get_raw(&server, &token, &format!("/applications/{}", app.id)).await,
    );
    round_trip::<Page<Application>>(
        "ApplicationPage",
        &get_raw(&server, &token, "/applications").await,
    );
    round_trip::<Page<Key>>(
        "KeyPage",
        &get_raw(&server, &token, &format!("/applications/{}/keys", app.id)).await,
    );
    let audit: Page<AuditEvent> =
        round_trip("AuditPage", &get_raw(&server, &token, "/audit").await);
    assert!(
        audit
            .items
            .iter()
            .any(|e| matches!(e, AuditEvent::Webhook(_)))
    );
    let notices: Page<Notice> = round_trip(
        "NoticePage",
        &get_raw(&server, &token, "/notifications").await,
    );
    assert!(!notices.items.is_empty());
    let hooks: Page<Webhook> =
        round_trip("WebhookPage", &get_raw(&server, &token, "/webhooks").await);
    // The server's outbox turns the changes above into deliveries within
    // moments (it polls every 100 ms).
    let path = format!("/webhooks/{}/deliveries", hooks.items[0].id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let deliveries: Page<Delivery> =
            round_trip("DeliveryPage", &get_raw(&server, &token, &path).await);
        if !deliveries.items.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery of the changes above"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The request bodies, every field set, fit their schemas too.
    schema::check("CreateKey", &serde_json::to_value(&full).unwrap());
    let requests = [
        (
            "CreateApplication",
            serde_json::to_value(app_named("x")).unwrap(),
        ),
        (
            "UpdateFields",
            serde_json::to_value(UpdateApplication {
                name: Some("n".into()),
                description: Some("d".into()),
            })
            .unwrap(),
        ),
        (
            "UpdateKey",
            serde_json::to_value(UpdateKey {
                name: Some("n".into()),
                description: Some("d".into()),
                rate_limits: Patch::Clear,
                credits: Patch::Set(Credits {
                    remaining: 1,
                    refill: None,
                }),
                allowed_ips: Patch::Set(vec!["10.0.0.0/8".into()]),
            })
            .unwrap(),
        ),
        (
            "RegenerateKey",
            serde_json::to_value(RegenerateKey {
                expires_at: Some(OffsetDateTime::now_utc()),
                grace_seconds: Some(5),
            })
            .unwrap(),
        ),
        (
            "CreateWebhook",
            serde_json::to_value(CreateWebhook {
                url: "https://h.example.com/".into(),
                events: Some(vec![EventType::UserOffboarded]),
                description: Some("d".into()),
            })
            .unwrap(),
        ),
        (
            "UpdateWebhook",
            serde_json::to_value(UpdateWebhook {
                url: Some("https://h.example.com/".into()),
                events: Patch::Clear,
                description: Some("d".into()),
                enabled: Some(true),
            })
            .unwrap(),
        ),
    ];
    for (name, value) in &requests {
        schema::check(name, value);
    }
}
