//! `last_used_at`, off the verification path: verifications note a use in
//! memory; a background flush writes them in one batch, at most once per
//! key and resolution (`KEYWARD_USAGE_RESOLUTION_SECONDS`, a minute by
//! default).

use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct LastUsedRecorder {
    /// A key's use is written at most once per this many seconds.
    resolution_seconds: i64,
    state: Mutex<LastUsedState>,
}

#[derive(Default)]
struct LastUsedState {
    /// Uses not yet written.
    pending: HashMap<String, i64>,
    /// When each recently used key was last written.
    written: HashMap<String, i64>,
}

impl LastUsedRecorder {
    pub fn new(resolution_seconds: u32) -> Self {
        LastUsedRecorder {
            resolution_seconds: i64::from(resolution_seconds),
            state: Mutex::default(),
        }
    }

    /// Notes a successful verification. Cheap: one map look-up.
    pub fn record(&self, key_id: &str, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .written
            .get(key_id)
            .is_none_or(|at| now - at >= self.resolution_seconds);
        if due {
            state.pending.entry(key_id.to_owned()).or_insert(now);
        }
    }

    /// Writes pending uses in one batch; returns how many keys it wrote.
    pub async fn flush(
        &self,
        store: &dyn Store,
        now: i64,
    ) -> Result<usize, crate::store::StoreError> {
        let batch: Vec<(String, i64)> = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state
                .written
                .retain(|_, at| now - *at < self.resolution_seconds);
            state.pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let result = store.record_key_use(&batch).await;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                for (id, at) in &batch {
                    state.written.insert(id.clone(), *at);
                }
                Ok(batch.len())
            }
            Err(e) => {
                // Keep the uses for the next flush.
                for (id, at) in batch {
                    state.pending.entry(id).or_insert(at);
                }
                Err(e)
            }
        }
    }
}
