//! The DynamoDB store: one table, single-table design.
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | account guard | `ACCOUNT#<account>` | `GUARD` | `version`, `app_ids` (string set) |
//! | application | `APP#<id>` | `APP` | `item` (JSON), `version`, `ttl`?, `key_ids` (string set) |
//! | key | `KEY#<id>` | `KEY` | `item` (JSON, with the hash), `version`, `ttl`, `expires_at`, `last_used_at`?, `gsi1pk` = `EXPIRES#<day>`, `gsi1sk` = `<expires_at>#<id>` |
//! | audit event | `AUDIT#<account>` | `<at>#<nanos>#<id>` | `item` |
//! | notice | `NOTICE#<key id>:<day>` | `NOTICE` | `item`, `ttl`, `gsi1pk` = `NOTICES#<account>#<recipient>`, `gsi1sk` = `<created_at>#<id>` |
//! | idempotency record | `IDEM#<id>` | `IDEM` | `item`, `expires_at`, `ttl` |
//! | user guard | `USER#<len>:<account>#<user>` | `GUARD` | `version`, `offboarded`, `at` |
//!
//! One global secondary index, `gsi1` (`gsi1pk`, `gsi1sk`), serves the daily
//! expiry job and the notice lists, where eventual consistency is fine. It
//! projects `item` and nothing else: both readers need only the JSON body,
//! and a write that changes no projected attribute writes no index copy, so
//! the usage flush (`SET last_used_at`) costs one write unit, not two.
//!
//! The sets the limits count over are *not* read from an index: an
//! application keeps the ids of its keys (`key_ids`) and the account guard
//! the ids of its applications (`app_ids`), both read with strongly
//! consistent reads and updated in the same transaction as the
//! item they list. Verification is one strongly consistent `GetItem` of the
//! key item, which carries everything the verdict needs. TTL (`ttl`, epoch
//! seconds) purges expired and revoked keys after the retention period.
//!
//! Every conditional write of a commit also stores the commit's random
//! token (`commit_token`), so that a resent transaction can tell that its
//! first attempt applied (`dynamodb/commit.rs`).

mod commit;

use super::{CommitError, Page, Store, StoreError, StoreResult, UserGuard, Write};
use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

type Item = HashMap<String, AttributeValue>;

/// DynamoDB allows at most this many actions in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
const GSI: &str = "gsi1";
const NOTICE_RETENTION_SECONDS: i64 = 90 * 86_400;
const DAY: i64 = 86_400;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `ACCOUNT#<len>:<account>#…`: a length prefix keeps two free-form parts
/// (account and user ids may contain `#`) from running together.
fn composite(kind: &str, first: &str, second: &str) -> String {
    format!("{kind}#{}:{first}#{second}", first.len())
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Maps an SDK error (once the SDK's own retries are spent): throttling,
/// timeouts, broken connections, unreadable answers and any 5xx mean the
/// store is unavailable (503, fail closed), never keyward's own failure.
fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{e:?}"))
        }
        _ if e
            .raw_response()
            .is_some_and(|r| r.status().is_server_error()) =>
        {
            StoreError::Unavailable(format!("{:?}", e.code()))
        }
        _ => match e.code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable",
            ) => StoreError::Unavailable(format!("{:?}", e.code())),
            _ => StoreError::Internal(format!("{e:?}")),
        },
    }
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(value).map(s).map_err(internal)
}

fn from_item<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    match item.get("item") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).map_err(internal),
        _ => Err(internal("item without its JSON body")),
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn string_set(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(ids)) => ids.clone(),
        _ => Vec::new(),
    }
}

fn key_from_item(item: &Item) -> StoreResult<Key> {
    let mut key: Key = from_item(item)?;
    key.last_used_at = number(item, "last_used_at");
    Ok(key)
}

fn day_of(epoch: i64) -> String {
    crate::domain::rfc3339::format(epoch)
        .get(..10)
        .unwrap_or("0000-00-00")
        .to_owned()
}

/// Sorts by the 12-digit zero-padded epoch; negative times do not occur.
fn sortable(epoch: i64) -> String {
    format!("{:012}", epoch.max(0))
}

