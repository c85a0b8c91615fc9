//! `keyward keys …`: access keys over `/applications/{id}/keys` and
//! `/keys/{id}`.

use super::key_view::{list_row, show, show_created};
use super::output;
use super::usage::{ClearUsageArgs, UsageArgs};
use super::{Connection, Failure, IdempotencyKey, ListLimit, Yes};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key in an application; its secret is printed once.
    Create(CreateArgs),
    /// List an application's keys (active, disabled and expired).
    List {
        app_id: String,
        #[command(flatten)]
        limit: ListLimit,
    },
    /// Show one key, with what is left of its rate limits and credits.
    Get { id: String },
    /// Change a key's name, description or usage control.
    Update(UpdateArgs),
    /// Disable a key: it verifies as DISABLED until enabled.
    Disable { id: String },
    /// Enable a disabled key (a server may require a session with MFA).
    Enable { id: String },
    /// Make a new key with the same name, scopes and controls; the old one
    /// is revoked now, or after --grace seconds. The new secret is printed
    /// once.
    Regenerate {
        id: String,
        /// Seconds the old key keeps verifying (at most 7 days).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
        /// The new key's expiry, RFC 3339 (default: the API's).
        #[arg(long, value_name = "RFC3339")]
        expires_at: Option<String>,
        #[command(flatten)]
        idempotency: IdempotencyKey,
    },
    /// Revoke a key: it verifies as REVOKED from now on (cannot be undone).
    Revoke {
        id: String,
        #[command(flatten)]
        yes: Yes,
    },
}

#[derive(Args)]
struct CreateArgs {
    /// The application to create it in.
    app_id: String,
    /// Its name.
    #[arg(long)]
    name: String,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
    /// A scope the key grants (repeat for several), e.g. sims:read.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// When it expires, RFC 3339 (default: the API's).
    #[arg(long, value_name = "RFC3339")]
    expires_at: Option<String>,
    #[command(flatten)]
    usage: UsageArgs,
    #[command(flatten)]
    idempotency: IdempotencyKey,
}

#[derive(Args)]
struct UpdateArgs {
    id: String,
    /// The new name.
    #[arg(long)]
    name: Option<String>,
    /// The new description.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    usage: UsageArgs,
    #[command(flatten)]
    clear: ClearUsageArgs,
}

pub async fn run(args: KeysArgs) -> Result<(), Failure> {
    let session = args.connection.session()?;
    let client = &session.client;
    match args.command {
        KeysCommand::Create(create) => {
            let mut body = Map::new();
            body.insert("name".into(), json!(create.name));
            if let Some(d) = create.description {
                body.insert("description".into(), json!(d));
            }
            if !create.scopes.is_empty() {
                body.insert("scopes".into(), json!(create.scopes));
            }
            if let Some(at) = create.expires_at {
                body.insert("expires_at".into(), json!(at));
            }
            create.usage.add_to(&mut body);
            let created = client
                .post(
                    &["applications", &create.app_id, "keys"],
                    Some(&Value::Object(body)),
                    create.idempotency.key.as_deref(),
                )
                .await?;
            show_created(&session, &created);
        }
        KeysCommand::List { app_id, limit } => {
            let limit = limit.limit.map(|l| l as usize);
            let answer = client
                .list(&["applications", &app_id, "keys"], limit)
                .await?;
            output::list(
                session.json,
                &answer,
                &[
                    "ID",
                    "NAME",
                    "STATUS",
                    "VERDICT",
                    "SCOPES",
                    "EXPIRES",
                    "LAST USED",
                ],
                list_row,
                "No keys.",
            );
        }
        KeysCommand::Get { id } => show(&session, &client.get(&["keys", &id]).await?),
        KeysCommand::Update(update) => {
            let mut body = Map::new();
            if let Some(n) = &update.name {
                body.insert("name".into(), json!(n));
            }
            if let Some(d) = &update.description {
                body.insert("description".into(), json!(d));
            }
            update.usage.add_to(&mut body);
            update.clear.add_to(&mut body);
            if body.is_empty() {
                return Err(Failure::Usage(
                    "nothing to change: give --name, --description or a usage-control flag".into(),
                ));
            }
            let key = client
                .patch(&["keys", &update.id], &Value::Object(body))
                .await?;
            show(&session, &key);
        }
        KeysCommand::Disable { id } => show(
            &session,
            &client.post(&["keys", &id, "disable"], None, None).await?,
        ),
        KeysCommand::Enable { id } => show(
            &session,
            &client.post(&["keys", &id, "enable"], None, None).await?,
        ),
        KeysCommand::Regenerate {
            id,
            grace,
            expires_at,
            idempotency,
        } => {
            let mut body = Map::new();
            if let Some(seconds) = grace {
                body.insert("grace_seconds".into(), json!(seconds));
            }
            if let Some(at) = expires_at {
                body.insert("expires_at".into(), json!(at));
            }
            let created = client
                .post(
                    &["keys", &id, "regenerate"],
                    Some(&Value::Object(body)),
                    idempotency.key.as_deref(),
                )
                .await?;
            show_created(&session, &created);
        }
        KeysCommand::Revoke { id, yes } => {
            if !output::confirm(&format!("Revoke key {id}?"), yes.yes) {
                return Err(Failure::Cancelled);
            }
            show(
                &session,
                &client.post(&["keys", &id, "revoke"], None, None).await?,
            )
        }
    }
    Ok(())
}
