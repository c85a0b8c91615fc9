//! The counters of a metered key and the one rule that debits them
//! (docs/ARCHITECTURE.md, "Usage control at verification"). Pure: the
//! stores read the counters, call [`decide`], and apply its [`Debit`]
//! atomically, each in its own way; time is an argument.

use super::controls::{RateLimit, Refill, RefillInterval, UsageControls};
use serde::{Deserialize, Serialize};

/// Units of cost counted against one rate limit in one window. Window `n`
/// of a limit of `w` seconds covers `[n·w, (n+1)·w)` in epoch seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowUse {
    pub name: String,
    pub window: i64,
    pub used: u64,
}

/// Credits as counted: `remaining` within refill period `period` (see
/// [`refill_period`]; 0 for credits without refill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub remaining: u64,
    pub period: i64,
}

/// A key's live counters as a store read them. Windows of other limits or
/// older windows count as nothing; `credits: None` means no balance was
/// ever set, which only a key without credits has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Balance>,
}

/// The window of `limit` that holds `now`.
pub fn window_of(limit: &RateLimit, now: i64) -> i64 {
    now.div_euclid(i64::from(limit.window_seconds))
}

/// The refill period that holds `now`: the UTC day (days since the epoch)
/// or the UTC month (months since January 1970). Seconds are truncated, so
/// 23:59:59.999 belongs to its day and 00:00:00 to the next.
pub fn refill_period(interval: RefillInterval, now: i64) -> i64 {
    match interval {
        RefillInterval::Daily => now.div_euclid(86_400),
        RefillInterval::Monthly => {
            let date = time::OffsetDateTime::from_unix_timestamp(now)
                .map(|t| t.date())
                .unwrap_or(time::Date::MIN);
            (i64::from(date.year()) - 1970) * 12 + i64::from(u8::from(date.month())) - 1
        }
    }
}

/// The period a balance set at `now` is counted in.
pub fn period_for(refill: Option<&Refill>, now: i64) -> i64 {
    refill.map_or(0, |r| refill_period(r.interval, now))
}

impl Meter {
    /// Units used of `limit` in the window that holds `now`.
    pub fn used(&self, limit: &RateLimit, now: i64) -> u64 {
        let window = window_of(limit, now);
        self.windows
            .iter()
            .find(|w| w.name == limit.name && w.window == window)
            .map_or(0, |w| w.used)
    }

    /// The balance at `now`, refilled if a refill period began since it
    /// was counted (lazily: no job writes refills). `None` for a key
    /// without credits.
    pub fn balance(&self, controls: &UsageControls, now: i64) -> Option<Balance> {
        let credits = controls.credits.as_ref()?;
        let counted = self.credits.unwrap_or(Balance {
            remaining: credits.remaining,
            period: period_for(credits.refill.as_ref(), now),
        });
        Some(match &credits.refill {
            Some(refill) => {
                let period = refill_period(refill.interval, now);
                if counted.period < period {
                    Balance {
                        remaining: refill.amount,
                        period,
                    }
                } else {
                    counted
                }
            }
            None => counted,
        })
    }
}

/// One limit's share of a debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDebit {
    pub name: String,
    pub window: i64,
    pub limit: u64,
    /// Units counted in this window when the decision was made.
    pub used_before: u64,
}

/// The credits' share of a debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditDebit {
    /// The balance as stored when the decision was made (`None`: none yet).
    pub stored: Option<Balance>,
    /// The balance debited from: `stored`, or the refill when a period
    /// began since.
    pub from: Balance,
}

impl CreditDebit {
    /// True when this debit starts a new refill period.
    pub fn refills(&self) -> bool {
        self.stored != Some(self.from)
    }
}

/// What an accepted verification takes: `cost` from every limit's current
/// window and from the credits, all together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit {
    pub cost: u64,
    pub windows: Vec<WindowDebit>,
    pub credits: Option<CreditDebit>,
    /// Counted windows that are over or belong to no limit any more: a
    /// store may drop them with the debit.
    pub stale: Vec<WindowUse>,
}

impl Debit {
    /// The counters after the debit applied.
    pub fn applied(&self) -> Meter {
        Meter {
            windows: self
                .windows
                .iter()
                .map(|w| WindowUse {
                    name: w.name.clone(),
                    window: w.window,
                    used: w.used_before + self.cost,
                })
                .collect(),
            credits: self.credits.map(|c| Balance {
                remaining: c.from.remaining - self.cost,
                period: c.from.period,
            }),
        }
    }

    /// Nothing to write: a check of cost 0.
    pub fn is_empty(&self) -> bool {
        self.cost == 0
    }
}

