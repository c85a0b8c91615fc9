//! Verification: one read, and no write on the answer's path, unless the
//! key is metered: then one debit of its counters (docs/ARCHITECTURE.md,
//! "Usage control at verification").

use super::{Service, VerifyRequest};
use crate::domain::{Key, validate_scopes};
use crate::error::ApiError;
use crate::usage::{UsageReport, report};
use serde::Serialize;
use std::net::IpAddr;
use wasm_validator::{KeyRecord, Verdict, VerdictCode, key};

/// Where a verification comes from and what it costs: `POST /verify`'s
/// `source_ip` and `cost`, the authorizer's request address and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyContext {
    /// Canonical (`wasm_validator::parse_source_ip`); `None`: unknown, which
    /// a key with allowed addresses refuses.
    pub source_ip: Option<IpAddr>,
    /// Units taken from every rate limit and the credits when valid
    /// (`usage::controls::validate_cost`); 0 checks without consuming.
    pub cost: u64,
}

impl Default for VerifyContext {
    fn default() -> Self {
        VerifyContext {
            source_ip: None,
            cost: 1,
        }
    }
}

/// The answer of `POST /verify`: the verdict, and for a metered key that
/// reached its debit (`VALID`, `RATE_LIMITED`, `USAGE_EXCEEDED`) what is
/// left of its rate limits and credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyAnswer {
    #[serde(flatten)]
    pub verdict: Verdict<'static>,
    #[serde(flatten)]
    pub usage: UsageReport,
}

impl Service {
    /// [`Service::verify_in`] with no source address and a cost of 1.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<Verdict<'static>, ApiError> {
        let answer = self.verify_in(request, VerifyContext::default()).await?;
        Ok(answer.verdict)
    }

    /// The core's one decision over the stored key's record; for a metered
    /// key that passes it (`CENTRAL_CHECK_REQUIRED`), the store's debit,
    /// which accepts or refuses it. A valid use is noted in memory and
    /// written later in a batch.
    pub async fn verify_in(
        &self,
        request: &VerifyRequest,
        context: VerifyContext,
    ) -> Result<VerifyAnswer, ApiError> {
        let scopes = validate_scopes(&request.scopes)?;
        let Ok(parsed) = key::parse(request.key.expose()) else {
            return Ok(VerifyAnswer {
                verdict: Verdict::malformed(),
                usage: UsageReport::default(),
            });
        };
        // An unmetered key's strings move into the record, and from it into
        // the answer: nothing is copied. A metered key is kept for its
        // debit, which costs a write anyway.
        let (record, metered) = match self.store.get_key(parsed.key_id).await? {
            Some(key) if key.usage.is_metered() => (Some(key.record()), Some(key)),
            stored => (stored.map(Key::into_record), None),
        };
        let now = self.clock.now();
        let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let code = {
            let fields = record.as_ref().map(KeyRecord::decision_fields);
            wasm_validator::decide(&parsed, fields.as_ref(), &required, now, context.source_ip)
        };
        let (code, usage) = match (code, &metered) {
            (VerdictCode::CentralCheckRequired, Some(key)) => {
                let debited = self.store.debit(key, context.cost, now).await?;
                let code = debited
                    .refused
                    .map_or(VerdictCode::Valid, VerdictCode::from);
                (code, report(&key.usage, &debited.meter, now))
            }
            // Only a metered record asks for the central check, and only a
            // metered key makes one; were it otherwise, refuse (fail closed).
            (VerdictCode::CentralCheckRequired, None) => {
                return Err(ApiError::internal(
                    "verifying a key",
                    "an unmetered key asked for the central check",
                ));
            }
            (code, _) => (code, UsageReport::default()),
        };
        if code == VerdictCode::Valid {
            self.last_used.record(parsed.key_id, now);
        }
        let verdict = match record {
            Some(r) if code != VerdictCode::NotFound => Verdict::matched(
                code,
                r.key_id,
                r.application_id,
                r.account,
                r.scopes,
                r.expires_at,
            ),
            _ => Verdict::not_found(parsed.key_id.to_owned()),
        };
        Ok(VerifyAnswer { verdict, usage })
    }
}
