//! Upstreams that misbehave on purpose (a raw TCP server on loopback that writes exactly
//! the bytes a test scripts): keys echoed in every place an upstream can put them,
//! answers far larger than any chat completion, streams that never finish an event or end
//! without `[DONE]`. The gateway holds a provider key (`CARGO_MANIFEST_DIR`, set for every
//! test process, stands in for one) and must never reveal it, nor the upstream's address,
//! to a client, a decision record or the log; and must stay within its bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use serve::config::Config;
use support::{Gateway, StubUpstream, chat, sse_data, test_config_toml, test_loader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The provider key the gateway sends upstream (see the module doc).
const KEY: &str = env!("CARGO_MANIFEST_DIR");

/// One step of a scripted answer.
#[derive(Debug, Clone)]
enum Step {
    /// Write these bytes. `{KEY}` is replaced by the Authorization header's key.
    Write(String),
    /// Write `chunk` `times` times, pausing `every` between writes (the bytes are shared:
    /// a 100 MB answer costs the test no memory).
    Repeat {
        chunk: Arc<Vec<u8>>,
        times: usize,
        every: Duration,
    },
    Sleep(Duration),
}

/// A raw HTTP/1.1 upstream: each connection gets the next script (or the last one again),
/// its request is read (head and `Content-Length` body), the steps are written, and the
/// connection is closed (so bodies without a length end at EOF).
#[derive(Clone)]
struct Hostile {
    base_url: String,
    addr: String,
    scripts: Arc<Mutex<Vec<Vec<Step>>>>,
}

impl Hostile {
    async fn start(tasks: &mut JoinSet<()>) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scripts: Arc<Mutex<Vec<Vec<Step>>>> = Arc::default();
        let s = Arc::clone(&scripts);
        tasks.spawn(async move {
            // The connections' tasks end with the accept loop's (the JoinSet aborts them).
            let mut connections = JoinSet::new();
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                let script = {
                    let mut all = s.lock().unwrap();
                    if all.len() > 1 {
                        all.remove(0)
                    } else {
                        all.first().cloned().unwrap_or_default()
                    }
                };
                connections.spawn(answer(conn, script));
            }
        });
        Hostile {
            base_url: format!("http://{addr}/v1"),
            addr: addr.to_string(),
            scripts,
        }
    }

    fn set(&self, script: Vec<Step>) {
        *self.scripts.lock().unwrap() = vec![script];
    }
}

async fn answer(mut conn: TcpStream, script: Vec<Step>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        match conn.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let key = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or_default()
        .to_string();
    for step in script {
        let ok = match step {
            Step::Write(text) => conn
                .write_all(text.replace("{KEY}", &key).as_bytes())
                .await
                .is_ok(),
            Step::Repeat {
                chunk,
                times,
                every,
            } => {
                let mut ok = true;
                for _ in 0..times {
                    if conn.write_all(&chunk).await.is_err() {
                        ok = false;
                        break;
                    }
                    if !every.is_zero() {
                        tokio::time::sleep(every).await;
                    }
                }
                ok
            }
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                true
            }
        };
        if !ok {
            return;
        }
    }
    let _ = conn.shutdown().await;
}

/// A response head; `length` None: the body ends when the connection closes.
fn head(status: u16, content_type: &str, length: Option<usize>) -> String {
    let length = length.map_or(String::new(), |n| format!("content-length: {n}\r\n"));
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n{length}connection: close\r\n\r\n"
    )
}

