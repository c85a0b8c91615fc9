//! The typed client: one method per route of the management API, plus
//! `POST /verify` and the leak report, each returning a [`Call`] to await.

use crate::Secret;
use crate::error::{Error, Problem, excerpt};
use crate::types::*;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The default time a whole call may take, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one keyward deployment, with one bearer token (or none, for
/// `verify` only). Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .field("token", &self.inner.token)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Settings of a [`Client`]; [`Client::builder`] makes one.
#[derive(Debug)]
pub struct ClientBuilder {
    base: String,
    token: Option<Secret>,
    timeout: Duration,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The management API's bearer token (a JWT from the identity provider
    /// with the permissions the calls need; `records:read` for the layer's
    /// local mode). `verify` and `report_leaked_keys` send none.
    pub fn token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long a whole call may take, connecting included
    /// ([`DEFAULT_TIMEOUT`]); [`Call::timeout`] overrides it per call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A `reqwest` client of your own (proxy, extra roots). By default: rustls
    /// with the system's roots, redirects not followed.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let mut base = Url::parse(&self.base)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL {:?}: an http or https URL",
                self.base
            )));
        }
        // Routes are appended as path segments: a trailing slash would
        // leave an empty one.
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        if let Some(token) = &self.token {
            bearer(token)?;
        }
        let http = match self.http {
            Some(http) => http,
            // keyward never redirects: a redirect is a misconfiguration, and
            // not following it keeps the token where it was sent.
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("keyward-sdk-rust/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                token: self.token,
                timeout: self.timeout,
            }),
        })
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose()))
        .map_err(|_| Error::Config("the token is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Whether a route takes the management token: `POST /verify` and the
/// leak report take none, so the token never travels where it is not
/// needed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Token,
    None,
}

impl Client {
    /// A builder for the deployment at `base_url` (`https://keyward.example.com`,
    /// or the API Gateway stage URL).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
            http: None,
        }
    }

    /// A client with `token` and the default settings.
    pub fn new(base_url: impl Into<String>, token: impl Into<Secret>) -> Result<Client, Error> {
        Client::builder(base_url).token(token).build()
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The same client with another token, sharing the connection pool
    /// (after the identity provider issued a fresh one).
    pub fn with_token(&self, token: impl Into<Secret>) -> Result<Client, Error> {
        let token = token.into();
        bearer(&token)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                base: self.inner.base.clone(),
                token: Some(token),
                timeout: self.inner.timeout,
            }),
        })
    }

    fn call<T>(&self, method: Method, path: &[&str], auth: Auth) -> Call<T>
    where
        T: DeserializeOwned,
    {
        self.call_with(method, path, auth, decode_json::<T>)
    }

    fn call_with<T>(
        &self,
        method: Method,
        path: &[&str],
        auth: Auth,
        decode: fn(u16, &[u8]) -> Result<T, Error>,
    ) -> Call<T> {
        let mut url = self.inner.base.clone();
        // `build` checked that the base can take segments; each id is
        // percent-encoded as one segment, so no id can change the route.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(path);
        }
        let mut request = self
            .inner
            .http
            .request(method, url)
            .timeout(self.inner.timeout);
        let mut error = None;
        if auth == Auth::Token {
            match self.inner.token.as_ref().map(bearer) {
                Some(Ok(value)) => request = request.header(AUTHORIZATION, value),
                Some(Err(e)) => error = Some(e),
                None => {}
            }
        }
        Call {
            request: error.map_or(Ok(request), Err),
            decode,
        }
    }

    fn with_body<T, B: Serialize + ?Sized>(mut call: Call<T>, body: &B) -> Call<T> {
        call.request = call.request.map(|r| r.json(body));
        call
    }

    fn with_query<T>(mut call: Call<T>, options: &ListOptions) -> Call<T> {
        call.request = call.request.map(|r| r.query(options));
        call
    }

    // ---- applications ---------------------------------------------------

    /// `POST /applications` (`applications:create`).
    pub fn create_application(&self, body: &CreateApplication) -> Call<Application> {
        Self::with_body(
            self.call(Method::POST, &["applications"], Auth::Token),
            body,
        )
    }

    /// `GET /applications`: the active applications the caller may view.
    pub fn list_applications(&self, options: &ListOptions) -> Call<Page<Application>> {
        Self::with_query(
            self.call(Method::GET, &["applications"], Auth::Token),
            options,
        )
    }

    pub fn get_application(&self, id: &str) -> Call<Application> {
        self.call(Method::GET, &["applications", id], Auth::Token)
    }

    pub fn update_application(&self, id: &str, body: &UpdateApplication) -> Call<Application> {
        Self::with_body(
            self.call(Method::PATCH, &["applications", id], Auth::Token),
            body,
        )
    }

    /// Revokes the application and every key under it.
    pub fn revoke_application(&self, id: &str) -> Call<Application> {
        self.call(Method::POST, &["applications", id, "revoke"], Auth::Token)
    }

    // ---- keys -------------------------------------------------------------

    /// `POST /applications/{id}/keys`: the answer holds the secret, once.
    pub fn create_key(&self, application_id: &str, body: &CreateKey) -> Call<CreatedKey> {
        Self::with_body(
            self.call(
                Method::POST,
                &["applications", application_id, "keys"],
                Auth::Token,
            ),
            body,
        )
    }

    /// The application's active, disabled and expired keys.
    pub fn list_keys(&self, application_id: &str, options: &ListOptions) -> Call<Page<Key>> {
        Self::with_query(
            self.call(
                Method::GET,
                &["applications", application_id, "keys"],
                Auth::Token,
            ),
            options,
        )
    }

    pub fn get_key(&self, id: &str) -> Call<Key> {
        self.call(Method::GET, &["keys", id], Auth::Token)
    }

    pub fn update_key(&self, id: &str, body: &UpdateKey) -> Call<Key> {
        Self::with_body(self.call(Method::PATCH, &["keys", id], Auth::Token), body)
    }

    pub fn disable_key(&self, id: &str) -> Call<Key> {
        self.call(Method::POST, &["keys", id, "disable"], Auth::Token)
    }

    pub fn enable_key(&self, id: &str) -> Call<Key> {
        self.call(Method::POST, &["keys", id, "enable"], Auth::Token)
    }

    /// A new key with the old one's settings; the old one is revoked at
    /// once or after `grace_seconds`.
    pub fn regenerate_key(&self, id: &str, body: &RegenerateKey) -> Call<CreatedKey> {
        Self::with_body(
            self.call(Method::POST, &["keys", id, "regenerate"], Auth::Token),
            body,
        )
    }

    pub fn revoke_key(&self, id: &str) -> Call<Key> {
        self.call(Method::POST, &["keys", id, "revoke"], Auth::Token)
    }

    /// `GET /keys/{id}/record` (`records:read`): what a local verifier
    /// checks, in the core's own type.
    pub fn get_key_record(&self, id: &str) -> Call<KeyRecord> {
        self.call(Method::GET, &["keys", id, "record"], Auth::Token)
    }

    // ---- verification and leaks --------------------------------------

    /// `POST /verify`: every verdict, valid or not, is an `Ok`.
    pub fn verify(&self, request: &VerifyRequest<'_>) -> Call<Verdict> {
        Self::with_body(self.call(Method::POST, &["verify"], Auth::None), request)
    }

    /// `POST /keys/leaked`: reports up to 100 keys as found in public.
    pub fn report_leaked_keys(&self, keys: &[&str], url: Option<&str>) -> Call<LeakReceipt> {
        #[derive(Serialize)]
        struct Report<'a> {
            keys: &'a [&'a str],
            #[serde(skip_serializing_if = "Option::is_none")]
            url: Option<&'a str>,
        }
        Self::with_body(
            self.call(Method::POST, &["keys", "leaked"], Auth::None),
            &Report { keys, url },
        )
    }

    // ---- account -------------------------------------------------------

    /// The account's audit events, newest first (`audit:view`).
    pub fn list_audit(&self, options: &ListOptions) -> Call<Page<AuditEvent>> {
        Self::with_query(self.call(Method::GET, &["audit"], Auth::Token), options)
    }

    /// The caller's notices, newest first.
    pub fn list_notifications(&self, options: &ListOptions) -> Call<Page<Notice>> {
        Self::with_query(
            self.call(Method::GET, &["notifications"], Auth::Token),
            options,
        )
    }

    /// `DELETE /users/{id}` (`users:offboard`).
    pub fn offboard_user(&self, user_id: &str) -> Call<OffboardSummary> {
        self.call(Method::DELETE, &["users", user_id], Auth::Token)
    }

    // ---- webhooks ------------------------------------------------------

    /// `POST /webhooks`: the answer holds the signing secret, once.
    pub fn create_webhook(&self, body: &CreateWebhook) -> Call<CreatedWebhook> {
        Self::with_body(self.call(Method::POST, &["webhooks"], Auth::Token), body)
    }

    pub fn list_webhooks(&self, options: &ListOptions) -> Call<Page<Webhook>> {
        Self::with_query(self.call(Method::GET, &["webhooks"], Auth::Token), options)
    }

    pub fn get_webhook(&self, id: &str) -> Call<Webhook> {
        self.call(Method::GET, &["webhooks", id], Auth::Token)
    }

    pub fn update_webhook(&self, id: &str, body: &UpdateWebhook) -> Call<Webhook> {
        Self::with_body(
            self.call(Method::PATCH, &["webhooks", id], Auth::Token),
            body,
        )
    }

    pub fn delete_webhook(&self, id: &str) -> Call<()> {
        self.call_with(
            Method::DELETE,
            &["webhooks", id],
            Auth::Token,
            |_, _| Ok(()),
        )
    }

    /// The webhook's deliveries, newest first.
    pub fn list_webhook_deliveries(&self, id: &str, options: &ListOptions) -> Call<Page<Delivery>> {
        Self::with_query(
            self.call(Method::GET, &["webhooks", id, "deliveries"], Auth::Token),
            options,
        )
    }
}

