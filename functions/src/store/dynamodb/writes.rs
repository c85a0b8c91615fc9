//! A commit's `Write`s as `TransactWriteItems` actions: one function per
//! kind of write.
//!
//! Versions become condition expressions: `attribute_not_exists(pk)` for an
//! item that must not exist, `#version = :expected` for one that must be at
//! the version read. A transaction may touch an item only once, so the ids
//! a commit adds to `key_ids` and `app_ids` are folded into the write of
//! the item that holds the set, or added by one update of their own when
//! the commit does not write that item.

use super::codec::{Item, ids, n, s, to_json};
use super::layout::{
    APP_IDS, CREDITS_PERIOD, CREDITS_REMAINING, DUE_PARTITION, IdSet, ItemKey, KEY_IDS,
    due_sort_key, expiry_index_key, notice_index_key,
};
use crate::domain::{Application, AuditEvent, IdempotencyRecord, Key, Notice};
use crate::events::webhook::{Delivery, DeliveryStatus, Webhook};
use crate::store::{StoreResult, Write};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a notice stays after it was written.
const NOTICE_RETENTION_SECONDS: i64 = 90 * 86_400;

const MUST_NOT_EXIST: &str = "attribute_not_exists(pk)";
const AT_EXPECTED_VERSION: &str = "#version = :expected";

type Values = HashMap<String, AttributeValue>;

/// Translates a commit into transaction actions, in the order of its
/// writes, then the id-set additions no write carried.
pub(super) fn actions(table: &str, writes: &[Write]) -> StoreResult<Vec<TransactWriteItem>> {
    let actions = Actions { table };
    let mut new_ids = NewIds::of(writes);
    let mut built = Vec::with_capacity(writes.len() + new_ids.keys.len());
    for write in writes {
        built.push(match write {
            Write::AccountGuard { account, expected } => {
                let app_ids = new_ids.apps.remove(account.as_str());
                actions.account_guard(account, *expected, app_ids)?
            }
            Write::Application { item, expected } => {
                let key_ids = new_ids.keys.remove(item.id.as_str());
                actions.application(item, *expected, key_ids)?
            }
            Write::Key { item, expected } => actions.key(item, *expected)?,
            Write::Audit(event) => actions.audit(event)?,
            Write::Notice(notice) => actions.notice(notice)?,
            Write::Idempotency { record, now } => actions.idempotency(record, *now)?,
            Write::UserGuard {
                account,
                user_id,
                expected,
                offboarded,
                at,
            } => actions.user_guard(account, user_id, *expected, *offboarded, *at)?,
            Write::Webhook { item, expected } => actions.webhook(item, *expected)?,
            Write::Delivery { item, expected } => actions.delivery(item, *expected)?,
        });
    }
    // New keys of applications this commit does not write: the application
    // must exist.
    for (application_id, key_ids) in new_ids.keys {
        let set = IdSet::ApplicationKeys { application_id };
        built.push(actions.add_ids(set, key_ids, Some("attribute_exists(pk)"))?);
    }
    for (account, app_ids) in new_ids.apps {
        let set = IdSet::AccountApplications { account };
        built.push(actions.add_ids(set, app_ids, None)?);
    }
    Ok(built)
}

/// The ids of the keys and applications a commit creates, by the item
/// whose id set lists them.
struct NewIds<'w> {
    /// By application id.
    keys: BTreeMap<&'w str, Vec<String>>,
    /// By account.
    apps: BTreeMap<&'w str, Vec<String>>,
}

impl<'w> NewIds<'w> {
    fn of(writes: &'w [Write]) -> Self {
        let mut new = NewIds {
            keys: BTreeMap::new(),
            apps: BTreeMap::new(),
        };
        for write in writes {
            match write {
                Write::Key {
                    item,
                    expected: None,
                } => new
                    .keys
                    .entry(&item.application_id)
                    .or_default()
                    .push(item.id.clone()),
                Write::Application {
                    item,
                    expected: None,
                } => new
                    .apps
                    .entry(&item.account)
                    .or_default()
                    .push(item.id.clone()),
                _ => {}
            }
        }
        new
    }
}

/// Builds actions on one table.
struct Actions<'t> {
    table: &'t str,
}

