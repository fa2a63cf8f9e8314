//! Test doubles for the gateway, started in-process on loopback (port 0):
//! - [`StubUpstream`]: an OpenAI-compatible `/v1/chat/completions` whose behaviour is
//!   scripted per request (answer, fail with a status, stall, stream, die mid-stream);
//!   [`closed_port_url`] gives an address that refuses connections.
//! - [`KeywordScorer`]: a deterministic `models::Scorer` (no ONNX): predicted quality
//!   per candidate depends on keywords in the prompt.
//! - [`Gateway`]: the gateway itself with a config pointing at the stubs.
//!
//! Also used by `examples/overhead.rs` (the latency benchmark) through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use models::{CandidateModel, Manifest, Prediction, Scorer, ScorerError};
use serde_json::{Value, json};
use serve::AppState;
use serve::config::Config;
use serve::router_artifact::{LoadedRouter, RouterLoader};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What the stub does with one request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer normally (JSON, or SSE when `stream: true`).
    Ok,
    /// Answer with this status and an OpenAI error body.
    Fail(u16),
    /// Wait this long before answering normally.
    Stall(Duration),
    /// Stream two content chunks, then drop the connection.
    DieMidStream,
    /// Stream one chunk, then stall this long before the rest.
    StallMidStream(Duration),
    /// Close the connection without a response.
    Hangup,
}

#[derive(Debug)]
struct StubInner {
    name: String,
    script: Mutex<VecDeque<Behavior>>,
    default: Mutex<Behavior>,
    requests: Mutex<Vec<Value>>,
    calls: AtomicUsize,
}

/// A scripted OpenAI-compatible upstream.
#[derive(Debug, Clone)]
pub struct StubUpstream {
    inner: Arc<StubInner>,
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    pub addr: SocketAddr,
}

impl StubUpstream {
    /// Starts a stub named `name` (it says "Hello from <name>") on a free port; the task
    /// belongs to `tasks`.
    pub async fn start(name: &str, tasks: &mut JoinSet<()>) -> StubUpstream {
        let inner = Arc::new(StubInner {
            name: name.to_string(),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Behavior::Ok),
            requests: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tasks.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StubUpstream {
            inner,
            base_url: format!("http://{addr}/v1"),
            addr,
        }
    }

    /// Behaviour for every request from now on (after any scripted ones).
    pub fn set(&self, b: Behavior) {
        *self.inner.default.lock().unwrap() = b;
    }

    /// Behaviours for the next requests, in order.
    pub fn script(&self, bs: impl IntoIterator<Item = Behavior>) {
        self.inner.script.lock().unwrap().extend(bs);
    }

    /// Requests received.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// Bodies received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.requests.lock().unwrap().clone()
    }
}

/// A URL whose port refuses connections (bound, then released).
pub async fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

async fn handle(
    State(inner): State<Arc<StubInner>>,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    // Like some real providers, failures echo the credentials they were sent.
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    inner.calls.fetch_add(1, Ordering::SeqCst);
    inner.requests.lock().unwrap().push(body.clone());
    let behavior = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| inner.default.lock().unwrap().clone());
    let model = body["model"].as_str().unwrap_or("").to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let text = format!("Hello from {}", inner.name);
    match behavior {
        Behavior::Fail(status) => {
            let status = StatusCode::from_u16(status).unwrap();
            (
                status,
                axum::Json(json!({"error": {"message": format!("stub {} failing with {} (authorization: {auth})", inner.name, status.as_u16()), "type": "server_error", "param": null, "code": null}})),
            )
                .into_response()
        }
        Behavior::Hangup => {
            // A body that errors at once: hyper aborts the connection with no response.
            let s = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("hangup"))
            });
            Response::builder()
                .status(200)
                .body(Body::from_stream(s))
                .unwrap()
        }
        Behavior::Stall(d) => {
            tokio::time::sleep(d).await;
            answer(&model, &text, stream, include_usage, None)
        }
        Behavior::Ok => answer(&model, &text, stream, include_usage, None),
        Behavior::DieMidStream => answer(&model, &text, true, include_usage, Some(Mid::Die)),
        Behavior::StallMidStream(d) => {
            answer(&model, &text, true, include_usage, Some(Mid::Stall(d)))
        }
    }
}

enum Mid {
    Die,
    Stall(Duration),
}

