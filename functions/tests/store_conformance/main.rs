//! The store conformance suite, written once against the `Store` trait and
//! run against every store by `conformance_suite!` at the bottom.
//!
//! Two layers: the store's own contract (versioned conditional commits that
//! apply all or nothing, ordering, cursors, usage, purge), and the service's
//! rules that depend on it (limits under concurrency, one regenerate, one
//! idempotent result, expiry derived from the clock, one read per verify).
//!
//! The store's own contract: `commits`, `lists`, `records` (on items from
//! `items`), and the meters of usage control, `usage` (run by
//! `usage_cases!`). The service's rules: `races`, `rules`, `verification`
//! (through the harness in `service`).

#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/github.rs"]
mod github;

mod items;
mod service;

mod commits;
mod leaks;
mod lists;
mod races;
mod records;
mod rules;
mod usage;
mod verification;
mod webhooks;

/// Every case, as `conformance::<case>(store)`, for `conformance_suite!`.
mod conformance {
    pub use crate::commits::*;
    pub use crate::leaks::*;
    pub use crate::lists::*;
    pub use crate::races::*;
    pub use crate::records::*;
    pub use crate::rules::*;
    pub use crate::service::harness_for_tests;
    pub use crate::usage::*;
    pub use crate::verification::*;
    pub use crate::webhooks::*;
}

/// Instantiates every conformance case against one store. `$make` is an
/// async expression giving `(Arc<dyn Store>, guard)`; the guard lives as long
/// as the test (a temporary folder, a server).
macro_rules! conformance_suite {
    ($store:ident, $ready:expr, $make:expr, [$($case:ident),* $(,)?]) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    if !$ready {
                        return;
                    }
                    let (store, _guard) = $make.await;
                    super::conformance::$case(store).await;
                }
            )*
        }
    };
}

macro_rules! every_case {
    ($store:ident, $ready:expr, $make:expr) => {
        conformance_suite!(
            $store,
            $ready,
            $make,
            [
                new_items_are_written_and_read_back,
                an_existing_item_cannot_be_created_again,
                stale_versions_conflict_and_nothing_is_half_written,
                a_key_needs_its_application,
                account_guard_versions,
                lists_are_per_parent_and_oldest_first,
                keys_expiring_in_a_window,
                audit_pages_newest_first_per_account,
                notices_are_unique_per_id_and_per_recipient,
                idempotency_records_are_unique_until_they_expire,
                key_use_is_recorded_without_bumping_the_version,
                user_guards_version_and_remember_offboarding,
                purge_removes_only_what_is_past_its_time,
                thirty_parallel_key_creates_leave_exactly_ten,
                thirty_parallel_application_creates_leave_exactly_ten,
                expiry_is_derived_from_the_clock_on_every_read,
                parallel_regenerates_make_exactly_one_new_key,
                a_grace_period_ends_in_revocation,
                parallel_idempotent_retries_create_one_key,
                idempotency_records_replay_only_to_their_caller,
                grace_periods_cannot_lift_the_key_limit,
                key_views_carry_the_verdict_verification_gives,
                concurrent_writers_to_one_key_lose_no_update,
                parallel_enables_and_creates_keep_the_limit,
                revoking_an_application_revokes_its_keys_atomically,
                offboarding_stops_the_users_applications_and_keys,
                expiry_notices_once_per_key_and_day,
                verification_reads_one_item_and_writes_nothing,
                a_coarser_usage_resolution_writes_less_often,
                the_next_verification_sees_every_change,
                webhooks_are_versioned_and_listed_per_account,
                deliveries_are_made_once_due_by_time_and_paged,
                each_leak_action_is_taken_once,
                github_labels_dead_keys_true_and_acts_only_on_live_ones,
                a_dormant_key_is_noticed_then_disabled_once,
            ]
        );
    };
}

/// The meters' cases (`read_meter` and `debit`), run on both stores.
macro_rules! usage_cases {
    ($store:ident, $ready:expr, $make:expr) => {
        conformance_suite!(
            $store,
            $ready,
            $make,
            [
                parallel_debits_accept_exactly_the_credits,
                a_limit_accepts_exactly_its_units_per_window,
                a_refusal_debits_neither_the_limits_nor_the_credits,
                a_cost_of_zero_consumes_nothing,
                credits_refill_at_midnight_utc,
                a_key_write_with_a_balance_resets_it,
                read_meter_answers_what_was_debited,
                a_balance_set_from_a_stale_read_conflicts,
            ]
        );
    };
}

