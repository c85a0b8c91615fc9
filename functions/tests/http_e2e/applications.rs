//! Revoking an application revokes its keys and frees its slot.

use crate::client::ids;
use crate::harness::Server;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn revoking_an_application_revokes_its_keys_and_frees_its_slot() {
    let srv = Server::start_with(&[("KEYWARD_MAX_ACTIVE_APPLICATIONS", "2")]);
    let alice = srv.admin("alice", "acme");
    let doomed = srv.create_app(&alice, "doomed").await;
    let kept = srv.create_app(&alice, "kept").await;
    srv.post(&alice, "/applications", json!({ "name": "third" }))
        .await
        .problem(409, "APPLICATION_LIMIT_REACHED");
    let k1 = srv.create_named_key(&alice, &doomed, "k1").await;
    let k2 = srv.create_named_key(&alice, &doomed, "k2").await;
    srv.post_empty(&alice, &format!("/keys/{}/disable", k2.id))
        .await
        .ok(200);
    let other = srv.create_named_key(&alice, &kept, "other").await;

    let r = srv
        .post_empty(&alice, &format!("/applications/{doomed}/revoke"))
        .await;
    let revoked = r.ok(200);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());

    assert_eq!(srv.verdict(&k1.secret).await, "APPLICATION_REVOKED");
    assert_eq!(srv.verdict(&k2.secret).await, "APPLICATION_REVOKED");
    assert_eq!(srv.verdict(&other.secret).await, "VALID");
    assert_eq!(srv.key_view(&alice, &k1.id).await["status"], "revoked");
    assert!(srv.list_keys(&alice, &doomed).await.is_empty());
    srv.post(
        &alice,
        &format!("/applications/{doomed}/keys"),
        json!({ "name": "late" }),
    )
    .await
    .problem(409, "APPLICATION_REVOKED");
    srv.patch(
        &alice,
        &format!("/applications/{doomed}"),
        json!({ "name": "zombie" }),
    )
    .await
    .problem(409, "APPLICATION_REVOKED");
    srv.post_empty(&alice, &format!("/keys/{}/enable", k2.id))
        .await
        .problem(409, "KEY_REVOKED");
    assert_eq!(
        srv.get(&alice, &format!("/applications/{doomed}"))
            .await
            .ok(200)["status"],
        "revoked"
    );
    assert_eq!(
        ids(&srv.list_apps(&alice).await),
        BTreeSet::from([kept.clone()])
    );

    // Its slot is free for a new application.
    let third = srv.create_app(&alice, "third").await;
    assert_eq!(
        ids(&srv.list_apps(&alice).await),
        BTreeSet::from([kept, third])
    );
    let audit = srv.audit(&alice).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e["action"] == "key.revoked")
            .count(),
        2,
        "one audit event per revoked key"
    );
}
