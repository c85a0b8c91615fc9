//! The README's "Walk-through", run as it stands: its shell block in bash
//! against a live server, with the built `keyward` first on `PATH`. Each
//! `keyward verify` line ends in a comment naming the verdict it must
//! print; the audit log must then hold the walk-through's changes.

use crate::harness::{Setup, items};
use crate::local_server::JWT_SECRET;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// The `sh` block of the README's "## Walk-through" section.
fn walk_through_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(readme).expect("the README");
    let section = readme
        .split("\n## Walk-through\n")
        .nth(1)
        .expect("a \"## Walk-through\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a sh block in it");
    block.to_owned()
}

/// The verdict in the comment of each `keyward verify` line, in order.
fn expected_verdicts(block: &str) -> Vec<String> {
    block
        .lines()
        .filter(|line| line.trim_start().starts_with("keyward verify"))
        .map(|line| {
            let (_, comment) = line
                .rsplit_once("# ")
                .unwrap_or_else(|| panic!("no verdict comment on {line:?}"));
            comment.trim().to_owned()
        })
        .collect()
}

fn is_verdict_line(line: &str) -> bool {
    !line.is_empty() && line.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    let s = Setup::start();
    let block = walk_through_block();
    let expected = expected_verdicts(&block);
    assert!(
        expected.len() >= 6,
        "the walk-through verifies: {expected:?}"
    );

    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("bash");
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            bash.env_remove(name);
        }
    }
    // `keyward token` signs with the server's secret, as it would beside a
    // `keyward serve` with KEYWARD_JWT_SECRET set.
    let output = bash
        .arg("-c")
        .arg(format!("set -euo pipefail\n{block}"))
        .env("PATH", path)
        .env("KEYWARD_API", s.server.base_url())
        .env("KEYWARD_JWT_SECRET", JWT_SECRET)
        .current_dir(s.server.dir.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "the walk-through failed: {stdout}\n{stderr}"
    );
    let printed: Vec<&str> = stdout.lines().filter(|l| is_verdict_line(l)).collect();
    assert_eq!(printed, expected, "{stdout}");
    // A refused verification's exit status, as the comment promises.
    assert_eq!(stdout.matches("exit status 1").count(), 3, "{stdout}");
    // The secrets were printed once, to the script's variables only.
    assert!(stderr.contains("Store this key's secret now"), "{stderr}");

    // The audit table the block ends with, and the log behind it.
    assert!(stdout.contains("key.regenerated"), "{stdout}");
    let audit = s.cli.json(&["audit"]);
    let actions: Vec<(&str, &str)> = items(&audit)
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("key.revoked", "alice"),
            ("key.created", "alice"),
            ("key.regenerated", "alice"),
            ("key.enabled", "alice"),
            ("key.disabled", "alice"),
            ("key.created", "alice"),
            ("application.created", "alice"),
        ],
        "{audit}"
    );
}
