//! Expiry notices (`keyward notify-expiring`), and `last_used_at` after a
//! valid verification.

use crate::client::items;
use crate::harness::{Server, eventually, rfc3339};
use crate::local_server::now;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn the_expiry_job_sends_one_notice_per_key_and_day() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let bob = srv.admin("bob", "acme");
    let app = srv.create_app(&alice, "noticed").await;
    let soon = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "soon", "expires_at": rfc3339(now() + 3 * 86_400 - 60) }),
        )
        .await;
    let later = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "later", "expires_at": rfc3339(now() + 100 * 86_400) }),
        )
        .await;
    let bobs = srv
        .create_key(
            &bob,
            &app,
            json!({ "name": "bob's", "expires_at": rfc3339(now() + 10 * 86_400) }),
        )
        .await;
    // A revoked key expiring soon gets no notice.
    let revoked = srv
        .create_key(
            &alice,
            &app,
            json!({ "name": "revoked", "expires_at": rfc3339(now() + 86_400) }),
        )
        .await;
    srv.delete(&alice, &format!("/keys/{}", revoked.id))
        .await
        .ok(200);

    let first = srv.notify_expiring();
    assert_eq!(first["sent"], json!(2), "{first}");
    assert_eq!(first["examined"], json!(2), "{first}");
    assert_eq!(first["already_sent"], json!(0), "{first}");
    assert_eq!(first["publish_failures"], json!(0), "{first}");
    let second = srv.notify_expiring();
    assert_eq!(second["sent"], json!(0), "{second}");
    assert_eq!(second["already_sent"], json!(2), "{second}");

    let notices = items(srv.get(&alice, "/notifications").await.ok(200));
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    assert_eq!(n["key_id"], json!(soon.id));
    assert_eq!(n["key_name"], "soon");
    assert_eq!(n["recipient"], "alice");
    assert_eq!(n["application_id"], json!(app));
    assert_eq!(n["days_left"], json!(3));
    assert_eq!(n["expires_at"], soon.view["expires_at"]);
    assert!(!notices.iter().any(|n| n["key_id"] == json!(later.id)));

    let bobs_notices = items(srv.get(&bob, "/notifications").await.ok(200));
    assert_eq!(bobs_notices.len(), 1);
    assert_eq!(bobs_notices[0]["key_id"], json!(bobs.id));
    assert_eq!(bobs_notices[0]["days_left"], json!(10));
    // Notices are per account too.
    let stranger = srv.admin("alice", "other-account");
    assert!(items(srv.get(&stranger, "/notifications").await.ok(200)).is_empty());
}

// ---- last_used_at ----------------------------------------------------------

#[tokio::test]
async fn a_valid_verification_sets_last_used_at_soon_after() {
    let srv = Server::start();
    let alice = srv.admin("alice", "acme");
    let app = srv.create_app(&alice, "used").await;
    let used = srv.create_named_key(&alice, &app, "used").await;
    let refused = srv.create_named_key(&alice, &app, "refused").await;
    srv.post_empty(&alice, &format!("/keys/{}/disable", refused.id))
        .await
        .ok(200);
    assert_eq!(
        srv.key_view(&alice, &used.id).await["last_used_at"],
        Value::Null
    );

    let before = now();
    assert_eq!(srv.verdict(&refused.secret).await, "DISABLED");
    assert_eq!(srv.verdict(&used.secret).await, "VALID");
    let (s, t, id) = (&srv, &alice, &used.id);
    let last_used = eventually(
        Duration::from_secs(4),
        "last_used_at to be written",
        move || async move {
            s.key_view(t, id).await["last_used_at"]
                .as_str()
                .map(str::to_owned)
        },
    )
    .await;
    let at =
        time::OffsetDateTime::parse(&last_used, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
            .unix_timestamp();
    assert!((before..=now()).contains(&at), "{last_used} is about now");
    // A refused verification is not a use.
    assert_eq!(
        srv.key_view(&alice, &refused.id).await["last_used_at"],
        Value::Null
    );
    // The list shows it as well.
    let listed = srv.list_keys(&alice, &app).await;
    let listed_used = listed.iter().find(|k| k["id"] == json!(used.id)).unwrap();
    assert_eq!(listed_used["last_used_at"], json!(last_used));
}
