//! The routing decision for one request, as plain functions (no HTTP): check the names it
//! mentions, score the prompt, gather what the gateway knows about each candidate now (the
//! price of the provider it would try first, its context window, latency average and
//! breakers), and hand them to `models::routing` and `models::policy::decide` — the same
//! code `train eval` runs — for the winner and the fallback order. The result is written
//! into the audit record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use models::routing::{self, Live, RequestFacts};
use models::{
    CandidateInput, Constraints, ExploreConfig, ExploredRoute, ModelTerms, Objective, Prediction,
    Unavailable,
};
use serde_json::Value;
use tokio::time::Instant;

use crate::audit::{
    CandidateRecord, ConstraintsRecord, DecisionRecord, PolicyRecord, RequestOutcome, Scores,
    TaskGuess,
};
use crate::error::ApiError;
use crate::request::{ChatRequest, ModelChoice};
use crate::router_artifact::LoadedRouter;
use crate::state::AppState;
use crate::upstream::Upstreams;
use crate::upstream::breaker::BreakerState;

/// Checks names, scores and decides (or plans a named model); returns the record so far
/// and the models to try. Times the router and counts the decision.
pub async fn decide_request(
    state: &AppState,
    req: &ChatRequest,
    endpoint: &str,
) -> Result<(DecisionRecord, Arc<[String]>), ApiError> {
    let router = state.router.load_full();
    check_names(req, &state.upstreams, &router)?;
    let objective = req
        .route
        .objective
        .unwrap_or_else(|| *state.default_objective());
    let mut record = new_record(endpoint, req, &objective, state.config.audit.log_prompts);
    let order = match &req.model {
        ModelChoice::Auto => {
            let started = Instant::now();
            let (prediction, _) = score(
                &router,
                req.routed_prompt(),
                state.config.routing.score_on_blocking_pool,
            )
            .await?;
            let policy = PolicyContext {
                explore: &state.config.routing.explore,
                config_sha256: &state.config_sha256,
            };
            let order = decide_auto(
                &router,
                &prediction,
                &state.upstreams,
                req,
                &objective,
                &policy,
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
        ModelChoice::Named(name) => plan_named(name, req, &mut record),
    };
    Ok((record, order))
}

/// A record for a new request, before any decision: id, time, prompt id (and the prompt
/// itself only when `log_prompts`).
pub fn new_record(
    endpoint: &str,
    req: &ChatRequest,
    objective: &Objective,
    log_prompts: bool,
) -> DecisionRecord {
    let prompt = req.routed_prompt();
    DecisionRecord {
        id: crate::audit::id::new_decision_id(),
        time: chrono::Utc::now(),
        endpoint: endpoint.to_string(),
        requested_model: match &req.model {
            ModelChoice::Auto => crate::request::AUTO_MODEL.to_string(),
            ModelChoice::Named(n) => n.clone(),
        },
        model: None,
        routed_model: None,
        router: None,
        task: None,
        objective: *objective,
        constraints: ConstraintsRecord {
            max_cost_usd: req.route.max_cost_usd,
            min_quality: req.route.min_quality,
            candidates: req.route.candidates.clone(),
            exclude: req.route.exclude.clone(),
            models: req.models.clone(),
        },
        candidates: Arc::from([]),
        fallback_order: Arc::from([]),
        propensity: None,
        policy: None,
        reason: String::new(),
        scores: None,
        prompt_id: models::prompt_id(&prompt),
        prompt: log_prompts.then_some(prompt),
        est_prompt_tokens: req.prompt_tokens(),
        stream: req.stream,
        attempts: Vec::new(),
        usage: None,
        cost_usd: None,
        outcome: RequestOutcome::Pending,
        router_us: None,
        latency_ms: None,
    }
}

/// Checks the model names a request mentions: `models[i]` must be in the catalog (404
/// otherwise, as for `model`); `route.candidates` / `route.exclude` must name a catalog
/// model or a router candidate (400, a typo would silently change the decision).
pub fn check_names(
    req: &ChatRequest,
    upstreams: &Upstreams,
    router: &LoadedRouter,
) -> Result<(), ApiError> {
    if let ModelChoice::Named(name) = &req.model
        && !upstreams.models.contains_key(name)
    {
        return Err(ApiError::ModelNotFound(name.clone()));
    }
    for (i, name) in req.models.iter().enumerate() {
        if !upstreams.models.contains_key(name) {
            return Err(ApiError::BadRequest {
                message: format!(
                    "The model `{}` in `models[{i}]` does not exist in this gateway's catalog.",
                    crate::error::truncate_echo(name)
                ),
                param: Some(format!("models[{i}]")),
            });
        }
        if req.model == ModelChoice::Auto && !router.candidates.iter().any(|c| c.name == *name) {
            return Err(ApiError::bad_param(
                format!("models[{i}]"),
                format!(
                    "`{name}` is not one of the router's candidates ({}), so `auto` cannot weigh it; name it as `model` instead",
                    router.candidate_names().join(", ")
                ),
            ));
        }
    }
    let known =
        |n: &str| upstreams.models.contains_key(n) || router.candidates.iter().any(|c| c.name == n);
    for (field, names) in [
        (
            "route.candidates",
            req.route.candidates.as_deref().unwrap_or(&[]),
        ),
        ("route.exclude", req.route.exclude.as_slice()),
    ] {
        for (i, name) in names.iter().enumerate() {
            if !known(name) {
                return Err(ApiError::bad_param(
                    format!("{field}[{i}]"),
                    format!(
                        "unknown model `{}` in `{field}`",
                        crate::error::truncate_echo(name)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Scores the routed prompt, inline or on tokio's blocking pool; returns the prediction
/// and the time it took.
pub async fn score(
    router: &Arc<LoadedRouter>,
    prompt: String,
    on_blocking_pool: bool,
) -> Result<(Prediction, Duration), ApiError> {
    let started = Instant::now();
    let prediction = if on_blocking_pool {
        let router = Arc::clone(router);
        tokio::task::spawn_blocking(move || router.score(&prompt))
            .await
            .map_err(|e| ApiError::Internal(format!("the scorer task failed: {e}")))?
    } else {
        router.score(&prompt)
    };
    let prediction = prediction
        .map_err(|e| ApiError::Internal(format!("the router could not score the prompt: {e}")))?;
    Ok((prediction, started.elapsed()))
}

/// The output cap the client set (`max_completion_tokens` or `max_tokens`), if any.
fn max_output_tokens(req: &ChatRequest) -> Option<u32> {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| req.body.get(*k).and_then(Value::as_u64))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// The gateway-wide facts of the policy, beside the router: what `[routing.explore]` says
/// and the configuration's hash (for the record's `policy` block).
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// `[routing.explore]`.
    pub explore: &'a ExploreConfig,
    /// [`crate::fingerprint::config_sha256`] of the running configuration.
    pub config_sha256: &'a str,
}

/// The exploration applied to this request: the configured settings unless they are off
/// or the request says `route.explore = false`.
fn exploration(cfg: &ExploreConfig, req: &ChatRequest) -> Option<ExploreConfig> {
    (cfg.is_on() && req.route.explore != Some(false)).then_some(*cfg)
}

/// Decides for `model: "auto"` and writes the decision into `record`; returns the models
/// to try in order (empty when every candidate is excluded). With exploration on, the
/// served candidate is drawn among the eligible ones near the winner (seeded by the
/// record's id) and the rest follow in the policy's ranking; every caller constraint has
/// already removed what it rules out, so exploration never breaks one.
pub fn decide_auto(
    router: &LoadedRouter,
    prediction: &Prediction,
    upstreams: &Upstreams,
    req: &ChatRequest,
    objective: &Objective,
    policy: &PolicyContext<'_>,
    record: &mut DecisionRecord,
) -> Arc<[String]> {
    let request = RequestFacts {
        prompt_tokens: req.prompt_tokens(),
        max_output_tokens: max_output_tokens(req),
    };
    let inputs: Vec<CandidateInput> = router
        .candidates
        .iter()
        .zip(&prediction.quality)
        .map(|(cand, q)| {
            let (terms, live) = live_terms(cand, upstreams);
            routing::candidate_input(cand.name.clone(), f64::from(*q), &terms, &request, live)
        })
        .collect();

    let mut allowed = req.route.candidates.clone();
    if !req.models.is_empty() {
        allowed = Some(match allowed {
            Some(list) => list
                .into_iter()
                .filter(|m| req.models.contains(m))
                .collect(),
            None => req.models.clone(),
        });
    }
    let constraints = Constraints {
        max_cost_usd: req.route.max_cost_usd,
        min_quality: req.route.min_quality,
        candidates: allowed.clone(),
        exclude: req.route.exclude.clone(),
    };
    let decision = models::decide_owned(inputs, objective, &constraints);
    let explore = exploration(policy.explore, req);
    let route = match &explore {
        Some(cfg) => models::explore_route(&decision, cfg, &record.id),
        None => decision.winner.map(|w| ExploredRoute {
            served: w,
            propensity: 1.0,
            order: std::iter::once(w)
                .chain(decision.fallback_order.iter().copied())
                .collect(),
        }),
    };

    let mut order: Vec<String> = route
        .iter()
        .flat_map(|r| &r.order)
        .map(|&i| decision.candidates[i].model.clone())
        .collect();
    if !req.models.is_empty()
        && let Some(winner) = order.first().cloned()
    {
        // OpenRouter semantics: after the router's choice, fall back in the caller's order.
        let eligible: Vec<String> = order.clone();
        order = std::iter::once(winner.clone())
            .chain(
                req.models
                    .iter()
                    .filter(|m| **m != winner && eligible.contains(m))
                    .cloned(),
            )
            .collect();
    }

    record.router = Some(router.name.clone());
    record.constraints.candidates = allowed;
    record.routed_model = order.first().cloned();
    record.model = record.routed_model.clone();
    record.propensity = route.as_ref().map(|r| r.propensity);
    record.policy = Some(Arc::new(PolicyRecord {
        router_sha256: router.content_sha256.clone(),
        config_sha256: policy.config_sha256.to_string(),
        explore,
    }));
    record.reason = match &route {
        Some(r) if Some(r.served) != decision.winner => format!(
            "explored: served {} with probability {:.3}; the policy's choice: {}",
            decision.candidates[r.served].model, r.propensity, decision.reason
        ),
        _ => decision.reason,
    };
    record.candidates = decision
        .candidates
        .into_iter()
        .map(|c| CandidateRecord {
            model: c.model,
            // Exact: the policy's f64 came from the scorer's f32.
            predicted_quality: c.predicted_quality as f32,
            est_cost_usd: c.est_cost_usd,
            est_latency_ms: c.est_latency_ms,
            utility: c.utility.is_finite().then_some(c.utility),
            excluded: c.excluded.map(|why| why.to_string()),
        })
        .collect();
    let order: Arc<[String]> = order.into();
    record.fallback_order = Arc::clone(&order);
    record.task = prediction
        .task_probs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .and_then(|(i, p)| {
            router.tasks.get(i).map(|name| TaskGuess {
                name: name.clone(),
                probability: *p,
            })
        });
    record.scores = Some(Arc::new(Scores {
        task_probs: router
            .tasks
            .iter()
            .zip(&prediction.task_probs)
            .map(|(t, p)| (t.clone(), *p))
            .collect::<BTreeMap<_, _>>(),
    }));
    order
}

/// What the gateway knows about a router candidate now. Prices and latency come from the
/// provider that would be tried first (the first whose breaker is not open); a model
/// without a provider here keeps the manifest's price and is unavailable.
fn live_terms(cand: &models::CandidateModel, upstreams: &Upstreams) -> (ModelTerms, Live) {
    let Some(model) = upstreams.models.get(&cand.name) else {
        let live = Live {
            est_latency_ms: None,
            unavailable: Some(Unavailable::NotInCatalog),
        };
        return (cand.terms(), live);
    };
    let first_usable = model
        .providers
        .iter()
        .find(|p| p.breaker.state() != BreakerState::Open);
    let first = first_usable.or(model.providers.first());
    let terms = ModelTerms {
        price: first.map(|p| p.price()).or(cand.price()),
        context_length: Some(model.context_length),
        expected_output_tokens: cand.expected_output_tokens,
    };
    let unavailable = first_usable.is_none().then(|| Unavailable::BreakersOpen {
        providers: model.providers.iter().map(|p| p.name.clone()).collect(),
    });
    let live = Live {
        est_latency_ms: first.and_then(|p| p.latency.get_ms()),
        unavailable,
    };
    (terms, live)
}

/// The plan for a model named by the client: it, then the `models` list as fallbacks.
pub fn plan_named(name: &str, req: &ChatRequest, record: &mut DecisionRecord) -> Arc<[String]> {
    let mut order = vec![name.to_string()];
    for m in &req.models {
        if !order.contains(m) {
            order.push(m.clone());
        }
    }
    record.reason = format!("`{name}` requested by name; no routing");
    record.propensity = Some(1.0);
    record.routed_model = Some(name.to_string());
    record.model = Some(name.to_string());
    let order: Arc<[String]> = order.into();
    record.fallback_order = Arc::clone(&order);
    order
}
