//! `POST /v1/route`: the decision alone, no upstream call. Also home of
//! [`decide_request`], the routing step `/v1/chat/completions` shares.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::arbiter_headers;
use crate::app::Permit;
use crate::audit::DecisionRecord;
use crate::decision;
use crate::error::{ApiError, JsonObject};
use crate::request::{ChatRequest, ModelChoice, parse_chat_request};
use crate::state::AppState;

/// Checks names, scores and decides (or plans a named model); returns the record so far
/// and the models to try. Times the router and counts the decision.
pub async fn decide_request(
    state: &AppState,
    req: &ChatRequest,
    endpoint: &str,
) -> Result<(DecisionRecord, Arc<[String]>), ApiError> {
    let router = state.router.load_full();
    decision::check_names(req, &state.upstreams, &router)?;
    let objective = req
        .route
        .objective
        .clone()
        .unwrap_or_else(|| state.default_objective().clone());
    let mut record =
        decision::new_record(endpoint, req, &objective, state.config.audit.log_prompts);
    let order = match &req.model {
        ModelChoice::Auto => {
            let started = Instant::now();
            let (prediction, _) = decision::score(
                &router,
                req.routed_prompt(),
                state.config.routing.score_on_blocking_pool,
            )
            .await?;
            let order = decision::decide_auto(
                &router,
                &prediction,
                &state.upstreams,
                req,
                &objective,
                &mut record,
            );
            let took = started.elapsed();
            state.metrics.router_duration.observe_duration(took);
            record.router_us = Some(took.as_secs_f64() * 1e6);
            state
                .metrics
                .decisions
                .with(&[record.routed_model.as_deref().unwrap_or("none")])
                .inc();
            order
        }
        ModelChoice::Named(name) => decision::plan_named(name, req, &mut record),
    };
    Ok((record, order))
}

/// The decision as JSON (the audit record), with the `x-arbiter-*` headers. A decision
/// with no winner is still a 200: `model` is null and `reason` says why.
pub async fn route(
    State(state): State<Arc<AppState>>,
    Permit(_permit): Permit,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let req = parse_chat_request(body)?;
    let (mut record, _order) = decide_request(&state, &req, "route").await?;
    record.outcome = if record.model.is_some() {
        "routed"
    } else {
        "no_candidate"
    }
    .into();
    record.latency_ms = Some(arrived.elapsed().as_secs_f64() * 1e3);
    let headers = arbiter_headers(&record.id, record.model.as_deref());
    state.commit(record.clone()).await;
    Ok((headers, Json(record)).into_response())
}
