//! The one path of an audited change to one item (an application's or a
//! key's update, a key's disable, enable or revoke): load the item and
//! check the caller may change it, apply the change, and commit it at the
//! version read with an audit event from the view before to the view
//! after. A change that alters nothing answers the item as it is and
//! writes nothing.

use super::{Plan, Service, to_value};
use crate::auth::Caller;
use crate::domain::{Application, ApplicationView, Key, KeyView};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::Write;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// An item [`Service::change_audited`] changes.
pub(super) trait Audited: Clone + PartialEq + Send + Sync {
    /// What the answer and the audit event show of it.
    type View: Serialize + DeserializeOwned + Send;
    /// The audit event's target type.
    const TARGET: &'static str;
    fn id(&self) -> &str;
    fn version(&self) -> u64;
    fn view_at(&self, now: i64) -> Self::View;
    /// What every change also sets.
    fn touch(&mut self, now: i64, retention_seconds: i64);
    /// The write that stores it over the version `expected`.
    fn write(self, expected: u64) -> Write;
}

impl Audited for Application {
    type View = ApplicationView;
    const TARGET: &'static str = "application";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn view_at(&self, _now: i64) -> ApplicationView {
        self.view()
    }

    fn touch(&mut self, now: i64, _retention_seconds: i64) {
        self.updated_at = now;
    }

    fn write(self, expected: u64) -> Write {
        Write::Application {
            item: self,
            expected: Some(expected),
        }
    }
}

impl Audited for Key {
    type View = KeyView;
    const TARGET: &'static str = "key";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn view_at(&self, now: i64) -> KeyView {
        self.view(now)
    }

    /// A change of status can move the time the key is purged.
    fn touch(&mut self, now: i64, retention_seconds: i64) {
        self.updated_at = now;
        self.ttl = self.purge_after(retention_seconds);
    }

    fn write(self, expected: u64) -> Write {
        Write::Key {
            item: self,
            expected: Some(expected),
        }
    }
}

impl Service {
    /// Changes the item `load` reads (refusing a caller who may not) with
    /// `change`, audited as `action`; see the module's documentation.
    pub(super) async fn change_audited<T, L, LFut, F>(
        &self,
        caller: &Caller,
        action: &str,
        idempotency: Option<&Idempotency>,
        load: L,
        change: F,
    ) -> Result<T::View, ApiError>
    where
        T: Audited,
        L: Fn() -> LFut + Send + Sync,
        LFut: Future<Output = Result<T, ApiError>> + Send,
        F: Fn(&T, i64) -> Result<T, ApiError> + Send + Sync,
    {
        self.run(idempotency, |now| {
            let (load, change) = (&load, &change);
            async move {
                let item = load().await?;
                let mut updated = change(&item, now)?;
                if updated == item {
                    return Ok(Plan::new(item.view_at(now)));
                }
                updated.touch(now, self.config.retention_seconds());
                let (before, after) = (item.view_at(now), updated.view_at(now));
                let audit = self.audit(
                    caller,
                    action,
                    (T::TARGET, item.id()),
                    Some(to_value(&before)),
                    Some(to_value(&after)),
                    now,
                )?;
                Ok(Plan::new(after)
                    .with(audit)
                    .with(updated.write(item.version())))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::domain::AuditEvent;
    use crate::service::{LogPublisher, Service, UpdateFields, test_support};
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;
    use std::sync::Arc;

    /// The account's audit events, oldest first.
    async fn events(store: &SqliteStore) -> Vec<AuditEvent> {
        let mut page = store.list_audit("acct", 100, None).await.unwrap();
        page.items.reverse();
        page.items
    }

    /// Both kinds of item: a change writes the item and one event from
    /// before to after; the same change again alters nothing and writes
    /// nothing, and answers the item as it is.
    #[tokio::test]
    async fn a_change_is_written_with_its_event_and_a_repeat_writes_nothing() {
        let store = SqliteStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let service = Service::new(
            Arc::new(store.clone()),
            Config::default(),
            clock.clone(),
            Arc::new(LogPublisher),
        );
        let alice = test_support::alice();
        let (app, key) = test_support::app_with_a_key(&service, &alice).await;
        let key = key.key;
        clock.advance(60);
        let rename = UpdateFields {
            name: Some("renamed".into()),
            description: None,
        };
        for _ in 0..2 {
            let renamed = service
                .update_application(&alice, &app.id, &rename)
                .await
                .unwrap();
            assert_eq!(renamed.name, "renamed");
            assert_eq!(renamed.updated_at, app.created_at + 60);
            let disabled = service.disable_key(&alice, &key.id, None).await.unwrap();
            assert_eq!(disabled.status, wasm_validator::KeyStatus::Disabled);
            clock.advance(60);
        }
        let events = events(&store).await;
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "application.created",
                "key.created",
                "application.updated",
                "key.disabled"
            ]
        );
        let (updated, disabled) = (&events[2], &events[3]);
        assert_eq!(
            (updated.target_type.as_str(), updated.target_id.as_str()),
            ("application", app.id.as_str())
        );
        assert_eq!(updated.before.as_ref().unwrap()["name"], "app");
        assert_eq!(updated.after.as_ref().unwrap()["name"], "renamed");
        assert_eq!(
            (disabled.target_type.as_str(), disabled.target_id.as_str()),
            ("key", key.id.as_str())
        );
        assert_eq!(disabled.before.as_ref().unwrap()["status"], "active");
        assert_eq!(disabled.after.as_ref().unwrap()["status"], "disabled");
        // Written once each: creation, the key's creation (which bumps the
        // application), the rename.
        let stored = store.get_application(&app.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 3);
        assert_eq!(store.get_key(&key.id).await.unwrap().unwrap().version, 2);
    }
}
