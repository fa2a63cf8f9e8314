//! `GET /v1/models`: `auto` and the catalog, in OpenAI's list shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

/// The model list.
pub async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let router = state.router.load();
    let drift = state.audit.feedback.drift.snapshot();
    let created = router.loaded_at.timestamp();
    let mut data = vec![json!({
        "id": crate::request::AUTO_MODEL,
        "object": "model",
        "created": created,
        "owned_by": "arbiter",
        "router": router.name,
        "candidates": router.candidate_names(),
    })];
    for model in state.upstreams.models.values() {
        data.push(json!({
            "id": model.name,
            "object": "model",
            "created": created,
            "owned_by": model.providers.first().map_or("", |p| p.name.as_str()),
            "context_length": model.context_length,
            "providers": model.providers.iter().map(|p| json!({
                "name": p.name,
                "input_usd_per_mtok": p.input_usd_per_mtok,
                "output_usd_per_mtok": p.output_usd_per_mtok,
                "breaker": p.breaker.state(),
            })).collect::<Vec<_>>(),
            "routable": router.candidates.iter().any(|c| c.name == model.name),
            "feedback": drift.get(&model.name),
        }));
    }
    Json(json!({"object": "list", "data": data}))
}
