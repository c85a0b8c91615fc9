//! Model-based property tests: random sequences of lifecycle operations
//! (create, disable, enable, regenerate with and without grace, revoke,
//! revoke an application, offboard a user, move the clock) driven through
//! the real [`Service`] on SQLite and on DynamoDB (moto_server), each
//! compared with a small in-memory model that states the rules again, plainly
//! and independently of the service's code.
//!
//! After every operation: its outcome (status, or error code) matches the
//! model's; every key's status in the lists, every application in the lists,
//! the counts per application and per account, and the verdict of every
//! secret ever issued match the model; and no limit is ever exceeded. At the
//! end of a case, every key and application is also read one by one.
//!
//! Case counts: `KEYWARD_MODEL_CASES` (SQLite, default 64) and
//! `KEYWARD_MODEL_DYNAMODB_CASES` (default 12); `KEYWARD_MODEL_OPS` caps
//! the operations per case (defaults 40 and 25). A failure prints the
//! shrunk sequence of operations; nothing is persisted, so a defect it finds
//! gets an explicit regression test below instead.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/moto.rs"]
mod moto;

use keyward::auth::Caller;
use keyward::clock::ManualClock;
use keyward::config::Config;
use keyward::domain::KeyView;
use keyward::domain::rfc3339;
use keyward::error::ApiError;
use keyward::secret::Secret;
use keyward::service::{
    CreateKey, CreatedKey, LogPublisher, PageQuery, RegenerateKey, Service, VerifyRequest,
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

// ---- who acts ----------------------------------------------------------------

/// Two accounts. Alice and Carol hold every permission in theirs; Bob holds
/// only the `own` key permissions and may grant only `sims:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum User {
    Alice,
    Bob,
    Carol,
}

const USERS: [User; 3] = [User::Alice, User::Bob, User::Carol];
const ACCOUNTS: [&str; 2] = ["acme", "globex"];

impl User {
    fn id(self) -> &'static str {
        match self {
            User::Alice => "alice",
            User::Bob => "bob",
            User::Carol => "carol",
        }
    }

    fn account(self) -> &'static str {
        match self {
            User::Alice | User::Bob => "acme",
            User::Carol => "globex",
        }
    }

    /// Holds `applications:view|revoke`, `users:offboard` and the `any` key
    /// permissions.
    fn is_admin(self) -> bool {
        self != User::Bob
    }

    fn may_grant(self, scopes: &[&str]) -> bool {
        self.is_admin() || scopes.iter().all(|s| *s == "sims:read")
    }

    fn admin_of(account: &str) -> User {
        if account == "acme" {
            User::Alice
        } else {
            User::Carol
        }
    }

    fn caller(self) -> Caller {
        let permissions: Vec<String> = if self.is_admin() {
            fixtures::all_permissions()
        } else {
            "applications:create keys:view:own keys:create:own keys:edit:own keys:revoke:own sims:read"
                .split(' ')
                .map(str::to_owned)
                .collect()
        };
        Caller {
            user_id: self.id().into(),
            account: self.account().into(),
            permissions,
            mfa: false,
        }
    }
}

// ---- operations ----------------------------------------------------------------

/// A reference to an object made earlier in the case, by position among
/// those of the caller's account (or of the other account, or none), so
/// that shrinking keeps it meaningful.
#[derive(Debug, Clone)]
enum Ref {
    /// The newest of the caller's account.
    Latest,
    /// The one before it (after a regenerate: the replaced key).
    Previous,
    Own(Index),
    Foreign(Index),
    Unknown,
}