/// An opaque cursor: the key attributes of the last item of a page.
fn encode_cursor(item: &Item, names: &[&str]) -> Option<String> {
    let mut map = BTreeMap::new();
    for name in names {
        if let Some(AttributeValue::S(v)) = item.get(*name) {
            map.insert(name.to_string(), v.clone());
        }
    }
    serde_json::to_vec(&map)
        .ok()
        .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor and checks it belongs to this partition.
fn decode_cursor(
    cursor: Option<&str>,
    names: &[&str],
    partition: (&str, &str),
) -> StoreResult<Option<Item>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let map: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    if map.len() != names.len() || names.iter().any(|n| !map.contains_key(*n)) {
        return Err(StoreError::InvalidCursor);
    }
    if map.get(partition.0).map(String::as_str) != Some(partition.1) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(Some(map.into_iter().map(|(k, v)| (k, s(v))).collect()))
}

struct Expression {
    condition: Option<String>,
    values: HashMap<String, AttributeValue>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as `infra/template.yaml` declares it (tests, local
    /// DynamoDB-compatible servers).
    pub async fn create_table(client: &Client, table: &str) -> StoreResult<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(internal)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(internal)
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
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .non_key_attributes("item")
                            .build(),
                    )
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.item)
    }

    /// Strongly consistent reads of many items (100 a request), retrying
    /// what DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<(String, &str)>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([("pk".to_owned(), s(pk.clone())), ("sk".to_owned(), s(*sk))])
                })
                .collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(internal)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                if let Some(mut unprocessed) = output.unprocessed_keys
                    && let Some(rest) = unprocessed.remove(&self.table)
                {
                    pending = rest.keys;
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Unavailable(
                            "unprocessed keys after retries".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
            }
        }
        Ok(found)
    }

    /// The items an id set on `parent` lists (`key_ids` of an application,
    /// `app_ids` of an account guard), read consistently; ids of purged
    /// items are pruned from the set on the way.
    async fn members(
        &self,
        parent: (String, &str),
        set: &str,
        (prefix, sk): (&str, &str),
    ) -> StoreResult<Vec<Item>> {
        let Some(item) = self.get(parent.0.clone(), parent.1).await? else {
            return Ok(Vec::new());
        };
        let ids = string_set(&item, set);
        let found = self
            .batch_get(ids.iter().map(|id| (format!("{prefix}{id}"), sk)).collect())
            .await?;
        self.prune_ids(parent, set, &found, &ids, prefix).await;
        Ok(found)
    }

    /// Removes ids whose items TTL has purged from an id set. Every id is
    /// added in the same transaction as its item, so an id whose item a
    /// consistent read does not find was purged. Best effort: a failure only
    /// means the next read prunes.
    async fn prune_ids(
        &self,
        (pk, sk): (String, &str),
        set: &str,
        found: &[Item],
        ids: &[String],
        prefix: &str,
    ) {
        let present: std::collections::HashSet<&str> = found
            .iter()
            .filter_map(|item| match item.get("pk") {
                Some(AttributeValue::S(pk)) => pk.strip_prefix(prefix),
                _ => None,
            })
            .collect();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("DELETE {set} :gone"))
            .expression_attribute_values(":gone", AttributeValue::Ss(missing))
            .send()
            .await;
        if let Err(e) = result {
            tracing::debug!(error = ?e, "pruning purged ids failed; the next read retries");
        }
    }

    async fn query_page(
        &self,
        index: Option<&str>,
        partition: (&str, String),
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let names: &[&str] = if index.is_some() {
            &["pk", "sk", "gsi1pk", "gsi1sk"]
        } else {
            &["pk", "sk"]
        };
        let start = decode_cursor(cursor, names, (partition.0, &partition.1))?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", partition.0)
            .expression_attribute_values(":p", s(partition.1.clone()))
            .scan_index_forward(false)
            .set_consistent_read(index.is_none().then_some(true))
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)?;
        let mut items = output.items.unwrap_or_default();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(|last| encode_cursor(last, names))
        } else {
            None
        };
        Ok((items, next))
    }

    fn put(&self, item: Item, expression: Expression) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(expression.condition)
            .set_expression_attribute_values(
                (!expression.values.is_empty()).then_some(expression.values),
            )
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An update action. Attribute names go through `#name` aliases (many
    /// words, `ttl` and `version` among them, are reserved in expressions):
    /// every `#x` used must be listed in `names`.
    fn update(
        &self,
        pk: String,
        sk: &str,
        update: String,
        condition: Option<&str>,
        names: &[&str],
        values: HashMap<String, AttributeValue>,
    ) -> StoreResult<TransactWriteItem> {
        let names: HashMap<String, String> = names
            .iter()
            .map(|name| (format!("#{name}"), name.to_string()))
            .collect();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Translates a commit into transaction actions. Index sets are folded
    /// into the write of the item that holds them, since a transaction may
    /// touch an item only once.
    fn actions(&self, writes: &[Write]) -> StoreResult<Vec<TransactWriteItem>> {
        let mut new_keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut new_apps: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for write in writes {
            match write {
                Write::Key {
                    item,
                    expected: None,
                } => new_keys
                    .entry(&item.application_id)
                    .or_default()
                    .push(item.id.clone()),
                Write::Application {
                    item,
                    expected: None,
                } => new_apps
                    .entry(&item.account)
                    .or_default()
                    .push(item.id.clone()),
                _ => {}
            }
        }
        let mut actions = Vec::with_capacity(writes.len() + new_keys.len());
        for write in writes {
            actions.push(match write {
                Write::AccountGuard { account, expected } => {
                    let mut values = HashMap::from([(":next".to_owned(), n(*expected as i64 + 1))]);
                    let mut update = "SET #version = :next".to_owned();
                    if let Some(ids) = new_apps.remove(account.as_str()) {
                        update.push_str(" ADD app_ids :ids");
                        values.insert(":ids".into(), AttributeValue::Ss(ids));
                    }
                    let condition = if *expected == 0 {
                        "attribute_not_exists(pk)"
                    } else {
                        values.insert(":expected".into(), n(*expected as i64));
                        "#version = :expected"
                    };
                    self.update(
                        format!("ACCOUNT#{account}"),
                        "GUARD",
                        update,
                        Some(condition),
                        &["version"],
                        values,
                    )?
                }
                Write::Application { item, expected } => {
                    let version = expected.unwrap_or(0) + 1;
                    let mut stored = item.clone();
                    stored.version = version;
                    let key_ids = new_keys.remove(item.id.as_str());
                    match expected {
                        None => {
                            let mut attrs = Item::from([
                                ("pk".to_owned(), s(format!("APP#{}", item.id))),
                                ("sk".to_owned(), s("APP")),
                                ("item".to_owned(), to_json(&stored)?),
                                ("version".to_owned(), n(version as i64)),
                            ]);
                            if let Some(ttl) = item.ttl {
                                attrs.insert("ttl".into(), n(ttl));
                            }
                            if let Some(ids) = key_ids {
                                attrs.insert("key_ids".into(), AttributeValue::Ss(ids));
                            }
                            self.put(
                                attrs,
                                Expression {
                                    condition: Some("attribute_not_exists(pk)".into()),
                                    values: HashMap::new(),
                                },
                            )?
                        }
                        Some(v) => {
                            let mut values = HashMap::from([
                                (":item".to_owned(), to_json(&stored)?),
                                (":next".to_owned(), n(version as i64)),
                                (":expected".to_owned(), n(*v as i64)),
                            ]);
                            let mut update = "SET #item = :item, #version = :next".to_owned();
                            let mut names = vec!["item", "version"];
                            if let Some(ttl) = item.ttl {
                                update.push_str(", #ttl = :ttl");
                                names.push("ttl");
                                values.insert(":ttl".into(), n(ttl));
                            }
                            if let Some(ids) = key_ids {
                                update.push_str(" ADD key_ids :ids");
                                values.insert(":ids".into(), AttributeValue::Ss(ids));
                            }
                            let pk = format!("APP#{}", item.id);
                            self.update(
                                pk,
                                "APP",
                                update,
                                Some("#version = :expected"),
                                &names,
                                values,
                            )?
                        }
                    }
                }
                Write::Key { item, expected } => {
                    let version = expected.unwrap_or(0) + 1;
                    let mut stored = item.clone();
                    stored.version = version;
                    // `last_used_at` is its own attribute, written by usage.
                    stored.last_used_at = None;
                    let expiry_pk = format!("EXPIRES#{}", day_of(item.expires_at));
                    let expiry_sk = format!("{}#{}", sortable(item.expires_at), item.id);
                    match expected {
                        None => self.put(
                            Item::from([
                                ("pk".to_owned(), s(format!("KEY#{}", item.id))),
                                ("sk".to_owned(), s("KEY")),
                                ("item".to_owned(), to_json(&stored)?),
                                ("version".to_owned(), n(version as i64)),
                                ("ttl".to_owned(), n(item.ttl)),
                                ("expires_at".to_owned(), n(item.expires_at)),
                                ("gsi1pk".to_owned(), s(expiry_pk)),
                                ("gsi1sk".to_owned(), s(expiry_sk)),
                            ]),
                            Expression {
                                condition: Some("attribute_not_exists(pk)".into()),
                                values: HashMap::new(),
                            },
                        )?,
                        Some(v) => self.update(
                            format!("KEY#{}", item.id),
                            "KEY",
                            "SET #item = :item, #version = :next, #ttl = :ttl, expires_at = :exp, \
                             gsi1pk = :gpk, gsi1sk = :gsk"
                                .into(),
                            Some("#version = :expected"),
                            &["item", "version", "ttl"],
                            HashMap::from([
                                (":item".to_owned(), to_json(&stored)?),
                                (":next".to_owned(), n(version as i64)),
                                (":expected".to_owned(), n(*v as i64)),
                                (":ttl".to_owned(), n(item.ttl)),
                                (":exp".to_owned(), n(item.expires_at)),
                                (":gpk".to_owned(), s(expiry_pk)),
                                (":gsk".to_owned(), s(expiry_sk)),
                            ]),
                        )?,
                    }
                }
                Write::Audit(event) => {
                    let nanos = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos());
                    self.put(
                        Item::from([
                            ("pk".to_owned(), s(format!("AUDIT#{}", event.account))),
                            (
                                "sk".to_owned(),
                                s(format!("{}#{nanos:09}#{}", sortable(event.at), event.id)),
                            ),
                            ("item".to_owned(), to_json(event)?),
                        ]),
                        Expression {
                            condition: None,
                            values: HashMap::new(),
                        },
                    )?
                }
                Write::Notice(notice) => self.put(
                    Item::from([
                        ("pk".to_owned(), s(format!("NOTICE#{}", notice.id))),
                        ("sk".to_owned(), s("NOTICE")),
                        ("item".to_owned(), to_json(notice)?),
                        (
                            "ttl".to_owned(),
                            n(notice.created_at + NOTICE_RETENTION_SECONDS),
                        ),
                        (
                            "gsi1pk".to_owned(),
                            s(composite("NOTICES", &notice.account, &notice.recipient)),
                        ),
                        (
                            "gsi1sk".to_owned(),
                            s(format!("{}#{}", sortable(notice.created_at), notice.id)),
                        ),
                    ]),
                    Expression {
                        condition: Some("attribute_not_exists(pk)".into()),
                        values: HashMap::new(),
                    },
                )?,
                Write::Idempotency { record, now } => self.put(
                    Item::from([
                        ("pk".to_owned(), s(format!("IDEM#{}", record.id))),
                        ("sk".to_owned(), s("IDEM")),
                        ("item".to_owned(), to_json(record)?),
                        ("expires_at".to_owned(), n(record.expires_at)),
                        ("ttl".to_owned(), n(record.expires_at)),
                    ]),
                    Expression {
                        condition: Some("attribute_not_exists(pk) OR expires_at <= :now".into()),
                        values: HashMap::from([(":now".to_owned(), n(*now))]),
                    },
                )?,
                Write::UserGuard {
                    account,
                    user_id,
                    expected,
                    offboarded,
                    at,
                } => {
                    let mut values = HashMap::from([
                        (":next".to_owned(), n(*expected as i64 + 1)),
                        (":off".to_owned(), AttributeValue::Bool(*offboarded)),
                        (":at".to_owned(), n(*at)),
                    ]);
                    let condition = if *expected == 0 {
                        "attribute_not_exists(pk)"
                    } else {
                        values.insert(":expected".into(), n(*expected as i64));
                        "#version = :expected"
                    };
                    self.update(
                        composite("USER", account, user_id),
                        "GUARD",
                        "SET #version = :next, offboarded = :off, #at = :at".into(),
                        Some(condition),
                        &["version", "at"],
                        values,
                    )?
                }
            });
        }
        // New keys of applications this commit does not write: add their
        // ids to the application's set, which must exist.
        for (application_id, ids) in new_keys {
            actions.push(self.update(
                format!("APP#{application_id}"),
                "APP",
                "ADD key_ids :ids".into(),
                Some("attribute_exists(pk)"),
                &[],
                HashMap::from([(":ids".to_owned(), AttributeValue::Ss(ids))]),
            )?);
        }
        for (account, ids) in new_apps {
            actions.push(self.update(
                format!("ACCOUNT#{account}"),
                "GUARD",
                "ADD app_ids :ids".into(),
                None,
                &[],
                HashMap::from([(":ids".to_owned(), AttributeValue::Ss(ids))]),
            )?);
        }
        Ok(actions)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn account_guard(&self, account: &str) -> StoreResult<u64> {
        Ok(self
            .get(format!("ACCOUNT#{account}"), "GUARD")
            .await?
            .and_then(|item| number(&item, "version"))
            .unwrap_or(0) as u64)
    }

    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        match self.get(format!("APP#{id}"), "APP").await? {
            Some(item) if item.contains_key("item") => from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_applications(&self, account: &str) -> StoreResult<Vec<Application>> {
        let parent = (format!("ACCOUNT#{account}"), "GUARD");
        let mut apps = self
            .members(parent, "app_ids", ("APP#", "APP"))
            .await?
            .iter()
            .filter(|item| item.contains_key("item"))
            .map(from_item::<Application>)
            .collect::<StoreResult<Vec<_>>>()?;
        apps.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(apps)
    }

    async fn get_key(&self, id: &str) -> StoreResult<Option<Key>> {
        self.get(format!("KEY#{id}"), "KEY")
            .await?
            .as_ref()
            .map(key_from_item)
            .transpose()
    }

    async fn list_application_keys(&self, application_id: &str) -> StoreResult<Vec<Key>> {
        let parent = (format!("APP#{application_id}"), "APP");
        let mut keys = self
            .members(parent, "key_ids", ("KEY#", "KEY"))
            .await?
            .iter()
            .map(key_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_account_keys(&self, account: &str) -> StoreResult<Vec<Key>> {
        let mut keys = Vec::new();
        for app in self.list_applications(account).await? {
            keys.extend(self.list_application_keys(&app.id).await?);
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_keys_expiring(&self, from: i64, to: i64) -> StoreResult<Vec<Key>> {
        let mut keys = Vec::new();
        let mut day = from - from.rem_euclid(DAY);
        while day <= to {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI)
                    .key_condition_expression("gsi1pk = :p AND gsi1sk BETWEEN :a AND :b")
                    .expression_attribute_values(":p", s(format!("EXPIRES#{}", day_of(day))))
                    .expression_attribute_values(":a", s(sortable(from + 1)))
                    .expression_attribute_values(":b", s(format!("{}#~", sortable(to))))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                for item in output.items.unwrap_or_default() {
                    keys.push(key_from_item(&item)?);
                }
                match output.last_evaluated_key {
                    Some(last) => start = Some(last),
                    None => break,
                }
            }
            day += DAY;
        }
        Ok(keys)
    }

    async fn get_idempotency(&self, id: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.get(format!("IDEM#{id}"), "IDEM")
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    async fn user_guard(&self, account: &str, user_id: &str) -> StoreResult<UserGuard> {
        Ok(self
            .get(composite("USER", account, user_id), "GUARD")
            .await?
            .map(|item| UserGuard {
                version: number(&item, "version").unwrap_or(0) as u64,
                offboarded: matches!(item.get("offboarded"), Some(AttributeValue::Bool(true))),
            })
            .unwrap_or_default())
    }

    async fn list_audit(
        &self,
        account: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEvent>> {
        let (items, next_cursor) = self
            .query_page(None, ("pk", format!("AUDIT#{account}")), limit, cursor)
            .await?;
        Ok(Page {
            items: items.iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor,
        })
    }

    async fn list_notices(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Notice>> {
        let partition = ("gsi1pk", composite("NOTICES", account, recipient));
        let (items, next_cursor) = self.query_page(Some(GSI), partition, limit, cursor).await?;
        Ok(Page {
            items: items.iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor,
        })
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        let actions = self.actions(&writes)?;
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Internal(format!(
                "a commit of {} items exceeds DynamoDB's transaction limit of {MAX_TRANSACTION_ITEMS}",
                actions.len()
            ))
            .into());
        }
        commit::transact(&self.client, actions).await
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        // DynamoDB has no batch update; the updates go out together.
        let updates = uses.iter().map(|(id, at)| {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(format!("KEY#{id}")))
                .key("sk", s("KEY"))
                .update_expression("SET last_used_at = :at")
                .condition_expression("attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)")
                .expression_attribute_values(":at", n(*at))
                .send()
        });
        for result in futures::future::join_all(updates).await {
            if let Err(e) = result {
                let stale = e
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception());
                if !stale {
                    return Err(sdk_error(e));
                }
            }
        }
        Ok(())
    }

    async fn purge_expired(&self, _now: i64) -> StoreResult<u64> {
        Ok(0)
    }

    fn purges_itself(&self) -> bool {
        true
    }
}
