//! Which store `keyward serve` and `keyward notify-expiring` run on: the
//! SQLite file in the data folder (the default, one machine), or a DynamoDB
//! table (`--store dynamodb --table NAME`, for containers: any number of
//! servers share the table), with AWS configuration found the standard way,
//! as the Lambda functions find it.

use crate::service::{LogPublisher, NoticePublisher};
use crate::store::Store;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::{SqliteStore, private_folder};
use std::path::Path;
use std::sync::Arc;

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StoreKind {
    #[default]
    Sqlite,
    Dynamodb,
}

/// The store flags of the commands that open one.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The store: the SQLite file in the data folder, or a DynamoDB table
    /// (`--table`; AWS configuration the standard way, `AWS_ENDPOINT_URL`
    /// included) for servers in containers sharing one table.
    #[arg(long, env = "KEYWARD_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// The DynamoDB table (`--store dynamodb`).
    #[arg(long, env = "KEYWARD_TABLE", required_if_eq("store", "dynamodb"))]
    pub table: Option<String>,
}

/// The store a command runs on. `sqlite` is set on SQLite, whose audit log
/// is also the events' outbox; on DynamoDB the table's stream is, read by
/// the `deliver-events` function.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub sqlite: Option<Arc<SqliteStore>>,
    /// Where notices go: the log, or on DynamoDB the SNS topic
    /// `KEYWARD_TOPIC_ARN` when set, as the Lambda functions do.
    pub notices: Arc<dyn NoticePublisher>,
}

impl Backend {
    /// The store `args` name; `data` is the SQLite store's folder.
    pub async fn open(args: &StoreArgs, data: &Path) -> Result<Self, String> {
        match (args.store, args.table.as_deref()) {
            (StoreKind::Sqlite, _) => Self::sqlite(data),
            (StoreKind::Dynamodb, Some(table)) => Self::dynamodb(table).await,
            (StoreKind::Dynamodb, None) => Err("--store dynamodb needs --table".into()),
        }
    }

    /// `<data>/keyward.db`, made with its folder if need be.
    pub fn sqlite(data: &Path) -> Result<Self, String> {
        private_folder(data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let store = Arc::new(
            SqliteStore::open(&data.join("keyward.db")).map_err(|e| crate::error::chain(&e))?,
        );
        Ok(Backend {
            store: store.clone(),
            sqlite: Some(store),
            notices: Arc::new(LogPublisher),
        })
    }

    /// The table `table` (it must exist: `keyward dynamodb create-table`).
    pub async fn dynamodb(table: &str) -> Result<Self, String> {
        let sdk = crate::aws::load_config().await?;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the DynamoDB table {table} cannot be read ({}); make it with `keyward dynamodb create-table --table {table}`",
                    crate::error::chain(&crate::store::StoreError::from(e))
                )
            })?;
        Ok(Backend {
            store: Arc::new(DynamoStore::new(client, table)),
            sqlite: None,
            notices: crate::aws::notice_publisher(&sdk),
        })
    }
}

/// `keyward dynamodb create-table`: the table as the template declares it.
pub async fn create_table(table: &str) -> Result<(), String> {
    let sdk = crate::aws::load_config().await?;
    DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&sdk), table)
        .await
        .map_err(|e| crate::error::chain(&e))
}
