//! The management CLI: `keyward apps|keys|verify|audit|notifications|
//! webhooks|completions`, in the manner of `gh` and the Stripe CLI.
//!
//! It talks only to the public HTTP API (`client`), like any other client,
//! so it behaves the same against `keyward serve` and the API Gateway
//! deployment and can do nothing the caller's token may not. `output`
//! prints tables for people and the API's JSON for scripts; each resource
//! has its file (`apps`, `keys` with `key_view`, `webhooks`, `verify`,
//! `activity`), and `usage` reads the key usage-control flags.
//!
//! The connection flags live on each resource command, marked global, so
//! they go anywhere after it (`keyward apps list --json`): the top-level
//! parser belongs to `main.rs`.

mod activity;
mod apps;
mod client;
mod key_view;
mod keys;
mod output;
mod usage;
mod verify;
mod webhooks;

pub use client::{Client, Failure};

use clap::{Args, Subcommand};
use std::process::ExitCode;
use url::Url;

/// The exit statuses, as `--help` lists them ([`EXIT_STATUS_HELP`]).
pub mod exit {
    /// The API refused the request (a 4xx problem), or `verify`'s verdict
    /// is not `VALID`.
    pub const PROBLEM: u8 = 1;
    /// The command line is wrong (clap's own status for its errors).
    pub const USAGE: u8 = 2;
    /// The API failed or could not be reached: worth retrying.
    pub const UNAVAILABLE: u8 = 3;
}

/// The after-text of every management command's `--help`.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  done (verify: the key is VALID)
  1  the API refused the request: a 4xx problem, printed to stderr as CODE: detail
     (verify: the verdict is not VALID; its code is printed)
  2  usage error (a wrong flag or value)
  3  the API failed or could not be reached (5xx, connection refused, timeout): retry later

Environment: KEYWARD_API (the API's base URL), KEYWARD_TOKEN (the bearer token).";

/// Every leaf command's `--help` ends with the exit statuses too.
fn with_exit_status(command: clap::Command) -> clap::Command {
    command
        .after_help(EXIT_STATUS_HELP)
        .mut_subcommands(with_exit_status)
}

/// Where the API is, who is calling, and how to print.
#[derive(Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// The API's base URL.
    #[arg(long, global = true, env = "KEYWARD_API", default_value = "http://127.0.0.1:8080", value_parser = parse_api)]
    api: Url,
    /// The bearer token (a JWT). Prefer the KEYWARD_TOKEN variable: a
    /// flag's value shows in process lists and shell history.
    #[arg(
        long,
        global = true,
        env = "KEYWARD_TOKEN",
        hide_env_values = true,
        value_name = "JWT"
    )]
    token: Option<String>,
    /// Print the API's JSON answer as it is, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

fn parse_api(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.has_host() => Ok(url),
        _ => Err(format!("{text:?} is not an http:// or https:// URL")),
    }
}

/// A connected command: the client and the output mode.
pub struct Session {
    pub client: Client,
    pub json: bool,
}

impl Connection {
    fn session(&self) -> Result<Session, Failure> {
        Ok(Session {
            client: Client::new(self.api.clone(), self.token.as_deref())?,
            json: self.json,
        })
    }
}

/// `--limit` of a list that otherwise fetches every page.
#[derive(Args, Clone, Copy, Debug)]
pub struct ListLimit {
    /// At most this many items (every page is fetched without it).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
}

/// `--idempotency-key` of a create: a retry with the same key and body
/// answers as the first request did instead of creating another.
#[derive(Args, Clone, Debug)]
pub struct IdempotencyKey {
    /// Makes a retry of this request safe: the API answers a repeat with the
    /// first answer instead of creating a second object.
    #[arg(long = "idempotency-key", value_name = "KEY")]
    key: Option<String>,
}

/// `--yes` of a revoke or delete.
#[derive(Args, Clone, Copy, Debug)]
pub struct Yes {
    /// Do not ask for confirmation (only a terminal is ever asked).
    #[arg(long, short = 'y')]
    yes: bool,
}

/// The management commands, flattened into `keyward`'s own.
#[derive(Subcommand)]
pub enum Manage {
    /// Applications: create, list, get, update, revoke.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Apps(apps::AppsArgs),
    /// Access keys: create, list, get, update, disable, enable, regenerate,
    /// revoke.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Keys(keys::KeysArgs),
    /// Verify a key as an API would (no token needed): exit 0 only when
    /// VALID.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Verify(verify::VerifyArgs),
    /// The account's audit log, newest first.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Audit(activity::AuditArgs),
    /// Your notices: keys expiring soon, leaked, or about to be disabled as
    /// unused.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Notifications(activity::NotificationsArgs),
    /// Webhooks: create, list, get, delete, and their deliveries.
    #[command(after_help = EXIT_STATUS_HELP, mut_subcommands = with_exit_status)]
    Webhooks(webhooks::WebhooksArgs),
    /// Print a shell completion script for keyward.
    #[command(after_help = "Install, for example:\n  \
        keyward completions bash > ~/.local/share/bash-completion/completions/keyward\n  \
        keyward completions zsh > \"${fpath[1]}/_keyward\"\n  \
        keyward completions fish > ~/.config/fish/completions/keyward.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs one management command; `command` is the whole `keyward` command
/// line's definition, which the completion scripts are made from.
pub async fn run(manage: Manage, command: fn() -> clap::Command) -> ExitCode {
    let result = match manage {
        Manage::Apps(args) => apps::run(args).await.map(|()| ExitCode::SUCCESS),
        Manage::Keys(args) => keys::run(args).await.map(|()| ExitCode::SUCCESS),
        Manage::Verify(args) => verify::run(args).await,
        Manage::Audit(args) => activity::audit(args).await.map(|()| ExitCode::SUCCESS),
        Manage::Notifications(args) => activity::notifications(args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Manage::Webhooks(args) => webhooks::run(args).await.map(|()| ExitCode::SUCCESS),
        Manage::Completions { shell } => {
            // Made whole first: clap_complete panics on a closed pipe,
            // `out` does not.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command(), "keyward", &mut script);
            output::out(String::from_utf8_lossy(&script).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|failure| {
        failure.report();
        ExitCode::from(failure.exit_status())
    })
}
