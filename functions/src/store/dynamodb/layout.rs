//! The table's layout: the one place that builds partition, sort and index
//! keys, and the table definition (`create_table`).
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | account guard | `ACCOUNT#<account>` | `GUARD` | `version`, `app_ids` (string set) |
//! | application | `APP#<id>` | `APP` | `item` (JSON), `version`, `ttl`?, `key_ids` (string set) |
//! | key | `KEY#<id>` | `KEY` | `item` (JSON, with the hash), `version`, `ttl`, `expires_at`, `last_used_at`?, `gsi1pk` = `EXPIRES#<day>`, `gsi1sk` = `<expires_at>#<id>`; counters: `rl.<limit>.<window>`*, `credits_remaining`?, `credits_period`?, `debit_token`? |
//! | audit event | `AUDIT#<account>` | `<at>#<nanos>#<id>` | `item` |
//! | notice | `NOTICE#<key id>:<day>` | `NOTICE` | `item`, `ttl`, `gsi1pk` = `NOTICES#<len>:<account>#<recipient>`, `gsi1sk` = `<created_at>#<id>` |
//! | idempotency record | `IDEM#<id>` | `IDEM` | `item`, `expires_at`, `ttl` |
//! | user guard | `USER#<len>:<account>#<user>` | `GUARD` | `version`, `offboarded`, `at` |
//! | webhook | `WEBHOOKS#<account>` | `WEBHOOK#<id>` | `item`, `version`, `ttl`? (once deleted) |
//! | delivery | `DELIVERIES#<webhook id>` | `<sequence>#<event id>` | `item`, `version`, `ttl`; while pending `gsi1pk` = `DELIVERIES_DUE`, `gsi1sk` = `<next attempt>#<id>` |
//!
//! `<len>:` is the byte length of the account: account and user ids may
//! contain `#`, and the length keeps the two from running together. Times
//! in sort keys are 12-digit zero-padded epoch seconds, so that they sort
//! as strings.
//!
//! A metered key's counters are attributes of the key item beside its JSON
//! `item`, so that a lifecycle write (`SET #item`) never touches them and a
//! debit (`debit.rs`) never touches the JSON: one number per rate limit and
//! window counted, named here ([`window_attribute`]), and the credit
//! balance with its refill period.

use super::codec::{Item, s};
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

/// The one global secondary index: the daily expiry job and the notice
/// lists, where eventual consistency is fine.
pub(super) const GSI: &str = "gsi1";

/// The attribute set of the application ids an account guard holds.
pub(super) const APP_IDS: &str = "app_ids";
/// The attribute set of the key ids an application holds.
pub(super) const KEY_IDS: &str = "key_ids";

const DAY: i64 = 86_400;

/// The credits left in the refill period `CREDITS_PERIOD` (a number each).
pub(super) const CREDITS_REMAINING: &str = "credits_remaining";
pub(super) const CREDITS_PERIOD: &str = "credits_period";
/// The random token of the last debit applied (`debit.rs`).
pub(super) const DEBIT_TOKEN: &str = "debit_token";
/// Every rate-limit counter's name starts with this.
const WINDOW_PREFIX: &str = "rl.";

/// The counter of rate limit `name` in window `window`. Limit names are
/// `[a-z0-9_.-]`, so the window is what follows the last dot; expressions
/// name the attribute through a `#` alias, which makes the dots part of
/// one top-level name rather than a path.
pub(super) fn window_attribute(name: &str, window: i64) -> String {
    format!("{WINDOW_PREFIX}{name}.{window}")
}

/// The limit name and window of a counter attribute; `None` for any other
/// attribute.
pub(super) fn parse_window_attribute(attribute: &str) -> Option<(&str, i64)> {
    let (name, window) = attribute.strip_prefix(WINDOW_PREFIX)?.rsplit_once('.')?;
    Some((name, window.parse().ok()?)).filter(|(name, _)| !name.is_empty())
}

