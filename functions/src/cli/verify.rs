//! `keyward verify KEY`: `POST /verify`, as an API protecting its routes
//! would call it. The exit status is the verdict: 0 only for `VALID`, so
//! `keyward verify "$KEY" && …` reads as it should.

use super::output::{self, Details, cell, field};
use super::{Connection, Failure, exit};
use clap::Args;
use serde_json::{Map, Value, json};
use std::io::Read;
use std::process::ExitCode;

#[derive(Args)]
pub struct VerifyArgs {
    /// The key to check, or - to read it from standard input (which keeps
    /// it out of process lists and shell history).
    key: String,
    /// A scope the call needs (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The address the call came from, for keys with allowed addresses.
    #[arg(long, value_name = "IP")]
    source_ip: Option<String>,
    /// Units the call costs a metered key (default 1; 0 checks without
    /// spending).
    #[arg(long, value_name = "N")]
    cost: Option<u64>,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(args: VerifyArgs) -> Result<ExitCode, Failure> {
    let session = args.connection.session()?;
    let key = if args.key == "-" {
        read_key_from_stdin()?
    } else {
        args.key
    };
    let mut body = Map::new();
    body.insert("key".into(), json!(key));
    if !args.scopes.is_empty() {
        body.insert("scopes".into(), json!(args.scopes));
    }
    if let Some(ip) = args.source_ip {
        body.insert("source_ip".into(), json!(ip));
    }
    if let Some(cost) = args.cost {
        body.insert("cost".into(), json!(cost));
    }
    let answer = session.client.verify(&Value::Object(body)).await?;
    let code = answer.get("code").and_then(Value::as_str).unwrap_or("");
    if session.json {
        output::json(&answer);
    } else {
        // The code alone first, so `| head -1` is the verdict.
        output::out(&output::printable(code));
        if answer.get("key_id").is_some() {
            show(&answer);
        }
    }
    if code == "VALID" && answer.get("valid") == Some(&Value::Bool(true)) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(exit::PROBLEM))
    }
}

/// The first line of standard input, without its line end.
fn read_key_from_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Usage(format!("cannot read the key from standard input: {e}")))?;
    let key = text.lines().next().unwrap_or("").trim().to_owned();
    if key.is_empty() {
        return Err(Failure::Usage("no key on standard input".into()));
    }
    Ok(key)
}

fn show(answer: &Value) {
    Details::new()
        .row("key", field(answer, "key_id"))
        .row_if("application", field(answer, "application_id"))
        .row_if("account", field(answer, "account"))
        .row_if("scopes", field(answer, "scopes"))
        .row_if("expires", expires(answer))
        .row_if("credits left", field(answer, "credits_remaining"))
        .row_if("rate limits", rate_limits(answer))
        .print();
}

/// The verdict's `expires_at`, which `POST /verify` gives in epoch seconds
/// (the core's record format) where every view gives RFC 3339.
fn expires(answer: &Value) -> String {
    match answer.get("expires_at") {
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| n.to_string()),
        Some(other) => cell(other),
        None => "-".into(),
    }
}

/// `per-minute 99/100 (resets …)` for each limit the answer reports.
fn rate_limits(answer: &Value) -> String {
    let Some(limits) = answer.get("rate_limits").and_then(Value::as_array) else {
        return "-".into();
    };
    limits
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} left (resets {})",
                field(r, "name"),
                field(r, "remaining"),
                field(r, "limit"),
                field(r, "reset_at")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