impl Actions<'_> {
    fn account_guard(
        &self,
        account: &str,
        expected: u64,
        app_ids: Option<Vec<String>>,
    ) -> StoreResult<TransactWriteItem> {
        let mut values = Values::from([(":next".to_owned(), n(expected as i64 + 1))]);
        let mut update = "SET #version = :next".to_owned();
        if let Some(app_ids) = app_ids {
            update.push_str(&format!(" ADD {APP_IDS} :ids"));
            values.insert(":ids".into(), ids(app_ids));
        }
        let condition = guard_condition(expected, &mut values);
        let key = ItemKey::AccountGuard { account };
        self.update(key, update, Some(condition), &["version"], values)
    }

    fn user_guard(
        &self,
        account: &str,
        user_id: &str,
        expected: u64,
        offboarded: bool,
        at: i64,
    ) -> StoreResult<TransactWriteItem> {
        let mut values = Values::from([
            (":next".to_owned(), n(expected as i64 + 1)),
            (":off".to_owned(), AttributeValue::Bool(offboarded)),
            (":at".to_owned(), n(at)),
        ]);
        let condition = guard_condition(expected, &mut values);
        self.update(
            ItemKey::UserGuard { account, user_id },
            "SET #version = :next, offboarded = :off, #at = :at".into(),
            Some(condition),
            &["version", "at"],
            values,
        )
    }

    fn application(
        &self,
        item: &Application,
        expected: Option<u64>,
        key_ids: Option<Vec<String>>,
    ) -> StoreResult<TransactWriteItem> {
        let key = ItemKey::Application { id: &item.id };
        let version = expected.unwrap_or(0) + 1;
        let mut stored = item.clone();
        stored.version = version;
        let Some(expected) = expected else {
            let mut attributes = key.attributes();
            attributes.insert("item".into(), to_json(&stored)?);
            attributes.insert("version".into(), n(version as i64));
            if let Some(ttl) = item.ttl {
                attributes.insert("ttl".into(), n(ttl));
            }
            if let Some(key_ids) = key_ids {
                attributes.insert(KEY_IDS.into(), ids(key_ids));
            }
            return self.put(attributes, Some(MUST_NOT_EXIST), Values::new());
        };
        let mut values = Values::from([
            (":item".to_owned(), to_json(&stored)?),
            (":next".to_owned(), n(version as i64)),
            (":expected".to_owned(), n(expected as i64)),
        ]);
        let mut update = "SET #item = :item, #version = :next".to_owned();
        let mut names = vec!["item", "version"];
        if let Some(ttl) = item.ttl {
            update.push_str(", #ttl = :ttl");
            names.push("ttl");
            values.insert(":ttl".into(), n(ttl));
        }
        if let Some(key_ids) = key_ids {
            update.push_str(&format!(" ADD {KEY_IDS} :ids"));
            values.insert(":ids".into(), ids(key_ids));
        }
        self.update(key, update, Some(AT_EXPECTED_VERSION), &names, values)
    }

    fn key(&self, item: &Key, expected: Option<u64>) -> StoreResult<TransactWriteItem> {
        let key = ItemKey::Key { id: &item.id };
        let version = expected.unwrap_or(0) + 1;
        let mut stored = item.clone();
        stored.version = version;
        // `last_used_at` is its own attribute, written by usage.
        stored.last_used_at = None;
        let (expiry_pk, expiry_sk) = expiry_index_key(item.expires_at, &item.id);
        let Some(expected) = expected else {
            let mut attributes = key.attributes();
            attributes.extend([
                ("item".to_owned(), to_json(&stored)?),
                ("version".to_owned(), n(version as i64)),
                ("ttl".to_owned(), n(item.ttl)),
                ("expires_at".to_owned(), n(item.expires_at)),
                ("gsi1pk".to_owned(), s(expiry_pk)),
                ("gsi1sk".to_owned(), s(expiry_sk)),
            ]);
            if let Some(balance) = item.set_balance {
                attributes.extend([
                    (CREDITS_REMAINING.to_owned(), n(balance.remaining as i64)),
                    (CREDITS_PERIOD.to_owned(), n(balance.period)),
                ]);
            }
            return self.put(attributes, Some(MUST_NOT_EXIST), Values::new());
        };
        let mut update = "SET #item = :item, #version = :next, #ttl = :ttl, expires_at = :exp, \
                          gsi1pk = :gpk, gsi1sk = :gsk"
            .to_owned();
        let mut values = Values::from([
            (":item".to_owned(), to_json(&stored)?),
            (":next".to_owned(), n(version as i64)),
            (":expected".to_owned(), n(expected as i64)),
            (":ttl".to_owned(), n(item.ttl)),
            (":exp".to_owned(), n(item.expires_at)),
            (":gpk".to_owned(), s(expiry_pk)),
            (":gsk".to_owned(), s(expiry_sk)),
        ]);
        // Only a write that sets the balance touches the counters; any
        // other lifecycle write leaves them to the debits.
        let mut condition = AT_EXPECTED_VERSION.to_owned();
        if let Some(balance) = item.set_balance {
            update.push_str(&format!(
                ", {CREDITS_REMAINING} = :remaining, {CREDITS_PERIOD} = :period"
            ));
            values.insert(":remaining".into(), n(balance.remaining as i64));
            values.insert(":period".into(), n(balance.period));
            // A balance set from the one read (regenerate moves it to the
            // new key) must not lose the debits since: they do not bump
            // the version, so the balance itself is the expectation.
            if let Some(read) = item.meter.credits {
                condition.push_str(&format!(
                    " AND {CREDITS_REMAINING} = :read_remaining AND {CREDITS_PERIOD} = :read_period"
                ));
                values.insert(":read_remaining".into(), n(read.remaining as i64));
                values.insert(":read_period".into(), n(read.period));
            }
        }
        self.update(
            key,
            update,
            Some(&condition),
            &["item", "version", "ttl"],
            values,
        )
    }

    /// Append-only: no condition.
    fn audit(&self, event: &AuditEvent) -> StoreResult<TransactWriteItem> {
        let nanos = order_within_second(event.at, SystemTime::now());
        let key = ItemKey::Audit {
            account: &event.account,
            at: event.at,
            nanos,
            id: &event.id,
        };
        let mut attributes = key.attributes();
        attributes.insert("item".into(), to_json(event)?);
        self.put(attributes, None, Values::new())
    }

    fn notice(&self, notice: &Notice) -> StoreResult<TransactWriteItem> {
        let (notices_pk, notices_sk) = notice_index_key(
            &notice.account,
            &notice.recipient,
            notice.created_at,
            &notice.id,
        );
        let mut attributes = ItemKey::Notice { id: &notice.id }.attributes();
        attributes.extend([
            ("item".to_owned(), to_json(notice)?),
            (
                "ttl".to_owned(),
                n(notice.created_at + NOTICE_RETENTION_SECONDS),
            ),
            ("gsi1pk".to_owned(), s(notices_pk)),
            ("gsi1sk".to_owned(), s(notices_sk)),
        ]);
        self.put(attributes, Some(MUST_NOT_EXIST), Values::new())
    }

    /// A record may replace one that expired before `now` and that TTL has
    /// not deleted yet.
    fn idempotency(&self, record: &IdempotencyRecord, now: i64) -> StoreResult<TransactWriteItem> {
        let mut attributes = ItemKey::Idempotency { id: &record.id }.attributes();
        attributes.extend([
            ("item".to_owned(), to_json(record)?),
            ("expires_at".to_owned(), n(record.expires_at)),
            ("ttl".to_owned(), n(record.expires_at)),
        ]);
        self.put(
            attributes,
            Some("attribute_not_exists(pk) OR expires_at <= :now"),
            Values::from([(":now".to_owned(), n(now))]),
        )
    }

    fn webhook(&self, item: &Webhook, expected: Option<u64>) -> StoreResult<TransactWriteItem> {
        let key = ItemKey::Webhook {
            account: &item.account,
            id: &item.id,
        };
        self.versioned_put(key, item, expected, item.ttl, None)
    }

    /// A delivery is put whole: the due index keys are there while it is
    /// pending and gone once it is not.
    fn delivery(&self, item: &Delivery, expected: Option<u64>) -> StoreResult<TransactWriteItem> {
        let key = ItemKey::Delivery {
            webhook_id: &item.webhook_id,
            sequence: item.sequence,
            event_id: &item.event.id,
        };
        let due = match (item.status, item.next_attempt_at) {
            (DeliveryStatus::Pending, Some(at)) => {
                Some((DUE_PARTITION.to_owned(), due_sort_key(at, &item.id)))
            }
            _ => None,
        };
        self.versioned_put(key, item, expected, Some(item.ttl), due)
    }

    /// An item put whole at the version after `expected` (in its JSON and
    /// its `version`), with its `ttl` and its `gsi1` keys when it has them.
    fn versioned_put(
        &self,
        key: ItemKey,
        item: &impl serde::Serialize,
        expected: Option<u64>,
        ttl: Option<i64>,
        index: Option<(String, String)>,
    ) -> StoreResult<TransactWriteItem> {
        let version = expected.unwrap_or(0) + 1;
        let mut stored = serde_json::to_value(item)?;
        stored["version"] = version.into();
        let mut attributes = key.attributes();
        attributes.insert("item".into(), to_json(&stored)?);
        attributes.insert("version".into(), n(version as i64));
        if let Some(ttl) = ttl {
            attributes.insert("ttl".into(), n(ttl));
        }
        if let Some((pk, sk)) = index {
            attributes.insert("gsi1pk".into(), s(pk));
            attributes.insert("gsi1sk".into(), s(sk));
        }
        self.put_versioned(attributes, expected)
    }

    /// A put that must create (`None`) or replace the version `expected`.
    fn put_versioned(&self, item: Item, expected: Option<u64>) -> StoreResult<TransactWriteItem> {
        match expected {
            None => self.put(item, Some(MUST_NOT_EXIST), Values::new()),
            Some(expected) => {
                let put = Put::builder()
                    .table_name(self.table)
                    .set_item(Some(item))
                    .condition_expression(AT_EXPECTED_VERSION)
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", n(expected as i64))
                    .build()?;
                Ok(TransactWriteItem::builder().put(put).build())
            }
        }
    }

    /// Adds ids to a set whose holder this commit does not otherwise write.
    fn add_ids(
        &self,
        set: IdSet,
        new_ids: Vec<String>,
        condition: Option<&str>,
    ) -> StoreResult<TransactWriteItem> {
        self.update(
            set.holder(),
            format!("ADD {} :ids", set.attribute()),
            condition,
            &[],
            Values::from([(":ids".to_owned(), ids(new_ids))]),
        )
    }

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Values,
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An update action. Attribute names go through `#name` aliases (many
    /// words, `ttl` and `version` among them, are reserved in expressions):
    /// every `#x` used must be listed in `names`.
    fn update(
        &self,
        key: ItemKey,
        update: String,
        condition: Option<&str>,
        names: &[&str],
        values: Values,
    ) -> StoreResult<TransactWriteItem> {
        let names: HashMap<String, String> = names
            .iter()
            .map(|name| (format!("#{name}"), name.to_string()))
            .collect();
        let update = Update::builder()
            .table_name(self.table)
            .set_key(Some(key.attributes()))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// A guard's condition: absent when `expected` is 0, otherwise at that
/// version (whose value it adds).
fn guard_condition(expected: u64, values: &mut Values) -> &'static str {
    if expected == 0 {
        MUST_NOT_EXIST
    } else {
        values.insert(":expected".into(), n(expected as i64));
        AT_EXPECTED_VERSION
    }
}

/// The sort position of an event stamped `at` (whole seconds) among the
/// events of that second, written at `now`: the sub-second part of `now`
/// while still in that second; the end of the second once `now` has moved
/// past it (a slow write must not sort before events stamped earlier in
/// the same second); the start for a stamp from the future (a test clock).
fn order_within_second(at: i64, now: SystemTime) -> u32 {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return 0;
    };
    match (since_epoch.as_secs() as i64).cmp(&at) {
        std::cmp::Ordering::Equal => since_epoch.subsec_nanos(),
        std::cmp::Ordering::Greater => 999_999_999,
        std::cmp::Ordering::Less => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::order_within_second;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_write_after_its_second_sorts_at_the_end_of_it() {
        let at = 1_700_000_000;
        let within = UNIX_EPOCH + Duration::new(at as u64, 250_000_000);
        let later = UNIX_EPOCH + Duration::new(at as u64 + 1, 50_000_000);
        assert_eq!(order_within_second(at, within), 250_000_000);
        // Stamped in second `at` but written in the next: it must not sort
        // before an event stamped and written within `at` after it.
        assert!(order_within_second(at, later) > order_within_second(at, within));
        assert_eq!(order_within_second(at + 5, within), 0);
    }
}
