//! The README's "Walk-through with curl", step by step with the CLI.

use crate::harness::{Cli, Setup, items};

/// The first line `keyward verify` prints, and its exit status.
fn verdict(cli: &Cli, secret: &str, scopes: &[&str]) -> (String, i32) {
    let mut args = vec!["verify", secret];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let run = cli.run(&args);
    let code = run.stdout.lines().next().unwrap_or_default().to_owned();
    (code, run.code)
}

#[test]
fn the_readme_walk_through_with_the_cli() {
    let s = Setup::start();
    // TOKEN=$(keyward token --sub alice --account acme --all --permissions "sims:*")
    let cli = s.cli.with_token(Some(&s.server.admin("alice", "acme")));
    let anyone = cli.with_token(None);

    // Create an application, then a key in it. The secret is shown once.
    let app = cli.json(&["apps", "create", "--name", "Billing", "--prefix", "acme"]);
    let app = app["id"].as_str().unwrap();
    let created = cli.json(&[
        "keys",
        "create",
        app,
        "--name",
        "ci",
        "--scope",
        "sims:read",
    ]);
    let key_id = created["key"]["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("acme_"));

    // Verify (no token needed): VALID.
    assert_eq!(
        verdict(&anyone, secret, &["sims:read"]),
        ("VALID".into(), 0)
    );

    // Disable: verify says DISABLED. Enable: VALID again.
    cli.ok(&["keys", "disable", key_id]);
    assert_eq!(verdict(&anyone, secret, &[]), ("DISABLED".into(), 1));
    cli.ok(&["keys", "enable", key_id]);
    assert_eq!(verdict(&anyone, secret, &[]), ("VALID".into(), 0));

    // Regenerate: a new key with the same name and scopes; the old one is
    // revoked at once.
    let new = cli.json(&["keys", "regenerate", key_id]);
    let new_id = new["key"]["id"].as_str().unwrap();
    let new_secret = new["secret"].as_str().unwrap();
    assert_eq!(new["key"]["name"], "ci");
    assert_eq!(new["key"]["scopes"], serde_json::json!(["sims:read"]));
    assert_eq!(verdict(&anyone, secret, &[]), ("REVOKED".into(), 1));
    assert_eq!(
        verdict(&anyone, new_secret, &["sims:read"]),
        ("VALID".into(), 0)
    );

    // Revoke: REVOKED.
    cli.ok(&["keys", "revoke", new_id]);
    assert_eq!(verdict(&anyone, new_secret, &[]), ("REVOKED".into(), 1));

    // Who did what.
    let audit = cli.json(&["audit"]);
    let actions: Vec<(&str, &str, &str)> = items(&audit)
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["target_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("key.revoked", "alice", new_id),
            ("key.created", "alice", new_id),
            ("key.regenerated", "alice", key_id),
            ("key.enabled", "alice", key_id),
            ("key.disabled", "alice", key_id),
            ("key.created", "alice", key_id),
            ("application.created", "alice", app),
        ]
    );
}
