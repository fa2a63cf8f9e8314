//! `serve`: Arbiter's OpenAI-compatible gateway. For `model: "auto"` it scores the
//! prompt with the learned router, lets `models::policy::decide` pick a model for the
//! caller's objective, forwards the request (falling back on failure), and logs an audit
//! record of the decision.
//!
//! Module map (request path top to bottom):
//! - `main.rs` — CLI, config, signals (SIGTERM/ctrl-c drain, SIGHUP reload).
//! - [`per_core`] — the default server: one single-threaded runtime per core, each with
//!   its own `SO_REUSEPORT` listener and upstream pool; [`serve`] is the one-runtime form.
//! - [`server`] — the accept loop: header-read and idle timeouts, the connection cap.
//! - [`app`] — `fn app(state) -> Router`: paths → handlers, auth, metrics, limits.
//! - [`routes`] — thin handlers: [`routes::chat`] (`/v1/chat/completions`),
//!   [`routes::decide_only`] (`/v1/route`), [`routes::decisions`], [`routes::catalog`]
//!   (`/v1/models`), [`routes::health`] (`/healthz`, `/readyz`, `/metrics`), [`routes::admin`].
//! - [`request`] — the chat body: gateway fields (`route`, `models`) out, the rest kept as is.
//! - [`decision`] — the routing step both `/v1/chat/completions` and `/v1/route` run:
//!   names checked, prompt scored, live facts → `models::routing` → `models::policy::decide`.
//! - [`router_artifact`] — the loaded router artifact (scorer + manifest facts), swapped on reload.
//! - [`upstream`] — providers, the pooled HTTP client, fallback loop, SSE pass-through,
//!   circuit breakers, latency averages.
//! - [`audit`] — the decision record, the log writer thread, lookup by id.
//! - [`state`] — the shared state, reload. [`config`] — TOML config and validation;
//!   [`builtin`] — the catalog used without a config file.
//! - [`error`] — one error enum → status + OpenAI error JSON; the JSON body extractor.
//! - [`metrics`] — Prometheus counters and histograms. [`outcome`] — how requests and
//!   attempts end.

pub mod app;
pub mod audit;
pub mod builtin;
pub mod config;
pub mod decision;
pub mod error;
pub mod feedback;
pub mod fingerprint;
pub mod metrics;
pub mod outcome;
pub mod per_core;
pub mod request;
pub mod router_artifact;
pub mod routes;
pub mod server;
pub mod state;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

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
/// Whether the log ended whole ([`audit::AuditLog::shutdown_blocking`]; why not is logged).
pub async fn close_log(state: &Arc<AppState>) -> bool {
    let st = Arc::clone(state);
    match tokio::task::spawn_blocking(move || st.audit.shutdown_blocking()).await {
        Ok(whole) => whole,
        Err(_) => {
            tracing::error!("flushing the decision log failed");
            false
        }
    }
}

/// [`serve`] without the final flush of the decision log: what each thread of the
/// per-core server runs ([`per_core`]); the log is flushed once, after every thread is done.
pub async fn serve_connections(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    drain: Duration,
) -> std::io::Result<()> {
    server::serve_connections(state, listener, drain).await
}
