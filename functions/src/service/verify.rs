//! Verification: one read, no write on the answer's path.

use super::{Service, VerifyRequest};
use crate::domain::{Key, validate_scopes};
use crate::error::ApiError;
use wasm_validator::{KeyRecord, Verdict, VerdictCode, key};

impl Service {
    /// The core's one decision over the stored key's record. The use is
    /// noted in memory and written later in a batch.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<Verdict<'static>, ApiError> {
        let scopes = validate_scopes(&request.scopes)?;
        let Ok(parsed) = key::parse(request.key.expose()) else {
            return Ok(Verdict::malformed());
        };
        // The key's strings move into the record, and from it into the
        // answer: nothing is copied.
        let record = self
            .store
            .get_key(parsed.key_id)
            .await?
            .map(Key::into_record);
        let now = self.clock.now();
        let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
        // No source address yet: only a key with allowed_ips needs one, and
        // none has them until usage control is wired in.
        let code = {
            let fields = record.as_ref().map(KeyRecord::decision_fields);
            wasm_validator::decide(&parsed, fields.as_ref(), &required, now, None)
        };
        // CENTRAL_CHECK_REQUIRED needs a metered record, and no record is
        // metered yet (`Key::into_record`), so it is not reached here; were
        // it, the answer would be a refusal (valid: false), failing closed.
        if code == VerdictCode::Valid {
            self.last_used.record(parsed.key_id, now);
        }
        Ok(match record {
            Some(r) if code != VerdictCode::NotFound => Verdict::matched(
                code,
                r.key_id,
                r.application_id,
                r.account,
                r.scopes,
                r.expires_at,
            ),
            _ => Verdict::not_found(parsed.key_id.to_owned()),
        })
    }
}