fn decode_json<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|source| Error::Decode { status, source })
}

/// One request, sent when awaited. Set an `Idempotency-Key` or a timeout
/// of its own before awaiting it.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<T> {
    request: Result<RequestBuilder, Error>,
    decode: fn(u16, &[u8]) -> Result<T, Error>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    /// An `Idempotency-Key` (1 to 255 visible ASCII characters): a retry
    /// with the same key and body gets the first answer again and creates
    /// nothing twice. keyward keeps it for 24 hours per user; the same key
    /// with another request is a 422 `IDEMPOTENCY_KEY_REUSED`.
    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.request = self.request.and_then(|r| {
            let value = HeaderValue::from_str(key)
                .map_err(|_| Error::Config("the idempotency key is not a header value".into()))?;
            Ok(r.header("idempotency-key", value))
        });
        self
    }

    /// This call's own time limit, connecting included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.request = self.request.map(|r| r.timeout(timeout));
        self
    }

    /// Sends the request and reads the answer.
    pub async fn send(self) -> Result<T, Error> {
        let response = self.request?.send().await.map_err(Error::Transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(Error::Transport)?;
        if status.is_success() {
            return (self.decode)(status.as_u16(), &body);
        }
        match serde_json::from_slice::<Problem>(&body) {
            Ok(mut problem) => {
                problem.retry_after = retry_after;
                Err(Error::Api(Box::new(problem)))
            }
            Err(_) => Err(Error::UnexpectedStatus {
                status: status.as_u16(),
                body: excerpt(&body),
            }),
        }
    }
}