/// The primary key (`pk`, `sk`) of every item the store writes or reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum ItemKey<'a> {
    AccountGuard {
        account: &'a str,
    },
    Application {
        id: &'a str,
    },
    Key {
        id: &'a str,
    },
    /// `nanos` separates events of one second, newest first.
    Audit {
        account: &'a str,
        at: i64,
        nanos: u32,
        id: &'a str,
    },
    Notice {
        id: &'a str,
    },
    Idempotency {
        id: &'a str,
    },
    UserGuard {
        account: &'a str,
        user_id: &'a str,
    },
    /// In its account's partition, so that the account's webhooks are one
    /// consistent query (the limit counts them).
    Webhook {
        account: &'a str,
        id: &'a str,
    },
    /// In its webhook's partition, in the order deliveries were made.
    Delivery {
        webhook_id: &'a str,
        sequence: u64,
        event_id: &'a str,
    },
}

impl ItemKey<'_> {
    pub(super) fn pk(&self) -> String {
        match *self {
            ItemKey::AccountGuard { account } => format!("ACCOUNT#{account}"),
            ItemKey::Application { id } => format!("{APPLICATION_PREFIX}{id}"),
            ItemKey::Key { id } => format!("{KEY_PREFIX}{id}"),
            ItemKey::Audit { account, .. } => audit_partition(account),
            ItemKey::Notice { id } => format!("NOTICE#{id}"),
            ItemKey::Idempotency { id } => format!("IDEM#{id}"),
            ItemKey::UserGuard { account, user_id } => composite("USER", account, user_id),
            ItemKey::Webhook { account, .. } => webhooks_partition(account),
            ItemKey::Delivery { webhook_id, .. } => deliveries_partition(webhook_id),
        }
    }

    pub(super) fn sk(&self) -> String {
        match *self {
            ItemKey::AccountGuard { .. } | ItemKey::UserGuard { .. } => "GUARD".to_owned(),
            ItemKey::Application { .. } => "APP".to_owned(),
            ItemKey::Key { .. } => "KEY".to_owned(),
            ItemKey::Audit { at, nanos, id, .. } => format!("{}#{nanos:09}#{id}", sortable(at)),
            ItemKey::Notice { .. } => "NOTICE".to_owned(),
            ItemKey::Idempotency { .. } => "IDEM".to_owned(),
            ItemKey::Webhook { id, .. } => format!("WEBHOOK#{id}"),
            ItemKey::Delivery {
                sequence, event_id, ..
            } => format!("{sequence:020}#{event_id}"),
        }
    }

    /// The key as the attributes `GetItem`, `UpdateItem` and
    /// `BatchGetItem` take, and as the first attributes of a new item.
    pub(super) fn attributes(&self) -> Item {
        Item::from([
            ("pk".to_owned(), s(self.pk())),
            ("sk".to_owned(), s(self.sk())),
        ])
    }
}

const APPLICATION_PREFIX: &str = "APP#";
const KEY_PREFIX: &str = "KEY#";

/// An id set the limits count over, read consistently instead of from an
/// index: the applications of an account (on its guard) or the keys of an
/// application (on the application).
#[derive(Debug, Clone, Copy)]
pub(super) enum IdSet<'a> {
    AccountApplications { account: &'a str },
    ApplicationKeys { application_id: &'a str },
}

impl<'a> IdSet<'a> {
    /// The item that holds the set.
    pub(super) fn holder(&self) -> ItemKey<'a> {
        match *self {
            IdSet::AccountApplications { account } => ItemKey::AccountGuard { account },
            IdSet::ApplicationKeys { application_id } => {
                ItemKey::Application { id: application_id }
            }
        }
    }

    /// The set's attribute on its holder.
    pub(super) fn attribute(&self) -> &'static str {
        match self {
            IdSet::AccountApplications { .. } => APP_IDS,
            IdSet::ApplicationKeys { .. } => KEY_IDS,
        }
    }

    /// The item one id of the set names.
    pub(super) fn member<'b>(&self, id: &'b str) -> ItemKey<'b> {
        match self {
            IdSet::AccountApplications { .. } => ItemKey::Application { id },
            IdSet::ApplicationKeys { .. } => ItemKey::Key { id },
        }
    }

    /// The id of a member item, from its `pk`.
    pub(super) fn member_id<'b>(&self, pk: &'b str) -> Option<&'b str> {
        pk.strip_prefix(match self {
            IdSet::AccountApplications { .. } => APPLICATION_PREFIX,
            IdSet::ApplicationKeys { .. } => KEY_PREFIX,
        })
    }
}

