//! The audit record: one JSON object per request, the same object `/v1/route` returns,
//! the decision log stores and `/v1/decisions/{id}` serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use models::Objective;

pub use crate::outcome::{AttemptOutcome, RequestOutcome};

/// Everything about one request's decision and how it was served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionRecord {
    /// Decision id (UUID v7, time-ordered); also the `x-arbiter-decision-id` header.
    pub id: String,
    /// When the request arrived.
    pub time: DateTime<Utc>,
    /// `chat` or `route`.
    pub endpoint: String,
    /// What the client asked for: `auto` or a model name.
    pub requested_model: String,
    /// The model chosen (for `/v1/route`) or that answered (for chat); `null` if none did.
    pub model: Option<String>,
    /// The router's first choice (differs from `model` after a fallback).
    pub routed_model: Option<String>,
    /// The router artifact that decided.
    pub router: Option<String>,
    /// The most likely task, from the router's task head.
    pub task: Option<TaskGuess>,
    /// The objective the decision optimised.
    pub objective: Objective,
    /// Constraints applied.
    pub constraints: ConstraintsRecord,
    /// Every candidate with its predictions and, when dropped, why. Shared, not copied,
    /// between the in-flight record, the in-memory index and the writer: it is the bulk
    /// of a record and does not change after the decision.
    #[serde(with = "shared_slice")]
    pub candidates: Arc<[CandidateRecord]>,
    /// Models in the order they were (or would be) tried. Shared with the forwarding plan
    /// and between the in-flight and the final record.
    #[serde(with = "shared_slice")]
    pub fallback_order: Arc<[String]>,
    /// The probability with which `routed_model` was chosen: 1.0 unless exploration
    /// (`[routing.explore]`) drew it at random, then the draw's probability; `null` when
    /// nothing was routed. What replay evaluation weighs this request by.
    #[serde(default)]
    pub propensity: Option<f64>,
    /// What made an `auto` decision: the router artifact's and the configuration's content
    /// hashes and the exploration settings applied; `null` for a model requested by name.
    #[serde(default, with = "shared_option")]
    pub policy: Option<Arc<PolicyRecord>>,
    /// Why the winner won, in words.
    pub reason: String,
    /// The task head's full output (each candidate's predicted quality is in
    /// `candidates`, exactly as the scorer gave it).
    #[serde(with = "shared_option")]
    pub scores: Option<Arc<Scores>>,
    /// `models::prompt_id` of the routed prompt (user turns joined).
    pub prompt_id: String,
    /// The routed prompt, only when `audit.log_prompts` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Estimated prompt tokens (all messages).
    pub est_prompt_tokens: u32,
    /// Streaming request.
    pub stream: bool,
    /// Upstream attempts, in order.
    pub attempts: Vec<Attempt>,
    /// Token usage reported by the upstream that answered.
    pub usage: Option<Usage>,
    /// Cost of that usage at the provider's prices.
    pub cost_usd: Option<f64>,
    /// `routed` (decision only), `ok`, `upstream_error`, `upstream_rejected`,
    /// `no_candidate`, `stream_error`, `client_disconnected`, `pending`.
    pub outcome: RequestOutcome,
    /// Microseconds the router took (scoring + policy).
    pub router_us: Option<f64>,
    /// Milliseconds from arrival to the last byte sent.
    pub latency_ms: Option<f64>,
}

/// The policy behind an `auto` decision, enough to tell decisions of different routers or
/// configurations apart in the log and to redraw an explored pick from the record alone
/// (`models::explore_route` over `candidates`, seeded by `id`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyRecord {
    /// SHA-256 of the router artifact (`manifest.json`'s bytes, then `router.onnx`'s), hex;
    /// `null` for a router built in code.
    pub router_sha256: Option<String>,
    /// SHA-256 of the gateway's configuration (its JSON form, after defaults), hex.
    pub config_sha256: String,
    /// The exploration settings applied; `null` when off (not configured, or
    /// `route.explore = false`).
    pub explore: Option<models::ExploreConfig>,
}

/// The task head's top guess.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskGuess {
    /// Task name from the manifest.
    pub name: String,
    /// Its probability (f32, as the scorer computed it: serialised in its shortest form).
    pub probability: f32,
}

/// Constraints as applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConstraintsRecord {
    /// `route.max_cost_usd`.
    pub max_cost_usd: Option<f64>,
    /// `route.min_quality`.
    pub min_quality: Option<f64>,
    /// `route.candidates` intersected with `models`.
    pub candidates: Option<Vec<String>>,
    /// `route.exclude`.
    pub exclude: Vec<String>,
    /// The OpenRouter-style `models` list, when given.
    pub models: Vec<String>,
}

/// One candidate as the policy saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CandidateRecord {
    /// Catalog name.
    pub model: String,
    /// Predicted normalised quality in [0, 1] (f32, as the scorer computed it).
    pub predicted_quality: f32,
    /// Estimated cost of this request.
    pub est_cost_usd: Option<f64>,
    /// Estimated latency (live moving average of its provider).
    pub est_latency_ms: Option<f64>,
    /// Utility under the objective.
    pub utility: Option<f64>,
    /// Why it was dropped, or `null` when it competed.
    pub excluded: Option<String>,
}

/// The scorer's outputs that are not per candidate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scores {
    /// Task probabilities.
    pub task_probs: BTreeMap<String, f32>,
}

/// One upstream attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// Catalog model.
    pub model: String,
    /// Provider name.
    pub provider: String,
    /// HTTP status from the upstream, if it answered.
    pub status: Option<u16>,
    /// `ok`, `skipped`, `connect_error`, `timeout`, `http_error`, `bad_response`,
    /// `too_large`, `stream_error`, `rejected`, `client_disconnected`.
    pub outcome: AttemptOutcome,
    /// Milliseconds spent on the attempt (to the response, or to the first event when streaming).
    pub latency_ms: f64,
    /// What went wrong (never an API key).
    pub error: Option<String>,
}

/// Token usage.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl Usage {
    /// Reads OpenAI's `usage` object.
    pub fn from_json(v: &serde_json::Value) -> Option<Usage> {
        let p = v.get("prompt_tokens")?.as_u64()?;
        let c = v.get("completion_tokens")?.as_u64()?;
        let t = v
            .get("total_tokens")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(p + c);
        Some(Usage {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: t,
        })
    }
}

/// Serde for `Arc<[T]>` as a plain JSON array (serde's own `Arc` support needs its `rc`
/// feature, which would rebuild every crate that uses serde).
mod shared_slice {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Arc<[T]>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Arc<[T]>, D::Error> {
        Vec::<T>::deserialize(d).map(Arc::from)
    }
}

/// Serde for `Option<Arc<T>>` as the plain value or `null`.
mod shared_option {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Arc<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_deref().serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Arc<T>>, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map(Arc::new))
    }
}
