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
    pub default_objective: ObjectiveSpec,
    /// Run the scorer on tokio's blocking pool (`true`) or inline on the request task.
    /// Inline is the default: scoring takes tens of microseconds, less than the hand-off
    /// to the blocking pool costs (see serve/README.md for the measurement).
    #[serde(default)]
    pub score_on_blocking_pool: bool,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default_objective: default_objective(),
            score_on_blocking_pool: false,
        }
    }
}

/// An objective as written in config or in a request's `route.objective`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ObjectiveSpec {
    /// `"quality"`, `"cost"` or `"latency"`.
    Named(NamedObjective),
    /// Explicit weights.
    Weighted(ObjectiveWeights),
}

/// The three named objectives.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NamedObjective {
    /// Highest predicted quality.
    Quality,
    /// Cheapest.
    Cost,
    /// Fastest.
    Latency,
}

/// `utility = quality·q − cost_per_usd·cost − latency_per_s·latency`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveWeights {
    /// Weight of predicted quality (default 1).
    #[serde(default = "one")]
    pub quality: f64,
    /// Utility lost per US dollar of estimated cost.
    #[serde(default)]
    pub cost_per_usd: f64,
    /// Utility lost per second of estimated latency.
    #[serde(default)]
    pub latency_per_s: f64,
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
        }
    }
}

/// Threading of the HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
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
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request body, in bytes (larger → 413).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests served at once by `/v1/chat/completions` and `/v1/route` (more → 429).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: default_max_body(),
            max_concurrency: default_concurrency(),
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
    /// Time allowed until the response (non-streaming) or the first event (streaming),
    /// and between streamed events.
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
fn default_objective() -> ObjectiveSpec {
    ObjectiveSpec::Named(NamedObjective::Quality)
}
fn one() -> f64 {
    1.0
}
fn default_audit_dir() -> PathBuf {
    PathBuf::from("decisions")
}
fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
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

        if let ObjectiveSpec::Weighted(w) = &self.routing.default_objective {
            check_weights(w, "routing.default_objective", &mut problem);
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
                } else if reqwest::Url::parse(&p.base_url).is_err() {
                    problem(
                        format!("{pat}.base_url"),
                        format!("`{}` is not a valid URL", p.base_url),
                    );
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
        let mut keys = self.auth.api_keys.clone();
        if let Some(var) = &self.auth.api_keys_env
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
}

fn check_weights(w: &ObjectiveWeights, at: &str, problem: &mut impl FnMut(String, String)) {
    for (field, v) in [
        ("quality", w.quality),
        ("cost_per_usd", w.cost_per_usd),
        ("latency_per_s", w.latency_per_s),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            problem(
                format!("{at}.{field}"),
                format!("must be a finite non-negative number, got {v}"),
            );
        }
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
