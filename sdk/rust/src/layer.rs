//! A tower [`Layer`] for axum services: verifies the key in `Authorization`
//! before the service runs, puts the [`Verdict`] in the request's
//! extensions, and answers a refusal with a problem (401, 403, 429), or 503
//! when keyward cannot decide. It never lets a request through unverified.
//!
//! Two modes:
//!
//! - **remote** ([`VerifyKeyLayer::remote`]): every request is one
//!   `POST /verify`, with the request's source address, the layer's scopes
//!   and cost. Changes in keyward apply at once; each request waits for
//!   keyward.
//! - **local** ([`VerifyKeyLayer::local`]): the core's own decision
//!   ([`wasm_validator::verdict_for`]) over the key's record, fetched with
//!   `GET /keys/{id}/record` and cached ([`CacheConfig`]). A metered key
//!   (rate limits or credits) is decided by keyward: the core answers
//!   `CENTRAL_CHECK_REQUIRED` and the layer asks `POST /verify`.

pub use crate::cache::CacheConfig;
pub use crate::refusal::{UNAVAILABLE, status_for};

use crate::cache::RecordCache;
use crate::refusal::Refusal;
use crate::types::{Verdict, VerdictCode, VerifyRequest};
use crate::{Client, Error};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{Request, Response, header};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower::{Layer, Service};

/// How long the layer waits for keyward (a record fetch or a
/// `POST /verify`) before it refuses with 503.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

type SourceIpFn = dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync;

/// The layer. Clones share the record cache and the counters, so one
/// layer made for an app can guard several routes with different scopes
/// ([`VerifyKeyLayer::scopes`]) over one cache.
#[derive(Clone)]
pub struct VerifyKeyLayer {
    client: Client,
    cache: Option<RecordCache>,
    counters: Arc<Counters>,
    timeout: Duration,
    source_ip: Arc<SourceIpFn>,
    scopes: Arc<[String]>,
    cost: Option<u32>,
}

impl std::fmt::Debug for VerifyKeyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKeyLayer")
            .field(
                "mode",
                &if self.cache.is_some() {
                    "local"
                } else {
                    "remote"
                },
            )
            .field("timeout", &self.timeout)
            .field("scopes", &self.scopes)
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl VerifyKeyLayer {
    /// Every request is verified with `POST /verify` (no token needed).
    pub fn remote(client: Client) -> Self {
        Self::new(client, None)
    }

    /// Requests are verified by the core over cached records; `client`
    /// needs a token with `records:read` in the keys' account.
    pub fn local(client: Client, cache: CacheConfig) -> Self {
        Self::new(client, Some(RecordCache::new(cache)))
    }

    fn new(client: Client, cache: Option<RecordCache>) -> Self {
        VerifyKeyLayer {
            client,
            cache,
            counters: Arc::default(),
            timeout: DEFAULT_TIMEOUT,
            source_ip: Arc::new(connect_info_ip),
            scopes: Arc::from([]),
            cost: None,
        }
    }

    /// The scopes the guarded routes require; each must be granted by the
    /// key (else 403 `INSUFFICIENT_SCOPE`). The returned layer shares this
    /// one's cache.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The units a request takes from a metered key (keyward's default: 1).
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = Some(cost);
        self
    }

    /// How long to wait for keyward before refusing with 503
    /// ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where the request came from, for keys with allowed addresses. The
    /// default is the peer address of axum's `ConnectInfo<SocketAddr>`
    /// (serve with `into_make_service_with_connect_info::<SocketAddr>()`);
    /// behind a proxy, read the address your proxy sets, trusting only the
    /// hop it appends. `None` is unknown, which a restricted key refuses.
    pub fn source_ip(
        mut self,
        source_ip: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.source_ip = Arc::new(source_ip);
        self
    }

    /// What the layer (and every clone of it) has done so far.
    pub fn stats(&self) -> LayerStats {
        self.counters.snapshot()
    }
}

fn connect_info_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

