//! Changes too large for one commit: revoking an application with many
//! keys, offboarding a user with many. DynamoDB transactions hold
//! [`MAX_COMMIT_WRITES`] items; past that a change commits in batches that a
//! retry carries on, each batch idempotent, and the last one commits with
//! the result through [`Service::run`].

use super::{MAX_ATTEMPTS, Plan, Service, back_off};
use crate::error::ApiError;
use crate::store::{CommitError, MAX_COMMIT_WRITES, Write};
use std::future::Future;

/// Writes kept free in the last commit beside the batched ones: the changed
/// object itself, its audit event and an idempotency record.
pub(super) const RESERVED_WRITES: usize = 3;

/// What one read of a large change found. `M` is what a batch marks, for
/// the final result to report.
pub(super) enum Step<T, M> {
    /// More than one commit holds: these writes go first, on their own,
    /// then the change is read again.
    Batch(Vec<Write>, M),
    /// The rest fits in one commit: the plan `run` commits.
    Last(Plan<T>),
}

/// True when `writes` and the reserved writes do not fit in one commit.
pub(super) fn exceeds_one_commit(writes: usize) -> bool {
    writes + RESERVED_WRITES > MAX_COMMIT_WRITES
}

impl Service {
    /// Reads the change with `step` until what is left fits in one commit,
    /// committing each batch it hands back on the way (a batch that
    /// conflicts with a concurrent change is simply read again, after a
    /// pause). `on_batch` hears what each committed batch marked.
    pub(super) async fn commit_in_batches<T, M, F, Fut>(
        &self,
        step: F,
        on_batch: impl Fn(M),
    ) -> Result<Plan<T>, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Step<T, M>, ApiError>>,
    {
        for attempt in 0..MAX_ATTEMPTS {
            match step().await? {
                Step::Last(plan) => return Ok(plan),
                Step::Batch(writes, marked) => match self.store.commit(writes).await {
                    Ok(()) => on_batch(marked),
                    Err(CommitError::Conflict) => back_off(attempt).await?,
                    Err(CommitError::Store(e)) => return Err(e.into()),
                },
            }
        }
        Err(ApiError::Conflict)
    }
}
