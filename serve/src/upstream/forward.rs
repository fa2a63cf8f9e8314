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
use crate::outcome::{AttemptOutcome, StreamOutcome};

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
    /// The upstream already ended while the first event was awaited.
    ended: bool,
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
                        Answer::Rejected { status, .. } => {
                            (AttemptOutcome::Rejected, Some(*status))
                        }
                        _ => (AttemptOutcome::Ok, Some(200)),
                    };
                    metrics
                        .upstream_requests
                        .with(&[&provider.label, outcome.as_str()])
                        .inc();
                    if !plan.stream {
                        // Streams settle the breaker and the latency average when they end.
                        provider.breaker.record_success();
                        if outcome == AttemptOutcome::Ok {
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
                        outcome,
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
                    tracing::info!(provider = %provider.label, kind = %failure.kind, status = ?failure.status, "upstream attempt failed; trying the next");
                    attempts.push(Attempt {
                        model: provider.model.clone(),
                        provider: provider.name.clone(),
                        status: failure.status,
                        outcome: failure.kind,
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

fn record_failure(metrics: &Metrics, provider: &Provider, kind: AttemptOutcome) {
    let kind = kind.as_str();
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
        outcome: AttemptOutcome::Skipped,
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
    // One deadline for the whole attempt: an upstream that trickles bytes cannot stretch it.
    let deadline = started + provider.timeout;
    let http = client::thread_client(&upstreams.client);
    let resp = client::send(&http, provider, body, deadline).await?;
    let status = resp.status();
    if !status.is_success() {
        let bytes = client::read_error_body(resp, deadline).await;
        if client::is_retryable(status) {
            return Err(Failure::new(
                provider,
                AttemptOutcome::HttpError,
                Some(status.as_u16()),
                &format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    client::error_excerpt(provider, &bytes)
                ),
            ));
        }
        return Ok(rejected(provider, status.as_u16(), &bytes));
    }
    if stream {
        return start_stream(provider, resp, include_usage, deadline, started).await;
    }
    let bytes = client::read_body(provider, resp, deadline).await?;
    let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            provider,
            AttemptOutcome::BadResponse,
            Some(status.as_u16()),
            &format!("upstream response is not JSON: {e}"),
        )
    })?;
    let Value::Object(obj) = &mut value else {
        return Err(Failure::new(
            provider,
            AttemptOutcome::BadResponse,
            Some(status.as_u16()),
            "upstream response is not a JSON object",
        ));
    };
    if obj.get("error").is_some_and(|e| !e.is_null()) && !obj.contains_key("choices") {
        // Some providers answer 200 with an error object: that is a failed attempt (and
        // its text, which may echo the request's key, is redacted), not an answer.
        return Err(Failure::new(
            provider,
            AttemptOutcome::BadResponse,
            Some(status.as_u16()),
            &format!(
                "upstream answered 200 with an error: {}",
                client::error_excerpt(provider, &bytes)
            ),
        ));
    }
    obj.insert("model".into(), Value::String(provider.model.clone()));
    // An answer may echo a key as well (a model repeating its prompt's headers, an
    // unknown field): the same rule as for streamed events.
    provider.redactor.json(&mut value);
    let usage = value.get("usage").and_then(Usage::from_json);
    Ok(Answer::Json {
        provider: Arc::clone(provider),
        body: value,
        usage,
    })
}

/// An upstream 4xx about the request itself, passed to the client: the upstream's JSON
/// object redacted of every secret (it may repeat the request's headers), or an
/// OpenAI-shaped error wrapping a redacted excerpt.
fn rejected(provider: &Arc<Provider>, status: u16, bytes: &[u8]) -> Answer {
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v @ Value::Object(_)) => {
            provider.redactor.json(&mut v);
            v
        }
        _ => serde_json::json!({"error": {
            "message": client::error_excerpt(provider, bytes),
            "type": "upstream_error", "param": null, "code": status.to_string(),
        }}),
    };
    Answer::Rejected {
        provider: Arc::clone(provider),
        status,
        body,
    }
}

async fn start_stream(
    provider: &Arc<Provider>,
    resp: reqwest::Response,
    include_usage: bool,
    deadline: Instant,
    started: Instant,
) -> Result<Answer, Failure> {
    let mut upstream = resp.bytes_stream().boxed();
    let mut rewriter = SseRewriter::new(
        &provider.model,
        include_usage,
        Arc::clone(&provider.redactor),
        provider.limits.max_event_bytes,
    );
    let mut first = Vec::new();
    let mut ended = false;
    // Nothing has reached the client yet: wait for a first data event, so that a
    // provider that fails now can still be replaced by the next one. The deadline is
    // the attempt's, not per read: bytes without an event boundary do not extend it.
    while rewriter.events == 0 {
        match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => {
                return Err(Failure::new(
                    provider,
                    AttemptOutcome::Timeout,
                    Some(200),
                    &format!("no stream event within {:?}", provider.timeout),
                ));
            }
            Ok(None) => {
                first.extend_from_slice(&rewriter.finish());
                ended = true;
                if rewriter.events == 0 {
                    return Err(Failure::new(
                        provider,
                        AttemptOutcome::StreamError,
                        Some(200),
                        "the stream ended before its first event",
                    ));
                }
            }
            Ok(Some(Err(e))) => return Err(client::request_failure(provider, e)),
            Ok(Some(Ok(chunk))) => match rewriter.push(&chunk) {
                Ok(out) => first.extend_from_slice(&out),
                Err(too_large) => {
                    return Err(Failure::new(
                        provider,
                        AttemptOutcome::TooLarge,
                        Some(200),
                        &too_large.to_string(),
                    ));
                }
            },
        }
    }
    if let Some(err) = &rewriter.error {
        return Err(Failure::new(
            provider,
            AttemptOutcome::StreamError,
            Some(200),
            &format!("upstream sent an error event: {err}"),
        ));
    }
    Ok(Answer::Stream(StreamStart {
        provider: Arc::clone(provider),
        first: Bytes::from(first),
        upstream,
        rewriter,
        ended,
        started,
    }))
}

