//! Debiting a metered key: one conditional `UpdateItem` of the key item per
//! accepted verification, after the one `GetItem` verification already
//! made (docs/ARCHITECTURE.md, "DynamoDB layout").
//!
//! The counters live on the key item beside its JSON (`layout.rs`), so
//! `get_key` reads them with the key. [`crate::usage::decide`] judges the
//! cost against them; an accepted [`Debit`] becomes one update:
//!
//! - each limit's current window: `ADD #w :cost`, on condition
//!   `attribute_not_exists(#w) OR #w <= :limit - cost`;
//! - windows that are over: `REMOVE`, except each limit's previous window
//!   (see "Clocks" below);
//! - the credits, in the period they were counted in:
//!   `SET #cr = #cr - :cost` on condition `#cp = :period AND #cr >= :cost`;
//!   or, when a refill period began since (or no balance was ever stored),
//!   `SET #cr = :amount - cost, #cp = :period` on condition that the stored
//!   period is the one read (or absent) and `#version` is the one read;
//! - always `attribute_exists(pk)`, so a debit never creates an item for a
//!   key that is gone, and the debit's token (below).
//!
//! A failed condition hands back the item as it is
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`): the key is rebuilt
//! from it, controls and counters, and decided again, with no extra read.
//! A refusal then writes nothing. The conditions compare with bounds, not
//! with the values read, so concurrent debits that all fit all apply: a
//! condition fails only when the counters no longer leave room (or at a
//! refill, or when a lifecycle write raced a refill), and the rounds stay
//! few.
//!
//! # Why it is exact
//!
//! DynamoDB applies the writes to one item one at a time, each condition
//! evaluated on the item as the previous write left it. A verification is
//! accepted only once its update applied. So:
//!
//! - **At most `limit` per window.** A window's counter is written only by
//!   `ADD`s of applied debits (and removed only once it is over, below).
//!   Each applied `ADD` of cost `c` found at most `limit − c`, so it left at
//!   most `limit`. The counter is the sum of the costs accepted in that
//!   window, so that sum never exceeds `limit`, however the debits of any
//!   processes interleave. Two debits that both read 19 of 20 both send
//!   `ADD 1` on condition `<= 19`; the first leaves 20, the second fails,
//!   re-decides on the 20 it gets back, and is `RATE_LIMITED`.
//! - **No credit spent twice.** Within a period the balance only falls by
//!   applied decrements, each on condition `#cr >= cost`, so it never goes
//!   below 0 and each accepted cost is taken from it once. A refill
//!   applies at most once per period: it is conditioned on the stored
//!   period being the older one it read, and the first refill to apply
//!   stores the new period, failing every other. Two debits that both read
//!   1 credit both send `#cr - 1` on condition `#cr >= 1`; the second
//!   finds 0, re-decides, and is `USAGE_EXCEEDED`.
//! - **Every limit and the credits together.** One update carries them
//!   all, under one condition: it applies whole or not at all.
//! - **Exactly, not at most.** A failed condition is decided again on the
//!   counters as they are, so a debit that still fits is accepted: N
//!   credits accept exactly N verifications of cost 1.
//!
//! **`#version` only on a refill.** A refill writes an absolute balance
//! computed from the controls as read (`refill.amount`). A key write that
//! set a new balance or changed the refill (a PATCH of credits,
//! regenerate) between the read and the update bumped the version, so the
//! refill fails and is decided again on the item it gets back, instead of
//! overwriting the new balance. A decrement or an `ADD` is relative and
//! checked against the stored counter, so applied after such a write it
//! is a debit of the new balance, the order a concurrent verification may
//! take; conditioning it on the version would only make every debit racing
//! a lifecycle write go round again.
//!
//! **Clocks.** A window is over by the clock of the process that debits.
//! Dropping window `n` as soon as a process is in `n + 1` would let a
//! process whose clock lags into `n` start it again from 0. Each limit's
//! previous window is therefore kept until a debit two windows on drops
//! it: exact for clocks less than one window apart.
//!
//! **Retries of a lost answer.** The SDK resends an update whose answer
//! was lost (a reset, a 500); the first attempt may have applied. Each
//! debit writes a random token (`debit_token`) on condition that the item
//! does not carry it yet, so the resend fails and, finding its own token
//! in the item, counts as applied. If another debit applied in between
//! (overwriting the token), the resend is decided again and may take the
//! cost a second time: an over-count, never an over-acceptance.

