//! The DynamoDB store: one table, single-table design.
//!
//! - `layout`: where every item lives (partition, sort and index keys) and
//!   the table definition (`create_table`).
//! - `codec`: attribute values, and items to domain values.
//! - `cursor`: page cursors.
//! - `read`: single, batch and page reads.
//! - `writes`: a commit's writes as transaction actions.
//! - `commit`: sending that transaction so that a retry never applies it
//!   twice.
//! - `debit`: a metered key's debit, one conditional update of the key item.
//! - `webhooks`: an account's webhooks, and the deliveries that are due.
//!
//! One global secondary index, `gsi1` (`gsi1pk`, `gsi1sk`), serves the daily
//! expiry job and the notice lists, where eventual consistency is fine. It
//! projects `item` and nothing else: both readers need only the JSON body,
//! and a write that changes no projected attribute writes no index copy, so
//! the usage flush (`SET last_used_at`) costs one write unit, not two.
//!
//! The sets the limits count over are *not* read from an index: an
//! application keeps the ids of its keys (`key_ids`) and the account guard
//! the ids of its applications (`app_ids`), both read with strongly
//! consistent reads and updated in the same transaction as the
//! item they list. Verification is one strongly consistent `GetItem` of the
//! key item, which carries everything the verdict needs. TTL (`ttl`, epoch
//! seconds) purges expired and revoked keys after the retention period.
//!
//! A metered key's counters (rate-limit windows, the credit balance) are
//! attributes of the key item outside its JSON: `get_key` reads them with
//! the key (`Key.meter`), a debit updates them alone, lifecycle writes
//! leave them, TTL purges them with the key.
//!
//! Every conditional write of a commit also stores the commit's random
//! token (`commit_token`), so that a resent transaction can tell that its
//! first attempt applied (`commit.rs`).

mod codec;
mod commit;
mod cursor;
mod debit;
mod layout;
mod read;
mod webhooks;
mod writes;

use super::{CommitError, Metered, Page, Store, StoreError, StoreResult, UserGuard, Write};
use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use crate::events::webhook::{Delivery, Webhook};
use crate::usage::Meter;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use codec::{from_item, key_from_item, n, s, user_guard_from_item, version};
use layout::{GSI, IdSet, ItemKey, Partition, expiry_partitions, expiry_sort_range};

/// DynamoDB allows at most this many actions in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as `infra/template.yaml` declares it (tests, local
    /// DynamoDB-compatible servers).
    pub async fn create_table(client: &Client, table: &str) -> StoreResult<()> {
        layout::create_table(client, table).await
    }
}

/// An SDK error (once the SDK's own retries are spent), kept whole as the
/// cause: throttling, timeouts, broken connections, unreadable answers and
/// any 5xx mean the store is unavailable (503, fail closed), never
/// keyward's own failure.
impl<E> From<SdkError<E, HttpResponse>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(e: SdkError<E, HttpResponse>) -> Self {
        let unavailable = match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            _ => {
                e.raw_response()
                    .is_some_and(|r| r.status().is_server_error())
                    || matches!(
                        e.code(),
                        Some(
                            "ProvisionedThroughputExceededException"
                                | "ThrottlingException"
                                | "RequestLimitExceeded"
                                | "InternalServerError"
                                | "ServiceUnavailable",
                        )
                    )
            }
        };
        if unavailable {
            StoreError::unavailable("a DynamoDB request", e)
        } else {
            StoreError::internal("a DynamoDB request", e)
        }
    }
}

