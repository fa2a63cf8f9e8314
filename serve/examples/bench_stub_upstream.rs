//! A loopback OpenAI-compatible upstream for benchmarks (a test double, never in the
//! gateway's code path): `POST /v1/chat/completions` answers a fixed completion, as JSON
//! or, when the body says `"stream": true`, as SSE chunks ending with `data: [DONE]`.
//!
//! ```text
//! cargo run --release -p serve --example bench_stub_upstream -- --listen 127.0.0.1:18081
//!     [--latency-ms 0] [--mode ok|fail|stall|die-mid-stream|hangup] [--status 500]
//!     [--threads 1]
//! ```
//! It prints `listening on http://ADDR/v1` once bound (port 0 picks a free port).
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use serde_json::json;

/// What every request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A normal answer (after `--latency-ms`).
    Ok,
    /// `--status` with an OpenAI error body.
    Fail,
    /// Never answer within any sane timeout (sleeps an hour).
    Stall,
    /// Stream two chunks, then drop the connection.
    DieMidStream,
    /// Close the connection without a response.
    Hangup,
}

#[derive(Debug, Parser)]
#[command(about = "Loopback OpenAI-compatible stub upstream for gateway benchmarks")]
struct Cli {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Delay before answering, in milliseconds (models an upstream's own latency).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Behaviour.
    #[arg(long, value_enum, default_value_t = Mode::Ok)]
    mode: Mode,
    /// Status for `--mode fail`.
    #[arg(long, default_value_t = 500)]
    status: u16,
    /// Tokio worker threads (keep it small: the stub shares the machine with the gateway
    /// and the load generator).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

struct Stub {
    latency: Duration,
    mode: Mode,
    status: StatusCode,
    json: Bytes,
    frames: Vec<Bytes>,
}

/// Only what the stub looks at; everything else in the body is ignored.
#[derive(Deserialize)]
struct Req {
    #[serde(default)]
    stream: Option<bool>,
}

const TEXT: &str = "The answer is 42. It follows from the premises given above.";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let usage = json!({"prompt_tokens": 24, "completion_tokens": 16, "total_tokens": 40});
    let json = serde_json::to_vec(&json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
        "usage": usage,
    }))?;
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": "stub", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        serde_json::Value::Null,
    )];
    for word in TEXT.split_inclusive(' ') {
        events.push(chunk(json!({"content": word}), serde_json::Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    events.push(
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
                       "model": "stub", "choices": [], "usage": usage}),
    );
    let mut frames: Vec<Bytes> = events
        .iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));

    let stub = Arc::new(Stub {
        latency: Duration::from_millis(cli.latency_ms),
        mode: cli.mode,
        status: StatusCode::from_u16(cli.status).context("--status")?,
        json: Bytes::from(json),
        frames,
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(handle))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    println!("listening on http://{}/v1", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(State(stub): State<Arc<Stub>>, body: Bytes) -> Response {
    let stream = serde_json::from_slice::<Req>(&body)
        .ok()
        .and_then(|r| r.stream)
        .unwrap_or(false);
    if !stub.latency.is_zero() {
        tokio::time::sleep(stub.latency).await;
    }
    match stub.mode {
        Mode::Ok => {}
        Mode::Fail => {
            let body = json!({"error": {"message": format!("stub failing with {}", stub.status.as_u16()),
                                        "type": "server_error", "param": null, "code": null}});
            return (stub.status, axum::Json(body)).into_response();
        }
        Mode::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Mode::Hangup => {
            let s = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("hangup"))
            });
            return Response::new(Body::from_stream(s));
        }
        Mode::DieMidStream => {
            let frames: Vec<Result<Bytes, std::io::Error>> = stub.frames[..2]
                .iter()
                .cloned()
                .map(Ok)
                .chain(std::iter::once(Err(std::io::Error::other(
                    "stub died mid-stream",
                ))))
                .collect();
            return sse(Body::from_stream(futures::stream::iter(frames)));
        }
    }
    if stream {
        let frames: Vec<Result<Bytes, Infallible>> = stub.frames.iter().cloned().map(Ok).collect();
        return sse(Body::from_stream(futures::stream::iter(frames)));
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        stub.json.clone(),
    )
        .into_response()
}

fn sse(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
