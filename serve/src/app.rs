//! The HTTP surface: paths → handlers, and the middleware around them (auth, metrics,
//! body limit, OpenAI-shaped 404/405).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// The gateway's router, ready for `axum::serve` or `oneshot` in tests.
pub fn app(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/chat/completions", post(routes::chat::chat_completions))
        .route("/v1/route", post(routes::route::route))
        .route("/v1/decisions/{id}", get(routes::decisions::get_decision))
        .route("/v1/models", get(routes::catalog::list_models))
        .route("/admin/reload", post(routes::admin::reload))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    let open = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics));
    protected
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NoRoute(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let err = ApiError::bad_request(format!(
        "{} is not allowed on {}",
        req.method(),
        req.uri().path()
    ));
    let mut resp = err.into_response();
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// 401 unless the request carries a configured key (`Authorization: Bearer <key>`).
async fn require_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if !state.auth_required() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => {
            ApiError::Unauthorized("missing API key: send `Authorization: Bearer <key>`".into())
                .into_response()
        }
        Some(key) if state.key_is_valid(key) => next.run(req).await,
        Some(_) => ApiError::Unauthorized("invalid API key".into()).into_response(),
    }
}

/// Counts every request by endpoint and status, and times it to the response head.
async fn count_requests(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    state.metrics.requests.with(&[&endpoint, &status]).inc();
    state
        .metrics
        .request_duration
        .with(&[&endpoint])
        .observe_duration(started.elapsed());
    resp
}
