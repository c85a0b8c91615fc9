//! Keys: create (within the application's limit), list, read, the edge
//! record, update, disable, enable, revoke, regenerate (with a grace
//! period for the old key).

use super::paging::{PageOf, PageQuery, paginate};
use super::{CreateKey, Plan, RegenerateKey, Service, UpdateFields, os_random, to_value};
use crate::auth::{Caller, perm};
use crate::config::MAX_GRACE_SECONDS;
use crate::domain::{
    self, Application, Key, KeyView, resolve_expiry, validate_description, validate_name,
    validate_scopes,
};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::secret::{self, Secret};
use crate::store::Write;
use crate::usage::{Balance, Credits, UsageControls, UsageInput};
use serde::{Deserialize, Serialize};
use wasm_validator::{KeyStatus, OwnerStatus, StoredKeyStatus, key};

/// A new key and its secret: the answer of create and regenerate, the one
/// place a secret is shown.
#[derive(Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: KeyView,
    #[serde(serialize_with = "secret::serialize_exposed")]
    pub secret: Secret,
}

/// The fields a new key takes from its creator (or from the key it
/// replaces).
struct KeyFields {
    name: String,
    description: String,
    scopes: Vec<String>,
    usage: UsageControls,
    /// The new key's credit balance (with credits only).
    balance: Option<Balance>,
}

impl Service {
    /// A fresh key and its secret for `app`, the secret shown once.
    fn mint_key(
        &self,
        caller: &Caller,
        app: &Application,
        fields: KeyFields,
        expires_at: i64,
        now: i64,
    ) -> Result<(Key, Secret), ApiError> {
        let (id, full) = key::format_key(&app.key_prefix, &os_random::<16>()?, &os_random::<32>()?);
        let secret = Secret::new(full);
        let mut key = Key {
            id,
            application_id: app.id.clone(),
            account: app.account.clone(),
            name: fields.name,
            description: fields.description,
            prefix: app.key_prefix.clone(),
            hash: key::to_hex(&key::hash_key(secret.expose())),
            scopes: fields.scopes,
            status: StoredKeyStatus::Active,
            created_by: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
            expires_at,
            revoked_at: None,
            revoke_at: None,
            replaced_by: None,
            replaces: None,
            last_used_at: None,
            application_status: app.status,
            owner_status: app.owner_status,
            ttl: 0,
            version: 1,
            usage: fields.usage,
            meter: Default::default(),
            set_balance: fields.balance,
            leak: None,
            disabled_by: None,
            enabled_at: None,
        };
        key.ttl = key.purge_after(self.config.retention_seconds());
        Ok((key, secret))
    }

    /// A key without usage controls.
    pub async fn create_key(
        &self,
        caller: &Caller,
        application_id: &str,
        input: &CreateKey,
        idempotency: Option<&Idempotency>,
    ) -> Result<CreatedKey, ApiError> {
        self.create_key_with_usage(
            caller,
            application_id,
            input,
            &UsageInput::default(),
            idempotency,
        )
        .await
    }

    /// A key with the rate limits, credits and allowed addresses of
    /// `usage` (absent: none).
    pub async fn create_key_with_usage(
        &self,
        caller: &Caller,
        application_id: &str,
        input: &CreateKey,
        usage: &UsageInput,
        idempotency: Option<&Idempotency>,
    ) -> Result<CreatedKey, ApiError> {
        self.run(idempotency, |now| async move {
            let app = self.application_for(caller, application_id).await?;
            caller.require_on(perm::KEYS_CREATE, &app)?;
            let creator = self.creator_guard(caller, now).await?;
            let fields = KeyFields {
                name: validate_name(&input.name)?,
                description: validate_description(&input.description)?,
                scopes: validate_scopes(&input.scopes)?,
                usage: usage.apply_to(&UsageControls::default())?,
                balance: usage.sets_balance(now),
            };
            caller.require_grantable(&fields.scopes)?;
            let expires_at = resolve_expiry(
                input.expires_at.as_deref(),
                now,
                self.config.default_validity_days,
                self.config.max_validity_days,
            )?;
            app.accepts_new_keys()?;
            let keys = self.store.list_application_keys(application_id).await?;
            if domain::keys_counting_toward_limit(&keys, now)
                >= self.config.max_active_keys as usize
            {
                return Err(ApiError::KeyLimitReached(self.config.max_active_keys));
            }
            let (key, secret) = self.mint_key(caller, &app, fields, expires_at, now)?;
            let view = key.view(now);
            let audit = self.audit(
                caller,
                "key.created",
                ("key", &key.id),
                None,
                Some(to_value(&view)),
                now,
            )?;
            // Bumping the application's version serialises creations: two
            // that both counted nine cannot both commit.
            let mut touched = app.clone();
            touched.version = app.version + 1;
            Ok(Plan::new(CreatedKey { key: view, secret })
                .with(creator)
                .with(Write::Application {
                    item: touched,
                    expected: Some(app.version),
                })
                .with(audit)
                .with(Write::Key {
                    item: key,
                    expected: None,
                }))
        })
        .await
    }