impl Ref {
    /// The object `self` names among those whose accounts are `accounts`.
    fn resolve<'a>(&self, by: User, accounts: impl Iterator<Item = &'a str>) -> Option<usize> {
        let own = !matches!(self, Ref::Foreign(_));
        let candidates: Vec<usize> = accounts
            .enumerate()
            .filter(|(_, account)| (*account == by.account()) == own)
            .map(|(i, _)| i)
            .collect();
        match self {
            Ref::Latest => candidates.last().copied(),
            Ref::Previous => candidates.len().checked_sub(2).map(|i| candidates[i]),
            Ref::Own(index) | Ref::Foreign(index) if !candidates.is_empty() => {
                Some(candidates[index.index(candidates.len())])
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    Default,
    InSeconds(i64),
    InDays(i64),
    /// `now - seconds` (0: exactly now, which is refused as well).
    Past(i64),
    /// Beyond the longest validity by this many seconds.
    TooFar(i64),
}

impl Expiry {
    fn request(self, now: i64) -> Option<String> {
        match self {
            Expiry::Default => None,
            Expiry::InSeconds(s) => Some(rfc3339::format(now + s)),
            Expiry::InDays(d) => Some(rfc3339::format(now + d * DAY)),
            Expiry::Past(s) => Some(rfc3339::format(now - s)),
            Expiry::TooFar(s) => Some(rfc3339::format(now + MAX_VALIDITY + s)),
        }
    }

    /// The expiry the model expects, or the error.
    fn resolve(self, now: i64) -> Result<i64, &'static str> {
        match self {
            Expiry::Default => Ok(now + DEFAULT_VALIDITY),
            Expiry::InSeconds(s) => Ok(now + s),
            Expiry::InDays(d) => Ok(now + d * DAY),
            Expiry::Past(_) => Err("EXPIRES_AT_IN_PAST"),
            Expiry::TooFar(_) => Err("EXPIRES_AT_TOO_FAR"),
        }
    }
}

const SCOPE_SETS: [&[&str]; 4] = [
    &[],
    &["sims:read"],
    &["sims:read", "sims:write"],
    &["sims:*"],
];
const REQUIRED_SCOPES: [&[&str]; 3] = [&[], &["sims:read"], &["sims:write"]];

#[derive(Debug, Clone)]
enum Op {
    CreateApp {
        by: User,
    },
    /// `count` creations in a row in one application, so limits are reached.
    CreateKeys {
        by: User,
        app: Ref,
        count: u8,
        expiry: Expiry,
        scopes: usize,
    },
    Disable {
        by: User,
        key: Ref,
    },
    Enable {
        by: User,
        key: Ref,
    },
    Revoke {
        by: User,
        key: Ref,
    },
    /// Once, or twice in a row (a repeated click).
    Regenerate {
        by: User,
        key: Ref,
        grace: Option<i64>,
        expiry: Expiry,
        twice: bool,
    },
    RevokeApp {
        by: User,
        app: Ref,
    },
    Offboard {
        by: User,
        target: User,
    },
    Advance {
        seconds: i64,
    },
}

fn user() -> impl Strategy<Value = User> {
    prop_oneof![3 => Just(User::Alice), 2 => Just(User::Bob), 2 => Just(User::Carol)]
}

fn reference() -> impl Strategy<Value = Ref> {
    prop_oneof![
        6 => Just(Ref::Latest),
        3 => Just(Ref::Previous),
        12 => any::<Index>().prop_map(Ref::Own),
        1 => any::<Index>().prop_map(Ref::Foreign),
        1 => Just(Ref::Unknown),
    ]
}

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        5 => Just(Expiry::Default),
        2 => (1i64..7_200).prop_map(Expiry::InSeconds),
        3 => (1i64..=730).prop_map(Expiry::InDays),
        1 => (0i64..DAY).prop_map(Expiry::Past),
        1 => (1i64..DAY).prop_map(Expiry::TooFar),
    ]
}

fn grace() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(0)),
        4 => (1i64..=MAX_GRACE).prop_map(Some),
        1 => (1i64..=60).prop_map(Some),
        1 => prop_oneof![(MAX_GRACE + 1..MAX_GRACE * 4), (-DAY..0)].prop_map(Some),
    ]
}

fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 1i64..120,
        3 => 120i64..DAY,
        2 => DAY..60 * DAY,
        1 => 300 * DAY..800 * DAY,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => user().prop_map(|by| Op::CreateApp { by }),
        6 => (user(), reference(), 1u8..=12, expiry(), 0..SCOPE_SETS.len()).prop_map(
            |(by, app, count, expiry, scopes)| Op::CreateKeys { by, app, count, expiry, scopes }
        ),
        3 => (user(), reference()).prop_map(|(by, key)| Op::Disable { by, key }),
        3 => (user(), reference()).prop_map(|(by, key)| Op::Enable { by, key }),
        2 => (user(), reference()).prop_map(|(by, key)| Op::Revoke { by, key }),
        4 => (user(), reference(), grace(), expiry(), prop::bool::weighted(0.3)).prop_map(
            |(by, key, grace, expiry, twice)| Op::Regenerate { by, key, grace, expiry, twice }
        ),
        1 => (user(), reference()).prop_map(|(by, app)| Op::RevokeApp { by, app }),
        // Mostly Bob, whose applications others can still act on.
        2 => (user(), prop_oneof![1 => Just(User::Alice), 3 => Just(User::Bob), 1 => Just(User::Carol)])
            .prop_map(|(by, target)| Op::Offboard { by, target }),
        3 => seconds().prop_map(|seconds| Op::Advance { seconds }),
    ]
}

/// One case: the limit both limits are set to, the page size the lists are
/// read with, and the operations.
#[derive(Debug, Clone)]
struct Case {
    limit: usize,
    page: usize,
    ops: Vec<Op>,
}

fn case(max_ops: usize, pages: BoxedStrategy<usize>) -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(DESIGN_LIMIT), Just(SMALL_LIMIT)],
        pages,
        prop::collection::vec(op(), max_ops / 4..=max_ops),
    )
        .prop_map(|(limit, page, ops)| Case {
            limit,
            page,
            ops: prologue().into_iter().chain(ops).collect(),
        })
}

/// Every case starts with an application and two keys per user, so that the
/// random operations have something to act on.
fn prologue() -> Vec<Op> {
    USERS
        .iter()
        .flat_map(|&by| {
            [
                Op::CreateApp { by },
                Op::CreateKeys {
                    by,
                    app: Ref::Latest,
                    count: 2,
                    expiry: Expiry::Default,
                    scopes: if by.is_admin() { 2 } else { 1 },
                },
            ]
        })
        .collect()
}

// ---- the model -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Disabled,
    Revoked,
    Expired,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

#[derive(Debug)]
struct ModelApp {
    id: String,
    account: &'static str,
    created_by: User,
    revoked: bool,
    owner_deleted: bool,
}

#[derive(Debug)]
struct ModelKey {
    id: String,
    secret: String,
    app: usize,
    account: &'static str,
    created_by: User,
    scopes: &'static [&'static str],
    expires_at: i64,
    disabled: bool,
    /// Revoked by a revoke, a regenerate without grace, or its application's
    /// revocation.
    revoked: bool,
    /// End of the grace period after a regenerate with grace.
    grace_end: Option<i64>,
    /// The key that replaced it (an index into `Model::keys`).
    replaced_by: Option<usize>,
    /// Marked when its application was revoked while the key was live.
    app_revoked: bool,
    /// Marked when its creator or its application's creator was offboarded
    /// while the key was live.
    owner_deleted: bool,
}

