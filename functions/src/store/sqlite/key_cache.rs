//! The exact cache of `get_key` answers: see [`KeyCache`].

use crate::domain::Key;
use crate::store::{StoreError, StoreResult};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The largest number of answers [`KeyCache`] holds, known and unknown ids
/// alike; past it, it starts again empty (every commit empties it anyway).
///
/// Emptying, not evicting one entry, because it treats both kinds the same:
/// whatever ids an attacker floods it with, an id it probes is afterwards
/// cached, or not, the same way whether or not a key has it, and a read
/// costs the same for both (one real item read and decoded). A flood of
/// random ids costs the holders of real keys one SQLite read per key per
/// `KEY_CACHE_ITEMS` flooding requests. An entry is a 22-character id and
/// one key item, so the whole cache stays within tens of megabytes.
pub(super) const KEY_CACHE_ITEMS: usize = 10_000;

/// A cache of `get_key` answers (every verification), which is never stale:
/// an answer is served from it only while the database is exactly as it was
/// when the answer was read.
///
/// It holds the answers for unknown ids as well as the key items: a
/// verifier must not tell an unknown id from a known id with a wrong
/// secret, and when only known ids were cached an unknown one cost a SQLite
/// read that a known one did not (about 4 µs over loopback). An unknown id
/// is filed with the real key item that `get_key` read in its stead (the
/// next key by id), and an answer is that item's copy either way, dropped
/// here when its id differs: both cost one header read, one lookup and one
/// copy of a real item (BENCHMARKS.md, "Store"). A key created after its id
/// was cached as unknown is a commit, which empties the cache, so it
/// verifies at once.
///
/// "Exactly as it was" is the WAL index header in the `-shm` file: SQLite
/// rewrites it in every commit, by any connection of any process, before
/// the commit returns (its `iChange` counter goes up by one; a WAL restart
/// changes its salts), and readers of every process read it from that file
/// (https://sqlite.org/walformat.html, "The WAL-Index Header"). One `pread`
/// of its two copies costs less than the `fcntl` lock calls of a SQLite
/// read transaction, which were most of a verification's SQLite time in
/// `keyward serve`; a key read then needs no SQLite call at all
/// (BENCHMARKS.md, "HTTP"). So a revocation, by this process or another,
/// is seen by the very next verification.
///
/// The header is read before the item: an item read after a commit that
/// followed the header read is filed under the older header, which no
/// longer matches, so it is never served. Whenever the header cannot be
/// read whole, or its two copies differ (a commit is writing it), the read
/// goes to SQLite and nothing is cached.
pub(super) struct KeyCache {
    /// The database's `-shm` file, which SQLite keeps while any connection
    /// (ours included) has the database open in WAL mode.
    shm: std::fs::File,
    state: Mutex<KeyCacheState>,
}

#[derive(Default)]
struct KeyCacheState {
    /// The header the cached answers were read under.
    header: Option<Header>,
    /// By the id asked for: its key, or for an id no key has, the key item
    /// read in its stead (another id).
    answers: HashMap<String, Key>,
}

/// The WAL index header's two 48-byte copies, at the start of `-shm`.
const WAL_INDEX_HEADERS: usize = 96;

pub(super) type Header = [u8; WAL_INDEX_HEADERS];

impl KeyCache {
    pub(super) fn open(db: &Path) -> StoreResult<Self> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let shm = std::fs::File::open(&shm)
            .map_err(|e| StoreError::internal("cannot open the WAL index", e))?;
        Ok(KeyCache {
            shm,
            state: Mutex::default(),
        })
    }

    /// The WAL index header now, or `None` when it cannot be trusted.
    #[cfg(unix)]
    pub(super) fn header(&self) -> Option<Header> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; WAL_INDEX_HEADERS];
        self.shm.read_exact_at(&mut bytes, 0).ok()?;
        let (first, second) = bytes.split_at(WAL_INDEX_HEADERS / 2);
        (first == second).then_some(bytes)
    }

    /// Elsewhere nothing is cached (no positioned read without moving the
    /// file's cursor, which concurrent readers would share).
    #[cfg(not(unix))]
    pub(super) fn header(&self) -> Option<Header> {
        None
    }

    /// The answer read under `header`: `Some(None)` for an id known to have
    /// no key, `None` when nothing is cached for it.
    pub(super) fn get(&self, header: &Header, id: &str) -> Option<Option<Key>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let answer = match state.header {
            Some(ref at) if at == header => state.answers.get(id).cloned(),
            _ => None,
        };
        drop(state);
        // Copied either way, and the stand-in dropped here: what the caller
        // does with a known key's copy.
        answer.map(|key| (key.id == id).then_some(key))
    }

    /// Keeps the cached answers across a commit that changed no key (a
    /// debit's, `meter.rs`): `before` is the header read while that commit
    /// held the write lock, before it wrote. When the header now counts
    /// exactly one commit more (`iChange`, a native-endian `u32` at byte 8,
    /// goes up by one per commit and by nothing else), that commit is the
    /// only change since `before`, and answers read under `before` are
    /// filed under the header now. Anything else, another commit in
    /// between included, leaves the cache to empty itself as usual.
    /// Returns the header now, when it could be read.
    pub(super) fn carry_over(&self, before: &Header) -> Option<Header> {
        let now = self.header()?;
        if change_counter(&now) == change_counter(before).wrapping_add(1) {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.header.as_ref() == Some(before) {
                state.header = Some(now);
            }
        }
        Some(now)
    }

    /// Files `read`, the item `get_key` read for `id`: its key, or the one
    /// read in its stead.
    pub(super) fn put(&self, header: Header, id: &str, read: &Key) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.header != Some(header) || state.answers.len() >= KEY_CACHE_ITEMS {
            state.answers.clear();
            state.header = Some(header);
        }
        state.answers.insert(id.to_owned(), read.clone());
    }
}

/// The WAL index header's `iChange`: commits since the index was made.
fn change_counter(header: &Header) -> u32 {
    u32::from_ne_bytes([header[8], header[9], header[10], header[11]])
}

/// The WAL index header's `mxFrame`: frames in the WAL, checkpointed or
/// not, since it last started again from its beginning.
pub(super) fn wal_frames(header: &Header) -> u32 {
    u32::from_ne_bytes([header[16], header[17], header[18], header[19]])
}
