//! `GET /v1/decisions/{id}`: the audit record of a past request.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use crate::audit::DecisionRecord;
use crate::error::ApiError;
use crate::state::AppState;

/// The record, from memory or from the log files.
pub async fn get_decision(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<DecisionRecord>, ApiError> {
    state
        .audit
        .get(&id)
        .await
        .map(Json)
        .ok_or(ApiError::DecisionNotFound(id))
}
