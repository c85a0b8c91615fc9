//! How `keyward keys …` prints a key: a row of `keys list`, or a line per
//! fact, with its usage control and what is left of it now; a new key's
//! secret once.

use super::Session;
use super::output::{self, Details, cell, field};
use serde_json::Value;

pub fn list_row(key: &Value) -> Vec<String> {
    [
        "id",
        "name",
        "status",
        "verdict",
        "scopes",
        "expires_at",
        "last_used_at",
    ]
    .iter()
    .map(|name| field(key, name))
    .collect()
}

/// `{key, secret}`: the key, then its secret once.
pub fn show_created(session: &Session, created: &Value) {
    if session.json {
        output::warn_secret("key");
        return output::json(created);
    }
    show(session, &created["key"]);
    output::secret("key", created["secret"].as_str().unwrap_or_default());
}

/// One key, as its JSON or a line per fact.
pub fn show(session: &Session, key: &Value) {
    if session.json {
        return output::json(key);
    }
    Details::new()
        .row("id", field(key, "id"))
        .row("name", field(key, "name"))
        .row_if("description", field(key, "description"))
        .row("application", field(key, "application_id"))
        .row("status", field(key, "status"))
        .row("verdict", field(key, "verdict"))
        .row("scopes", field(key, "scopes"))
        .row("created", created(key))
        .row("expires", field(key, "expires_at"))
        .row("last used", field(key, "last_used_at"))
        .row_if("disabled by", field(key, "disabled_by"))
        .row_if("revoked", field(key, "revoked_at"))
        .row_if("revoke at", field(key, "revoke_at"))
        .row_if("replaces", field(key, "replaces"))
        .row_if("replaced by", field(key, "replaced_by"))
        .row_if("rate limits", rate_limits(key))
        .row_if("credits", credits(key))
        .row_if("allowed ips", field(key, "allowed_ips"))
        .row_if("leaked", field(key, "leak"))
        .print();
}

fn created(key: &Value) -> String {
    format!(
        "{} by {}",
        field(key, "created_at"),
        field(key, "created_by")
    )
}

/// Each limit and what is left of its current window (a metered key's
/// `usage`): `per-minute (99 left of 100, resets …, 60s window)`.
fn rate_limits(key: &Value) -> String {
    let Some(limits) = key.get("rate_limits").and_then(Value::as_array) else {
        return "-".into();
    };
    let used = key.pointer("/usage/rate_limits").and_then(Value::as_array);
    limits
        .iter()
        .map(|limit| {
            let name = limit.get("name").and_then(Value::as_str).unwrap_or("");
            let now = used.and_then(|u| {
                u.iter()
                    .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
            });
            let left = match now {
                Some(r) => format!(
                    "{} left of {}, resets {}",
                    field(r, "remaining"),
                    field(r, "limit"),
                    field(r, "reset_at")
                ),
                None => format!("{} per window", field(limit, "limit")),
            };
            format!(
                "{} ({left}, {}s window)",
                output::printable(name),
                field(limit, "window_seconds")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `49999 left, refilled to 50000 monthly`.
fn credits(key: &Value) -> String {
    let Some(credits) = key.get("credits").filter(|c| c.is_object()) else {
        return "-".into();
    };
    let left = key
        .pointer("/usage/credits_remaining")
        .unwrap_or(&credits["remaining"]);
    match credits.get("refill").filter(|r| r.is_object()) {
        Some(refill) => format!(
            "{} left, refilled to {} {}",
            cell(left),
            field(refill, "amount"),
            field(refill, "interval")
        ),
        None => format!("{} left", cell(left)),
    }
}