/// A request the SDK's builders refused to build.
impl From<BuildError> for StoreError {
    fn from(e: BuildError) -> Self {
        StoreError::internal("building a DynamoDB request", e)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn account_guard(&self, account: &str) -> StoreResult<u64> {
        Ok(self
            .get(ItemKey::AccountGuard { account })
            .await?
            .map_or(0, |item| version(&item)))
    }

    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        match self.get(ItemKey::Application { id }).await? {
            Some(item) if item.contains_key("item") => from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_applications(&self, account: &str) -> StoreResult<Vec<Application>> {
        let mut apps = self
            .members(IdSet::AccountApplications { account })
            .await?
            .iter()
            .filter(|item| item.contains_key("item"))
            .map(from_item::<Application>)
            .collect::<StoreResult<Vec<_>>>()?;
        apps.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(apps)
    }

    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
        self.get(ItemKey::Key { id })
            .await?
            .as_ref()
            .map(key_from_item)
            .transpose()
    }

    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>> {
        let mut keys = self
            .members(IdSet::ApplicationKeys { application_id })
            .await?
            .iter()
            .map(key_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_account_keys(&self, account: &str) -> StoreResult<Vec<Key>> {
        let mut keys = Vec::new();
        for app in self.list_applications(account).await? {
            keys.extend(self.list_application_keys(&app.id).await?);
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        let (after, until) = expiry_sort_range(from, to);
        let mut keys = Vec::new();
        for partition in expiry_partitions(from, to) {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI)
                    .key_condition_expression("gsi1pk = :p AND gsi1sk BETWEEN :a AND :b")
                    .expression_attribute_values(":p", s(partition.clone()))
                    .expression_attribute_values(":a", s(after.clone()))
                    .expression_attribute_values(":b", s(until.clone()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await?;
                for item in output.items.unwrap_or_default() {
                    keys.push(key_from_item(&item)?);
                }
                match output.last_evaluated_key {
                    Some(last) => start = Some(last),
                    None => break,
                }
            }
        }
        Ok(keys)
    }

    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.get(ItemKey::Idempotency { id })
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    async fn user_guard(&self, account: &str, user_id: &str) -> StoreResult<UserGuard> {
        Ok(self
            .get(ItemKey::UserGuard { account, user_id })
            .await?
            .map(|item| user_guard_from_item(&item))
            .unwrap_or_default())
    }

    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        let (items, next_cursor) = self
            .query_page(Partition::Audit { account }, limit, cursor)
            .await?;
        Ok(Page {
            items: items.iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor,
        })
    }

    async fn list_notices(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Notice>> {
        let partition = Partition::Notices { account, recipient };
        let (items, next_cursor) = self.query_page(partition, limit, cursor).await?;
        Ok(Page {
            items: items.iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor,
        })
    }

    async fn get_webhook(&self, account: &str, id: &str) -> StoreResult<Option<Webhook>> {
        self.get(ItemKey::Webhook { account, id })
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn list_webhooks(&self, account: &str) -> StoreResult<Vec<Webhook>> {
        self.all_webhooks(account).await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        let partition = Partition::Deliveries { webhook_id };
        let (items, next_cursor) = self.query_page(partition, limit, cursor).await?;
        Ok(Page {
            items: items.iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor,
        })
    }

    async fn due_deliveries(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        self.due(now, limit).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        let actions = writes::actions(&self.table, &writes)?;
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Internal {
                context: format!(
                    "a commit of {} items exceeds DynamoDB's transaction limit of {MAX_TRANSACTION_ITEMS}",
                    actions.len()
                ),
                source: None,
            }
            .into());
        }
        commit::transact(&self.client, actions).await
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        // DynamoDB has no batch update; the updates go out together.
        let updates = uses.iter().map(|(id, at)| {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(ItemKey::Key { id }.attributes()))
                .update_expression("SET last_used_at = :at")
                .condition_expression("attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)")
                .expression_attribute_values(":at", n(*at))
                .send()
        });
        for result in futures::future::join_all(updates).await {
            if let Err(e) = result {
                let stale = e
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception());
                if !stale {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    async fn purge_expired(&self, _now: i64) -> StoreResult<u64> {
        Ok(0)
    }

    fn purges_itself(&self) -> bool {
        true
    }

    /// The counters came with the key item: no read.
    async fn read_meter(&self, key: &Key) -> StoreResult<Meter> {
        Ok(key.meter.clone())
    }

    async fn debit(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered> {
        self.debit_key(key, cost, now).await
    }
}
