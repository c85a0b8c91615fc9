//! A Lambda Runtime API on loopback: the protocol peer a Lambda function's
//! runtime talks to (`/2018-06-01/runtime/invocation/next`, `…/response`,
//! `…/error`, `/init/error`), so a function binary runs here exactly as in
//! Lambda, one invocation at a time.

#![allow(dead_code)] // each test target uses part of it

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

struct Shared {
    queue: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    submit: mpsc::UnboundedSender<(String, Value)>,
    shared: Arc<Shared>,
    next_id: std::sync::atomic::AtomicU64,
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let Some((id, event)) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let header = |v: String| HeaderValue::from_str(&v).unwrap();
    headers.insert("lambda-runtime-aws-request-id", header(id));
    headers.insert("lambda-runtime-deadline-ms", header(deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:eu-west-1:123456789012:function:keyward-test".into()),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header("Root=1-00000000-000000000000000000000000;Sampled=0".into()),
    );
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().await.remove(id) {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_string(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Outcome::Response(json_or_string(&body))).await
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Outcome::Error(json_or_string(&body))).await
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (submit, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi {
            addr,
            submit,
            shared,
            next_id: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Queues one invocation and waits for the function's answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = format!(
            "req-{}",
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let (sender, receiver) = oneshot::channel();
        self.shared.waiting.lock().await.insert(id.clone(), sender);
        self.submit.send((id, event)).unwrap();
        match tokio::time::timeout(Duration::from_secs(30), receiver).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                let init = self.shared.init_error.lock().await.clone();
                panic!("the function did not answer within 30 s (init error: {init:?})")
            }
        }
    }
}

/// A function binary running against its own Runtime API.
pub struct LambdaProcess {
    pub api: RuntimeApi,
    child: Child,
    pub started: Instant,
}

impl LambdaProcess {
    /// Starts `binary` with the variables Lambda sets, plus `env`.
    pub async fn start(binary: &str, name: &str, env: &[(&str, String)]) -> Self {
        let api = RuntimeApi::start().await;
        let started = Instant::now();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/23/[$LATEST]0123456789abcdef",
            )
            .env("AWS_REGION", "eu-west-1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        LambdaProcess {
            api,
            child,
            started,
        }
    }

    pub async fn invoke(&self, event: Value) -> Outcome {
        self.api.invoke(event).await
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
