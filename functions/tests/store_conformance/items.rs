//! Items to commit straight to a store, and the commit helpers, for the
//! cases of the store's own contract.

use keyward::domain::{Application, AuditEvent, Key, Notice};
use keyward::store::{CommitError, Store, Write};
use wasm_validator::{ApplicationStatus, OwnerStatus, StoredKeyStatus};

pub const T0: i64 = 1_800_000_000;
pub const DAY: i64 = 86_400;

pub fn app(id: &str, account: &str) -> Application {
    Application {
        id: id.into(),
        account: account.into(),
        name: format!("app {id}"),
        description: String::new(),
        key_prefix: "kw".into(),
        created_by: "alice".into(),
        created_at: T0,
        updated_at: T0,
        status: ApplicationStatus::Active,
        revoked_at: None,
        owner_status: OwnerStatus::Active,
        ttl: None,
        version: 1,
    }
}

pub fn key(id: &str, app: &str, account: &str, expires_at: i64) -> Key {
    Key {
        id: id.into(),
        application_id: app.into(),
        account: account.into(),
        name: format!("key {id}"),
        description: String::new(),
        prefix: "kw".into(),
        hash: "00".repeat(32),
        scopes: vec!["sims:read".into()],
        status: StoredKeyStatus::Active,
        created_by: "alice".into(),
        created_at: T0,
        updated_at: T0,
        expires_at,
        revoked_at: None,
        revoke_at: None,
        replaced_by: None,
        replaces: None,
        last_used_at: None,
        application_status: ApplicationStatus::Active,
        owner_status: OwnerStatus::Active,
        ttl: expires_at + 30 * DAY,
        version: 1,
        usage: Default::default(),
        meter: Default::default(),
        set_balance: None,
        leak: None,
        disabled_by: None,
        enabled_at: None,
    }
}

pub fn audit(id: &str, account: &str, at: i64) -> AuditEvent {
    AuditEvent {
        id: id.into(),
        account: account.into(),
        actor: "alice".into(),
        action: "key.created".into(),
        target_type: "key".into(),
        target_id: id.into(),
        at,
        before: None,
        after: Some(serde_json::json!({"n": id})),
    }
}

pub fn notice(id: &str, account: &str, recipient: &str) -> Notice {
    Notice {
        id: id.into(),
        kind: Default::default(),
        url: None,
        account: account.into(),
        recipient: recipient.into(),
        key_id: "k".into(),
        key_name: "n".into(),
        application_id: "a".into(),
        expires_at: T0 + DAY,
        days_left: 1,
        day: "2027-01-15".into(),
        created_at: T0,
    }
}

pub async fn commit(store: &dyn Store, writes: Vec<Write>) -> Result<(), CommitError> {
    store.commit(writes).await
}

pub fn is_conflict(result: Result<(), CommitError>) -> bool {
    matches!(result, Err(CommitError::Conflict))
}
