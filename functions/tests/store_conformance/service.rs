//! The service over a store: the harness of the cases of the service's
//! rules.

use crate::fixtures;
use crate::items::*;
use async_trait::async_trait;
use keyward::auth::Caller;
use keyward::clock::ManualClock;
use keyward::config::Config;
use keyward::domain::Notice;
use keyward::secret::Secret;
use keyward::service::{CreateKey, NoticePublisher, Service, VerifyRequest};
use keyward::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_validator::VerdictCode;

pub struct CountingPublisher(pub AtomicUsize);

#[async_trait]
impl NoticePublisher for CountingPublisher {
    async fn publish(&self, _: &Notice) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub struct Harness {
    pub service: Arc<Service>,
    pub clock: Arc<ManualClock>,
    pub published: Arc<CountingPublisher>,
}

pub fn harness(store: Arc<dyn Store>) -> Harness {
    harness_with(store, Config::default())
}

pub fn harness_with(store: Arc<dyn Store>, config: Config) -> Harness {
    let clock = Arc::new(ManualClock::new(T0));
    let published = Arc::new(CountingPublisher(AtomicUsize::new(0)));
    let service = Arc::new(Service::new(
        store,
        config,
        clock.clone(),
        published.clone(),
    ));
    Harness {
        service,
        clock,
        published,
    }
}

pub fn admin(user: &str) -> Caller {
    fixtures::admin(user, "acct")
}

pub async fn create_app(h: &Harness, caller: &Caller) -> String {
    let input = fixtures::application("billing");
    let reply = h
        .service
        .create_application(caller, &input, None)
        .await
        .unwrap();
    reply.id
}

pub async fn create_key(
    h: &Harness,
    caller: &Caller,
    app: &str,
    input: &CreateKey,
) -> (String, Secret) {
    let reply = h
        .service
        .create_key(caller, app, input, None)
        .await
        .unwrap();
    (reply.key.id, reply.secret)
}

pub async fn verdict(h: &Harness, secret: &Secret) -> VerdictCode {
    let request = VerifyRequest {
        key: Secret::new(secret.expose().to_owned()),
        scopes: vec![],
    };
    h.service.verify(&request).await.unwrap().code
}

/// An application with two keys, made through the service: (app, first
/// key id, second key id).
pub async fn harness_for_tests(store: Arc<dyn Store>) -> (String, String, String) {
    let h = harness(store);
    let alice = admin("alice");
    let app = create_app(&h, &alice).await;
    let (first, _) = create_key(&h, &alice, &app, &fixtures::key("first")).await;
    let (second, _) = create_key(&h, &alice, &app, &fixtures::key("second")).await;
    (app, first, second)
}
