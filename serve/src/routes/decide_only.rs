//! `POST /v1/route`: the decision alone, no upstream call.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::arbiter_headers;
use crate::app::Permit;
use crate::audit::RequestOutcome;
use crate::decision::decide_request;
use crate::error::{ApiError, JsonObject};
use crate::request::parse_chat_request;
use crate::state::AppState;

/// The decision as JSON (the audit record), with the `x-arbiter-*` headers. A decision
/// with no winner is still a 200: `model` is null and `reason` says why.
pub async fn decide_only(
    State(state): State<Arc<AppState>>,
    Permit(_permit): Permit,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let req = parse_chat_request(body)?;
    let (mut record, _order) = decide_request(&state, &req, "route").await?;
    record.outcome = if record.model.is_some() {
        RequestOutcome::Routed
    } else {
        RequestOutcome::NoCandidate
    };
    record.latency_ms = Some(arrived.elapsed().as_secs_f64() * 1e3);
    let headers = arbiter_headers(&record.id, record.model.as_deref());
    state.commit(record.clone()).await;
    Ok((headers, Json(record)).into_response())
}
