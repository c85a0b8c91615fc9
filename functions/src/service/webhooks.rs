//! Webhook endpoints (docs/ARCHITECTURE.md, "Events out"): create (within
//! the account's limit, the signing secret shown once), list, read, update,
//! delete, and each endpoint's deliveries. Every action needs
//! `webhooks:manage`; another account's webhook is 404.

use super::audited::Audited;
use super::paging::{PageOf, PageQuery, paginate};
use super::{Plan, Service, new_id, os_random, to_value};
use crate::auth::{Caller, perm};
use crate::domain::validate_description;
use crate::error::ApiError;
use crate::events::EventType;
use crate::events::address::check_url;
use crate::events::signing::SigningSecret;
use crate::events::webhook::{DeliveryView, Webhook, WebhookView};
use crate::idempotency::Idempotency;
use crate::secret::{self, Secret};
use crate::store::Write;
use serde::{Deserialize, Serialize};
use wasm_validator::key;

/// A new webhook and its signing secret: the one answer that shows it.
#[derive(Serialize, Deserialize)]
pub struct CreatedWebhook {
    pub webhook: WebhookView,
    #[serde(serialize_with = "secret::serialize_exposed")]
    pub secret: Secret,
}

pub struct CreateWebhook {
    pub url: String,
    /// `None`: every event type.
    pub events: Option<Vec<String>>,
    pub description: String,
}

