//! The gateway's configuration: strict serde structs read from TOML, then `validate()`.
//!
//! Two steps, as in TensorZero's config: parsing rejects unknown keys and wrong types and
//! names the TOML path of the offending value (`models.gpt-4o.providers[0].timeout_secs`);
//! validation then checks values against each other (every model has a provider, prices
//! are finite, the catalog covers the router's candidates, …) and reports every problem
//! at once, each with its path.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use models::Objective;
use serde::{Deserialize, Serialize};

/// Where `cargo run -p serve` listens when neither the config nor `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The router artifact shipped with the repository.
pub const DEFAULT_ROUTER_DIR: &str = "models/default";

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory holding `router.onnx` and `manifest.json`.
    #[serde(default = "default_router_dir")]
    pub router_dir: PathBuf,
    /// How `model: "auto"` chooses when the request does not say.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Client authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The decision log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Request size and concurrency limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// When a failing provider is taken out of rotation.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Bounds on what an upstream may send back.
    #[serde(default)]
    pub upstream: UpstreamConfig,
    /// How requests are spread over threads.
    #[serde(default)]
    pub server: ServerConfig,
    /// The catalog: every model the gateway can call, keyed by the name clients use.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
}

/// Routing defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// `quality`, `cost`, `latency`, or `{ quality = 1.0, cost_per_usd = 50.0, latency_per_s = 0.0 }`.
    #[serde(default = "default_objective")]
    pub default_objective: Objective,
    /// Run the scorer on tokio's blocking pool (`true`) or inline on the request task.
    /// Inline is the default: scoring takes tens of microseconds, less than the hand-off
    /// to the blocking pool costs (see serve/README.md for the measurement).
    #[serde(default)]
    pub score_on_blocking_pool: bool,
    /// `[routing.explore]`: serve a candidate near the winner at random, with its logged
    /// probability (`propensity` in the record), so replay evaluation can estimate another
    /// router from this traffic. Off by default.
    #[serde(default)]
    pub explore: models::ExploreConfig,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default_objective: default_objective(),
            score_on_blocking_pool: false,
            explore: models::ExploreConfig::default(),
        }
    }
}

/// Client authentication.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted bearer keys. With none here and none in `api_keys_env`, auth is off (local use).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Name of an environment variable holding more keys, comma-separated.
    #[serde(default)]
    pub api_keys_env: Option<String>,
    /// Serve without client keys on a non-loopback `listen` address. Off by default: a
    /// gateway reachable from the network without keys spends its upstream keys for anyone.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Keys for `/admin/*` (and `/metrics` with `protect_metrics`), distinct from client
    /// keys: a client key cannot reload the router.
    #[serde(default)]
    pub admin_keys: Vec<String>,
    /// Name of an environment variable holding more admin keys, comma-separated.
    #[serde(default)]
    pub admin_keys_env: Option<String>,
    /// `/metrics` requires an admin key (it names providers, models and traffic).
    #[serde(default)]
    pub protect_metrics: bool,
}

/// The decision log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Directory of the JSON-lines files.
    #[serde(default = "default_audit_dir")]
    pub dir: PathBuf,
    /// Store the prompt text in each record (otherwise only its hash, `models::prompt_id`).
    #[serde(default)]
    pub log_prompts: bool,
    /// Start a new file once the current one is this large.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Records waiting for the writer; when full, new records are counted as dropped.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Records kept in memory for `GET /v1/decisions/{id}` (older ones are read from disk).
    #[serde(default = "default_recent")]
    pub recent_in_memory: usize,
    /// How often the writer fsyncs the current file.
    #[serde(default = "default_fsync_ms")]
    pub fsync_interval_ms: u64,
    /// What must have happened to a request's record before its response is sent.
    #[serde(default)]
    pub durability: Durability,
    /// Most bytes of log files kept in `dir`; at each rotation the oldest files beyond
    /// are deleted (never the current one). 0: no limit. Default 10 GiB.
    #[serde(default = "default_max_total_bytes")]
    pub max_total_bytes: u64,
    /// Files last written more than this many days ago are deleted at rotation. 0 (the
    /// default): no age limit, only `max_total_bytes` (an audit log is often kept for a
    /// set period; deleting by age is the operator's choice).
    #[serde(default)]
    pub max_age_days: u32,
    /// Which `/v1/route` records are kept: `"all"` (default: every decision id can be
    /// looked up, as before), `"none"`, or a fraction in [0, 1] (by a hash of the id).
    /// `/v1/route` answers the decision in its body, so its record is only an audit copy.
    #[serde(default)]
    pub route_records: RouteRecords,
}

