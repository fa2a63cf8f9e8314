//! `POST /v1/chat/completions`: decide (for `auto`) or take the named model, forward
//! with fallbacks, answer as the upstream did (JSON or SSE) with `model` set to the
//! model that answered, and log the record.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::arbiter_headers;
use crate::app::Permit;
use crate::audit::{AttemptOutcome, DecisionRecord, RequestOutcome, Usage};
use crate::config::Durability;
use crate::decision::decide_request;
use crate::error::{ApiError, JsonObject};
use crate::request::parse_chat_request;
use crate::state::AppState;
use crate::upstream::Provider;
use crate::upstream::forward::{self, Answer, Plan, StreamEnd};

/// The handler.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Permit(permit): Permit,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let req = parse_chat_request(body)?;
    let (mut record, order) = decide_request(&state, &req, "chat").await?;

    if order.is_empty() {
        record.outcome = RequestOutcome::NoCandidate;
        record.latency_ms = Some(ms_since(arrived));
        let headers = arbiter_headers(&record.id, None);
        let err = ApiError::NoCandidate(format!(
            "no model can serve this request: {}",
            record.reason
        ));
        state.commit(record).await;
        return Ok((headers, err).into_response());
    }

    state.audit.remember(record.clone());
    let plan = Plan {
        models: order,
        body: req.body,
        stream: req.stream,
        include_usage: req.include_usage,
    };
    let forwarded = forward::forward(&state.upstreams, &state.metrics, plan).await;
    record.attempts = forwarded.attempts;
    if record.attempts.len() > 1 && forwarded.answer.is_some() {
        state.metrics.fallbacks.inc();
    }

    match forwarded.answer {
        None => {
            record.model = None;
            record.outcome = RequestOutcome::UpstreamError;
            record.latency_ms = Some(ms_since(arrived));
            let summary: Vec<String> = record
                .attempts
                .iter()
                .map(|a| {
                    format!(
                        "{}@{}: {}",
                        a.model,
                        a.provider,
                        a.error.as_deref().unwrap_or(a.outcome.as_str())
                    )
                })
                .collect();
            let headers = arbiter_headers(&record.id, None);
            let err = ApiError::UpstreamFailed(format!(
                "every upstream attempt failed: {}",
                summary.join("; ")
            ));
            state.commit(record).await;
            Ok((headers, err).into_response())
        }
        Some(Answer::Json {
            provider,
            body,
            usage,
        }) => {
            settle(&mut record, &provider, usage, RequestOutcome::Ok, arrived);
            let headers = arbiter_headers(&record.id, Some(&provider.model));
            state.commit(record).await;
            Ok((headers, Json(body)).into_response())
        }
        Some(Answer::Rejected {
            provider,
            status,
            body,
        }) => {
            settle(
                &mut record,
                &provider,
                None,
                RequestOutcome::UpstreamRejected,
                arrived,
            );
            let headers = arbiter_headers(&record.id, Some(&provider.model));
            state.commit(record).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Ok((status, headers, Json(body)).into_response())
        }
        Some(Answer::Stream(start)) => {
            let provider = Arc::clone(&start.provider);
            record.model = Some(provider.model.clone());
            let mut headers = arbiter_headers(&record.id, Some(&provider.model));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if state.audit.durability() != Durability::Queued {
                // The head carries the decision id: under `written`/`synced` the record must
                // be on disk first. The stream's final record is written when it ends (a
                // later line for the same id); a crash before then leaves this `pending` one.
                state.commit(record.clone()).await;
            }
            let st = Arc::clone(&state);
            let on_end = Box::new(move |end: StreamEnd| {
                // The permit is held until the stream ends.
                let _permit = permit;
                settle(
                    &mut record,
                    &provider,
                    end.usage,
                    end.outcome.into(),
                    arrived,
                );
                if let Some(err) = end.error {
                    record.attempts.push(crate::audit::Attempt {
                        model: provider.model.clone(),
                        provider: provider.name.clone(),
                        status: Some(200),
                        outcome: AttemptOutcome::StreamError,
                        latency_ms: ms_since(arrived),
                        error: Some(err),
                    });
                }
                st.submit(record);
            });
            let body = Body::from_stream(forward::body_stream(
                start,
                Arc::clone(&state.metrics),
                on_end,
            ));
            Ok((headers, body).into_response())
        }
    }
}

fn settle(
    record: &mut DecisionRecord,
    provider: &Provider,
    usage: Option<Usage>,
    outcome: RequestOutcome,
    arrived: Instant,
) {
    record.model = Some(provider.model.clone());
    record.usage = usage;
    record.cost_usd = usage.map(|u| provider.cost_usd(u.prompt_tokens, u.completion_tokens));
    record.outcome = outcome;
    record.latency_ms = Some(ms_since(arrived));
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
