//! The counters of metered keys: one row per key in `meters`, apart from
//! the key item, and the debit that reads them, decides with
//! [`crate::usage::decide`] and writes the result in one transaction.
//!
//! **Exact.** Debits run in `BEGIN IMMEDIATE` transactions, one after
//! another within one ([`debit_all`], batched by `batch.rs`): each holds
//! SQLite's write lock from its reads to its commit, so no debit of
//! another transaction, of this process or another on the file, reads the
//! counters in between. This process's writes also take the writing
//! connection's lock first (`batch.rs`), so they queue on a mutex rather
//! than in SQLite's busy handler, which sleeps a millisecond or more.
//!
//! **Not an fsync per debit.** Debits commit on their own connection at
//! `synchronous = NORMAL`: a committed debit is in the WAL in the OS's
//! cache, so it survives a crash of the process (kill -9), but an OS crash
//! or a power cut may roll back the debits committed since the last fsync.
//! For rate limits that is accepted: a window lasts at most a day, and a
//! rolled-back debit lets at most those units be used again in that window.
//! Credits must never grow back, so their durable state is pessimistic:
//!
//! - **The floor.** Beside `remaining`, the row keeps `floor`, a count that
//!   `remaining` may not go below without a durable commit. A debit that
//!   would take `remaining` below `floor`, that refills the credits or that
//!   writes the first balance takes a new lease: `floor` becomes
//!   `remaining - lease(remaining)`, and that debit commits at
//!   `synchronous = FULL`, which syncs the WAL up to and including it.
//!   Every other debit leaves `floor` alone and commits at `NORMAL`.
//!   A key write that sets the balance (create, a PATCH of credits,
//!   regenerate) sets `floor` too, in its own `FULL` commit.
//! - **After an OS crash** (`recovery.rs` tells one from a clean restart),
//!   every `remaining` is set down to its `floor`. The WAL recovers a prefix
//!   of the commits, and that prefix holds the last `FULL` commit and so
//!   the latest `floor`: the balance before the crash was at least `floor`
//!   (never more credits after) and at most `floor + lease` (at most one
//!   lease lost per key), and no debit answered before the crash is
//!   answered again.
//!
//! A lease is `max(16, 1 % of the balance)` credits, or what is left when
//! that is less: a balance of N takes about 100·ln(N/1600) + 100 durable
//! debits from N down to 0 (about 2,100 for 10^12), and a crash costs a key
//! at most 1 % of its balance or 16 credits.

use super::key_cache::{Header, KeyCache};
use super::rows::{from_json, to_json};
use crate::domain::Key;
use crate::store::{Metered, StoreResult};
use crate::usage::{Balance, Debit, Decision, Meter, WindowUse, decide};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The fewest credits a lease holds.
const MIN_LEASE: u64 = 16;
/// A lease holds this share of the balance it is taken from (1 %).
const LEASE_DIVISOR: u64 = 100;

/// The floor a lease taken at `remaining` sets.
pub(super) fn floor_below(remaining: u64) -> u64 {
    remaining - remaining.min(MIN_LEASE.max(remaining / LEASE_DIVISOR))
}

/// Drops the counters of keys that are gone (`purge_expired`).
pub(super) const PURGE: &str = "DELETE FROM meters WHERE key_id NOT IN (SELECT id FROM keys)";

/// A key's row as stored (all empty when it has none).
#[derive(Debug, Default)]
struct Counters {
    windows: Vec<WindowUse>,
    credits: Option<Balance>,
    floor: u64,
}

impl Counters {
    fn read(conn: &Connection, key_id: &str) -> StoreResult<Self> {
        let row = conn
            .prepare_cached(
                "SELECT windows, remaining, period, floor FROM meters WHERE key_id = ?1",
            )?
            .query_row(params![key_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                ))
            })
            .optional()?;
        let Some((windows, remaining, period, floor)) = row else {
            return Ok(Counters::default());
        };
        Ok(Counters {
            windows: from_json(&windows)?,
            credits: remaining.zip(period).map(|(remaining, period)| Balance {
                remaining: remaining as u64,
                period,
            }),
            floor: floor.unwrap_or(0) as u64,
        })
    }

    fn meter(&self) -> Meter {
        Meter {
            windows: self.windows.clone(),
            credits: self.credits,
        }
    }

    /// The row once `debit` applied, and whether it takes a new lease.
    fn after(&self, debit: &Debit) -> (Counters, bool) {
        let applied = debit.applied();
        let (credits, floor, lease) = match (debit.credits, applied.credits) {
            (Some(credit), Some(after)) => {
                let lease = credit.refills() || after.remaining < self.floor;
                let floor = if lease {
                    floor_below(after.remaining)
                } else {
                    self.floor
                };
                (Some(after), floor, lease)
            }
            // A key without credits (now) keeps whatever balance it had.
            _ => (self.credits, self.floor, false),
        };
        let counters = Counters {
            windows: applied.windows,
            credits,
            floor,
        };
        (counters, lease)
    }

    fn write(&self, conn: &Connection, key_id: &str) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO meters (key_id, windows, remaining, period, floor) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key_id) DO UPDATE SET windows = excluded.windows,
               remaining = excluded.remaining, period = excluded.period, floor = excluded.floor",
        )?
        .execute(params![
            key_id,
            to_json(&self.windows)?,
            self.credits.map(|c| c.remaining as i64),
            self.credits.map(|c| c.period),
            self.credits.map(|_| self.floor as i64),
        ])?;
        Ok(())
    }
}