/// Which `/v1/route` records reach the decision log (`audit.route_records`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RouteRecords {
    /// `"all"` or `"none"`.
    Named(RouteRecordsMode),
    /// A fraction of records to keep, in [0, 1].
    Sample(f64),
}

/// `"all"` or `"none"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RouteRecordsMode {
    /// Every record is kept.
    All,
    /// No record is kept.
    None,
}

impl Default for RouteRecords {
    fn default() -> Self {
        RouteRecords::Named(RouteRecordsMode::All)
    }
}

impl RouteRecords {
    /// The fraction of records kept.
    pub fn fraction(&self) -> f64 {
        match self {
            RouteRecords::Named(RouteRecordsMode::All) => 1.0,
            RouteRecords::Named(RouteRecordsMode::None) => 0.0,
            RouteRecords::Sample(f) => f.clamp(0.0, 1.0),
        }
    }

    /// Whether the record with this id is kept: decided by a hash of the id (its random
    /// bits), so the choice needs no random generator and is the same on every replica.
    pub fn keeps(&self, id: &str) -> bool {
        let f = self.fraction();
        if f >= 1.0 {
            return true;
        }
        let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        (h as f64) < f * (u64::MAX as f64)
    }
}

/// When a response may leave relative to its decision record (see `serve/README.md`,
/// "Write path and crash consistency").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// The record is queued for the writer; the response does not wait. A process crash
    /// can lose the records of the last few milliseconds.
    #[default]
    Queued,
    /// The handler writes the record to the OS itself (`write`) before the response head
    /// is sent: after a process crash every response that carried a decision id has its
    /// record (a stream's is written as `pending` before its first byte).
    Written,
    /// As `written`, and the file has been fsynced: also survives a machine crash.
    Synced,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: default_audit_dir(),
            log_prompts: false,
            max_file_bytes: default_max_file_bytes(),
            queue_capacity: default_queue_capacity(),
            recent_in_memory: default_recent(),
            fsync_interval_ms: default_fsync_ms(),
            durability: Durability::default(),
            max_total_bytes: default_max_total_bytes(),
            max_age_days: 0,
            route_records: RouteRecords::default(),
        }
    }
}

/// Threading of the HTTP server, and what a client connection may hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `per_core` (default on Linux): one single-threaded runtime per thread, each with its
    /// own listening socket (`SO_REUSEPORT`: the kernel spreads connections over them) and its
    /// own upstream connection pool, so a request never changes threads. `shared`: one
    /// work-stealing tokio runtime for every connection; choose it when a few long-lived
    /// client connections carry most of the traffic (the kernel balances connections, not
    /// requests).
    #[serde(default)]
    pub mode: ServerMode,
    /// Threads (`per_core`) or tokio workers (`shared`); 0 = one per available core.
    #[serde(default)]
    pub threads: usize,
    /// Seconds a client has to send a complete request head. The clock starts when the
    /// server begins waiting for a head: on a new connection, and when a keep-alive
    /// connection goes idle (hyper's semantics), so it also bounds idle keep-alive waits.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: f64,
    /// Seconds a connection may stay open with no request in flight before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: f64,
    /// Seconds a write to a client may make no progress (the client stopped reading, its
    /// receive window is full) before the connection is dropped, freeing what its request
    /// holds (a concurrency permit, an upstream stream).
    #[serde(default = "default_write_stall_timeout")]
    pub write_stall_timeout_secs: f64,
    /// Client connections open at once, across all threads; beyond it a new connection is
    /// answered `503` with `Connection: close` and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Origins allowed to call the gateway from a browser (CORS), e.g.
    /// `["https://app.example"]`. Empty (the default): no cross-origin access, and a
    /// preflight `OPTIONS` request gets 403.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            mode: ServerMode::default(),
            threads: 0,
            header_read_timeout_secs: default_header_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            write_stall_timeout_secs: default_write_stall_timeout(),
            max_connections: default_max_connections(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// See [`ServerConfig::mode`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServerMode {
    PerCore,
    Shared,
}

