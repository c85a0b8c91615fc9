//! Local mode's record cache: `GET /keys/{id}/record` answers kept for a
//! bounded time, "no such key" answers for a shorter one, one fetch per key
//! however many requests wait for it, and never an entry past its TTL.

use crate::layer::Counters;
use crate::{Client, Error, KeyRecord};
use moka::Expiry;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How local mode caches records.
///
/// `ttl` is how long a fetched record is used without asking keyward
/// again: a key disabled, revoked or restricted in keyward can still be
/// accepted by this layer for up to `ttl` after the change. A record's own
/// expiry (`expires_at`) and a regenerated key's grace period are checked
/// on every request, cached or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// At most this many records (and "no such key" answers) are kept.
    pub max_entries: u64,
    /// How long a record is used before it is fetched again.
    pub ttl: Duration,
    /// How long an unknown key id is remembered as unknown, so that a
    /// client retrying a wrong key does not cost keyward a read each time.
    /// Shorter than `ttl`: a key created after a miss is found sooner.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            ttl: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(2),
        }
    }
}

/// One cached answer of the record route.
#[derive(Clone)]
enum Entry {
    Found(Arc<KeyRecord>),
    /// `404 KEY_NOT_FOUND`: no key with this id in the token's account.
    Missing,
}

/// Each entry lives for its kind's TTL from the moment it was fetched.
struct PerKind {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<String, Entry> for PerKind {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(match entry {
            Entry::Found(_) => self.ttl,
            Entry::Missing => self.negative_ttl,
        })
    }
}

#[derive(Clone)]
pub(crate) struct RecordCache {
    entries: moka::future::Cache<String, Entry>,
}

impl RecordCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(PerKind {
                ttl: config.ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        RecordCache { entries }
    }

    /// The record of `key_id` (`None`: keyward has no such key), from the
    /// cache or fetched with `client` within `timeout`. Concurrent misses
    /// for one id share one fetch; a failed fetch is not cached, and every
    /// request that waited for it gets its error.
    pub(crate) async fn record(
        &self,
        key_id: &str,
        client: &Client,
        timeout: Duration,
        counters: &Counters,
    ) -> Result<Option<Arc<KeyRecord>>, Arc<Error>> {
        // moka never returns an expired entry, evicted yet or not.
        let entry = match self.entries.get(key_id).await {
            Some(entry) => {
                counters.cache_hits.fetch_add(1, Relaxed);
                entry
            }
            None => {
                counters.cache_misses.fetch_add(1, Relaxed);
                let fetch = async {
                    counters.record_fetches.fetch_add(1, Relaxed);
                    fetch(client, key_id, timeout).await
                };
                self.entries.try_get_with_by_ref(key_id, fetch).await?
            }
        };
        Ok(match entry {
            Entry::Found(record) => Some(record),
            Entry::Missing => None,
        })
    }
}

async fn fetch(client: &Client, key_id: &str, timeout: Duration) -> Result<Entry, Error> {
    match client.get_key_record(key_id).timeout(timeout).send().await {
        Ok(record) => Ok(Entry::Found(Arc::new(record))),
        // Only keyward's own "no such key" is an answer; any other 404
        // (a wrong base URL's ROUTE_NOT_FOUND, a proxy's) is a failure, so
        // a misconfiguration refuses with 503 rather than calling every
        // key unknown.
        Err(Error::Api(problem)) if problem.status == 404 && problem.code == "KEY_NOT_FOUND" => {
            Ok(Entry::Missing)
        }
        Err(e) => Err(e),
    }
}
