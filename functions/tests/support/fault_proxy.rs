//! A fault-injecting HTTP/1.1 proxy on loopback, between keyward's SDK
//! clients and moto_server. A test sets, per DynamoDB operation (the
//! `X-Amz-Target` suffix: `GetItem`, `TransactWriteItems`, or `*` for any),
//! what the next requests meet: passed through, answered with a DynamoDB
//! error (throttling, 500) or a bare 5xx, held past the client's timeout,
//! reset, or forwarded to moto and then cut off before the answer (the write
//! applied, its answer lost). It records every request and what it did.
//!
//! Hand-written rather than a proxy crate: it must break connections in ways
//! a well-behaved proxy never does (RST after the upstream applied a write),
//! and it is a hundred lines over tokio's sockets.

#![allow(dead_code)] // each test target uses part of it

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one request meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded to moto, its answer returned.
    Pass,
    /// Answered by the proxy with a DynamoDB JSON error of `error_type`;
    /// moto never sees the request.
    Error {
        status: u16,
        error_type: &'static str,
    },
    /// Answered with `status` and an HTML body, as a load balancer in front
    /// of a service might; moto never sees the request.
    Bare(u16),
    /// Held this long, then forwarded (the client has given up by then).
    Delay(Duration),
    /// The connection is reset; moto never sees the request.
    Reset,
    /// Forwarded (moto applies it), then the connection is reset instead of
    /// answering: a write applied whose answer is lost.
    LoseResponse,
    /// Forwarded, then half of moto's answer sent and the connection reset.
    TruncateResponse,
    /// Forwarded (moto applies it), then answered with a DynamoDB error.
    ErrorAfterApply {
        status: u16,
        error_type: &'static str,
    },
}

impl Fault {
    pub const PROVISIONED_THROUGHPUT: Fault = Fault::Error {
        status: 400,
        error_type: "ProvisionedThroughputExceededException",
    };
    pub const THROTTLING: Fault = Fault::Error {
        status: 400,
        error_type: "ThrottlingException",
    };
    pub const INTERNAL_SERVER_ERROR: Fault = Fault::Error {
        status: 500,
        error_type: "InternalServerError",
    };
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub fault: Fault,
    pub body: String,
}

#[derive(Default)]
struct Rule {
    /// Faults for the next requests, in order.
    next: VecDeque<Fault>,
    /// Then this pattern, repeated (empty: pass).
    repeat: Vec<Fault>,
    position: usize,
}

#[derive(Default)]
struct State {
    rules: HashMap<String, Rule>,
    seen: Vec<Seen>,
}

impl State {
    fn fault_for(&mut self, operation: &str) -> Fault {
        for name in [operation, "*"] {
            if let Some(rule) = self.rules.get_mut(name) {
                if let Some(fault) = rule.next.pop_front() {
                    return fault;
                }
                if !rule.repeat.is_empty() {
                    rule.position += 1;
                    return rule.repeat[(rule.position - 1) % rule.repeat.len()].clone();
                }
            }
        }
        Fault::Pass
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (moto's `http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let client = reqwest::Client::new();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, client, upstream) = (shared.clone(), client.clone(), upstream.clone());
                tokio::spawn(serve(stream, state, client, upstream));
            }
        });
        FaultProxy { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests of `operation` meet `faults`, in order; later ones
    /// pass (or meet the repeated pattern).
    pub fn next(&self, operation: &str, faults: impl IntoIterator<Item = Fault>) {
        let mut state = self.state.lock().unwrap();
        let rule = state.rules.entry(operation.to_owned()).or_default();
        rule.next.extend(faults);
    }

    /// Every request of `operation` meets `pattern`'s faults in turn, until
    /// [`FaultProxy::clear`].
    pub fn repeat(&self, operation: &str, pattern: impl IntoIterator<Item = Fault>) {
        let mut state = self.state.lock().unwrap();
        let rule = state.rules.entry(operation.to_owned()).or_default();
        rule.repeat = pattern.into_iter().collect();
        rule.position = 0;
    }

    /// Every request passes from now on.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Every request seen so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests of `operation` seen so far.
    pub fn count(&self, operation: &str) -> usize {
        self.seen_of(operation).len()
    }

    pub fn seen_of(&self, operation: &str) -> Vec<Seen> {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|s| s.operation == operation)
            .cloned()
            .collect()
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request; `None` when the client closed the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Sends the request to moto; its status, content type and body.
async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    request: &Request,
) -> (u16, String, Vec<u8>) {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = client.request(method, format!("{upstream}{}", request.path));
    for (name, value) in &request.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            builder = builder.header(name, value);
        }
    }
    match builder.body(request.body.clone()).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.0")
                .to_owned();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, content_type, body)
        }
        Err(e) => (502, "text/plain".into(), e.to_string().into_bytes()),
    }
}

fn dynamodb_error(error_type: &str) -> Vec<u8> {
    serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
        "message": "injected by the fault proxy",
    })
    .to_string()
    .into_bytes()
}

async fn answer(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Status"),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.is_ok() && stream.write_all(body).await.is_ok()
}

/// Closes with a TCP reset rather than a FIN.
// tokio deprecates `set_linger` because a non-zero linger blocks the
// thread on drop; a zero linger never does, it sends the RST at once.
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn serve(
    mut stream: TcpStream,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    upstream: String,
) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let operation = request
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-target")
            .and_then(|(_, v)| v.rsplit('.').next())
            .unwrap_or("")
            .to_owned();
        let fault = {
            let mut state = state.lock().unwrap();
            let fault = state.fault_for(&operation);
            state.seen.push(Seen {
                operation,
                fault: fault.clone(),
                body: String::from_utf8_lossy(&request.body).into_owned(),
            });
            fault
        };
        const JSON: &str = "application/x-amz-json-1.0";
        let answered = match fault {
            Fault::Pass => {
                let (status, content_type, body) = forward(&client, &upstream, &request).await;
                answer(&mut stream, status, &content_type, &body).await
            }
            Fault::Error { status, error_type } => {
                answer(&mut stream, status, JSON, &dynamodb_error(error_type)).await
            }
            Fault::Bare(status) => {
                let body = format!("<html><body>{status}</body></html>");
                answer(&mut stream, status, "text/html", body.as_bytes()).await
            }
            Fault::Delay(pause) => {
                tokio::time::sleep(pause).await;
                let (status, content_type, body) = forward(&client, &upstream, &request).await;
                answer(&mut stream, status, &content_type, &body).await
            }
            Fault::Reset => {
                reset(stream);
                return;
            }
            Fault::LoseResponse => {
                forward(&client, &upstream, &request).await;
                reset(stream);
                return;
            }
            Fault::TruncateResponse => {
                let (status, content_type, body) = forward(&client, &upstream, &request).await;
                let head = format!(
                    "HTTP/1.1 {status} OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body[..body.len() / 2]).await;
                let _ = stream.flush().await;
                reset(stream);
                return;
            }
            Fault::ErrorAfterApply { status, error_type } => {
                forward(&client, &upstream, &request).await;
                answer(&mut stream, status, JSON, &dynamodb_error(error_type)).await
            }
        };
        if !answered {
            return;
        }
    }
}
