//! Test fixtures: decision and feedback lines in the gateway's format, written by hand (the
//! fields `serve` writes, in its spelling), so the reader is tested against the format and
//! not against itself.

use std::path::Path;

use serde_json::{Value, json};

/// A decision record line: `auto` over `a` (cost 0.01) and `b` (cost 0.001), with the
/// logged utilities `ua`, `ub`, the logged choice `routed` (which answered) and its
/// propensity; `prompt` only when given; exploration ε = 0.5 when `explored`.
pub fn decision(
    id: &str,
    prompt: Option<&str>,
    routed: &str,
    propensity: Option<f64>,
    (ua, ub): (f64, f64),
    explored: bool,
) -> Value {
    let mut d = json!({
        "id": id,
        "time": "2026-12-02T10:00:00Z",
        "endpoint": "chat",
        "requested_model": "auto",
        "model": routed,
        "routed_model": routed,
        "router": "logger",
        "task": null,
        "objective": "quality",
        "constraints": {"max_cost_usd": null, "min_quality": null, "candidates": null, "exclude": [], "models": []},
        "candidates": [
            {"model": "a", "predicted_quality": ua, "est_cost_usd": 0.01, "est_latency_ms": null, "utility": ua, "excluded": null},
            {"model": "b", "predicted_quality": ub, "est_cost_usd": 0.001, "est_latency_ms": null, "utility": ub, "excluded": null}
        ],
        "fallback_order": [routed],
        "propensity": propensity,
        "policy": {"router_sha256": "00", "config_sha256": "11",
                   "explore": if explored { json!({"epsilon": 0.5, "temperature": null, "band": null}) } else { Value::Null }},
        "reason": "",
        "scores": null,
        "prompt_id": "p",
        "est_prompt_tokens": 10,
        "stream": false,
        "attempts": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        "cost_usd": if routed == "a" { 0.012 } else { 0.0012 },
        "outcome": "ok",
        "router_us": 30.0,
        "latency_ms": 100.0
    });
    if let Some(p) = prompt {
        d["prompt"] = json!(p);
    }
    d
}

/// A feedback line.
pub fn feedback(id: &str, source: &str, score: f64, revision: u32) -> Value {
    json!({"decision_id": id, "time": "2026-12-02T10:00:01Z", "source": source, "score": score,
           "revision": revision, "model": null, "predicted_quality": null})
}

/// Writes `lines` as `<dir>/<name>` (one JSON per line), then `extra` verbatim.
pub fn write(dir: &Path, name: &str, lines: &[Value], extra: &str) {
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(extra);
    std::fs::write(dir.join(name), text).unwrap();
}