/// A PATCH of a webhook: `None` leaves a field as it is; `events:
/// Some(None)` delivers every type again.
#[derive(Default)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// The event types a filter names, sorted and de-duplicated; `None` for
/// every type. An empty list is refused: it would deliver nothing.
pub fn validate_event_types(names: Option<&[String]>) -> Result<Vec<EventType>, ApiError> {
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    if names.is_empty() {
        return Err(ApiError::InvalidEventTypes(
            "events must name at least one type; leave it out for every type".into(),
        ));
    }
    let mut types = names
        .iter()
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                ApiError::InvalidEventTypes(format!(
                    "unknown event type {name:?}; the types are {}",
                    known.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    types.sort();
    types.dedup();
    Ok(types)
}

impl Audited for Webhook {
    type View = WebhookView;
    const TARGET: &'static str = "webhook";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn view_at(&self, _now: i64) -> WebhookView {
        self.view()
    }

    fn touch(&mut self, now: i64, retention_seconds: i64) {
        self.updated_at = now;
        self.ttl = self.deleted_at.map(|at| at + retention_seconds);
    }

    fn write(self, expected: u64) -> Write {
        Write::Webhook {
            item: self,
            expected: Some(expected),
        }
    }
}

impl Service {
    fn check_webhook_url(&self, url: &str) -> Result<String, ApiError> {
        check_url(url, self.config.webhook_allow_insecure)
            .map(|_| url.to_owned())
            .map_err(|refusal| ApiError::InvalidWebhookUrl(refusal.to_string()))
    }

    /// The caller's live webhook, or 404 (missing, deleted and foreign
    /// alike).
    async fn webhook_for(&self, caller: &Caller, id: &str) -> Result<Webhook, ApiError> {
        caller.require(perm::WEBHOOKS_MANAGE)?;
        let valid = id.strip_prefix("wh_").is_some_and(key::is_valid_key_id);
        if !valid {
            return Err(ApiError::WebhookNotFound);
        }
        match self.store.get_webhook(&caller.account, id).await? {
            Some(webhook) if webhook.account == caller.account && !webhook.is_deleted() => {
                Ok(webhook)
            }
            _ => Err(ApiError::WebhookNotFound),
        }
    }

    pub async fn create_webhook(
        &self,
        caller: &Caller,
        input: &CreateWebhook,
        idempotency: Option<&Idempotency>,
    ) -> Result<CreatedWebhook, ApiError> {
        caller.require(perm::WEBHOOKS_MANAGE)?;
        let url = self.check_webhook_url(&input.url)?;
        let events = validate_event_types(input.events.as_deref())?;
        let description = validate_description(&input.description)?;
        let sealing = self.webhook_sealing.as_ref().ok_or_else(|| {
            ApiError::internal(
                "creating a webhook",
                crate::events::sealing::SealingError::MissingKey,
            )
        })?;
        self.run(idempotency, |now| {
            let (url, events, description) = (url.clone(), events.clone(), description.clone());
            async move {
                let guard = self.store.account_guard(&caller.account).await?;
                let live = self
                    .store
                    .list_webhooks(&caller.account)
                    .await?
                    .iter()
                    .filter(|w| !w.is_deleted())
                    .count();
                if live >= self.config.max_webhooks as usize {
                    return Err(ApiError::WebhookLimitReached(self.config.max_webhooks));
                }
                let id = new_id("wh")?;
                let secret = SigningSecret::from_bytes(os_random::<32>()?);
                let webhook = Webhook {
                    sealed_secret: sealing.seal(&secret, &id, os_random::<12>()?),
                    id,
                    account: caller.account.clone(),
                    url,
                    description,
                    events,
                    enabled: true,
                    created_by: caller.user_id.clone(),
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                    ttl: None,
                    version: 1,
                };
                let view = webhook.view();
                let audit = self.audit(
                    caller,
                    "webhook.created",
                    ("webhook", &webhook.id),
                    None,
                    Some(to_value(&view)),
                    now,
                )?;
                Ok(Plan::new(CreatedWebhook {
                    webhook: view,
                    secret: secret.to_text(),
                })
                .with(Write::AccountGuard {
                    account: caller.account.clone(),
                    expected: guard,
                })
                .with(audit)
                .with(Write::Webhook {
                    item: webhook,
                    expected: None,
                }))
            }
        })
        .await
    }

    pub async fn list_webhooks(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<WebhookView>, ApiError> {
        caller.require(perm::WEBHOOKS_MANAGE)?;
        let live: Vec<WebhookView> = self
            .store
            .list_webhooks(&caller.account)
            .await?
            .iter()
            .filter(|w| !w.is_deleted())
            .map(Webhook::view)
            .collect();
        paginate(live, |w| (w.created_at, w.id.clone()), query)
    }

    pub async fn get_webhook(&self, caller: &Caller, id: &str) -> Result<WebhookView, ApiError> {
        Ok(self.webhook_for(caller, id).await?.view())
    }

    /// Changes a webhook. The caller's permission and the webhook are
    /// checked before the new values, so a caller who may not see it
    /// learns nothing from a 422.
    pub async fn update_webhook(
        &self,
        caller: &Caller,
        id: &str,
        input: &UpdateWebhook,
    ) -> Result<WebhookView, ApiError> {
        self.change_audited(
            caller,
            "webhook.updated",
            None,
            || self.webhook_for(caller, id),
            |webhook: &Webhook, _now| {
                let mut updated = webhook.clone();
                if let Some(url) = &input.url {
                    updated.url = self.check_webhook_url(url)?;
                }
                if let Some(events) = &input.events {
                    updated.events = validate_event_types(events.as_deref())?;
                }
                if let Some(description) = &input.description {
                    updated.description = validate_description(description)?;
                }
                if let Some(enabled) = input.enabled {
                    updated.enabled = enabled;
                }
                Ok(updated)
            },
        )
        .await
    }

    /// Deletes a webhook: it gets no more deliveries, and reads answer 404.
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        self.change_audited(
            caller,
            "webhook.deleted",
            None,
            || self.webhook_for(caller, id),
            |webhook: &Webhook, now| {
                let mut deleted = webhook.clone();
                deleted.enabled = false;
                deleted.deleted_at = Some(now);
                Ok(deleted)
            },
        )
        .await
        .map(|_| ())
    }

    pub async fn list_webhook_deliveries(
        &self,
        caller: &Caller,
        id: &str,
        query: &PageQuery,
    ) -> Result<PageOf<DeliveryView>, ApiError> {
        let webhook = self.webhook_for(caller, id).await?;
        let page = self
            .store
            .list_deliveries(&webhook.id, query.limit()?, query.cursor.as_deref())
            .await?;
        Ok(PageOf {
            items: page.items.iter().map(|d| d.view()).collect(),
            next_cursor: page.next_cursor,
        })
    }
}