use super::DynamoStore;
use super::codec::{Item, key_from_item, meter_from_item, n, number, s};
use super::commit::random_hex;
use super::layout::{CREDITS_PERIOD, CREDITS_REMAINING, DEBIT_TOKEN, ItemKey, window_attribute};
use crate::domain::Key;
use crate::store::{Metered, StoreError, StoreResult};
use crate::usage::{Debit, Decision, Meter, decide};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

/// Rounds (a failed condition decided again, or an update refused because
/// a transaction held the item) before the store counts as unavailable.
/// A round fails only when the counters ran out or moved past a refill
/// under it, so a handful suffices even under heavy contention.
const MAX_ROUNDS: u32 = 16;

/// A debit token's random bytes: 64 bits tell apart the debits of one key
/// in the moment a resend takes, and every byte on the key item counts
/// toward its write units.
const TOKEN_BYTES: usize = 8;

/// The expressions of one debit's `UpdateItem`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DebitUpdate {
    pub update: String,
    pub condition: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// The update that applies `debit` to a key item read at `version`.
pub(super) fn debit_update(debit: &Debit, version: u64, token: &str) -> DebitUpdate {
    let mut names = HashMap::from([("#dt".to_owned(), DEBIT_TOKEN.to_owned())]);
    let mut values = HashMap::from([(":token".to_owned(), s(token))]);
    let mut set = vec!["#dt = :token".to_owned()];
    let mut condition = vec![
        "attribute_exists(pk)".to_owned(),
        "(attribute_not_exists(#dt) OR #dt <> :token)".to_owned(),
    ];

    let mut add = Vec::new();
    for (i, window) in debit.windows.iter().enumerate() {
        let (name, room) = (format!("#w{i}"), format!(":room{i}"));
        names.insert(name.clone(), window_attribute(&window.name, window.window));
        // `decide` accepted, so the cost fits the limit.
        values.insert(
            room.clone(),
            n(window.limit.saturating_sub(debit.cost) as i64),
        );
        add.push(format!("{name} :cost"));
        condition.push(format!(
            "(attribute_not_exists({name}) OR {name} <= {room})"
        ));
    }

    let mut remove = Vec::new();
    let over = debit.stale.iter().filter(|stale| {
        // Each limit's previous window stays (clocks, above).
        !debit
            .windows
            .iter()
            .any(|w| w.name == stale.name && w.window - 1 == stale.window)
    });
    for (i, stale) in over.enumerate() {
        let name = format!("#s{i}");
        names.insert(name.clone(), window_attribute(&stale.name, stale.window));
        remove.push(name);
    }

    if let Some(credits) = debit.credits {
        names.insert("#cr".into(), CREDITS_REMAINING.into());
        names.insert("#cp".into(), CREDITS_PERIOD.into());
        values.insert(":period".into(), n(credits.from.period));
        if credits.refills() {
            let left = credits.from.remaining.saturating_sub(debit.cost);
            values.insert(":left".into(), n(left as i64));
            set.push("#cr = :left".into());
            set.push("#cp = :period".into());
            condition.push(match credits.stored {
                Some(stored) => {
                    values.insert(":was".into(), n(stored.period));
                    "#cp = :was".to_owned()
                }
                None => "attribute_not_exists(#cp)".to_owned(),
            });
            names.insert("#version".into(), "version".into());
            values.insert(":version".into(), n(version as i64));
            condition.push("#version = :version".into());
        } else {
            set.push("#cr = #cr - :cost".into());
            condition.push("#cp = :period AND #cr >= :cost".into());
        }
    }

    // DynamoDB refuses values an expression does not use; a refill
    // without limits uses no `:cost`.
    if !add.is_empty() || set.iter().any(|clause| clause.contains(":cost")) {
        values.insert(":cost".into(), n(debit.cost as i64));
    }
    let mut update = format!("SET {}", set.join(", "));
    if !add.is_empty() {
        update.push_str(&format!(" ADD {}", add.join(", ")));
    }
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    DebitUpdate {
        update,
        condition: condition.join(" AND "),
        names,
        values,
    }
}

