//! The fallback loop: tries each model of the plan, and each of its providers, until one
//! answers. Connection errors, timeouts, 429 and 5xx (and 401/403/404/408/409, which are
//! about the provider, not the request) move on, as long as no byte has reached the
//! client; for a stream that means until the first event, which is read before the
//! response head is sent. Other upstream 4xx answers go back to the client as they are:
//! the request itself is at fault and another provider would say the same.
//! After the first streamed byte, an upstream failure ends the stream with an SSE error event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::client::{self, Failure};
use super::sse::{self, SseRewriter};
use super::{Provider, Upstreams};
use crate::audit::{Attempt, Usage};
use crate::metrics::Metrics;

/// What to try, in order, and with which body.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Catalog models, first choice first (the record's `fallback_order`).
    pub models: Arc<[String]>,
    /// The request body (the gateway's own fields removed).
    pub body: Map<String, Value>,
    /// Streaming request.
    pub stream: bool,
    /// The client asked for the usage chunk.
    pub include_usage: bool,
}

/// A successful (or passed-through) upstream answer.
pub enum Answer {
    /// A complete JSON response, `model` already rewritten to the catalog name.
    Json {
        /// Who answered.
        provider: Arc<Provider>,
        /// The body.
        body: Value,
        /// Its `usage`.
        usage: Option<Usage>,
    },
    /// The upstream rejected the request itself (a 4xx that is not about the provider).
    Rejected {
        /// Who answered.
        provider: Arc<Provider>,
        /// The upstream status.
        status: u16,
        /// The upstream body (OpenAI-shaped when it was JSON, wrapped otherwise).
        body: Value,
    },
    /// A stream whose first event has arrived.
    Stream(StreamStart),
}

/// A stream ready to be sent: the first events and the rest of the upstream.
pub struct StreamStart {
    /// Who answers.
    pub provider: Arc<Provider>,
    first: Bytes,
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    rewriter: SseRewriter,
    started: Instant,
}

/// The attempts made and the answer, if any.
pub struct Forwarded {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The answer; `None` when every attempt failed.
    pub answer: Option<Answer>,
}

/// Runs the plan.
pub async fn forward(upstreams: &Upstreams, metrics: &Metrics, plan: Plan) -> Forwarded {
    let mut attempts = Vec::new();
    let mut body = plan.body;
    if plan.stream {
        // Always ask for usage upstream so the record has real token counts; the usage
        // chunk is dropped on the way back unless the client asked for it.
        let opts = body
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(opts) = opts {
            opts.insert("include_usage".into(), Value::Bool(true));
        }
    }
    for model_name in plan.models.iter() {
        let Some(model) = upstreams.models.get(model_name) else {
            continue;
        };
        for provider in &model.providers {
            if let Some(var) = &provider.missing_key_env {
                attempts.push(skipped(
                    provider,
                    format!("environment variable {var} is not set"),
                ));
                continue;
            }
            if !provider.breaker.try_acquire() {
                attempts.push(skipped(provider, "circuit breaker open".to_string()));
                continue;
            }
            let started = Instant::now();
            let result = attempt(
                upstreams,
                provider,
                &body,
                plan.stream,
                plan.include_usage,
                started,
            )
            .await;
            let latency_ms = started.elapsed().as_secs_f64() * 1e3;
            match result {
                Ok(answer) => {
                    let (outcome, status) = match &answer {
                        Answer::Rejected { status, .. } => ("rejected", Some(*status)),
                        _ => ("ok", Some(200)),
                    };
                    metrics
                        .upstream_requests
                        .with(&[&provider.label, outcome])
                        .inc();
                    if !plan.stream {
                        // Streams settle the breaker and the latency average when they end.
                        provider.breaker.record_success();
                        if outcome == "ok" {
                            provider.latency.observe_ms(latency_ms);
                            metrics
                                .upstream_duration
                                .with(&[&provider.label])
                                .observe(latency_ms / 1e3);
                        }
                    }
                    attempts.push(Attempt {
                        model: provider.model.clone(),
                        provider: provider.name.clone(),
                        status,
                        outcome: outcome.to_string(),
                        latency_ms,
                        error: None,
                    });
                    return Forwarded {
                        attempts,
                        answer: Some(answer),
                    };
                }
                Err(failure) => {
                    record_failure(metrics, provider, failure.kind);
                    tracing::info!(provider = %provider.label, kind = failure.kind, status = ?failure.status, "upstream attempt failed; trying the next");
                    attempts.push(Attempt {
                        model: provider.model.clone(),
                        provider: provider.name.clone(),
                        status: failure.status,
                        outcome: failure.kind.to_string(),
                        latency_ms,
                        error: Some(failure.message),
                    });
                }
            }
        }
    }
    Forwarded {
        attempts,
        answer: None,
    }
}

