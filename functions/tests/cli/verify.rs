//! `keyward verify`: exit 0 only for VALID, the verdict's code printed
//! first otherwise; the key from stdin; scopes, source address and cost.

use crate::harness::{Setup, detail};

#[test]
fn verify_exits_zero_only_for_valid_and_prints_the_code() {
    let s = Setup::start();
    let app = s.app("Billing");
    let (id, secret) = s.key(&app, "ci");
    // No token is needed to verify.
    let anyone = s.cli.with_token(None);

    let run = anyone.run(&["verify", &secret, "--scope", "sims:read"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().next(), Some("VALID"));
    assert_eq!(detail(&run.stdout, "key"), id);
    assert_eq!(detail(&run.stdout, "application"), app);
    assert_eq!(detail(&run.stdout, "scopes"), "sims:read");
    assert!(
        detail(&run.stdout, "expires").ends_with('Z'),
        "RFC 3339: {run:?}"
    );

    let answer = anyone.json(&["verify", &secret]);
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["key_id"], id.as_str());

    for (args, code) in [
        (vec!["--scope", "sims:write"], "INSUFFICIENT_SCOPE"),
        (vec!["--scope", "billing:read"], "INSUFFICIENT_SCOPE"),
    ] {
        let mut all = vec!["verify", secret.as_str()];
        all.extend(args);
        let run = anyone.run(&all);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.stdout.lines().next(), Some(code));
    }
    let run = anyone.run(&["verify", "not-a-key"]);
    assert_eq!((run.code, run.stdout.trim()), (1, "MALFORMED"));
    s.cli.ok(&["keys", "disable", &id]);
    let run = anyone.run(&["verify", &secret, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["code"], "DISABLED");
    assert_eq!(answer["valid"], false);
}

#[test]
fn verify_reads_the_key_from_stdin() {
    let s = Setup::start();
    let app = s.app("Billing");
    let (_, secret) = s.key(&app, "ci");
    let run = s
        .cli
        .run_with_stdin(&["verify", "-"], &format!("{secret}\n"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().next(), Some("VALID"));
    let run = s.cli.run_with_stdin(&["verify", "-"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("USAGE: "), "{run:?}");
}

#[test]
fn verify_passes_source_address_and_cost_to_metered_keys() {
    let s = Setup::start();
    let app = s.app("Partner");
    let created = s.cli.json(&[
        "keys",
        "create",
        &app,
        "--name",
        "partner",
        "--credits",
        "3",
        "--rate-limit",
        "per-minute=100/60",
        "--allow-ip",
        "192.0.2.0/24",
    ]);
    let secret = created["secret"].as_str().unwrap();

    let run = s.cli.run(&["verify", secret]);
    assert_eq!(
        (run.code, run.stdout.lines().next()),
        (1, Some("IP_NOT_ALLOWED")),
        "{run:?}"
    );
    let run = s
        .cli
        .run(&["verify", secret, "--source-ip", "198.51.100.1"]);
    assert_eq!(run.stdout.lines().next(), Some("IP_NOT_ALLOWED"));

    let run = s
        .cli
        .run(&["verify", secret, "--source-ip", "192.0.2.7", "--cost", "2"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(detail(&run.stdout, "credits left"), "1");
    assert!(
        detail(&run.stdout, "rate limits").starts_with("per-minute 98/100 left"),
        "{run:?}"
    );

    let answer = s
        .cli
        .json(&["verify", secret, "--source-ip", "192.0.2.7", "--cost", "0"]);
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["credits_remaining"], 1, "cost 0 spends nothing");

    let run = s
        .cli
        .run(&["verify", secret, "--source-ip", "192.0.2.7", "--cost", "2"]);
    assert_eq!(
        (run.code, run.stdout.lines().next()),
        (1, Some("USAGE_EXCEEDED")),
        "{run:?}"
    );

    // Bad input is the API's 422, not a verdict.
    s.cli.fails(
        &["verify", secret, "--source-ip", "not-an-ip"],
        1,
        "INVALID_SOURCE_IP",
    );
    s.cli
        .fails(&["verify", secret, "--cost", "10001"], 1, "INVALID_COST");
    // A cost that is not a number never leaves the command line.
    let run = s.cli.run(&["verify", secret, "--cost", "-1"]);
    assert_eq!(run.code, 2, "{run:?}");
}
