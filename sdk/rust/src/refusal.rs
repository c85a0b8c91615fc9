//! What the layer answers instead of calling the service: an RFC 9457
//! problem (`application/problem+json`) with the verdict's code, or
//! `KEYWARD_UNAVAILABLE` when keyward could not decide.

use crate::types::{LimitUsage, VerdictCode};
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use time::OffsetDateTime;

/// The problem code of the 503 answered when keyward could not be asked
/// (unreachable, slower than the layer's timeout, or an answer that is not
/// a verdict or a record).
pub const UNAVAILABLE: &str = "KEYWARD_UNAVAILABLE";

/// The HTTP status the layer answers for a verdict code.
///
/// | code | status |
/// | --- | --- |
/// | `VALID` | passes to the service (200 here) |
/// | `MALFORMED` (a missing `Authorization` too), `NOT_FOUND` (an unknown id or a wrong secret), `DISABLED`, `REVOKED`, `EXPIRED`, `APPLICATION_REVOKED`, `OWNER_DELETED` | 401 |
/// | `INSUFFICIENT_SCOPE`, `IP_NOT_ALLOWED` | 403 |
/// | `RATE_LIMITED`, `USAGE_EXCEEDED` | 429 |
/// | `CENTRAL_CHECK_REQUIRED` (never left unresolved: keyward is asked) | 503 |
///
/// ```
/// use keyward_sdk::layer::status_for;
/// use keyward_sdk::types::VerdictCode;
///
/// assert_eq!(status_for(VerdictCode::Revoked).as_u16(), 401);
/// assert_eq!(status_for(VerdictCode::InsufficientScope).as_u16(), 403);
/// assert_eq!(status_for(VerdictCode::UsageExceeded).as_u16(), 429);
/// ```
pub fn status_for(code: VerdictCode) -> StatusCode {
    match code {
        VerdictCode::Valid => StatusCode::OK,
        VerdictCode::Malformed
        | VerdictCode::NotFound
        | VerdictCode::Disabled
        | VerdictCode::Revoked
        | VerdictCode::Expired
        | VerdictCode::ApplicationRevoked
        | VerdictCode::OwnerDeleted => StatusCode::UNAUTHORIZED,
        VerdictCode::InsufficientScope | VerdictCode::IpNotAllowed => StatusCode::FORBIDDEN,
        VerdictCode::RateLimited | VerdictCode::UsageExceeded => StatusCode::TOO_MANY_REQUESTS,
        // Fail closed: a metered key that keyward did not accept is refused.
        VerdictCode::CentralCheckRequired => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The problem's `detail` for a refusal: what a caller may learn, no more
/// than `POST /verify` tells (an unknown id and a wrong secret read the
/// same).
fn detail_for(code: VerdictCode) -> &'static str {
    match code {
        VerdictCode::Valid => "the key is valid",
        VerdictCode::Malformed => "no keyward key was presented in Authorization",
        VerdictCode::NotFound => "the key is not known",
        VerdictCode::Disabled => "the key is disabled",
        VerdictCode::Revoked => "the key is revoked",
        VerdictCode::Expired => "the key has expired",
        VerdictCode::ApplicationRevoked => "the key's application is revoked",
        VerdictCode::OwnerDeleted => "the key's owner has been offboarded",
        VerdictCode::InsufficientScope => "the key does not grant the scopes this route requires",
        VerdictCode::IpNotAllowed => "the key may not be used from this address",
        VerdictCode::RateLimited => "the key's rate limit is reached",
        VerdictCode::UsageExceeded => "the key's credits are spent",
        VerdictCode::CentralCheckRequired => "keyward could not verify the key",
    }
}

/// Why the layer refused a request.
pub(crate) enum Refusal {
    /// A verdict other than `VALID`; `detail` overrides the code's own.
    Verdict {
        code: VerdictCode,
        detail: Option<&'static str>,
        rate_limits: Vec<LimitUsage>,
    },
    /// keyward could not decide: 503.
    Unavailable,
}

impl Refusal {
    pub(crate) fn into_response(self) -> Response<Body> {
        match self {
            Refusal::Verdict {
                code,
                detail,
                rate_limits,
            } => {
                let status = status_for(code);
                let mut response =
                    problem(status, code.as_str(), detail.unwrap_or(detail_for(code)));
                let headers = response.headers_mut();
                if status == StatusCode::UNAUTHORIZED {
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                if code == VerdictCode::RateLimited
                    && let Some(seconds) = retry_after(&rate_limits, OffsetDateTime::now_utc())
                {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            Refusal::Unavailable => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                UNAVAILABLE,
                "the key could not be verified now: keyward was unreachable, too slow, or answered an error",
            ),
        }
    }
}

/// Seconds until the first exhausted rate limit's window ends.
fn retry_after(limits: &[LimitUsage], now: OffsetDateTime) -> Option<u64> {
    limits
        .iter()
        .filter(|l| l.remaining == 0)
        .map(|l| (l.reset_at - now).whole_seconds().max(1) as u64)
        .min()
}

/// An RFC 9457 body as keyward writes its own: `type` is
/// `urn:keyward:problem:` and the code in lower case with hyphens.
fn problem(status: StatusCode, code: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": format!("urn:keyward:problem:{}", code.to_ascii_lowercase().replace('_', "-")),
        "title": status.canonical_reason().unwrap_or(""),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    // A refusal depends on the key and the moment: no cache may keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn every_code_maps_to_its_documented_class() {
        for code in VerdictCode::ALL {
            let status = status_for(code).as_u16();
            let want = match code {
                VerdictCode::Valid => 200,
                VerdictCode::InsufficientScope | VerdictCode::IpNotAllowed => 403,
                VerdictCode::RateLimited | VerdictCode::UsageExceeded => 429,
                VerdictCode::CentralCheckRequired => 503,
                _ => 401,
            };
            assert_eq!(status, want, "{code:?}");
        }
    }

    #[test]
    fn retry_after_is_the_first_exhausted_window() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let limit = |remaining, in_seconds| LimitUsage {
            name: "l".into(),
            limit: 10,
            remaining,
            reset_at: now + Duration::seconds(in_seconds),
        };
        assert_eq!(
            retry_after(&[limit(0, 40), limit(0, 7), limit(3, 1)], now),
            Some(7)
        );
        assert_eq!(retry_after(&[limit(2, 5)], now), None);
        assert_eq!(retry_after(&[limit(0, 0)], now), Some(1));
    }
}
