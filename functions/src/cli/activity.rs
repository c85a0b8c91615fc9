//! `keyward audit` and `keyward notifications`: what happened in the
//! account, and what the caller is told about their keys.

use super::output::{self, field};
use super::{Connection, Failure, ListLimit};
use clap::Args;
use serde_json::Value;

/// How many audit events `keyward audit` shows unless told: the log of an
/// account only grows, so it is not fetched whole by default.
const AUDIT_DEFAULT: u64 = 50;

#[derive(Args)]
pub struct AuditArgs {
    /// The newest this many events.
    #[arg(long, default_value_t = AUDIT_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct NotificationsArgs {
    #[command(flatten)]
    limit: ListLimit,
    #[command(flatten)]
    connection: Connection,
}

pub async fn audit(args: AuditArgs) -> Result<(), Failure> {
    let session = args.connection.session()?;
    let answer = session
        .client
        .list(&["audit"], Some(args.limit as usize))
        .await?;
    output::list(
        session.json,
        &answer,
        &["AT", "ACTOR", "ACTION", "TARGET"],
        audit_row,
        "No audit events.",
    );
    Ok(())
}

fn audit_row(event: &Value) -> Vec<String> {
    vec![
        field(event, "at"),
        field(event, "actor"),
        field(event, "action"),
        format!(
            "{} {}",
            field(event, "target_type"),
            field(event, "target_id")
        ),
    ]
}

pub async fn notifications(args: NotificationsArgs) -> Result<(), Failure> {
    let session = args.connection.session()?;
    let limit = args.limit.limit.map(|l| l as usize);
    let answer = session.client.list(&["notifications"], limit).await?;
    output::list(
        session.json,
        &answer,
        &["CREATED", "KIND", "KEY", "KEY ID", "EXPIRES", "DAYS LEFT"],
        notice_row,
        "No notifications.",
    );
    Ok(())
}

fn notice_row(notice: &Value) -> Vec<String> {
    [
        "created_at",
        "kind",
        "key_name",
        "key_id",
        "expires_at",
        "days_left",
    ]
    .iter()
    .map(|name| field(notice, name))
    .collect()
}
