//! `keyward serve`'s connections: hyper's HTTP/1 server over a tokio accept
//! loop, with the limits a server facing slow or idle clients needs.
//!
//! - **Header-read timeout** (hyper's own timer): a request's head must
//!   arrive within it, counted from when the server starts waiting for the
//!   request (the connection opened, or the previous answer sent). So it
//!   also bounds how long a kept-alive connection may wait for its next
//!   request. A request's body gets as long again, counted from its head.
//! - **Idle timeout**: a connection on which no request is being handled and
//!   no byte has been read or written for this long is closed: a client that
//!   connects and says nothing, a kept-alive connection between requests
//!   (whichever of the two timeouts is shorter closes it), a client that
//!   stops reading its answer. hyper has no timer for the last.
//! - **Connection cap**: at most this many connections are open, so accept
//!   never runs out of file descriptors (the default comes from
//!   `RLIMIT_NOFILE`). At the cap the server does not wait for a slot: it
//!   closes the connection that has been quiet longest among those with no
//!   request in a handler, and accepts. Slow and idle clients therefore
//!   never keep a new client out; only requests being handled hold their
//!   slot, and those are bounded by the body deadline and the store's own
//!   timeouts. A connection asked to close while its request is in a
//!   handler finishes that request first.
//!
//! Graceful shutdown: on the signal the listener closes, connections with no
//! request in a handler close at once, and the others finish their request.

use axum::Router;
use axum::extract::ConnectInfo;
use clap::Args;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// File descriptors kept back from the connection cap for everything else
/// the process opens: the one connection accepted at the cap while a slot
/// is made, stdio, the listener, the runtime's epoll and wakers, and the
/// SQLite store (a writer and up to 8 readers, each with its
/// database, WAL and shared-memory files).
pub const RESERVED_FDS: u64 = 64;
/// The default cap when `RLIMIT_NOFILE` allows more: about 10 kB of buffers
/// per idle connection keeps the worst case near 100 MB.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Connection limits of `keyward serve` (flags and `KEYWARD_*` variables).
#[derive(Debug, Clone, Args)]
pub struct ConnectionLimits {
    /// Seconds a client has to send a request's head, counted from when the
    /// server starts waiting for it (connection opened or previous answer
    /// sent); the body gets as long again.
    #[arg(long, env = "KEYWARD_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_seconds: u64,
    /// Seconds after which a connection with no request in a handler and no
    /// byte read or written is closed.
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_seconds: u64,
    /// Open connections at most (default: 10000, or fewer when
    /// RLIMIT_NOFILE minus 64 is smaller).
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: Option<u64>,
}

impl ConnectionLimits {
    /// The connection cap: the one configured, or the default. A cap that
    /// the process's file-descriptor limit cannot hold is refused, since
    /// accept would then fail with EMFILE for everyone.
    pub fn connection_cap(&self) -> Result<usize, String> {
        let available = open_files_limit().map(|limit| limit.saturating_sub(RESERVED_FDS));
        let cap = match (self.max_connections, available) {
            (_, Some(0)) => {
                return Err(format!(
                    "RLIMIT_NOFILE is too low to serve: raise it (ulimit -n) above {RESERVED_FDS}"
                ));
            }
            (Some(cap), Some(available)) if cap > available => {
                return Err(format!(
                    "KEYWARD_MAX_CONNECTIONS ({cap}) exceeds what RLIMIT_NOFILE allows ({available}: the limit minus {RESERVED_FDS} for the store and the runtime); lower it or raise ulimit -n"
                ));
            }
            (Some(cap), _) => cap,
            (None, Some(available)) => available.min(DEFAULT_MAX_CONNECTIONS),
            (None, None) => DEFAULT_MAX_CONNECTIONS,
        };
        usize::try_from(cap).map_err(|e| e.to_string())
    }

    fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }
}

/// The soft `RLIMIT_NOFILE`, when there is a finite one.
#[cfg(unix)]
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn open_files_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for
/// the open requests to finish. The router sees each connection's peer
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let cap = limits.connection_cap()?;
    let settings = Arc::new(Settings {
        header_read_timeout: limits.header_read_timeout(),
        idle_timeout: limits.idle_timeout(),
        app,
    });
    let slots = Arc::new(Semaphore::new(cap));
    let open = Arc::new(OpenConnections::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Taken after accept, so that a quiet connection is closed
                // only when a new client is actually there.
                let permit = tokio::select! {
                    permit = take_slot(&slots, &open) => permit,
                    () = &mut shutdown => break,
                };
                let connection = open.add();
                tokio::spawn(run_connection(
                    stream,
                    peer,
                    settings.clone(),
                    connection,
                    open.clone(),
                    stopping.clone(),
                    permit,
                ));
            }
            // The peer gave up before accept: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of descriptors or memory despite the cap (another part
                // of the process, or a cap set too close to the limit):
                // pause rather than spin, then try again.
                tracing::warn!(error = %e, "accept failed; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back means every connection has closed.
    let _ = slots.acquire_many(cap as u32).await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A slot for the next connection. At the cap, the quiet connection that
/// has waited longest is closed to make one; when every connection has a
/// request in a handler, this waits for one to finish (and looks again
/// now and then, as a handler ending makes its connection quiet).
async fn take_slot(slots: &Arc<Semaphore>, open: &OpenConnections) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return permit;
        }
        let wait = if open.close_quietest() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(20)
        };
        if let Ok(Ok(permit)) = tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
            return permit;
        }
    }
}