impl Default for ServerMode {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            ServerMode::PerCore
        } else {
            ServerMode::Shared
        }
    }
}

impl ServerConfig {
    /// Threads to run: `threads`, or the available cores when 0.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }

    /// [`ServerConfig::header_read_timeout_secs`] as a duration (validated positive).
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.header_read_timeout_secs.max(0.0))
    }

    /// [`ServerConfig::idle_timeout_secs`] as a duration (validated positive).
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout_secs.max(0.0))
    }

    /// [`ServerConfig::write_stall_timeout_secs`] as a duration (validated positive).
    pub fn write_stall_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.write_stall_timeout_secs.max(0.0))
    }
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request body, in bytes (larger → 413).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests served at once by `/v1/chat/completions` and `/v1/route` (more → 429).
    /// The body is read while holding the permit.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Seconds allowed to read a whole request body; slower → 408 and the connection closes.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_secs: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: default_max_body(),
            max_concurrency: default_concurrency(),
            body_read_timeout_secs: default_body_read_timeout(),
        }
    }
}

impl LimitsConfig {
    /// [`LimitsConfig::body_read_timeout_secs`] as a duration (validated positive).
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.body_read_timeout_secs.max(0.0))
    }
}

/// Bounds on what an upstream may send: a broken or hostile provider must not be able to
/// exhaust the gateway's memory or hold a request for ever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Largest non-streamed response body read from an upstream, in bytes. A larger one
    /// fails the attempt (outcome `too_large`) and the next candidate is tried.
    #[serde(default = "default_upstream_body")]
    pub max_body_bytes: usize,
    /// Largest single server-sent event of a stream, in bytes (bytes without an event
    /// boundary count as one growing event). Beyond it the stream fails.
    #[serde(default = "default_upstream_event")]
    pub max_event_bytes: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            max_body_bytes: default_upstream_body(),
            max_event_bytes: default_upstream_event(),
        }
    }
}

/// Circuit breaker settings, shared by every provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long an open breaker stays open before one probe request is let through.
    #[serde(default = "default_cooldown_secs")]
    pub cooldown_secs: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: default_failure_threshold(),
            cooldown_secs: default_cooldown_secs(),
        }
    }
}

impl BreakerConfig {
    /// The cool-down as a duration (validated finite and positive).
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs_f64(self.cooldown_secs.max(0.0))
    }
}

/// One model of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Context window in tokens; longer prompts are not routed to this model.
    pub context_length: u32,
    /// Where the model can be called, in order of preference (later ones are fallbacks).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// One OpenAI-compatible endpoint serving a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name in records and metrics; defaults to the host of `base_url`.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL up to and including `/v1` (the gateway appends `/chat/completions`).
    pub base_url: String,
    /// The model name this provider expects; defaults to the catalog name.
    #[serde(default)]
    pub model: Option<String>,
    /// Environment variable holding the provider's API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// USD per million input tokens.
    pub input_usd_per_mtok: f64,
    /// USD per million output tokens.
    pub output_usd_per_mtok: f64,
    /// Time allowed for the whole answer when not streaming (head and body), for the
    /// first event of a stream (counted from the request, however the bytes trickle in),
    /// and between two complete events of a stream.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
}