/// A partition that is read a page at a time, newest first.
#[derive(Debug, Clone, Copy)]
pub(super) enum Partition<'a> {
    /// An account's audit events, on the table (strongly consistent).
    Audit { account: &'a str },
    /// A recipient's notices, on the index.
    Notices {
        account: &'a str,
        recipient: &'a str,
    },
    /// An account's webhooks, on the table.
    Webhooks { account: &'a str },
    /// A webhook's deliveries, on the table.
    Deliveries { webhook_id: &'a str },
}

impl Partition<'_> {
    /// The index the partition lives on (`None`: the table).
    pub(super) fn index(&self) -> Option<&'static str> {
        match self {
            Partition::Audit { .. } | Partition::Webhooks { .. } | Partition::Deliveries { .. } => {
                None
            }
            Partition::Notices { .. } => Some(GSI),
        }
    }

    /// The partition key's attribute.
    pub(super) fn attribute(&self) -> &'static str {
        match self {
            Partition::Audit { .. } | Partition::Webhooks { .. } | Partition::Deliveries { .. } => {
                "pk"
            }
            Partition::Notices { .. } => "gsi1pk",
        }
    }

    pub(super) fn value(&self) -> String {
        match *self {
            Partition::Audit { account } => audit_partition(account),
            Partition::Notices { account, recipient } => notices_partition(account, recipient),
            Partition::Webhooks { account } => webhooks_partition(account),
            Partition::Deliveries { webhook_id } => deliveries_partition(webhook_id),
        }
    }
}

fn webhooks_partition(account: &str) -> String {
    format!("WEBHOOKS#{account}")
}

fn deliveries_partition(webhook_id: &str) -> String {
    format!("DELIVERIES#{webhook_id}")
}

/// The index partition of pending deliveries, of every account: retries
/// are few, and one partition lets one query find every due one.
pub(super) const DUE_PARTITION: &str = "DELIVERIES_DUE";

/// The index sort key of a pending delivery: its next attempt.
pub(super) fn due_sort_key(next_attempt_at: i64, id: &str) -> String {
    format!("{}#{id}", sortable(next_attempt_at))
}

/// The largest due sort key at `now`.
pub(super) fn due_upper_bound(now: i64) -> String {
    format!("{}#~", sortable(now))
}

fn audit_partition(account: &str) -> String {
    format!("AUDIT#{account}")
}

/// The index keys (`gsi1pk`, `gsi1sk`) of a notice.
pub(super) fn notice_index_key(
    account: &str,
    recipient: &str,
    created_at: i64,
    id: &str,
) -> (String, String) {
    (
        notices_partition(account, recipient),
        format!("{}#{id}", sortable(created_at)),
    )
}

fn notices_partition(account: &str, recipient: &str) -> String {
    composite("NOTICES", account, recipient)
}

/// The index keys (`gsi1pk`, `gsi1sk`) of a key: its expiry day, then its
/// expiry time.
pub(super) fn expiry_index_key(expires_at: i64, id: &str) -> (String, String) {
    (
        expiry_partition(expires_at),
        format!("{}#{id}", sortable(expires_at)),
    )
}

/// The expiry partition of every day from `from`'s day to `to`.
pub(super) fn expiry_partitions(from: i64, to: i64) -> Vec<String> {
    let first = from - from.rem_euclid(DAY);
    (first..=to)
        .step_by(DAY as usize)
        .map(expiry_partition)
        .collect()
}

/// The `gsi1sk` bounds of the keys expiring in `from < expires_at <= to`.
pub(super) fn expiry_sort_range(from: i64, to: i64) -> (String, String) {
    (sortable(from + 1), format!("{}#~", sortable(to)))
}

fn expiry_partition(epoch: i64) -> String {
    let day = crate::domain::rfc3339::format(epoch);
    format!("EXPIRES#{}", day.get(..10).unwrap_or("0000-00-00"))
}

/// `KIND#<len>:<first>#<second>`: the length prefix keeps two free-form
/// parts apart even when they contain `#`.
fn composite(kind: &str, first: &str, second: &str) -> String {
    format!("{kind}#{}:{first}#{second}", first.len())
}

