//! Faults under load: five candidates of one `auto` route, four of them served by a
//! provider that goes bad while 2,000 requests run from 8 concurrent clients — one answers
//! 500, one stalls past its timeout, one refuses connections, one dies in the middle of
//! its streams — and then recovers. The fifth (`m-healthy`) stays healthy and is every
//! faulty model's fallback.
//!
//! Checked: no client sees an error except a stream whose provider died after its first
//! byte (the gateway cannot take back bytes already sent; it ends such a stream with an
//! SSE error event, and the circuit breaker bounds how many there are); every response's
//! decision record is in the log with the failed attempts that led to the fallback; the
//! fallback count in `/metrics` matches the records; each faulty provider's breaker opens
//! and, after the faults clear, closes again. The time to recover is measured and printed
//! (`cargo test -p serve --test faults_under_load -- --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use models::{CandidateModel, Manifest};
use serde_json::{Value, json};
use serve::audit::{AttemptOutcome, DecisionRecord, RequestOutcome};
use serve::config::Config;
use serve::router_artifact::{LoadedRouter, RouterLoader};
use serve::upstream::breaker::BreakerState;
use support::{Behavior, Gateway, KeywordScorer, StubUpstream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests in the run, and clients sending them.
const TOTAL: usize = 2_000;
const CLIENTS: usize = 8;
/// One request every 2 ms at most: 2,000 requests over ~4 s.
const PACE: Duration = Duration::from_millis(2);
/// Faults start after 0.6 s and clear at 2.6 s (on the request schedule: requests 300 and 1,300).
const FAULT_AT: Duration = Duration::from_millis(600);
const CLEAR_AT: Duration = Duration::from_millis(2_600);
/// Breaker settings of the run.
const THRESHOLD: usize = 3;
const COOLDOWN: Duration = Duration::from_millis(500);
/// The stalling provider's timeout.
const STALL_TIMEOUT: Duration = Duration::from_millis(300);

const FAULTY: [&str; 4] = ["m-500", "m-stall", "m-refuse", "m-die"];
const HEALTHY: &str = "m-healthy";

/// Five candidates; a prompt with `route-<fault>` makes that faulty model the first choice
/// and `m-healthy` the second.
fn router() -> LoadedRouter {
    let names = FAULTY.iter().chain(std::iter::once(&HEALTHY));
    let candidates = names
        .map(|n| CandidateModel {
            name: (*n).to_string(),
            input_usd_per_mtok: Some(1.0),
            output_usd_per_mtok: Some(1.0),
            expected_output_tokens: 100.0,
        })
        .collect();
    let manifest = Manifest::new("faults-router", candidates);
    let keywords = FAULTY
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut q = vec![0.1f32; 5];
            q[i] = 0.95;
            q[4] = 0.9;
            (format!("route-{}", &name[2..]), q)
        })
        .collect();
    let scorer = KeywordScorer {
        base: vec![0.5, 0.5, 0.5, 0.5, 0.9],
        keywords,
        n_tasks: models::taxonomy::TASKS.len(),
    };
    LoadedRouter::new(&manifest, Box::new(scorer), None)
}

fn config(stubs: &HashMap<&str, String>, log_dir: &std::path::Path) -> Config {
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\n[audit]\ndir = \"{}\"\nfsync_interval_ms = 50\n\
         [breaker]\nfailure_threshold = {THRESHOLD}\ncooldown_secs = {}\n",
        log_dir.display().to_string().replace('\\', "/"),
        COOLDOWN.as_secs_f64()
    );
    for name in FAULTY.iter().chain(std::iter::once(&HEALTHY)) {
        let timeout = if *name == "m-stall" {
            STALL_TIMEOUT.as_secs_f64()
        } else {
            10.0
        };
        toml.push_str(&format!(
            "[models.{name}]\ncontext_length = 8000\n[[models.{name}.providers]]\nname = \"p-{}\"\n\
             base_url = \"{}\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 1.0\ntimeout_secs = {timeout}\n",
            &name[2..],
            stubs[name]
        ));
    }
    Config::from_toml_str(&toml, "faults.toml").unwrap()
}