/// Why a metered verification was refused: the verdicts `RATE_LIMITED`
/// and `USAGE_EXCEEDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited,
    UsageExceeded,
}

impl From<Refusal> for wasm_validator::VerdictCode {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::RateLimited => Self::RateLimited,
            Refusal::UsageExceeded => Self::UsageExceeded,
        }
    }
}

/// The verdict on a metered verification that passed every other check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept(Debit),
    Refuse(Refusal),
}

/// The one rule: whether `cost` fits every rate limit's current window and
/// the credits at `now`, rate limits first. A cost of 0 checks without
/// consuming and is refused when a limit or the credits have nothing left.
pub fn decide(controls: &UsageControls, meter: &Meter, now: i64, cost: u64) -> Decision {
    let need = cost.max(1);
    let mut windows = Vec::with_capacity(controls.rate_limits.len());
    for limit in &controls.rate_limits {
        let used_before = meter.used(limit, now);
        if used_before.saturating_add(need) > limit.limit {
            return Decision::Refuse(Refusal::RateLimited);
        }
        windows.push(WindowDebit {
            name: limit.name.clone(),
            window: window_of(limit, now),
            limit: limit.limit,
            used_before,
        });
    }
    let credits = match meter.balance(controls, now) {
        Some(from) if from.remaining < need => return Decision::Refuse(Refusal::UsageExceeded),
        Some(from) => Some(CreditDebit {
            stored: meter.credits,
            from,
        }),
        None => None,
    };
    let stale = meter
        .windows
        .iter()
        .filter(|w| {
            !windows
                .iter()
                .any(|d| d.name == w.name && d.window == w.window)
        })
        .cloned()
        .collect();
    Decision::Accept(Debit {
        cost,
        windows,
        credits,
        stale,
    })
}

/// One rate limit as an answer reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitReport {
    pub name: String,
    pub limit: u64,
    pub remaining: u64,
    /// The end of the current window.
    #[serde(with = "crate::domain::rfc3339")]
    pub reset_at: i64,
}

/// What answers and key views say of a key's counters at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_remaining: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<LimitReport>,
}

