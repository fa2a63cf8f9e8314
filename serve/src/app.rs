//! The HTTP surface: paths → handlers, and the middleware around them (auth, admin keys,
//! CORS, content type, body reading inside the concurrency permit, metrics, OpenAI-shaped
//! errors for every status the gateway itself returns).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::{ApiError, truncate_echo};
use crate::routes;
use crate::state::AppState;

/// Longest request target accepted (longer → 414). hyper answers a bare 414 itself only
/// past ~64 KiB; below that the gateway answers in OpenAI's shape.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header block accepted (larger → 431), counted as name + value + 4 per field.
/// hyper's own bare 431 applies past its read buffer (~400 KiB) or 100 fields.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The gateway's router, ready for the accept loop ([`crate::server`]) or `oneshot` in tests.
///
/// Middleware, outside in: [`edge`] (request metrics, CORS preflight gate), tower-http's CORS
/// layer when origins are configured, [`head_and_errors`] (414/431, OpenAI-shaped errors),
/// then per route the key check — for the routing endpoints together with the body read
/// ([`key_then_body`]). Each `from_fn` layer boxes a future and clones the inner service per
/// request, so checks that run on the same requests share one layer.
pub fn app(state: Arc<AppState>) -> Router {
    // The body is read inside the concurrency permit, after the key check.
    let with_body = Router::new()
        .route("/v1/chat/completions", post(routes::chat::chat_completions))
        .route("/v1/route", post(routes::decide_only::decide_only))
        .route("/v1/feedback", post(routes::feedback::post_feedback))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            key_then_body,
        ));
    let keyed = Router::new()
        .route("/v1/decisions/{id}", get(routes::decisions::get_decision))
        .route("/v1/models", get(routes::catalog::list_models))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    let protected = with_body.merge(keyed);
    let admin = Router::new()
        .route("/admin/reload", post(routes::admin::reload))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_admin,
        ));
    let metrics = Router::new()
        .route("/metrics", get(routes::health::metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_metrics_key,
        ));
    let open = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz));
    let router = protected
        .merge(admin)
        .merge(metrics)
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(middleware::from_fn(head_and_errors));
    with_cors(router, &state)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), edge))
        .with_state(state)
}

/// CORS: without `server.cors_allowed_origins`, no `Access-Control-Allow-*` header is ever
/// sent and preflights get 403 ([`cors_refusal`], in [`edge`]); with it, tower-http answers
/// those origins' preflights and decorates their responses, and other origins' preflights
/// still get 403.
fn with_cors(router: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let origins: Vec<HeaderValue> = state
        .config
        .server
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        router
    } else {
        router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([AUTHORIZATION, CONTENT_TYPE])
                .expose_headers([
                    routes::DECISION_ID_HEADER,
                    routes::MODEL_HEADER,
                    HeaderName::from_static("retry-after"),
                ])
                .max_age(std::time::Duration::from_secs(600)),
        )
    }
}

/// The outermost layer: the CORS preflight gate, and every request counted by endpoint and
/// status and timed to its response head.
async fn edge(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let resp = match cors_refusal(&state, &req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    let status = resp.status().as_u16().to_string();
    state.metrics.requests.with(&[&endpoint, &status]).inc();
    state
        .metrics
        .request_duration
        .with(&[&endpoint])
        .observe_duration(started.elapsed());
    resp
}

/// 403 for a CORS preflight from an origin not in `server.cors_allowed_origins`.
fn cors_refusal(state: &AppState, req: &Request) -> Option<Response> {
    if req.method() != Method::OPTIONS || !req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok())?;
    let allowed = &state.config.server.cors_allowed_origins;
    if allowed.iter().any(|o| o == origin) {
        return None;
    }
    Some(
        ApiError::Forbidden(format!(
            "cross-origin requests from `{}` are not allowed: add the origin to `server.cors_allowed_origins`",
            truncate_echo(origin)
        ))
        .into_response(),
    )
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NoRoute(format!(
        "no route for {} {}",
        req.method(),
        truncate_echo(req.uri().path())
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        truncate_echo(req.uri().path())
    ))
}

