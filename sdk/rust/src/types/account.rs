//! The account's audit log, notices, webhooks and offboarding.

use super::{Application, Key, Patch};
use crate::Secret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who did what, when, and the object before and after (public views only).
/// `target_type` on the wire picks the variant, and with it the view that
/// `before` and `after` hold. Boxed: a key's view is large.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target_type", rename_all = "snake_case")]
pub enum AuditEvent {
    Application(Box<AuditRecord<Application>>),
    Key(Box<AuditRecord<Key>>),
    Webhook(Box<AuditRecord<Webhook>>),
    /// A user offboarded: `target_id` is the user, `after` what was marked
    /// owner-deleted.
    User(Box<AuditRecord<OffboardSummary>>),
}

impl AuditEvent {
    /// `application.created`, `key.revoked`, `user.offboarded`, ...
    pub fn action(&self) -> &str {
        self.action_and_target().0
    }

    pub fn target_id(&self) -> &str {
        self.action_and_target().1
    }

    fn action_and_target(&self) -> (&str, &str) {
        match self {
            AuditEvent::Application(e) => (&e.action, &e.target_id),
            AuditEvent::Key(e) => (&e.action, &e.target_id),
            AuditEvent::Webhook(e) => (&e.action, &e.target_id),
            AuditEvent::User(e) => (&e.action, &e.target_id),
        }
    }
}

/// One audit event; `T` is the object's public view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord<T> {
    /// `evt_` and 22 base62 digits.
    pub id: String,
    pub account: String,
    /// The user, or what acted without one (`policy:dormant`,
    /// `secret-scanning:github`, `leak-report`, ...).
    pub actor: String,
    pub action: String,
    pub target_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `None` for a creation.
    pub before: Option<T>,
    pub after: Option<T>,
}

/// A notice to a key's creator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub kind: NoticeKind,
    pub account: String,
    pub recipient: String,
    pub key_id: String,
    pub key_name: String,
    pub application_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Days until the key expires, rounded up.
    pub days_left: i64,
    /// The UTC day (`YYYY-MM-DD`) the notice is about.
    pub day: String,
    /// `leaked`: where the key was found, when the report gave a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// The key expires soon (one a day).
    Expiring,
    /// The key was reported leaked.
    Leaked,
    /// The key will be disabled as unused.
    Dormant,
}

/// What `DELETE /users/{id}` marked owner-deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardSummary {
    pub user_id: String,
    pub applications: Vec<String>,
    pub keys: Vec<String>,
}

/// The type of an event, as webhooks receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A webhook endpoint as every read returns it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// `wh_` and 22 base62 digits.
    pub id: String,
    pub account: String,
    pub url: String,
    pub description: String,
    /// The event types delivered, sorted; empty for every type.
    pub events: Vec<EventType>,
    pub enabled: bool,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateWebhook {
    /// An `https` URL whose host is a public address.
    pub url: String,
    /// `None`: every event type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PATCH /webhooks/{id}`: `None` and [`Patch::Keep`] leave a field as it
/// is; `events: Patch::Clear` delivers every type again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateWebhook {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub events: Patch<Vec<EventType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `false` stops deliveries until set `true` again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A new webhook and its Standard Webhooks signing secret (`whsec_...`),
/// shown once.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: Secret,
}

/// One event's delivery to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<webhook id>.<event id>`.
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The HTTP status of the last answer, if one came.
    pub response_status: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<DeliveryError>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryError {
    HttpStatus,
    RedirectNotFollowed,
    Timeout,
    ConnectionFailed,
    AddressNotPublic,
    InvalidUrl,
    SecretUnavailable,
    WebhookDisabled,
}

/// The answer to `POST /keys/leaked`: how many keys the report held,
/// whatever they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakReceipt {
    pub received: u32,
}