impl ProviderConfig {
    /// The name used in records and metrics.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let rest = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?']).next().unwrap_or(rest).to_string()
    }

    /// The timeout as a duration (validated finite and positive).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs.max(0.0))
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_router_dir() -> PathBuf {
    PathBuf::from(DEFAULT_ROUTER_DIR)
}
fn default_objective() -> Objective {
    Objective::Quality
}
fn default_audit_dir() -> PathBuf {
    PathBuf::from("decisions")
}
fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_max_total_bytes() -> u64 {
    10 * 1024 * 1024 * 1024
}
fn default_queue_capacity() -> usize {
    4096
}
fn default_recent() -> usize {
    10_000
}
fn default_fsync_ms() -> u64 {
    1000
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_concurrency() -> usize {
    512
}
fn default_body_read_timeout() -> f64 {
    30.0
}
fn default_header_read_timeout() -> f64 {
    10.0
}
fn default_idle_timeout() -> f64 {
    60.0
}
fn default_write_stall_timeout() -> f64 {
    60.0
}
fn default_max_connections() -> usize {
    10_000
}
fn default_upstream_body() -> usize {
    8 * 1024 * 1024
}
fn default_upstream_event() -> usize {
    1024 * 1024
}
fn default_failure_threshold() -> u32 {
    5
}
fn default_cooldown_secs() -> f64 {
    30.0
}
fn default_timeout_secs() -> f64 {
    120.0
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bad TOML, an unknown key or a value of the wrong type.
    #[error("{file}: at `{path}`: {message}")]
    Parse {
        /// The file (or `<string>`).
        file: String,
        /// TOML path of the offending value.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but do not fit together.
    #[error("{file}: invalid configuration:\n{}", format_problems(.problems))]
    Invalid {
        /// The file (or `<string>`).
        file: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// One validation problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// TOML path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config = parse(text, file)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_string(),
                problems,
            })
        }
    }

    /// Checks values against each other; returns every problem found (empty = valid).
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });

        if let Some((field, v)) = self.routing.default_objective.invalid_weight() {
            problem(
                format!("routing.default_objective.{field}"),
                format!("must be a finite non-negative number, got {v}"),
            );
        }
        if let Err(e) = self.routing.explore.validate() {
            problem(format!("routing.explore.{}", e.field), e.problem);
        }
        if let Some(var) = &self.auth.api_keys_env
            && var.trim().is_empty()
        {
            problem(
                "auth.api_keys_env".into(),
                "must name an environment variable".into(),
            );
        }
        for (i, key) in self.auth.api_keys.iter().enumerate() {
            if key.trim().is_empty() {
                problem(format!("auth.api_keys[{i}]"), "empty key".into());
            }
        }
        if self.audit.max_file_bytes < 1024 {
            problem(
                "audit.max_file_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        if self.server.threads > 1024 {
            problem(
                "server.threads".into(),
                format!(
                    "{} threads; at most 1024 (0 = one per core)",
                    self.server.threads
                ),
            );
        }
        if self.audit.queue_capacity == 0 {
            problem("audit.queue_capacity".into(), "must be at least 1".into());
        }
        if self.audit.max_total_bytes != 0 && self.audit.max_total_bytes < self.audit.max_file_bytes
        {
            problem(
                "audit.max_total_bytes".into(),
                format!(
                    "{} bytes is less than one file (audit.max_file_bytes = {}); 0 means no limit",
                    self.audit.max_total_bytes, self.audit.max_file_bytes
                ),
            );
        }
        if let RouteRecords::Sample(f) = self.audit.route_records
            && !(f.is_finite() && (0.0..=1.0).contains(&f))
        {
            problem(
                "audit.route_records".into(),
                format!("`{f}`: expected \"all\", \"none\" or a fraction between 0 and 1"),
            );
        }
        if self.audit.fsync_interval_ms == 0 {
            problem(
                "audit.fsync_interval_ms".into(),
                "must be at least 1".into(),
            );
        }
        if self.limits.max_body_bytes < 1024 {
            problem(
                "limits.max_body_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        if self.limits.max_concurrency == 0 {
            problem("limits.max_concurrency".into(), "must be at least 1".into());
        }
        for (path, secs) in [
            (
                "limits.body_read_timeout_secs",
                self.limits.body_read_timeout_secs,
            ),
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            (
                "server.write_stall_timeout_secs",
                self.server.write_stall_timeout_secs,
            ),
        ] {
            if !(secs.is_finite() && secs > 0.0) {
                problem(path.into(), "must be a positive number of seconds".into());
            }
        }
        if self.server.max_connections == 0 {
            problem("server.max_connections".into(), "must be at least 1".into());
        }
        for (i, origin) in self.server.cors_allowed_origins.iter().enumerate() {
            if let Some(why) = bad_origin(origin) {
                problem(format!("server.cors_allowed_origins[{i}]"), why);
            }
        }
        for p in self.auth_problems() {
            problem(p.path, p.message);
        }
        if self.upstream.max_body_bytes < 1024 {
            problem(
                "upstream.max_body_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        if self.upstream.max_event_bytes < 1024 {
            problem(
                "upstream.max_event_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        if self.breaker.failure_threshold == 0 {
            problem(
                "breaker.failure_threshold".into(),
                "must be at least 1".into(),
            );
        }
        if !(self.breaker.cooldown_secs.is_finite() && self.breaker.cooldown_secs > 0.0) {
            problem(
                "breaker.cooldown_secs".into(),
                "must be a positive number of seconds".into(),
            );
        }
        if self.models.is_empty() {
            problem(
                "models".into(),
                "the catalog is empty: add at least one [models.<name>]".into(),
            );
        }
        let mut provider_names: BTreeMap<String, String> = BTreeMap::new();
        for (name, model) in &self.models {
            let at = format!("models.{}", toml_key(name));
            if name == crate::request::AUTO_MODEL {
                problem(at.clone(), "`auto` is reserved for routing".into());
            }
            if model.context_length == 0 {
                problem(format!("{at}.context_length"), "must be at least 1".into());
            }
            if model.providers.is_empty() {
                problem(
                    format!("{at}.providers"),
                    "no provider: add at least one [[models.<name>.providers]]".into(),
                );
            }
            for (i, p) in model.providers.iter().enumerate() {
                let pat = format!("{at}.providers[{i}]");
                if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                    problem(
                        format!("{pat}.base_url"),
                        format!("`{}` is not an http(s) URL", p.base_url),
                    );
                } else {
                    match reqwest::Url::parse(&p.base_url) {
                        Err(_) => problem(
                            format!("{pat}.base_url"),
                            format!("`{}` is not a valid URL", p.base_url),
                        ),
                        Ok(url) => {
                            if let Some(why) = url_credentials(&url) {
                                // Not echoed: the URL holds a secret.
                                problem(format!("{pat}.base_url"), why.into());
                            }
                        }
                    }
                }
                if let Some(var) = &p.api_key_env
                    && (var.trim().is_empty() || var.contains('='))
                {
                    problem(format!("{pat}.api_key_env"), "must name an environment variable (the key itself never goes in the config)".into());
                }
                if let Some(m) = &p.model
                    && m.trim().is_empty()
                {
                    problem(format!("{pat}.model"), "empty upstream model name".into());
                }
                for (field, v) in [
                    ("input_usd_per_mtok", p.input_usd_per_mtok),
                    ("output_usd_per_mtok", p.output_usd_per_mtok),
                ] {
                    if !(v.is_finite() && v >= 0.0) {
                        problem(
                            format!("{pat}.{field}"),
                            format!("price must be a finite non-negative number, got {v}"),
                        );
                    }
                }
                if !(p.timeout_secs.is_finite() && p.timeout_secs > 0.0) {
                    problem(
                        format!("{pat}.timeout_secs"),
                        "must be a positive number of seconds".into(),
                    );
                }
                let key = format!("{name}@{}", p.display_name());
                if let Some(prev) = provider_names.insert(key.clone(), pat.clone()) {
                    problem(
                        format!("{pat}.name"),
                        format!(
                            "provider `{key}` is also defined at `{prev}`: give one a distinct `name`"
                        ),
                    );
                }
            }
        }
        problems
    }

    /// Which of the router's candidates the catalog cannot call (they will be reported as
    /// unavailable in every decision). An error when none of them is callable.
    pub fn check_router_coverage(&self, candidates: &[String]) -> Result<Vec<String>, Problem> {
        let unroutable: Vec<String> = candidates
            .iter()
            .filter(|c| !self.models.contains_key(c.as_str()))
            .cloned()
            .collect();
        if !candidates.is_empty() && unroutable.len() == candidates.len() {
            return Err(Problem {
                path: "models".into(),
                message: format!(
                    "the catalog covers none of the router's candidates ({}): `model: \"auto\"` could never route",
                    candidates.join(", ")
                ),
            });
        }
        Ok(unroutable)
    }

    /// Client keys from the config plus the named environment variable.
    pub fn client_keys(&self) -> Vec<String> {
        keys_with_env(&self.auth.api_keys, self.auth.api_keys_env.as_deref())
    }

    /// Admin keys from the config plus the named environment variable.
    pub fn admin_keys(&self) -> Vec<String> {
        keys_with_env(&self.auth.admin_keys, self.auth.admin_keys_env.as_deref())
    }

    /// The exposure check: a non-loopback `listen` needs client keys unless
    /// `auth.allow_unauthenticated` says otherwise. Run by [`Config::validate`] and again at
    /// startup, since `--listen` can change the address after the file was validated.
    pub fn check_exposure(&self) -> Result<(), Problem> {
        if self.listen.ip().is_loopback()
            || self.auth.allow_unauthenticated
            || !self.client_keys().is_empty()
        {
            return Ok(());
        }
        Err(Problem {
            path: "listen".into(),
            message: format!(
                "{} is reachable from the network and no client key is configured, so anyone could spend the upstream keys: set `auth.api_keys` or `auth.api_keys_env` (an unset variable counts as no key), listen on 127.0.0.1, or set `auth.allow_unauthenticated = true` if something in front of the gateway authenticates",
                self.listen
            ),
        })
    }

    /// Problems with the admin keys and the exposure check.
    fn auth_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(var) = &self.auth.admin_keys_env
            && var.trim().is_empty()
        {
            problems.push(Problem {
                path: "auth.admin_keys_env".into(),
                message: "must name an environment variable".into(),
            });
        }
        for (i, key) in self.auth.admin_keys.iter().enumerate() {
            if key.trim().is_empty() {
                problems.push(Problem {
                    path: format!("auth.admin_keys[{i}]"),
                    message: "empty key".into(),
                });
            }
        }
        let client = self.client_keys();
        let admin = self.admin_keys();
        if admin.iter().any(|k| client.contains(k)) {
            // The key itself is not echoed: it is a secret.
            problems.push(Problem {
                path: "auth.admin_keys".into(),
                message: "a key is both a client key and an admin key: admin keys must be distinct"
                    .into(),
            });
        }
        if self.auth.protect_metrics && admin.is_empty() {
            problems.push(Problem {
                path: "auth.protect_metrics".into(),
                message: "needs an admin key: set `auth.admin_keys` or `auth.admin_keys_env`"
                    .into(),
            });
        }
        if let Err(p) = self.check_exposure() {
            problems.push(p);
        }
        problems
    }
}