fn json_answer(status: u16, body: &str) -> Vec<Step> {
    // The length is the body's after `{KEY}` is replaced: computed from the real key.
    let len = body.replace("{KEY}", KEY).len();
    vec![
        Step::Write(head(status, "application/json", Some(len))),
        Step::Write(body.to_string()),
    ]
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

const CHUNK: &str = r#"{"id":"c","object":"chat.completion.chunk","model":"up","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;

/// The gateway with `big` served first by the hostile upstream (holding the key), then by
/// a well-behaved backup stub; `edit` changes the config text.
struct Setup {
    hostile: Hostile,
    backup: StubUpstream,
    gateway: Gateway,
    log_dir: tempfile::TempDir,
    _tasks: JoinSet<()>,
}

impl Setup {
    async fn start(edit: impl FnOnce(String) -> String) -> Setup {
        let mut tasks = JoinSet::new();
        let hostile = Hostile::start(&mut tasks).await;
        let backup = StubUpstream::start("big-backup", &mut tasks).await;
        let mid = StubUpstream::start("mid", &mut tasks).await;
        let small = StubUpstream::start("small", &mut tasks).await;
        let log_dir = tempfile::tempdir().unwrap();
        let toml = test_config_toml(
            &hostile.base_url,
            &backup.base_url,
            &mid.base_url,
            &small.base_url,
            log_dir.path(),
        )
        .replace(
            "name = \"stub-big\"",
            "name = \"stub-big\"\napi_key_env = \"CARGO_MANIFEST_DIR\"",
        )
        // Breakers would open after a few scripted failures and hide later cases.
        .replace("failure_threshold = 3", "failure_threshold = 1000");
        let config = Config::from_toml_str(&edit(toml), "test.toml").unwrap();
        let gateway = Gateway::start(config, test_loader()).await;
        Setup {
            hostile,
            backup,
            gateway,
            log_dir,
            _tasks: tasks,
        }
    }

    /// POSTs a chat request; (status, decision id, body text).
    async fn chat(&self, body: &Value) -> (u16, String, String) {
        let resp = support::client()
            .post(format!("{}/v1/chat/completions", self.gateway.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let id = resp
            .headers()
            .get("x-arbiter-decision-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, id, resp.text().await.unwrap())
    }

    /// The record once its outcome is final (streams settle after the last byte).
    async fn record(&self, id: &str) -> Value {
        for _ in 0..100 {
            let rec = support::get_json(format!("{}/v1/decisions/{id}", self.gateway.url)).await;
            if rec["outcome"] != "pending" && rec.get("error").is_none() {
                return rec;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("record {id} never settled");
    }

    /// Every line of the decision log, after a flush.
    async fn log_text(&self) -> String {
        self.gateway.state.audit.flush().await;
        serve::audit::writer::log_files(self.log_dir.path())
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

fn stream_body() -> Value {
    let mut body = chat("big", "hi");
    body["stream"] = json!(true);
    body
}

/// Where an upstream can put the key, each with the request it answers.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// 400 with an OpenAI error object, the key in its message.
    RejectedMessage,
    /// 422 with the key as an object key and in a nested array.
    RejectedNested,
    /// 400 with a plain-text body.
    RejectedText,
    /// 500 (retried elsewhere): the key in the error text of the record.
    Retryable,
    /// 200 whose body is an error object.
    OkWithError,
    /// A stream whose first event is an error.
    StreamFirstError,
    /// A stream that sends an error event after the response head went out.
    StreamLaterError,
    /// A keep-alive comment and a non-JSON data line of a stream.
    StreamComment,
    /// A 200 answer whose content repeats the key.
    OkAnswer,
}

fn script_for(place: Place, prefix: &str, suffix: &str) -> (Vec<Step>, bool) {
    let secret = format!("{prefix}Bearer {{KEY}}{suffix}");
    let quoted = serde_json::to_string(&secret).unwrap();
    match place {
        Place::RejectedMessage => (
            json_answer(
                400,
                &format!(
                    r#"{{"error":{{"message":{quoted},"type":"invalid_request_error","param":null,"code":null}}}}"#
                ),
            ),
            false,
        ),
        Place::RejectedNested => (
            json_answer(
                422,
                &format!(r#"{{"detail":[{{"loc":[{quoted}],"msg":"bad"}}],{quoted}:1}}"#),
            ),
            false,
        ),
        Place::RejectedText => (json_answer(400, &secret), false),
        Place::Retryable => (json_answer(500, &secret), false),
        Place::OkWithError => (
            json_answer(200, &format!(r#"{{"error":{{"message":{quoted}}}}}"#)),
            false,
        ),
        Place::OkAnswer => (
            json_answer(
                200,
                &format!(
                    r#"{{"id":"c","object":"chat.completion","model":"big","choices":[{{"index":0,"message":{{"role":"assistant","content":{quoted}}},"finish_reason":"stop"}}]}}"#
                ),
            ),
            false,
        ),
        Place::StreamFirstError => (
            vec![
                Step::Write(head(200, "text/event-stream", None)),
                Step::Write(sse(&[&format!(r#"{{"error":{{"message":{quoted}}}}}"#)])),
            ],
            true,
        ),
        Place::StreamLaterError => (
            vec![
                Step::Write(head(200, "text/event-stream", None)),
                Step::Write(sse(&[CHUNK])),
                Step::Sleep(Duration::from_millis(20)),
                Step::Write(sse(&[&format!(
                    r#"{{"error":{{"message":{quoted},"code":{quoted}}}}}"#
                )])),
            ],
            true,
        ),
        Place::StreamComment => (
            vec![
                Step::Write(head(200, "text/event-stream", None)),
                Step::Write(sse(&[CHUNK])),
                Step::Write(format!(": {secret}\n\ndata: {secret}\n\n")),
                Step::Write(sse(&["[DONE]"])),
            ],
            true,
        ),
    }
}

fn places() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::RejectedMessage),
        Just(Place::RejectedNested),
        Just(Place::RejectedText),
        Just(Place::Retryable),
        Just(Place::OkWithError),
        Just(Place::StreamFirstError),
        Just(Place::StreamLaterError),
        Just(Place::StreamComment),
        Just(Place::OkAnswer),
    ]
}

#[test]
fn no_key_or_upstream_address_leaks_wherever_the_upstream_puts_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let setup = rt.block_on(Setup::start(|c| c));
    let cases = ProptestConfig {
        cases: 72,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cases, |(place in places(), prefix in "[a-z \"{}:]{0,12}", suffix in "[a-z \"{}:]{0,12}")| {
        let (script, stream) = script_for(place, &prefix, &suffix);
        setup.hostile.set(script);
        let body = if stream { stream_body() } else { chat("big", "hi") };
        let (status, id, text) = rt.block_on(setup.chat(&body));
        prop_assert!(!text.contains(KEY), "{place:?}: the key reached the client ({status}): {text}");
        prop_assert!(!text.contains(&setup.hostile.addr), "{place:?}: the upstream address reached the client: {text}");
        let record = rt.block_on(setup.record(&id)).to_string();
        prop_assert!(!record.contains(KEY), "{place:?}: the key is in the record: {record}");
        prop_assert!(!record.contains(&setup.hostile.addr), "{place:?}: the address is in the record: {record}");
        match place {
            Place::RejectedMessage | Place::RejectedNested | Place::RejectedText => {
                prop_assert!(status == 400 || status == 422, "{place:?}: {status} {text}");
                prop_assert!(text.contains("[redacted]"), "{place:?}: {text}");
            }
            // Retried on the backup, which answered.
            Place::Retryable | Place::OkWithError | Place::StreamFirstError => {
                prop_assert_eq!(status, 200);
                prop_assert!(text.contains("big-backup"), "{place:?}: {text}");
                prop_assert!(record.contains("[redacted]"), "{place:?}: {record}");
            }
            Place::StreamLaterError | Place::StreamComment | Place::OkAnswer => {
                prop_assert_eq!(status, 200);
                prop_assert!(text.contains("[redacted]"), "{place:?}: {text}");
            }
        }
    });
    let log = rt.block_on(setup.log_text());
    assert!(log.lines().count() >= 40, "{} lines", log.lines().count());
    assert!(!log.contains(KEY), "the key is in the decision log");
    assert!(
        !log.contains(&setup.hostile.addr),
        "the upstream address is in the decision log"
    );
    rt.block_on(setup.gateway.stop());
}

#[tokio::test]
async fn a_200_error_body_is_a_failed_attempt_not_an_answer() {
    let s = Setup::start(|c| c).await;
    s.hostile.set(json_answer(
        200,
        r#"{"error":{"message":"quota exceeded","type":"insufficient_quota"}}"#,
    ));
    let (status, id, text) = s.chat(&chat("big", "hi")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("big-backup"), "{text}");
    let rec = s.record(&id).await;
    assert_eq!(rec["attempts"][0]["outcome"], "bad_response", "{rec}");
    assert!(
        rec["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("quota exceeded"),
        "{rec}"
    );
    assert_eq!(rec["attempts"][1]["outcome"], "ok", "{rec}");
    assert_eq!(s.backup.calls(), 1);
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_502_names_no_upstream_address() {
    // Both of big's providers refuse connections.
    let dead = support::closed_port_url().await;
    let mut tasks = JoinSet::new();
    let mid = StubUpstream::start("mid", &mut tasks).await;
    let log_dir = tempfile::tempdir().unwrap();
    let toml = test_config_toml(
        &dead,
        &dead.replace("/v1", "/v2"),
        &mid.base_url,
        &mid.base_url,
        log_dir.path(),
    );
    let config = Config::from_toml_str(&toml, "t.toml").unwrap();
    let gateway = Gateway::start(config, test_loader()).await;
    let resp = support::client()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .json(&chat("big", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    let addr = dead.trim_start_matches("http://").trim_end_matches("/v1");
    assert!(!text.contains(addr), "the 502 names the upstream: {text}");
    assert!(text.contains("big@stub-big"), "{text}");
    gateway.stop().await;
}

#[test]
fn a_base_url_with_credentials_is_refused_without_echoing_them() {
    for url in [
        "https://api.example.com/v1?key=sk-secret-in-url",
        "https://user:sk-secret-in-url@api.example.com/v1",
    ] {
        let toml = format!(
            "[models.m]\ncontext_length = 100\n[[models.m.providers]]\nbase_url = \"{url}\"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n"
        );
        let err = Config::from_toml_str(&toml, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("models.m.providers[0].base_url"), "{err}");
        assert!(err.contains("api_key_env"), "{err}");
        assert!(
            !err.contains("sk-secret-in-url"),
            "the error echoes the secret: {err}"
        );
    }
}

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_100_mb_answers_at_once_are_refused_within_bounded_memory() {
    let s = Setup::start(|c| c).await;
    let chunk = Arc::new(vec![b'a'; 64 * 1024]);
    // Twice: announced by Content-Length (refused before reading), and not announced
    // (read up to the limit, then the connection is dropped).
    for announced in [false, true] {
        let len = announced.then_some(100 * 1024 * 1024);
        s.hostile.set(vec![
            Step::Write(head(200, "application/json", len)),
            Step::Repeat {
                chunk: Arc::clone(&chunk),
                times: 1600,
                every: Duration::ZERO,
            },
        ]);
        let before = rss_mib();
        let peak = Arc::new(Mutex::new(before));
        let mut sampler = JoinSet::new();
        {
            let peak = Arc::clone(&peak);
            sampler.spawn(async move {
                loop {
                    let now = rss_mib();
                    {
                        let mut p = peak.lock().unwrap();
                        *p = p.max(now);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        }
        let body = chat("big", "hi");
        let answers = futures::future::join_all((0..3).map(|_| s.chat(&body))).await;
        sampler.abort_all();
        for (status, id, text) in answers {
            assert_eq!(status, 200, "{text}");
            assert!(text.contains("big-backup"), "fell back: {text}");
            let rec = s.record(&id).await;
            assert_eq!(rec["attempts"][0]["outcome"], "too_large", "{rec}");
        }
        let peak = *peak.lock().unwrap();
        assert!(
            peak < 200.0 && peak - before < 100.0,
            "RSS {before:.0} → peak {peak:.0} MiB (announced length: {announced})"
        );
    }
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_stream_that_never_finishes_an_event_is_cut_by_its_first_event_deadline() {
    // timeout_secs = 2 in the test config; the upstream trickles a byte every 50 ms.
    let s = Setup::start(|c| c).await;
    s.hostile.set(vec![
        Step::Write(head(200, "text/event-stream", None)),
        Step::Write("data: ".into()),
        Step::Repeat {
            chunk: Arc::new(b"x".to_vec()),
            times: 10_000,
            every: Duration::from_millis(50),
        },
    ]);
    let started = Instant::now();
    let (status, id, text) = s.chat(&stream_body()).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(text.contains("Hello"), "fell back to the backup: {text}");
    assert!(took < Duration::from_secs(4), "cut after {took:?}");
    let rec = s.record(&id).await;
    assert_eq!(rec["attempts"][0]["outcome"], "timeout", "{rec}");
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_boundaryless_flood_is_cut_at_the_event_size_limit() {
    let s = Setup::start(|c| {
        c.replace(
            "[breaker]",
            "[upstream]\nmax_event_bytes = 65536\n\n[breaker]",
        )
    })
    .await;
    s.hostile.set(vec![
        Step::Write(head(200, "text/event-stream", None)),
        Step::Write("data: ".into()),
        Step::Repeat {
            chunk: Arc::new(vec![b'x'; 4096]),
            times: 100_000,
            every: Duration::ZERO,
        },
    ]);
    let (status, id, text) = s.chat(&stream_body()).await;
    assert_eq!(status, 200);
    assert!(text.contains("big-backup"), "{text}");
    let rec = s.record(&id).await;
    assert_eq!(rec["attempts"][0]["outcome"], "too_large", "{rec}");
    s.gateway.stop().await;
}

#[tokio::test]
async fn after_the_head_a_trickle_without_events_ends_in_an_error_event_within_the_timeout() {
    let s = Setup::start(|c| c).await;
    s.hostile.set(vec![
        Step::Write(head(200, "text/event-stream", None)),
        Step::Write(sse(&[CHUNK])),
        Step::Write("data: ".into()),
        Step::Repeat {
            chunk: Arc::new(b"x".to_vec()),
            times: 10_000,
            every: Duration::from_millis(50),
        },
    ]);
    let started = Instant::now();
    let (status, id, text) = s.chat(&stream_body()).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(4), "cut after {took:?}");
    let data = sse_data(&text);
    assert!(data[0].contains("\"Hi\""), "{text}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout", "{text}");
    let rec = s.record(&id).await;
    assert_eq!(rec["outcome"], "stream_error", "{rec}");
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_stream_that_ends_without_done_is_reported_as_truncated() {
    let s = Setup::start(|c| c).await;
    s.hostile.set(vec![
        Step::Write(head(200, "text/event-stream", None)),
        Step::Write(sse(&[CHUNK])),
        Step::Sleep(Duration::from_millis(20)),
        Step::Write(sse(&[CHUNK])),
    ]);
    let (status, id, text) = s.chat(&stream_body()).await;
    assert_eq!(status, 200);
    assert!(
        !text.contains("[DONE]"),
        "a truncated answer must not look complete: {text}"
    );
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_truncated", "{text}");
    let rec = s.record(&id).await;
    assert_eq!(rec["outcome"], "stream_error", "{rec}");
    s.gateway.stop().await;
}
