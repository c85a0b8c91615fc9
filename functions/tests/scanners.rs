//! The secret scanners' rules in `scanners/`, against real keys and near
//! misses: the detect-secrets plugin run by detect-secrets itself (PyPI),
//! and the gitleaks rule's and the GitHub custom pattern's regular
//! expressions compiled by Python's `re` (gitleaks itself is not installed
//! here; its RE2 syntax and Python's agree on these patterns).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `.venv/bin/<tool>`, or `None` (said once) when it is missing; under
/// `KEYWARD_REQUIRE_MOTO` (tests/run.sh) a missing tool fails instead.
fn venv(tool: &str) -> Option<PathBuf> {
    let path = root().join(".venv/bin").join(tool);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("KEYWARD_REQUIRE_MOTO").is_none(),
        "tests/run.sh installs {tool} into .venv"
    );
    eprintln!("skipped: no .venv/bin/{tool} (.venv/bin/pip install detect-secrets)");
    None
}

/// Real keys, made as the service makes them, and near misses.
fn samples() -> (Vec<String>, Vec<String>) {
    let real: Vec<String> = ["kw", "acme", "a", "prod2024"]
        .iter()
        .map(|prefix| wasm_validator::key::format_key(prefix, &rand::random(), &rand::random()).1)
        .collect();
    let base = &real[0];
    let mut wrong_checksum = base.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'x' { 'y' } else { 'x' });
    let near: Vec<String> = vec![
        wrong_checksum,
        base[..base.len() - 1].to_owned(),
        format!("{base}Z"),
        base.replacen("kw_", "KW_", 1),
        base.replacen("kw_", "kw-", 1),
        format!("x{}", &base[1..]).replacen("xw_", "9w_", 1),
    ];
    (real, near)
}

#[test]
fn detect_secrets_finds_real_keys_and_ignores_near_misses() {
    let Some(detect) = venv("detect-secrets") else {
        return;
    };
    let (real, near) = samples();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for key in &real {
        lines.push(format!("API_KEY = \"{key}\""));
    }
    for key in &near {
        lines.push(format!("API_KEY = \"{key}\""));
    }
    let file = dir.path().join("config.py");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = Command::new(detect)
        .current_dir(dir.path())
        .args(["scan", "--plugin"])
        .arg(root().join("scanners/keyward_detect_secrets.py"))
        .arg("config.py")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut found: Vec<u64> = report["results"]["config.py"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["type"] == "keyward API key")
        .map(|r| r["line_number"].as_u64().unwrap())
        .collect();
    found.sort();
    let expected: Vec<u64> = (1..=real.len() as u64).collect();
    assert_eq!(found, expected, "the real keys' lines, and none other");
}

#[test]
fn the_gitleaks_rule_and_the_github_pattern_match_keys_by_shape() {
    let Some(python) = venv("python") else {
        return;
    };
    let (real, near) = samples();
    let pattern_doc =
        std::fs::read_to_string(root().join("scanners/github-custom-pattern.md")).unwrap();
    // The table row's value: | Secret format | `...` |
    let github_format = pattern_doc
        .lines()
        .find(|l| l.starts_with("| Secret format |"))
        .and_then(|l| l.split('`').nth(1))
        .expect("the secret format row")
        .to_owned();
    let script = r#"
import json, re, sys, tomllib
rule = tomllib.load(open(sys.argv[1], "rb"))["rules"][0]
gitleaks = re.compile(rule["regex"])
github = re.compile(r"(?:\A|[^0-9A-Za-z_])(" + sys.argv[2] + r")(?:\Z|[^0-9A-Za-z_])")
samples = json.load(sys.stdin)
out = {}
for s in samples:
    line = "token: " + s + "\n"
    g = gitleaks.search(line)
    h = github.search(line)
    out[s] = [g.group(rule["secretGroup"]) if g else None, h.group(1) if h else None]
print(json.dumps(out))
"#;
    let mut all = real.clone();
    all.extend(near.iter().cloned());
    let mut child = Command::new(python)
        .args(["-c", script])
        .arg(root().join("scanners/gitleaks.toml"))
        .arg(&github_format)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&all).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let matched: Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in &real {
        assert_eq!(matched[key], serde_json::json!([key, key]), "a real key");
    }
    // Shape alone cannot see a wrong checksum (near[0]); every other near
    // miss is not a key's shape.
    assert_eq!(matched[&near[0]][0], near[0].as_str());
    for miss in &near[1..] {
        assert_eq!(matched[miss], serde_json::json!([null, null]), "{miss}");
    }
    // The core's published regex is the same shape.
    assert!(wasm_validator::KEY_REGEX.contains("[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{71}"));
    assert!(github_format.contains("[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{71}"));
}
