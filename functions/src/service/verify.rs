//! Verification: one read, no write on the answer's path.

use super::{Service, VerifyRequest};
use crate::domain::{Key, validate_scopes};
use crate::error::ApiError;
use wasm_validator::{Verdict, VerdictCode, key};

impl Service {
    /// The core's one decision over the stored key's fields. The use is
    /// noted in memory and written later in a batch.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<Verdict<'static>, ApiError> {
        let scopes = validate_scopes(&request.scopes)?;
        let Ok(parsed) = key::parse(request.key.expose()) else {
            return Ok(Verdict::malformed());
        };
        let stored = self.store.get_key(parsed.key_id).await?;
        let now = self.clock.now();
        let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
        // The fields are borrowed for the decision; then the answer takes
        // the key's strings instead of copying them.
        let code = {
            let fields = stored.as_ref().map(Key::decision_fields);
            wasm_validator::decide(&parsed, fields.as_ref(), &required, now)
        };
        if code == VerdictCode::Valid {
            self.last_used.record(parsed.key_id, now);
        }
        Ok(match stored {
            Some(k) if code != VerdictCode::NotFound => Verdict::matched(
                code,
                k.id,
                k.application_id,
                k.account,
                k.scopes,
                k.expires_at,
            ),
            _ => Verdict::not_found(parsed.key_id.to_owned()),
        })
    }
}