impl<T: Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_escaped_segment_under_the_base_path() {
        let client = Client::builder("https://api.example.com/keyward/")
            .build()
            .unwrap();
        let call = client.get_key("../applications?x=1");
        let request = call.request.unwrap().build().unwrap();
        assert_eq!(
            request.url().as_str(),
            "https://api.example.com/keyward/keys/..%2Fapplications%3Fx=1"
        );
    }

    #[test]
    fn verify_never_carries_the_token_and_management_calls_do() {
        let client = Client::new("http://127.0.0.1:9", "jwt-value").unwrap();
        let verify = client.verify(&VerifyRequest::new("kw_x")).request.unwrap();
        assert!(
            verify
                .build()
                .unwrap()
                .headers()
                .get(AUTHORIZATION)
                .is_none()
        );
        let get = client.get_key("k").request.unwrap().build().unwrap();
        let value = get.headers().get(AUTHORIZATION).unwrap();
        assert_eq!(value, "Bearer jwt-value");
        assert!(value.is_sensitive());
        assert!(!format!("{client:?}").contains("jwt-value"));
    }

    #[test]
    fn bad_configuration_is_refused_up_front() {
        for base in ["not a url", "ftp://example.com", "mailto:a@b"] {
            let err = Client::builder(base).build().unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{base}: {err}");
        }
        let err = Client::new("http://x", "line\nbreak").unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let call = Client::new("http://x", "t")
            .unwrap()
            .create_application(&CreateApplication::default())
            .idempotency_key("new\nline");
        assert!(matches!(call.request, Err(Error::Config(_))));
    }
}
