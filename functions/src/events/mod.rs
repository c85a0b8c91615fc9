//! Events out (docs/ARCHITECTURE.md, "Events out"): every audited change,
//! as the event a webhook receiver or an EventBridge rule gets.
//!
//! The audit log is the outbox: each change commits its audit event in the
//! same commit, so an event exists exactly when its change does. This module
//! is pure: the event built from an audit event ([`Event::from_audit`]), the
//! Standard Webhooks signature ([`signing`]), the retry schedule
//! ([`schedule`]) and the URL rules ([`address`]). Around them, the I/O:
//! one attempt ([`delivery`]), attempts in order per webhook
//! ([`deliverer`]), and the two sources of deliveries: the local server's
//! outbox reader ([`outbox`]) and the table's stream in AWS ([`stream`]).

pub mod address;
pub mod deliverer;
pub mod delivery;
pub mod outbox;
pub mod schedule;
pub mod sealing;
pub mod signing;
pub mod stream;
pub mod webhook;

use crate::domain::{AuditEvent, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every event type, as DESIGN's list names them; an audit action with
/// another name is not an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "application.created")]
    ApplicationCreated,
    #[serde(rename = "application.updated")]
    ApplicationUpdated,
    #[serde(rename = "application.revoked")]
    ApplicationRevoked,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.updated")]
    KeyUpdated,
    #[serde(rename = "key.disabled")]
    KeyDisabled,
    #[serde(rename = "key.enabled")]
    KeyEnabled,
    #[serde(rename = "key.regenerated")]
    KeyRegenerated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    #[serde(rename = "key.leaked")]
    KeyLeaked,
    #[serde(rename = "user.offboarded")]
    UserOffboarded,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::ApplicationCreated,
        EventType::ApplicationUpdated,
        EventType::ApplicationRevoked,
        EventType::KeyCreated,
        EventType::KeyUpdated,
        EventType::KeyDisabled,
        EventType::KeyEnabled,
        EventType::KeyRegenerated,
        EventType::KeyRevoked,
        EventType::KeyExpiring,
        EventType::KeyLeaked,
        EventType::UserOffboarded,
    ];

    /// The name on the wire and in the audit log (`key.revoked`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ApplicationCreated => "application.created",
            EventType::ApplicationUpdated => "application.updated",
            EventType::ApplicationRevoked => "application.revoked",
            EventType::KeyCreated => "key.created",
            EventType::KeyUpdated => "key.updated",
            EventType::KeyDisabled => "key.disabled",
            EventType::KeyEnabled => "key.enabled",
            EventType::KeyRegenerated => "key.regenerated",
            EventType::KeyRevoked => "key.revoked",
            EventType::KeyExpiring => "key.expiring",
            EventType::KeyLeaked => "key.leaked",
            EventType::UserOffboarded => "user.offboarded",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// What changed: the object's public view before and after, and for a
/// leak where it was found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One event, as webhooks and EventBridge receive it. Its `id` is the audit
/// event's, so every copy of one change (retries, the stream's redelivery)
/// carries the same id and a receiver can drop duplicates by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub account: String,
    #[serde(with = "rfc3339")]
    pub occurred_at: i64,
    pub actor: String,
    pub object: EventObject,
    pub data: EventData,
}

impl Event {
    /// The event an audit event stands for, or `None` when its action is
    /// not an event type. Audit events hold public views only (no hash, no
    /// secret), and so does the event.
    pub fn from_audit(audit: &AuditEvent) -> Option<Event> {
        let kind = EventType::parse(&audit.action)?;
        let url = audit
            .after
            .as_ref()
            .and_then(|after| after.get("leak"))
            .and_then(|leak| leak.get("url"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Event {
            id: audit.id.clone(),
            kind,
            account: audit.account.clone(),
            occurred_at: audit.at,
            actor: audit.actor.clone(),
            object: EventObject {
                kind: audit.target_type.clone(),
                id: audit.target_id.clone(),
            },
            data: EventData {
                before: audit.before.clone(),
                after: audit.after.clone(),
                url,
            },
        })
    }

    /// The JSON a receiver gets: the bytes that are signed and sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn audit(action: &str) -> AuditEvent {
        AuditEvent {
            id: "evt_1".into(),
            account: "acme".into(),
            actor: "alice".into(),
            action: action.into(),
            target_type: "key".into(),
            target_id: "k1".into(),
            at: 1_800_000_000,
            before: Some(json!({"status": "active"})),
            after: Some(json!({"status": "disabled"})),
        }
    }

    #[test]
    fn every_type_round_trips_through_its_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire, json!(kind.as_str()));
        }
        assert_eq!(EventType::parse("key.exploded"), None);
    }

    #[test]
    fn an_event_is_its_audit_event_in_the_designed_shape() {
        let event = Event::from_audit(&audit("key.disabled")).unwrap();
        let wire: Value = serde_json::from_slice(&event.body()).unwrap();
        assert_eq!(
            wire,
            json!({
                "id": "evt_1",
                "type": "key.disabled",
                "account": "acme",
                "occurred_at": "2027-01-15T08:00:00Z",
                "actor": "alice",
                "object": {"type": "key", "id": "k1"},
                "data": {"before": {"status": "active"}, "after": {"status": "disabled"}}
            })
        );
        let back: Event = serde_json::from_value(wire).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn an_action_that_is_no_event_type_gives_none() {
        assert_eq!(Event::from_audit(&audit("webhook.created")), None);
    }
}
