//! Webhooks and deliveries: an account's webhooks are one partition (read
//! whole, consistently, for the limit), a webhook's deliveries another,
//! and pending deliveries are found by their next attempt on the index.

use super::DynamoStore;
use super::codec::{from_item, s};
use super::layout::{DUE_PARTITION, GSI, Partition, due_upper_bound};
use crate::events::webhook::{Delivery, Webhook};
use crate::store::StoreResult;

/// One page of a partition holds at most this many items.
const PAGE: usize = 100;

impl DynamoStore {
    /// Every webhook of the account, page after page.
    pub(super) async fn all_webhooks(&self, account: &str) -> StoreResult<Vec<Webhook>> {
        let mut webhooks = Vec::new();
        let mut cursor = None;
        loop {
            let (items, next) = self
                .query_page(Partition::Webhooks { account }, PAGE, cursor.as_deref())
                .await?;
            for item in &items {
                webhooks.push(from_item::<Webhook>(item)?);
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        webhooks.sort_by_key(|w| (w.created_at, w.id.clone()));
        Ok(webhooks)
    }

    /// Pending deliveries whose next attempt is due at `now`, soonest
    /// first (from the index: one that was attempted meanwhile fails its
    /// version condition when the attempt is recorded).
    pub(super) async fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI)
            .key_condition_expression("gsi1pk = :p AND gsi1sk <= :upper")
            .expression_attribute_values(":p", s(DUE_PARTITION))
            .expression_attribute_values(":upper", s(due_upper_bound(now)))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await?;
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(from_item)
            .collect()
    }
}
