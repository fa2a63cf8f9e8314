//! `POST /v1/feedback`: a judgement of a decision's answer (a score in [0, 1] or a thumbs
//! rating), stored beside the decision log. The OpenAI SDK has no such call; the README
//! shows it with curl and httpx.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::Permit;
use crate::audit::LookupError;
use crate::error::{ApiError, JsonObject};
use crate::feedback::{StoreError, parse_feedback};
use crate::state::AppState;

/// 200 with the stored feedback (`revision`, `replaced`); 400 for a malformed body, 404 for
/// an unknown decision, 503 when it cannot be stored now.
pub async fn post_feedback(
    State(state): State<Arc<AppState>>,
    Permit(_permit): Permit,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let count = |result: &str| state.metrics.feedback.with(&[result]).inc();
    let input = parse_feedback(body).inspect_err(|_| count("invalid"))?;
    let decision = match state.audit.get(&input.decision_id).await {
        Ok(record) => record,
        Err(LookupError::NotFound(_)) => {
            count("not_found");
            return Err(ApiError::DecisionNotFound(input.decision_id));
        }
        Err(LookupError::Busy) => {
            count("failed");
            return Err(ApiError::Unavailable(LookupError::Busy.to_string()));
        }
    };
    let stored = match state.audit.feedback.store(input, &decision).await {
        Ok(stored) => stored,
        Err(e @ (StoreError::Lookup(_) | StoreError::Write(_))) => {
            count("failed");
            return Err(ApiError::Unavailable(e.to_string()));
        }
    };
    count(if stored.replaced {
        "replaced"
    } else {
        "accepted"
    });
    let f = &stored.record;
    Ok(Json(json!({
        "object": "feedback",
        "decision_id": f.decision_id,
        "source": f.source,
        "score": f.score,
        "revision": f.revision,
        "replaced": stored.replaced,
        "model": f.model,
        "predicted_quality": f.predicted_quality,
    }))
    .into_response())
}
