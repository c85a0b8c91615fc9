//! Webhook endpoints and their delivery records: the items, their public
//! views and the rules on them.

use super::EventType;
use super::delivery::{AttemptError, Outcome};
use super::schedule;
use crate::domain::rfc3339;
use serde::{Deserialize, Serialize};

/// A webhook endpoint of an account. `sealed_secret` is its signing secret
/// sealed under the webhook sealing key (`sealing`); no view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub account: String,
    pub url: String,
    pub description: String,
    /// The types delivered; empty means every type.
    pub events: Vec<EventType>,
    pub enabled: bool,
    pub sealed_secret: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when deleted: reads answer 404, deliveries stop, and the item
    /// stays until the store purges it at `ttl`.
    pub deleted_at: Option<i64>,
    pub ttl: Option<i64>,
    #[serde(default)]
    pub version: u64,
}

/// A webhook as every read answers it: no secret, sealed or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub account: String,
    pub url: String,
    pub description: String,
    /// The types delivered; empty means every type.
    pub events: Vec<EventType>,
    pub enabled: bool,
    pub created_by: String,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
}

impl Webhook {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether `event` goes to this webhook: it is live, its filter takes
    /// the type, and the change happened once it existed (a reader behind
    /// the log does not send a new webhook older changes).
    pub fn wants(&self, event: &super::Event) -> bool {
        self.enabled
            && !self.is_deleted()
            && event.occurred_at >= self.created_at
            && (self.events.is_empty() || self.events.contains(&event.kind))
    }

    pub fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id.clone(),
            account: self.account.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry at `next_attempt_at`.
    Pending,
    Delivered,
    /// The schedule is spent, or the webhook is gone.
    Failed,
}

/// One event's delivery to one webhook: what `GET /webhooks/{id}/deliveries`
/// lists. Its id is `<webhook id>.<event id>`, so writing it twice (a
/// deliverer that resumes after a crash) conflicts instead of duplicating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub account: String,
    pub webhook_id: String,
    /// The event itself, as it is sent: a retry needs nothing else.
    pub event: super::Event,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The last answer's HTTP status, if any answer came.
    pub response_status: Option<u16>,
    pub error: Option<AttemptError>,
    pub last_attempt_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    /// The order deliveries of one webhook were made in (the outbox's).
    pub sequence: u64,
    pub ttl: i64,
    #[serde(default)]
    pub version: u64,
}

/// How long delivery records are kept.
pub const DELIVERY_RETENTION_SECONDS: i64 = 30 * 86_400;

/// A delivery as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub response_status: Option<u16>,
    pub error: Option<AttemptError>,
    #[serde(with = "rfc3339::option")]
    pub last_attempt_at: Option<i64>,
    #[serde(with = "rfc3339::option")]
    pub next_attempt_at: Option<i64>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
}

impl Delivery {
    /// A new delivery of `event` to `webhook`, due at `now`.
    pub fn new(webhook: &Webhook, event: &super::Event, sequence: u64, now: i64) -> Delivery {
        Delivery {
            id: format!("{}.{}", webhook.id, event.id),
            account: webhook.account.clone(),
            webhook_id: webhook.id.clone(),
            event: event.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            response_status: None,
            error: None,
            last_attempt_at: None,
            next_attempt_at: Some(now),
            created_at: now,
            sequence,
            ttl: now + DELIVERY_RETENTION_SECONDS,
            version: 0,
        }
    }

    /// The delivery after an attempt at `now` that came to `outcome`:
    /// delivered, due again by the schedule, or failed once it is spent.
    pub fn after_attempt(&self, outcome: Outcome, now: i64) -> Delivery {
        let mut next = self.clone();
        next.attempts += 1;
        next.last_attempt_at = Some(now);
        match outcome {
            Outcome::Delivered { status } => {
                next.status = DeliveryStatus::Delivered;
                next.response_status = Some(status);
                next.error = None;
                next.next_attempt_at = None;
            }
            Outcome::Failed { status, error } => {
                next.response_status = status;
                next.error = Some(error);
                next.next_attempt_at = schedule::next_attempt(next.attempts, now);
                if next.next_attempt_at.is_none() {
                    next.status = DeliveryStatus::Failed;
                }
            }
        }
        next
    }

