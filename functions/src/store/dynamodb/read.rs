//! The store's reads: single items, batches, the id sets the limits count
//! over, and pages of a partition.

use super::codec::{Item, s, string_set};
use super::layout::{IdSet, ItemKey, Partition};
use super::{DynamoStore, cursor};
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashSet;
use std::time::Duration;

/// `BatchGetItem` reads at most this many items a request.
const BATCH_GET_ITEMS: usize = 100;
/// Rounds of unprocessed keys before the store counts as unavailable.
const BATCH_GET_RETRIES: u32 = 8;

impl DynamoStore {
    /// One item, strongly consistent.
    pub(super) async fn get(&self, key: ItemKey<'_>) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.attributes()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output.item)
    }

    /// Strongly consistent reads of many items, retrying what DynamoDB
    /// leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_ITEMS) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                if let Some(mut unprocessed) = output.unprocessed_keys
                    && let Some(rest) = unprocessed.remove(&self.table)
                {
                    pending = rest.keys;
                    attempt += 1;
                    if attempt > BATCH_GET_RETRIES {
                        return Err(StoreError::Unavailable {
                            context: "keys still unprocessed after retries".into(),
                            source: None,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
            }
        }
        Ok(found)
    }

    /// The items an id set lists, read consistently; ids of purged items
    /// are pruned from the set on the way.
    pub(super) async fn members(&self, set: IdSet<'_>) -> StoreResult<Vec<Item>> {
        let Some(holder) = self.get(set.holder()).await? else {
            return Ok(Vec::new());
        };
        let ids = string_set(&holder, set.attribute());
        let keys = ids.iter().map(|id| set.member(id).attributes()).collect();
        let found = self.batch_get(keys).await?;
        self.prune_ids(set, &found, &ids).await;
        Ok(found)
    }

    /// Removes ids whose items TTL has purged from an id set. Every id is
    /// added in the same transaction as its item, so an id whose item a
    /// consistent read does not find was purged. Best effort: a failure only
    /// means the next read prunes.
    async fn prune_ids(&self, set: IdSet<'_>, found: &[Item], ids: &[String]) {
        let present: HashSet<&str> = found
            .iter()
            .filter_map(|item| match item.get("pk") {
                Some(AttributeValue::S(pk)) => set.member_id(pk),
                _ => None,
            })
            .collect();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(set.holder().attributes()))
            .update_expression(format!("DELETE {} :gone", set.attribute()))
            .expression_attribute_values(":gone", AttributeValue::Ss(missing))
            .send()
            .await;
        if let Err(e) = result {
            tracing::debug!(error = ?e, "pruning purged ids failed; the next read retries");
        }
    }

    /// One page of a partition, newest first, and the cursor of the next.
    pub(super) async fn query_page(
        &self,
        partition: Partition<'_>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let index = partition.index();
        let names = cursor::key_attributes(index.is_some());
        let (attribute, value) = (partition.attribute(), partition.value());
        let start = cursor::decode(cursor, names, (attribute, &value))?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", attribute)
            .expression_attribute_values(":p", s(value))
            .scan_index_forward(false)
            .set_consistent_read(index.is_none().then_some(true))
            // One more than the page tells whether another page follows.
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        let mut items = output.items.unwrap_or_default();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(|last| cursor::encode(last, names))
        } else {
            None
        };
        Ok((items, next))
    }
}