/// `keys` plus the comma-separated keys in the environment variable `var`, when set.
fn keys_with_env(keys: &[String], var: Option<&str>) -> Vec<String> {
    let mut keys = keys.to_vec();
    if let Some(var) = var
        && let Ok(value) = std::env::var(var)
    {
        keys.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        );
    }
    keys
}

/// Why `origin` is not a CORS origin (`scheme://host[:port]`, nothing after), or `None`.
fn bad_origin(origin: &str) -> Option<String> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some(format!(
            "`{origin}` is not an origin like `https://app.example`"
        ));
    };
    if !(scheme == "http" || scheme == "https") {
        return Some(format!("`{origin}`: the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '*']) {
        return Some(format!(
            "`{origin}`: an origin is `scheme://host[:port]`, without a path, wildcard or trailing slash"
        ));
    }
    None
}

/// Why a base URL that carries credentials is refused (`None`: it carries none). A key in
/// the URL would end up in every URL the gateway builds, and from there in error texts;
/// keys belong in `api_key_env`, sent as a header that nothing echoes.
fn url_credentials(url: &reqwest::Url) -> Option<&'static str> {
    if !url.username().is_empty() || url.password().is_some() {
        Some("the URL carries a user name or password: put the key in `api_key_env` instead")
    } else if url.query().is_some() {
        Some(
            "the URL has a query string (`?…`), where keys are often passed: put the key in `api_key_env`; query parameters are not supported",
        )
    } else if url.fragment().is_some() {
        Some("the URL has a fragment (`#…`): remove it")
    } else {
        None
    }
}

/// Quotes a TOML key when it is not a bare key (`gpt-4o` is bare, `llama 3` is not).
fn toml_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\\\""))
    }
}

fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let at_line = |span: Option<std::ops::Range<usize>>| {
        span.map(|r| {
            let before = &text[..r.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" (line {line}, column {col})")
        })
        .unwrap_or_default()
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
        file: file.to_string(),
        path: ".".into(),
        message: format!("{}{}", e.message().trim(), at_line(e.span())),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Parse {
            file: file.to_string(),
            path,
            message: format!("{}{}", inner.message().trim(), at_line(inner.span())),
        }
    })
}