/// How a stream ended, for the audit record.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    pub outcome: StreamOutcome,
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
    /// The upstream has ended (EOF seen).
    ended: bool,
    provider: Arc<Provider>,
    started: Instant,
    timeout: Duration,
    /// When the last complete event arrived: the idle timeout counts from here, so bytes
    /// that never finish an event do not keep a stream alive.
    last_frame: Instant,
    frames: usize,
    metrics: Arc<Metrics>,
    on_end: Option<OnEnd>,
}

impl StreamBody {
    /// Ends the stream with an SSE error event (the status line is already 200).
    fn fail(mut self, message: String, code: &str) -> (Result<Bytes, Infallible>, StreamBody) {
        let event = sse::error_event(&message, code);
        self.end(StreamOutcome::StreamError, Some(message));
        (Ok(event), self)
    }

    fn end(&mut self, outcome: StreamOutcome, error: Option<String>) {
        let Some(on_end) = self.on_end.take() else {
            return;
        };
        match outcome {
            StreamOutcome::Ok => {
                self.provider.breaker.record_success();
                let ms = self.started.elapsed().as_secs_f64() * 1e3;
                self.provider.latency.observe_ms(ms);
                self.metrics
                    .upstream_duration
                    .with(&[&self.provider.label])
                    .observe(ms / 1e3);
            }
            StreamOutcome::StreamError => {
                record_failure(&self.metrics, &self.provider, AttemptOutcome::StreamError);
            }
            // Neither a success nor the upstream's fault: the breaker forgets the attempt.
            StreamOutcome::ClientDisconnected => self.provider.breaker.release(),
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
        self.end(StreamOutcome::ClientDisconnected, None);
    }
}

/// The response body of a stream: the first events, then the rest rewritten, ending
/// with `data: [DONE]` or, on an upstream failure, an SSE error event. A stream that
/// ends without `[DONE]` was cut short: it ends with an error event and is recorded as
/// `stream_error`, so that a truncated answer never looks complete.
pub fn body_stream(
    start: StreamStart,
    metrics: Arc<Metrics>,
    on_end: OnEnd,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let timeout = start.provider.timeout;
    let frames = start.rewriter.frames;
    let body = StreamBody {
        first: Some(start.first),
        upstream: start.upstream,
        rewriter: start.rewriter,
        ended: start.ended,
        provider: start.provider,
        started: start.started,
        timeout,
        last_frame: Instant::now(),
        frames,
        metrics,
        on_end: Some(on_end),
    };
    futures::stream::unfold(body, |mut b| async move {
        if let Some(first) = b.first.take() {
            if b.rewriter.done {
                let outcome = ended_outcome(&b.rewriter);
                let err = b.rewriter.error.clone();
                b.end(outcome, err);
            }
            return Some((Ok(first), b));
        }
        // Ended (DONE, error or timeout): nothing more to send.
        b.on_end.as_ref()?;
        loop {
            let next = if b.ended {
                Ok(None)
            } else {
                tokio::time::timeout_at(b.last_frame + b.timeout, b.upstream.next()).await
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    let out = match b.rewriter.push(&chunk) {
                        Ok(out) => out,
                        Err(too_large) => {
                            return Some(b.fail(too_large.to_string(), "upstream_event_too_large"));
                        }
                    };
                    if b.rewriter.frames > b.frames {
                        b.frames = b.rewriter.frames;
                        b.last_frame = Instant::now();
                    }
                    if b.rewriter.done {
                        let outcome = ended_outcome(&b.rewriter);
                        let err = b.rewriter.error.clone();
                        b.end(outcome, err);
                        return Some((Ok(out), b));
                    }
                    if !out.is_empty() {
                        return Some((Ok(out), b));
                    }
                }
                Ok(None) => {
                    b.ended = true;
                    let mut out = b.rewriter.finish().to_vec();
                    if let Some(err) = b.rewriter.error.clone() {
                        b.end(StreamOutcome::StreamError, Some(err));
                    } else if b.rewriter.done {
                        b.end(StreamOutcome::Ok, None);
                    } else {
                        let msg = "the upstream stream ended before its end marker: the answer may be truncated".to_string();
                        out.extend_from_slice(&sse::error_event(&msg, "upstream_stream_truncated"));
                        b.end(StreamOutcome::StreamError, Some(msg));
                    }
                    return Some((Ok(Bytes::from(out)), b));
                }
                Ok(Some(Err(e))) => {
                    let failure = client::request_failure(&b.provider, e);
                    let msg = format!("the upstream stream failed: {}", failure.message);
                    return Some(b.fail(msg, "upstream_stream_error"));
                }
                Err(_) => {
                    let msg = format!("the upstream sent no complete event for {:?}", b.timeout);
                    return Some(b.fail(msg, "upstream_timeout"));
                }
            }
        }
    })
}

/// `ok`, or `stream_error` when the upstream sent an error event before `[DONE]`.
fn ended_outcome(rewriter: &SseRewriter) -> StreamOutcome {
    if rewriter.error.is_some() {
        StreamOutcome::StreamError
    } else {
        StreamOutcome::Ok
    }
}
