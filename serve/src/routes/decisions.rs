//! `GET /v1/decisions/{id}`: the audit record of a past request, with its feedback
//! (`feedback`: the latest judgement per source).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::audit::LookupError;
use crate::config::RouteRecordsMode;
use crate::error::ApiError;
use crate::state::AppState;

/// The record, from memory or from the log files; 404 (saying why, when known), or 503
/// while another lookup is reading the files.
pub async fn get_decision(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.audit.get(&id).await {
        Ok(record) => with_feedback(&state, record).await,
        Err(LookupError::Busy) => {
            ApiError::Unavailable(LookupError::Busy.to_string()).into_response()
        }
        Err(LookupError::NotFound(why)) => not_found(&state, id, why),
    }
}

/// OpenAI's 404 body for a decision, its message completed with why the record is not
/// there and, when `/v1/route` records are not all kept, that this may be one of them.
fn not_found(state: &AppState, id: String, why: Option<&str>) -> Response {
    let err = ApiError::DecisionNotFound(id);
    let mut message = err.to_string();
    if let Some(why) = why {
        message.push_str(&format!(" ({why})"));
    }
    match state.config.audit.route_records {
        crate::config::RouteRecords::Named(RouteRecordsMode::All) => {}
        crate::config::RouteRecords::Named(RouteRecordsMode::None) => message.push_str(
            "; /v1/route records are not kept (audit.route_records = \"none\"): a /v1/route decision id cannot be looked up",
        ),
        crate::config::RouteRecords::Sample(f) => message.push_str(&format!(
            "; only a fraction ({f}) of /v1/route records are kept (audit.route_records): a /v1/route decision id may not be found"
        )),
    }
    let mut body = err.body();
    if let Some(m) = body.pointer_mut("/error/message") {
        *m = Value::String(message);
    }
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// The record as JSON with a `feedback` array; when the feedback cannot be read now (another
/// lookup holds the files), `feedback` is null and `feedback_error` says why. The record is
/// serialised as it is everywhere else (f32 scores in their shortest form) and the
/// feedback appended to the object, so `/v1/route`'s answer and this one agree field by
/// field.
async fn with_feedback(state: &AppState, record: crate::audit::DecisionRecord) -> Response {
    let extra = match state.audit.feedback.current_for(&record).await {
        Ok(items) => {
            let items: Vec<&crate::feedback::FeedbackRecord> =
                items.iter().map(AsRef::as_ref).collect();
            serde_json::to_string(&items).map(|list| format!(",\"feedback\":{list}}}"))
        }
        Err(e) => serde_json::to_string(&e.to_string())
            .map(|why| format!(",\"feedback\":null,\"feedback_error\":{why}}}")),
    };
    let body = serde_json::to_vec(&record).and_then(|mut bytes| {
        let extra = extra?;
        // The record is a JSON object: replace its closing brace.
        if bytes.last() == Some(&b'}') {
            bytes.pop();
            bytes.extend_from_slice(extra.as_bytes());
        }
        Ok(bytes)
    });
    match body {
        Ok(bytes) => ([(CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            ApiError::Internal(format!("the record could not be serialised: {e}")).into_response()
        }
    }
}