/// An upstream that can be switched off (connections refused) and on again at the same
/// address. Every response says `connection: close`, so no pooled connection outlives a
/// switch-off: the next request must connect, and is refused.
struct Switchable {
    addr: SocketAddr,
    stop: Option<CancellationToken>,
    tasks: tokio::task::JoinSet<()>,
}

impl Switchable {
    async fn start() -> Switchable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        let stop = Some(serve_ok(listener, &mut tasks));
        Switchable { addr, stop, tasks }
    }

    fn off(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
    }

    async fn on(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The port may still be held for a moment after the switch-off.
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.stop = Some(serve_ok(listener, &mut self.tasks));
    }
}

fn serve_ok(
    listener: tokio::net::TcpListener,
    tasks: &mut tokio::task::JoinSet<()>,
) -> CancellationToken {
    let stop = CancellationToken::new();
    let app = Router::new().route("/v1/chat/completions", post(ok_answer));
    let signal = stop.clone().cancelled_owned();
    tasks.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
    });
    stop
}

async fn ok_answer(axum::Json(body): axum::Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if body["stream"].as_bool().unwrap_or(false) {
        let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model,
                           "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello from switchable"}, "finish_reason": "stop"}]});
        let usage = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
        let text = format!("data: {chunk}\n\ndata: {usage}\n\ndata: [DONE]\n\n");
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CONNECTION, "close"),
            ],
            text,
        )
            .into_response();
    }
    let answer = json!({"id": "x", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from switchable"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
    ([(header::CONNECTION, "close")], axum::Json(answer)).into_response()
}

/// What one client saw.
#[derive(Debug, Clone)]
struct Seen {
    /// Index in the schedule.
    i: usize,
    /// The first choice the prompt asked for.
    route: &'static str,
    stream: bool,
    /// Send time since the start of the run.
    sent: Duration,
    latency: Duration,
    status: u16,
    decision_id: Option<String>,
    model: Option<String>,
    /// A complete answer: JSON with a message, or a stream ending in `[DONE]`.
    complete: bool,
    /// A stream that carried content and then an SSE error event.
    died_mid_stream: bool,
    body: String,
}

async fn send(client: &reqwest::Client, url: &str, i: usize, start: Instant) -> Seen {
    let route = FAULTY[i % FAULTY.len()];
    let stream = i.is_multiple_of(5);
    let mut body = json!({"model": "auto", "messages": [{"role": "user", "content": format!("route-{} request {i}: what is 2+2?", &route[2..])}]});
    if stream {
        body["stream"] = json!(true);
    }
    let sent = start.elapsed();
    let t = Instant::now();
    let resp = client.post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let decision_id = header("x-arbiter-decision-id");
    let model = header("x-arbiter-model");
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| format!("<body read failed: {e}>"));
    let latency = t.elapsed();
    let (complete, died_mid_stream) = if stream {
        let events = support::sse_data(&text);
        let done = events.last().is_some_and(|e| e == "[DONE]");
        let content = events.iter().any(|e| e.contains("\"content\""));
        let error = events
            .last()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .is_some_and(|v| v["error"]["message"].is_string());
        (done && content, content && error && !done)
    } else {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (
            v["choices"][0]["message"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            false,
        )
    };
    Seen {
        i,
        route,
        stream,
        sent,
        latency,
        status,
        decision_id,
        model,
        complete,
        died_mid_stream,
        body: text,
    }
}

/// Breaker state changes seen by polling: (time since start, provider label, state).
type Transitions = Vec<(Duration, String, BreakerState)>;

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx].as_secs_f64() * 1e3
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series `{series}` in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_under_load_are_invisible_to_clients_and_recover() {
    let mut tasks = tokio::task::JoinSet::new();
    let s500 = StubUpstream::start("m-500", &mut tasks).await;
    let stall = StubUpstream::start("m-stall", &mut tasks).await;
    let die = StubUpstream::start("m-die", &mut tasks).await;
    let healthy = StubUpstream::start("m-healthy", &mut tasks).await;
    let mut refuse = Switchable::start().await;
    let stubs: HashMap<&str, String> = [
        ("m-500", s500.base_url.clone()),
        ("m-stall", stall.base_url.clone()),
        ("m-refuse", format!("http://{}/v1", refuse.addr)),
        ("m-die", die.base_url.clone()),
        (HEALTHY, healthy.base_url.clone()),
    ]
    .into();
    let log_dir = tempfile::tempdir().unwrap();
    let loader: RouterLoader = Arc::new(|| Ok(router()));
    let gateway = Gateway::start(config(&stubs, log_dir.path()), loader).await;
    let url = format!("{}/v1/chat/completions", gateway.url);
    let client = support::client();
    let state = Arc::clone(&gateway.state);
    let labels: Vec<String> = FAULTY
        .iter()
        .map(|m| format!("{m}@p-{}", &m[2..]))
        .collect();

    // Breaker watcher: polls every provider's state until told to stop.
    let watching = CancellationToken::new();
    let start = Instant::now();
    let mut watcher = tokio::task::JoinSet::new();
    {
        let (state, watching) = (Arc::clone(&state), watching.clone());
        watcher.spawn(async move {
            let mut last: BTreeMap<String, BreakerState> = BTreeMap::new();
            let mut seen: Transitions = Vec::new();
            while !watching.is_cancelled() {
                for p in state.upstreams.providers() {
                    let s = p.breaker.state();
                    if last.get(&p.label) != Some(&s) {
                        last.insert(p.label.clone(), s);
                        seen.push((start.elapsed(), p.label.clone(), s));
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        });
    }

    // The load: CLIENTS clients take tickets; ticket i is sent at start + i·PACE (or as
    // soon as a client is free, when the gateway is slower than the schedule).
    let next = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::with_capacity(TOTAL)));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, url, next, seen) = (
            client.clone(),
            url.clone(),
            Arc::clone(&next),
            Arc::clone(&seen),
        );
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= TOTAL {
                    break;
                }
                tokio::time::sleep_until(start + PACE * i as u32).await;
                let s = send(&client, &url, i, start).await;
                seen.lock().unwrap().push(s);
            }
        });
    }

    // The faults, then the recovery.
    tokio::time::sleep_until(start + FAULT_AT).await;
    let fault_at = start.elapsed();
    s500.set(Behavior::Fail(500));
    stall.set(Behavior::Stall(Duration::from_secs(30)));
    refuse.off();
    die.set(Behavior::DieMidStream);
    tokio::time::sleep_until(start + CLEAR_AT).await;
    // Recovery starts at `clear_at` and is complete at `cleared_by` (rebinding the
    // refused port may take a moment).
    let clear_at = start.elapsed();
    s500.set(Behavior::Ok);
    stall.set(Behavior::Ok);
    die.set(Behavior::Ok);
    refuse.on().await;
    let cleared_by = start.elapsed();
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }

    // If the load ended before every breaker closed (a slow machine), keep a trickle of
    // requests going so the half-open probes happen; give up after 10 s.
    let mut extra = 0;
    let recovery_deadline = Instant::now() + Duration::from_secs(10);
    while state
        .upstreams
        .providers()
        .any(|p| p.breaker.state() != BreakerState::Closed)
        && Instant::now() < recovery_deadline
    {
        let s = send(&client, &url, TOTAL + extra, start).await;
        seen.lock().unwrap().push(s);
        extra += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watching.cancel();
    let transitions = watcher.join_next().await.unwrap().unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let elapsed = start.elapsed();

    // 1. What clients saw: every request answered in full, except streams cut mid-way by
    //    the provider that died mid-stream, while it was failing.
    let bad: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status != 200 || !(s.complete || s.died_mid_stream))
        .collect();
    assert!(
        bad.is_empty(),
        "{} client-visible errors, e.g. {:?}",
        bad.len(),
        bad.iter()
            .take(3)
            .map(|s| (s.i, s.status, s.route, &s.body))
            .collect::<Vec<_>>()
    );
    let deaths: Vec<&Seen> = seen.iter().filter(|s| s.died_mid_stream).collect();
    for d in &deaths {
        assert_eq!(
            d.model.as_deref(),
            Some("m-die"),
            "only m-die dies mid-stream: {d:?}"
        );
        assert!(
            d.stream && d.sent + Duration::from_millis(500) >= fault_at && d.sent <= cleared_by,
            "{d:?}"
        );
    }
    let fault_secs = (clear_at - fault_at).as_secs_f64();
    // Before the breaker opens: THRESHOLD failures plus what was already in flight; then
    // at most one half-open probe per cool-down.
    let probe_bound =
        THRESHOLD + CLIENTS + (fault_secs / COOLDOWN.as_secs_f64()).ceil() as usize + 1;
    assert!(
        deaths.len() <= probe_bound,
        "{} streams died mid-way; the breaker should bound them to {probe_bound}",
        deaths.len()
    );
    assert!(seen.len() >= TOTAL);

    // 2. The records: every response's decision is in the log, with the failed attempts.
    state.audit.flush().await;
    let mut records: HashMap<String, DecisionRecord> = HashMap::new();
    for path in serve::audit::writer::log_files(log_dir.path()) {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let r: DecisionRecord = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
            records.insert(r.id.clone(), r);
        }
    }
    for s in &seen {
        let id = s
            .decision_id
            .as_ref()
            .unwrap_or_else(|| panic!("no decision id: {s:?}"));
        let r = records
            .get(id)
            .unwrap_or_else(|| panic!("no record for {id}"));
        assert_eq!(r.model, s.model, "record and header name the same model");
        assert_eq!(
            r.outcome,
            if s.died_mid_stream {
                RequestOutcome::StreamError
            } else {
                RequestOutcome::Ok
            },
            "{r:?}"
        );
    }
    assert_eq!(records.len(), seen.len(), "one record per request");
    let failed_attempts = |provider: &str, outcome: AttemptOutcome| {
        records
            .values()
            .flat_map(|r| &r.attempts)
            .filter(|a| a.provider == provider && a.outcome == outcome)
            .count()
    };
    let (n500, nstall, nrefuse, ndie) = (
        failed_attempts("p-500", AttemptOutcome::HttpError),
        failed_attempts("p-stall", AttemptOutcome::Timeout),
        failed_attempts("p-refuse", AttemptOutcome::ConnectError),
        failed_attempts("p-die", AttemptOutcome::StreamError),
    );
    assert!(
        n500 >= THRESHOLD && nstall >= THRESHOLD && nrefuse >= THRESHOLD && ndie >= THRESHOLD,
        "each fault recorded at least `failure_threshold` times: 500 {n500}, stall {nstall}, refuse {nrefuse}, die {ndie}"
    );
    assert!(
        records
            .values()
            .flat_map(|r| &r.attempts)
            .filter(|a| a.provider == "p-500" && a.outcome == AttemptOutcome::HttpError)
            .all(|a| a.status == Some(500))
    );
    // The breaker keeps slow failures rare: without it every m-stall request of the fault
    // window (~1 in 4 of ~1,000) would have waited STALL_TIMEOUT.
    assert!(
        nstall <= probe_bound,
        "{nstall} requests waited for the stalled provider (bound {probe_bound})"
    );
    let is_fallback = |r: &DecisionRecord| {
        let tried = r.attempts.len() - usize::from(r.outcome == RequestOutcome::StreamError);
        r.outcome != RequestOutcome::UpstreamError && tried > 1
    };
    let fallbacks = records.values().filter(|r| is_fallback(r)).count();
    let fell_back_to_healthy = records
        .values()
        .filter(|r| is_fallback(r) && r.model.as_deref() == Some(HEALTHY))
        .count();
    assert!(fell_back_to_healthy > 0 && fell_back_to_healthy <= fallbacks);
    let routed_around = records
        .values()
        .filter(|r| {
            r.candidates.iter().any(|c| {
                c.excluded
                    .as_deref()
                    .is_some_and(|e| e.contains("circuit breaker open"))
            })
        })
        .count();
    assert!(
        routed_around > 0,
        "with a breaker open, the router excludes the model up front"
    );

    // 3. /metrics agrees with the records.
    let text = support::get_text(format!("{}/metrics", gateway.url)).await;
    assert_eq!(
        metric(&text, "arbiter_fallbacks_total") as usize,
        fallbacks,
        "fallbacks in /metrics and in records"
    );
    assert_eq!(
        metric(
            &text,
            "arbiter_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}"
        ) as usize,
        seen.len()
    );
    for (label, kind) in
        labels
            .iter()
            .zip(["http_error", "timeout", "connect_error", "stream_error"])
    {
        assert!(
            metric(
                &text,
                &format!("arbiter_upstream_errors_total{{provider=\"{label}\",kind=\"{kind}\"}}")
            ) >= THRESHOLD as f64
        );
        assert!(
            metric(
                &text,
                &format!("arbiter_breaker_opened_total{{provider=\"{label}\"}}")
            ) >= 1.0
        );
        assert_eq!(
            metric(
                &text,
                &format!("arbiter_breaker_state{{provider=\"{label}\"}}")
            ),
            0.0,
            "{label} closed again"
        );
    }
    assert!(!text.contains("arbiter_breaker_opened_total{provider=\"m-healthy@p-healthy\"}"));

    // 4. Breakers: each opened during the faults and closed after them; time to recover.
    let mut recovered_at = Duration::ZERO;
    for label in &labels {
        let opened = transitions
            .iter()
            .find(|(t, l, s)| l == label && *s == BreakerState::Open && *t >= fault_at)
            .unwrap_or_else(|| panic!("{label}: breaker never seen open: {transitions:?}"));
        let closed = transitions
            .iter()
            .filter(|(t, l, s)| l == label && *s == BreakerState::Closed && *t >= clear_at)
            .map(|(t, _, _)| *t)
            .next()
            .unwrap_or_else(|| {
                panic!("{label}: breaker never closed after recovery: {transitions:?}")
            });
        assert!(
            transitions
                .iter()
                .filter(|(t, l, _)| l == label && *t >= closed)
                .all(|(_, _, s)| *s == BreakerState::Closed)
        );
        println!(
            "{label}: opened {:.0} ms after the fault, closed {:.0} ms after recovery",
            (opened.0 - fault_at).as_secs_f64() * 1e3,
            (closed - clear_at).as_secs_f64() * 1e3
        );
        recovered_at = recovered_at.max(closed);
    }
    let recovery = recovered_at - clear_at;
    assert!(
        recovery <= COOLDOWN + Duration::from_secs(5),
        "recovery took {recovery:?}"
    );
    // After recovery each faulty model answers its own requests again, first try.
    for m in FAULTY {
        let first_ok = seen
            .iter()
            .filter(|s| s.route == m && s.sent >= recovered_at && s.model.as_deref() == Some(m))
            .count();
        assert!(first_ok > 0 || extra > 0, "{m} serves again after recovery");
    }

    let mut by_phase: [Vec<Duration>; 3] = Default::default();
    for s in &seen {
        let phase = if s.sent < fault_at {
            0
        } else if s.sent < clear_at {
            1
        } else {
            2
        };
        by_phase[phase].push(s.latency);
    }
    for (name, lat) in ["healthy", "faults", "recovery"]
        .iter()
        .zip(by_phase.iter_mut())
    {
        lat.sort();
        println!(
            "{name:>8}: {} requests, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            percentile(lat, 0.5),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
    }
    println!(
        "{} requests in {:.2} s ({} after the schedule), 0 client-visible errors, {} streams ended by an SSE error after the provider died mid-stream (bound {probe_bound}); \
         {fallbacks} fallbacks ({fell_back_to_healthy} to m-healthy), {routed_around} decisions routed around an open breaker; \
         failed attempts: 500 {n500}, stall-timeout {nstall}, refused {nrefuse}, died {ndie}; all breakers closed {:.0} ms after the faults cleared (cool-down {} ms)",
        seen.len(),
        elapsed.as_secs_f64(),
        extra,
        deaths.len(),
        recovery.as_secs_f64() * 1e3,
        COOLDOWN.as_millis()
    );

    refuse.off();
    gateway.stop().await;
    tasks.abort_all();
}