fn record_failure(metrics: &Metrics, provider: &Provider, kind: &str) {
    metrics
        .upstream_requests
        .with(&[&provider.label, kind])
        .inc();
    metrics.upstream_errors.with(&[&provider.label, kind]).inc();
    if provider.breaker.record_failure() {
        metrics.breaker_opened.with(&[&provider.label]).inc();
        tracing::warn!(provider = %provider.label, "circuit breaker opened");
    }
}

fn skipped(provider: &Provider, why: String) -> Attempt {
    Attempt {
        model: provider.model.clone(),
        provider: provider.name.clone(),
        status: None,
        outcome: "skipped".into(),
        latency_ms: 0.0,
        error: Some(why),
    }
}

async fn attempt(
    upstreams: &Upstreams,
    provider: &Arc<Provider>,
    body: &Map<String, Value>,
    stream: bool,
    include_usage: bool,
    started: Instant,
) -> Result<Answer, Failure> {
    let resp = client::send(&upstreams.client, provider, body).await?;
    let status = resp.status();
    if !status.is_success() {
        let bytes = client::read_body(provider, resp).await.unwrap_or_default();
        if client::is_retryable(status) {
            return Err(Failure {
                kind: "http_error",
                status: Some(status.as_u16()),
                message: format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    client::error_excerpt(provider, &bytes)
                ),
            });
        }
        let body = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => v,
            _ => serde_json::json!({"error": {
                "message": client::error_excerpt(provider, &bytes),
                "type": "upstream_error", "param": null, "code": status.as_u16().to_string(),
            }}),
        };
        return Ok(Answer::Rejected {
            provider: Arc::clone(provider),
            status: status.as_u16(),
            body,
        });
    }
    if stream {
        return start_stream(provider, resp, include_usage, started).await;
    }
    let bytes = client::read_body(provider, resp).await?;
    let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| Failure {
        kind: "bad_response",
        status: Some(status.as_u16()),
        message: format!("upstream response is not JSON: {e}"),
    })?;
    let Value::Object(obj) = &mut value else {
        return Err(Failure {
            kind: "bad_response",
            status: Some(status.as_u16()),
            message: "upstream response is not a JSON object".into(),
        });
    };
    obj.insert("model".into(), Value::String(provider.model.clone()));
    let usage = obj.get("usage").and_then(Usage::from_json);
    Ok(Answer::Json {
        provider: Arc::clone(provider),
        body: value,
        usage,
    })
}

async fn start_stream(
    provider: &Arc<Provider>,
    resp: reqwest::Response,
    include_usage: bool,
    started: Instant,
) -> Result<Answer, Failure> {
    let mut upstream = resp.bytes_stream().boxed();
    let mut rewriter = SseRewriter::new(&provider.model, include_usage);
    let mut first = Vec::new();
    // Nothing has reached the client yet: wait for a first data event, so that a
    // provider that fails now can still be replaced by the next one.
    while rewriter.events == 0 {
        match tokio::time::timeout(provider.timeout, upstream.next()).await {
            Err(_) => {
                return Err(Failure {
                    kind: "timeout",
                    status: Some(200),
                    message: format!("no stream event within {:?}", provider.timeout),
                });
            }
            Ok(None) => {
                first.extend_from_slice(&rewriter.finish());
                if rewriter.events == 0 {
                    return Err(Failure {
                        kind: "stream_error",
                        status: Some(200),
                        message: "the stream ended before its first event".into(),
                    });
                }
            }
            Ok(Some(Err(e))) => return Err(client::request_failure(provider, &e)),
            Ok(Some(Ok(chunk))) => first.extend_from_slice(&rewriter.push(&chunk)),
        }
    }
    if let Some(err) = &rewriter.error {
        return Err(Failure {
            kind: "stream_error",
            status: Some(200),
            message: format!("upstream sent an error event: {}", provider.redact(err)),
        });
    }
    Ok(Answer::Stream(StreamStart {
        provider: Arc::clone(provider),
        first: Bytes::from(first),
        upstream,
        rewriter,
        started,
    }))
}

