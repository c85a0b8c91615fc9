//! The operations of a case and how proptest generates them.

use super::*;

/// A reference to an object made earlier in the case, by position among
/// those of the caller's account (or of the other account, or none), so
/// that shrinking keeps it meaningful.
#[derive(Debug, Clone)]
pub enum Ref {
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
    pub fn resolve<'a>(&self, by: User, accounts: impl Iterator<Item = &'a str>) -> Option<usize> {
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
pub enum Expiry {
    Default,
    InSeconds(i64),
    InDays(i64),
    /// `now - seconds` (0: exactly now, which is refused as well).
    Past(i64),
    /// Beyond the longest validity by this many seconds.
    TooFar(i64),
}

impl Expiry {
    pub fn request(self, now: i64) -> Option<String> {
        match self {
            Expiry::Default => None,
            Expiry::InSeconds(s) => Some(rfc3339::format(now + s)),
            Expiry::InDays(d) => Some(rfc3339::format(now + d * DAY)),
            Expiry::Past(s) => Some(rfc3339::format(now - s)),
            Expiry::TooFar(s) => Some(rfc3339::format(now + MAX_VALIDITY + s)),
        }
    }

    /// The expiry the model expects, or the error.
    pub fn resolve(self, now: i64) -> Result<i64, &'static str> {
        match self {
            Expiry::Default => Ok(now + DEFAULT_VALIDITY),
            Expiry::InSeconds(s) => Ok(now + s),
            Expiry::InDays(d) => Ok(now + d * DAY),
            Expiry::Past(_) => Err("EXPIRES_AT_IN_PAST"),
            Expiry::TooFar(_) => Err("EXPIRES_AT_TOO_FAR"),
        }
    }
}

pub const SCOPE_SETS: [&[&str]; 4] = [
    &[],
    &["sims:read"],
    &["sims:read", "sims:write"],
    &["sims:*"],
];
pub const REQUIRED_SCOPES: [&[&str]; 3] = [&[], &["sims:read"], &["sims:write"]];

#[derive(Debug, Clone)]
pub enum Op {
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
        metering: Metering,
    },
    /// `POST /verify` of a key of `by`'s account (or another's) at `cost`.
    Verify {
        by: User,
        key: Ref,
        cost: u64,
        scopes: usize,
    },
    /// A PATCH that sets the key's credits (and balance), or removes them.
    SetCredits {
        by: User,
        key: Ref,
        credits: Option<CreditsSpec>,
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

pub fn user() -> impl Strategy<Value = User> {
    prop_oneof![3 => Just(User::Alice), 2 => Just(User::Bob), 2 => Just(User::Carol)]
}

pub fn reference() -> impl Strategy<Value = Ref> {
    prop_oneof![
        6 => Just(Ref::Latest),
        3 => Just(Ref::Previous),
        12 => any::<Index>().prop_map(Ref::Own),
        1 => any::<Index>().prop_map(Ref::Foreign),
        1 => Just(Ref::Unknown),
    ]
}

pub fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        5 => Just(Expiry::Default),
        2 => (1i64..7_200).prop_map(Expiry::InSeconds),
        3 => (1i64..=730).prop_map(Expiry::InDays),
        1 => (0i64..DAY).prop_map(Expiry::Past),
        1 => (1i64..DAY).prop_map(Expiry::TooFar),
    ]
}

pub fn grace() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(0)),
        4 => (1i64..=MAX_GRACE).prop_map(Some),
        1 => (1i64..=60).prop_map(Some),
        1 => prop_oneof![(MAX_GRACE + 1..MAX_GRACE * 4), (-DAY..0)].prop_map(Some),
    ]
}

pub fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 1i64..120,
        3 => 120i64..DAY,
        2 => DAY..60 * DAY,
        1 => 300 * DAY..800 * DAY,
    ]
}

/// An operation; with `metered`, keys get rate limits and credits, and
/// verifications and credit changes join the operations.
pub fn op(metered: bool) -> impl Strategy<Value = Op> {
    let metering = if metered {
        metering().boxed()
    } else {
        Just(Metering::default()).boxed()
    };
    let usage_ops = if metered { 4 } else { 0 };
    prop_oneof![
        3 => user().prop_map(|by| Op::CreateApp { by }),
        6 => (user(), reference(), 1u8..=12, expiry(), 0..SCOPE_SETS.len(), metering).prop_map(
            |(by, app, count, expiry, scopes, metering)| Op::CreateKeys {
                by, app, count, expiry, scopes, metering
            }
        ),
        usage_ops => (user(), reference(), 0u64..=3, 0..REQUIRED_SCOPES.len()).prop_map(
            |(by, key, cost, scopes)| Op::Verify { by, key, cost, scopes }
        ),
        usage_ops / 2 => (user(), reference(), prop::option::weighted(0.8, credits_spec()))
            .prop_map(|(by, key, credits)| Op::SetCredits { by, key, credits }),
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
pub struct Case {
    pub limit: usize,
    pub page: usize,
    pub ops: Vec<Op>,
}

pub fn case(
    max_ops: usize,
    pages: BoxedStrategy<usize>,
    metered: bool,
) -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(DESIGN_LIMIT), Just(SMALL_LIMIT)],
        pages,
        prop::collection::vec(op(metered), max_ops / 4..=max_ops),
    )
        .prop_map(|(limit, page, ops)| Case {
            limit,
            page,
            ops: prologue().into_iter().chain(ops).collect(),
        })
}

/// Every case starts with an application and two keys per user, so that the
/// random operations have something to act on.
pub fn prologue() -> Vec<Op> {
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
                    metering: Metering::default(),
                },
            ]
        })
        .collect()
}
