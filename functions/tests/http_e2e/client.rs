//! The HTTP client side: requests to one server, each answer read whole,
//! and every 5xx refused (no input may produce one).

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts the status and a JSON body; returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "content-type {:?} for {}",
            self.content_type,
            self.text
        );
        &self.body
    }

    /// Asserts an RFC 9457 problem with this status and stable code.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "unexpected answer: {}",
            self.text
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "problems are application/problem+json: {}",
            self.text
        );
        assert_eq!(self.body["status"], json!(status), "{}", self.text);
        let expected_type = format!(
            "urn:keyward:problem:{}",
            code.to_ascii_lowercase().replace('_', "-")
        );
        assert_eq!(self.body["type"], json!(expected_type), "{}", self.text);
        assert!(
            self.body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.text
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.text
        );
    }
}

/// A created key: its public view and the secret shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub secret: String,
    pub view: Value,
}

/// An HTTP client bound to one server; cheap to clone into tasks.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for the server at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Api { client, base }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    /// Sends, reads the whole answer, and refuses any 5xx.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Resp {
        self.try_send(builder).await.expect("the server answers")
    }

    /// As [`Api::send`], but a transport failure (a killed server) is an
    /// `Err` rather than a panic.
    pub async fn try_send(&self, builder: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status < 500, "the server answered {status}: {text}");
        Ok(Resp {
            status,
            content_type,
            headers,
            body,
            text,
        })
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut builder = self.request(method, path, token);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(&body))
            .await
    }

    /// A POST without a body (lifecycle actions).
    pub async fn post_empty(&self, token: &str, path: &str) -> Resp {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(&body))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A POST with an `Idempotency-Key` and an optional JSON body.
    pub async fn post_idem(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut builder = self
            .request(Method::POST, path, Some(token))
            .header("Idempotency-Key", key);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder).await
    }

    /// A POST of raw bytes with the given content type (or none).
    pub async fn post_raw(
        &self,
        token: &str,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Resp {
        let mut builder = self
            .request(Method::POST, path, Some(token))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        self.send(builder).await
    }

    pub async fn create_app(&self, token: &str, name: &str) -> String {
        let r = self
            .post(token, "/applications", json!({ "name": name }))
            .await;
        let id = r.ok(201)["id"].as_str().expect("an application id");
        id.to_owned()
    }

    pub async fn create_key(&self, token: &str, app: &str, body: Value) -> NewKey {
        let r = self
            .post(token, &format!("/applications/{app}/keys"), body)
            .await;
        new_key(&r, 201)
    }

    pub async fn create_named_key(&self, token: &str, app: &str, name: &str) -> NewKey {
        self.create_key(token, app, json!({ "name": name })).await
    }

    pub async fn verify(&self, key: &str, scopes: &[&str]) -> Value {
        let r = self
            .call(
                Method::POST,
                "/verify",
                None,
                Some(&json!({ "key": key, "scopes": scopes })),
            )
            .await;
        r.ok(200).clone()
    }

    /// The verdict code for a presented key (no required scopes), checking
    /// that `valid` agrees with it.
    pub async fn verdict(&self, key: &str) -> String {
        let v = self.verify(key, &[]).await;
        let code = v["code"].as_str().expect("a verdict code").to_owned();
        assert_eq!(v["valid"], json!(code == "VALID"), "{v}");
        code
    }

    pub async fn key_view(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/keys/{id}"))
            .await
            .ok(200)
            .clone()
    }

    pub async fn list_keys(&self, token: &str, app: &str) -> Vec<Value> {
        let r = self
            .get(token, &format!("/applications/{app}/keys?limit=100"))
            .await;
        items(r.ok(200))
    }

    pub async fn list_apps(&self, token: &str) -> Vec<Value> {
        let r = self.get(token, "/applications?limit=100").await;
        items(r.ok(200))
    }

    pub async fn audit(&self, token: &str) -> Vec<Value> {
        let r = self.get(token, "/audit?limit=100").await;
        items(r.ok(200))
    }
}

#[track_caller]
pub fn new_key(r: &Resp, status: u16) -> NewKey {
    let body = r.ok(status);
    let view = body["key"].clone();
    NewKey {
        id: view["id"].as_str().expect("a key id").to_owned(),
        secret: body["secret"].as_str().expect("a secret").to_owned(),
        view,
    }
}

#[track_caller]
pub fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("a page of items").clone()
}

pub fn ids(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|v| v["id"].as_str().expect("an id").to_owned())
        .collect()
}
