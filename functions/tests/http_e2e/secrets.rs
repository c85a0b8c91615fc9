//! Secrets and stored hashes never leak (reads, the log, the data folder),
//! and an unknown key id looks like a wrong secret.

use crate::client::new_key;
use crate::harness::{Server, eventually, rfc3339};
use crate::key_format::{assemble_key, sha256_hex, split_key};
use crate::local_server::now;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn secrets_and_hashes_never_leak_and_unknown_ids_look_like_wrong_secrets() {
    let srv = Server::start_with(&[("KEYWARD_LOG", "trace")]);
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "leaky?").await;
    let mut secrets = Vec::new();
    let mut key_ids = Vec::new();

    let idem_header = "idempotency-value-that-must-stay-private";
    let keys_path = format!("/applications/{app}/keys");
    let body = json!({ "name": "first", "scopes": ["sims:read"],
                       "expires_at": rfc3339(now() + 86_400) });
    let r = srv
        .post_idem(&alice, &keys_path, idem_header, Some(&body))
        .await;
    let first = new_key(&r, 201);
    // Replayed from the sealed record.
    let replay = srv
        .post_idem(&alice, &keys_path, idem_header, Some(&body))
        .await;
    assert_eq!(replay.ok(201), &r.body);
    assert_eq!(srv.verdict(&first.secret).await, "VALID");
    let bearer = srv
        .verify(&format!("Bearer {}", first.secret), &["sims:read"])
        .await;
    assert_eq!(bearer["code"], "VALID");
    secrets.push(first.secret.clone());
    key_ids.push(first.id.clone());

    let r = srv
        .post(
            &alice,
            &format!("/keys/{}/regenerate", first.id),
            json!({ "grace_seconds": 600 }),
        )
        .await;
    let second = new_key(&r, 201);
    secrets.push(second.secret.clone());
    key_ids.push(second.id.clone());
    let r = srv
        .post_empty(&alice, &format!("/keys/{}/regenerate", second.id))
        .await;
    let third = new_key(&r, 201);
    secrets.push(third.secret.clone());
    key_ids.push(third.id.clone());
    srv.post_empty(&alice, &format!("/keys/{}/disable", third.id))
        .await
        .ok(200);
    assert_eq!(srv.verdict(&third.secret).await, "DISABLED");
    srv.post_empty(&alice, &format!("/keys/{}/enable", third.id))
        .await
        .ok(200);
    assert_eq!(srv.verdict(&third.secret).await, "VALID");
    let fourth = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "soon", "expires_at": rfc3339(now() + 2 * 86_400) }),
        )
        .await;
    secrets.push(fourth.secret.clone());
    key_ids.push(fourth.id.clone());
    srv.delete(&alice, &format!("/keys/{}", fourth.id))
        .await
        .ok(200);
    assert_eq!(srv.verdict(&fourth.secret).await, "REVOKED");
    let fifth = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "noticed", "expires_at": rfc3339(now() + 2 * 86_400) }),
        )
        .await;
    secrets.push(fifth.secret.clone());
    key_ids.push(fifth.id.clone());
    assert_eq!(srv.notify_expiring()["sent"], json!(1));

    // Unknown key id vs. wrong secret: well-formed keys with valid checksums
    // get the same answer, apart from echoing the presented key id.
    let (prefix, id, secret, _) = split_key(&third.secret);
    let mut other_secret: Vec<u8> = secret.bytes().collect();
    other_secret[10] = if other_secret[10] == b'A' { b'B' } else { b'A' };
    let wrong_secret = assemble_key(prefix, id, std::str::from_utf8(&other_secret).unwrap());
    let unknown_id = format!(
        "{}{}",
        if id.starts_with('0') { "1" } else { "0" },
        &id[1..]
    );
    let unknown = assemble_key(prefix, &unknown_id, secret);
    assert_eq!(
        assemble_key(prefix, id, secret),
        third.secret,
        "the checksum is reproducible"
    );
    let a = srv.verify(&wrong_secret, &["sims:read"]).await;
    let b = srv.verify(&unknown, &["sims:read"]).await;
    assert_eq!(
        a,
        json!({ "valid": false, "code": "NOT_FOUND", "key_id": id })
    );
    assert_eq!(
        b,
        json!({ "valid": false, "code": "NOT_FOUND", "key_id": unknown_id })
    );
    // And a checksum typo is MALFORMED before any look-up.
    let mut typo = third.secret.clone().into_bytes();
    typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(
        srv.verify(&typo, &[]).await,
        json!({ "valid": false, "code": "MALFORMED" })
    );

    // The stored hashes, read through the record route.
    let mut hashes = Vec::new();
    for (id, secret) in key_ids.iter().zip(&secrets) {
        let record = srv
            .get(&alice, &format!("/keys/{id}/record"))
            .await
            .ok(200)
            .clone();
        let hash = record["hash"].as_str().unwrap().to_owned();
        assert_eq!(hash, sha256_hex(secret));
        hashes.push(hash);
    }
    // Wait for a usage flush so that its log lines are in too.
    let (s, t, id) = (&srv, &alice, &third.id);
    eventually(Duration::from_secs(5), "last_used_at", move || async move {
        s.key_view(t, id).await["last_used_at"]
            .is_string()
            .then_some(())
    })
    .await;

    let mut bodies = vec![
        srv.get(&alice, "/applications").await.text,
        srv.get(&alice, &format!("/applications/{app}")).await.text,
        srv.get(&alice, &format!("/applications/{app}/keys?limit=100"))
            .await
            .text,
        srv.get(&alice, "/audit?limit=100").await.text,
        srv.get(&alice, "/notifications").await.text,
    ];
    for id in &key_ids {
        bodies.push(srv.get(&alice, &format!("/keys/{id}")).await.text);
    }
    assert!(
        bodies[3].contains("key.regenerated"),
        "the audit log is read: {}",
        bodies[3]
    );
    assert!(
        bodies[4].contains(&fifth.id),
        "the notice is read: {}",
        bodies[4]
    );

    let log = srv.log();
    assert!(
        log.contains("/applications/{id}/keys"),
        "requests are logged: {log}"
    );
    let stored = srv.stored().await;
    assert!(stored.contains(&first.id), "the scan reads the store");

    for secret in &secrets {
        let (_, _, secret_part, _) = split_key(secret);
        for (place, text) in bodies
            .iter()
            .map(|b| ("a read", b))
            .chain([("the log", &log), ("the data folder", &stored)])
        {
            assert!(!text.contains(secret.as_str()), "a secret is in {place}");
            assert!(
                !text.contains(secret_part),
                "a secret's random part is in {place}"
            );
        }
    }
    for hash in &hashes {
        for (place, text) in bodies
            .iter()
            .map(|b| ("a read", b))
            .chain([("the log", &log)])
        {
            assert!(!text.contains(hash.as_str()), "a stored hash is in {place}");
        }
    }
    assert!(!log.contains(&alice), "the bearer token is in the log");
    assert!(
        !log.contains(idem_header),
        "the Idempotency-Key is in the log"
    );
    assert!(
        !stored.contains(idem_header),
        "the Idempotency-Key is stored"
    );
}
