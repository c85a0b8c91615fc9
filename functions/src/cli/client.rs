//! The CLI's one way to the service: the public HTTP API over `reqwest`,
//! with the bearer token, JSON bodies, every page of a list, and every
//! answer that is not a success turned into a [`Failure`] whose exit status
//! says whose fault it was.

use super::exit;
use crate::error::chain;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;

/// The largest page the API serves (`service::paging::MAX_PAGE_LIMIT`).
const MAX_PAGE: usize = 100;

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// The API answered with an RFC 9457 problem (or with an error status
    /// and no problem body, which gets the code `HTTP_<status>`).
    Problem {
        status: StatusCode,
        code: String,
        detail: String,
    },
    /// The API could not be reached, timed out, or answered something
    /// that is not the API's JSON.
    Unavailable { code: &'static str, detail: String },
    /// The command line was usable by clap but not by us (a token that
    /// cannot be a header, a key that could not be read from stdin).
    Usage(String),
    /// The person at the terminal declined a confirmation.
    Cancelled,
}

impl Failure {
    /// 1 for the caller's problems (4xx), 3 for the service's or the
    /// network's (5xx, refused, timed out, a redirect the API never sends),
    /// 2 for usage errors: scripts can retry on 3 and not on 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Problem { status, .. } if status.is_client_error() => exit::PROBLEM,
            Failure::Problem { .. } | Failure::Unavailable { .. } => exit::UNAVAILABLE,
            Failure::Usage(_) => exit::USAGE,
            Failure::Cancelled => exit::PROBLEM,
        }
    }

    /// `CODE: detail` on stderr, and for a missing or refused token a
    /// hint at where one comes from.
    pub fn report(&self) {
        match self {
            Failure::Problem { code, detail, .. } => {
                eprintln!("{code}: {}", super::output::printable(detail));
                if matches!(
                    code.as_str(),
                    "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED"
                ) {
                    eprintln!(
                        "hint: set KEYWARD_TOKEN to a bearer token (for the local server: \
                         keyward token --sub USER --account ACCOUNT --all)"
                    );
                }
            }
            Failure::Unavailable { code, detail } => eprintln!("{code}: {detail}"),
            Failure::Usage(detail) => eprintln!("USAGE: {detail}"),
            Failure::Cancelled => eprintln!("CANCELLED: nothing was changed"),
        }
    }
}

/// A client of one API with one (optional) bearer token.
pub struct Client {
    http: reqwest::Client,
    api: Url,
    authorization: Option<HeaderValue>,
}

