//! `keyward webhooks …`: the account's webhooks over `/webhooks`, and the
//! deliveries of one.

use super::output::{self, Details, field};
use super::{Connection, Failure, IdempotencyKey, ListLimit, Session, Yes};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

/// How many deliveries `webhooks deliveries` shows unless told: a busy
/// webhook has thousands over the 30 days they are kept.
const DELIVERIES_DEFAULT: u64 = 50;

#[derive(Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Create a webhook; its signing secret is printed once.
    Create {
        /// Where events are POSTed (https, a public host).
        #[arg(long)]
        url: String,
        /// An event type to deliver, e.g. key.revoked (repeat for several;
        /// none: every type).
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        idempotency: IdempotencyKey,
    },
    /// List the account's webhooks.
    List(ListLimit),
    /// Show one webhook.
    Get { id: String },
    /// Delete a webhook: no more deliveries (cannot be undone).
    Delete {
        id: String,
        #[command(flatten)]
        yes: Yes,
    },
    /// A webhook's deliveries, newest first.
    Deliveries {
        id: String,
        /// The newest this many.
        #[arg(long, default_value_t = DELIVERIES_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
    },
}

pub async fn run(args: WebhooksArgs) -> Result<(), Failure> {
    let session = args.connection.session()?;
    let client = &session.client;
    match args.command {
        WebhooksCommand::Create {
            url,
            events,
            description,
            idempotency,
        } => {
            let mut body = Map::new();
            body.insert("url".into(), json!(url));
            // Absent, not [], means every type: the API refuses an empty
            // list.
            if !events.is_empty() {
                body.insert("events".into(), json!(events));
            }
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            let created = client
                .post(
                    &["webhooks"],
                    Some(&Value::Object(body)),
                    idempotency.key.as_deref(),
                )
                .await?;
            if session.json {
                output::warn_secret("webhook");
                output::json(&created);
            } else {
                show(&session, &created["webhook"]);
                output::secret("webhook", created["secret"].as_str().unwrap_or_default());
            }
        }
        WebhooksCommand::List(limit) => {
            let limit = limit.limit.map(|l| l as usize);
            let answer = client.list(&["webhooks"], limit).await?;
            output::list(
                session.json,
                &answer,
                &["ID", "URL", "EVENTS", "ENABLED", "CREATED"],
                webhook_row,
                "No webhooks.",
            );
        }
        WebhooksCommand::Get { id } => show(&session, &client.get(&["webhooks", &id]).await?),
        WebhooksCommand::Delete { id, yes } => {
            if !output::confirm(&format!("Delete webhook {id}?"), yes.yes) {
                return Err(Failure::Cancelled);
            }
            // 204: the API answers nothing, and so does --json.
            client.delete(&["webhooks", &id]).await?;
            if !session.json {
                output::out(&format!("Deleted webhook {}.", output::printable(&id)));
            }
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let answer = client
                .list(&["webhooks", &id, "deliveries"], Some(limit as usize))
                .await?;
            output::list(
                session.json,
                &answer,
                &[
                    "EVENT",
                    "TYPE",
                    "STATUS",
                    "ATTEMPTS",
                    "ANSWER",
                    "ERROR",
                    "NEXT ATTEMPT",
                ],
                delivery_row,
                "No deliveries.",
            );
        }
    }
    Ok(())
}

/// The types delivered: an empty list means every type.
fn events(webhook: &Value) -> String {
    match field(webhook, "events").as_str() {
        "-" => "all".into(),
        some => some.to_owned(),
    }
}

fn webhook_row(webhook: &Value) -> Vec<String> {
    vec![
        field(webhook, "id"),
        field(webhook, "url"),
        events(webhook),
        field(webhook, "enabled"),
        field(webhook, "created_at"),
    ]
}

fn delivery_row(delivery: &Value) -> Vec<String> {
    [
        "event_id",
        "event_type",
        "status",
        "attempts",
        "response_status",
        "error",
        "next_attempt_at",
    ]
    .iter()
    .map(|name| field(delivery, name))
    .collect()
}

fn show(session: &Session, webhook: &Value) {
    if session.json {
        return output::json(webhook);
    }
    Details::new()
        .row("id", field(webhook, "id"))
        .row("url", field(webhook, "url"))
        .row_if("description", field(webhook, "description"))
        .row("events", events(webhook))
        .row("enabled", field(webhook, "enabled"))
        .row("created", field(webhook, "created_at"))
        .row("updated", field(webhook, "updated_at"))
        .print();
}
