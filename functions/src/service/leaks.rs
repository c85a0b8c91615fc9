//! Leak response (docs/ARCHITECTURE.md, "Leak response"): a key reported
//! leaked, by GitHub's secret scanning or by whoever holds it, is a true
//! positive when this deployment issued it (live, revoked or expired); a
//! live key is acted on once (`KEYWARD_LEAK_ACTION`), with the audit event
//! `key.leaked` (the event webhooks get), a notice to its creator and the
//! leak recorded on the key. A second report of the same key changes
//! nothing.

use super::{Plan, Service};
use crate::domain::{Notice, NoticeKind};
use crate::error::ApiError;
use crate::leaks::github::{Label, Labelled, SignatureRefusal, parse_batch};
use crate::leaks::keyring::KeyringError;
use crate::leaks::{Finding, GITHUB_ACTOR, Leak, LeakAction, REPORT_ACTOR};
use crate::secret::Secret;
use crate::store::Write;
use wasm_validator::{StoredKeyStatus, key};

/// How long `POST /keys/leaked` takes at least: longer than acting on a
/// leaked key takes on either store. Per request, not per key: a Lambda
/// instance is billed while it waits.
pub const REPORT_FLOOR: std::time::Duration = std::time::Duration::from_millis(200);

/// A hash no key has, compared against when a reported id is unknown, so
/// that an unknown key costs the same work as a known one.
const DECOY_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Service {
    /// `POST /secret-scanning/github`: the signature first (nothing is read
    /// from an unsigned body), then each match labelled, and acted on.
    pub async fn report_github_matches(
        &self,
        identifier: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<Labelled>, ApiError> {
        let keyring = self
            .github_keys
            .as_ref()
            .ok_or(ApiError::SecretScanningUnavailable)?;
        let (Some(identifier), Some(signature)) = (identifier, signature) else {
            return Err(ApiError::InvalidSignature(
                SignatureRefusal::Missing.to_string(),
            ));
        };
        match keyring.verify(identifier, signature, body).await {
            Ok(()) => {}
            Err(KeyringError::Refused(refusal)) => {
                return Err(ApiError::InvalidSignature(refusal.to_string()));
            }
            Err(KeyringError::Unavailable(why)) => {
                tracing::error!(error = %why, "GitHub's public keys are unavailable");
                return Err(ApiError::SecretScanningUnavailable);
            }
        }
        let matches = parse_batch(body).map_err(ApiError::from)?;
        // One token after another: a batch's store calls stay in step
        // with what the table takes (several at once timed out against a
        // local DynamoDB-compatible server; BENCHMARKS.md, "Leak response").
        let mut answer = Vec::with_capacity(matches.len());
        for found in matches {
            let finding = Finding::new(GITHUB_ACTOR, found.url.as_deref());
            let label = if self.take_leak(&found.token, &finding).await? {
                Label::TruePositive
            } else {
                Label::FalsePositive
            };
            answer.push(Labelled {
                token_raw: found.token,
                token_type: found.token_type,
                label,
            });
        }
        Ok(answer)
    }

    /// `POST /keys/leaked`: how many keys were received, whatever they
    /// were. The answer comes no sooner than [`REPORT_FLOOR`] after the
    /// request, so a report of one live key (a commit) takes as long to
    /// answer as one of an unknown key.
    pub async fn report_leaked_keys(
        &self,
        keys: &[Secret],
        url: Option<&str>,
    ) -> Result<usize, ApiError> {
        let started = tokio::time::Instant::now();
        let finding = Finding::new(REPORT_ACTOR, url);
        for presented in keys {
            self.take_leak(presented, &finding).await?;
        }
        tokio::time::sleep_until(started + REPORT_FLOOR).await;
        Ok(keys.len())
    }

    /// Whether `presented` is a key this deployment issued; a live one not
    /// yet reported is acted on.
    async fn take_leak(&self, presented: &Secret, finding: &Finding) -> Result<bool, ApiError> {
        let Ok(parsed) = key::parse(presented.expose()) else {
            return Ok(false);
        };
        let Some(stored) = self.store.get_key(parsed.key_id).await? else {
            let _ = key::hash_matches_hex(parsed.full, DECOY_HASH);
            return Ok(false);
        };
        if !key::hash_matches_hex(parsed.full, &stored.hash) {
            return Ok(false);
        }
        let key_id = stored.id;
        let notice = self
            .run(None, |now| {
                let key_id = key_id.clone();
                async move {
                    let Some(key) = self.store.get_key(&key_id).await? else {
                        return Ok(Plan::new(None));
                    };
                    let acted_on = key
                        .leak
                        .as_ref()
                        .is_some_and(|leak| leak.still_holds(key.enabled_at));
                    if acted_on || !key.is_live(now) {
                        return Ok(Plan::new(None));
                    }
                    let action = self.config.leak_action;
                    let mut leaked = key.clone();
                    leaked.leak = Some(Leak {
                        at: now,
                        found_by: finding.found_by.to_owned(),
                        url: finding.url.clone(),
                        action,
                    });
                    match action {
                        LeakAction::Revoke => {
                            leaked.status = StoredKeyStatus::Revoked;
                            leaked.revoked_at = Some(now);
                        }
                        LeakAction::Disable => {
                            leaked.status = StoredKeyStatus::Disabled;
                            leaked.disabled_by = Some(finding.found_by.to_owned());
                        }
                        LeakAction::Notify => {}
                    }
                    leaked.updated_at = now;
                    leaked.ttl = leaked.purge_after(self.config.retention_seconds());
                    let audit =
                        Self::key_event(finding.found_by, "key.leaked", Some(&key), &leaked, now)?;
                    let notice = Notice::about(&leaked, NoticeKind::Leaked, now)
                        .with_url(finding.url.clone());
                    Ok(Plan::new(Some(notice.clone()))
                        .with(audit)
                        .with(Write::Notice(notice))
                        .with(Write::Key {
                            item: leaked,
                            expected: Some(key.version),
                        }))
                }
            })
            .await?;
        if let Some(notice) = notice
            && let Err(e) = self.publisher.publish(&notice).await
        {
            tracing::warn!(notice = %notice.id, error = %e, "publishing a leak notice failed");
        }
        Ok(true)
    }
}
