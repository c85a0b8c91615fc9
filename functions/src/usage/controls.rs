//! What a key allows at verification: rate limits, credits and the
//! addresses it may be used from (docs/ARCHITECTURE.md, "Usage control at
//! verification"), and their validation. Each input error is a 422 with
//! its own stable code.

use super::meter::{Balance, period_for};
use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_validator::AllowedIps;
pub use wasm_validator::ip::MAX_ALLOWED_IPS;

pub const MAX_RATE_LIMITS: usize = 5;
pub const MAX_LIMIT: u64 = 1_000_000_000;
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
pub const MAX_LIMIT_NAME_CHARS: usize = 32;
pub const MAX_CREDITS: u64 = 1_000_000_000_000;
pub const MAX_COST: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub name: String,
    pub limit: u64,
    pub window_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefillInterval {
    Daily,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refill {
    pub amount: u64,
    pub interval: RefillInterval,
}

/// Credits as set by a create, a PATCH or a regeneration: `remaining` is
/// the balance at that moment (the live balance is the store's counter,
/// [`super::meter::Meter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credits {
    pub remaining: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

/// A key's controls. The default, none, verifies with one read and no
/// write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageControls {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// Checked by the core (`AllowedIps::admits`), at the edge too.
    #[serde(default, skip_serializing_if = "AllowedIps::is_empty")]
    pub allowed_ips: AllowedIps,
}

impl UsageControls {
    /// A metered key needs the central counters: verification debits them
    /// with one conditional write, and the edge answers
    /// `CENTRAL_CHECK_REQUIRED`.
    pub fn is_metered(&self) -> bool {
        !self.rate_limits.is_empty() || self.credits.is_some()
    }
}

/// The controls as a request gives them (create: absent means none; PATCH:
/// absent means unchanged, `null` or `[]` removes). Each field is
/// `None` when absent and `Some(None)` when `null`.
#[derive(Debug, Clone, Default)]
pub struct UsageInput {
    pub rate_limits: Option<Option<Vec<RateLimit>>>,
    pub credits: Option<Option<Credits>>,
    pub allowed_ips: Option<Option<Vec<String>>>,
}

impl UsageInput {
    /// The fields as a request body holds them (`None`: absent), each read
    /// on its own so that anything wrong inside one, a wrong type, an
    /// unknown field or a number out of range, is that field's 422 code
    /// rather than a bare `INVALID_BODY`.
    pub fn from_json(
        rate_limits: Option<Value>,
        credits: Option<Value>,
        allowed_ips: Option<Value>,
    ) -> Result<Self, ApiError> {
        Ok(UsageInput {
            rate_limits: read_field(rate_limits, "rate_limits", ApiError::InvalidRateLimits)?,
            credits: read_field(credits, "credits", ApiError::InvalidCredits)?,
            allowed_ips: read_field(allowed_ips, "allowed_ips", ApiError::InvalidAllowedIps)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rate_limits.is_none() && self.credits.is_none() && self.allowed_ips.is_none()
    }

    /// `current` with this input's fields applied, validated.
    pub fn apply_to(&self, current: &UsageControls) -> Result<UsageControls, ApiError> {
        let mut next = current.clone();
        if let Some(limits) = &self.rate_limits {
            next.rate_limits = validate_rate_limits(limits.as_deref().unwrap_or_default())?;
        }
        if let Some(credits) = &self.credits {
            next.credits = credits.map(validate_credits).transpose()?;
        }
        if let Some(addresses) = &self.allowed_ips {
            next.allowed_ips = validate_allowed_ips(addresses.as_deref().unwrap_or_default())?;
        }
        Ok(next)
    }

    /// The balance this input sets at `now`: a create or PATCH that names
    /// `credits` resets the store's counter to `remaining`.
    pub fn sets_balance(&self, now: i64) -> Option<Balance> {
        match &self.credits {
            Some(Some(credits)) => Some(Balance {
                remaining: credits.remaining,
                period: period_for(credits.refill.as_ref(), now),
            }),
            _ => None,
        }
    }
}

/// One usage field of a body: absent, `null`, or a value of `T` (`what`
/// names it in the error).
fn read_field<T: DeserializeOwned>(
    value: Option<Value>,
    what: &str,
    error: fn(String) -> ApiError,
) -> Result<Option<Option<T>>, ApiError> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => serde_json::from_value(whole_numbers(value))
            .map(|v| Some(Some(v)))
            .map_err(|e| error(format!("{what}: {e}"))),
    }
}

