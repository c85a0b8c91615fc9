//! Usage control in the model: a key's rate limit and credits, the rule
//! restated plainly (fixed windows from the epoch, refills at UTC midnight
//! or on the 1st, rate limit first, all or nothing), and how cases
//! generate them.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Daily,
    Monthly,
}

impl Interval {
    pub fn name(self) -> &'static str {
        match self {
            Interval::Daily => "daily",
            Interval::Monthly => "monthly",
        }
    }

    /// The day or the month that holds `now`, counted from the epoch's.
    pub fn period(self, now: i64) -> i64 {
        match self {
            Interval::Daily => now.div_euclid(DAY),
            Interval::Monthly => {
                let date = time::OffsetDateTime::from_unix_timestamp(now)
                    .expect("a time after 1970")
                    .date();
                (i64::from(date.year()) - 1970) * 12 + i64::from(date.month() as u8) - 1
            }
        }
    }
}

/// Credits as a case sets them: the balance, and a refill (amount, interval).
#[derive(Debug, Clone, Copy)]
pub struct CreditsSpec {
    pub remaining: u64,
    pub refill: Option<(u64, Interval)>,
}

/// What a key is created with: credits, and one rate limit
/// (limit, window_seconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Metering {
    pub credits: Option<CreditsSpec>,
    pub limit: Option<(u64, i64)>,
}

impl Metering {
    /// The controls as a request body gives them.
    pub fn usage_input(self) -> keyward::usage::UsageInput {
        let limits = self
            .limit
            .map(|(limit, window)| serde_json::json!([{"name": "l", "limit": limit, "window_seconds": window}]));
        keyward::usage::UsageInput::from_json(limits, credits_json(self.credits), None)
            .expect("the generated controls are valid")
    }

    /// The key's meter, fresh at `now`.
    pub fn meter(self, now: i64) -> ModelMeter {
        ModelMeter {
            limit: self.limit.map(|(limit, window)| ModelLimit {
                limit,
                window,
                in_window: now.div_euclid(window),
                used: 0,
            }),
            credits: self.credits.map(|c| ModelCredits::set(c, now)),
        }
    }
}

/// `credits` as a body gives it (`None`: absent).
pub fn credits_json(credits: Option<CreditsSpec>) -> Option<Value> {
    credits.map(|c| {
        let mut body = serde_json::json!({ "remaining": c.remaining });
        if let Some((amount, interval)) = c.refill {
            body["refill"] = serde_json::json!({ "amount": amount, "interval": interval.name() });
        }
        body
    })
}

#[derive(Debug, Clone)]
pub struct ModelLimit {
    pub limit: u64,
    pub window: i64,
    /// The window `used` counts in.
    pub in_window: i64,
    pub used: u64,
}

impl ModelLimit {
    pub fn used_at(&self, now: i64) -> u64 {
        if now.div_euclid(self.window) == self.in_window {
            self.used
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModelCredits {
    pub remaining: u64,
    pub refill: Option<(u64, Interval)>,
    /// The refill period `remaining` was counted in.
    pub period: i64,
}

impl ModelCredits {
    pub fn set(spec: CreditsSpec, now: i64) -> Self {
        ModelCredits {
            remaining: spec.remaining,
            refill: spec.refill,
            period: spec.refill.map_or(0, |(_, i)| i.period(now)),
        }
    }

    /// The balance at `now`: the refill's amount once a new period began.
    pub fn balance(&self, now: i64) -> u64 {
        match self.refill {
            Some((amount, interval)) if interval.period(now) > self.period => amount,
            _ => self.remaining,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ModelMeter {
    pub limit: Option<ModelLimit>,
    pub credits: Option<ModelCredits>,
}

/// What an answer reports of a meter: credits left, and the limit's
/// (remaining, reset_at).
pub type Report = (Option<u64>, Option<(u64, i64)>);

impl ModelMeter {
    pub fn is_metered(&self) -> bool {
        self.limit.is_some() || self.credits.is_some()
    }

    /// A verification of `cost` that passed every other check: its code,
    /// and on `VALID` the counters moved.
    pub fn verify(&mut self, now: i64, cost: u64) -> &'static str {
        let need = cost.max(1);
        if let Some(l) = &self.limit
            && l.used_at(now) + need > l.limit
        {
            return "RATE_LIMITED";
        }
        if let Some(c) = &self.credits
            && c.balance(now) < need
        {
            return "USAGE_EXCEEDED";
        }
        if let Some(l) = &mut self.limit {
            l.used = l.used_at(now) + cost;
            l.in_window = now.div_euclid(l.window);
        }
        if let Some(c) = &mut self.credits {
            c.remaining = c.balance(now) - cost;
            c.period = c.refill.map_or(0, |(_, i)| i.period(now));
        }
        "VALID"
    }

    pub fn report(&self, now: i64) -> Report {
        (
            self.credits.as_ref().map(|c| c.balance(now)),
            self.limit.as_ref().map(|l| {
                (
                    l.limit - l.used_at(now),
                    (now.div_euclid(l.window) + 1) * l.window,
                )
            }),
        )
    }

    /// What a regeneration leaves: the new key's meter (the same controls,
    /// fresh windows, the balance moved) and this one's after (no credits
    /// left and no refill; its windows as they were).
    pub fn regenerate(&mut self, now: i64) -> ModelMeter {
        let moved = ModelMeter {
            limit: self.limit.as_ref().map(|l| ModelLimit {
                in_window: now.div_euclid(l.window),
                used: 0,
                ..l.clone()
            }),
            credits: self.credits.as_ref().map(|c| ModelCredits {
                remaining: c.balance(now),
                refill: c.refill,
                period: c.refill.map_or(0, |(_, i)| i.period(now)),
            }),
        };
        if self.credits.is_some() {
            self.credits = Some(ModelCredits {
                remaining: 0,
                refill: None,
                period: 0,
            });
        }
        moved
    }
}

/// The usage an answer or view reports, as the model's [`Report`].
pub fn reported(usage: &keyward::usage::UsageReport) -> Report {
    (
        usage.credits_remaining,
        usage.rate_limits.first().map(|l| (l.remaining, l.reset_at)),
    )
}

pub fn credits_spec() -> impl Strategy<Value = CreditsSpec> {
    let refill = prop_oneof![
        2 => Just(None),
        1 => (1u64..=4).prop_map(|a| Some((a, Interval::Daily))),
        1 => (1u64..=4).prop_map(|a| Some((a, Interval::Monthly))),
    ];
    (0u64..=6, refill).prop_map(|(remaining, refill)| CreditsSpec { remaining, refill })
}

pub fn metering() -> impl Strategy<Value = Metering> {
    let limit = prop_oneof![
        2 => Just(None),
        1 => (1u64..=4, prop_oneof![Just(60i64), Just(3_600), Just(DAY)]).prop_map(Some),
    ];
    let credits = prop_oneof![2 => Just(None), 1 => credits_spec().prop_map(Some)];
    prop_oneof![
        1 => Just(Metering::default()),
        2 => (credits, limit).prop_map(|(credits, limit)| Metering { credits, limit }),
    ]
}