type Outcome = Result<u16, &'static str>;

struct Model {
    now: i64,
    limit: usize,
    apps: Vec<ModelApp>,
    keys: Vec<ModelKey>,
    offboarded: BTreeSet<(&'static str, User)>,
}

impl Model {
    fn status(&self, key: &ModelKey) -> Status {
        if key.revoked || key.grace_end.is_some_and(|end| end <= self.now) {
            Status::Revoked
        } else if key.expires_at <= self.now {
            Status::Expired
        } else if key.disabled {
            Status::Disabled
        } else {
            Status::Active
        }
    }

    fn live(&self, key: &ModelKey) -> bool {
        matches!(self.status(key), Status::Active | Status::Disabled)
    }

    /// Active or disabled and unexpired, except a key in its grace period
    /// while a key down its chain of replacements is live (that one holds
    /// its place).
    fn counted(&self, app: usize) -> usize {
        let has_live_successor = |key: &ModelKey| {
            let mut next = key.replaced_by;
            while let Some(r) = next {
                if self.live(&self.keys[r]) {
                    return true;
                }
                next = self.keys[r].replaced_by;
            }
            false
        };
        self.keys
            .iter()
            .filter(|k| k.app == app && self.live(k) && !has_live_successor(k))
            .count()
    }

    fn active_apps(&self, account: &str) -> usize {
        self.apps
            .iter()
            .filter(|a| a.account == account && !a.revoked)
            .count()
    }

    /// Precedence: application revoked, owner deleted, revoked, expired,
    /// disabled, scopes.
    fn verdict(&self, key: &ModelKey, required: &[&str]) -> &'static str {
        if key.app_revoked {
            return "APPLICATION_REVOKED";
        }
        if key.owner_deleted {
            return "OWNER_DELETED";
        }
        match self.status(key) {
            Status::Revoked => "REVOKED",
            Status::Expired => "EXPIRED",
            Status::Disabled => "DISABLED",
            Status::Active => {
                let granted = |r: &str| {
                    key.scopes
                        .iter()
                        .any(|g| *g == r || (*g == "sims:*" && r.starts_with("sims:")))
                };
                if required.iter().all(|r| granted(r)) {
                    "VALID"
                } else {
                    "INSUFFICIENT_SCOPE"
                }
            }
        }
    }

    fn pick_app(&self, app: &Ref, by: User) -> Option<usize> {
        app.resolve(by, self.apps.iter().map(|a| a.account))
    }

    fn pick_key(&self, key: &Ref, by: User) -> Option<usize> {
        key.resolve(by, self.keys.iter().map(|k| k.account))
    }

    fn offboarded(&self, user: User) -> bool {
        self.offboarded.contains(&(user.account(), user))
    }

    /// The caller's application (404 for a missing or foreign one).
    fn app_for(&self, by: User, app: Option<usize>) -> Result<usize, &'static str> {
        match app {
            Some(i) if self.apps[i].account == by.account() => Ok(i),
            _ => Err("APPLICATION_NOT_FOUND"),
        }
    }

    /// The caller's key, and the `any`/`own` permission on its application.
    fn key_for(&self, by: User, key: Option<usize>) -> Result<usize, &'static str> {
        let i = match key {
            Some(i) if self.keys[i].account == by.account() => i,
            _ => return Err("KEY_NOT_FOUND"),
        };
        if !by.is_admin() && self.apps[self.keys[i].app].created_by != by {
            return Err("PERMISSION_DENIED");
        }
        Ok(i)
    }

    fn expect_create_app(&self, by: User) -> Outcome {
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        if self.active_apps(by.account()) >= self.limit {
            return Err("APPLICATION_LIMIT_REACHED");
        }
        Ok(201)
    }

    fn expect_create_key(
        &self,
        by: User,
        app: Option<usize>,
        expiry: Expiry,
        scopes: &[&str],
    ) -> Result<i64, &'static str> {
        let app = self.app_for(by, app)?;
        if !by.is_admin() && self.apps[app].created_by != by {
            return Err("PERMISSION_DENIED");
        }
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        if !by.may_grant(scopes) {
            return Err("SCOPE_NOT_HELD");
        }
        let expires_at = expiry.resolve(self.now)?;
        if self.apps[app].revoked {
            return Err("APPLICATION_REVOKED");
        }
        if self.apps[app].owner_deleted {
            return Err("OWNER_DELETED");
        }
        if self.counted(app) >= self.limit {
            return Err("KEY_LIMIT_REACHED");
        }
        Ok(expires_at)
    }

    fn expect_toggle(&self, by: User, key: Option<usize>) -> Result<usize, &'static str> {
        let i = self.key_for(by, key)?;
        match self.status(&self.keys[i]) {
            Status::Revoked => Err("KEY_REVOKED"),
            Status::Expired => Err("KEY_EXPIRED"),
            Status::Active | Status::Disabled => Ok(i),
        }
    }

    fn expect_regenerate(
        &self,
        by: User,
        key: Option<usize>,
        grace: Option<i64>,
        expiry: Expiry,
    ) -> Result<(usize, i64), &'static str> {
        let i = self.key_for(by, key)?;
        let old = &self.keys[i];
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        // A user cannot grant what it does not hold, by regenerating either.
        if !by.may_grant(old.scopes) {
            return Err("SCOPE_NOT_HELD");
        }
        if !(0..=MAX_GRACE).contains(&grace.unwrap_or(0)) {
            return Err("INVALID_GRACE_PERIOD");
        }
        let expires_at = expiry.resolve(self.now)?;
        match self.status(old) {
            Status::Revoked => return Err("KEY_REVOKED"),
            Status::Expired => return Err("KEY_EXPIRED"),
            Status::Disabled => return Err("KEY_DISABLED"),
            Status::Active => {}
        }
        if old.replaced_by.is_some() {
            return Err("KEY_ALREADY_REGENERATED");
        }
        if self.apps[old.app].revoked {
            return Err("APPLICATION_REVOKED");
        }
        if self.apps[old.app].owner_deleted || old.owner_deleted {
            return Err("OWNER_DELETED");
        }
        Ok((i, expires_at))
    }

    fn revoke_app(&mut self, app: usize) {
        if self.apps[app].revoked {
            return;
        }
        self.apps[app].revoked = true;
        for k in 0..self.keys.len() {
            if self.keys[k].app == app && self.live(&self.keys[k]) {
                self.keys[k].revoked = true;
                self.keys[k].app_revoked = true;
            }
        }
    }

    /// Marks what offboarding `target` in `account` marks; returns how many
    /// applications and keys.
    fn offboard(&mut self, account: &'static str, target: User) -> (usize, usize) {
        self.offboarded.insert((account, target));
        let mut apps = 0;
        for app in &mut self.apps {
            if app.account == account && app.created_by == target && !app.owner_deleted {
                app.owner_deleted = true;
                apps += 1;
            }
        }
        let mut keys = 0;
        for k in 0..self.keys.len() {
            let key = &self.keys[k];
            let owned = key.created_by == target || self.apps[key.app].created_by == target;
            if key.account == account && owned && !key.owner_deleted && self.live(key) {
                self.keys[k].owner_deleted = true;
                keys += 1;
            }
        }
        (apps, keys)
    }
}

