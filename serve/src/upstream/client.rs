//! One upstream call: the shared pooled client, the request, and the classification of
//! what came back (success, retryable failure, or an answer to pass to the client).

use std::time::Duration;

use serde_json::{Map, Value};

use super::Provider;

/// The one HTTP client (connection pooling, HTTP/2 where the upstream offers it, rustls
/// with the ring provider for https).
pub fn build_client() -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built with `rustls-no-provider`: install ring once per process. A second
    // call returns Err because a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
}

thread_local! {
    /// This thread's own client, when its runtime serves only this thread (the per-core
    /// server): its pooled connections are then driven by the thread that uses them,
    /// instead of waking another thread for every upstream call.
    static THREAD_CLIENT: std::cell::RefCell<Option<reqwest::Client>> =
        const { std::cell::RefCell::new(None) };
}

/// Gives the calling thread its own client; [`send`] uses it instead of the shared one.
pub fn use_thread_client(client: reqwest::Client) {
    THREAD_CLIENT.with_borrow_mut(|c| *c = Some(client));
}

/// A failed attempt, before any byte reached the client: the caller moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `connect_error`, `timeout`, `http_error`, `bad_response`, `stream_error`.
    pub kind: &'static str,
    /// Upstream HTTP status, when it answered.
    pub status: Option<u16>,
    /// Details (redacted of keys).
    pub message: String,
}

/// Upstream statuses that mean "try elsewhere": rate limits, server errors, and statuses
/// that are about this provider rather than the request (bad key, no access, timeout).
pub fn is_retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 409 | 429)
}

/// Sends the body (with `model` set to the provider's name for it) and waits for the
/// response head, within the provider's timeout.
pub async fn send(
    client: &reqwest::Client,
    provider: &Provider,
    body: &Map<String, Value>,
) -> Result<reqwest::Response, Failure> {
    let mut body = body.clone();
    body.insert(
        "model".into(),
        Value::String(provider.upstream_model.clone()),
    );
    let own = THREAD_CLIENT.with_borrow(Clone::clone);
    let client = own.as_ref().unwrap_or(client);
    let mut req = client.post(&provider.url).json(&body);
    if let Some(key) = &provider.api_key {
        req = req.bearer_auth(key.expose());
    }
    match tokio::time::timeout(provider.timeout, req.send()).await {
        Err(_) => Err(Failure {
            kind: "timeout",
            status: None,
            message: format!("no response within {:?}", provider.timeout),
        }),
        Ok(Err(e)) => Err(request_failure(provider, &e)),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// Classifies a reqwest error.
pub fn request_failure(provider: &Provider, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect_error"
    } else {
        "stream_error"
    };
    // `without_url` keeps query strings (which some providers use for keys) out of logs.
    let message = provider.redact(&error_chain(e));
    Failure {
        kind,
        status: e.status().map(|s| s.as_u16()),
        message,
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Reads a whole body within the provider's timeout.
pub async fn read_body(
    provider: &Provider,
    resp: reqwest::Response,
) -> Result<bytes::Bytes, Failure> {
    match tokio::time::timeout(provider.timeout, resp.bytes()).await {
        Err(_) => Err(Failure {
            kind: "timeout",
            status: None,
            message: format!("response body not complete within {:?}", provider.timeout),
        }),
        Ok(Err(e)) => Err(request_failure(provider, &e)),
        Ok(Ok(b)) => Ok(b),
    }
}

/// A short, key-free excerpt of an upstream error body for the record.
pub fn error_excerpt(provider: &Provider, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message").and_then(Value::as_str).map(str::to_string))
        })
        .unwrap_or_else(|| text.to_string());
    let mut message = provider.redact(&message);
    if message.len() > 300 {
        let mut cut = 300;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}
