//! Handlers: each reads the request, calls plain functions (`decision`, `upstream`,
//! `audit`) and shapes the response.

pub mod admin;
pub mod catalog;
pub mod chat;
pub mod decide_only;
pub mod decisions;
pub mod feedback;
pub mod health;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Header naming the decision record.
pub const DECISION_ID_HEADER: HeaderName = HeaderName::from_static("x-arbiter-decision-id");
/// Header naming the model that answered (or was chosen).
pub const MODEL_HEADER: HeaderName = HeaderName::from_static("x-arbiter-model");

/// The `x-arbiter-*` headers for a record.
pub fn arbiter_headers(id: &str, model: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(DECISION_ID_HEADER, v);
    }
    if let Some(v) = model.and_then(|m| HeaderValue::from_str(m).ok()) {
        headers.insert(MODEL_HEADER, v);
    }
    headers
}
