//! Calling OpenAI-compatible upstreams: the catalog's providers with their keys, breakers
//! and latency averages ([`Upstreams`]), one attempt ([`client`]), the fallback loop and
//! the SSE pass-through ([`forward`], [`sse`]).

pub mod breaker;
pub mod client;
pub mod forward;
pub mod latency;
pub mod redact;
pub mod sse;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use models::ModelPrice;

use crate::config::{BreakerConfig, Config, UpstreamConfig};
use breaker::Breaker;
use latency::LatencyEwma;
use redact::Redactor;

/// An upstream API key. `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// One (model, provider) deployment.
#[derive(Debug)]
pub struct Provider {
    /// Catalog model name.
    pub model: String,
    /// Provider name (records, metrics).
    pub name: String,
    /// `model@provider`, the metrics label and breaker identity.
    pub label: String,
    /// Full URL of `chat/completions`.
    pub url: String,
    /// Model name sent upstream.
    pub upstream_model: String,
    /// The key read from the environment at startup.
    pub api_key: Option<ApiKey>,
    /// The variable the key should come from, when it was not set.
    pub missing_key_env: Option<String>,
    /// USD per million input tokens.
    pub input_usd_per_mtok: f64,
    /// USD per million output tokens.
    pub output_usd_per_mtok: f64,
    /// See `ProviderConfig::timeout_secs`.
    pub timeout: Duration,
    /// Circuit breaker.
    pub breaker: Breaker,
    /// Live latency average.
    pub latency: LatencyEwma,
    /// Every configured secret (shared by all providers: any upstream may echo any key).
    pub redactor: Arc<Redactor>,
    /// Bounds on what this provider may send.
    pub limits: UpstreamConfig,
}

impl Provider {
    /// This provider's list price.
    pub fn price(&self) -> ModelPrice {
        ModelPrice {
            input_usd_per_mtok: self.input_usd_per_mtok,
            output_usd_per_mtok: self.output_usd_per_mtok,
        }
    }

    /// Cost in USD of a request with these token counts (an answer's usage) at its price.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        // Token counts far below 2^53: the conversion is exact.
        models::estimate_cost(input_tokens as f64, output_tokens as f64, &self.price())
    }

    /// Removes every configured key and upstream URL from a text (upstream error bodies
    /// may echo them): see [`redact`].
    pub fn redact(&self, text: &str) -> String {
        self.redactor.text(text).into_owned()
    }
}

/// A catalog model with its providers, in order of preference.
#[derive(Debug)]
pub struct CatalogModel {
    /// Catalog name.
    pub name: String,
    /// Context window in tokens.
    pub context_length: u32,
    /// Providers, first preferred.
    pub providers: Vec<Arc<Provider>>,
}

/// The catalog as the request path uses it, plus the shared HTTP client.
#[derive(Debug)]
pub struct Upstreams {
    /// Models by name.
    pub models: BTreeMap<String, CatalogModel>,
    /// One pooled client for every upstream.
    pub client: reqwest::Client,
    /// Every configured secret, for texts that are not about one provider.
    pub redactor: Arc<Redactor>,
}

/// Why the upstream HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Upstreams {
    /// Builds the catalog from the config, reading provider keys from the environment.
    pub fn from_config(config: &Config) -> Result<Upstreams, ClientError> {
        let keys = read_keys(config);
        let redactor = Arc::new(secrets(config, &keys));
        Ok(Upstreams {
            models: build_catalog(config, &config.breaker, &keys, &redactor),
            client: client::build_client()?,
            redactor,
        })
    }

    /// Every provider, for gauges.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.models.values().flat_map(|m| m.providers.iter())
    }
}

/// Provider keys by environment variable, read once (`None`: unset or empty).
fn read_keys(config: &Config) -> BTreeMap<String, Option<ApiKey>> {
    config
        .models
        .values()
        .flat_map(|m| m.providers.iter())
        .filter_map(|p| p.api_key_env.clone())
        .map(|var| {
            let key = std::env::var(&var)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(ApiKey);
            (var, key)
        })
        .collect()
}

/// Every secret an upstream text must not reveal: provider keys, client keys, provider URLs.
fn secrets(config: &Config, keys: &BTreeMap<String, Option<ApiKey>>) -> Redactor {
    let provider_keys = keys.values().flatten().map(|k| k.0.clone());
    let urls = config
        .models
        .values()
        .flat_map(|m| m.providers.iter())
        .flat_map(|p| redact::url_forms(&p.base_url));
    Redactor::new(provider_keys.chain(config.client_keys()), urls)
}

fn build_catalog(
    config: &Config,
    breaker: &BreakerConfig,
    keys: &BTreeMap<String, Option<ApiKey>>,
    redactor: &Arc<Redactor>,
) -> BTreeMap<String, CatalogModel> {
    let mut out = BTreeMap::new();
    for (name, model) in &config.models {
        let providers = model
            .providers
            .iter()
            .map(|p| {
                let provider_name = p.display_name();
                let (api_key, missing_key_env) = match &p.api_key_env {
                    None => (None, None),
                    Some(var) => match keys.get(var).cloned().flatten() {
                        Some(key) => (Some(key), None),
                        None => (None, Some(var.clone())),
                    },
                };
                Arc::new(Provider {
                    model: name.clone(),
                    label: format!("{name}@{provider_name}"),
                    name: provider_name,
                    url: format!("{}/chat/completions", p.base_url.trim_end_matches('/')),
                    upstream_model: p.model.clone().unwrap_or_else(|| name.clone()),
                    api_key,
                    missing_key_env,
                    input_usd_per_mtok: p.input_usd_per_mtok,
                    output_usd_per_mtok: p.output_usd_per_mtok,
                    timeout: p.timeout(),
                    breaker: Breaker::new(breaker.failure_threshold, breaker.cooldown()),
                    latency: LatencyEwma::default(),
                    redactor: Arc::clone(redactor),
                    limits: config.upstream.clone(),
                })
            })
            .collect();
        out.insert(
            name.clone(),
            CatalogModel {
                name: name.clone(),
                context_length: model.context_length,
                providers,
            },
        );
    }
    out
}