fn answer(
    model: &str,
    text: &str,
    stream: bool,
    include_usage: bool,
    mid: Option<Mid>,
) -> Response {
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16});
    if !stream {
        return axum::Json(json!({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for word in text.split_inclusive(' ') {
        events.push(chunk(json!({"content": word}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        events.push(json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model, "choices": [], "usage": usage}));
    }
    let mut frames: Vec<Bytes> = events
        .iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let s = futures::stream::unfold(
        (frames.into_iter().enumerate(), mid),
        |(mut it, mid)| async move {
            let (i, frame) = it.next()?;
            match &mid {
                Some(Mid::Die) if i == 2 => {
                    // Let the first frames reach the client before dying.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Some((
                        Err(std::io::Error::other("stub died mid-stream")),
                        (it, mid),
                    ));
                }
                Some(Mid::Stall(d)) if i == 2 => tokio::time::sleep(*d).await,
                _ => {}
            }
            Some((Ok::<Bytes, std::io::Error>(frame), (it, mid)))
        },
    );
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(s))
        .unwrap()
}

/// A deterministic scorer: each candidate has a base quality; a keyword in the prompt
/// overrides it. `fail_on` makes it return an error for prompts containing that text.
#[derive(Debug, Clone)]
pub struct KeywordScorer {
    pub base: Vec<f32>,
    pub keywords: Vec<(String, Vec<f32>)>,
    pub n_tasks: usize,
}

impl Scorer for KeywordScorer {
    fn score_batch(&self, prompts: &[&str]) -> Result<Vec<Prediction>, ScorerError> {
        Ok(prompts
            .iter()
            .map(|p| {
                let quality = self
                    .keywords
                    .iter()
                    .find(|(k, _)| p.contains(k.as_str()))
                    .map_or_else(|| self.base.clone(), |(_, q)| q.clone());
                let mut task_probs = vec![0.5 / (self.n_tasks as f32 - 1.0); self.n_tasks];
                // "math" when the prompt has a digit, else "general" (the last task).
                let top = if p.chars().any(|c| c.is_ascii_digit()) {
                    0
                } else {
                    self.n_tasks - 1
                };
                task_probs[top] = 0.5;
                Prediction {
                    quality,
                    task_probs,
                }
            })
            .collect())
    }
}

/// The test router's candidates: `big` (best, priciest), `mid`, `small` (cheapest).
pub fn test_candidates() -> Vec<CandidateModel> {
    let c = |name: &str, i: f64, o: f64| CandidateModel {
        name: name.into(),
        input_usd_per_mtok: Some(i),
        output_usd_per_mtok: Some(o),
        expected_output_tokens: 200.0,
    };
    vec![
        c("big", 10.0, 30.0),
        c("mid", 1.0, 2.0),
        c("small", 0.2, 0.2),
    ]
}

/// Quality `big` 0.9, `mid` 0.8, `small` 0.6; prompts with "easy" make them all 0.95/0.95/0.94.
pub fn test_scorer() -> KeywordScorer {
    KeywordScorer {
        base: vec![0.9, 0.8, 0.6],
        keywords: vec![("easy".into(), vec![0.95, 0.95, 0.94])],
        n_tasks: models::taxonomy::TASKS.len(),
    }
}

/// A router built from the test manifest and `scorer`.
pub fn test_router(name: &str, scorer: KeywordScorer) -> LoadedRouter {
    let manifest = Manifest::new(name, test_candidates());
    LoadedRouter::new(&manifest, Box::new(scorer), None)
}

/// A loader that always builds the keyword router.
pub fn test_loader() -> RouterLoader {
    Arc::new(|| Ok(test_router("test-router", test_scorer())))
}

/// A known-good config: `big`, `mid`, `small`, each served by its stub (big also by a
/// second, backup stub), no client keys, the log in `log_dir`.
pub fn test_config_toml(
    big: &str,
    big_backup: &str,
    mid: &str,
    small: &str,
    log_dir: &std::path::Path,
) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"

[audit]
dir = "{log}"
fsync_interval_ms = 50

[breaker]
failure_threshold = 3
cooldown_secs = 30

[models.big]
context_length = 8000
[[models.big.providers]]
name = "stub-big"
base_url = "{big}"
model = "big-upstream"
input_usd_per_mtok = 10.0
output_usd_per_mtok = 30.0
timeout_secs = 2
[[models.big.providers]]
name = "stub-big-backup"
base_url = "{big_backup}"
input_usd_per_mtok = 12.0
output_usd_per_mtok = 36.0
timeout_secs = 2

[models.mid]
context_length = 8000
[[models.mid.providers]]
name = "stub-mid"
base_url = "{mid}"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
timeout_secs = 2

[models.small]
context_length = 100
[[models.small.providers]]
name = "stub-small"
base_url = "{small}"
input_usd_per_mtok = 0.2
output_usd_per_mtok = 0.2
timeout_secs = 2
"#,
        log = log_dir.display().to_string().replace('\\', "/"),
    )
}