pub fn report(controls: &UsageControls, meter: &Meter, now: i64) -> UsageReport {
    UsageReport {
        credits_remaining: meter.balance(controls, now).map(|b| b.remaining),
        rate_limits: controls
            .rate_limits
            .iter()
            .map(|limit| LimitReport {
                name: limit.name.clone(),
                limit: limit.limit,
                remaining: limit.limit.saturating_sub(meter.used(limit, now)),
                reset_at: (window_of(limit, now) + 1) * i64::from(limit.window_seconds),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::controls::{Credits, RateLimit, Refill, RefillInterval, UsageControls};

    fn limit(name: &str, limit: u64, window_seconds: u32) -> RateLimit {
        RateLimit {
            name: name.into(),
            limit,
            window_seconds,
        }
    }

    fn controls(limits: Vec<RateLimit>, credits: Option<Credits>) -> UsageControls {
        UsageControls {
            rate_limits: limits,
            credits,
            ..UsageControls::default()
        }
    }

    /// Applies decisions one after another, as a store would.
    fn run(controls: &UsageControls, meter: &mut Meter, now: i64, cost: u64) -> Option<Refusal> {
        match decide(controls, meter, now, cost) {
            Decision::Accept(debit) => {
                let after = debit.applied();
                meter.windows = after.windows;
                meter.credits = after.credits.or(meter.credits);
                None
            }
            Decision::Refuse(refusal) => Some(refusal),
        }
    }

    const VALID: Option<Refusal> = None;
    const RATE_LIMITED: Option<Refusal> = Some(Refusal::RateLimited);
    const USAGE_EXCEEDED: Option<Refusal> = Some(Refusal::UsageExceeded);

    #[test]
    fn a_limit_accepts_exactly_its_units_per_window_and_resets_at_the_boundary() {
        let c = controls(vec![limit("minute", 3, 60)], None);
        let mut meter = Meter::default();
        let start = 1_800_000_020 - 1_800_000_020 % 60;
        let verdicts: Vec<_> = (0..4).map(|_| run(&c, &mut meter, start + 59, 1)).collect();
        assert_eq!(verdicts, [VALID, VALID, VALID, RATE_LIMITED]);
        assert_eq!(run(&c, &mut meter, start + 60, 1), VALID);
        let r = report(&c, &meter, start + 60);
        assert_eq!(r.rate_limits[0].remaining, 2);
        assert_eq!(r.rate_limits[0].reset_at, start + 120);
    }

    #[test]
    fn cost_counts_as_units_and_zero_checks_without_consuming() {
        let c = controls(
            vec![limit("l", 10, 60)],
            Some(Credits {
                remaining: 5,
                refill: None,
            }),
        );
        let mut meter = Meter::default();
        assert_eq!(run(&c, &mut meter, 0, 4), VALID);
        assert_eq!(run(&c, &mut meter, 0, 2), USAGE_EXCEEDED);
        assert_eq!(run(&c, &mut meter, 0, 0), VALID);
        assert_eq!(report(&c, &meter, 0).credits_remaining, Some(1));
        assert_eq!(run(&c, &mut meter, 0, 1), VALID);
        // Nothing left: a check of cost 0 is refused too.
        assert_eq!(run(&c, &mut meter, 0, 0), USAGE_EXCEEDED);
    }

    #[test]
    fn a_refusal_debits_nothing_and_rate_limits_come_first() {
        let c = controls(
            vec![limit("l", 2, 60)],
            Some(Credits {
                remaining: 1,
                refill: None,
            }),
        );
        let mut meter = Meter::default();
        assert_eq!(run(&c, &mut meter, 0, 1), VALID);
        // Credits are out, the limit is not: nothing moves.
        assert_eq!(run(&c, &mut meter, 0, 1), USAGE_EXCEEDED);
        assert_eq!(report(&c, &meter, 0).rate_limits[0].remaining, 1);
        let spent = controls(
            vec![limit("l", 1, 60)],
            Some(Credits {
                remaining: 0,
                refill: None,
            }),
        );
        let mut meter = Meter::default();
        assert_eq!(run(&spent, &mut meter, 0, 1), USAGE_EXCEEDED);
        let c = controls(
            vec![limit("l", 0, 60)],
            Some(Credits {
                remaining: 0,
                refill: None,
            }),
        );
        assert_eq!(run(&c, &mut Meter::default(), 0, 1), RATE_LIMITED);
    }

    #[test]
    fn daily_refill_happens_at_midnight_utc_exactly() {
        let refill = Refill {
            amount: 2,
            interval: RefillInterval::Daily,
        };
        let c = controls(
            vec![],
            Some(Credits {
                remaining: 1,
                refill: Some(refill),
            }),
        );
        let midnight = 1_800_000_000 - 1_800_000_000 % 86_400 + 86_400;
        let mut meter = Meter {
            credits: Some(Balance {
                remaining: 1,
                period: refill_period(RefillInterval::Daily, midnight - 1),
            }),
            ..Meter::default()
        };
        assert_eq!(run(&c, &mut meter, midnight - 1, 1), VALID);
        assert_eq!(run(&c, &mut meter, midnight - 1, 1), USAGE_EXCEEDED);
        assert_eq!(run(&c, &mut meter, midnight, 1), VALID);
        assert_eq!(report(&c, &meter, midnight).credits_remaining, Some(1));
        // A refill sets the balance; it does not add to what was left.
        assert_eq!(
            report(&c, &meter, midnight + 86_400).credits_remaining,
            Some(2)
        );
    }

    #[test]
    fn monthly_periods_follow_the_calendar() {
        use time::macros::datetime;
        let at =
            |t: time::OffsetDateTime| refill_period(RefillInterval::Monthly, t.unix_timestamp());
        assert_eq!(at(datetime!(1970-01-31 23:59:59 UTC)), 0);
        assert_eq!(at(datetime!(1970-02-01 00:00:00 UTC)), 1);
        assert_eq!(
            at(datetime!(2028-02-29 23:59:59 UTC)) + 1,
            at(datetime!(2028-03-01 00:00:00 UTC))
        );
        assert_eq!(
            at(datetime!(2026-12-31 23:59:59 UTC)) + 1,
            at(datetime!(2027-01-01 00:00:00 UTC))
        );
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_old_ones_are_stale() {
        let c = controls(vec![limit("a", 5, 10)], None);
        let meter = Meter {
            windows: vec![
                WindowUse {
                    name: "a".into(),
                    window: 99,
                    used: 5,
                },
                WindowUse {
                    name: "gone".into(),
                    window: 100,
                    used: 1,
                },
            ],
            ..Meter::default()
        };
        let Decision::Accept(debit) = decide(&c, &meter, 1_000, 1) else {
            panic!("window 100 is new");
        };
        assert_eq!(debit.windows[0].window, 100);
        assert_eq!(debit.windows[0].used_before, 0);
        assert_eq!(debit.stale.len(), 2);
        assert_eq!(
            decide(&c, &meter, 999, 1),
            Decision::Refuse(Refusal::RateLimited)
        );
    }
}
