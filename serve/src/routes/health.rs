//! `GET /healthz` (the process is up), `GET /readyz` (the router scores, the decision log
//! writes, and the gateway is not draining), `GET /metrics` (Prometheus text).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::metrics::Gauge;
use crate::state::AppState;
use crate::upstream::breaker::BreakerState;

/// Liveness.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 503 while shutting down, when the current router cannot score (one pass
/// of a fixed prompt per call, as much work as one decision), and while the decision log
/// is failing (its last write failed, until a write succeeds again), with the reasons.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
            .into_response();
    }
    let report = state.router_report();
    let reasons = unready_reasons(&state);
    if !reasons.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "reasons": reasons,
                "router": report.router,
            })),
        )
            .into_response();
    }
    let open: Vec<&str> = state
        .upstreams
        .providers()
        .filter(|p| p.breaker.state() == BreakerState::Open)
        .map(|p| p.label.as_str())
        .collect();
    Json(json!({
        "status": "ready",
        "router": report.router,
        "candidates": report.candidates,
        "unroutable": report.unroutable,
        "open_breakers": open,
    }))
    .into_response()
}

/// Why the gateway should not get traffic now (empty: ready).
fn unready_reasons(state: &AppState) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Err(e) = state.router.load().check_readiness() {
        reasons.push(format!("the router cannot score: {e}"));
    }
    if let Some(e) = state.audit.write_failure() {
        reasons.push(format!("the decision log's last write failed: {e}"));
    }
    reasons
}

/// Prometheus exposition.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut gauges = vec![Gauge {
        name: "arbiter_in_flight_requests",
        help: "Routing requests holding a concurrency permit.",
        labels: String::new(),
        value: (state.config.limits.max_concurrency - state.limiter.available_permits()) as f64,
    }];
    for p in state.upstreams.providers() {
        gauges.push(Gauge {
            name: "arbiter_breaker_state",
            help: "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
            labels: format!("provider=\"{}\"", p.label.replace('"', "'")),
            value: match p.breaker.state() {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
            },
        });
    }
    drift_gauges(&state, &mut gauges);
    for p in state.upstreams.providers() {
        if let Some(ms) = p.latency.get_ms() {
            gauges.push(Gauge {
                name: "arbiter_provider_latency_ewma_seconds",
                help: "Moving average of successful upstream latency per provider (feeds the latency estimate).",
                labels: format!("provider=\"{}\"", p.label.replace('"', "'")),
                value: ms / 1e3,
            });
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
        .into_response()
}

/// Per model, predicted vs realised quality on requests that received feedback
/// ([`crate::feedback::drift`]): one gauge family per figure.
fn drift_gauges(state: &AppState, gauges: &mut Vec<Gauge>) {
    let drift = state.audit.feedback.drift.snapshot();
    type Figure = fn(&crate::feedback::ModelDrift) -> f64;
    let figures: [(&'static str, &'static str, Figure); 4] = [
        (
            "arbiter_model_feedback_count",
            "Judged answers per model with a router prediction (first feedback per decision and source).",
            |d| d.count as f64,
        ),
        (
            "arbiter_model_predicted_quality_ewma",
            "Moving average of the router's predicted quality of judged answers, per model.",
            |d| d.predicted_quality,
        ),
        (
            "arbiter_model_realised_quality_ewma",
            "Moving average of the feedback score of judged answers, per model.",
            |d| d.realised_quality,
        ),
        (
            "arbiter_model_calibration_error",
            "|predicted - realised| of the two moving averages, per model: drift when it grows.",
            |d| d.calibration_error,
        ),
    ];
    for (name, help, value) in figures {
        for (model, d) in &drift {
            gauges.push(Gauge {
                name,
                help,
                labels: format!("model=\"{}\"", model.replace(['"', '\\', '\n'], "'")),
                value: value(d),
            });
        }
    }
}
