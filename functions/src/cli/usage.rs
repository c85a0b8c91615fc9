//! The usage-control flags of `keys create` and `keys update`, read into
//! the JSON the API takes (`usage::controls`): `rate_limits: [{name, limit,
//! window_seconds}]`, `credits: {remaining, refill?}`, `allowed_ips`.
//!
//! Only the flags' shape is checked here (clap answers 2 for a flag that
//! cannot be read); the ranges are the API's to judge (a 422 with the
//! field's code), so the CLI never disagrees with it.

use crate::usage::{Credits, RateLimit, Refill, RefillInterval};
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Args, Debug, Default)]
pub struct UsageArgs {
    /// A rate limit: at most LIMIT units per window of SECONDS, e.g.
    /// per-minute=100/60 (repeat for up to 5).
    #[arg(long = "rate-limit", value_name = "NAME=LIMIT/SECONDS", value_parser = parse_rate_limit)]
    rate_limits: Vec<RateLimit>,
    /// Credits: N units, each verification spending its cost.
    #[arg(long, value_name = "N")]
    credits: Option<u64>,
    /// Set the credits back to AMOUNT every day or month: AMOUNT/daily or
    /// AMOUNT/monthly (with --credits).
    #[arg(long, value_name = "AMOUNT/INTERVAL", requires = "credits", value_parser = parse_refill)]
    refill: Option<Refill>,
    /// Accept the key only from this address or CIDR block (repeat for up
    /// to 50).
    #[arg(long = "allow-ip", value_name = "CIDR")]
    allowed_ips: Vec<String>,
}

/// `keys update`'s way to remove a control.
#[derive(Args, Debug, Default)]
pub struct ClearUsageArgs {
    /// Remove every rate limit.
    #[arg(long, conflicts_with = "rate_limits")]
    no_rate_limits: bool,
    /// Remove the credits.
    #[arg(long, conflicts_with_all = ["credits", "refill"])]
    no_credits: bool,
    /// Remove the allowed addresses (any address may use the key).
    #[arg(long, conflicts_with = "allowed_ips")]
    no_allowed_ips: bool,
}

impl UsageArgs {
    /// Adds the controls given to `body`; one not given stays absent
    /// (none on create, unchanged on update).
    pub fn add_to(&self, body: &mut Map<String, Value>) {
        if !self.rate_limits.is_empty() {
            body.insert("rate_limits".into(), json!(self.rate_limits));
        }
        if let Some(remaining) = self.credits {
            let credits = Credits {
                remaining,
                refill: self.refill,
            };
            body.insert("credits".into(), json!(credits));
        }
        if !self.allowed_ips.is_empty() {
            body.insert("allowed_ips".into(), json!(self.allowed_ips));
        }
    }
}

impl ClearUsageArgs {
    /// `null` removes a control (the API's PATCH rule).
    pub fn add_to(&self, body: &mut Map<String, Value>) {
        for (clear, name) in [
            (self.no_rate_limits, "rate_limits"),
            (self.no_credits, "credits"),
            (self.no_allowed_ips, "allowed_ips"),
        ] {
            if clear {
                body.insert(name.into(), Value::Null);
            }
        }
    }
}

/// `NAME=LIMIT/SECONDS`.
fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let wrong = || format!("{text:?} is not NAME=LIMIT/SECONDS, e.g. per-minute=100/60");
    let (name, rest) = text.split_once('=').ok_or_else(wrong)?;
    let (limit, window) = rest.split_once('/').ok_or_else(wrong)?;
    Ok(RateLimit {
        name: name.to_owned(),
        limit: limit.trim().parse().map_err(|_| wrong())?,
        window_seconds: window.trim().parse().map_err(|_| wrong())?,
    })
}

/// `AMOUNT/daily` or `AMOUNT/monthly`.
fn parse_refill(text: &str) -> Result<Refill, String> {
    let wrong = || format!("{text:?} is not AMOUNT/daily or AMOUNT/monthly, e.g. 1000/monthly");
    let (amount, interval) = text.split_once('/').ok_or_else(wrong)?;
    let interval = match interval.trim() {
        "daily" => RefillInterval::Daily,
        "monthly" => RefillInterval::Monthly,
        _ => return Err(wrong()),
    };
    Ok(Refill {
        amount: amount.trim().parse().map_err(|_| wrong())?,
        interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_read_name_limit_and_window() {
        let limit = parse_rate_limit("per-minute=100/60").unwrap();
        assert_eq!(
            json!(limit),
            json!({"name": "per-minute", "limit": 100, "window_seconds": 60})
        );
        for bad in ["per-minute", "x=100", "x=a/60", "x=100/-1", "x=100/60s"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credits_with_a_refill_take_the_api_shape() {
        let args = UsageArgs {
            credits: Some(50),
            refill: Some(parse_refill("1000/monthly").unwrap()),
            allowed_ips: vec!["10.0.0.0/8".into()],
            ..UsageArgs::default()
        };
        let mut body = Map::new();
        args.add_to(&mut body);
        assert_eq!(
            Value::Object(body),
            json!({"credits": {"remaining": 50, "refill": {"amount": 1000, "interval": "monthly"}},
                   "allowed_ips": ["10.0.0.0/8"]})
        );
        assert!(parse_refill("5/weekly").is_err());
    }

    #[test]
    fn clearing_sends_null() {
        let clear = ClearUsageArgs {
            no_credits: true,
            ..ClearUsageArgs::default()
        };
        let mut body = Map::new();
        clear.add_to(&mut body);
        assert_eq!(Value::Object(body), json!({"credits": null}));
    }
}
