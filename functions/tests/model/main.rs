//! Model-based property tests: random sequences of lifecycle operations
//! (create, with or without rate limits and credits, disable, enable,
//! regenerate with and without grace, revoke, revoke an application,
//! offboard a user, set credits, verify at a cost, move the clock) driven
//! through the real [`Service`] on SQLite and on DynamoDB (moto_server),
//! each compared with a small in-memory model that states the rules again,
//! plainly and independently of the service's code.
//!
//! After every operation: its outcome (status, or error code) matches the
//! model's; every key's status in the lists, every application in the lists,
//! the counts per application and per account, and the verdict of every
//! secret ever issued (each verification costing 1, and a metered key's
//! credits and rate limit left) match the model; and no limit is ever
//! exceeded. At the end of a case, every key and application is also read
//! one by one, its usage too.
//!
//! Case counts: `KEYWARD_MODEL_CASES` (SQLite, default 64) and
//! `KEYWARD_MODEL_DYNAMODB_CASES` (default 12); `KEYWARD_MODEL_OPS` caps
//! the operations per case (defaults 40 and 25). A failure prints the
//! shrunk sequence of operations; nothing is persisted, so a defect it finds
//! gets an explicit regression test in `regressions` instead.
//!
//! The parts: `users` (who acts), `ops` (the operations and their
//! generators), `in_memory` (the model), `metering` (its rate limits and
//! credits), `runner` (the service under test and each operation applied
//! to both), `checks` (what is compared after each operation); the runs on
//! each store are here.

#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/moto.rs"]
mod moto;

/// `return Err(TestCaseError::fail(..))` unless `$cond` holds; defined
/// before the modules so that `runner` and `checks` can use it.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

mod checks;
mod in_memory;
mod metering;
mod ops;
mod regressions;
mod runner;
mod users;

use in_memory::*;
use metering::*;
use ops::*;
use regressions::*;
use runner::*;
use users::*;

use keyward::auth::Caller;
use keyward::clock::ManualClock;
use keyward::config::Config;
use keyward::domain::KeyView;
use keyward::domain::rfc3339;
use keyward::error::ApiError;
use keyward::secret::Secret;
use keyward::service::{
    CreateKey, CreatedKey, LogPublisher, PageQuery, RegenerateKey, Service, VerifyContext,
    VerifyRequest,
};
use keyward::store::Store;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
/// The service's rules restated: default and longest validity, longest grace.
const DEFAULT_VALIDITY: i64 = 365 * DAY;
const MAX_VALIDITY: i64 = 730 * DAY;
const MAX_GRACE: i64 = 7 * DAY;
/// The design's limits; cases also run with a small limit so that it is
/// reached often.
const DESIGN_LIMIT: usize = 10;
const SMALL_LIMIT: usize = 3;

async fn run_case(
    store: Arc<dyn Store>,
    case: &Case,
    coverage: &Mutex<Coverage>,
) -> Result<(), TestCaseError> {
    let sut = system(store, case.limit);
    let mut runner = Runner {
        sut: &sut,
        model: Model {
            now: T0,
            limit: case.limit,
            apps: Vec::new(),
            keys: Vec::new(),
            offboarded: BTreeSet::new(),
        },
        page: case.page,
        seen: BTreeSet::new(),
        verdicts: BTreeSet::new(),
    };
    for (step, op) in case.ops.iter().enumerate() {
        runner
            .apply(op)
            .await
            .map_err(|e| TestCaseError::fail(format!("step {step} ({op:?}): {e}")))?;
        runner
            .check(step)
            .await
            .map_err(|e| TestCaseError::fail(format!("after step {step} ({op:?}): {e}")))?;
    }
    runner.check_reads().await?;
    let mut coverage = coverage.lock().unwrap();
    coverage.cases += 1;
    coverage.ops += case.ops.len() as u64;
    for label in runner.seen {
        if label.contains("KEY_LIMIT_REACHED") {
            *coverage.key_limit_reached.entry(case.limit).or_default() += 1;
        }
        if label.contains("APPLICATION_LIMIT_REACHED") {
            *coverage.app_limit_reached.entry(case.limit).or_default() += 1;
        }
        *coverage.outcomes.entry(label).or_default() += 1;
    }
    for verdict in runner.verdicts {
        *coverage.verdicts.entry(verdict).or_default() += 1;
    }
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {text:?}")),
        Err(_) => default,
    }
}

