//! Telling an OS crash from a clean restart, for the credit counters.
//!
//! Debits commit without an fsync (`meter.rs`), so only an OS crash or a
//! power cut can lose some, and then every credit balance must be set down
//! to its durable floor. A crash of the process loses nothing: its commits
//! are in the OS's cache, which the next process reads.
//!
//! `meter_state` counts the stores that have the file open and records the
//! machine's boot (Linux's `boot_id`, new at every boot). A store counts
//! itself in when it opens and out when the last handle to it is dropped;
//! the count-out is a `FULL` commit, which syncs every debit before it. So
//! when a store opens under another boot while the count is above zero, a
//! store had the file open when the machine went down (or was killed
//! earlier and never counted out): the floors apply. The count then starts
//! again from this store. Under the same boot nothing can have been lost,
//! however many stores were killed.
//!
//! Where the OS gives no boot id (not Linux), every open while the count
//! is above zero (another store has the file open, or one was killed)
//! applies the floors: at most one lease per key is lost each time, and no
//! credit is ever added.

use crate::store::StoreResult;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::{Arc, Mutex};

/// Linux's id of the current boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's id, when the OS tells it.
pub(super) fn boot_id() -> Option<String> {
    std::fs::read_to_string(BOOT_ID)
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Counts a store in on the writing connection (at `synchronous = FULL`),
/// applying the floors first when an earlier boot left the file open.
/// Returns how many balances were set down.
pub(super) fn count_in(conn: &mut Connection, boot: Option<&str>) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let state = tx
        .query_row(
            "SELECT boot, open FROM meter_state WHERE id = 0",
            [],
            |row| Ok((row.get::<_, Option<String>>(0)?, row.get::<_, i64>(1)?)),
        )
        .optional()?;
    let (stored_boot, open) = state.unwrap_or((None, 0));
    let same_boot = boot.is_some() && stored_boot.as_deref() == boot;
    let mut lowered = 0;
    if open > 0 && !same_boot {
        lowered = tx.execute(
            "UPDATE meters SET remaining = floor WHERE remaining > floor",
            [],
        )?;
        if lowered > 0 {
            tracing::warn!(
                balances = lowered,
                "the data file was open when the machine went down: credit balances \
                 were set to their durable floor (each lost at most its last lease)"
            );
        }
    }
    // Under a new boot, every store counted before is gone; with no boot
    // id, the stores still counted may be running.
    let carried = if same_boot || boot.is_none() { open } else { 0 };
    tx.execute(
        "INSERT INTO meter_state (id, boot, open) VALUES (0, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET boot = excluded.boot, open = excluded.open",
        params![boot, carried + 1],
    )?;
    tx.commit()?;
    Ok(lowered)
}

/// Counts a store out when its last handle is dropped.
pub(super) struct Counted {
    /// The writing connection (`synchronous = FULL`).
    pub(super) conn: Arc<Mutex<Connection>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = conn.execute(
            "UPDATE meter_state SET open = max(open - 1, 0) WHERE id = 0",
            [],
        ) {
            // Only costs a lease per key if the machine restarts before
            // the next clean close.
            tracing::warn!(error = %e, "could not count the store out of the data file");
        }
    }
}
