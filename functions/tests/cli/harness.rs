//! Runs the `keyward` binary against a [`LocalServer`], and reads what it
//! prints: a details view (`label  value` lines), a table (columns two or
//! more spaces apart) or `--json`.

use crate::local_server::{JWT_SECRET, LocalServer, all_permissions, mint, now};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// One run of the CLI: its exit status and what it printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI pointed at one API with one token (or none).
#[derive(Clone)]
pub struct Cli {
    pub api: String,
    pub token: Option<String>,
}

impl Cli {
    pub fn new(api: &str, token: Option<&str>) -> Cli {
        Cli {
            api: api.to_owned(),
            token: token.map(str::to_owned),
        }
    }

    /// The same API with another token.
    pub fn with_token(&self, token: Option<&str>) -> Cli {
        Cli::new(&self.api, token)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        // Only what the test says reaches the CLI.
        for (name, _) in std::env::vars() {
            if name.starts_with("KEYWARD_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("KEYWARD_API", &self.api);
        if let Some(token) = &self.token {
            cmd.env("KEYWARD_TOKEN", token);
        }
        cmd.args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("keyward runs");
        Run::from(output)
    }

    /// A run with `input` on its standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyward runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().expect("keyward ends"))
    }

    /// Stdout of a run that must succeed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "keyward {args:?}: {run:?}");
        run.stdout
    }

    /// The `--json` answer of a run that must succeed.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.ok(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("keyward {args:?}: {e}: {out}"))
    }

    /// A run that must fail with `code` and print `PROBLEM: …` to stderr,
    /// and nothing to stdout.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32, problem: &str) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, code, "keyward {args:?}: {run:?}");
        assert!(
            run.stderr.starts_with(&format!("{problem}: ")),
            "keyward {args:?}: stderr does not start with {problem}: {run:?}"
        );
        assert_eq!(run.stdout, "", "keyward {args:?}");
        run
    }
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }
}

/// A server and the CLI signed in as alice of acme, holding every
/// permission and `sims:*`, in a session with MFA (which a server with
/// `KEYWARD_REQUIRE_MFA_TO_ENABLE` asks of enabling a key).
pub struct Setup {
    pub server: LocalServer,
    pub cli: Cli,
}

impl Setup {
    pub fn start() -> Setup {
        Setup::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Setup {
        let server = LocalServer::start(env, None);
        let token = mint(JWT_SECRET, "alice", "acme", &all_permissions(), true, now());
        let cli = Cli::new(server.base_url(), Some(&token));
        Setup { server, cli }
    }

    /// The CLI as `sub` of acme with only `permissions`.
    pub fn as_user(&self, sub: &str, permissions: &str) -> Cli {
        self.cli
            .with_token(Some(&self.server.token(sub, "acme", permissions)))
    }

    /// A new application's id.
    pub fn app(&self, name: &str) -> String {
        let app = self.cli.json(&["apps", "create", "--name", name]);
        app["id"].as_str().expect("an id").to_owned()
    }

    /// A new key in `app` with the scope `sims:read`: its id and secret.
    pub fn key(&self, app: &str, name: &str) -> (String, String) {
        let created = self.cli.json(&[
            "keys",
            "create",
            app,
            "--name",
            name,
            "--scope",
            "sims:read",
        ]);
        (
            created["key"]["id"].as_str().expect("an id").to_owned(),
            created["secret"].as_str().expect("a secret").to_owned(),
        )
    }
}

/// The value of the `label` line of a details view.
#[track_caller]
pub fn detail(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|line| {
            let (name, value) = line.split_once("  ")?;
            (name.trim() == label).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
}

/// Whether a details view has a `label` line.
pub fn has_detail(out: &str, label: &str) -> bool {
    out.lines().any(|line| {
        line.split_once("  ")
            .is_some_and(|(name, _)| name.trim() == label)
    })
}

/// A table's lines as cells (split where two or more spaces are), the
/// header first.
pub fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The row of a table whose first cell is `id`, as header → cell.
#[track_caller]
pub fn row(out: &str, id: &str) -> std::collections::HashMap<String, String> {
    let rows = table(out);
    let header = rows.first().expect("a header").clone();
    let row = rows
        .iter()
        .skip(1)
        .find(|r| r.first().map(String::as_str) == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in:\n{out}"));
    assert_eq!(row.len(), header.len(), "a cell per column:\n{out}");
    header.into_iter().zip(row.iter().cloned()).collect()
}

/// The items of a list answer.
#[track_caller]
pub fn items(answer: &Value) -> &Vec<Value> {
    answer["items"].as_array().expect("items")
}