/// JSON has one kind of number, so `60.0` is the integer 60 (JSON Schema's
/// `integer` agrees) though serde's integers refuse it: whole numbers are
/// made integers before reading; fractions stay and are refused.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if n.as_u64().is_none() && n.as_i64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => {
                // `as` saturates: 2^64 itself becomes u64::MAX, still refused
                // by every range check.
                Value::from(f as u64)
            }
            Some(f) if f.fract() == 0.0 && (i64::MIN as f64..0.0).contains(&f) => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A body field that tells `null` from absent: `Some(Value::Null)` for
/// `null`, `None` (with `#[serde(default)]`) when absent.
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn is_valid_limit_name(name: &str) -> bool {
    (1..=MAX_LIMIT_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

pub fn validate_rate_limits(limits: &[RateLimit]) -> Result<Vec<RateLimit>, ApiError> {
    if limits.len() > MAX_RATE_LIMITS {
        return Err(ApiError::InvalidRateLimits(format!(
            "at most {MAX_RATE_LIMITS} rate limits per key, not {}",
            limits.len()
        )));
    }
    for (i, limit) in limits.iter().enumerate() {
        if !is_valid_limit_name(&limit.name) {
            return Err(ApiError::InvalidRateLimits(format!(
                "rate_limits[{i}].name must match [a-z0-9_.-]{{1,{MAX_LIMIT_NAME_CHARS}}}"
            )));
        }
        if limits[..i].iter().any(|other| other.name == limit.name) {
            return Err(ApiError::InvalidRateLimits(format!(
                "rate_limits[{i}].name {:?} is used twice; names are unique per key",
                limit.name
            )));
        }
        if !(1..=MAX_LIMIT).contains(&limit.limit) {
            return Err(ApiError::InvalidRateLimits(format!(
                "rate_limits[{i}].limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if !(1..=MAX_WINDOW_SECONDS).contains(&limit.window_seconds) {
            return Err(ApiError::InvalidRateLimits(format!(
                "rate_limits[{i}].window_seconds must be between 1 and {MAX_WINDOW_SECONDS}"
            )));
        }
    }
    Ok(limits.to_vec())
}

pub fn validate_credits(credits: Credits) -> Result<Credits, ApiError> {
    if credits.remaining > MAX_CREDITS {
        return Err(ApiError::InvalidCredits(format!(
            "credits.remaining must be between 0 and {MAX_CREDITS}"
        )));
    }
    if let Some(refill) = credits.refill
        && !(1..=MAX_CREDITS).contains(&refill.amount)
    {
        return Err(ApiError::InvalidCredits(format!(
            "credits.refill.amount must be between 1 and {MAX_CREDITS}"
        )));
    }
    Ok(credits)
}

/// Addresses and CIDR blocks, parsed by the core (the edge's parser too);
/// more than [`MAX_ALLOWED_IPS`] or a malformed entry is a 422 naming it.
pub fn validate_allowed_ips(addresses: &[String]) -> Result<AllowedIps, ApiError> {
    AllowedIps::parse(addresses).map_err(|e| ApiError::InvalidAllowedIps(e.to_string()))
}

/// The `cost` of a verification: 0 to [`MAX_COST`], 1 when absent.
pub fn validate_cost(cost: Option<u64>) -> Result<u64, ApiError> {
    match cost {
        None => Ok(1),
        Some(cost) if cost <= MAX_COST => Ok(cost),
        Some(_) => Err(ApiError::InvalidCost),
    }
}

/// The `cost` of a verification as a body holds it (`None` or `null`:
/// absent): a whole number, else `INVALID_COST` like one out of range.
pub fn cost_from_json(cost: Option<&Value>) -> Result<u64, ApiError> {
    match cost.map(|v| whole_numbers(v.clone())) {
        None | Some(Value::Null) => validate_cost(None),
        Some(Value::Number(n)) => validate_cost(Some(n.as_u64().ok_or(ApiError::InvalidCost)?)),
        Some(_) => Err(ApiError::InvalidCost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: Value) -> Result<UsageInput, ApiError> {
        let mut fields = body.as_object().cloned().unwrap_or_default();
        UsageInput::from_json(
            fields.remove("rate_limits"),
            fields.remove("credits"),
            fields.remove("allowed_ips"),
        )
    }

    fn code(body: Value) -> &'static str {
        let current = UsageControls::default();
        match input(body).and_then(|i| i.apply_to(&current)) {
            Ok(_) => "OK",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn absent_keeps_null_and_empty_remove() {
        let current = UsageControls {
            rate_limits: vec![RateLimit {
                name: "minute".into(),
                limit: 5,
                window_seconds: 60,
            }],
            credits: Some(Credits {
                remaining: 7,
                refill: None,
            }),
            allowed_ips: AllowedIps::parse(["10.0.0.0/8"]).unwrap(),
        };
        let kept = input(json!({})).unwrap();
        assert!(kept.is_empty());
        assert_eq!(kept.apply_to(&current).unwrap(), current);
        for removal in [
            json!({"rate_limits": null, "credits": null, "allowed_ips": null}),
            json!({"rate_limits": [], "credits": null, "allowed_ips": []}),
        ] {
            let removed = input(removal).unwrap().apply_to(&current).unwrap();
            assert_eq!(removed, UsageControls::default());
        }
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        let read = input(json!({
            "rate_limits": [{"name": "minute", "limit": 10.0, "window_seconds": 6e1}],
            "credits": {"remaining": 1e3, "refill": {"amount": 5.0, "interval": "daily"}}
        }))
        .unwrap();
        let controls = read.apply_to(&UsageControls::default()).unwrap();
        assert_eq!(controls.rate_limits[0].limit, 10);
        assert_eq!(controls.rate_limits[0].window_seconds, 60);
        assert_eq!(controls.credits.unwrap().remaining, 1_000);
        assert_eq!(read.sets_balance(86_400 * 3 + 5).unwrap().period, 3);
    }

    #[test]
    fn anything_wrong_inside_a_field_is_that_fields_code() {
        let limit = |l: Value| json!({"rate_limits": [l]});
        for bad in [
            limit(json!({"name": "m", "limit": -1, "window_seconds": 60})),
            limit(json!({"name": "m", "limit": 0, "window_seconds": 60})),
            limit(json!({"name": "m", "limit": 1_000_000_001u64, "window_seconds": 60})),
            limit(json!({"name": "m", "limit": 1.5, "window_seconds": 60})),
            limit(json!({"name": "m", "limit": 1, "window_seconds": 86_401})),
            limit(json!({"name": "m", "limit": 1, "window_seconds": 5e9})),
            limit(json!({"name": "M", "limit": 1, "window_seconds": 60})),
            limit(json!({"name": "m", "limit": 1, "window_seconds": 60, "burst": 2})),
            limit(json!({"name": "m", "limit": "1", "window_seconds": 60})),
            json!({"rate_limits": {"name": "m"}}),
        ] {
            assert_eq!(code(bad.clone()), "INVALID_RATE_LIMITS", "{bad}");
        }
        for bad in [
            json!({"credits": {"remaining": -1}}),
            json!({"credits": {"remaining": 1_000_000_000_001u64}}),
            json!({"credits": {"remaining": 1, "refill": {"amount": 0, "interval": "daily"}}}),
            json!({"credits": {"remaining": 1, "refill": {"amount": 1, "interval": "weekly"}}}),
            json!({"credits": {"remaining": 1, "extra": true}}),
            json!({"credits": 5}),
        ] {
            assert_eq!(code(bad.clone()), "INVALID_CREDITS", "{bad}");
        }
        assert_eq!(
            code(json!({"allowed_ips": "10.0.0.0/8"})),
            "INVALID_ALLOWED_IPS"
        );
        assert_eq!(code(json!({"allowed_ips": [1]})), "INVALID_ALLOWED_IPS");
        assert_eq!(
            code(json!({"allowed_ips": ["10.0.0.0/33"]})),
            "INVALID_ALLOWED_IPS"
        );
        assert_eq!(
            code(json!({"credits": {"remaining": 1_000_000_000_000u64}})),
            "OK",
            "the largest balance"
        );
    }

    #[test]
    fn cost_is_a_whole_number_up_to_the_maximum() {
        assert_eq!(cost_from_json(None).unwrap(), 1);
        assert_eq!(cost_from_json(Some(&Value::Null)).unwrap(), 1);
        assert_eq!(cost_from_json(Some(&json!(0))).unwrap(), 0);
        assert_eq!(cost_from_json(Some(&json!(10_000.0))).unwrap(), 10_000);
        for bad in [
            json!(10_001),
            json!(-1),
            json!(1.5),
            json!("1"),
            json!(1e300),
        ] {
            assert_eq!(
                cost_from_json(Some(&bad)).unwrap_err().code(),
                "INVALID_COST",
                "{bad}"
            );
        }
    }
}
