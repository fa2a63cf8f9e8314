//! One upstream call: the shared pooled client, the request, and the classification of
//! what came back (success, retryable failure, or an answer to pass to the client).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::Provider;
use crate::outcome::AttemptOutcome;

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

/// Gives the calling thread its own client, which [`thread_client`] then returns.
pub fn use_thread_client(client: reqwest::Client) {
    THREAD_CLIENT.with_borrow_mut(|c| *c = Some(client));
}

/// The client to use on this thread: its own ([`use_thread_client`], the per-core server)
/// or else `shared`.
pub fn thread_client(shared: &reqwest::Client) -> reqwest::Client {
    THREAD_CLIENT
        .with_borrow(Clone::clone)
        .unwrap_or_else(|| shared.clone())
}

/// A failed attempt, before any byte reached the client: the caller moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `connect_error`, `timeout`, `http_error`, `bad_response`, `too_large`, `stream_error`.
    pub kind: AttemptOutcome,
    /// Upstream HTTP status, when it answered.
    pub status: Option<u16>,
    /// Details, redacted of every key and upstream URL.
    pub message: String,
}

impl Failure {
    /// A failure whose message came (in part) from the upstream: redacted here, so that no
    /// caller can forget to.
    pub fn new(
        provider: &Provider,
        kind: AttemptOutcome,
        status: Option<u16>,
        message: &str,
    ) -> Failure {
        Failure {
            kind,
            status,
            message: provider.redact(message),
        }
    }
}

/// Upstream statuses that mean "try elsewhere": rate limits, server errors, and statuses
/// that are about this provider rather than the request (bad key, no access, timeout).
pub fn is_retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 409 | 429)
}

/// Sends the body (with `model` set to the provider's name for it) and waits for the
/// response head, until `deadline` (the attempt's start plus the provider's timeout).
pub async fn send(
    client: &reqwest::Client,
    provider: &Provider,
    body: &Map<String, Value>,
    deadline: Instant,
) -> Result<reqwest::Response, Failure> {
    let mut body = body.clone();
    body.insert(
        "model".into(),
        Value::String(provider.upstream_model.clone()),
    );
    let mut req = client.post(&provider.url).json(&body);
    if let Some(key) = &provider.api_key {
        req = req.bearer_auth(key.expose());
    }
    match tokio::time::timeout_at(deadline, req.send()).await {
        Err(_) => Err(Failure::new(
            provider,
            AttemptOutcome::Timeout,
            None,
            &format!("no response within {:?}", provider.timeout),
        )),
        Ok(Err(e)) => Err(request_failure(provider, e)),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// Classifies a reqwest error. Its URL is dropped (`without_url`): it names an internal
/// upstream address, and some providers put keys in query strings.
pub fn request_failure(provider: &Provider, e: reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        AttemptOutcome::Timeout
    } else if e.is_connect() {
        AttemptOutcome::ConnectError
    } else {
        AttemptOutcome::StreamError
    };
    let status = e.status().map(|s| s.as_u16());
    let e = e.without_url();
    Failure::new(provider, kind, status, &error_chain(&e))
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

/// How much of an upstream error body is read: enough for its message, not a way to
/// make the gateway buffer an unbounded answer.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Reads a whole body, at most `upstream.max_body_bytes`, by `deadline` (the attempt's
/// timeout counted from its start). A larger body fails the attempt as `too_large`
/// without reading the rest (the connection is dropped, not drained).
pub async fn read_body(
    provider: &Provider,
    resp: reqwest::Response,
    deadline: Instant,
) -> Result<Bytes, Failure> {
    let max = provider.limits.max_body_bytes;
    if let Some(len) = resp.content_length()
        && len > max as u64
    {
        return Err(too_large(provider, max, Some(len)));
    }
    match read_capped(resp, max, deadline).await {
        Read::Complete(bytes) => Ok(bytes),
        Read::Truncated(_) => Err(too_large(provider, max, None)),
        Read::TimedOut => Err(Failure::new(
            provider,
            AttemptOutcome::Timeout,
            None,
            &format!("response body not complete within {:?}", provider.timeout),
        )),
        Read::Failed(e) => Err(request_failure(provider, e)),
    }
}

/// The first [`MAX_ERROR_BODY_BYTES`] of an error body (whatever could be read by
/// `deadline`: an error answer is reported with what arrived, never waited on for ever).
pub async fn read_error_body(resp: reqwest::Response, deadline: Instant) -> Bytes {
    match read_capped(resp, MAX_ERROR_BODY_BYTES, deadline).await {
        Read::Complete(bytes) | Read::Truncated(bytes) => bytes,
        Read::TimedOut | Read::Failed(_) => Bytes::new(),
    }
}

fn too_large(provider: &Provider, max: usize, announced: Option<u64>) -> Failure {
    let size = announced.map_or_else(|| "more".to_string(), |n| format!("{n} bytes,"));
    Failure::new(
        provider,
        AttemptOutcome::TooLarge,
        Some(200),
        &format!(
            "the upstream response is {size} over the {max}-byte limit (`upstream.max_body_bytes`)"
        ),
    )
}

enum Read {
    Complete(Bytes),
    /// More than the cap arrived: the first `cap` bytes.
    Truncated(Bytes),
    TimedOut,
    Failed(reqwest::Error),
}

async fn read_capped(mut resp: reqwest::Response, cap: usize, deadline: Instant) -> Read {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Read::TimedOut,
            Ok(Err(e)) => return Read::Failed(e),
            Ok(Ok(None)) => return Read::Complete(buf.freeze()),
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > cap {
                    let room = cap - buf.len();
                    buf.extend_from_slice(&chunk[..room]);
                    return Read::Truncated(buf.freeze());
                }
                buf.extend_from_slice(&chunk);
            }
        }
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
    // Redact before cutting: a cut through a key would leave its first half readable.
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
