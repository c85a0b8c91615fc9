//! Every lifecycle action, written once over the [`Store`] trait.
//!
//! A mutation reads what it needs, checks the rules, and returns a plan: the
//! writes (each with the version it expects) and the answer. [`Service::run`]
//! commits the plan, and when a concurrent change made any expectation fail
//! it reads again and re-plans; that is how limits hold under concurrency on
//! any store. With an Idempotency-Key the sealed answer is committed in the
//! same transaction, so a retry can never create twice.

use crate::auth::{Caller, perm};
use crate::clock::Clock;
use crate::config::{Config, DAY, IDEMPOTENCY_TTL_SECONDS, MAX_GRACE_SECONDS};
use crate::domain::{
    self, Application, ApplicationView, AuditEvent, Key, KeyView, Notice, resolve_expiry,
    validate_description, validate_name, validate_prefix, validate_scopes,
};
use crate::error::ApiError;
use crate::idempotency::{Idempotency, Reply};
use crate::secret::Secret;
use crate::store::{CommitError, MAX_COMMIT_WRITES, Page, Store, StoreError, Write};
use crate::usage::UsageRecorder;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use wasm_validator::{
    ApplicationStatus, DecisionFields, KeyStatus, OwnerStatus, StoredKeyStatus, Verdict,
    VerdictCode, key,
};

/// Attempts before a mutation gives up on concurrent conflicts (409).
const MAX_ATTEMPTS: u32 = 64;
pub const DEFAULT_PAGE_LIMIT: usize = 50;
pub const MAX_PAGE_LIMIT: usize = 100;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::StoreUnavailable(m),
            StoreError::Internal(m) => ApiError::Internal(m),
            StoreError::InvalidCursor => ApiError::InvalidCursor,
        }
    }
}

/// Where expiry notices go besides the store: the log locally, SNS in AWS.
#[async_trait]
pub trait NoticePublisher: Send + Sync {
    async fn publish(&self, notice: &Notice) -> Result<(), String>;
}

pub struct LogPublisher;

#[async_trait]
impl NoticePublisher for LogPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        tracing::info!(
            notice = %notice.id,
            recipient = %notice.recipient,
            key_id = %notice.key_id,
            days_left = notice.days_left,
            "key expiring soon"
        );
        Ok(())
    }
}

// ---- request bodies ------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFields {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "whole_seconds")]
    pub grace_seconds: Option<i64>,
}

/// JSON has one kind of number: `3600.0` is the integer 3600 (JSON Schema's
/// `integer` says so too), though serde's `i64` refuses it. A fraction is
/// refused; a whole number beyond `i64` saturates, so the range check
/// answers it.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // `as` saturates at the ends of `i64`.
        Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "grace_seconds must be a whole number of seconds, not {number}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub key: Secret,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size: default 50, capped at 100; 0 is refused.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            Some(0) => Err(ApiError::InvalidQuery("limit must be at least 1".into())),
            Some(n) => Ok(n.min(MAX_PAGE_LIMIT)),
            None => Ok(DEFAULT_PAGE_LIMIT),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for PageOf<T> {
    fn from(page: Page<T>) -> Self {
        PageOf {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

/// What one run of the expiry job did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct NotifyReport {
    pub examined: usize,
    pub sent: usize,
    pub already_sent: usize,
    pub publish_failures: usize,
    pub purged: u64,
}

/// The writes of a mutation and the answer it gives when they commit.
pub struct Plan {
    writes: Vec<Write>,
    reply: Reply,
}

impl Plan {
    fn new(status: u16, body: Value) -> Self {
        Plan {
            writes: Vec::new(),
            reply: Reply { status, body },
        }
    }

    fn with(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn os_random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("OS random source failed: {e}")))?;
    Ok(bytes)
}

fn new_id(prefix: &str) -> Result<String, ApiError> {
    Ok(format!(
        "{prefix}_{}",
        key::encode_key_id(&os_random::<16>()?)
    ))
}

/// Pages a small, fully read list ordered by (created_at, id). The cursor
/// names the last item returned, so items removed meanwhile do not shift it.
fn paginate<T>(
    mut items: Vec<T>,
    order: impl Fn(&T) -> (i64, String),
    query: &PageQuery,
) -> Result<PageOf<T>, ApiError> {
    let limit = query.limit()?;
    items.sort_by_key(&order);
    let after = match &query.cursor {
        None => None,
        Some(cursor) => {
            let raw = URL_SAFE_NO_PAD
                .decode(cursor)
                .map_err(|_| ApiError::InvalidCursor)?;
            let text = String::from_utf8(raw).map_err(|_| ApiError::InvalidCursor)?;
            let (at, id) = text.split_once(':').ok_or(ApiError::InvalidCursor)?;
            Some((
                at.parse::<i64>().map_err(|_| ApiError::InvalidCursor)?,
                id.to_owned(),
            ))
        }
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|a| order(item) > *a))
        .collect();
    let next_cursor = if rest.len() > limit {
        rest.truncate(limit);
        rest.last().map(|last| {
            let (at, id) = order(last);
            URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
        })
    } else {
        None
    };
    Ok(PageOf {
        items: rest,
        next_cursor,
    })
}

