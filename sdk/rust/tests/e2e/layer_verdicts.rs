//! The layer in an axum app in front of a live `keyward serve`: every
//! verdict a request can get, in both modes, with its status and problem;
//! and what the cache TTL means for a revocation.

use crate::support::{ACCOUNT, Server, app, now, serve, unknown_key, wrong_secret};
use keyward_sdk::Client;
use keyward_sdk::layer::{CacheConfig, VerifyKeyLayer};
use keyward_sdk::types::*;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::Value;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Remote,
    Local,
}

/// A layer of `mode` on `server`: local mode reads records with a token
/// that may do nothing else.
fn layer(server: &Server, mode: Mode, ttl: Duration) -> VerifyKeyLayer {
    match mode {
        Mode::Remote => VerifyKeyLayer::remote(Client::builder(&server.base).build().unwrap()),
        Mode::Local => {
            let reader = Client::new(&server.base, server.token("reader", "records:read", false));
            let cache = CacheConfig {
                ttl,
                ..CacheConfig::default()
            };
            VerifyKeyLayer::local(reader.unwrap(), cache)
        }
    }
}

/// Calls `path` of the app at `base` with `key` in `Authorization`.
async fn call(
    base: &str,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(key) = key {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    let answer = request.send().await.unwrap();
    let (status, headers) = (answer.status(), answer.headers().clone());
    (status, headers, answer.json().await.unwrap())
}

/// Expects a refusal with `status` and `code`, as a problem.
async fn refused(
    base: &str,
    path: &str,
    key: Option<&str>,
    status: u16,
    code: &str,
) -> reqwest::header::HeaderMap {
    let (got, headers, body) = call(base, path, key).await;
    assert_eq!(
        (got.as_u16(), body["code"].as_str()),
        (status, Some(code)),
        "{path}: {body}"
    );
    assert_eq!(headers[CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], status);
    let kind = format!(
        "urn:keyward:problem:{}",
        code.to_ascii_lowercase().replace('_', "-")
    );
    assert_eq!(body["type"], kind.as_str());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(headers.contains_key(WWW_AUTHENTICATE), status == 401);
    headers
}

/// Expects the service's answer: the verdict the layer handed it.
async fn accepted(base: &str, path: &str, key: &str, id: &str) -> Verdict {
    let (status, _, body) = call(base, path, Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let verdict: Verdict = serde_json::from_value(body).unwrap();
    assert!(verdict.valid);
    assert_eq!(
        (verdict.key_id.as_deref(), verdict.account.as_deref()),
        (Some(id), Some(ACCOUNT))
    );
    verdict
}

fn plain(name: &str) -> CreateKey {
    CreateKey {
        name: name.into(),
        scopes: vec!["sims:read".into()],
        ..CreateKey::default()
    }
}

async fn every_verdict(mode: Mode) {
    let server = Server::start();
    let admin = server.admin("alice");
    let app_id = admin
        .create_application(&CreateApplication {
            name: "sims".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let make = |body: CreateKey| {
        let (admin, app_id) = (admin.clone(), app_id.clone());
        async move { admin.create_key(&app_id, &body).await.unwrap() }
    };
    // Every state is set before the first request, so local mode caches
    // the records as they end up.
    let valid = make(plain("valid")).await;
    let expires_at = now() + 5;
    let expiring = make(CreateKey {
        expires_at: Some(OffsetDateTime::from_unix_timestamp(expires_at).unwrap()),
        ..plain("expiring")
    })
    .await;
    let disabled = make(plain("disabled")).await;
    admin.disable_key(&disabled.key.id).await.unwrap();
    let revoked = make(plain("revoked")).await;
    admin.revoke_key(&revoked.key.id).await.unwrap();
    let elsewhere = make(CreateKey {
        allowed_ips: Some(vec!["192.0.2.0/24".into()]),
        ..plain("elsewhere")
    })
    .await;
    let loopback = make(CreateKey {
        allowed_ips: Some(vec!["127.0.0.1".into()]),
        ..plain("loopback")
    })
    .await;
    let rate = make(CreateKey {
        rate_limits: Some(vec![RateLimit {
            name: "day".into(),
            limit: 1,
            window_seconds: 86_400,
        }]),
        ..plain("rate")
    })
    .await;
    let credits = make(CreateKey {
        credits: Some(Credits {
            remaining: 1,
            refill: None,
        }),
        ..plain("credits")
    })
    .await;
    let other_app = admin
        .create_application(&CreateApplication {
            name: "gone".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let app_revoked = admin
        .create_key(&other_app, &plain("app-revoked"))
        .await
        .unwrap();
    admin.revoke_application(&other_app).await.unwrap();
    let bob = server.admin("bob");
    let bobs_app = bob
        .create_application(&CreateApplication {
            name: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let bobs = bob.create_key(&bobs_app, &plain("bob's")).await.unwrap();
    admin.offboard_user("bob").await.unwrap();

    let layer = layer(&server, mode, Duration::from_secs(60));
    let base = serve(app(&layer)).await;
    let key = |created: &CreatedKey| created.secret.expose().to_owned();

    refused(&base, "/read", None, 401, "MALFORMED").await;
    refused(&base, "/read", Some("kw_truncated"), 401, "MALFORMED").await;
    let verdict = accepted(&base, "/read", &key(&valid), &valid.key.id).await;
    assert_eq!(verdict.application_id.as_deref(), Some(app_id.as_str()));
    assert_eq!(
        verdict.scopes.as_deref(),
        Some(["sims:read".to_owned()].as_slice())
    );
    accepted(&base, "/read", &key(&expiring), &expiring.key.id).await;
    refused(
        &base,
        "/write",
        Some(&key(&valid)),
        403,
        "INSUFFICIENT_SCOPE",
    )
    .await;
    refused(&base, "/read", Some(&unknown_key()), 401, "NOT_FOUND").await;
    refused(
        &base,
        "/read",
        Some(&wrong_secret(&key(&valid))),
        401,
        "NOT_FOUND",
    )
    .await;
    refused(&base, "/read", Some(&key(&disabled)), 401, "DISABLED").await;
    refused(&base, "/read", Some(&key(&revoked)), 401, "REVOKED").await;
    refused(
        &base,
        "/read",
        Some(&key(&app_revoked)),
        401,
        "APPLICATION_REVOKED",
    )
    .await;
    refused(&base, "/read", Some(&key(&bobs)), 401, "OWNER_DELETED").await;
    // The app sees the request come from 127.0.0.1.
    refused(
        &base,
        "/read",
        Some(&key(&elsewhere)),
        403,
        "IP_NOT_ALLOWED",
    )
    .await;
    accepted(&base, "/read", &key(&loopback), &loopback.key.id).await;
    // Metered keys: only keyward can accept them, in local mode too.
    let first = accepted(&base, "/read", &key(&rate), &rate.key.id).await;
    assert_eq!(first.rate_limits.first().map(|l| l.remaining), Some(0));
    let headers = refused(&base, "/read", Some(&key(&rate)), 429, "RATE_LIMITED").await;
    let retry: u64 = headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "Retry-After {retry}");
    let first = accepted(&base, "/read", &key(&credits), &credits.key.id).await;
    assert_eq!(first.credits_remaining, Some(0));
    refused(&base, "/read", Some(&key(&credits)), 429, "USAGE_EXCEEDED").await;
    // The key accepted above (its record cached, in local mode) is refused
    // from the second it expires: expiry is checked on every request.
    let wait = expires_at + 1 - now();
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    refused(&base, "/read", Some(&key(&expiring)), 401, "EXPIRED").await;

    let stats = layer.stats();
    assert_eq!(stats.requests, 18);
    assert_eq!(stats.unavailable, 0);
    match mode {
        Mode::Remote => {
            // Every well-formed key is one POST /verify; malformed ones none.
            assert_eq!(stats.remote_verifications, 16, "{stats:?}");
            assert_eq!(
                (stats.record_fetches, stats.cache_hits + stats.cache_misses),
                (0, 0)
            );
        }
        Mode::Local => {
            // One fetch per key id (the wrong secret shares the valid key's),
            // the rest from the cache; the 4 metered requests asked keyward.
            assert_eq!(stats.record_fetches, 11, "{stats:?}");
            assert_eq!(stats.cache_hits + stats.cache_misses, 16);
            assert_eq!(stats.cache_hits, 5, "{stats:?}");
            assert_eq!((stats.central_checks, stats.remote_verifications), (4, 4));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_remote_mode() {
    every_verdict(Mode::Remote).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_local_mode() {
    every_verdict(Mode::Local).await;
}

/// A revocation reaches remote mode at once, and local mode once the
/// cached record's TTL has run out: never later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_shows_after_the_cache_ttl_and_no_later() {
    let server = Server::start();
    let admin = server.admin("alice");
    let app_id = admin
        .create_application(&CreateApplication {
            name: "ttl".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let created = admin.create_key(&app_id, &plain("ttl")).await.unwrap();
    let (key, id) = (created.secret.expose().to_owned(), created.key.id.clone());
    let ttl = Duration::from_secs(2);
    let local = layer(&server, Mode::Local, ttl);
    let remote = layer(&server, Mode::Remote, ttl);
    let (local_base, remote_base) = (serve(app(&local)).await, serve(app(&remote)).await);

    accepted(&remote_base, "/read", &key, &id).await;
    let fetched = Instant::now();
    accepted(&local_base, "/read", &key, &id).await;
    admin.revoke_key(&id).await.unwrap();
    refused(&remote_base, "/read", Some(&key), 401, "REVOKED").await;
    // Within the TTL, local mode still has the record from before.
    let answer = call(&local_base, "/read", Some(&key)).await;
    if fetched.elapsed() < ttl {
        assert_eq!(
            answer.0,
            StatusCode::OK,
            "the cached record is used until its TTL"
        );
    }
    tokio::time::sleep(
        (fetched + ttl + Duration::from_millis(50)).saturating_duration_since(Instant::now()),
    )
    .await;
    refused(&local_base, "/read", Some(&key), 401, "REVOKED").await;
    assert_eq!(local.stats().record_fetches, 2);
}