/// The presented `Authorization` bearer token; the scheme is case-insensitive (RFC 9110).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, token) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// 401 unless the request carries a configured client key (`Authorization: Bearer <key>`).
async fn require_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match check_key(&state, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.auth_required() {
        return Ok(());
    }
    match bearer_token(headers) {
        None => Err(ApiError::Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`".into(),
        )),
        Some(key) if state.key_is_valid(key) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}

/// `/admin/*`: an admin key, distinct from client keys. With none configured, only a
/// gateway without any key on a loopback address serves it (local use).
async fn require_admin(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = admin_allowed(&state, req.headers()) {
        return e.into_response();
    }
    // /admin/reload takes no body; one that comes must still be JSON, so that a browser's
    // form post (a "simple" cross-origin request, sent without a preflight) is refused.
    if req.headers().contains_key(CONTENT_TYPE)
        && let Err(e) = require_json(req.headers())
    {
        return e.into_response();
    }
    next.run(req).await
}

/// `/metrics`: open, unless `auth.protect_metrics` asks for an admin key.
async fn require_metrics_key(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if state.config.auth.protect_metrics
        && let Err(e) = admin_allowed(&state, req.headers())
    {
        return e.into_response();
    }
    next.run(req).await
}

fn admin_allowed(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.admin_keys_configured() {
        if !state.auth_required() && state.config.listen.ip().is_loopback() {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "no admin key is configured: set `auth.admin_keys` or `auth.admin_keys_env` (client keys cannot use /admin/*)".into(),
        ));
    }
    match bearer_token(headers) {
        None => Err(ApiError::Unauthorized(
            "missing admin key: send `Authorization: Bearer <admin key>`".into(),
        )),
        Some(key) if state.admin_key_is_valid(key) => Ok(()),
        Some(key) if state.key_is_valid(key) => Err(ApiError::Forbidden(
            "a client key cannot use this endpoint: send an admin key (`auth.admin_keys`)".into(),
        )),
        Some(_) => Err(ApiError::Unauthorized("invalid admin key".into())),
    }
}

/// 415 unless `Content-Type` is `application/json` (parameters such as `; charset=utf-8`
/// allowed, any case).
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = declared.map(|v| v.split(';').next().unwrap_or("").trim());
    match essence {
        Some(e) if e.eq_ignore_ascii_case("application/json") => Ok(()),
        Some(_) => Err(ApiError::UnsupportedMediaType(format!(
            "`Content-Type: {}` is not supported: send `Content-Type: application/json`",
            truncate_echo(declared.unwrap_or(""))
        ))),
        None => Err(ApiError::UnsupportedMediaType(
            "missing `Content-Type`: send `Content-Type: application/json`".into(),
        )),
    }
}

/// The concurrency permit taken by [`key_then_body`], for the handler to keep (a stream holds
/// it until its end).
#[derive(Debug, Clone)]
struct HeldPermit(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

/// A handler's concurrency permit: the one [`key_then_body`] took before reading the body, or
/// (when the handler is called without that middleware) a fresh one, 429 when none is left.
#[derive(Debug)]
pub struct Permit(pub OwnedSemaphorePermit);

impl FromRequestParts<Arc<AppState>> for Permit {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let held = parts
            .extensions
            .remove::<HeldPermit>()
            .and_then(|h| h.0.lock().ok().and_then(|mut slot| slot.take()));
        match held {
            Some(permit) => Ok(Permit(permit)),
            None => state.permit().map(Permit),
        }
    }
}

/// For the routing endpoints: the client key (401), `Content-Type` (415), then the
/// concurrency permit (429), and only then the body, within `limits.max_body_bytes` (413)
/// and `limits.body_read_timeout_secs` (408), so that a slow or stalled body holds one of a
/// bounded number of permits instead of an unbounded number of buffers and tasks.
async fn key_then_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = check_key(&state, req.headers()) {
        return e.into_response();
    }
    if let Err(e) = require_json(req.headers()) {
        return e.into_response();
    }
    let permit = match state.permit() {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = req.into_parts();
    let bytes = match read_limited(&state, &parts.headers, body).await {
        Ok(bytes) => bytes,
        // The rest of the body is unread: the connection cannot carry another request.
        Err(e) => return closing(e),
    };
    parts
        .extensions
        .insert(HeldPermit(Arc::new(Mutex::new(Some(permit)))));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn read_limited(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, ApiError> {
    let limit = state.config.limits.max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // Refused before a byte of it is read.
        return Err(ApiError::PayloadTooLarge);
    }
    let timeout = state.config.limits.body_read_timeout();
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(ApiError::RequestTimeout(
            state.config.limits.body_read_timeout_secs,
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "could not read the request body: {}",
            truncate_echo(&e.to_string())
        ))),
    }
}

/// `err` with `Connection: close`: hyper closes the connection after sending it.
fn closing(err: ApiError) -> Response {
    let mut resp = err.into_response();
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// 414 / 431 in OpenAI's shape for heads within hyper's buffer but over the gateway's
/// limits; then the answer through [`openai_shaped`].
async fn head_and_errors(req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return closing(ApiError::UriTooLong(MAX_URI_BYTES));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return closing(ApiError::HeadersTooLarge(MAX_HEADER_BYTES));
    }
    openai_shaped(next.run(req).await).await
}

/// The safety net for errors produced outside [`ApiError`] (axum's extractor rejections,
/// such as an undecodable path segment): any 4xx/5xx that is not JSON gets OpenAI's
/// error body, with the original text (cut short) as its message.
async fn openai_shaped(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    } else {
        truncate_echo(&text)
    };
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": status.as_u16().to_string()}
    });
    let mut shaped = (status, axum::Json(body)).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}