pub struct Service {
    store: Arc<dyn Store>,
    config: Config,
    clock: Arc<dyn Clock>,
    usage: UsageRecorder,
    publisher: Arc<dyn NoticePublisher>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        clock: Arc<dyn Clock>,
        publisher: Arc<dyn NoticePublisher>,
    ) -> Self {
        Service {
            store,
            usage: UsageRecorder::new(config.usage_resolution_seconds),
            config,
            clock,
            publisher,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Writes noted key uses (called by a background task).
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        self.usage
            .flush(self.store.as_ref(), self.clock.now())
            .await
    }

    /// The background task that writes noted uses every second, off every
    /// answer's path (in Lambda it resumes with the next invocation).
    pub fn spawn_usage_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = service.flush_usage().await {
                    tracing::warn!(error = %e, "writing key usage failed; will retry");
                }
            }
        })
    }

    /// Plans and commits a mutation, re-planning on conflicts; replays the
    /// stored answer for a retried Idempotency-Key.
    async fn run<F, Fut>(
        &self,
        idempotency: Option<&Idempotency>,
        plan: F,
    ) -> Result<Reply, ApiError>
    where
        F: Fn(i64) -> Fut + Send + Sync,
        Fut: Future<Output = Result<Plan, ApiError>> + Send,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            if let Some(idem) = idempotency
                && let Some(record) = self.store.get_idempotency(idem.record_id()).await?
                && record.expires_at > now
            {
                return idem.open(&record);
            }
            let Plan { mut writes, reply } = plan(now).await?;
            if writes.is_empty() && idempotency.is_none() {
                return Ok(reply);
            }
            if let Some(idem) = idempotency {
                let record =
                    idem.seal(&reply, os_random::<12>()?, now + IDEMPOTENCY_TTL_SECONDS)?;
                writes.push(Write::Idempotency { record, now });
            }
            match self.store.commit(writes).await {
                Ok(()) => return Ok(reply),
                Err(CommitError::Conflict) => {
                    // Jittered backoff keeps many contenders from colliding
                    // in lock-step.
                    let cap = 1u64 << attempt.min(6);
                    let jitter = u64::from(os_random::<1>()?[0]) % cap;
                    tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                }
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ApiError::Conflict)
    }

    fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: (&str, &str),
        before: Option<Value>,
        after: Option<Value>,
        now: i64,
    ) -> Result<Write, ApiError> {
        Ok(Write::Audit(AuditEvent {
            id: new_id("evt")?,
            account: caller.account.clone(),
            actor: caller.user_id.clone(),
            action: action.to_owned(),
            target_type: target.0.to_owned(),
            target_id: target.1.to_owned(),
            at: now,
            before,
            after,
        }))
    }

    /// The caller's application, or 404 (missing and foreign alike).
    async fn application_for(&self, caller: &Caller, id: &str) -> Result<Application, ApiError> {
        match self.store.get_application(id).await? {
            Some(app) if app.account == caller.account => Ok(app),
            _ => Err(ApiError::ApplicationNotFound),
        }
    }

    /// The caller's key and its application, or 404.
    async fn key_for(&self, caller: &Caller, id: &str) -> Result<(Key, Application), ApiError> {
        if !key::is_valid_key_id(id) {
            return Err(ApiError::KeyNotFound);
        }
        let key = match self.store.get_key(id).await? {
            Some(key) if key.account == caller.account => key,
            _ => return Err(ApiError::KeyNotFound),
        };
        let app = self
            .store
            .get_application(&key.application_id)
            .await?
            .ok_or(ApiError::KeyNotFound)?;
        Ok((key, app))
    }

    fn may_view_application(caller: &Caller, app: &Application) -> bool {
        caller.has(perm::APPLICATIONS_VIEW) || app.created_by == caller.user_id
    }

    /// Refuses an offboarded caller, and returns the write that bumps the
    /// caller's guard. A creation commits it, so it conflicts with an
    /// offboarding that commits between its read and its commit (and the
    /// offboarding conflicts with it the other way round).
    async fn creator_guard(&self, caller: &Caller, now: i64) -> Result<Write, ApiError> {
        let guard = self
            .store
            .user_guard(&caller.account, &caller.user_id)
            .await?;
        if guard.offboarded {
            return Err(ApiError::UserOffboarded);
        }
        Ok(Write::UserGuard {
            account: caller.account.clone(),
            user_id: caller.user_id.clone(),
            expected: guard.version,
            offboarded: false,
            at: now,
        })
    }

    /// A fresh key and its secret for `app`, the secret shown once.
    fn mint_key(
        &self,
        caller: &Caller,
        app: &Application,
        fields: (String, String, Vec<String>),
        expires_at: i64,
        now: i64,
    ) -> Result<(Key, Secret), ApiError> {
        let (id, full) = key::format_key(&app.key_prefix, &os_random::<16>()?, &os_random::<32>()?);
        let secret = Secret::new(full);
        let (name, description, scopes) = fields;
        let mut key = Key {
            id,
            application_id: app.id.clone(),
            account: app.account.clone(),
            name,
            description,
            prefix: app.key_prefix.clone(),
            hash: key::to_hex(&key::hash_key(secret.expose())),
            scopes,
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
        };
        key.ttl = key.purge_after(self.config.retention_seconds());
        Ok((key, secret))
    }

    fn created_reply(key: &Key, secret: &Secret, now: i64) -> Value {
        json!({ "key": key.view(now), "secret": secret.expose() })
    }

    // ---- applications --------------------------------------------------

    pub async fn create_application(
        &self,
        caller: &Caller,
        input: &CreateApplication,
        idempotency: Option<&Idempotency>,
    ) -> Result<Reply, ApiError> {
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
                let view = to_value(&app.view());
                Ok(Plan::new(201, view.clone())
                    .with(creator)
                    .with(Write::AccountGuard {
                        account: caller.account.clone(),
                        expected: guard,
                    })
                    .with(self.audit(
                        caller,
                        "application.created",
                        ("application", &app.id),
                        None,
                        Some(view),
                        now,
                    )?)
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
    ) -> Result<Reply, ApiError> {
        self.run(None, |now| async move {
            let app = self.application_for(caller, id).await?;
            caller.require(perm::APPLICATIONS_EDIT)?;
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
            if updated == app {
                return Ok(Plan::new(200, to_value(&app.view())));
            }
            updated.updated_at = now;
            let (before, after) = (to_value(&app.view()), to_value(&updated.view()));
            Ok(Plan::new(200, after.clone())
                .with(self.audit(
                    caller,
                    "application.updated",
                    ("application", id),
                    Some(before),
                    Some(after),
                    now,
                )?)
                .with(Write::Application {
                    item: updated,
                    expected: Some(app.version),
                }))
        })
        .await
    }

    /// Revokes the application and every live key under it, in the same
    /// commit when one holds them.
    pub async fn revoke_application(
        &self,
        caller: &Caller,
        id: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Reply, ApiError> {
        self.run(idempotency, |now| async move {
            for _ in 0..MAX_ATTEMPTS {
                let app = self.application_for(caller, id).await?;
                caller.require(perm::APPLICATIONS_REVOKE)?;
                if app.status == ApplicationStatus::Revoked {
                    return Ok(Plan::new(200, to_value(&app.view())));
                }
                // Only live keys need a write: revoked ones already fail, and
                // expired ones can only be deleted.
                let live = self
                    .store
                    .list_application_keys(id)
                    .await?
                    .into_iter()
                    .filter(|k| k.is_live(now));
                let mut writes = Vec::new();
                for key in live {
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
                // Keys in a grace period do not count toward the limit, so
                // there may be more than one commit holds (with the
                // application, its audit event and an idempotency record).
                // Then a batch of keys (each with its audit event) goes
                // first and the rest is read again; the application is
                // revoked last, so a retry after a failure finds it active
                // and carries on.
                if writes.len() + 3 > MAX_COMMIT_WRITES {
                    writes.truncate(MAX_COMMIT_WRITES - MAX_COMMIT_WRITES % 2);
                    match self.store.commit(writes).await {
                        Ok(()) | Err(CommitError::Conflict) => continue,
                        Err(CommitError::Store(e)) => return Err(e.into()),
                    }
                }
                let mut revoked = app.clone();
                revoked.status = ApplicationStatus::Revoked;
                revoked.revoked_at = Some(now);
                revoked.updated_at = now;
                revoked.ttl = Some(now + self.config.retention_seconds());
                let (before, after) = (to_value(&app.view()), to_value(&revoked.view()));
                writes.push(self.audit(
                    caller,
                    "application.revoked",
                    ("application", id),
                    Some(before),
                    Some(after.clone()),
                    now,
                )?);
                writes.push(Write::Application {
                    item: revoked,
                    expected: Some(app.version),
                });
                return Ok(Plan {
                    writes,
                    reply: Reply {
                        status: 200,
                        body: after,
                    },
                });
            }
            Err(ApiError::Conflict)
        })
        .await
    }

    // ---- keys ----------------------------------------------------------

    pub async fn create_key(
        &self,
        caller: &Caller,
        application_id: &str,
        input: &CreateKey,
        idempotency: Option<&Idempotency>,
    ) -> Result<Reply, ApiError> {
        self.run(idempotency, |now| async move {
            let app = self.application_for(caller, application_id).await?;
            caller.require_on(perm::KEYS_CREATE, &app)?;
            let creator = self.creator_guard(caller, now).await?;
            let name = validate_name(&input.name)?;
            let description = validate_description(&input.description)?;
            let scopes = validate_scopes(&input.scopes)?;
            caller.require_grantable(&scopes)?;
            let expires_at = resolve_expiry(
                input.expires_at.as_deref(),
                now,
                self.config.default_validity_days,
                self.config.max_validity_days,
            )?;
            if app.status == ApplicationStatus::Revoked {
                return Err(ApiError::ApplicationRevoked);
            }
            if app.owner_status == OwnerStatus::Deleted {
                return Err(ApiError::OwnerDeleted);
            }
            let keys = self.store.list_application_keys(application_id).await?;
            let counted = domain::keys_counting_toward_limit(&keys, now);
            if counted >= self.config.max_active_keys as usize {
                return Err(ApiError::KeyLimitReached(self.config.max_active_keys));
            }
            let (key, secret) =
                self.mint_key(caller, &app, (name, description, scopes), expires_at, now)?;
            let view = to_value(&key.view(now));
            // Bumping the application's version serialises creations: two
            // that both counted nine cannot both commit.
            let mut touched = app.clone();
            touched.version = app.version + 1;
            Ok(Plan::new(201, Self::created_reply(&key, &secret, now))
                .with(creator)
                .with(Write::Application {
                    item: touched,
                    expected: Some(app.version),
                })
                .with(self.audit(
                    caller,
                    "key.created",
                    ("key", &key.id),
                    None,
                    Some(view),
                    now,
                )?)
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
        let keys: Vec<KeyView> = self
            .store
            .list_application_keys(application_id)
            .await?
            .iter()
            .filter(|k| k.status_at(now) != KeyStatus::Revoked)
            .map(|k| k.view(now))
            .collect();
        paginate(keys, |k| (k.created_at, k.id.clone()), query)
    }

    pub async fn get_key(&self, caller: &Caller, id: &str) -> Result<KeyView, ApiError> {
        let (key, app) = self.key_for(caller, id).await?;
        caller.require_on(perm::KEYS_VIEW, &app)?;
        Ok(key.view(self.clock.now()))
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

    /// Applies `change` to one key under `action`'s permission, with an audit
    /// event; a change that alters nothing answers the key as it is.
    async fn change_key<F>(
        &self,
        caller: &Caller,
        id: &str,
        permission: &str,
        audit_action: &str,
        idempotency: Option<&Idempotency>,
        change: F,
    ) -> Result<Reply, ApiError>
    where
        F: Fn(&Key, i64) -> Result<Key, ApiError> + Send + Sync,
    {
        self.run(idempotency, |now| {
            let change = &change;
            async move {
                let (key, app) = self.key_for(caller, id).await?;
                caller.require_on(permission, &app)?;
                let mut updated = change(&key, now)?;
                if updated == key {
                    return Ok(Plan::new(200, to_value(&key.view(now))));
                }
                updated.updated_at = now;
                updated.ttl = updated.purge_after(self.config.retention_seconds());
                let (before, after) = (to_value(&key.view(now)), to_value(&updated.view(now)));
                Ok(Plan::new(200, after.clone())
                    .with(self.audit(
                        caller,
                        audit_action,
                        ("key", id),
                        Some(before),
                        Some(after),
                        now,
                    )?)
                    .with(Write::Key {
                        item: updated,
                        expected: Some(key.version),
                    }))
            }
        })
        .await
    }

    pub async fn update_key(
        &self,
        caller: &Caller,
        id: &str,
        input: &UpdateFields,
    ) -> Result<Reply, ApiError> {
        let name = input.name.as_deref().map(validate_name).transpose()?;
        let description = input
            .description
            .as_deref()
            .map(validate_description)
            .transpose()?;
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
    ) -> Result<Reply, ApiError> {
        self.change_key(
            caller,
            id,
            perm::KEYS_EDIT,
            "key.disabled",
            idem,
            |key, now| match key.status_at(now) {
                KeyStatus::Revoked => Err(ApiError::KeyRevoked),
                KeyStatus::Expired => Err(ApiError::KeyExpired),
                KeyStatus::Active | KeyStatus::Disabled => Ok(Key {
                    status: StoredKeyStatus::Disabled,
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
    ) -> Result<Reply, ApiError> {
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
    ) -> Result<Reply, ApiError> {
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
    ) -> Result<Reply, ApiError> {
        self.run(idempotency, |now| async move {
            let (old, app) = self.key_for(caller, id).await?;
            caller.require_on(perm::KEYS_CREATE, &app)?;
            caller.require_on(perm::KEYS_REVOKE, &app)?;
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
            if app.status == ApplicationStatus::Revoked {
                return Err(ApiError::ApplicationRevoked);
            }
            if app.owner_status == OwnerStatus::Deleted || old.owner_status == OwnerStatus::Deleted
            {
                return Err(ApiError::OwnerDeleted);
            }
            let fields = (
                old.name.clone(),
                old.description.clone(),
                old.scopes.clone(),
            );
            let (mut new_key, secret) = self.mint_key(caller, &app, fields, expires_at, now)?;
            new_key.replaces = Some(old.id.clone());
            let mut retired = old.clone();
            retired.replaced_by = Some(new_key.id.clone());
            retired.updated_at = now;
            if grace > 0 {
                retired.revoke_at = Some(now + grace);
            } else {
                retired.status = StoredKeyStatus::Revoked;
                retired.revoked_at = Some(now);
            }
            retired.ttl = retired.purge_after(self.config.retention_seconds());
            let new_view = to_value(&new_key.view(now));
            Ok(Plan::new(201, Self::created_reply(&new_key, &secret, now))
                .with(creator)
                .with(self.audit(
                    caller,
                    "key.regenerated",
                    ("key", &old.id),
                    Some(to_value(&old.view(now))),
                    Some(to_value(&retired.view(now))),
                    now,
                )?)
                .with(self.audit(
                    caller,
                    "key.created",
                    ("key", &new_key.id),
                    None,
                    Some(new_view),
                    now,
                )?)
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

    // ---- verification ----------------------------------------------------

    /// One read, no write on the answer's path: the use is noted in memory
    /// and written later in a batch.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<Verdict<'static>, ApiError> {
        let scopes = validate_scopes(&request.scopes)?;
        let Ok(parsed) = key::parse(request.key.expose()) else {
            return Ok(Verdict::malformed());
        };
        let stored = self.store.get_key(parsed.key_id).await?;
        let now = self.clock.now();
        let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
        // The core's one decision over the stored key's fields, borrowed;
        // then the answer takes the key's strings instead of copying them.
        let code = {
            let fields = stored.as_ref().map(|k| DecisionFields {
                key_id: &k.id,
                hash: &k.hash,
                status: k.status,
                expires_at: k.expires_at,
                revoke_at: k.revoke_at,
                scopes: &k.scopes,
                application_status: k.application_status,
                owner_status: k.owner_status,
            });
            wasm_validator::decide(&parsed, fields.as_ref(), &required, now)
        };
        if code == VerdictCode::Valid {
            self.usage.record(parsed.key_id, now);
        }
        Ok(match stored {
            Some(k) if code != VerdictCode::NotFound => Verdict::matched(
                code,
                k.id,
                k.application_id,
                k.account,
                k.scopes,
                k.expires_at,
            ),
            _ => Verdict::not_found(parsed.key_id.to_owned()),
        })
    }

    // ---- users, audit, notices ------------------------------------------

    /// The user's applications and keys stop working: every application it
    /// created, every live key under them and every live key it created are
    /// marked owner-deleted, in one commit when one holds them, and the user
    /// can create no more.
    pub async fn offboard_user(
        &self,
        caller: &Caller,
        user_id: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Reply, ApiError> {
        caller.require(perm::USERS_OFFBOARD)?;
        // Characters, as the message says (and as the OpenAPI document's
        // `maxLength` counts them), not UTF-8 bytes.
        if user_id.is_empty() || user_id.chars().count() > 256 {
            return Err(ApiError::InvalidQuery(
                "the user id must be 1 to 256 characters".into(),
            ));
        }
        // Ids marked by earlier commits of this offboarding (see below).
        let marked = Mutex::new((Vec::<String>::new(), Vec::<String>::new()));
        self.run(idempotency, |now| {
            let marked = &marked;
            async move {
                for _ in 0..MAX_ATTEMPTS {
                    // Read before listing: a creation by the user that
                    // commits after this read bumps the guard, so this
                    // commit conflicts and the re-plan sees what it created.
                    let guard = self.store.user_guard(&caller.account, user_id).await?;
                    let guard = Write::UserGuard {
                        account: caller.account.clone(),
                        user_id: user_id.to_owned(),
                        expected: guard.version,
                        offboarded: true,
                        at: now,
                    };
                    // (write, is an application, id)
                    let mut items = Vec::new();
                    let mut owned_apps = std::collections::HashSet::new();
                    for app in self.store.list_applications(&caller.account).await? {
                        if app.created_by != user_id {
                            continue;
                        }
                        owned_apps.insert(app.id.clone());
                        if app.owner_status == OwnerStatus::Active {
                            let (id, version) = (app.id.clone(), app.version);
                            let mut updated = app;
                            updated.owner_status = OwnerStatus::Deleted;
                            updated.updated_at = now;
                            let write = Write::Application {
                                item: updated,
                                expected: Some(version),
                            };
                            items.push((write, true, id));
                        }
                    }
                    for key in self.store.list_account_keys(&caller.account).await? {
                        let owned =
                            key.created_by == user_id || owned_apps.contains(&key.application_id);
                        // Live keys only, as when an application is revoked:
                        // a key already revoked or expired keeps its verdict.
                        if owned && key.owner_status == OwnerStatus::Active && key.is_live(now) {
                            let (id, version) = (key.id.clone(), key.version);
                            let mut updated = key;
                            updated.owner_status = OwnerStatus::Deleted;
                            updated.updated_at = now;
                            let write = Write::Key {
                                item: updated,
                                expected: Some(version),
                            };
                            items.push((write, false, id));
                        }
                    }
                    // More than one commit holds (with the guard, the audit
                    // event and an idempotency record): the guard and a
                    // first batch commit now, applications first, and the
                    // rest is read again. From that commit on the user
                    // creates nothing more, so this ends; each batch is
                    // idempotent, so a retry after a failure carries on.
                    let batch = items.len() + 3 > MAX_COMMIT_WRITES;
                    if batch {
                        items.truncate(MAX_COMMIT_WRITES - 1);
                    }
                    let mut writes = vec![guard];
                    let (mut app_ids, mut key_ids) = marked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    for (write, is_app, id) in items {
                        writes.push(write);
                        if is_app { &mut app_ids } else { &mut key_ids }.push(id);
                    }
                    if batch {
                        match self.store.commit(writes).await {
                            Ok(()) => {
                                *marked.lock().unwrap_or_else(PoisonError::into_inner) =
                                    (app_ids, key_ids);
                            }
                            Err(CommitError::Conflict) => {}
                            Err(CommitError::Store(e)) => return Err(e.into()),
                        }
                        continue;
                    }
                    let summary =
                        json!({ "user_id": user_id, "applications": app_ids, "keys": key_ids });
                    writes.push(self.audit(
                        caller,
                        "user.offboarded",
                        ("user", user_id),
                        None,
                        Some(summary.clone()),
                        now,
                    )?);
                    return Ok(Plan {
                        writes,
                        reply: Reply {
                            status: 200,
                            body: summary,
                        },
                    });
                }
                Err(ApiError::Conflict)
            }
        })
        .await
    }

    pub async fn list_audit(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<AuditEvent>, ApiError> {
        caller.require(perm::AUDIT_VIEW)?;
        let page = self
            .store
            .list_audit(&caller.account, query.limit()?, query.cursor.as_deref())
            .await?;
        Ok(page.into())
    }

    pub async fn list_notifications(
        &self,
        caller: &Caller,
        query: &PageQuery,
    ) -> Result<PageOf<Notice>, ApiError> {
        let page = self
            .store
            .list_notices(
                &caller.account,
                &caller.user_id,
                query.limit()?,
                query.cursor.as_deref(),
            )
            .await?;
        Ok(page.into())
    }

    /// The daily job: one notice per key expiring within the window and per
    /// day, whoever runs it and however often. A notice is published only by
    /// the run whose write created it.
    pub async fn notify_expiring(&self) -> Result<NotifyReport, ApiError> {
        let now = self.clock.now();
        let window = i64::from(self.config.notice_window_days) * DAY;
        let day = domain::rfc3339::format(now)
            .get(..10)
            .unwrap_or_default()
            .to_owned();
        let mut report = NotifyReport::default();
        for key in self.store.list_keys_expiring(now, now + window).await? {
            if !key.is_live(now)
                || key.replaced_by.is_some()
                || key.application_status == ApplicationStatus::Revoked
                || key.owner_status == OwnerStatus::Deleted
            {
                continue;
            }
            report.examined += 1;
            let notice = Notice {
                id: format!("{}:{day}", key.id),
                account: key.account.clone(),
                recipient: key.created_by.clone(),
                key_id: key.id.clone(),
                key_name: key.name.clone(),
                application_id: key.application_id.clone(),
                expires_at: key.expires_at,
                days_left: (key.expires_at - now + DAY - 1) / DAY,
                day: day.clone(),
                created_at: now,
            };
            match self.store.commit(vec![Write::Notice(notice.clone())]).await {
                Ok(()) => {
                    report.sent += 1;
                    if let Err(e) = self.publisher.publish(&notice).await {
                        report.publish_failures += 1;
                        tracing::warn!(notice = %notice.id, error = %e, "publishing a notice failed");
                    }
                }
                Err(CommitError::Conflict) => report.already_sent += 1,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        report.purged = self.store.purge_expired(now).await?;
        Ok(report)
    }
}
