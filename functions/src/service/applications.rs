//! Applications: create (within the account's limit), list, read, update,
//! revoke (with every live key under it).

use super::batches::{Step, exceeds_one_commit};
use super::paging::{PageOf, PageQuery, paginate};
use super::{CreateApplication, Plan, Service, UpdateFields, new_id, to_value};
use crate::auth::{Caller, perm};
use crate::domain::{
    Application, ApplicationView, validate_description, validate_name, validate_prefix,
};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{MAX_COMMIT_WRITES, Write};
use wasm_validator::{ApplicationStatus, OwnerStatus, StoredKeyStatus, key};

impl Service {
    pub async fn create_application(
        &self,
        caller: &Caller,
        input: &CreateApplication,
        idempotency: Option<&Idempotency>,
    ) -> Result<ApplicationView, ApiError> {
        caller.require(perm::APPLICATIONS_CREATE)?;
        let name = validate_name(&input.name)?;
        let description = validate_description(&input.description)?;
        let key_prefix =
            validate_prefix(input.key_prefix.as_deref().unwrap_or(key::DEFAULT_PREFIX))?;
        self.run(idempotency, |now| {
            let (name, description, key_prefix) =
                (name.clone(), description.clone(), key_prefix.clone());
            async move {
                let creator = self.creator_guard(caller, now).await?;
                let guard = self.store.account_guard(&caller.account).await?;
                let active = self
                    .store
                    .list_applications(&caller.account)
                    .await?
                    .iter()
                    .filter(|a| a.status == ApplicationStatus::Active)
                    .count();
                if active >= self.config.max_active_applications as usize {
                    return Err(ApiError::ApplicationLimitReached(
                        self.config.max_active_applications,
                    ));
                }
                let app = Application {
                    id: new_id("app")?,
                    account: caller.account.clone(),
                    name,
                    description,
                    key_prefix,
                    created_by: caller.user_id.clone(),
                    created_at: now,
                    updated_at: now,
                    status: ApplicationStatus::Active,
                    revoked_at: None,
                    owner_status: OwnerStatus::Active,
                    ttl: None,
                    version: 1,
                };
                let view = app.view();
                let audit = self.audit(
                    caller,
                    "application.created",
                    ("application", &app.id),
                    None,
                    Some(to_value(&view)),
                    now,
                )?;
                Ok(Plan::new(view)
                    .with(creator)
                    .with(Write::AccountGuard {
                        account: caller.account.clone(),
                        expected: guard,
                    })
                    .with(audit)
                    .with(Write::Application {
                        item: app,
                        expected: None,
                    }))
            }
        })
        .await
    }

    pub async fn list_applications(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<ApplicationView>, ApiError> {
        let apps = self.store.list_applications(&caller.account).await?;
        let visible: Vec<ApplicationView> = apps
            .iter()
            .filter(|a| {
                a.status == ApplicationStatus::Active && Self::may_view_application(caller, a)
            })
            .map(Application::view)
            .collect();
        paginate(visible, |a| (a.created_at, a.id.clone()), query)
    }

    pub async fn get_application(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ApplicationView, ApiError> {
        let app = self.application_for(caller, id).await?;
        if !Self::may_view_application(caller, &app) {
            return Err(ApiError::PermissionDenied(perm::APPLICATIONS_VIEW.into()));
        }
        Ok(app.view())
    }

    pub async fn update_application(
        &self,
        caller: &Caller,
        id: &str,
        input: &UpdateFields,
    ) -> Result<ApplicationView, ApiError> {
        self.change_audited(
            caller,
            "application.updated",
            None,
            || async move {
                let app = self.application_for(caller, id).await?;
                caller.require(perm::APPLICATIONS_EDIT)?;
                Ok(app)
            },
            |app: &Application, _now| {
                let name = input.name.as_deref().map(validate_name).transpose()?;
                let description = input
                    .description
                    .as_deref()
                    .map(validate_description)
                    .transpose()?;
                if app.status == ApplicationStatus::Revoked {
                    return Err(ApiError::ApplicationRevoked);
                }
                let mut updated = app.clone();
                updated.name = name.unwrap_or(updated.name);
                updated.description = description.unwrap_or(updated.description);
                Ok(updated)
            },
        )
        .await
    }

    /// Revokes the application and every live key under it, in the same
    /// commit when one holds them. Keys in a grace period do not count
    /// toward the limit, so there may be more than one commit holds: then
    /// batches of keys (each with its audit event) go first and the
    /// application is revoked last, so a retry after a failure finds it
    /// active and carries on.
    pub async fn revoke_application(
        &self,
        caller: &Caller,
        id: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<ApplicationView, ApiError> {
        self.run(idempotency, |now| {
            self.commit_in_batches(
                move || self.revoke_application_step(caller, id, now),
                |()| {},
            )
        })
        .await
    }

    async fn revoke_application_step(
        &self,
        caller: &Caller,
        id: &str,
        now: i64,
    ) -> Result<Step<ApplicationView, ()>, ApiError> {
        let app = self.application_for(caller, id).await?;
        caller.require(perm::APPLICATIONS_REVOKE)?;
        if app.status == ApplicationStatus::Revoked {
            return Ok(Step::Last(Plan::new(app.view())));
        }
        // Only live keys need a write: revoked ones already fail, and
        // expired ones can only be deleted.
        let mut writes = Vec::new();
        for key in self.store.list_application_keys(id).await? {
            if !key.is_live(now) {
                continue;
            }
            // The audit's views show a metered key's live counters.
            let key = self.with_meter(key).await?;
            let mut revoked = key.clone();
            revoked.application_status = ApplicationStatus::Revoked;
            revoked.status = StoredKeyStatus::Revoked;
            revoked.revoked_at = Some(now);
            revoked.updated_at = now;
            revoked.ttl = revoked.purge_after(self.config.retention_seconds());
            writes.push(self.audit(
                caller,
                "key.revoked",
                ("key", &key.id),
                Some(to_value(&key.view(now))),
                Some(to_value(&revoked.view(now))),
                now,
            )?);
            writes.push(Write::Key {
                item: revoked,
                expected: Some(key.version),
            });
        }
        if exceeds_one_commit(writes.len()) {
            // Whole pairs of audit event and key.
            writes.truncate(MAX_COMMIT_WRITES - MAX_COMMIT_WRITES % 2);
            return Ok(Step::Batch(writes, ()));
        }
        let mut revoked = app.clone();
        revoked.status = ApplicationStatus::Revoked;
        revoked.revoked_at = Some(now);
        revoked.updated_at = now;
        revoked.ttl = Some(now + self.config.retention_seconds());
        let (before, after) = (app.view(), revoked.view());
        writes.push(self.audit(
            caller,
            "application.revoked",
            ("application", id),
            Some(to_value(&before)),
            Some(to_value(&after)),
            now,
        )?);
        writes.push(Write::Application {
            item: revoked,
            expected: Some(app.version),
        });
        Ok(Step::Last(Plan {
            writes,
            result: after,
        }))
    }
}