/// Sorts by the 12-digit zero-padded epoch; negative times do not occur.
fn sortable(epoch: i64) -> String {
    format!("{:012}", epoch.max(0))
}

/// Creates the table as `infra/template.yaml` declares it (tests, local
/// DynamoDB-compatible servers).
pub(super) async fn create_table(client: &Client, table: &str) -> StoreResult<()> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(StoreError::from)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(StoreError::from)
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .attribute_definitions(attribute("gsi1pk")?)
        .attribute_definitions(attribute("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        // deliver-events reads new audit items from the stream.
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(GSI)
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                // Both readers need only the JSON body, and a write that
                // changes no projected attribute writes no index copy.
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("item")
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{
        IdSet, ItemKey, Partition, expiry_index_key, expiry_partitions, notice_index_key,
        parse_window_attribute, window_attribute,
    };

    fn keys(key: ItemKey) -> (String, String) {
        (key.pk(), key.sk())
    }

    fn pair(pk: &str, sk: &str) -> (String, String) {
        (pk.to_owned(), sk.to_owned())
    }

    #[test]
    fn item_keys_are_the_documented_ones() {
        assert_eq!(
            keys(ItemKey::AccountGuard { account: "acme" }),
            pair("ACCOUNT#acme", "GUARD")
        );
        assert_eq!(
            keys(ItemKey::Application { id: "app_1" }),
            pair("APP#app_1", "APP")
        );
        assert_eq!(keys(ItemKey::Key { id: "k1" }), pair("KEY#k1", "KEY"));
        let audit = ItemKey::Audit {
            account: "acme",
            at: 1_700_000_000,
            nanos: 42,
            id: "e1",
        };
        assert_eq!(keys(audit), pair("AUDIT#acme", "001700000000#000000042#e1"));
        assert_eq!(
            keys(ItemKey::Notice {
                id: "k1:2024-01-02"
            }),
            pair("NOTICE#k1:2024-01-02", "NOTICE")
        );
        assert_eq!(
            keys(ItemKey::Idempotency { id: "h" }),
            pair("IDEM#h", "IDEM")
        );
        let guard = ItemKey::UserGuard {
            account: "a#b",
            user_id: "u",
        };
        assert_eq!(keys(guard), pair("USER#3:a#b#u", "GUARD"));
    }

    #[test]
    fn index_keys_sort_by_time() {
        assert_eq!(
            expiry_index_key(86_400 + 5, "k1"),
            pair("EXPIRES#1970-01-02", "000000086405#k1")
        );
        assert_eq!(
            notice_index_key("acme", "u#1", 7, "n"),
            pair("NOTICES#4:acme#u#1", "000000000007#n")
        );
        let notices = Partition::Notices {
            account: "acme",
            recipient: "u#1",
        };
        assert_eq!(notices.value(), "NOTICES#4:acme#u#1");
        assert_eq!(
            expiry_partitions(86_400 + 5, 3 * 86_400),
            [
                "EXPIRES#1970-01-02",
                "EXPIRES#1970-01-03",
                "EXPIRES#1970-01-04"
            ]
        );
    }

    #[test]
    fn id_sets_name_their_members() {
        let keys = IdSet::ApplicationKeys {
            application_id: "app_1",
        };
        assert_eq!(keys.holder().pk(), "APP#app_1");
        assert_eq!(keys.member("k1").pk(), "KEY#k1");
        assert_eq!(keys.member_id("KEY#k1"), Some("k1"));
        assert_eq!(keys.member_id("APP#k1"), None);
    }

    #[test]
    fn window_counters_name_their_limit_and_window() {
        assert_eq!(
            window_attribute("per.min-1", 30_000_000),
            "rl.per.min-1.30000000"
        );
        assert_eq!(
            parse_window_attribute("rl.per.min-1.30000000"),
            Some(("per.min-1", 30_000_000))
        );
        for other in [
            "credits_remaining",
            "rl.",
            "rl.x",
            "rl..5",
            "rl.x.y",
            "item",
        ] {
            assert_eq!(parse_window_attribute(other), None, "{other}");
        }
    }
}