impl Client {
    pub fn new(api: Url, token: Option<&str>) -> Result<Client, Failure> {
        let authorization = match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Failure::Usage("the token holds characters a header cannot carry".into())
                    })?;
                // Kept out of reqwest's debug output.
                value.set_sensitive(true);
                Some(value)
            }
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // The API never redirects; following one would send the token
            // on to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            // Loading the system's trust roots is most of a short command's
            // start-up; a plain-http API (the local server) needs none.
            .tls_built_in_root_certs(api.scheme() == "https")
            .build()
            .map_err(|e| Failure::Unavailable {
                code: "CLIENT",
                detail: format!("cannot build the HTTP client: {}", chain(&e)),
            })?;
        Ok(Client {
            http,
            api,
            authorization,
        })
    }

    /// The API's address of `segments`, each percent-encoded as one path
    /// segment (an id cannot reach another route), under the API's own
    /// path (an API Gateway stage, say).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Value, Failure> {
        self.send(Method::GET, segments, &[], None, None, true)
            .await
    }

    pub async fn post(
        &self,
        segments: &[&str],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        self.send(Method::POST, segments, &[], body, idempotency_key, true)
            .await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value, Failure> {
        self.send(Method::PATCH, segments, &[], Some(body), None, true)
            .await
    }

    /// `null` when the API answers with no body (204).
    pub async fn delete(&self, segments: &[&str]) -> Result<Value, Failure> {
        self.send(Method::DELETE, segments, &[], None, None, true)
            .await
    }

    /// `POST /verify`, which needs no token: none is sent, so a key check
    /// never hands the management token to whatever answers it.
    pub async fn verify(&self, body: &Value) -> Result<Value, Failure> {
        self.send(Method::POST, &["verify"], &[], Some(body), None, false)
            .await
    }

    /// Every item of a paginated list, or the first `limit` of them, as
    /// one answer of the API's shape: `{items, next_cursor}`, where
    /// `next_cursor` continues after the last item returned (`null` at the
    /// end).
    pub async fn list(&self, segments: &[&str], limit: Option<usize>) -> Result<Value, Failure> {
        let mut items: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            // Each page asks for exactly what is still wanted, so that the
            // last page's cursor follows the last item kept.
            let want = limit.map_or(MAX_PAGE, |l| l.saturating_sub(items.len()).min(MAX_PAGE));
            let mut query = vec![("limit", want.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page = self
                .send(Method::GET, segments, &query, None, None, true)
                .await?;
            let Some(page_items) = page.get("items").and_then(Value::as_array) else {
                return Err(not_api("a list answer without `items`"));
            };
            items.extend(page_items.iter().cloned());
            let next = page
                .get("next_cursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            // A cursor that does not move would page forever.
            if next.is_some() && next == cursor {
                return Err(not_api("a list whose next_cursor does not move"));
            }
            cursor = next;
            let enough = limit.is_some_and(|l| items.len() >= l);
            if cursor.is_none() || enough {
                break;
            }
        }
        Ok(json!({ "items": items, "next_cursor": cursor }))
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        authenticated: bool,
    ) -> Result<Value, Failure> {
        let url = self.url(segments);
        let mut request = self.http.request(method, url.clone());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let (true, Some(value)) = (authenticated, &self.authorization) {
            request = request.header(AUTHORIZATION, value.clone());
        }
        if let Some(key) = idempotency_key {
            request = request.header(crate::idempotency::HEADER, key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(&self.api, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.api, &e))?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|_| not_api(&format!("a {status} answer that is not JSON")));
        }
        Err(problem(status, &bytes))
    }
}

/// The problem an error answer carries, or one made from its status when
/// it carries none (a proxy's HTML page, an empty 502).
fn problem(status: StatusCode, body: &[u8]) -> Failure {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let text = |name: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Failure::Problem {
        status,
        code: text("code").unwrap_or_else(|| format!("HTTP_{}", status.as_u16())),
        detail: text("detail")
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_else(|| "the API refused the request".into()),
    }
}

fn unreachable(api: &Url, error: &reqwest::Error) -> Failure {
    let code = if error.is_timeout() {
        "TIMEOUT"
    } else {
        "UNREACHABLE"
    };
    Failure::Unavailable {
        code,
        detail: format!("cannot reach the API at {api}: {}", chain(error)),
    }
}

fn not_api(what: &str) -> Failure {
    Failure::Unavailable {
        code: "BAD_ANSWER",
        detail: format!("the API sent {what}; is --api the keyward API?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(api: &str) -> Client {
        Client::new(Url::parse(api).unwrap(), None).unwrap()
    }

    #[test]
    fn ids_stay_one_path_segment_under_the_api_path() {
        let c = client("https://api.example.com/prod/");
        assert_eq!(
            c.url(&["keys", "a/../b?c", "disable"]).as_str(),
            "https://api.example.com/prod/keys/a%2F..%2Fb%3Fc/disable"
        );
        let c = client("http://127.0.0.1:8080");
        assert_eq!(c.url(&["verify"]).as_str(), "http://127.0.0.1:8080/verify");
    }

    #[test]
    fn problems_keep_their_code_and_statuses_pick_the_exit() {
        let refused = problem(
            StatusCode::NOT_FOUND,
            br#"{"code":"KEY_NOT_FOUND","detail":"no key with this id"}"#,
        );
        assert_eq!(refused.exit_status(), exit::PROBLEM);
        assert!(matches!(&refused, Failure::Problem { code, .. } if code == "KEY_NOT_FOUND"));
        let proxy = problem(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(proxy.exit_status(), exit::UNAVAILABLE);
        assert!(matches!(&proxy, Failure::Problem { code, detail, .. }
            if code == "HTTP_502" && detail == "Bad Gateway"));
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_a_usage_error() {
        let api = Url::parse("http://127.0.0.1:8080").unwrap();
        let failure = Client::new(api, Some("a\nb")).err().unwrap();
        assert_eq!(failure.exit_status(), exit::USAGE);
    }
}
