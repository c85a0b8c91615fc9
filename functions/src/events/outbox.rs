//! The local outbox: `keyward serve` reads the audit log from a durable
//! cursor, makes each event's delivery records, and hands due deliveries to
//! the [`Deliverer`].
//!
//! Committed events are never skipped: the records and the cursor move in
//! one commit, so a process killed at any point reads again what it had
//! not recorded (duplicates possible, losses not), and pending deliveries
//! stay due in the store until an attempt is recorded.

use super::Event;
use super::deliverer::Deliverer;
use super::webhook::{Delivery, Webhook};
use crate::domain::AuditEvent;
use crate::store::{CommitError, StoreResult};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How many events one round reads.
const BATCH: usize = 200;

/// How often an idle server looks for new events and due retries.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A store whose audit log can be read in commit order (SQLite; in AWS the
/// table's stream plays this part).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// The position of the last event deliveries were made for (0: none).
    async fn outbox_cursor(&self) -> StoreResult<u64>;
    /// Up to `limit` events after `after`, in commit order, with positions.
    async fn read_outbox(&self, after: u64, limit: usize) -> StoreResult<Vec<(u64, AuditEvent)>>;
    /// Makes `deliveries` (keeping any already made) and moves the cursor
    /// from `from` to `to` in one commit; a conflict when it is not at `from`.
    async fn advance_outbox(
        &self,
        deliveries: Vec<Delivery>,
        from: u64,
        to: u64,
    ) -> Result<(), CommitError>;
}

/// The deliveries for `events` (with their positions) to the `webhooks` of
/// their accounts that want them, in commit order.
pub fn deliveries_for(
    events: &[(u64, AuditEvent)],
    webhooks: &HashMap<String, Vec<Webhook>>,
    now: i64,
) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for (sequence, audit) in events {
        let Some(event) = Event::from_audit(audit) else {
            continue;
        };
        for webhook in webhooks.get(&event.account).into_iter().flatten() {
            if webhook.wants(&event) {
                deliveries.push(Delivery::new(webhook, &event, *sequence, now));
            }
        }
    }
    deliveries
}

/// The webhooks of the accounts of `events`, read once each.
pub async fn webhooks_of(
    deliverer: &Deliverer,
    events: &[(u64, AuditEvent)],
) -> StoreResult<HashMap<String, Vec<Webhook>>> {
    let mut webhooks = HashMap::new();
    for (_, audit) in events {
        if !webhooks.contains_key(&audit.account) {
            let list = deliverer.store().list_webhooks(&audit.account).await?;
            webhooks.insert(audit.account.clone(), list);
        }
    }
    Ok(webhooks)
}

/// The outbox's reader in `keyward serve`.
pub struct LocalOutbox {
    outbox: Arc<dyn Outbox>,
    deliverer: Arc<Deliverer>,
}

impl LocalOutbox {
    pub fn new(outbox: Arc<dyn Outbox>, deliverer: Arc<Deliverer>) -> Self {
        LocalOutbox { outbox, deliverer }
    }

    pub fn deliverer(&self) -> &Arc<Deliverer> {
        &self.deliverer
    }

    /// Reads the events after the cursor and makes their deliveries; how
    /// many events it read.
    pub async fn collect(&self) -> StoreResult<usize> {
        let from = self.outbox.outbox_cursor().await?;
        let events = self.outbox.read_outbox(from, BATCH).await?;
        let Some(&(to, _)) = events.last() else {
            return Ok(0);
        };
        let webhooks = webhooks_of(&self.deliverer, &events).await?;
        let now = self.deliverer.clock().now();
        let deliveries = deliveries_for(&events, &webhooks, now);
        match self.outbox.advance_outbox(deliveries, from, to).await {
            // Another server on the same file moved first: read again.
            Ok(()) | Err(CommitError::Conflict) => Ok(events.len()),
            Err(CommitError::Store(e)) => Err(e),
        }
    }

    /// One round: collect new events, then start the due deliveries.
    pub async fn round(&self) -> StoreResult<usize> {
        let read = self.collect().await?;
        self.deliverer.dispatch_due().await?;
        Ok(read)
    }

    /// Runs rounds every [`POLL_INTERVAL`] until the process ends.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.round().await {
                    let error = crate::error::chain(&e);
                    tracing::warn!(%error, "reading the outbox failed; will retry");
                }
            }
        })
    }
}
