//! The deliverer: reads the outbox (the audit log) from a durable cursor,
//! makes each event's delivery records, and attempts the due ones.
//!
//! `keyward serve` runs it in the background. Committed events are never
//! skipped: the records and the cursor move in one commit, so a process
//! killed at any point reads again what it had not recorded (duplicates
//! possible, losses not), and pending deliveries stay due in the store
//! until an attempt is recorded. Each webhook's deliveries are attempted
//! one after another in commit order, on a task of its own, so a slow
//! receiver delays only itself; a delivery waiting for a retry does not
//! hold back newer ones.

use super::Event;
use super::delivery::{AttemptError, Outcome, Sender};
use super::sealing::SealingKey;
use super::webhook::{Delivery, Webhook};
use crate::clock::Clock;
use crate::domain::AuditEvent;
use crate::store::{CommitError, Store, StoreResult, Write};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many events or deliveries one round reads.
const BATCH: usize = 200;

/// How often an idle deliverer looks for new events and due retries.
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

/// The deliveries for `events` (with their outbox positions) to the
/// `webhooks` of their accounts that want them, in commit order.
pub fn deliveries_for(
    events: &[(u64, AuditEvent)],
    webhooks: &HashMap<String, Vec<Webhook>>,
    now: i64,
) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for (seq, audit) in events {
        let Some(event) = Event::from_audit(audit) else {
            continue;
        };
        for webhook in webhooks.get(&event.account).into_iter().flatten() {
            if webhook.wants(event.kind) {
                deliveries.push(Delivery::new(webhook, &event, *seq, now));
            }
        }
    }
    deliveries
}

pub struct Deliverer {
    store: Arc<dyn Store>,
    outbox: Arc<dyn Outbox>,
    sender: Sender,
    sealing: Arc<SealingKey>,
    clock: Arc<dyn Clock>,
    /// Webhooks with a task attempting their deliveries now.
    busy: Mutex<HashSet<String>>,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Arc<dyn Outbox>,
        sender: Sender,
        sealing: Arc<SealingKey>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Deliverer {
            store,
            outbox,
            sender,
            sealing,
            clock,
            busy: Mutex::new(HashSet::new()),
        }
    }

    /// Reads the events after the cursor and makes their deliveries; how
    /// many events it read.
    pub async fn collect(&self) -> StoreResult<usize> {
        let from = self.outbox.outbox_cursor().await?;
        let events = self.outbox.read_outbox(from, BATCH).await?;
        let Some(&(to, _)) = events.last() else {
            return Ok(0);
        };
        let mut webhooks = HashMap::new();
        for (_, audit) in &events {
            if !webhooks.contains_key(&audit.account) {
                let list = self.store.list_webhooks(&audit.account).await?;
                webhooks.insert(audit.account.clone(), list);
            }
        }
        let deliveries = deliveries_for(&events, &webhooks, self.clock.now());
        match self.outbox.advance_outbox(deliveries, from, to).await {
            // Another deliverer on the same file moved first: read again.
            Ok(()) | Err(CommitError::Conflict) => Ok(events.len()),
            Err(CommitError::Store(e)) => Err(e),
        }
    }

    /// Starts a task per webhook that has due deliveries and no task yet;
    /// how many tasks it started.
    pub fn dispatch(self: &Arc<Self>, due: Vec<Delivery>) -> usize {
        let mut by_webhook: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for delivery in due {
            by_webhook
                .entry(delivery.webhook_id.clone())
                .or_default()
                .push(delivery);
        }
        let mut started = 0;
        for (webhook_id, mut deliveries) in by_webhook {
            deliveries.sort_by_key(|d| d.sequence);
            if !self.lock_busy().insert(webhook_id.clone()) {
                continue;
            }
            started += 1;
            let deliverer = self.clone();
            tokio::spawn(async move {
                for delivery in deliveries {
                    if let Err(e) = deliverer.attempt(&delivery).await {
                        let error = crate::error::chain(&e);
                        tracing::warn!(delivery = %delivery.id, %error, "recording a delivery failed; it stays due");
                        break;
                    }
                }
                deliverer.lock_busy().remove(&webhook_id);
            });
        }
        started
    }

    fn lock_busy(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One round: collect new events, then start the due deliveries.
    pub async fn round(self: &Arc<Self>) -> StoreResult<usize> {
        let read = self.collect().await?;
        let due = self.store.due_deliveries(self.clock.now(), BATCH).await?;
        self.dispatch(due);
        Ok(read)
    }

    /// Whether any webhook's task is still running.
    pub fn is_idle(&self) -> bool {
        self.lock_busy().is_empty()
    }

    /// Attempts `delivery` (as read when it was due) once and records the
    /// outcome; a webhook deleted or disabled since gets no attempt.
    pub async fn attempt(&self, delivery: &Delivery) -> StoreResult<()> {
        let now = self.clock.now();
        let webhook = self
            .store
            .get_webhook(&delivery.account, &delivery.webhook_id)
            .await?;
        let updated = match webhook {
            Some(webhook) if webhook.enabled && !webhook.is_deleted() => {
                let outcome = match self.sealing.open(&webhook.sealed_secret, &webhook.id) {
                    Ok(secret) => {
                        self.sender
                            .send(&webhook.url, &secret, &delivery.event, now)
                            .await
                    }
                    Err(e) => {
                        tracing::error!(webhook = %webhook.id, error = %e, "cannot open the signing secret");
                        Outcome::Failed {
                            status: None,
                            error: AttemptError::SecretUnavailable,
                        }
                    }
                };
                delivery.after_attempt(outcome, self.clock.now())
            }
            _ => delivery.abandoned(now),
        };
        tracing::info!(
            delivery = %updated.id,
            event_type = updated.event.kind.as_str(),
            status = ?updated.status,
            attempts = updated.attempts,
            response_status = updated.response_status,
            "webhook delivery"
        );
        match self
            .store
            .commit(vec![Write::Delivery {
                expected: Some(delivery.version),
                item: updated,
            }])
            .await
        {
            // Another deliverer recorded an attempt first.
            Ok(()) | Err(CommitError::Conflict) => Ok(()),
            Err(CommitError::Store(e)) => Err(e),
        }
    }

    /// Runs rounds every [`POLL_INTERVAL`] until the process ends.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
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