/// Four stubs (big, big-backup, mid, small) and the gateway in front of them.
pub struct Harness {
    pub big: StubUpstream,
    pub big_backup: StubUpstream,
    pub mid: StubUpstream,
    pub small: StubUpstream,
    pub gateway: Gateway,
    pub log_dir: tempfile::TempDir,
    pub tasks: JoinSet<()>,
}

/// A running gateway.
pub struct Gateway {
    pub url: String,
    pub state: Arc<AppState>,
    pub shutdown: CancellationToken,
    server: JoinSet<std::io::Result<()>>,
}

impl Gateway {
    /// Starts the gateway with `config` and `loader` on a free loopback port.
    pub async fn start(config: Config, loader: RouterLoader) -> Gateway {
        let shutdown = CancellationToken::new();
        let state = AppState::new(config, loader, shutdown.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut server = JoinSet::new();
        server.spawn(serve::serve(
            Arc::clone(&state),
            listener,
            Duration::from_secs(5),
        ));
        Gateway {
            url,
            state,
            shutdown,
            server,
        }
    }

    /// Cancels, drains and flushes; returns when the server has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while let Some(r) = self.server.join_next().await {
            r.unwrap().unwrap();
        }
    }
}

impl Harness {
    /// Everything with the test router; `edit` may change the config text first.
    pub async fn start_with(edit: impl FnOnce(String) -> String) -> Harness {
        let mut tasks = JoinSet::new();
        let big = StubUpstream::start("big", &mut tasks).await;
        let big_backup = StubUpstream::start("big-backup", &mut tasks).await;
        let mid = StubUpstream::start("mid", &mut tasks).await;
        let small = StubUpstream::start("small", &mut tasks).await;
        let log_dir = tempfile::tempdir().unwrap();
        let toml = edit(test_config_toml(
            &big.base_url,
            &big_backup.base_url,
            &mid.base_url,
            &small.base_url,
            log_dir.path(),
        ));
        let config = Config::from_toml_str(&toml, "test.toml").unwrap();
        let gateway = Gateway::start(config, test_loader()).await;
        Harness {
            big,
            big_backup,
            mid,
            small,
            gateway,
            log_dir,
            tasks,
        }
    }

    /// With the known-good config.
    pub async fn start() -> Harness {
        Harness::start_with(|s| s).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url)
    }
}

/// A reqwest client without connection reuse surprises.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// POSTs `body` as JSON and returns the JSON answer, whatever its status.
pub async fn post_json(url: impl reqwest::IntoUrl, body: &Value) -> Value {
    client()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GET a URL and parse the JSON body (any status).
pub async fn get_json(url: impl reqwest::IntoUrl) -> Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GET a URL and read the body as text (any status).
pub async fn get_text(url: impl reqwest::IntoUrl) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The entry for `model` in a decision record's `candidates`.
pub fn candidate<'a>(record: &'a Value, model: &str) -> &'a Value {
    record["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {record}"))
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("no candidate `{model}` in {record}"))
}

/// A chat body with one user message.
pub fn chat(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

/// Asserts OpenAI's error shape and returns the error object.
pub fn assert_openai_error(body: &Value) -> &serde_json::Map<String, Value> {
    let err = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not an OpenAI error: {body}"));
    assert!(err["message"].is_string(), "{body}");
    assert!(err["type"].is_string(), "{body}");
    assert!(err.contains_key("param"), "{body}");
    assert!(err.contains_key("code"), "{body}");
    err
}

/// Reads an SSE body into its `data:` payloads.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

/// Unused-import guard for `Infallible` in some test crates.
pub type Never = Infallible;

// ---- Raw-socket clients (hostile_clients.rs): what an HTTP library would not send. ----

/// The `host:port` of a gateway URL (`http://127.0.0.1:1234` → `127.0.0.1:1234`).
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A raw TCP connection to the gateway at `url`.
pub async fn raw_connect(url: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(host_port(url))
        .await
        .unwrap()
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one response (head and a `Content-Length` body) from `stream`, whose unread
/// bytes live in `buf` between calls; panics after `within`.
pub async fn read_raw_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    within: Duration,
) -> RawResponse {
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(within, async {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before a response head: {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        buf.drain(..head_end + 4);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        RawResponse {
            status,
            headers,
            body,
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no response within {within:?}"))
}

/// Waits until the peer closes `stream` (EOF or reset), discarding what it sends; returns
/// how long that took, or `None` if it is still open after `within`.
pub async fn time_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// A complete `GET path` request head for a raw connection.
pub fn raw_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: gateway\r\n\r\n")
}
