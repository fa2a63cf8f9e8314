//! The accept loop, on hyper's HTTP/1 server: what a client connection may hold.
//!
//! - `server.header_read_timeout_secs`: a request head must arrive complete in time, or the
//!   connection is closed (slowloris). hyper 1.12 starts that clock whenever it waits for a
//!   head — on a new connection and as soon as a keep-alive connection goes idle — so it
//!   also bounds idle keep-alive waits: an idle connection lasts at most the smaller of the
//!   two timeouts.
//! - `server.idle_timeout_secs`: a connection with no request in flight for that long is
//!   closed (a watchdog per connection, since hyper's HTTP/1 server has no idle timeout).
//! - `server.write_stall_timeout_secs`: a connection whose writes make no progress (the
//!   client stopped reading) that long is dropped; neither timeout above runs while a
//!   response is being written, so without it such a client would hold its connection, and
//!   a stream's concurrency permit and upstream, for ever.
//! - `server.max_connections`: counted across every server thread; beyond it a connection
//!   gets a plain `503` with `Connection: close` and is closed, rather than waiting unseen
//!   in the listen backlog.
//!
//! The body-read timeout is the routes' concern (`app::key_then_body`): only a handler knows
//! whether it reads a body.

use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::state::AppState;

/// Refused connections being answered at once (each for at most [`REFUSAL_LINGER`]); past
/// that, a refusal is written without waiting and the socket closed at once.
const MAX_LINGERING_REFUSALS: usize = 256;
/// How long a refused connection is kept to deliver its 503: the client's request must be
/// read before the close, or the kernel answers it with a reset that can destroy the 503.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Serves `listener` until `state.shutdown` is cancelled, then stops accepting, asks every
/// connection to finish its request in flight and waits for them, at most `drain` long.
pub async fn serve_connections(
    state: Arc<AppState>,
    listener: TcpListener,
    drain: Duration,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let app = crate::app(Arc::clone(&state));
    let http = http1_builder(&state);
    let connections = TaskTracker::new();
    let refusals = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(error) => {
                accept_failed(&error).await;
                continue;
            }
        };
        // Without TCP_NODELAY, the second write of a streamed answer waits for the client's
        // delayed ACK (~40 ms per stream, measured by bench/overhead.sh): Nagle's algorithm.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY on an accepted connection");
        }
        match Arc::clone(&state.connections).try_acquire_owned() {
            Ok(slot) => {
                let conn = serve_one(tcp, slot, app.clone(), http.clone(), &state);
                connections.spawn(conn);
            }
            Err(_) => refuse(
                tcp,
                state.config.server.max_connections,
                &refusals,
                &connections,
            ),
        }
    }
    // Closing the listener now makes new connections fail fast instead of queueing.
    drop(listener);
    connections.close();
    tokio::select! {
        () = connections.wait() => Ok(()),
        () = tokio::time::sleep(drain) => {
            tracing::warn!("drain timeout reached with requests still in flight; stopping");
            Ok(())
        }
    }
}

fn http1_builder(state: &AppState) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.config.server.header_read_timeout())
        .keep_alive(true);
    http
}

/// An accept error: the ones about a single connection are skipped; others (out of file
/// descriptors, …) are logged and the loop pauses briefly instead of spinning on them.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; pausing 50 ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One connection, until it closes: hyper's HTTP/1 server (keep-alive, pipelining) with the
/// idle watchdog, and a graceful close on shutdown. `slot` is its place under
/// `server.max_connections`, freed when the connection ends.
fn serve_one(
    tcp: TcpStream,
    slot: OwnedSemaphorePermit,
    app: axum::Router,
    http: http1::Builder,
    state: &AppState,
) -> impl Future<Output = ()> + Send + 'static {
    let activity = Arc::new(Activity::new());
    let idle = state.config.server.idle_timeout();
    let stall = state.config.server.write_stall_timeout();
    let io = WatchedTcp {
        tcp,
        activity: Arc::clone(&activity),
    };
    let shutdown = state.shutdown.clone();
    let tracked = Arc::clone(&activity);
    // Counts the requests in flight on this connection: from the head until the response
    // body has been sent (or dropped).
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let busy = Activity::start(&tracked);
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req.map(Body::new)).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|body| TrackedBody { body, _busy: busy }))
        }
    });
    async move {
        let _slot = slot;
        let mut conn = pin!(http.serve_connection(TokioIo::new(io), service));
        let mut closing = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    break;
                }
                () = shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = activity.idle_for(idle), if !closing => {
                    // No request in flight: hyper closes at once.
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                // Also while closing: a graceful close cannot finish a write nobody reads.
                () = activity.write_stalled_for(stall) => {
                    tracing::debug!("dropping a connection whose client stopped reading");
                    break;
                }
            }
        }
    }
}

