//! `keyward apps …`: applications over `/applications`.

use super::output::{self, Details, field};
use super::{Connection, Failure, IdempotencyKey, ListLimit, Session, Yes};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value, json};

#[derive(Args)]
pub struct AppsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: AppsCommand,
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Create an application.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
        /// The prefix of its keys' text, [a-z][a-z0-9]{0,15} (default kw).
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        idempotency: IdempotencyKey,
    },
    /// List the active applications you may see.
    List(ListLimit),
    /// Show one application.
    Get { id: String },
    /// Change an application's name or description.
    Update(UpdateArgs),
    /// Revoke an application and every live key under it (cannot be
    /// undone).
    Revoke {
        id: String,
        #[command(flatten)]
        yes: Yes,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
struct UpdateArgs {
    id: String,
    /// The new name.
    #[arg(long, group = "change")]
    name: Option<String>,
    /// The new description.
    #[arg(long, group = "change")]
    description: Option<String>,
}

pub async fn run(args: AppsArgs) -> Result<(), Failure> {
    let session = args.connection.session()?;
    let client = &session.client;
    match args.command {
        AppsCommand::Create {
            name,
            description,
            prefix,
            idempotency,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            if let Some(p) = prefix {
                body.insert("key_prefix".into(), json!(p));
            }
            let app = client
                .post(
                    &["applications"],
                    Some(&Value::Object(body)),
                    idempotency.key.as_deref(),
                )
                .await?;
            show(&session, &app);
        }
        AppsCommand::List(limit) => {
            let limit = limit.limit.map(|l| l as usize);
            let answer = client.list(&["applications"], limit).await?;
            output::list(
                session.json,
                &answer,
                &["ID", "NAME", "PREFIX", "STATUS", "CREATED"],
                list_row,
                "No applications.",
            );
        }
        AppsCommand::Get { id } => show(&session, &client.get(&["applications", &id]).await?),
        AppsCommand::Update(update) => {
            let mut body = Map::new();
            if let Some(n) = update.name {
                body.insert("name".into(), json!(n));
            }
            if let Some(d) = update.description {
                body.insert("description".into(), json!(d));
            }
            let app = client
                .patch(&["applications", &update.id], &Value::Object(body))
                .await?;
            show(&session, &app);
        }
        AppsCommand::Revoke { id, yes } => {
            if !output::confirm(
                &format!("Revoke application {id} and every key under it?"),
                yes.yes,
            ) {
                return Err(Failure::Cancelled);
            }
            let app = client
                .post(&["applications", &id, "revoke"], None, None)
                .await?;
            show(&session, &app);
        }
    }
    Ok(())
}

fn list_row(app: &Value) -> Vec<String> {
    ["id", "name", "key_prefix", "status", "created_at"]
        .iter()
        .map(|name| field(app, name))
        .collect()
}

/// One application, as its JSON or a line per fact.
fn show(session: &Session, app: &Value) {
    if session.json {
        return output::json(app);
    }
    Details::new()
        .row("id", field(app, "id"))
        .row("name", field(app, "name"))
        .row_if("description", field(app, "description"))
        .row("key prefix", field(app, "key_prefix"))
        .row("status", field(app, "status"))
        .row("owner", owner(app))
        .row("account", field(app, "account"))
        .row("created", field(app, "created_at"))
        .row("updated", field(app, "updated_at"))
        .row_if("revoked", field(app, "revoked_at"))
        .print();
}

/// Who created it, and whether they have been offboarded.
fn owner(app: &Value) -> String {
    let by = field(app, "created_by");
    match app.get("owner_status").and_then(Value::as_str) {
        Some("active") | None => by,
        Some(status) => format!("{by} ({})", output::printable(status)),
    }
}
