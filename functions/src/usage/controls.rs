//! What a key allows at verification: rate limits, credits and the
//! addresses it may be used from (docs/ARCHITECTURE.md, "Usage control at
//! verification"), and their validation. Each input error is a 422 with
//! its own stable code.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
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
/// absent means unchanged, `null` or `[]` removes).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsageInput {
    #[serde(default)]
    pub rate_limits: Option<Option<Vec<RateLimit>>>,
    #[serde(default, deserialize_with = "present")]
    pub credits: Option<Option<Credits>>,
    #[serde(default)]
    pub allowed_ips: Option<Option<Vec<String>>>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl UsageInput {
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

    /// True when this input sets the credits' balance (a PATCH that names
    /// `credits`): the store's counter is reset to it.
    pub fn sets_credits(&self) -> bool {
        matches!(self.credits, Some(Some(_)))
    }
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
