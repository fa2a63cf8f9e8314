//! `POST /admin/reload`: load the router artifact again and swap it in.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::error::ApiError;
use crate::state::{AppState, RouterReport};

/// Reloads; the current router stays when the new one cannot be loaded.
pub async fn reload(State(state): State<Arc<AppState>>) -> Result<Json<RouterReport>, ApiError> {
    // Loading reads files and builds an ONNX session: keep it off the executor.
    let st = Arc::clone(&state);
    tokio::task::spawn_blocking(move || st.reload())
        .await
        .map_err(|e| ApiError::Internal(format!("reload task failed: {e}")))?
        .map(Json)
        .map_err(|e| {
            ApiError::Internal(format!(
                "router reload failed (the previous router stays in service): {e}"
            ))
        })
}
