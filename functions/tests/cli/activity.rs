//! `keyward audit` and `keyward notifications`.

use crate::harness::{Setup, items, table};
use crate::local_server::now;

#[test]
fn audit_lists_the_newest_events_first() {
    let s = Setup::start();
    let app = s.app("Billing");
    let (key, _) = s.key(&app, "ci");
    s.cli.ok(&["keys", "disable", &key]);

    let out = s.cli.ok(&["audit"]);
    let rows = table(&out);
    assert_eq!(rows[0], ["AT", "ACTOR", "ACTION", "TARGET"]);
    assert_eq!(rows.len(), 4, "{out}");
    assert_eq!(
        rows[1][1..],
        ["alice", "key.disabled", &format!("key {key}")]
    );
    assert_eq!(rows[2][2], "key.created");
    assert_eq!(
        rows[3][2..],
        ["application.created", &format!("application {app}")]
    );

    let audit = s.cli.json(&["audit"]);
    let actions: Vec<&str> = items(&audit)
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.disabled", "key.created", "application.created"]
    );
    assert!(audit["next_cursor"].is_null());

    let newest = s.cli.json(&["audit", "--limit", "2"]);
    assert_eq!(items(&newest).len(), 2);
    assert!(newest["next_cursor"].is_string());
    assert_eq!(table(&s.cli.ok(&["audit", "--limit", "1"])).len(), 2);
}

#[test]
fn notifications_list_the_callers_expiry_notices() {
    let s = Setup::start();
    assert_eq!(s.cli.ok(&["notifications"]).trim(), "No notifications.");
    let app = s.app("Billing");
    let soon = time::OffsetDateTime::from_unix_timestamp(now() + 3 * 86_400 + 3600)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = s.cli.json(&[
        "keys",
        "create",
        &app,
        "--name",
        "short-lived",
        "--expires-at",
        &soon,
    ]);
    let key = created["key"]["id"].as_str().unwrap();
    s.server.cli(&["notify-expiring"]);

    let out = s.cli.ok(&["notifications"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["CREATED", "KIND", "KEY", "KEY ID", "EXPIRES", "DAYS LEFT"]
    );
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[1][1..4], ["expiring", "short-lived", key]);
    assert!(["3", "4"].contains(&rows[1][5].as_str()), "{out}");

    let notices = s.cli.json(&["notifications"]);
    let notice = &items(&notices)[0];
    assert_eq!(notice["key_id"], key);
    assert_eq!(notice["recipient"], "alice");
    // Another user's notices are their own.
    let bob = s.as_user("bob", "keys:view");
    assert!(items(&bob.json(&["notifications"])).is_empty());
}