async fn sqlite_store() -> (std::sync::Arc<dyn keyward::store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward::store::sqlite::SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    (std::sync::Arc::new(store), dir)
}

every_case!(sqlite, true, super::sqlite_store());
usage_cases!(sqlite_usage, true, super::sqlite_store());
#[path = "../support/moto.rs"]
mod moto;

/// The same suite against DynamoDB, through a DynamoDB-compatible server on
/// loopback (`moto_server`, started by `tests/run.sh`): a fresh table per
/// test.
async fn dynamodb_store() -> (std::sync::Arc<dyn keyward::store::Store>, ()) {
    let (client, table) = moto::table().await;
    (
        std::sync::Arc::new(keyward::store::dynamodb::DynamoStore::new(client, table)),
        (),
    )
}

every_case!(dynamodb, super::moto::available(), super::dynamodb_store());

usage_cases!(
    dynamodb_usage,
    super::moto::available(),
    super::dynamodb_store()
);

/// DynamoDB only: an id whose item TTL purged is dropped from its set on
/// the next consistent read (TTL deletes without touching the set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_prunes_ids_of_purged_keys() {
    if !moto::available() {
        return;
    }
    use aws_sdk_dynamodb::types::AttributeValue;
    use keyward::store::Store;
    let (client, table) = moto::table().await;
    let store = keyward::store::dynamodb::DynamoStore::new(client.clone(), &table);
    let h = conformance::harness_for_tests(std::sync::Arc::new(store.clone()));
    let (app, purged, kept) = h.await;
    // What TTL would do: delete the key item, leave the set alone.
    client
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("KEY#{purged}")))
        .key("sk", AttributeValue::S("KEY".into()))
        .send()
        .await
        .unwrap();
    let ids = |item: Option<std::collections::HashMap<String, AttributeValue>>| match item
        .unwrap()
        .get("key_ids")
    {
        Some(AttributeValue::Ss(ids)) => {
            let mut ids = ids.clone();
            ids.sort();
            ids
        }
        _ => Vec::new(),
    };
    let app_item = || {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("APP#{app}")))
            .key("sk", AttributeValue::S("APP".into()))
            .consistent_read(true)
            .send()
    };
    assert_eq!(ids(app_item().await.unwrap().item).len(), 2);
    let listed: Vec<String> = store
        .list_application_keys(&app)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![kept.clone()]);
    assert_eq!(ids(app_item().await.unwrap().item), vec![kept]);
}

/// DynamoDB only: `gsi1` carries the keys and the JSON body, nothing else,
/// so the usage flush (`SET last_used_at`) changes no attribute of the
/// index and DynamoDB writes no index copy for it (BENCHMARKS.md, "Scale on
/// paper"); the expiry job still reads whole keys from the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_index_holds_only_the_item_body() {
    if !moto::available() {
        return;
    }
    use keyward::store::Store;
    let (client, table) = moto::table().await;
    let store = keyward::store::dynamodb::DynamoStore::new(client.clone(), &table);
    let (_, _, kept) = conformance::harness_for_tests(std::sync::Arc::new(store.clone())).await;
    store
        .record_key_use(&[(kept.clone(), 1_700_000_000)])
        .await
        .unwrap();
    let stored = store.get_key(&kept).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(1_700_000_000));

    let entries = client
        .scan()
        .table_name(&table)
        .index_name("gsi1")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let keys_in_index = entries
        .iter()
        .filter(|e| e.get("pk").and_then(|v| v.as_s().ok()) == Some(&format!("KEY#{kept}")))
        .count();
    assert_eq!(keys_in_index, 1, "the key is in the expiry index");
    for entry in &entries {
        let mut names: Vec<&str> = entry.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["gsi1pk", "gsi1sk", "item", "pk", "sk"], "{entry:?}");
    }
    let expiring = store
        .list_keys_expiring(stored.expires_at - 1, stored.expires_at)
        .await
        .unwrap();
    let from_index = expiring.iter().find(|k| k.id == kept).expect("listed");
    assert_eq!(
        (&from_index.name, &from_index.hash, from_index.expires_at),
        (&stored.name, &stored.hash, stored.expires_at)
    );
}
