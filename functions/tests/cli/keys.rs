//! `keyward keys …`: every verb's table and `--json`, the secret printed
//! once with its warning, and the usage-control flags.

use crate::harness::{Setup, detail, has_detail, items, row, table};
use serde_json::json;

#[test]
fn keys_create_prints_the_key_then_its_secret_once() {
    let s = Setup::start();
    let app = s.app("Billing");
    let run = s.cli.run(&[
        "keys",
        "create",
        &app,
        "--name",
        "ci",
        "--description",
        "the CI runner",
        "--scope",
        "sims:read",
        "--scope",
        "sims:write",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    let id = detail(out, "id");
    assert_eq!(detail(out, "name"), "ci");
    assert_eq!(detail(out, "description"), "the CI runner");
    assert_eq!(detail(out, "application"), app);
    assert_eq!(detail(out, "status"), "active");
    assert_eq!(detail(out, "verdict"), "VALID");
    assert_eq!(detail(out, "scopes"), "sims:read, sims:write");
    // The secret is the last line, the warning is on stderr only.
    let secret_line = out.lines().last().unwrap();
    let secret = secret_line.strip_prefix("Secret: ").expect("a secret line");
    assert!(secret.starts_with(&format!("kw_{id}")), "{secret}");
    assert!(run.stderr.contains("shown once"), "{run:?}");
    assert!(!run.stderr.contains(secret));
    assert!(!out.contains("shown once"));

    // --json: stdout is the API's answer alone, the warning still on stderr.
    let run = s
        .cli
        .run(&["keys", "create", &app, "--name", "web", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let created: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(created["key"]["name"], "web");
    assert_eq!(created["key"]["scopes"], json!([]));
    assert!(created["secret"].as_str().unwrap().starts_with("kw_"));
    assert!(run.stderr.contains("shown once"));
}

#[test]
fn keys_list_get_update_disable_enable_and_revoke() {
    let s = Setup::start();
    let app = s.app("Billing");
    assert_eq!(s.cli.ok(&["keys", "list", &app]).trim(), "No keys.");
    let (ci, _) = s.key(&app, "ci");
    let (web, _) = s.key(&app, "web");

    let out = s.cli.ok(&["keys", "list", &app]);
    assert_eq!(
        table(&out)[0],
        [
            "ID",
            "NAME",
            "STATUS",
            "VERDICT",
            "SCOPES",
            "EXPIRES",
            "LAST USED"
        ]
    );
    let ci_row = row(&out, &ci);
    assert_eq!(ci_row["NAME"], "ci");
    assert_eq!(ci_row["STATUS"], "active");
    assert_eq!(ci_row["SCOPES"], "sims:read");
    assert_eq!(ci_row["LAST USED"], "-");
    assert_eq!(row(&out, &web)["NAME"], "web");
    let list = s.cli.json(&["keys", "list", &app]);
    assert_eq!(items(&list).len(), 2);
    assert_eq!(
        s.cli.json(&["keys", "list", &app, "--limit", "1"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let out = s.cli.ok(&["keys", "get", &ci]);
    assert_eq!(detail(&out, "id"), ci);
    assert!(detail(&out, "created").ends_with("by alice"), "{out}");
    assert!(!has_detail(&out, "credits"), "no usage control:\n{out}");
    assert_eq!(s.cli.json(&["keys", "get", &ci])["name"], "ci");

    let out = s.cli.ok(&["keys", "update", &ci, "--name", "ci-runner"]);
    assert_eq!(detail(&out, "name"), "ci-runner");
    let updated = s
        .cli
        .json(&["keys", "update", &ci, "--description", "builds"]);
    assert_eq!(updated["name"], "ci-runner");
    assert_eq!(updated["description"], "builds");

    let out = s.cli.ok(&["keys", "disable", &ci]);
    assert_eq!(detail(&out, "status"), "disabled");
    assert_eq!(detail(&out, "verdict"), "DISABLED");
    assert_eq!(detail(&out, "disabled by"), "alice");
    let enabled = s.cli.json(&["keys", "enable", &ci]);
    assert_eq!(enabled["status"], "active");
    let disabled = s.cli.json(&["keys", "disable", &web]);
    assert_eq!(disabled["status"], "disabled");
    let out = s.cli.ok(&["keys", "enable", &web]);
    assert_eq!(detail(&out, "verdict"), "VALID");

    let out = s.cli.ok(&["keys", "revoke", &ci]);
    assert_eq!(detail(&out, "status"), "revoked");
    assert_eq!(detail(&out, "verdict"), "REVOKED");
    let revoked = s.cli.json(&["keys", "revoke", &web, "--yes"]);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        s.cli.ok(&["keys", "list", &app]).trim(),
        "No keys.",
        "revoked keys are not listed"
    );
}

#[test]
fn keys_regenerate_prints_the_new_key_and_its_secret() {
    let s = Setup::start();
    let app = s.app("Billing");
    let (old, _) = s.key(&app, "ci");
    let run = s.cli.run(&["keys", "regenerate", &old, "--grace", "3600"]);
    assert_eq!(run.code, 0, "{run:?}");
    let new = detail(&run.stdout, "id");
    assert_ne!(new, old);
    assert_eq!(detail(&run.stdout, "name"), "ci");
    assert_eq!(detail(&run.stdout, "replaces"), old);
    let secret = run
        .stdout
        .lines()
        .last()
        .unwrap()
        .strip_prefix("Secret: ")
        .unwrap();
    assert!(secret.starts_with(&format!("kw_{new}")));
    assert!(run.stderr.contains("shown once"));
    let old_view = s.cli.json(&["keys", "get", &old]);
    assert_eq!(old_view["replaced_by"], new.as_str());
    assert!(
        old_view["revoke_at"].is_string(),
        "revoked after the grace period"
    );

    let again = s.cli.json(&["keys", "regenerate", &new]);
    assert_eq!(again["key"]["replaces"], new.as_str());
    assert!(again["secret"].is_string());
    assert_eq!(
        s.cli.json(&["keys", "get", &new])["status"],
        "revoked",
        "no grace: at once"
    );
}

#[test]
fn usage_control_flags_set_change_and_remove_the_controls() {
    let s = Setup::start();
    let app = s.app("Partner");
    let run = s.cli.run(&[
        "keys",
        "create",
        &app,
        "--name",
        "partner",
        "--rate-limit",
        "per-minute=100/60",
        "--rate-limit",
        "per-day=10000/86400",
        "--credits",
        "500",
        "--refill",
        "500/monthly",
        "--allow-ip",
        "203.0.113.0/24",
        "--allow-ip",
        "2001:db8::/32",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    let id = detail(out, "id");
    let limits = detail(out, "rate limits");
    assert!(limits.contains("per-minute (100 left of 100"), "{limits}");
    assert!(limits.contains("per-day (10000 left of 10000"), "{limits}");
    assert_eq!(detail(out, "credits"), "500 left, refilled to 500 monthly");
    assert_eq!(detail(out, "allowed ips"), "203.0.113.0/24, 2001:db8::/32");

    let key = s.cli.json(&["keys", "get", &id]);
    assert_eq!(
        key["rate_limits"],
        json!([{"name": "per-minute", "limit": 100, "window_seconds": 60},
               {"name": "per-day", "limit": 10000, "window_seconds": 86400}])
    );
    assert_eq!(
        key["credits"],
        json!({"remaining": 500, "refill": {"amount": 500, "interval": "monthly"}})
    );
    assert_eq!(
        key["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );

    let key = s
        .cli
        .json(&["keys", "update", &id, "--credits", "7", "--no-rate-limits"]);
    assert_eq!(key["credits"], json!({"remaining": 7}));
    assert!(key.get("rate_limits").is_none(), "removed: {key}");
    assert_eq!(
        key["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"]),
        "unchanged"
    );

    let out = s.cli.ok(&[
        "keys",
        "update",
        &id,
        "--no-credits",
        "--no-allowed-ips",
        "--rate-limit",
        "burst=5/1",
    ]);
    assert!(!has_detail(&out, "credits"), "{out}");
    assert!(!has_detail(&out, "allowed ips"), "{out}");
    assert!(
        detail(&out, "rate limits").starts_with("burst (5 left of 5"),
        "{out}"
    );
}
