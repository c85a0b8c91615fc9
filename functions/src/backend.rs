//! Which store `keyward serve` runs on: the SQLite file in its data folder
//! (the default, one machine), or a DynamoDB table (`--store dynamodb
//! --table NAME`, for containers: any number of servers share the table),
//! with AWS configuration found the standard way, as the Lambda functions
//! find it.

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

/// The store a server runs on. `sqlite` is set on SQLite, whose audit log
/// is also the events' outbox; on DynamoDB the table's stream is, read by
/// the `deliver-events` function.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub sqlite: Option<Arc<SqliteStore>>,
}

impl Backend {
    /// `<data>/keyward.db`, made with its folder if need be.
    pub fn sqlite(data: &Path) -> Result<Self, String> {
        private_folder(data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let store = Arc::new(
            SqliteStore::open(&data.join("keyward.db")).map_err(|e| crate::error::chain(&e))?,
        );
        Ok(Backend {
            store: store.clone(),
            sqlite: Some(store),
        })
    }

    /// The table `table` (it must exist: `keyward dynamodb create-table`).
    pub async fn dynamodb(table: &str) -> Result<Self, String> {
        let client = dynamodb_client().await?;
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
        })
    }
}

/// A DynamoDB client configured as the Lambda functions' are (retries,
/// timeouts, TLS roots), from the environment.
pub async fn dynamodb_client() -> Result<aws_sdk_dynamodb::Client, String> {
    let sdk = crate::aws::load_config().await?;
    Ok(aws_sdk_dynamodb::Client::new(&sdk))
}

/// `keyward dynamodb create-table`: the table as the template declares it.
pub async fn create_table(table: &str) -> Result<(), String> {
    let client = dynamodb_client().await?;
    DynamoStore::create_table(&client, table)
        .await
        .map_err(|e| crate::error::chain(&e))
}