struct Settings {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    app: Router,
}

/// What the accept loop and the connection's own task know of one
/// connection.
struct Connection {
    id: u64,
    epoch: Instant,
    /// Requests of this connection in a handler (0 or 1 with HTTP/1).
    handlers: AtomicUsize,
    /// Milliseconds from `epoch` to the last byte read or written, or the
    /// last handler's end.
    last_activity_ms: AtomicU64,
    close_requested: AtomicBool,
    close: tokio::sync::Notify,
}

impl Connection {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    fn last_activity(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }

    fn in_handler(&self) -> bool {
        self.handlers.load(Ordering::Acquire) > 0
    }
}

/// Marks a request as in its handler while it lives.
struct InHandler(Arc<Connection>);

impl InHandler {
    fn enter(connection: Arc<Connection>) -> Self {
        connection.handlers.fetch_add(1, Ordering::AcqRel);
        InHandler(connection)
    }
}

impl Drop for InHandler {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handlers.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    by_id: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl OpenConnections {
    fn add(&self) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            epoch: Instant::now(),
            handlers: AtomicUsize::new(0),
            last_activity_ms: AtomicU64::new(0),
            close_requested: AtomicBool::new(false),
            close: tokio::sync::Notify::new(),
        });
        self.lock().insert(connection.id, connection.clone());
        connection
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the connection with no request in a handler and the oldest
    /// activity to close. False when there is none.
    fn close_quietest(&self) -> bool {
        let by_id = self.lock();
        let quietest = by_id
            .values()
            .filter(|c| !c.in_handler() && !c.close_requested.load(Ordering::Relaxed))
            .min_by_key(|c| c.last_activity());
        let Some(connection) = quietest else {
            return false;
        };
        connection.close_requested.store(true, Ordering::Relaxed);
        // notify_one keeps the wake-up if the task is not waiting right now.
        connection.close.notify_one();
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        // The map stays consistent even if a holder panicked.
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings>,
    connection: Arc<Connection>,
    open: Arc<OpenConnections>,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Answers are small and written whole: nothing gains from Nagle's delay.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(ActivityStream {
        inner: stream,
        connection: connection.clone(),
    });
    let service = {
        let (settings, connection) = (settings.clone(), connection.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_handler = InHandler::enter(connection.clone());
            let (mut parts, body) = request.into_parts();
            // What `into_make_service_with_connect_info` would add: the
            // failed-verification limit counts per peer address.
            parts.extensions.insert(ConnectInfo(peer));
            let body = axum::body::Body::new(DeadlineBody::new(body, settings.header_read_timeout));
            let answer = settings
                .app
                .clone()
                .oneshot(hyper::Request::from_parts(parts, body));
            async move {
                let answer = answer.await;
                drop(in_handler);
                answer
            }
        })
    };
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .serve_connection(io, service);
    tokio::pin!(http);
    let mut finishing = false;
    loop {
        // While a handler runs the connection is not idle; look again later.
        let idle_deadline = if connection.in_handler() {
            Instant::now() + settings.idle_timeout
        } else {
            connection.last_activity() + settings.idle_timeout
        };
        let close_now = tokio::select! {
            result = http.as_mut() => {
                if let Err(e) = result {
                    // Header-read timeouts, resets, malformed requests.
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            () = connection.close.notified(), if !finishing => true,
            _ = stopping.wait_for(|stop| *stop), if !finishing => true,
            () = tokio::time::sleep_until(idle_deadline) => {
                !connection.in_handler()
                    && connection.last_activity() + settings.idle_timeout <= Instant::now()
            }
        };
        if close_now {
            if !connection.in_handler() {
                break;
            }
            // Let the request in its handler finish, then close.
            http.as_mut().graceful_shutdown();
            finishing = true;
        }
    }
    open.remove(connection.id);
}

/// The TCP stream, noting each byte read or written as activity.
struct ActivityStream {
    inner: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for ActivityStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.touch();
        }
        result
    }
}

impl AsyncWrite for ActivityStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that fails once its deadline passes before its end, so a
/// body trickled byte by byte cannot hold a handler (and its connection
/// slot) for longer than the deadline. The handler's body reader then
/// answers with a problem (the body could not be read).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, within: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
        }
    }
}

/// The error a late body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the header-read timeout")]
pub struct BodyTooSlow;

impl Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTooSlow.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
