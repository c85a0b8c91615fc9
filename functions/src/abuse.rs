//! A per-source limit on failed verifications (the local server's defence
//! against guessing keys; in AWS, API Gateway's throttling plays this part).
//!
//! Each source gets a fixed window: once it has failed `limit` times within
//! `window`, every verification from it is refused with 429 until the window
//! ends, valid or not. Refusing only the failures would tell a guesser which
//! guess was right. Hand-written rather than `governor`: governor's keyed
//! limiter consumes a cell on every check and cannot peek, and here only
//! failures may consume.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked before ended windows are swept out.
const SWEEP_ABOVE: usize = 10_000;

pub struct FailedVerificationLimit {
    limit: u32,
    window: Duration,
    sources: Mutex<HashMap<IpAddr, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl FailedVerificationLimit {
    /// `limit` failures per `window` and source; `None` when `limit` is 0
    /// (no limit).
    pub fn new(limit: u32, window: Duration) -> Option<Self> {
        (limit > 0 && !window.is_zero()).then(|| FailedVerificationLimit {
            limit,
            window,
            sources: Mutex::new(HashMap::new()),
        })
    }

    /// While `source` is over its limit: the whole seconds until it may try
    /// again (at least 1, for `Retry-After`).
    pub fn retry_after(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let window = sources.get(&source)?;
        let ends = window.started + self.window;
        (window.failures >= self.limit && now < ends)
            .then(|| (ends - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    pub fn record_failure(&self, source: IpAddr, now: Instant) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() > SWEEP_ABOVE {
            sources.retain(|_, w| now < w.started + self.window);
        }
        let window = sources.entry(source).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started + self.window {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_source_is_refused_after_its_limit_until_the_window_ends() {
        let limit = FailedVerificationLimit::new(3, Duration::from_secs(10)).unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limit.retry_after(A, t0), None, "after {i} failures");
            limit.record_failure(A, t0 + Duration::from_secs(i));
        }
        assert_eq!(limit.retry_after(A, t0 + Duration::from_secs(2)), Some(8));
        assert_eq!(
            limit.retry_after(A, t0 + Duration::from_millis(9_500)),
            Some(1)
        );
        // Another source is not affected.
        assert_eq!(limit.retry_after(B, t0 + Duration::from_secs(2)), None);
        // A new window starts afresh.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limit.retry_after(A, later), None);
        limit.record_failure(A, later);
        assert_eq!(limit.retry_after(A, later), None);
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(FailedVerificationLimit::new(0, Duration::from_secs(60)).is_none());
        assert!(FailedVerificationLimit::new(5, Duration::ZERO).is_none());
    }

    #[test]
    fn ended_windows_are_swept_once_many_sources_are_tracked() {
        let limit = FailedVerificationLimit::new(1, Duration::from_secs(1)).unwrap();
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE as u32 {
            limit.record_failure(IpAddr::V4(i.into()), t0);
        }
        limit.record_failure(A, t0 + Duration::from_secs(2));
        assert_eq!(limit.sources.lock().unwrap().len(), 1);
    }
}
