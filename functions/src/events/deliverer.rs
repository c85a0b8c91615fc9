//! Attempting deliveries: each webhook's in commit order on a task of its
//! own, so a slow receiver delays only itself, and each attempt's outcome
//! recorded at the version read (a second deliverer's record of the same
//! attempt conflicts and is dropped). A delivery waiting for a retry does
//! not hold back newer ones.
//!
//! Where deliveries come from is the caller's: the local outbox
//! (`outbox`), or the table's stream in AWS (`stream`); pending retries
//! come from [`Store::due_deliveries`] in both.

use super::delivery::{AttemptError, Outcome, Sender};
use super::sealing::SealingKey;
use super::webhook::Delivery;
use crate::clock::Clock;
use crate::store::{CommitError, Store, StoreResult, Write};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many due deliveries one round reads.
pub const DUE_BATCH: usize = 200;

/// The most attempt outcomes one commit records (a store commit's most).
pub const RECORD_BATCH: usize = crate::store::MAX_COMMIT_WRITES;

/// How long an attempt's outcome may wait for others to share its commit:
/// fewer commits of the deliverer leave the store's writer to the changes.
pub const RECORD_WITHIN: Duration = Duration::from_millis(200);

pub struct Deliverer {
    store: Arc<dyn Store>,
    sender: Sender,
    sealing: Arc<SealingKey>,
    clock: Arc<dyn Clock>,
    /// Webhooks with a task attempting their deliveries now.
    busy: Mutex<HashSet<String>>,
}

/// Deliveries by webhook, each webhook's in the order they were made.
fn by_webhook(deliveries: Vec<Delivery>) -> BTreeMap<String, Vec<Delivery>> {
    let mut grouped: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for delivery in deliveries {
        grouped
            .entry(delivery.webhook_id.clone())
            .or_default()
            .push(delivery);
    }
    for list in grouped.values_mut() {
        list.sort_by_key(|d| d.sequence);
    }
    grouped
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        sender: Sender,
        sealing: Arc<SealingKey>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Deliverer {
            store,
            sender,
            sealing,
            clock,
            busy: Mutex::new(HashSet::new()),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock_busy(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether no webhook's task is running.
    pub fn is_idle(&self) -> bool {
        self.lock_busy().is_empty()
    }

    /// Attempts one webhook's deliveries in order, recording their
    /// outcomes a batch at a time: one commit for up to [`RECORD_BATCH`]
    /// attempts or [`RECORD_WITHIN`], whichever comes first. A crash
    /// before a batch's commit sends its deliveries again (duplicates, never
    /// losses); a batch that cannot be recorded stops the run (they stay
    /// due).
    async fn attempt_in_order(&self, deliveries: Vec<Delivery>, stop_at: Option<Instant>) {
        let mut unrecorded: Vec<(u64, Delivery)> = Vec::new();
        let mut oldest = Instant::now();
        for delivery in deliveries {
            // Past the time budget the rest stay due, for the next run.
            if stop_at.is_some_and(|at| Instant::now() >= at) {
                break;
            }
            match self.attempt_unrecorded(&delivery).await {
                Ok(updated) => {
                    if unrecorded.is_empty() {
                        oldest = Instant::now();
                    }
                    unrecorded.push((delivery.version, updated));
                }
                Err(e) => {
                    let error = crate::error::chain(&e);
                    tracing::warn!(delivery = %delivery.id, %error, "a webhook could not be read; its deliveries stay due");
                    break;
                }
            }
            let due = unrecorded.len() >= RECORD_BATCH || oldest.elapsed() >= RECORD_WITHIN;
            if due && let Err(e) = self.record(std::mem::take(&mut unrecorded)).await {
                let error = crate::error::chain(&e);
                tracing::warn!(%error, "recording deliveries failed; they stay due");
                return;
            }
        }
        if let Err(e) = self.record(unrecorded).await {
            let error = crate::error::chain(&e);
            tracing::warn!(%error, "recording deliveries failed; they stay due");
        }
    }

    /// Records attempts' outcomes in one commit; when another deliverer
    /// recorded one of them first (a conflict), each on its own, so the
    /// others are not lost.
    async fn record(&self, outcomes: Vec<(u64, Delivery)>) -> StoreResult<()> {
        let writes = |outcomes: &[(u64, Delivery)]| -> Vec<Write> {
            outcomes
                .iter()
                .map(|(expected, item)| Write::Delivery {
                    item: item.clone(),
                    expected: Some(*expected),
                })
                .collect()
        };
        match outcomes.len() {
            0 => return Ok(()),
            1 => {}
            _ => match self.store.commit(writes(&outcomes)).await {
                Ok(()) => return Ok(()),
                Err(CommitError::Conflict) => {}
                Err(CommitError::Store(e)) => return Err(e),
            },
        }
        for outcome in outcomes {
            match self
                .store
                .commit(writes(std::slice::from_ref(&outcome)))
                .await
            {
                // Another deliverer recorded this attempt first.
                Ok(()) | Err(CommitError::Conflict) => {}
                Err(CommitError::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Starts a task per webhook that has deliveries in `due` and no task
    /// yet, and returns at once (the local server's loop).
    pub fn dispatch(self: &Arc<Self>, due: Vec<Delivery>) -> usize {
        let mut started = 0;
        for (webhook_id, deliveries) in by_webhook(due) {
            if !self.lock_busy().insert(webhook_id.clone()) {
                continue;
            }
            started += 1;
            let deliverer = self.clone();
            tokio::spawn(async move {
                deliverer.attempt_in_order(deliveries, None).await;
                deliverer.lock_busy().remove(&webhook_id);
            });
        }
        started
    }

    /// Attempts `deliveries`, webhooks side by side, and returns when every
    /// attempt is recorded (a Lambda invocation, which must not return
    /// with work in flight). No attempt starts after `stop_at`: what is
    /// left stays due for the next run (a Lambda function's deadline less
    /// one attempt's timeout).
    pub async fn deliver_all(&self, deliveries: Vec<Delivery>, stop_at: Option<Instant>) {
        let groups = by_webhook(deliveries)
            .into_values()
            .map(|list| self.attempt_in_order(list, stop_at));
        futures::future::join_all(groups).await;
    }

    /// Starts the deliveries due now (a retry's time has come, or a first
    /// attempt was never recorded).
    pub async fn dispatch_due(self: &Arc<Self>) -> StoreResult<usize> {
        let due = self
            .store
            .due_deliveries(self.clock.now(), DUE_BATCH)
            .await?;
        Ok(self.dispatch(due))
    }

    /// Attempts the deliveries due now and waits for them (the scheduled
    /// function in AWS); how many it attempted.
    pub async fn deliver_due(&self, stop_at: Option<Instant>) -> StoreResult<usize> {
        let due = self
            .store
            .due_deliveries(self.clock.now(), DUE_BATCH)
            .await?;
        let count = due.len();
        self.deliver_all(due, stop_at).await;
        Ok(count)
    }

    /// Attempts `delivery` (as read when it was due) once and records the
    /// outcome; a webhook deleted or disabled since gets no attempt.
    pub async fn attempt(&self, delivery: &Delivery) -> StoreResult<()> {
        let updated = self.attempt_unrecorded(delivery).await?;
        self.record(vec![(delivery.version, updated)]).await
    }

    /// Attempts `delivery` once: the record as it stands after.
    async fn attempt_unrecorded(&self, delivery: &Delivery) -> StoreResult<Delivery> {
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
        Ok(updated)
    }
}
