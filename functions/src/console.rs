//! The web console: the static files of `console/`, embedded in the binary
//! and served by the local server at `/` (never by a Lambda function's
//! router), and the CORS the API needs when a copy of those files is hosted
//! on another origin.
//!
//! The console is plain HTML, CSS and JavaScript modules with no build step,
//! so the files in `console/` are also the static site to upload elsewhere.
//! The one thing served differently here: `index.html` names the account
//! claim this server reads (`KEYWARD_ACCOUNT_CLAIM`), which the console
//! needs to show the account and cannot learn from an API route.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

use crate::http::AppState;

/// One embedded file and the path it is served at.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:expr, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../console/", $file)),
        }
    };
    ($file:literal, $content_type:expr) => {
        asset!(concat!("/", $file), $file, $content_type)
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the console. The page links its files relatively, so the
/// same names work at `/` here and at any folder of a static host.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("index.html", HTML),
    asset!("base.css", CSS),
    asset!("components.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("page.js", JS),
    asset!("session.js", JS),
    asset!("signin.js", JS),
    asset!("applications.js", JS),
    asset!("keys.js", JS),
    asset!("key.js", JS),
    asset!("controls.js", JS),
    asset!("usage.js", JS),
    asset!("notifications.js", JS),
    asset!("audit.js", JS),
    asset!("leaks.js", JS),
    asset!("webhooks.js", JS),
    asset!("ui.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Scripts and styles only from this origin (no inline script or style, no
/// eval), API calls only to this origin, no framing, no plugins. The copy
/// of `index.html` on a static host carries its own policy in a meta tag.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The account-claim tag as `console/index.html` ships it (the server's
/// default claim); [`index_html`] writes the configured claim in its place.
pub const ACCOUNT_CLAIM_META: &str = r#"<meta name="keyward-account-claim" content="account">"#;

/// `index.html` naming `account_claim`, escaped for an attribute value
/// (the claim name is configuration, but any text must stay text).
pub fn index_html(template: &[u8], account_claim: &str) -> Vec<u8> {
    let template = std::str::from_utf8(template).expect("index.html is UTF-8");
    let mut escaped = String::with_capacity(account_claim.len());
    for c in account_claim.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    let meta = format!(r#"<meta name="keyward-account-claim" content="{escaped}">"#);
    template.replacen(ACCOUNT_CLAIM_META, &meta, 1).into_bytes()
}

/// A strong validator of a body.
fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
}

/// A strong validator per file, so `Cache-Control: no-cache` costs a 304
/// and a new binary's console is picked up at once.
fn etag(index: usize) -> &'static HeaderValue {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    &ETAGS.get_or_init(|| ASSETS.iter().map(|asset| etag_of(asset.body)).collect())[index]
}

/// Serves `ASSETS[index]`; an HTML file with this server's account claim
/// written in (its ETag then follows the claim too).
fn serve(index: usize, account_claim: &str, request_headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let (body, etag) = if asset.content_type == HTML {
        let body = index_html(asset.body, account_claim);
        let etag = etag_of(&body);
        (std::borrow::Cow::Owned(body), etag)
    } else {
        (std::borrow::Cow::Borrowed(asset.body), etag(index).clone())
    };
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let headers = response.headers_mut();
    if !fresh {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // The sign-in link carries the token in the fragment, which browsers
    // never send; no referrer at all keeps even the path to this origin.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET` (and `HEAD`) routes for every console file. They are not in
/// `http::routes()`: that table is the API the SAM template deploys.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (index, asset) in ASSETS.iter().enumerate() {
        router = router.route(
            asset.path,
            get(
                move |State(state): State<AppState>, headers: HeaderMap| async move {
                    serve(index, &state.service.config().account_claim, &headers)
                },
            ),
        );
    }
    router
}

// ---- CORS, for a console hosted on another origin ------------------------

/// Checks one allowed origin: `http` or `https`, a host, an optional port,
/// nothing else (no path, no wildcard: a bearer-token API needs no `*`).
/// Returns it in the lower-case form browsers send.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?}: an origin starts with http:// or https://"))?;
    // An IPv6 literal is bracketed: its colons are not the port's.
    let (host, port) = match rest.find(']') {
        Some(end) if rest.starts_with('[') => match &rest[end + 1..] {
            "" => (&rest[..=end], None),
            tail => (&rest[..=end], Some(tail.strip_prefix(':').unwrap_or("x"))),
        },
        _ => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(origin)
    } else {
        Err(format!(
            "{text:?} is not an origin like https://console.example.com or http://localhost:5173"
        ))
    }
}

/// The request headers a browser may send to the API from an allowed origin.
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key";
const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE";

async fn cors(State(allowed): State<Arc<Vec<String>>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            r
        }
        // Anything else, from an allowed origin or not, is answered as
        // usual; only an allowed origin's answer may be read by its page.
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    // The answer depends on Origin, so a cache must not reuse it across
    // origins.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// The router with CORS for `origins` (unchanged when there are none).
pub fn with_cors(router: Router, origins: Vec<String>) -> Router {
    if origins.is_empty() {
        return router;
    }
    router.layer(middleware::from_fn_with_state(Arc::new(origins), cors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::JwtVerifier;
    use crate::clock::SystemClock;
    use crate::config::Config;
    use crate::http::{AppState, BearerJwt, router};
    use crate::service::{LogPublisher, Service};
    use crate::store::sqlite::SqliteStore;
    use axum::body::Body;
    use tower::ServiceExt;

    fn state() -> AppState {
        state_with_claim("account")
    }

    fn state_with_claim(account_claim: &str) -> AppState {
        let store = SqliteStore::open_in_memory().expect("an in-memory store");
        AppState {
            service: Arc::new(Service::new(
                Arc::new(store),
                Config {
                    account_claim: account_claim.into(),
                    ..Config::default()
                },
                Arc::new(SystemClock),
                Arc::new(LogPublisher),
            )),
            auth: Arc::new(BearerJwt {
                verifier: JwtVerifier::hs256(&[7u8; 32]),
                account_claim: account_claim.into(),
            }),
            verify_failures: None,
        }
    }

    async fn send(router: Router, request: axum::http::Request<Body>) -> Response {
        router.oneshot(request).await.expect("the router answers")
    }

    fn get(path: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(path)
            .body(Body::empty())
            .expect("a request")
    }

    #[tokio::test]
    async fn the_local_server_serves_the_console_with_its_headers() {
        for asset in ASSETS {
            let response = send(router(state(), None), get(asset.path)).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], asset.content_type);
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            let etag = headers[header::ETAG].clone();
            let again = axum::http::Request::get(asset.path)
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .expect("a request");
            let response = send(router(state(), None), again).await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_MODIFIED,
                "{}",
                asset.path
            );
        }
        let csp = CONTENT_SECURITY_POLICY;
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"));
    }

    #[test]
    fn index_html_names_the_account_claim_as_an_attribute_value() {
        let template = ASSETS[0].body;
        let text = std::str::from_utf8(template).expect("index.html is UTF-8");
        assert_eq!(text.matches(ACCOUNT_CLAIM_META).count(), 1);
        assert_eq!(index_html(template, "account"), template);
        let page = String::from_utf8(index_html(template, r#"x"><script>'&"#)).expect("UTF-8");
        assert!(page.contains(
            r#"<meta name="keyward-account-claim" content="x&quot;&gt;&lt;script&gt;&#39;&amp;">"#
        ));
        assert!(!page.contains("<script>"));
    }

    #[tokio::test]
    async fn the_local_server_names_its_account_claim_in_the_page() {
        let claim = "https://example.com/org";
        for path in ["/", "/index.html"] {
            let response = send(router(state_with_claim(claim), None), get(path)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let etag = response.headers()[header::ETAG].clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            let page = std::str::from_utf8(&body).expect("UTF-8");
            assert!(
                page.contains(
                    r#"<meta name="keyward-account-claim" content="https://example.com/org">"#
                ),
                "{path}"
            );
            // Another claim is another page, with another validator.
            let default = send(router(state(), None), get(path)).await;
            assert_ne!(default.headers()[header::ETAG], etag, "{path}");
        }
    }

    #[test]
    fn every_file_of_the_console_folder_is_served() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console");
        for entry in std::fs::read_dir(folder).expect("console/ is readable") {
            let name = entry.expect("an entry").file_name();
            let path = format!("/{}", name.to_string_lossy());
            assert!(
                ASSETS.iter().any(|asset| asset.path == path),
                "{path} is not in ASSETS"
            );
        }
    }

    #[tokio::test]
    async fn lambda_functions_do_not_serve_the_console() {
        for function in ["list-applications", "verify-key", "get-key"] {
            let response = send(router(state(), Some(function)), get("/")).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{function}");
            let response = send(router(state(), Some(function)), get("/app.js")).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{function}");
        }
    }

    #[tokio::test]
    async fn cors_answers_only_the_allowed_origins() {
        let allowed = "http://localhost:5173";
        let app = || with_cors(router(state(), None), vec![allowed.to_owned()]);
        let preflight = |origin: &str| {
            axum::http::Request::builder()
                .method(Method::OPTIONS)
                .uri("/applications")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
                .body(Body::empty())
                .expect("a request")
        };
        let response = send(app(), preflight(allowed)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
        assert!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .is_ok_and(|h| h.contains("authorization") && h.contains("idempotency-key"))
        );

        let response = send(app(), preflight("https://elsewhere.example")).await;
        assert_ne!(response.status(), StatusCode::NO_CONTENT);
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );

        // An actual call from the allowed origin: the API's own answer (here
        // 401), readable by that origin's page.
        let call = axum::http::Request::get("/applications")
            .header(header::ORIGIN, allowed)
            .body(Body::empty())
            .expect("a request");
        let response = send(app(), call).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            allowed
        );

        // Without origins, no CORS at all.
        let response = send(with_cors(router(state(), None), vec![]), preflight(allowed)).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for (text, origin) in [
            ("https://console.example.com", "https://console.example.com"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("HTTP://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(parse_origin(text).as_deref(), Ok(origin), "{text}");
        }
        for bad in [
            "*",
            "null",
            "console.example.com",
            "ftp://example.com",
            "https://",
            "https://example.com/",
            "https://example.com/console",
            "https://example.com:0",
            "https://example.com:99999",
            "https://user@example.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn every_console_file_is_embedded_and_named_for_its_type() {
        for asset in ASSETS {
            assert!(!asset.body.is_empty(), "{} is empty", asset.path);
            let ext = asset.path.rsplit('.').next().unwrap_or("html");
            let expected = match ext {
                "js" => "text/javascript",
                "css" => "text/css",
                "svg" => "image/svg+xml",
                _ => "text/html",
            };
            assert!(asset.content_type.starts_with(expected), "{}", asset.path);
        }
    }

    #[test]
    fn the_page_loads_no_inline_script_or_style() {
        let index = std::str::from_utf8(ASSETS[0].body).expect("index.html is UTF-8");
        assert!(index.contains(r#"<script type="module" src="app.js">"#));
        assert!(!index.contains("<script>") && !index.contains("style="));
        assert!(!index.contains("<style"));
    }
}