impl<S> Layer<S> for VerifyKeyLayer {
    type Service = VerifyKey<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyKey {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// The service [`VerifyKeyLayer`] wraps around an axum service.
#[derive(Clone)]
pub struct VerifyKey<S> {
    inner: S,
    layer: Arc<VerifyKeyLayer>,
}

impl<S> std::fmt::Debug for VerifyKey<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for VerifyKey<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match layer.decide(&parts).await {
                Ok(verdict) => {
                    parts.extensions.insert(verdict);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}

impl VerifyKeyLayer {
    /// The verdict for a request, or why it is refused.
    async fn decide(&self, parts: &Parts) -> Result<Verdict, Refusal> {
        self.counters.requests.fetch_add(1, Relaxed);
        // A header that is not visible ASCII cannot hold a key: the core
        // reads it as malformed, like an absent one.
        let presented = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => value.to_str().unwrap_or("\u{0}"),
            None => "",
        };
        // Shape and checksum first, in both modes: a malformed key costs
        // keyward nothing.
        let parsed = match wasm_validator::parse(presented) {
            Ok(parsed) => parsed,
            Err(reason) => {
                return Err(Refusal::Verdict {
                    code: VerdictCode::Malformed,
                    detail: Some(reason.message()),
                    rate_limits: Vec::new(),
                });
            }
        };
        let source_ip = (self.source_ip)(parts).map(|ip| ip.to_canonical());
        let verdict = match &self.cache {
            None => self.verify_remotely(parsed.full, source_ip).await?,
            Some(cache) => {
                let record = cache
                    .record(parsed.key_id, &self.client, self.timeout, &self.counters)
                    .await
                    .map_err(|e| self.unavailable(&e))?;
                let required: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
                let verdict = wasm_validator::verdict_for(
                    &parsed,
                    record.as_deref(),
                    &required,
                    unix_now(),
                    source_ip,
                );
                if verdict.code == VerdictCode::CentralCheckRequired {
                    // Only keyward holds the counters of a metered key.
                    self.counters.central_checks.fetch_add(1, Relaxed);
                    self.verify_remotely(parsed.full, source_ip).await?
                } else {
                    Verdict::from(verdict)
                }
            }
        };
        if verdict.valid {
            return Ok(verdict);
        }
        tracing::debug!(
            code = verdict.code.as_str(),
            key_id = verdict.key_id.as_deref(),
            "keyward-sdk: key refused"
        );
        Err(Refusal::Verdict {
            code: verdict.code,
            detail: None,
            rate_limits: verdict.rate_limits,
        })
    }

    async fn verify_remotely(
        &self,
        key: &str,
        source_ip: Option<IpAddr>,
    ) -> Result<Verdict, Refusal> {
        self.counters.remote_verifications.fetch_add(1, Relaxed);
        let request = VerifyRequest {
            key,
            scopes: self.scopes.to_vec(),
            source_ip,
            cost: self.cost,
        };
        let verdict = self
            .client
            .verify(&request)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.unavailable(&e))?;
        // keyward resolves a metered key itself; this code from it would
        // be a fault, and a fault refuses.
        if verdict.code == VerdictCode::CentralCheckRequired {
            return Err(Refusal::Unavailable);
        }
        Ok(verdict)
    }

    fn unavailable(&self, error: &Error) -> Refusal {
        self.counters.unavailable.fetch_add(1, Relaxed);
        tracing::warn!(error = %error, "keyward-sdk: keyward could not verify; refusing with 503");
        Refusal::Unavailable
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The layer's counters (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) record_fetches: AtomicU64,
    central_checks: AtomicU64,
    remote_verifications: AtomicU64,
    unavailable: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LayerStats {
        LayerStats {
            requests: self.requests.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_misses: self.cache_misses.load(Relaxed),
            record_fetches: self.record_fetches.load(Relaxed),
            central_checks: self.central_checks.load(Relaxed),
            remote_verifications: self.remote_verifications.load(Relaxed),
            unavailable: self.unavailable.load(Relaxed),
        }
    }
}

/// What a layer has done: for dashboards, and to see the cache at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Requests the layer decided on.
    pub requests: u64,
    /// Local mode: records (or "no such key") found in the cache.
    pub cache_hits: u64,
    /// Local mode: look-ups that found nothing fresh in the cache.
    pub cache_misses: u64,
    /// Local mode: `GET /keys/{id}/record` calls made. Misses that waited
    /// for another request's fetch of the same id made none.
    pub record_fetches: u64,
    /// Local mode: metered keys passed on to `POST /verify`.
    pub central_checks: u64,
    /// `POST /verify` calls made (every request in remote mode).
    pub remote_verifications: u64,
    /// Requests refused with 503 because keyward could not decide.
    pub unavailable: u64,
}

impl LayerStats {
    /// Cache hits over look-ups (0 before any).
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.cache_hits + self.cache_misses;
        if lookups == 0 {
            0.0
        } else {
            self.cache_hits as f64 / lookups as f64
        }
    }

    /// Misses served by another request's fetch (single flight).
    pub fn coalesced(&self) -> u64 {
        self.cache_misses.saturating_sub(self.record_fetches)
    }
}