/// How a stream ended, for the audit record.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    /// `ok`, `stream_error` or `client_disconnected`.
    pub outcome: &'static str,
    /// Usage seen in the stream.
    pub usage: Option<Usage>,
    /// The error, for `stream_error`.
    pub error: Option<String>,
}

/// Called once when the stream ends, however it ends.
pub type OnEnd = Box<dyn FnOnce(StreamEnd) + Send>;

struct StreamBody {
    first: Option<Bytes>,
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    rewriter: SseRewriter,
    provider: Arc<Provider>,
    started: Instant,
    timeout: Duration,
    metrics: Arc<Metrics>,
    on_end: Option<OnEnd>,
}

impl StreamBody {
    fn end(&mut self, outcome: &'static str, error: Option<String>) {
        let Some(on_end) = self.on_end.take() else {
            return;
        };
        match outcome {
            "ok" => {
                self.provider.breaker.record_success();
                let ms = self.started.elapsed().as_secs_f64() * 1e3;
                self.provider.latency.observe_ms(ms);
                self.metrics
                    .upstream_duration
                    .with(&[&self.provider.label])
                    .observe(ms / 1e3);
            }
            "stream_error" => record_failure(&self.metrics, &self.provider, "stream_error"),
            _ => self.provider.breaker.release(),
        }
        on_end(StreamEnd {
            outcome,
            usage: self.rewriter.usage,
            error,
        });
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        // The client went away before the end (or the server is shutting down).
        self.end("client_disconnected", None);
    }
}

/// The response body of a stream: the first events, then the rest rewritten, ending
/// with `data: [DONE]` or, on an upstream failure, an SSE error event.
pub fn body_stream(
    start: StreamStart,
    metrics: Arc<Metrics>,
    on_end: OnEnd,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let timeout = start.provider.timeout;
    let body = StreamBody {
        first: Some(start.first),
        upstream: start.upstream,
        rewriter: start.rewriter,
        provider: start.provider,
        started: start.started,
        timeout,
        metrics,
        on_end: Some(on_end),
    };
    futures::stream::unfold(body, |mut b| async move {
        if let Some(first) = b.first.take() {
            if b.rewriter.done {
                b.end("ok", None);
            }
            return Some((Ok(first), b));
        }
        // Ended (DONE, error or timeout): nothing more to send.
        b.on_end.as_ref()?;
        loop {
            match tokio::time::timeout(b.timeout, b.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let out = b.rewriter.push(&chunk);
                    if b.rewriter.done {
                        let outcome = if b.rewriter.error.is_some() {
                            "stream_error"
                        } else {
                            "ok"
                        };
                        let err = b.rewriter.error.clone();
                        b.end(outcome, err);
                        return Some((Ok(out), b));
                    }
                    if !out.is_empty() {
                        return Some((Ok(out), b));
                    }
                }
                Ok(None) => {
                    let mut out = b.rewriter.finish().to_vec();
                    if let Some(err) = b.rewriter.error.clone() {
                        b.end("stream_error", Some(err));
                    } else {
                        // Some upstreams close without `[DONE]`; clients expect it.
                        if !b.rewriter.done {
                            out.extend_from_slice(sse::DONE_EVENT);
                        }
                        b.end("ok", None);
                    }
                    return Some((Ok(Bytes::from(out)), b));
                }
                Ok(Some(Err(e))) => {
                    let failure = client::request_failure(&b.provider, &e);
                    let msg = format!("the upstream stream failed: {}", failure.message);
                    b.end("stream_error", Some(msg.clone()));
                    return Some((Ok(sse::error_event(&msg, "upstream_stream_error")), b));
                }
                Err(_) => {
                    let msg = format!("the upstream sent nothing for {:?}", b.timeout);
                    b.end("stream_error", Some(msg.clone()));
                    return Some((Ok(sse::error_event(&msg, "upstream_timeout")), b));
                }
            }
        }
    })
}
