//! The application state shared by every handler, built once from the config and a
//! router loader; and the reload that swaps the router without dropping a request.

use std::sync::Arc;

use arc_swap::ArcSwap;
use models::Objective;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::audit::writer::LogCounters;
use crate::audit::{AuditLog, DecisionRecord, SubmitError};
use crate::config::{Config, ConfigError, Durability};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::router_artifact::{LoadedRouter, RouterLoadError, RouterLoader};
use crate::upstream::{ClientError, Upstreams};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The router artifact could not be loaded.
    #[error(transparent)]
    Router(#[from] RouterLoadError),
    /// The decision log directory could not be opened.
    #[error("cannot open the decision log in {dir}: {source}")]
    Audit {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Everything the handlers share.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// Its content hash, for each record's `policy` block.
    pub config_sha256: String,
    /// The current router; swapped atomically on reload.
    pub router: ArcSwap<LoadedRouter>,
    loader: RouterLoader,
    /// The catalog's providers and the HTTP client.
    pub upstreams: Upstreams,
    /// The decision log.
    pub audit: AuditLog,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Concurrency permits for the routing endpoints.
    pub limiter: Arc<Semaphore>,
    client_keys: Vec<String>,
    admin_keys: Vec<String>,
    /// Client connections open, across every server thread (`server.max_connections`).
    pub connections: Arc<Semaphore>,
    /// Cancelled when the gateway starts shutting down (`/readyz` then says 503).
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("router", &self.router.load().name)
            .field("models", &self.upstreams.models.len())
            .finish_non_exhaustive()
    }
}

/// A loaded router's fit with the catalog.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouterReport {
    /// Manifest name.
    pub router: String,
    /// Candidates in output order.
    pub candidates: Vec<String>,
    /// Candidates the catalog cannot call.
    pub unroutable: Vec<String>,
    /// When it was loaded.
    pub loaded_at: chrono::DateTime<chrono::Utc>,
}

impl AppState {
    /// Builds the state: loads the router with `loader`, checks it against the catalog,
    /// opens the decision log, builds the HTTP client.
    pub fn new(
        config: Config,
        loader: RouterLoader,
        shutdown: CancellationToken,
    ) -> Result<Arc<AppState>, StartError> {
        // Again here, not only in `Config::validate`: `--listen` may have moved the address.
        config
            .check_exposure()
            .map_err(|problem| ConfigError::Invalid {
                file: "configuration".into(),
                problems: vec![problem],
            })?;
        let router = loader()?;
        // As on reload: a router that cannot score must not start serving.
        router.self_test().map_err(RouterLoadError::SelfTest)?;
        let report = coverage(&config, &router)?;
        if !report.unroutable.is_empty() {
            tracing::warn!(unroutable = ?report.unroutable, "router candidates missing from the catalog will never be chosen");
        }
        let metrics = Arc::new(Metrics::default());
        let audit = AuditLog::open(&config.audit, log_counters(&metrics)).map_err(|source| {
            StartError::Audit {
                dir: config.audit.dir.display().to_string(),
                source,
            }
        })?;
        let upstreams = Upstreams::from_config(&config)?;
        for p in upstreams.providers() {
            if let Some(var) = &p.missing_key_env {
                tracing::warn!(provider = %p.label, "{var} is not set: requests to this provider will be skipped");
            }
        }
        Ok(Arc::new(AppState {
            client_keys: config.client_keys(),
            admin_keys: config.admin_keys(),
            connections: Arc::new(Semaphore::new(config.server.max_connections)),
            limiter: Arc::new(Semaphore::new(config.limits.max_concurrency)),
            config_sha256: crate::fingerprint::config_sha256(&config),
            config,
            router: ArcSwap::from_pointee(router),
            loader,
            upstreams,
            audit,
            metrics,
            shutdown,
        }))
    }

    /// Loads a fresh router, checks it end to end (a scoring pass over fixed prompts:
    /// [`LoadedRouter::self_test`]) and against the catalog, and swaps it in; on any
    /// failure the current one stays. Without the scoring pass a router whose manifest
    /// disagrees with its graph would reload "ok" and then fail every `auto` request.
    pub fn reload(&self) -> Result<RouterReport, RouterLoadError> {
        let result = (self.loader)().and_then(|router| {
            router.self_test().map_err(RouterLoadError::SelfTest)?;
            let report = coverage(&self.config, &router)
                .map_err(|e| RouterLoadError::Other(e.to_string()))?;
            self.router.store(Arc::new(router));
            Ok(report)
        });
        match &result {
            Ok(report) => {
                self.metrics.reloads.with(&["ok"]).inc();
                tracing::info!(router = %report.router, "router reloaded");
            }
            Err(e) => {
                self.metrics.reloads.with(&["error"]).inc();
                tracing::error!(error = %e, "router reload failed; keeping the current router");
            }
        }
        result
    }