/// True when an accepted debit writes nothing: a check of cost 0, or a key
/// with nothing to count (no limit, no credits).
fn writes_nothing(debit: &Debit) -> bool {
    debit.is_empty() || (debit.windows.is_empty() && debit.credits.is_none())
}

/// The counters after an applied debit: `Debit::applied`, with the values
/// the update returned (`UPDATED_NEW`), which include concurrent debits.
fn meter_after(debit: &Debit, returned: &Item) -> Meter {
    let mut after = debit.applied();
    let fresh = meter_from_item(returned);
    for window in &mut after.windows {
        if let Some(now) = fresh
            .windows
            .iter()
            .find(|f| f.name == window.name && f.window == window.window)
        {
            window.used = now.used;
        }
    }
    if let (Some(credits), Some(remaining)) =
        (after.credits.as_mut(), number(returned, CREDITS_REMAINING))
    {
        credits.remaining = remaining.max(0) as u64;
    }
    after
}

/// What one update met.
enum Sent {
    /// Applied; the attributes it wrote, as written.
    Applied(Item),
    /// Its condition failed; the item as it is, when it exists.
    Moved(Option<Item>),
    /// A transaction was writing the item; nothing applied.
    Busy,
}

impl DynamoStore {
    /// [`crate::store::Store::debit`] (module documentation).
    pub(super) async fn debit_key(&self, key: &Key, cost: u64, now: i64) -> StoreResult<Metered> {
        let token = random_hex::<TOKEN_BYTES>()?;
        let mut current = Cow::Borrowed(key);
        for round in 0..MAX_ROUNDS {
            let debit = match decide(&current.usage, &current.meter, now, cost) {
                Decision::Refuse(refusal) => {
                    return Ok(Metered {
                        refused: Some(refusal),
                        meter: current.meter.clone(),
                    });
                }
                Decision::Accept(debit) if writes_nothing(&debit) => {
                    return Ok(Metered {
                        refused: None,
                        meter: debit.applied(),
                    });
                }
                Decision::Accept(debit) => debit,
            };
            let update = debit_update(&debit, current.version, &token);
            match self.send_debit(&key.id, update).await? {
                Sent::Applied(returned) => {
                    return Ok(Metered {
                        refused: None,
                        meter: meter_after(&debit, &returned),
                    });
                }
                Sent::Moved(item) => {
                    let item = match item {
                        Some(item) => item,
                        // Not handed back: read it (the item is gone, or
                        // the server does not return it).
                        None => self
                            .get(ItemKey::Key { id: &key.id })
                            .await?
                            .ok_or_else(|| StoreError::Internal {
                                context: "a debited key's item is gone".into(),
                                source: None,
                            })?,
                    };
                    if matches!(item.get(DEBIT_TOKEN), Some(AttributeValue::S(t)) if *t == token) {
                        // An earlier attempt of this very update applied
                        // and its answer was lost.
                        return Ok(Metered {
                            refused: None,
                            meter: meter_after(&debit, &item),
                        });
                    }
                    current = Cow::Owned(key_from_item(&item)?);
                }
                Sent::Busy => {
                    tokio::time::sleep(Duration::from_millis(5 << round.min(5))).await;
                }
            }
        }
        Err(StoreError::Unavailable {
            context: format!("a key's counters kept moving for {MAX_ROUNDS} rounds"),
            source: None,
        })
    }