// ---- the system under test --------------------------------------------------------

struct System {
    service: Service,
    clock: Arc<ManualClock>,
}

fn system(store: Arc<dyn Store>, limit: usize) -> System {
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config {
        max_active_applications: limit as u32,
        max_active_keys: limit as u32,
        ..Config::default()
    };
    System {
        service: Service::new(store, config, clock.clone(), Arc::new(LogPublisher)),
        clock,
    }
}

/// The status the HTTP API gives a creation's answer (201), or its code.
fn created<T>(result: &Result<T, ApiError>) -> Outcome {
    result.as_ref().map(|_| 201).map_err(ApiError::code)
}

/// The status the HTTP API gives any other answer (200), or its code.
fn answered<T>(result: &Result<T, ApiError>) -> Outcome {
    result.as_ref().map(|_| 200).map_err(ApiError::code)
}

/// What a run saw, to show (and check) that the cases reach what they are
/// meant to: every verdict, every refusal, both limits.
#[derive(Default)]
struct Coverage {
    cases: u64,
    ops: u64,
    outcomes: BTreeMap<String, u64>,
    verdicts: BTreeMap<&'static str, u64>,
    /// Cases in which each limit (3 or 10) was reached, keys and applications.
    key_limit_reached: BTreeMap<usize, u64>,
    app_limit_reached: BTreeMap<usize, u64>,
}

struct Runner<'a> {
    sut: &'a System,
    model: Model,
    page: usize,
    seen: BTreeSet<String>,
    verdicts: BTreeSet<&'static str>,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

fn same(expected: Outcome, actual: Outcome, what: &str) -> Result<(), TestCaseError> {
    ensure!(
        expected == actual,
        "{what}: the model expects {expected:?}, the service answered {actual:?}"
    );
    Ok(())
}