    pub async fn list_keys(
        &self,
        caller: &Caller,
        application_id: &str,
        query: &PageQuery,
    ) -> Result<PageOf<KeyView>, ApiError> {
        let app = self.application_for(caller, application_id).await?;
        caller.require_on(perm::KEYS_VIEW, &app)?;
        let now = self.clock.now();
        let keys: Vec<Key> = self
            .store
            .list_application_keys(application_id)
            .await?
            .into_iter()
            .filter(|k| k.status_at(now) != KeyStatus::Revoked)
            .collect();
        // Paged first: only the page's metered keys cost a meter read.
        let page = paginate(keys, |k| (k.created_at, k.id.clone()), query)?;
        let mut items = Vec::with_capacity(page.items.len());
        for key in page.items {
            items.push(self.with_meter(key).await?.view(now));
        }
        Ok(PageOf {
            items,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn get_key(&self, caller: &Caller, id: &str) -> Result<KeyView, ApiError> {
        let (key, app) = self.key_for(caller, id).await?;
        caller.require_on(perm::KEYS_VIEW, &app)?;
        Ok(self.with_meter(key).await?.view(self.clock.now()))
    }

    /// The record the WebAssembly validator checks (`records:read`).
    pub async fn get_key_record(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<wasm_validator::KeyRecord, ApiError> {
        let (key, _) = self.key_for(caller, id).await?;
        caller.require(perm::RECORDS_READ)?;
        Ok(key.record())
    }

    /// Applies `change` to one key under `permission`, audited as
    /// `audit_action` (`Service::change_audited`).
    async fn change_key<F>(
        &self,
        caller: &Caller,
        id: &str,
        permission: &str,
        audit_action: &str,
        idempotency: Option<&Idempotency>,
        change: F,
    ) -> Result<KeyView, ApiError>
    where
        F: Fn(&Key, i64) -> Result<Key, ApiError> + Send + Sync,
    {
        self.change_audited(
            caller,
            audit_action,
            idempotency,
            || async move {
                let (key, app) = self.key_for(caller, id).await?;
                caller.require_on(permission, &app)?;
                // Views before and after show the live counters.
                self.with_meter(key).await
            },
            change,
        )
        .await
    }

    /// A PATCH of the name or the description.
    pub async fn update_key(
        &self,
        caller: &Caller,
        id: &str,
        input: &UpdateFields,
    ) -> Result<KeyView, ApiError> {
        self.update_key_with_usage(caller, id, input, &UsageInput::default())
            .await
    }

    /// A PATCH that may also set or remove usage controls; naming
    /// `credits` sets the balance to its `remaining`.
    pub async fn update_key_with_usage(
        &self,
        caller: &Caller,
        id: &str,
        input: &UpdateFields,
        usage: &UsageInput,
    ) -> Result<KeyView, ApiError> {
        let name = input.name.as_deref().map(validate_name).transpose()?;
        let description = input
            .description
            .as_deref()
            .map(validate_description)
            .transpose()?;
        // Checked before any read, as the name is; applied to the key as
        // read at each attempt.
        usage.apply_to(&UsageControls::default())?;
        self.change_key(
            caller,
            id,
            perm::KEYS_EDIT,
            "key.updated",
            None,
            |key, now| {
                if key.status_at(now) == KeyStatus::Revoked {
                    return Err(ApiError::KeyRevoked);
                }
                let mut updated = key.clone();
                updated.name = name.clone().unwrap_or(updated.name);
                updated.description = description.clone().unwrap_or(updated.description);
                updated.usage = usage.apply_to(&key.usage)?;
                updated.set_balance = usage.sets_balance(now);
                Ok(updated)
            },
        )
        .await
    }

    pub async fn disable_key(
        &self,
        caller: &Caller,
        id: &str,
        idem: Option<&Idempotency>,
    ) -> Result<KeyView, ApiError> {
        self.change_key(
            caller,
            id,
            perm::KEYS_EDIT,
            "key.disabled",
            idem,
            |key, now| match key.status_at(now) {
                KeyStatus::Revoked => Err(ApiError::KeyRevoked),
                KeyStatus::Expired => Err(ApiError::KeyExpired),
                KeyStatus::Disabled => Ok(key.clone()),
                KeyStatus::Active => Ok(Key {
                    status: StoredKeyStatus::Disabled,
                    disabled_by: Some(caller.user_id.clone()),
                    ..key.clone()
                }),
            },
        )
        .await
    }

    pub async fn enable_key(
        &self,
        caller: &Caller,
        id: &str,
        idem: Option<&Idempotency>,
    ) -> Result<KeyView, ApiError> {
        let require_mfa = self.config.require_mfa_to_enable;
        self.change_key(
            caller,
            id,
            perm::KEYS_EDIT,
            "key.enabled",
            idem,
            |key, now| match key.status_at(now) {
                KeyStatus::Revoked => Err(ApiError::KeyRevoked),
                KeyStatus::Expired => Err(ApiError::KeyExpired),
                KeyStatus::Active => Ok(key.clone()),
                KeyStatus::Disabled if require_mfa && !caller.mfa => Err(ApiError::MfaRequired),
                KeyStatus::Disabled => Ok(Key {
                    status: StoredKeyStatus::Active,
                    disabled_by: None,
                    enabled_at: Some(now),
                    ..key.clone()
                }),
            },
        )
        .await
    }

    pub async fn revoke_key(
        &self,
        caller: &Caller,
        id: &str,
        idem: Option<&Idempotency>,
    ) -> Result<KeyView, ApiError> {
        self.change_key(
            caller,
            id,
            perm::KEYS_REVOKE,
            "key.revoked",
            idem,
            |key, now| {
                if key.status == StoredKeyStatus::Revoked {
                    return Ok(key.clone());
                }
                Ok(Key {
                    status: StoredKeyStatus::Revoked,
                    revoked_at: Some(now),
                    ..key.clone()
                })
            },
        )
        .await
    }

    /// A new key with the same application, name, description and scopes;
    /// the old one is revoked now, or at the end of the grace period.
    pub async fn regenerate_key(
        &self,
        caller: &Caller,
        id: &str,
        input: &RegenerateKey,
        idempotency: Option<&Idempotency>,
    ) -> Result<CreatedKey, ApiError> {
        self.run(idempotency, |now| async move {
            let (old, app) = self.key_for(caller, id).await?;
            caller.require_on(perm::KEYS_CREATE, &app)?;
            caller.require_on(perm::KEYS_REVOKE, &app)?;
            let old = self.with_meter(old).await?;
            let creator = self.creator_guard(caller, now).await?;
            // The new key is the caller's: it may carry only scopes the
            // caller could grant (as at creation).
            caller.require_grantable(&old.scopes)?;
            let grace = input.grace_seconds.unwrap_or(0);
            if !(0..=MAX_GRACE_SECONDS as i64).contains(&grace) {
                return Err(ApiError::InvalidGracePeriod);
            }
            let expires_at = resolve_expiry(
                input.expires_at.as_deref(),
                now,
                self.config.default_validity_days,
                self.config.max_validity_days,
            )?;
            match old.status_at(now) {
                KeyStatus::Revoked => return Err(ApiError::KeyRevoked),
                KeyStatus::Expired => return Err(ApiError::KeyExpired),
                KeyStatus::Disabled => return Err(ApiError::KeyDisabled),
                KeyStatus::Active => {}
            }
            if old.replaced_by.is_some() {
                return Err(ApiError::KeyAlreadyRegenerated);
            }
            app.accepts_new_keys()?;
            if old.owner_status == OwnerStatus::Deleted {
                return Err(ApiError::OwnerDeleted);
            }
            // The credits move: the new key takes the old key's live
            // balance, and the old key keeps none, so no credit can be
            // spent twice through a grace period (README, "Usage control").
            let balance = old.meter.balance(&old.usage, now);
            let fields = KeyFields {
                name: old.name.clone(),
                description: old.description.clone(),
                scopes: old.scopes.clone(),
                usage: old.usage.clone(),
                balance,
            };
            let (mut new_key, secret) = self.mint_key(caller, &app, fields, expires_at, now)?;
            new_key.replaces = Some(old.id.clone());
            let mut retired = old.clone();
            if balance.is_some() {
                // No refill either: a refill in the grace period would
                // give the old key credits again.
                retired.usage.credits = Some(Credits {
                    remaining: 0,
                    refill: None,
                });
                retired.set_balance = Some(Balance {
                    remaining: 0,
                    period: 0,
                });
            }
            retired.replaced_by = Some(new_key.id.clone());
            retired.updated_at = now;
            if grace > 0 {
                retired.revoke_at = Some(now + grace);
            } else {
                retired.status = StoredKeyStatus::Revoked;
                retired.revoked_at = Some(now);
            }
            retired.ttl = retired.purge_after(self.config.retention_seconds());
            let new_view = new_key.view(now);
            let regenerated = self.audit(
                caller,
                "key.regenerated",
                ("key", &old.id),
                Some(to_value(&old.view(now))),
                Some(to_value(&retired.view(now))),
                now,
            )?;
            let created = self.audit(
                caller,
                "key.created",
                ("key", &new_key.id),
                None,
                Some(to_value(&new_view)),
                now,
            )?;
            Ok(Plan::new(CreatedKey {
                key: new_view,
                secret,
            })
            .with(creator)
            .with(regenerated)
            .with(created)
            // The old key's version makes a concurrent second regenerate
            // conflict, re-read, and answer 409.
            .with(Write::Key {
                item: retired,
                expected: Some(old.version),
            })
            .with(Write::Key {
                item: new_key,
                expected: None,
            }))
        })
        .await
    }
}
