//! Verification's I/O, through a store that counts calls: one read, no
//! write on the answer's path, and the next verification sees every change.

use crate::fixtures;
use crate::items::*;
use crate::service::*;
use async_trait::async_trait;
use keyward::config::Config;
use keyward::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use keyward::events::webhook::{Delivery, Webhook};
use keyward::store::{CommitError, Metered, Page, Store, StoreResult, UserGuard, Write};
use keyward::usage::Meter;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_validator::VerdictCode;

/// A store that counts calls, to prove verification's I/O.
struct Counting {
    inner: Arc<dyn Store>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

#[async_trait]
impl Store for Counting {
    async fn account_guard(&self, a: &str) -> StoreResult<u64> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.account_guard(a).await
    }
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_application(id).await
    }
    async fn list_applications(&self, a: &str) -> StoreResult<Vec<Application>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_applications(a).await
    }
    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_key(id).await
    }
    async fn list_application_keys(&self, id: &str) -> StoreResult<Vec<Key>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_application_keys(id).await
    }
    async fn list_account_keys(&self, a: &str) -> StoreResult<Vec<Key>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_account_keys(a).await
    }
    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_keys_expiring(from, to).await
    }
    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_idempotency(id).await
    }
    async fn user_guard(&self, a: &str, u: &str) -> StoreResult<UserGuard> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.user_guard(a, u).await
    }
    async fn list_audit(
        &self,
        a: &str,
        l: usize,
        c: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_audit(a, l, c).await
    }
    async fn list_notices(
        &self,
        a: &str,
        r: &str,
        l: usize,
        c: Option<&str>,
    ) -> StoreResult<Page<Notice>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_notices(a, r, l, c).await
    }
    async fn commit(&self, w: Vec<Write>) -> Result<(), CommitError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(w).await
    }
    async fn record_key_use(&self, u: &[(String, i64)]) -> StoreResult<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.record_key_use(u).await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.purge_expired(now).await
    }
    fn purges_itself(&self) -> bool {
        self.inner.purges_itself()
    }
    async fn get_webhook(&self, a: &str, id: &str) -> StoreResult<Option<Webhook>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_webhook(a, id).await
    }
    async fn list_webhooks(&self, a: &str) -> StoreResult<Vec<Webhook>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_webhooks(a).await
    }
    async fn list_deliveries(
        &self,
        id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_deliveries(id, limit, cursor).await
    }
    async fn due_deliveries(&self, now: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.due_deliveries(now, limit).await
    }
    async fn read_meter(&self, key: &Key) -> StoreResult<Meter> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_meter(key).await
    }
    async fn debit(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.debit(key, cost, now).await
    }
}

/// Every change to a key is in the very next verification's answer:
/// no read path (a separate read connection, a cache) may lag a commit.
pub async fn the_next_verification_sees_every_change(store: Arc<dyn Store>) {
    let h = harness(store);
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("watched")).await;
    for _ in 0..3 {
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    }
    h.service.disable_key(&alice, &id, None).await.unwrap();
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Disabled);
    h.service.enable_key(&alice, &id, None).await.unwrap();
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    h.service.revoke_key(&alice, &id, None).await.unwrap();
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Revoked);
}

pub async fn verification_reads_one_item_and_writes_nothing(store: Arc<dyn Store>) {
    let counting = Arc::new(Counting {
        inner: store,
        reads: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
    });
    let h = harness(counting.clone());
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("hot")).await;
    let (reads, writes) = (
        counting.reads.load(Ordering::SeqCst),
        counting.writes.load(Ordering::SeqCst),
    );
    for _ in 0..5 {
        assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    }
    assert_eq!(
        counting.reads.load(Ordering::SeqCst) - reads,
        5,
        "one read per verification"
    );
    assert_eq!(
        counting.writes.load(Ordering::SeqCst) - writes,
        0,
        "no write on the answer's path"
    );
    // The use is written later, once, in a batch.
    assert_eq!(h.service.flush_usage().await.unwrap(), 1);
    assert_eq!(h.service.flush_usage().await.unwrap(), 0);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(
        h.service.flush_usage().await.unwrap(),
        0,
        "at most once a minute per key"
    );
    h.clock.advance(60);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(h.service.flush_usage().await.unwrap(), 1);
    let view = h.service.get_key(&alice, &id).await.unwrap();
    assert_eq!(view.last_used_at, Some(T0 + 60));
}

/// `KEYWARD_USAGE_RESOLUTION_SECONDS` coarser than a minute: a use
/// within the hour after the last one written is not written again.
pub async fn a_coarser_usage_resolution_writes_less_often(store: Arc<dyn Store>) {
    let config = Config {
        usage_resolution_seconds: 3600,
        ..Config::default()
    };
    let h = harness_with(store, config);
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (id, secret) = create_key(&h, &alice, &app, &fixtures::key("hourly")).await;
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(h.service.flush_usage().await.unwrap(), 1);
    h.clock.advance(60);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(
        h.service.flush_usage().await.unwrap(),
        0,
        "a minute later, within the hour"
    );
    h.clock.advance(3600 - 60 - 1);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(h.service.flush_usage().await.unwrap(), 0, "a second early");
    h.clock.advance(1);
    assert_eq!(verdict(&h, &secret).await, VerdictCode::Valid);
    assert_eq!(h.service.flush_usage().await.unwrap(), 1);
    let view = h.service.get_key(&alice, &id).await.unwrap();
    assert_eq!(view.last_used_at, Some(T0 + 3600));
}
