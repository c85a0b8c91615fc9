//! Request bodies as they arrive: unknown fields refused, numbers read as
//! JSON means them. Each turns into the service's input.

use crate::error::ApiError;
use crate::secret::Secret;
use crate::service::{
    CreateApplication, CreateKey, CreateWebhook, RegenerateKey, UpdateFields, UpdateWebhook,
    VerifyContext, VerifyRequest,
};
use crate::usage::UsageInput;
use crate::usage::controls::{cost_from_json, present};
use serde::Deserialize;
use serde_json::Value;
use wasm_validator::parse_source_ip;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApplicationBody {
    name: String,
    #[serde(default)]
    description: String,
    key_prefix: Option<String>,
}

impl From<CreateApplicationBody> for CreateApplication {
    fn from(b: CreateApplicationBody) -> Self {
        CreateApplication {
            name: b.name,
            description: b.description,
            key_prefix: b.key_prefix,
        }
    }
}

/// PATCH of an application.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFieldsBody {
    name: Option<String>,
    description: Option<String>,
}

impl From<UpdateFieldsBody> for UpdateFields {
    fn from(b: UpdateFieldsBody) -> Self {
        UpdateFields {
            name: b.name,
            description: b.description,
        }
    }
}

/// PATCH of a key: the fields of any PATCH and the usage controls, each
/// absent (unchanged) or `null` (removed) or a value.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    rate_limits: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    credits: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    allowed_ips: Option<Value>,
}

impl UpdateKeyBody {
    pub fn into_input(self) -> Result<(UpdateFields, UsageInput), ApiError> {
        let usage = UsageInput::from_json(self.rate_limits, self.credits, self.allowed_ips)?;
        let fields = UpdateFields {
            name: self.name,
            description: self.description,
        };
        Ok((fields, usage))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    rate_limits: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    credits: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    allowed_ips: Option<Value>,
}

impl CreateKeyBody {
    pub fn into_input(self) -> Result<(CreateKey, UsageInput), ApiError> {
        let usage = UsageInput::from_json(self.rate_limits, self.credits, self.allowed_ips)?;
        let key = CreateKey {
            name: self.name,
            description: self.description,
            scopes: self.scopes,
            expires_at: self.expires_at,
        };
        Ok((key, usage))
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKeyBody {
    expires_at: Option<String>,
    #[serde(default, deserialize_with = "whole_seconds")]
    grace_seconds: Option<i64>,
}

impl From<RegenerateKeyBody> for RegenerateKey {
    fn from(b: RegenerateKeyBody) -> Self {
        RegenerateKey {
            expires_at: b.expires_at,
            grace_seconds: b.grace_seconds,
        }
    }
}

/// JSON has one kind of number: `3600.0` is the integer 3600 (JSON Schema's
/// `integer` says so too), though serde's `i64` refuses it. A fraction is
/// refused; a whole number beyond `i64` saturates, so the range check
/// answers it.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // `as` saturates at the ends of `i64`.
        Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "grace_seconds must be a whole number of seconds, not {number}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    key: Secret,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    source_ip: Option<Value>,
    #[serde(default)]
    cost: Option<Value>,
}

impl VerifyBody {
    /// The request and its context. A `source_ip` that is not an address
    /// is a bad request (422), not a refusal: the caller sent it wrong.
    pub fn into_input(self) -> Result<(VerifyRequest, VerifyContext), ApiError> {
        let source_ip = match self.source_ip {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(parse_source_ip(&text).ok_or(ApiError::InvalidSourceIp)?)
            }
            Some(_) => return Err(ApiError::InvalidSourceIp),
        };
        let context = VerifyContext {
            source_ip,
            cost: cost_from_json(self.cost.as_ref())?,
        };
        let request = VerifyRequest {
            key: self.key,
            scopes: self.scopes,
        };
        Ok((request, context))
    }
}

/// Lifecycle POSTs take no fields, but accept `{}`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    url: String,
    events: Option<Vec<String>>,
    #[serde(default)]
    description: String,
}

impl From<CreateWebhookBody> for CreateWebhook {
    fn from(b: CreateWebhookBody) -> Self {
        CreateWebhook {
            url: b.url,
            events: b.events,
            description: b.description,
        }
    }
}

/// PATCH of a webhook; `events: null` delivers every type again.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookBody {
    url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    events: Option<Option<Vec<String>>>,
    description: Option<String>,
    enabled: Option<bool>,
}

impl From<UpdateWebhookBody> for UpdateWebhook {
    fn from(b: UpdateWebhookBody) -> Self {
        UpdateWebhook {
            url: b.url,
            events: b.events,
            description: b.description,
            enabled: b.enabled,
        }
    }
}

/// The most keys one `POST /keys/leaked` may report.
pub const MAX_REPORTED_KEYS: usize = 100;

/// `POST /keys/leaked`: keys their holder reports leaked, and where.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakReportBody {
    keys: Vec<Secret>,
    url: Option<String>,
}

impl LeakReportBody {
    pub fn into_parts(self) -> Result<(Vec<Secret>, Option<String>), ApiError> {
        if self.keys.is_empty() || self.keys.len() > MAX_REPORTED_KEYS {
            return Err(ApiError::InvalidBody(format!(
                "keys must hold 1 to {MAX_REPORTED_KEYS} keys"
            )));
        }
        if self
            .url
            .as_ref()
            .is_some_and(|u| u.chars().count() > crate::leaks::MAX_URL_CHARS)
        {
            return Err(ApiError::InvalidBody(format!(
                "url must be at most {} characters",
                crate::leaks::MAX_URL_CHARS
            )));
        }
        Ok((self.keys, self.url))
    }
}
