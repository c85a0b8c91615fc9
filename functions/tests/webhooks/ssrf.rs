//! Server-side request forgery: webhook URLs into the network refused at
//! creation, and names that resolve into it never connected to.

use crate::{fixtures, world};
use keyward::config::Config;
use keyward::error::ApiError;
use keyward::events::address::SystemResolver;
use keyward::events::delivery::{AttemptError, Outcome, Sender};
use keyward::events::signing::SigningSecret;
use keyward::events::{Event, EventData, EventObject, EventType};
use keyward::service::CreateWebhook;
use keyward::store::Store;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Webhook URLs that point inside the network are refused at creation;
/// without the development flag, so is plain `http`.
#[tokio::test]
async fn urls_into_the_network_are_refused_at_creation() {
    let w = world(Config::default(), Duration::from_secs(1));
    let alice = fixtures::admin("alice", "acme");
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://[::1]/",
        "https://[fc00::1]/",
        "https://[fd00::1]/",
        "https://localhost/",
        "http://hooks.example.invalid/",
        "https://user:password@hooks.example.invalid/",
        &format!("https://hooks.example.invalid/{}", "a".repeat(2_048)),
    ] {
        let refused = w
            .service
            .create_webhook(
                &alice,
                &CreateWebhook {
                    url: url.into(),
                    events: None,
                    description: String::new(),
                },
                None,
            )
            .await;
        assert!(
            matches!(refused, Err(ApiError::InvalidWebhookUrl(_))),
            "{url}: {:?}",
            refused.map(|c| c.webhook.url)
        );
    }
    assert!(w.store.list_webhooks("acme").await.unwrap().is_empty());
}

/// Resolves every name to one address, as a DNS server under an
/// attacker's control could.
struct ResolvesTo(IpAddr);

impl Resolve for ResolvesTo {
    fn resolve(&self, _: Name) -> Resolving {
        let addr = SocketAddr::new(self.0, 443);
        Box::pin(async move {
            let addrs: Addrs = Box::new(std::iter::once(addr));
            Ok(addrs)
        })
    }
}

fn an_event() -> Event {
    Event {
        id: "evt_x".into(),
        kind: EventType::KeyRevoked,
        account: "acme".into(),
        occurred_at: 0,
        actor: "alice".into(),
        object: EventObject {
            kind: "key".into(),
            id: "k".into(),
        },
        data: EventData::default(),
    }
}

/// A name that resolves to a private, loopback or metadata address is not
/// connected to, checked where the connection is made (so a name that
/// changes its answer after the webhook was created is caught too).
#[tokio::test]
async fn a_name_that_resolves_inside_the_network_is_not_connected_to() {
    let secret = SigningSecret::from_bytes([1; 32]);
    for ip in [
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "192.168.0.10",
        "::1",
        "fc00::5",
    ] {
        let sender = Sender::new(
            Arc::new(ResolvesTo(ip.parse().unwrap())),
            false,
            Duration::from_secs(2),
        )
        .unwrap();
        let outcome = sender
            .send("https://hooks.example.invalid/", &secret, &an_event(), 0)
            .await;
        assert_eq!(
            outcome,
            Outcome::Failed {
                status: None,
                error: AttemptError::AddressNotPublic
            },
            "{ip}"
        );
    }
    // A literal address is checked before any connection as well.
    let sender = Sender::new(Arc::new(SystemResolver), false, Duration::from_secs(2)).unwrap();
    let outcome = sender
        .send("https://127.0.0.1:9/", &secret, &an_event(), 0)
        .await;
    assert!(matches!(
        outcome,
        Outcome::Failed {
            error: AttemptError::AddressNotPublic,
            ..
        }
    ));
}