/// The counters of `key_id` as stored.
pub(super) fn read(conn: &Connection, key_id: &str) -> StoreResult<Meter> {
    Counters::read(conn, key_id).map(|c| c.meter())
}

/// A check of cost 0: decides on the counters as a read sees them and
/// writes nothing.
pub(super) fn check(conn: &Connection, key: &Key, now: i64) -> StoreResult<Metered> {
    let meter = read(conn, &key.id)?;
    Ok(Metered {
        refused: refusal(decide(&key.usage, &meter, now, 0)),
        meter,
    })
}

fn refusal(decision: Decision) -> Option<crate::usage::Refusal> {
    match decision {
        Decision::Accept(_) => None,
        Decision::Refuse(refusal) => Some(refusal),
    }
}

/// Whether a debit's connection commits with an fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// `synchronous = NORMAL`: a debit that needs a new lease is not
    /// applied (`Ok(None)`), for the caller to run it again `Durable`.
    Normal,
    /// `synchronous = FULL`: every debit is applied.
    Durable,
}

/// One debit: `cost` (at least 1) from `key`'s counters at `now`.
pub(super) struct Request {
    pub key: std::sync::Arc<Key>,
    pub cost: u64,
    pub now: i64,
}

/// A debit's answer: `Ok(None)` when it needs a lease and the batch
/// commits `Normal` (nothing of it was written).
pub(super) type Answer = StoreResult<Option<Metered>>;

/// What a batch committed: each request's answer, and the WAL index
/// header after the commit when the batch wrote and it could be read.
pub(super) struct Applied {
    pub answers: Vec<Answer>,
    pub header: Option<Header>,
}

/// Applies `requests` one after another in one transaction on `conn`,
/// which commits as `commit` says: each decides on the counters as the
/// ones before it left them. A failure of one request is its answer
/// alone; a failure to begin or commit fails them all.
pub(super) fn debit_all(
    conn: &mut Connection,
    requests: &[&Request],
    commit: Commit,
    cache: Option<&KeyCache>,
) -> StoreResult<Applied> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Holding the write lock: no other commit can change it until ours.
    let before = cache.and_then(KeyCache::header);
    let mut wrote = false;
    let answers: Vec<Answer> = requests
        .iter()
        .map(|request| {
            let (answer, written) = debit_one(&tx, request, commit)?;
            wrote |= written;
            Ok(answer)
        })
        .collect();
    if !wrote {
        // Refusals and leases only: dropping the transaction rolls it back.
        return Ok(Applied {
            answers,
            header: None,
        });
    }
    tx.commit()?;
    // The commit changed no key: the key cache stays valid across it.
    let header = match (cache, before) {
        (Some(cache), Some(before)) => cache.carry_over(&before),
        _ => None,
    };
    Ok(Applied { answers, header })
}

/// One request in `debit_all`'s transaction: its answer, and whether it
/// wrote.
fn debit_one(
    tx: &Connection,
    request: &Request,
    commit: Commit,
) -> StoreResult<(Option<Metered>, bool)> {
    let Request { key, cost, now } = request;
    let counters = Counters::read(tx, &key.id)?;
    let debit = match decide(&key.usage, &counters.meter(), *now, *cost) {
        // A refusal writes nothing.
        Decision::Refuse(refusal) => {
            let meter = counters.meter();
            let refused = Some(refusal);
            return Ok((Some(Metered { refused, meter }), false));
        }
        Decision::Accept(debit) => debit,
    };
    if debit.is_empty() {
        let meter = counters.meter();
        return Ok((
            Some(Metered {
                refused: None,
                meter,
            }),
            false,
        ));
    }
    let (after, lease) = counters.after(&debit);
    if lease && commit == Commit::Normal {
        return Ok((None, false));
    }
    after.write(tx, &key.id)?;
    let meter = debit.applied();
    Ok((
        Some(Metered {
            refused: None,
            meter,
        }),
        true,
    ))
}

/// Whether `key_id`'s stored balance is still `read`: a key write that sets
/// a balance derived from the one it read (regenerate moves it to the new
/// key) expects it, since debits do not bump the key's version.
pub(super) fn balance_is(conn: &Connection, key_id: &str, read: Balance) -> StoreResult<bool> {
    Ok(Counters::read(conn, key_id)?.credits == Some(read))
}

/// Sets `key_id`'s credit balance, with a fresh lease, in a key write's
/// transaction (which commits at `synchronous = FULL`).
pub(super) fn set_balance(conn: &Connection, key_id: &str, balance: Balance) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO meters (key_id, remaining, period, floor) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key_id) DO UPDATE SET remaining = excluded.remaining,
           period = excluded.period, floor = excluded.floor",
    )?
    .execute(params![
        key_id,
        balance.remaining as i64,
        balance.period,
        floor_below(balance.remaining) as i64
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::floor_below;

    #[test]
    fn a_lease_is_one_percent_or_sixteen_or_what_is_left() {
        assert_eq!(floor_below(0), 0);
        assert_eq!(floor_below(10), 0);
        assert_eq!(floor_below(16), 0);
        assert_eq!(floor_below(50), 34);
        assert_eq!(floor_below(1_600), 1_584);
        assert_eq!(floor_below(1_000_000), 990_000);
    }
}
