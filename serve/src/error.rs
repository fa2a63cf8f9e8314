//! One error enum for the HTTP surface, each variant mapped to a status and OpenAI's
//! error body `{"error": {"message", "type", "param", "code"}}`, plus the JSON extractor
//! whose rejections use that body too (so even a malformed request gets OpenAI's shape).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a field has the wrong type or value.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The offending field, when there is one.
        param: Option<String>,
    },
    /// Missing or unknown client key.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key without the right to this endpoint, or a refused CORS preflight.
    #[error("{0}")]
    Forbidden(String),
    /// The method is not served on this path.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body did not arrive within `limits.body_read_timeout_secs`.
    #[error("the request body was not received within {0} s (`limits.body_read_timeout_secs`)")]
    RequestTimeout(f64),
    /// A body that is not declared `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request target is longer than the gateway accepts.
    #[error("the request URI is longer than {0} bytes")]
    UriTooLong(usize),
    /// The request head's header fields are larger than the gateway accepts.
    #[error("the request's header fields are larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// `server.max_connections` client connections are already open.
    #[error("the gateway has {0} connections open (`server.max_connections`); retry later")]
    TooManyConnections(usize),
    /// The requested model is not in the catalog.
    #[error("The model `{}` does not exist or you do not have access to it.", truncate_echo(.0))]
    ModelNotFound(String),
    /// No route for this path.
    #[error("{0}")]
    NoRoute(String),
    /// No such decision record.
    #[error("no decision with id `{}`", truncate_echo(.0))]
    DecisionNotFound(String),
    /// Body larger than `limits.max_body_bytes`.
    #[error("the request body is larger than the gateway's limit (`limits.max_body_bytes`)")]
    PayloadTooLarge,
    /// No concurrency permit available.
    #[error("the gateway is at its concurrency limit ({0} requests in flight); retry later")]
    Overloaded(usize),
    /// Every candidate was excluded by the caller's constraints or by availability.
    #[error("{0}")]
    NoCandidate(String),
    /// Every attempt upstream failed.
    #[error("{0}")]
    UpstreamFailed(String),
    /// The gateway is shutting down or has no router loaded.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected internal failure (never upstream details or keys).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 about a named field.
    pub fn bad_param(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A 400 without a field.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ModelNotFound(_) | ApiError::DecisionNotFound(_) | ApiError::NoRoute(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NoCandidate(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `error.type`.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. }
            | ApiError::ModelNotFound(_)
            | ApiError::DecisionNotFound(_)
            | ApiError::NoRoute(_)
            | ApiError::PayloadTooLarge
            | ApiError::MethodNotAllowed(_)
            | ApiError::RequestTimeout(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::UriTooLong(_)
            | ApiError::HeadersTooLarge(_)
            | ApiError::NoCandidate(_) => "invalid_request_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::Forbidden(_) => "permission_error",
            ApiError::Overloaded(_) => "rate_limit_error",
            ApiError::UpstreamFailed(_) => "upstream_error",
            ApiError::Unavailable(_) | ApiError::Internal(_) | ApiError::TooManyConnections(_) => {
                "server_error"
            }
        }
    }

    /// OpenAI's `error.code`.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::Unauthorized(_) => "invalid_api_key",
            ApiError::Forbidden(_) => "permission_denied",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::UriTooLong(_) => "uri_too_long",
            ApiError::HeadersTooLarge(_) => "headers_too_large",
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::ModelNotFound(_) => "model_not_found",
            ApiError::DecisionNotFound(_) => "decision_not_found",
            ApiError::NoRoute(_) => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::NoCandidate(_) => "no_candidate",
            ApiError::UpstreamFailed(_) => "upstream_failed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The OpenAI error body.
    pub fn body(&self) -> Value {
        let param = match self {
            ApiError::BadRequest { param, .. } => param.clone().map(Value::String),
            ApiError::ModelNotFound(_) => Some(Value::String("model".into())),
            _ => None,
        };
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": param,
                "code": self.code(),
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        (status, axum::Json(self.body())).into_response()
    }
}

/// A JSON object body. Unlike `axum::Json`, every rejection (empty body, too large, not
/// JSON, not an object) is an [`ApiError`], so clients always get OpenAI's error shape.
/// The body stays a `serde_json::Map` so that fields the gateway does not know about pass
/// through to the upstream unchanged.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                axum::extract::rejection::BytesRejection::FailedToBufferBody(
                    axum::extract::rejection::FailedToBufferBody::LengthLimitError(_),
                ) => ApiError::PayloadTooLarge,
                other => ApiError::bad_request(format!("could not read the request body: {other}")),
            })?;
        parse_json_object(&bytes).map(JsonObject)
    }
}

/// Parses a request body into a JSON object, with OpenAI-style errors that say where.
pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::bad_request(format!(
            "the request body must be a JSON object, got {}",
            crate::request::type_name(&other)
        ))),
    }
}

/// Echoed client text (a key, a value, a path) is cut to this many characters, so that an
/// error body never grows with what the client sent.
pub const ECHO_MAX_CHARS: usize = 100;

/// `text` cut to [`ECHO_MAX_CHARS`] characters, with `…` when something was cut.
pub fn truncate_echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// One path segment as a `String`, like `axum::extract::Path<String>`, but a segment that
/// cannot be decoded (`%ff%fe` is not UTF-8) is an OpenAI-shaped 400 naming the segment,
/// not axum's plain-text rejection.
#[derive(Debug, Clone)]
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(segment)| PathParam(segment))
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "invalid path segment: {}",
                    truncate_echo(&rejection.body_text())
                ))
            })
    }
}
