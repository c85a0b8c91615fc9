//! Offboarding a user: every application it created, every live key under
//! them and every live key it created are marked owner-deleted, and the
//! user can create no more.

use super::batches::{Step, exceeds_one_commit};
use super::{Plan, Service};
use crate::auth::{Caller, perm};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{MAX_COMMIT_WRITES, Write};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use wasm_validator::OwnerStatus;

/// The longest user id accepted, in characters (as the OpenAPI document's
/// `maxLength` counts them), not UTF-8 bytes.
const MAX_USER_ID_CHARS: usize = 256;

/// What an offboarding marked.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Offboarded {
    pub user_id: String,
    pub applications: Vec<String>,
    pub keys: Vec<String>,
}

/// One item an offboarding marks, and which list it goes in.
struct Mark {
    write: Write,
    id: String,
    is_application: bool,
}

impl Offboarded {
    fn add(&mut self, marks: impl IntoIterator<Item = (String, bool)>) {
        for (id, is_application) in marks {
            if is_application {
                self.applications.push(id);
            } else {
                self.keys.push(id);
            }
        }
    }
}

impl Service {
    /// In one commit when one holds everything; otherwise the guard and a
    /// first batch commit first (applications first), and the rest is read
    /// again. From that commit on the user creates nothing more, so this
    /// ends; each batch is idempotent, so a retry after a failure carries
    /// on.
    pub async fn offboard_user(
        &self,
        caller: &Caller,
        user_id: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Offboarded, ApiError> {
        caller.require(perm::USERS_OFFBOARD)?;
        if user_id.is_empty() || user_id.chars().count() > MAX_USER_ID_CHARS {
            return Err(ApiError::InvalidQuery(format!(
                "the user id must be 1 to {MAX_USER_ID_CHARS} characters"
            )));
        }
        // What earlier batches marked. `run` may call the plan again after
        // a conflict, and those batches are committed by then: they are
        // remembered here, outside the plan, to be reported.
        let committed = Mutex::new(Offboarded {
            user_id: user_id.to_owned(),
            ..Offboarded::default()
        });
        let committed = &committed;
        self.run(idempotency, |now| {
            self.commit_in_batches(
                move || async move {
                    let earlier = committed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    self.offboard_step(caller, user_id, earlier, now).await
                },
                |marked: Vec<(String, bool)>| {
                    committed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add(marked);
                },
            )
        })
        .await
    }

    async fn offboard_step(
        &self,
        caller: &Caller,
        user_id: &str,
        mut summary: Offboarded,
        now: i64,
    ) -> Result<Step<Offboarded, Vec<(String, bool)>>, ApiError> {
        // Read before listing: a creation by the user that commits after
        // this read bumps the guard, so this commit conflicts and the
        // re-plan sees what it created.
        let guard = self.store.user_guard(&caller.account, user_id).await?;
        let guard = Write::UserGuard {
            account: caller.account.clone(),
            user_id: user_id.to_owned(),
            expected: guard.version,
            offboarded: true,
            at: now,
        };
        let mut marks = Vec::new();
        let mut owned_apps = HashSet::new();
        for app in self.store.list_applications(&caller.account).await? {
            if app.created_by != user_id {
                continue;
            }
            owned_apps.insert(app.id.clone());
            if app.owner_status == OwnerStatus::Active {
                let (id, version) = (app.id.clone(), app.version);
                let mut updated = app;
                updated.owner_status = OwnerStatus::Deleted;
                updated.updated_at = now;
                marks.push(Mark {
                    write: Write::Application {
                        item: updated,
                        expected: Some(version),
                    },
                    id,
                    is_application: true,
                });
            }
        }
        for key in self.store.list_account_keys(&caller.account).await? {
            let owned = key.created_by == user_id || owned_apps.contains(&key.application_id);
            // Live keys only, as when an application is revoked: a key
            // already revoked or expired keeps its verdict.
            if owned && key.owner_status == OwnerStatus::Active && key.is_live(now) {
                let (id, version) = (key.id.clone(), key.version);
                let mut updated = key;
                updated.owner_status = OwnerStatus::Deleted;
                updated.updated_at = now;
                marks.push(Mark {
                    write: Write::Key {
                        item: updated,
                        expected: Some(version),
                    },
                    id,
                    is_application: false,
                });
            }
        }
        let batch = exceeds_one_commit(marks.len());
        if batch {
            // The guard takes one place.
            marks.truncate(MAX_COMMIT_WRITES - 1);
        }
        let mut writes = vec![guard];
        let mut marked = Vec::with_capacity(marks.len());
        for mark in marks {
            writes.push(mark.write);
            marked.push((mark.id, mark.is_application));
        }
        if batch {
            return Ok(Step::Batch(writes, marked));
        }
        summary.add(marked);
        writes.push(self.audit(
            caller,
            "user.offboarded",
            ("user", user_id),
            None,
            Some(serde_json::to_value(&summary).unwrap_or_default()),
            now,
        )?);
        Ok(Step::Last(Plan {
            writes,
            result: summary,
        }))
    }
}
