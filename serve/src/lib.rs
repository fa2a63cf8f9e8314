//! `serve`: Arbiter's OpenAI-compatible gateway. For `model: "auto"` it scores the
//! prompt with the learned router, lets `models::policy::decide` pick a model for the
//! caller's objective, forwards the request (falling back on failure), and logs an audit
//! record of the decision.
//!
//! Module map (request path top to bottom):
//! - `main.rs` — CLI, config, signals (SIGTERM/ctrl-c drain, SIGHUP reload).
//! - [`per_core`] — the default server: one single-threaded runtime per core, each with
//!   its own `SO_REUSEPORT` listener and upstream pool; [`serve`] is the one-runtime form.
//! - [`app`] — `fn app(state) -> Router`: paths → handlers, auth, metrics, limits.
//! - [`routes`] — thin handlers: [`routes::chat`] (`/v1/chat/completions`),
//!   [`routes::route`] (`/v1/route`), [`routes::decisions`], [`routes::catalog`]
//!   (`/v1/models`), [`routes::health`] (`/healthz`, `/readyz`, `/metrics`), [`routes::admin`].
//! - [`request`] — the chat body: gateway fields (`route`, `models`) out, the rest kept as is.
//! - [`decision`] — scoring, cost/latency estimates, exclusions, `models::policy::decide`.
//! - [`router`] — the loaded router artifact (scorer + manifest facts), swapped on reload.
//! - [`upstream`] — providers, the pooled HTTP client, fallback loop, SSE pass-through,
//!   circuit breakers, latency averages.
//! - [`audit`] — the decision record, the log writer thread, lookup by id.
//! - [`state`] — the shared state, reload. [`config`] — TOML config and validation;
//!   [`builtin`] — the catalog used without a config file.
//! - [`error`] — one error enum → status + OpenAI error JSON; the JSON body extractor.
//! - [`metrics`] — Prometheus counters and histograms.

pub mod app;
pub mod audit;
pub mod builtin;
pub mod config;
pub mod decision;
pub mod error;
pub mod metrics;
pub mod per_core;
pub mod request;
pub mod router;
pub mod routes;
pub mod state;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;

pub use app::app;
pub use state::AppState;

/// Serves on `listener` until `state.shutdown` is cancelled, then drains in-flight
/// requests (at most `drain` long) and flushes the decision log.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    drain: Duration,
) -> std::io::Result<()> {
    let result = serve_connections(Arc::clone(&state), listener, drain).await;
    close_log(&state).await;
    result
}

/// Flushes and closes the decision log, on the blocking pool: once the server has stopped.
pub async fn close_log(state: &Arc<AppState>) {
    let st = Arc::clone(state);
    if tokio::task::spawn_blocking(move || st.audit.shutdown_blocking())
        .await
        .is_err()
    {
        tracing::error!("flushing the decision log failed");
    }
}

/// [`serve`] without the final flush of the decision log: what each thread of the
/// per-core server runs ([`per_core`]); the log is flushed once, after every thread is done.
pub async fn serve_connections(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    drain: Duration,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    // Without TCP_NODELAY, the second write of a streamed answer waits for the client's
    // delayed ACK (~40 ms per stream, measured by bench/overhead.sh): Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY on an accepted connection");
        }
    });
    let server = axum::serve(listener, app(Arc::clone(&state)))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        r = server => r,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!("drain timeout reached with requests still in flight; stopping");
            Ok(())
        }
    }
}