impl Runner<'_> {
    fn note(&mut self, name: &str, actual: Outcome) {
        let label = match actual {
            Ok(status) => format!("{name} {status}"),
            Err(code) => format!("{name} {code}"),
        };
        self.seen.insert(label);
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let sut = self.sut;
        let service = &sut.service;
        match op {
            Op::CreateApp { by } => {
                let expected = self.model.expect_create_app(*by);
                let input = fixtures::application(&format!("app {}", self.model.apps.len()));
                let result = service.create_application(&by.caller(), &input, None).await;
                let actual = created(&result);
                self.note("create_application", actual);
                same(expected, actual, "create_application")?;
                if let Ok(reply) = result {
                    self.model.apps.push(ModelApp {
                        id: reply.id,
                        account: by.account(),
                        created_by: *by,
                        revoked: false,
                        owner_deleted: false,
                    });
                }
            }
            Op::CreateKeys {
                by,
                app,
                count,
                expiry,
                scopes,
            } => {
                let app = self.model.pick_app(app, *by);
                let app_id = app.map_or("app_missing", |i| self.model.apps[i].id.as_str());
                let app_id = app_id.to_owned();
                let scopes = SCOPE_SETS[*scopes];
                for _ in 0..*count {
                    let expected = self.model.expect_create_key(*by, app, *expiry, scopes);
                    let input = CreateKey {
                        name: format!("key {}", self.model.keys.len()),
                        description: String::new(),
                        scopes: scopes.iter().map(|s| s.to_string()).collect(),
                        expires_at: expiry.request(self.model.now),
                    };
                    let result = service
                        .create_key(&by.caller(), &app_id, &input, None)
                        .await;
                    let actual = created(&result);
                    self.note("create_key", actual);
                    same(expected.map(|_| 201), actual, "create_key")?;
                    if let (Ok(expires_at), Ok(reply), Some(app)) = (expected, result, app) {
                        self.issued(&reply, app, *by, scopes, expires_at)?;
                    }
                }
            }
            Op::Disable { by, key } | Op::Enable { by, key } => {
                let enable = matches!(op, Op::Enable { .. });
                let key = self.model.pick_key(key, *by);
                let expected = self.model.expect_toggle(*by, key);
                let id = self.key_id(key);
                let result = if enable {
                    service.enable_key(&by.caller(), &id, None).await
                } else {
                    service.disable_key(&by.caller(), &id, None).await
                };
                let name = if enable { "enable_key" } else { "disable_key" };
                let actual = answered(&result);
                self.note(name, actual);
                same(expected.map(|_| 200), actual, name)?;
                if let Ok(i) = expected {
                    self.model.keys[i].disabled = !enable;
                    self.check_reply_status(&result, i, name)?;
                }
            }
            Op::Revoke { by, key } => {
                let key = self.model.pick_key(key, *by);
                let expected = self.model.key_for(*by, key);
                let result = service
                    .revoke_key(&by.caller(), &self.key_id(key), None)
                    .await;
                let actual = answered(&result);
                self.note("revoke_key", actual);
                same(expected.map(|_| 200), actual, "revoke_key")?;
                if let Ok(i) = expected {
                    self.model.keys[i].revoked = true;
                    self.check_reply_status(&result, i, "revoke_key")?;
                }
            }
            Op::Regenerate {
                by,
                key,
                grace,
                expiry,
                twice,
            } => {
                let key = self.model.pick_key(key, *by);
                for _ in 0..if *twice { 2 } else { 1 } {
                    self.regenerate(*by, key, *grace, *expiry).await?;
                }
            }
            Op::RevokeApp { by, app } => {
                let app = self.model.pick_app(app, *by);
                let expected = self.model.app_for(*by, app).and_then(|i| {
                    if by.is_admin() {
                        Ok(i)
                    } else {
                        Err("PERMISSION_DENIED")
                    }
                });
                let id = app.map_or("app_missing".to_owned(), |i| self.model.apps[i].id.clone());
                let result = service.revoke_application(&by.caller(), &id, None).await;
                let actual = answered(&result);
                self.note("revoke_application", actual);
                same(expected.map(|_| 200), actual, "revoke_application")?;
                if let Ok(i) = expected {
                    self.model.revoke_app(i);
                }
            }
            Op::Offboard { by, target } => {
                let expected = if by.is_admin() {
                    Ok(200)
                } else {
                    Err("PERMISSION_DENIED")
                };
                let result = service.offboard_user(&by.caller(), target.id(), None).await;
                let actual = answered(&result);
                self.note("offboard_user", actual);
                same(expected, actual, "offboard_user")?;
                if let Ok(reply) = result {
                    let (apps, keys) = self.model.offboard(by.account(), *target);
                    ensure!(
                        (reply.applications.len(), reply.keys.len()) == (apps, keys),
                        "offboard_user: the model marks {apps} applications and {keys} keys, \
                         the service answered {reply:?}"
                    );
                }
            }
            Op::Advance { seconds } => {
                self.sut.clock.advance(*seconds);
                self.model.now += seconds;
            }
        }
        Ok(())
    }

    async fn regenerate(
        &mut self,
        by: User,
        key: Option<usize>,
        grace: Option<i64>,
        expiry: Expiry,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.expect_regenerate(by, key, grace, expiry);
        let input = RegenerateKey {
            expires_at: expiry.request(self.model.now),
            grace_seconds: grace,
        };
        let result = self
            .sut
            .service
            .regenerate_key(&by.caller(), &self.key_id(key), &input, None)
            .await;
        let actual = created(&result);
        let with_grace = actual.is_ok() && grace.unwrap_or(0) > 0;
        self.note(
            if with_grace {
                "regenerate_key with grace"
            } else {
                "regenerate_key"
            },
            actual,
        );
        same(expected.map(|_| 201), actual, "regenerate_key")?;
        if let (Ok((old, expires_at)), Ok(reply)) = (expected, result) {
            let (app, scopes) = (self.model.keys[old].app, self.model.keys[old].scopes);
            let new_id = self.issued(&reply, app, by, scopes, expires_at)?;
            let new_index = self.model.keys.len() - 1;
            ensure!(
                reply.key.replaces.as_deref() == Some(self.model.keys[old].id.as_str()),
                "regenerate_key: the new key {new_id} does not name the old one"
            );
            let now = self.model.now;
            let old = &mut self.model.keys[old];
            old.replaced_by = Some(new_index);
            match grace {
                Some(g) if g > 0 => old.grace_end = Some(now + g),
                _ => old.revoked = true,
            }
        }
        Ok(())
    }

    fn key_id(&self, key: Option<usize>) -> String {
        // A well-formed id that no key has, so the look-up reaches the store.
        key.map_or("0000000000000000000000".to_owned(), |i| {
            self.model.keys[i].id.clone()
        })
    }

    /// Adds a key the service issued to the model, after checking the answer.
    fn issued(
        &mut self,
        reply: &CreatedKey,
        app: usize,
        by: User,
        scopes: &'static [&'static str],
        expires_at: i64,
    ) -> Result<String, TestCaseError> {
        let view = serde_json::to_value(&reply.key).unwrap_or_default();
        let id = reply.key.id.clone();
        ensure!(
            view["status"] == "active"
                && view["application_id"] == self.model.apps[app].id.as_str()
                && view["created_by"] == by.id()
                && view["expires_at"] == rfc3339::format(expires_at).as_str(),
            "a new key is not what the model expects (expires {}): {view}",
            rfc3339::format(expires_at)
        );
        self.model.keys.push(ModelKey {
            id: id.clone(),
            secret: reply.secret.expose().to_owned(),
            app,
            account: self.model.apps[app].account,
            created_by: by,
            scopes,
            expires_at,
            disabled: false,
            revoked: false,
            grace_end: None,
            replaced_by: None,
            app_revoked: false,
            owner_deleted: false,
        });
        Ok(id)
    }

    fn check_reply_status(
        &self,
        result: &Result<KeyView, ApiError>,
        key: usize,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.status(&self.model.keys[key]).name();
        let status = result
            .as_ref()
            .map(|view| serde_json::to_value(view.status).unwrap_or_default());
        ensure!(
            status.as_ref().is_ok_and(|s| s == expected),
            "{what}: the answer's status is not {expected}: {status:?}"
        );
        Ok(())
    }

    async fn list_keys(&self, app: &ModelApp) -> Result<Vec<Value>, TestCaseError> {
        let caller = User::admin_of(app.account).caller();
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let query = PageQuery {
                limit: Some(self.page),
                cursor,
            };
            let page = self
                .sut
                .service
                .list_keys(&caller, &app.id, &query)
                .await
                .map_err(|e| TestCaseError::fail(format!("list_keys: {e:?}")))?;
            items.extend(page.items.iter().map(|k| serde_json::to_value(k).unwrap()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    async fn list_apps(&self, user: User) -> Result<BTreeSet<String>, TestCaseError> {
        let mut ids = BTreeSet::new();
        let mut cursor = None;
        loop {
            let query = PageQuery {
                limit: Some(self.page),
                cursor,
            };
            let page = self
                .sut
                .service
                .list_applications(&user.caller(), &query)
                .await
                .map_err(|e| TestCaseError::fail(format!("list_applications: {e:?}")))?;
            ids.extend(page.items.into_iter().map(|a| a.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// Lists, counts, limits and every secret's verdict against the model.
    async fn check(&mut self, step: usize) -> Result<(), TestCaseError> {
        let model = &self.model;
        for user in USERS {
            let expected: BTreeSet<String> = model
                .apps
                .iter()
                .filter(|a| a.account == user.account() && !a.revoked)
                .filter(|a| user.is_admin() || a.created_by == user)
                .map(|a| a.id.clone())
                .collect();
            let listed = self.list_apps(user).await?;
            ensure!(
                listed == expected,
                "applications listed for {user:?}: {listed:?}, the model has {expected:?}"
            );
        }
        for account in ACCOUNTS {
            let active = model.active_apps(account);
            ensure!(
                active <= model.limit,
                "{account} has {active} active applications, over the limit {}",
                model.limit
            );
        }
        for (a, app) in model.apps.iter().enumerate() {
            // id → (status, id of the key that replaced it)
            let listed: BTreeMap<String, (String, Option<String>)> = self
                .list_keys(app)
                .await?
                .into_iter()
                .map(|k| {
                    let id = k["id"].as_str().unwrap_or_default().to_owned();
                    let status = k["status"].as_str().unwrap_or_default().to_owned();
                    let replaced_by = k["replaced_by"].as_str().map(str::to_owned);
                    (id, (status, replaced_by))
                })
                .collect();
            let expected: BTreeMap<String, (String, Option<String>)> = model
                .keys
                .iter()
                .filter(|k| k.app == a && model.status(k) != Status::Revoked)
                .map(|k| {
                    let replaced_by = k.replaced_by.map(|r| model.keys[r].id.clone());
                    (
                        k.id.clone(),
                        (model.status(k).name().to_owned(), replaced_by),
                    )
                })
                .collect();
            ensure!(
                listed == expected,
                "keys of {} listed as {listed:?}, the model has {expected:?}",
                app.id
            );
            // Counted as a client would: live keys, less those with a live
            // key down their chain of replacements (revoked keys are not
            // listed, so the chain is followed through get_key).
            let is_live = |status: &str| status == "active" || status == "disabled";
            let caller = User::admin_of(app.account).caller();
            let mut counted = 0;
            for (status, replaced_by) in listed.values() {
                if !is_live(status) {
                    continue;
                }
                let mut next = replaced_by.clone();
                let mut successor_live = false;
                while let Some(id) = next {
                    let (status, replaced_by) = match listed.get(&id) {
                        Some(listed) => listed.clone(),
                        None => {
                            // A purged key ends the chain.
                            let view = match self.sut.service.get_key(&caller, &id).await {
                                Ok(view) => view,
                                Err(e) if e.code() == "KEY_NOT_FOUND" => break,
                                Err(e) => {
                                    return Err(TestCaseError::fail(format!("get_key: {e:?}")));
                                }
                            };
                            let view = serde_json::to_value(view).unwrap();
                            (
                                view["status"].as_str().unwrap_or_default().to_owned(),
                                view["replaced_by"].as_str().map(str::to_owned),
                            )
                        }
                    };
                    if is_live(&status) {
                        successor_live = true;
                        break;
                    }
                    next = replaced_by;
                }
                if !successor_live {
                    counted += 1;
                }
            }
            ensure!(
                counted == model.counted(a) && counted <= model.limit,
                "{} counts {counted} keys toward its limit {}, the model {}",
                app.id,
                model.limit,
                model.counted(a)
            );
        }
        for (k, key) in model.keys.iter().enumerate() {
            let required = REQUIRED_SCOPES[(step + k) % REQUIRED_SCOPES.len()];
            let expected = model.verdict(key, required);
            let request = VerifyRequest {
                key: Secret::new(key.secret.clone()),
                scopes: required.iter().map(|s| s.to_string()).collect(),
            };
            let verdict = self
                .sut
                .service
                .verify(&request)
                .await
                .map_err(|e| TestCaseError::fail(format!("verify: {e:?}")))?;
            let code = serde_json::to_value(verdict.code).unwrap();
            ensure!(
                code == expected && verdict.key_id.as_deref() == Some(key.id.as_str()),
                "key {k} ({}) verifies as {code} with {required:?}; the model says {expected} \
                 for {key:?} at {}",
                key.id,
                model.now
            );
            self.verdicts.insert(expected);
        }
        Ok(())
    }

    /// Every key and application read one by one, revoked ones included.
    async fn check_reads(&self) -> Result<(), TestCaseError> {
        let model = &self.model;
        for key in &model.keys {
            let caller = User::admin_of(key.account).caller();
            let view = self
                .sut
                .service
                .get_key(&caller, &key.id)
                .await
                .map_err(|e| TestCaseError::fail(format!("get_key: {e:?}")))?;
            let status = serde_json::to_value(view.status).unwrap();
            ensure!(
                status == model.status(key).name()
                    && view.replaced_by.is_some() == key.replaced_by.is_some()
                    && view.revoke_at == key.grace_end,
                "get_key {}: {status}, replaced_by {:?}, revoke_at {:?}; the model has {key:?}",
                key.id,
                view.replaced_by,
                view.revoke_at
            );
            // Another account's key is not found, never forbidden.
            let other = if key.account == "acme" {
                User::Carol
            } else {
                User::Alice
            };
            let foreign = self.sut.service.get_key(&other.caller(), &key.id).await;
            ensure!(
                foreign.as_ref().err().map(ApiError::code) == Some("KEY_NOT_FOUND"),
                "{other:?} reads another account's key {}",
                key.id
            );
        }
        for app in &model.apps {
            let caller = User::admin_of(app.account).caller();
            let view = self
                .sut
                .service
                .get_application(&caller, &app.id)
                .await
                .map_err(|e| TestCaseError::fail(format!("get_application: {e:?}")))?;
            let (status, owner) = (
                serde_json::to_value(view.status).unwrap(),
                serde_json::to_value(view.owner_status).unwrap(),
            );
            let expected = (
                if app.revoked { "revoked" } else { "active" },
                if app.owner_deleted {
                    "deleted"
                } else {
                    "active"
                },
            );
            ensure!(
                status == expected.0 && owner == expected.1,
                "get_application {}: {status}/{owner}, the model {expected:?}",
                app.id
            );
        }
        Ok(())
    }
}

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
/// fresh store from `make`, and returns what they covered.
fn run_model<F, Fut, G>(
    cases: usize,
    max_ops: usize,
    pages: BoxedStrategy<usize>,
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
    let result = runner.run(&case(max_ops, pages), |case| {
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
        dynamodb_store,
    );
}

// ---- regression tests for what the model found or points at ----------------------

/// An administrator of "acme" with every permission (Dave), and `user`
/// with the same permissions.
fn admin(user: &str) -> Caller {
    Caller {
        user_id: user.into(),
        ..User::Alice.caller()
    }
}

async fn new_app(service: &Service, caller: &Caller) -> String {
    let input = fixtures::application("app");
    let reply = service
        .create_application(caller, &input, None)
        .await
        .unwrap();
    reply.id
}

/// A new key: (id, secret).
async fn new_key(service: &Service, caller: &Caller, app: &str) -> (String, String) {
    let input = fixtures::key("key");
    let reply = service.create_key(caller, app, &input, None).await.unwrap();
    (reply.key.id, reply.secret.expose().to_owned())
}

async fn verdict_of(service: &Service, secret: &str) -> String {
    let request = VerifyRequest {
        key: Secret::new(secret.to_owned()),
        scopes: vec![],
    };
    let verdict = service.verify(&request).await.unwrap();
    serde_json::to_value(verdict.code)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Offboarding a user who owns ten applications of ten keys touches more
/// items than one DynamoDB transaction holds (100).
async fn offboarding_more_than_one_commit_holds(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, dave) = (admin("alice"), admin("dave"));
    let mut secrets = Vec::new();
    let mut apps = Vec::new();
    for _ in 0..DESIGN_LIMIT {
        let app = new_app(&sut.service, &alice).await;
        for _ in 0..DESIGN_LIMIT {
            secrets.push(new_key(&sut.service, &alice, &app).await.1);
        }
        apps.push(app);
    }
    let reply = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap_or_else(|e| panic!("offboarding failed: {e:?}"));
    assert_eq!((reply.applications.len(), reply.keys.len()), (10, 100));
    for secret in &secrets {
        assert_eq!(verdict_of(&sut.service, secret).await, "OWNER_DELETED");
    }
    for app in &apps {
        let view = sut.service.get_application(&dave, app).await.unwrap();
        assert_eq!(
            serde_json::to_value(view.owner_status).unwrap(),
            "deleted",
            "{app}"
        );
    }
    let err = sut
        .service
        .create_application(&alice, &fixtures::application("again"), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some("USER_OFFBOARDED"));
    // Offboarding again finds nothing left to mark.
    let again = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap();
    assert!(again.keys.is_empty());
    assert!(again.applications.is_empty());
}

/// Keys in a grace period do not count toward the limit, so an application
/// can hold many more live keys than ten; revoking it touches them all.
async fn revoking_an_application_with_more_live_keys_than_one_commit_holds(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let alice = admin("alice");
    let app = new_app(&sut.service, &alice).await;
    let mut secrets = Vec::new();
    for _ in 0..DESIGN_LIMIT {
        let (mut id, secret) = new_key(&sut.service, &alice, &app).await;
        secrets.push(secret);
        for _ in 0..5 {
            let input = RegenerateKey {
                expires_at: None,
                grace_seconds: Some(DAY),
            };
            let reply = sut
                .service
                .regenerate_key(&alice, &id, &input, None)
                .await
                .unwrap();
            id = reply.key.id;
            secrets.push(reply.secret.expose().to_owned());
        }
    }
    assert_eq!(secrets.len(), 60);
    for secret in &secrets {
        assert_eq!(verdict_of(&sut.service, secret).await, "VALID");
    }
    let reply = sut
        .service
        .revoke_application(&alice, &app, None)
        .await
        .unwrap_or_else(|e| panic!("revoking the application failed: {e:?}"));
    assert_eq!(reply.status, wasm_validator::ApplicationStatus::Revoked);
    for secret in &secrets {
        assert_eq!(
            verdict_of(&sut.service, secret).await,
            "APPLICATION_REVOKED"
        );
    }
    let listed = sut
        .service
        .list_keys(&alice, &app, &PageQuery::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "{:?}", listed.items);
}

/// Found by the model: a user could regenerate someone else's key in its own
/// application and so obtain a new key with scopes it may not grant.
async fn regenerating_needs_the_scopes_the_new_key_carries(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, bob) = (User::Alice.caller(), User::Bob.caller());
    let bobs_app = new_app(&sut.service, &bob).await;
    let input = CreateKey {
        scopes: vec!["sims:write".into()],
        ..fixtures::key("write")
    };
    let reply = sut
        .service
        .create_key(&alice, &bobs_app, &input, None)
        .await
        .unwrap();
    let id = reply.key.id.as_str();
    let secret = reply.secret.expose();
    let err = sut
        .service
        .regenerate_key(&bob, id, &RegenerateKey::default(), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some("SCOPE_NOT_HELD"));
    assert_eq!(verdict_of(&sut.service, secret).await, "VALID");
    // Alice, who holds sims:*, may.
    sut.service
        .regenerate_key(&alice, id, &RegenerateKey::default(), None)
        .await
        .unwrap();
}

/// Found by the model: offboarding marked keys that were already dead by
/// time (expired, or past their grace period) as owner-deleted, so their
/// verdict changed from EXPIRED/REVOKED to OWNER_DELETED, while a key
/// revoked outright kept REVOKED. Like revoking an application, offboarding
/// now marks only live keys.
async fn offboarding_leaves_dead_keys_their_verdict(store: Arc<dyn Store>) {
    let sut = system(store, DESIGN_LIMIT);
    let (alice, dave) = (admin("alice"), admin("dave"));
    let app = new_app(&sut.service, &alice).await;
    let expiring = CreateKey {
        scopes: vec![],
        expires_at: Some(rfc3339::format(T0 + 60)),
        ..fixtures::key("short")
    };
    let reply = sut
        .service
        .create_key(&alice, &app, &expiring, None)
        .await
        .unwrap();
    let expired = reply.secret.expose().to_owned();
    let (graced_id, graced) = new_key(&sut.service, &alice, &app).await;
    let regenerate = RegenerateKey {
        expires_at: None,
        grace_seconds: Some(30),
    };
    let replacement = sut
        .service
        .regenerate_key(&alice, &graced_id, &regenerate, None)
        .await
        .unwrap();
    let replacement = replacement.secret.expose().to_owned();
    let (revoked_id, revoked) = new_key(&sut.service, &alice, &app).await;
    sut.service
        .revoke_key(&alice, &revoked_id, None)
        .await
        .unwrap();
    sut.clock.advance(120);
    assert_eq!(verdict_of(&sut.service, &expired).await, "EXPIRED");
    assert_eq!(verdict_of(&sut.service, &graced).await, "REVOKED");
    let reply = sut
        .service
        .offboard_user(&dave, "alice", None)
        .await
        .unwrap();
    assert_eq!(reply.keys.len(), 1);
    assert_eq!(verdict_of(&sut.service, &expired).await, "EXPIRED");
    assert_eq!(verdict_of(&sut.service, &graced).await, "REVOKED");
    assert_eq!(verdict_of(&sut.service, &revoked).await, "REVOKED");
    assert_eq!(
        verdict_of(&sut.service, &replacement).await,
        "OWNER_DELETED"
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