    async fn send_debit(&self, id: &str, update: DebitUpdate) -> StoreResult<Sent> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ItemKey::Key { id }.attributes()))
            .update_expression(update.update)
            .condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Sent::Applied(output.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Sent::Moved(failed.item.clone()))
                }
                Some(UpdateItemError::TransactionConflictException(_)) => Ok(Sent::Busy),
                _ => Err(e.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{debit_update, meter_after, writes_nothing};
    use crate::usage::meter::{CreditDebit, WindowDebit};
    use crate::usage::{Balance, Debit, WindowUse};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn window(name: &str, window: i64, limit: u64, used_before: u64) -> WindowDebit {
        WindowDebit {
            name: name.into(),
            window,
            limit,
            used_before,
        }
    }

    fn stale(name: &str, window: i64) -> WindowUse {
        WindowUse {
            name: name.into(),
            window,
            used: 3,
        }
    }

    fn debit(credits: Option<CreditDebit>) -> Debit {
        Debit {
            cost: 2,
            windows: vec![window("minute", 100, 20, 5), window("day", 7, 1000, 0)],
            credits,
            stale: vec![stale("minute", 99), stale("minute", 98), stale("gone", 100)],
        }
    }

    const TODAY: Balance = Balance {
        remaining: 10,
        period: 20_000,
    };

    #[test]
    fn a_debit_adds_to_each_window_below_its_room_and_decrements_the_credits() {
        let credits = CreditDebit {
            stored: Some(TODAY),
            from: TODAY,
        };
        let u = debit_update(&debit(Some(credits)), 4, "tok");
        assert_eq!(
            u.update,
            "SET #dt = :token, #cr = #cr - :cost ADD #w0 :cost, #w1 :cost REMOVE #s0, #s1"
        );
        assert_eq!(
            u.condition,
            "attribute_exists(pk) AND (attribute_not_exists(#dt) OR #dt <> :token) \
             AND (attribute_not_exists(#w0) OR #w0 <= :room0) \
             AND (attribute_not_exists(#w1) OR #w1 <= :room1) \
             AND #cp = :period AND #cr >= :cost"
        );
        assert_eq!(u.names["#w0"], "rl.minute.100");
        assert_eq!(u.names["#w1"], "rl.day.7");
        // The previous minute stays; older ones and other limits' go.
        assert_eq!(u.names["#s0"], "rl.minute.98");
        assert_eq!(u.names["#s1"], "rl.gone.100");
        assert_eq!(u.values[":room0"], AttributeValue::N("18".into()));
        assert_eq!(u.values[":room1"], AttributeValue::N("998".into()));
        assert_eq!(u.values[":period"], AttributeValue::N("20000".into()));
        assert!(!u.names.contains_key("#version"));
    }

    #[test]
    fn a_refill_sets_the_balance_once_per_period_at_the_version_read() {
        let yesterday = Balance {
            remaining: 0,
            period: 19_999,
        };
        let refill = CreditDebit {
            stored: Some(yesterday),
            from: TODAY,
        };
        let u = debit_update(&debit(Some(refill)), 4, "tok");
        assert!(
            u.update
                .starts_with("SET #dt = :token, #cr = :left, #cp = :period ADD")
        );
        assert!(
            u.condition
                .ends_with("AND #cp = :was AND #version = :version")
        );
        assert_eq!(u.values[":left"], AttributeValue::N("8".into()));
        assert_eq!(u.values[":was"], AttributeValue::N("19999".into()));
        assert_eq!(u.values[":version"], AttributeValue::N("4".into()));
        let first = CreditDebit {
            stored: None,
            from: TODAY,
        };
        let u = debit_update(&debit(Some(first)), 4, "tok");
        assert!(
            u.condition
                .ends_with("AND attribute_not_exists(#cp) AND #version = :version")
        );
    }

    #[test]
    fn nothing_is_written_for_a_check_or_a_key_with_nothing_to_count() {
        assert!(!writes_nothing(&debit(None)));
        assert!(writes_nothing(&Debit {
            cost: 0,
            ..debit(None)
        }));
        assert!(writes_nothing(&Debit {
            windows: vec![],
            ..debit(None)
        }));
    }

    #[test]
    fn the_meter_after_is_the_one_the_update_returned() {
        let d = debit(Some(CreditDebit {
            stored: Some(TODAY),
            from: TODAY,
        }));
        let returned = [
            ("rl.minute.100", "12"),
            ("credits_remaining", "3"),
            ("debit_token", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::N(v.into())))
        .collect();
        let after = meter_after(&d, &returned);
        assert_eq!(after.windows[0].used, 12);
        // Not returned: as applied to what was read.
        assert_eq!(after.windows[1].used, 2);
        assert_eq!(
            after.credits.map(|c| (c.remaining, c.period)),
            Some((3, 20_000))
        );
    }
}