    /// The current router's fit with the catalog.
    pub fn router_report(&self) -> RouterReport {
        let router = self.router.load();
        report_of(&self.config, &router)
    }

    /// A concurrency permit, or 429.
    pub fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.limiter)
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded(self.config.limits.max_concurrency))
    }

    /// Whether clients must present a key.
    pub fn auth_required(&self) -> bool {
        !self.client_keys.is_empty()
    }

    /// Checks a presented key in constant time per configured key.
    pub fn key_is_valid(&self, presented: &str) -> bool {
        any_key_matches(&self.client_keys, presented)
    }

    /// Whether an admin key is configured (`auth.admin_keys` / `auth.admin_keys_env`).
    pub fn admin_keys_configured(&self) -> bool {
        !self.admin_keys.is_empty()
    }

    /// Checks a presented admin key, as [`AppState::key_is_valid`] does.
    pub fn admin_key_is_valid(&self, presented: &str) -> bool {
        any_key_matches(&self.admin_keys, presented)
    }

    /// The objective a request gets when it names none.
    pub fn default_objective(&self) -> &Objective {
        &self.config.routing.default_objective
    }

    /// Sends the final record to the log (without waiting) and counts it.
    pub fn submit(&self, record: DecisionRecord) {
        let result = self.audit.submit(record);
        self.count_record(result, "queued");
    }

    /// Stores the record of a response about to be sent, as `audit.durability` asks
    /// ([`AuditLog::commit`]), and counts it. A record that could not be written is
    /// counted and logged, and the response still goes out: the client's answer has been
    /// paid for, and the record stays readable from memory. A `/v1/route` record that
    /// `audit.route_records` does not keep is counted as `not_kept` and stored nowhere
    /// (not in memory either, so a lookup answers the same before and after a restart).
    pub async fn commit(&self, record: DecisionRecord) {
        if record.endpoint == "route" && !self.config.audit.route_records.keeps(&record.id) {
            self.metrics.audit_records.with(&["not_kept"]).inc();
            return;
        }
        let durability = self.audit.durability();
        let result = self.audit.commit(record).await;
        let stored = match durability {
            Durability::Queued => "queued",
            Durability::Written => "written",
            Durability::Synced => "synced",
        };
        self.count_record(result, stored);
    }

    fn count_record(&self, result: Result<(), SubmitError>, stored: &str) {
        match result {
            Ok(()) => self.metrics.audit_records.with(&[stored]).inc(),
            Err(SubmitError::QueueFull) => {
                self.metrics.audit_records.with(&["dropped"]).inc();
                tracing::warn!(
                    "decision log queue full: record dropped from the file (kept in memory)"
                );
            }
            Err(SubmitError::Closed) => {
                self.metrics.audit_records.with(&["dropped"]).inc();
                tracing::warn!(
                    "decision log closed: record dropped from the file (kept in memory)"
                );
            }
            Err(SubmitError::WriteFailed) => {
                self.metrics.audit_records.with(&["write_failed"]).inc();
                tracing::error!(
                    "decision log write failed: the response goes out without its record on disk (kept in memory)"
                );
            }
        }
    }
}

/// The decision log's handles into the metrics.
fn log_counters(metrics: &Metrics) -> LogCounters {
    LogCounters {
        write_failed: metrics.audit_records.with(&["write_failed"]),
        deleted_for_size: metrics.audit_files_deleted.with(&["size"]),
        deleted_for_age: metrics.audit_files_deleted.with(&["age"]),
    }
}

fn report_of(config: &Config, router: &LoadedRouter) -> RouterReport {
    let candidates = router.candidate_names();
    let unroutable = candidates
        .iter()
        .filter(|c| !config.models.contains_key(c.as_str()))
        .cloned()
        .collect();
    RouterReport {
        router: router.name.clone(),
        candidates,
        unroutable,
        loaded_at: router.loaded_at,
    }
}

fn coverage(config: &Config, router: &LoadedRouter) -> Result<RouterReport, ConfigError> {
    config
        .check_router_coverage(&router.candidate_names())
        .map_err(|problem| ConfigError::Invalid {
            file: "configuration".into(),
            problems: vec![problem],
        })?;
    Ok(report_of(config, router))
}

fn any_key_matches(keys: &[String], presented: &str) -> bool {
    keys.iter().fold(false, |ok, key| {
        ok | constant_time_eq(key.as_bytes(), presented.as_bytes())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