/// Runs `cases` random cases of at most `max_ops` operations, each on a
/// fresh store from `make`, and returns what they covered. With `metered`,
/// keys get rate limits and credits (`metering`).
fn run_model<F, Fut, G>(
    cases: usize,
    max_ops: usize,
    pages: BoxedStrategy<usize>,
    metered: bool,
    make: F,
) -> Coverage
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (Arc<dyn Store>, G)>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases as u32,
        // A defect found gets an explicit regression test instead.
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..RunnerConfig::default()
    });
    let coverage = Mutex::new(Coverage::default());
    let started = std::time::Instant::now();
    let result = runner.run(&case(max_ops, pages, metered), |case| {
        rt.block_on(async {
            let (store, _guard) = make().await;
            run_case(store, &case, &coverage).await
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let coverage = coverage.into_inner().unwrap();
    eprintln!(
        "{} cases, {} operations in {:.1?}\n  outcomes: {:?}\n  verdicts: {:?}\n  \
         cases reaching the key limit: {:?}, the application limit: {:?}",
        coverage.cases,
        coverage.ops,
        started.elapsed(),
        coverage.outcomes,
        coverage.verdicts,
        coverage.key_limit_reached,
        coverage.app_limit_reached,
    );
    coverage
}

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward::store::sqlite::SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    (Arc::new(store), dir)
}

async fn dynamodb_store() -> (Arc<dyn Store>, ()) {
    let (client, table) = moto::table().await;
    (
        Arc::new(keyward::store::dynamodb::DynamoStore::new(client, table)),
        (),
    )
}

#[test]
fn sqlite_matches_the_model() {
    let cases = env_number("KEYWARD_MODEL_CASES", 64);
    // Half the cases read lists in pages of 1 to 4.
    let pages = prop_oneof![Just(50usize), 1usize..=4].boxed();
    let coverage = run_model(
        cases,
        env_number("KEYWARD_MODEL_OPS", 40),
        pages,
        true,
        sqlite_store,
    );
    // The generator must reach what it is for; with fewer cases than the
    // default, chance may leave something out.
    if cases >= 64 {
        for verdict in [
            "VALID",
            "INSUFFICIENT_SCOPE",
            "DISABLED",
            "REVOKED",
            "EXPIRED",
            "APPLICATION_REVOKED",
            "OWNER_DELETED",
            "RATE_LIMITED",
            "USAGE_EXCEEDED",
        ] {
            assert!(
                coverage.verdicts.contains_key(verdict),
                "no case reached the verdict {verdict}"
            );
        }
        // Each reached in at least a fifth of cases in a 400-case run, so
        // missing one in 64 cases is as good as impossible by chance.
        for outcome in [
            "create_key KEY_LIMIT_REACHED",
            "create_application APPLICATION_LIMIT_REACHED",
            "create_key USER_OFFBOARDED",
            "regenerate_key KEY_ALREADY_REGENERATED",
            "regenerate_key with grace 201",
            "disable_key KEY_REVOKED",
            "offboard_user 200",
            "revoke_application 200",
            "set_credits 200",
        ] {
            assert!(
                coverage.outcomes.contains_key(outcome),
                "no case reached {outcome}"
            );
        }
        assert!(
            coverage.key_limit_reached.contains_key(&DESIGN_LIMIT),
            "no case reached the key limit of {DESIGN_LIMIT}"
        );
    }
}

#[test]
fn dynamodb_matches_the_model() {
    if !moto::available() {
        return;
    }
    // Whole lists: paging is the service's (the same code as on SQLite), and
    // every page would cost moto a full read.
    run_model(
        env_number("KEYWARD_MODEL_DYNAMODB_CASES", 12),
        env_number("KEYWARD_MODEL_DYNAMODB_OPS", 25),
        Just(100usize).boxed(),
        true,
        dynamodb_store,
    );
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$case(store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    if !super::moto::available() {
                        return;
                    }
                    let (store, ()) = super::dynamodb_store().await;
                    super::$case(store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    offboarding_more_than_one_commit_holds,
    revoking_an_application_with_more_live_keys_than_one_commit_holds,
    regenerating_needs_the_scopes_the_new_key_carries,
    offboarding_leaves_dead_keys_their_verdict,
);