/// A response body that marks its request finished when dropped: hyper drops it once the
/// last byte is written or the connection fails.
pub struct TrackedBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Requests in flight on one connection and when the last one ended; whether a write is
/// waiting for the client to read.
///
/// Nothing here wakes the connection's task per request: a request only bumps counters, and
/// the idle watchdog checks them when its own timer fires (once per idle timeout), so
/// keep-alive traffic pays two atomic operations and a clock read, not a timer re-armed and
/// a task woken on each response (measured: about 10% of saturation throughput).
struct Activity {
    in_flight: AtomicUsize,
    opened: Instant,
    /// Milliseconds after `opened` when `in_flight` last became 0.
    idle_since_ms: AtomicU64,
    /// Milliseconds after `opened` since when writes have been pending, or [`NOT_STALLED`].
    stalled_since_ms: AtomicU64,
    stalled: Notify,
}

const NOT_STALLED: u64 = u64::MAX;

/// One request in flight; dropping it ends the request.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            opened: Instant::now(),
            idle_since_ms: AtomicU64::new(0),
            stalled_since_ms: AtomicU64::new(NOT_STALLED),
            stalled: Notify::new(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NOT_STALLED - 1)
    }

    /// Records the outcome of a write: pending starts the stall clock, progress stops it.
    fn note_write(&self, pending: bool) {
        let since = self.stalled_since_ms.load(Ordering::Relaxed);
        if pending && since == NOT_STALLED {
            self.stalled_since_ms
                .store(self.elapsed_ms(), Ordering::SeqCst);
            self.stalled.notify_waiters();
        } else if !pending && since != NOT_STALLED {
            self.stalled_since_ms.store(NOT_STALLED, Ordering::SeqCst);
        }
    }

    /// Resolves once a write has been pending, without progress, for `limit`.
    async fn write_stalled_for(&self, limit: Duration) {
        loop {
            let stalled = self.stalled.notified();
            let since = self.stalled_since_ms.load(Ordering::SeqCst);
            if since == NOT_STALLED {
                stalled.await;
                continue;
            }
            let deadline = self.opened + Duration::from_millis(since) + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = stalled => {}
            }
        }
    }

    fn start(this: &Arc<Activity>) -> Busy {
        this.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(this))
    }

    /// Resolves once no request has been in flight for `idle`. Checks when its timer fires:
    /// a request in flight then means "look again one period later"; a connection that went
    /// idle since the last look is due `idle` after that moment.
    async fn idle_for(&self, idle: Duration) {
        let mut check = self.opened + idle;
        loop {
            tokio::time::sleep_until(check).await;
            let now = Instant::now();
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                check = now + idle;
                continue;
            }
            let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
            let due = self.opened + since + idle;
            if now >= due {
                return;
            }
            check = due;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        // Stored before the count drops, so a watchdog that reads 0 also reads this time.
        a.idle_since_ms.store(a.elapsed_ms(), Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The client socket, telling [`Activity`] whether its writes make progress.
struct WatchedTcp {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for WatchedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.activity.note_write(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.activity.note_write(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Answers a connection over `server.max_connections` with a 503 and closes it. Lingers
/// (up to [`REFUSAL_LINGER`], at most [`MAX_LINGERING_REFUSALS`] at once) to read the
/// client's request first; past that, writes what the socket takes and closes.
/// The lingering task belongs to `tasks`, which the drain waits for.
fn refuse(tcp: TcpStream, max_connections: usize, lingering: &Arc<Semaphore>, tasks: &TaskTracker) {
    let response = refusal_response(max_connections);
    match Arc::clone(lingering).try_acquire_owned() {
        Ok(permit) => {
            tasks.spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(REFUSAL_LINGER, deliver(tcp, &response)).await;
            });
        }
        Err(_) => {
            let _ = tcp.try_write(&response);
        }
    }
}

/// Writes the refusal, half-closes, and reads until the client closes its side.
async fn deliver(mut tcp: TcpStream, response: &[u8]) -> std::io::Result<()> {
    tcp.write_all(response).await?;
    tcp.shutdown().await?;
    let mut sink = [0u8; 4096];
    while tcp.read(&mut sink).await? > 0 {}
    Ok(())
}

/// The raw `HTTP/1.1 503` with an OpenAI-shaped body, written without hyper.
fn refusal_response(max_connections: usize) -> Vec<u8> {
    let body = ApiError::TooManyConnections(max_connections)
        .body()
        .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
