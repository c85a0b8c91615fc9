//! `deliver-events` in AWS: the table's DynamoDB stream is the outbox. Each
//! batch's new audit items become events, which go on the EventBridge bus
//! and into delivery records for the account's webhooks; the first attempts
//! are made before the invocation returns, and later ones by
//! `retry-deliveries` from the records (`Store::due_deliveries`).
//!
//! Records are handled in stream order. The first record whose event cannot
//! be put on the bus or whose delivery records cannot be written is
//! reported as the batch's failure (a partial batch response), so Lambda
//! retries the batch from it, and nothing after it is handled in this
//! invocation: per-account commit order holds, and nothing is skipped.
//! A webhook's failed attempt is not a batch failure; it is retried on the
//! delivery schedule.

use super::Event;
use super::deliverer::Deliverer;
use super::webhook::{Delivery, Webhook};
use crate::domain::AuditEvent;
use crate::error::Cause;
use crate::store::{CommitError, Write};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;
use std::sync::Arc;

/// How long a new delivery is left to `deliver-events`'s own first attempt
/// before `retry-deliveries` may take it: longer than the function's
/// timeout (infra/template.yaml).
pub const FIRST_ATTEMPT_SECONDS: i64 = 180;

/// Where every event is published besides webhooks (EventBridge in AWS).
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: &Event) -> Result<(), Cause>;
}

/// The audit event a stream record carries, and its place in the account's
/// order (from the item's sort key, `<at>#<nanos>#<id>`); `None` for any
/// other change of the table.
pub fn audit_event_of(record: &EventRecord) -> Result<Option<(u64, AuditEvent)>, Cause> {
    let image = &record.change.new_image;
    let text = |name: &str| match image.get(name) {
        Some(AttributeValue::S(text)) => Some(text.as_str()),
        _ => None,
    };
    if record.event_name != "INSERT" || !text("pk").is_some_and(|pk| pk.starts_with("AUDIT#")) {
        return Ok(None);
    }
    let sequence = text("sk")
        .and_then(|sk| {
            let mut parts = sk.splitn(3, '#');
            let at: u64 = parts.next()?.parse().ok()?;
            let nanos: u64 = parts.next()?.parse().ok()?;
            at.checked_mul(1_000_000_000)?.checked_add(nanos)
        })
        .ok_or("an audit item whose sort key is not <at>#<nanos>#<id>")?;
    let json = text("item").ok_or("an audit item without its JSON body")?;
    Ok(Some((sequence, serde_json::from_str(json)?)))
}

pub struct StreamHandler {
    deliverer: Arc<Deliverer>,
    bus: Arc<dyn EventBus>,
}

impl StreamHandler {
    pub fn new(deliverer: Arc<Deliverer>, bus: Arc<dyn EventBus>) -> Self {
        StreamHandler { deliverer, bus }
    }

    /// Publishes the record's event and makes its delivery records.
    async fn take(
        &self,
        record: &EventRecord,
        webhooks: &mut HashMap<String, Vec<Webhook>>,
    ) -> Result<Vec<Delivery>, Cause> {
        let Some((sequence, audit)) = audit_event_of(record)? else {
            return Ok(Vec::new());
        };
        let Some(event) = Event::from_audit(&audit) else {
            return Ok(Vec::new());
        };
        self.bus.publish(&event).await?;
        if !webhooks.contains_key(&event.account) {
            let list = self.deliverer.store().list_webhooks(&event.account).await?;
            webhooks.insert(event.account.clone(), list);
        }
        let now = self.deliverer.clock().now();
        let mut made = Vec::new();
        for webhook in &webhooks[&event.account] {
            if !webhook.wants(&event) {
                continue;
            }
            // Due for the sweep only after this invocation could have made
            // the first attempt itself.
            let mut delivery = Delivery::new(webhook, &event, sequence, now);
            delivery.next_attempt_at = Some(now + FIRST_ATTEMPT_SECONDS);
            let write = Write::Delivery {
                item: delivery.clone(),
                expected: None,
            };
            match self.deliverer.store().commit(vec![write]).await {
                Ok(()) => made.push(Delivery {
                    version: 1,
                    ..delivery
                }),
                // A retried batch: the record exists, and its attempts are
                // the schedule's.
                Err(CommitError::Conflict) => {}
                Err(CommitError::Store(e)) => return Err(Box::new(e)),
            }
        }
        Ok(made)
    }

    /// Handles a batch; the answer names the first record to retry, if any.
    /// First attempts start only before `stop_at`; the rest are due for
    /// `retry-deliveries`.
    pub async fn handle(
        &self,
        batch: &StreamEvent,
        stop_at: Option<std::time::Instant>,
    ) -> DynamoDbEventResponse {
        let mut webhooks = HashMap::new();
        let mut made = Vec::new();
        let mut response = DynamoDbEventResponse::default();
        for record in &batch.records {
            match self.take(record, &mut webhooks).await {
                Ok(deliveries) => made.extend(deliveries),
                Err(e) => {
                    tracing::error!(
                        record = %record.event_id,
                        error = %crate::error::chain(e.as_ref()),
                        "an event could not be published or recorded; the batch resumes from it"
                    );
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        self.deliverer.deliver_all(made, stop_at).await;
        response
    }
}
