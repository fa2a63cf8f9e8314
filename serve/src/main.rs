//! `cargo run -p serve [-- --config arbiter.toml]`: the gateway binary. CLI, config,
//! tracing, signals; everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serve::config::{Config, DEFAULT_ROUTER_DIR, ServerMode};
use serve::per_core::PerCoreServer;
use serve::router_artifact::{LoadedRouter, dir_loader};
use serve::{AppState, builtin};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

// glibc's malloc was ~30% of the instructions on the request path (callgrind, see
// docs/benchmarks.md): every request builds, serialises and frees a record with a few
// hundred small strings, from several threads. mimalloc's thread-local free lists make
// that cheap. Built with `no_thp`: its `madvise(MADV_HUGEPAGE)` on fresh arenas made the
// kernel compact memory for 2 MiB pages on first touch, a ~5 ms stall every ~190 ms at
// 1,000 req/s (p99.9 of the router's time 5.7 ms, against 0.5 ms without).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Arbiter's OpenAI-compatible gateway: routes `model: "auto"` with a learned router.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML; see serve/arbiter.example.toml). Without it: the built-in
    /// catalog of the router's candidates at their public providers.
    #[arg(long, env = "ARBITER_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (overrides the config).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Router artifact directory (overrides the config).
    #[arg(long)]
    router_dir: Option<PathBuf>,
    /// Seconds to let in-flight requests finish after SIGTERM/ctrl-c.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// Check the configuration and the router, print a summary, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn")),
        )
        .init();
    let cli = Cli::parse();

    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => {
            let dir = resolve_router_dir(
                cli.router_dir
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ROUTER_DIR.into()),
            );
            let router = LoadedRouter::load_dir(&dir).with_context(|| {
                format!(
                    "loading the default router from {} (pass --router-dir or --config)",
                    dir.display()
                )
            })?;
            tracing::info!(
                "no --config: using the built-in catalog of {}'s candidates",
                router.name
            );
            builtin::builtin_config(&router.candidates)
        }
    };
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    config.router_dir = resolve_router_dir(cli.router_dir.clone().unwrap_or(config.router_dir));

    let shutdown = CancellationToken::new();
    let state = AppState::new(
        config.clone(),
        dir_loader(config.router_dir.clone()),
        shutdown.clone(),
    )?;
    let report = state.router_report();
    tracing::info!(router = %report.router, candidates = report.candidates.len(), unroutable = ?report.unroutable, dir = %config.router_dir.display(), "router loaded");
    if cli.check {
        #[allow(clippy::print_stdout)]
        {
            println!(
                "configuration OK: {} models in the catalog; router `{}` with {} candidates ({} unroutable: {:?})",
                config.models.len(),
                report.router,
                report.candidates.len(),
                report.unroutable.len(),
                report.unroutable
            );
        }
        state.audit.shutdown_blocking();
        return Ok(());
    }

    let drain = Duration::from_secs(cli.drain_secs);
    let threads = config.server.thread_count();
    let runtime = match config.server.mode {
        ServerMode::Shared => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build(),
        // The server threads run their own runtimes; this one only waits for signals.
        ServerMode::PerCore => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .context("building the tokio runtime")?;
    runtime.block_on(run(state, &config, threads, drain, shutdown))
}

/// Serves until SIGTERM / ctrl-c and the drain; flushes the decision log.
async fn run(
    state: Arc<AppState>,
    config: &Config,
    threads: usize,
    drain: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    // Before the port opens: a SIGHUP or SIGTERM sent as soon as the gateway answers must
    // not meet the default action, which ends the process.
    let handlers = install_signal_handlers();
    let result = match config.server.mode {
        ServerMode::Shared => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(
                "listening on http://{} (one runtime, {threads} workers)",
                listener.local_addr()?
            );
            tasks.spawn(signals(handlers, Arc::clone(&state), shutdown.clone()));
            serve::serve(Arc::clone(&state), listener, drain).await
        }
        ServerMode::PerCore => {
            let server = PerCoreServer::start(&state, config.listen, threads, drain)?;
            tracing::info!(
                "listening on http://{} ({threads} threads, one runtime each)",
                server.local_addr()
            );
            tasks.spawn(signals(handlers, Arc::clone(&state), shutdown.clone()));
            let joined = tokio::task::spawn_blocking(move || server.join())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            serve::close_log(&state).await;
            joined
        }
    };
    shutdown.cancel();
    tasks.shutdown().await;
    // Both servers have closed the log by now (`serve` and `close_log` above).
    if state.audit.closed_whole() != Some(true) {
        // Why was logged by the writer; exit non-zero, so that a lost tail is noticed.
        tracing::error!("stopped; the decision log was NOT flushed completely: records were lost");
        result.context("server error")?;
        anyhow::bail!("the decision log was not flushed completely");
    }
    tracing::info!("stopped; decision log flushed");
    result.context("server error")
}

/// `models/default` is relative to the workspace root; when run from elsewhere, fall back
/// to the copy next to the `models` crate's sources.
fn resolve_router_dir(dir: PathBuf) -> PathBuf {
    if dir.exists() || dir != std::path::Path::new(DEFAULT_ROUTER_DIR) {
        return dir;
    }
    let fallback = models::artifact::default_dir();
    if fallback.exists() { fallback } else { dir }
}

/// SIGTERM and SIGHUP, registered (`None` when the OS refused).
type SignalHandlers = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;

fn install_signal_handlers() -> SignalHandlers {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(term), Ok(hup)) => Some((term, hup)),
        _ => None,
    }
}

/// SIGTERM / ctrl-c start the drain; SIGHUP reloads the router.
async fn signals(handlers: SignalHandlers, state: Arc<AppState>, shutdown: CancellationToken) {
    let Some((mut term, mut hup)) = handlers else {
        tracing::error!("cannot install signal handlers; use ctrl-c");
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                let st = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || st.reload()).await;
            }
            () = shutdown.cancelled() => return,
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    shutdown.cancel();
}