    /// The delivery given up because its webhook was deleted or disabled.
    pub fn abandoned(&self, now: i64) -> Delivery {
        let mut next = self.clone();
        next.status = DeliveryStatus::Failed;
        next.error = Some(AttemptError::WebhookDisabled);
        next.next_attempt_at = None;
        next.last_attempt_at = next.last_attempt_at.or(Some(now));
        next
    }

    pub fn is_due(&self, now: i64) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_some_and(|at| at <= now)
    }

    pub fn view(&self) -> DeliveryView {
        DeliveryView {
            id: self.id.clone(),
            webhook_id: self.webhook_id.clone(),
            event_id: self.event.id.clone(),
            event_type: self.event.kind,
            status: self.status,
            attempts: self.attempts,
            response_status: self.response_status,
            error: self.error,
            last_attempt_at: self.last_attempt_at,
            next_attempt_at: self.next_attempt_at,
            created_at: self.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventData, EventObject};

    fn webhook(events: Vec<EventType>) -> Webhook {
        Webhook {
            id: "wh_1".into(),
            account: "acme".into(),
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            events,
            enabled: true,
            sealed_secret: "v1:sealed".into(),
            created_by: "alice".into(),
            created_at: 0,
            updated_at: 0,
            deleted_at: None,
            ttl: None,
            version: 1,
        }
    }

    fn event() -> Event {
        Event {
            id: "evt_1".into(),
            kind: EventType::KeyRevoked,
            account: "acme".into(),
            occurred_at: 0,
            actor: "alice".into(),
            object: EventObject {
                kind: "key".into(),
                id: "k".into(),
            },
            data: EventData::default(),
        }
    }

    #[test]
    fn filters_enabled_deleted_and_age_decide_what_a_webhook_wants() {
        let revoked = event();
        assert!(webhook(vec![]).wants(&revoked));
        assert!(webhook(vec![EventType::KeyRevoked]).wants(&revoked));
        assert!(!webhook(vec![EventType::KeyCreated]).wants(&revoked));
        let mut off = webhook(vec![]);
        off.enabled = false;
        assert!(!off.wants(&revoked));
        let mut gone = webhook(vec![]);
        gone.deleted_at = Some(1);
        assert!(!gone.wants(&revoked));
        let mut newer = webhook(vec![]);
        newer.created_at = revoked.occurred_at + 1;
        assert!(!newer.wants(&revoked));
        let view = serde_json::to_string(&webhook(vec![]).view()).unwrap();
        assert!(!view.contains("sealed"), "{view}");
    }

    #[test]
    fn a_failing_delivery_follows_the_schedule_then_fails() {
        let mut delivery = Delivery::new(&webhook(vec![]), &event(), 7, 100);
        assert_eq!(delivery.id, "wh_1.evt_1");
        assert!(delivery.is_due(100));
        let failure = Outcome::Failed {
            status: Some(500),
            error: AttemptError::HttpStatus,
        };
        let mut now = 100;
        let mut pauses = Vec::new();
        while delivery.status == DeliveryStatus::Pending {
            delivery = delivery.after_attempt(failure, now);
            if let Some(next) = delivery.next_attempt_at {
                assert!(!delivery.is_due(next - 1));
                pauses.push(next - now);
                now = next;
            }
        }
        assert_eq!(pauses, schedule::RETRY_DELAYS);
        assert_eq!(delivery.attempts, schedule::MAX_ATTEMPTS);
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert_eq!(delivery.response_status, Some(500));
        assert!(!delivery.is_due(i64::MAX));
    }

    #[test]
    fn a_success_after_failures_is_delivered_and_not_due() {
        let delivery = Delivery::new(&webhook(vec![]), &event(), 1, 0)
            .after_attempt(
                Outcome::Failed {
                    status: None,
                    error: AttemptError::Timeout,
                },
                0,
            )
            .after_attempt(Outcome::Delivered { status: 204 }, 5);
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert_eq!(
            (delivery.attempts, delivery.response_status),
            (2, Some(204))
        );
        assert_eq!(delivery.error, None);
        assert!(!delivery.is_due(i64::MAX));
    }
}
