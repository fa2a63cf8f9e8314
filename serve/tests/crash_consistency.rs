//! Crash consistency of the decision log: the real `serve` binary, under load, is killed
//! with SIGKILL and restarted on the same log directory.
//!
//! The writer's policy (`serve/src/audit/writer.rs`): a response is sent once its record is
//! *queued*; the writer thread appends each batch of queued records and hands it to the
//! OS at once (`write` + `flush`), and fsyncs every `fsync_interval_ms`. So a killed process
//! (the OS survives) loses only the records still in the queue or in the writer's buffer at
//! that instant: at most `audit.queue_capacity` records, in practice those of the last
//! milliseconds. A request still in flight at the kill has no record at all (its record is
//! written when it ends). A power loss could also lose the last `fsync_interval_ms`; that is
//! not tested here.
//!
//! Checked:
//! - every response completed before a quiet moment (no request for 300 ms) preceding the
//!   kill has its record; responses completed right before the kill may be missing, but only
//!   those of the last `LOSS_WINDOW`, and never more than the queue's capacity;
//! - every log file is whole JSON lines, except at most a torn last line;
//! - after a torn tail is appended by hand, the gateway starts, serves old records from the
//!   files (including the last whole line before the tear), answers 404 for the torn one,
//!   never appends to the torn file, and loses nothing on a clean (SIGTERM) shutdown;
//! - with `audit.durability = "written"` (a response waits until its record is handed to
//!   the OS; a stream's `pending` record before its first byte), nothing is lost: every
//!   response head that reached a client before the kill has its record on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

#[path = "../examples/bench_common/artifact.rs"]
mod artifact;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use serve::audit::DecisionRecord;
use support::StubUpstream;
use tokio::time::Instant;

/// The decision log's queue capacity in this test's config.
const QUEUE_CAPACITY: usize = 1024;
/// Responses completed this long before the kill must have their record.
const LOSS_WINDOW: Duration = Duration::from_millis(500);

/// A running `serve` child process and its address.
struct Serve {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the serve binary");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (tx, log) = (tx.clone(), Arc::clone(&log));
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
                            .collect();
                        let _ = tx.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        Serve {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "serve exited with {status}:\n{}",
                    self.log.lock().unwrap().join("\n")
                );
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A completed response: its decision id and when it completed.
#[derive(Debug, Clone)]
struct Done {
    id: String,
    at: Instant,
}

/// What the clients of [`load`] received.
struct Load {
    /// Responses received in full.
    done: Vec<Done>,
    /// Decision ids of every successful response head received, complete or not.
    headed: Vec<String>,
}

/// `clients` clients send chat (JSON and streamed) and route requests until `stop`.
async fn load(url: &str, clients: usize, stop: Arc<AtomicBool>) -> Load {
    let client = support::client();
    let done = Arc::new(Mutex::new(Vec::new()));
    let headed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, url, stop, done, headed) = (
            client.clone(),
            url.to_string(),
            Arc::clone(&stop),
            Arc::clone(&done),
            Arc::clone(&headed),
        );
        tasks.spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let (path, body) = match i % 4 {
                    0 => ("/v1/route", json!({"model": "auto", "messages": [{"role": "user", "content": format!("route {c}-{i}")}]})),
                    1 => ("/v1/chat/completions", json!({"model": "auto", "stream": true, "messages": [{"role": "user", "content": format!("stream {c}-{i}")}]})),
                    _ => ("/v1/chat/completions", json!({"model": "auto", "messages": [{"role": "user", "content": format!("Solve {c}+{i}")}]})),
                };
                let Ok(resp) = client.post(format!("{url}{path}")).json(&body).send().await else {
                    continue; // the server is gone
                };
                let id = resp
                    .headers()
                    .get("x-arbiter-decision-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let ok = resp.status().is_success();
                if let (Some(id), true) = (&id, ok) {
                    headed.lock().unwrap().push(id.clone());
                }
                let Ok(text) = resp.text().await else { continue };
                // A stream cut by the kill is not a completed response.
                let complete = !path.ends_with("completions") || i % 4 != 1 || text.contains("data: [DONE]");
                if let (Some(id), true, true) = (id, ok, complete) {
                    done.lock().unwrap().push(Done { id, at: Instant::now() });
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let done = std::mem::take(&mut *done.lock().unwrap());
    let headed = std::mem::take(&mut *headed.lock().unwrap());
    Load { done, headed }
}

/// Every record in the log files, checking that each file is whole lines except possibly
/// a torn last one; returns the ids and the number of torn tails.
fn read_log(dir: &Path) -> (HashSet<String>, usize) {
    let mut ids = HashSet::new();
    let mut torn = 0;
    for path in serve::audit::writer::log_files(dir) {
        let bytes = std::fs::read(&path).unwrap();
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // After the last newline: empty for a whole file, else a torn tail.
        let tail = lines.pop().unwrap_or_default();
        if !tail.is_empty() {
            torn += 1;
        }
        for (n, line) in lines.iter().enumerate() {
            let r: DecisionRecord = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: corrupt record before the end of the file: {e}",
                    path.display(),
                    n + 1
                )
            });
            ids.insert(r.id);
        }
    }
    (ids, torn)
}

/// A stub upstream, a synthetic router and a gateway config (with `audit_extra` in its
/// `[audit]` section) in a temporary directory.
struct Setup {
    _stub: StubUpstream,
    _dir: tempfile::TempDir,
    config: PathBuf,
    log_dir: PathBuf,
}

impl Setup {
    async fn new(tasks: &mut tokio::task::JoinSet<()>, audit_extra: &str) -> Setup {
        let stub = StubUpstream::start("stub", tasks).await;
        let dir = tempfile::tempdir().unwrap();
        let router_dir = dir.path().join("router");
        let log_dir = dir.path().join("decisions");
        let manifest = artifact::write_synthetic_router(&router_dir).unwrap();
        let config = dir.path().join("gateway.toml");
        let toml = artifact::gateway_config_toml(
            &manifest,
            &router_dir,
            &stub.base_url,
            &log_dir,
            "127.0.0.1:0",
            audit_extra,
        );
        std::fs::write(&config, toml).unwrap();
        Setup {
            _stub: stub,
            _dir: dir,
            config,
            log_dir,
        }
    }
}

fn log_dir_files(dir: &Path) -> Vec<PathBuf> {
    serve::audit::writer::log_files(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_at_most_the_queue_and_a_torn_tail_is_tolerated() {
    let mut tasks = tokio::task::JoinSet::new();
    let setup = Setup::new(
        &mut tasks,
        &format!("fsync_interval_ms = 50\nqueue_capacity = {QUEUE_CAPACITY}"),
    )
    .await;
    let (config, log_dir) = (setup.config.clone(), setup.log_dir.clone());

    // 1. Load, a quiet moment, more load, and SIGKILL in the middle of it.
    let mut serve = Serve::start(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let url = serve.url.clone();
    let (Load { done: settled, .. }, ()) = tokio::join!(load(&url, 4, Arc::clone(&stop)), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.store(true, Ordering::SeqCst);
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (
        Load {
            done: in_flight, ..
        },
        killed_at,
    ) = tokio::join!(load(&url, 8, Arc::clone(&stop)), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let killed_at = Instant::now();
        serve.kill9();
        stop.store(true, Ordering::SeqCst);
        killed_at
    });
    assert!(
        settled.len() > 50 && in_flight.len() > 50,
        "load too small: {} / {}",
        settled.len(),
        in_flight.len()
    );

    // 2. The files: whole lines (a torn tail at most), and the records.
    let (on_disk, torn) = read_log(&log_dir);
    assert!(torn <= 1, "at most the file being written has a torn tail");
    let lost_settled: Vec<&Done> = settled
        .iter()
        .filter(|d| !on_disk.contains(&d.id))
        .collect();
    assert!(
        lost_settled.is_empty(),
        "{} records lost although the log had 300 ms to catch up",
        lost_settled.len()
    );
    let lost: Vec<&Done> = in_flight
        .iter()
        .filter(|d| !on_disk.contains(&d.id))
        .collect();
    let oldest_lost = lost
        .iter()
        .map(|d| killed_at.saturating_duration_since(d.at))
        .max()
        .unwrap_or_default();
    assert!(
        lost.len() <= QUEUE_CAPACITY,
        "{} lost, more than the queue holds",
        lost.len()
    );
    assert!(
        oldest_lost <= LOSS_WINDOW,
        "a record of a response completed {oldest_lost:?} before the kill is lost"
    );
    println!(
        "SIGKILL under load: {} + {} responses completed, {} records on disk, {} lost (all completed within {:.1} ms before the kill), {torn} torn tail(s)",
        settled.len(),
        in_flight.len(),
        on_disk.len(),
        lost.len(),
        oldest_lost.as_secs_f64() * 1e3
    );

    // 3. A torn tail by hand: half of a real record, no newline.
    let newest = log_dir_files(&log_dir).into_iter().next().unwrap();
    let last_whole_id = {
        let text = std::fs::read_to_string(&newest).unwrap();
        let whole: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .collect();
        let r: DecisionRecord = serde_json::from_str(whole.last().unwrap().trim_end()).unwrap();
        r.id
    };
    let torn_id = "01900000-0000-7000-8000-00000000dead";
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&newest)
            .unwrap();
        // A crash can also leave a line without its end after a whole one.
        f.write_all(
            format!("{{\"id\":\"{torn_id}\",\"time\":\"2026-11-25T13:00:00Z\",\"endpoint\":\"ch")
                .as_bytes(),
        )
        .unwrap();
    }
    let torn_len = std::fs::metadata(&newest).unwrap().len();

    // 4. Restart on the same directory.
    let mut serve = Serve::start(&config);
    let client = support::client();
    let ready = client
        .get(format!("{}/readyz", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let get = |id: String| {
        let (client, url) = (client.clone(), serve.url.clone());
        async move {
            let resp = client
                .get(format!("{url}/v1/decisions/{id}"))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = get(last_whole_id.clone()).await;
    assert_eq!(
        status, 200,
        "the last whole record before the torn tail is served: {body}"
    );
    assert_eq!(body["id"], json!(last_whole_id));
    let (status, body) = get(torn_id.to_string()).await;
    assert_eq!(
        status, 404,
        "a torn record is not found, not an error: {body}"
    );
    support::assert_openai_error(&body);
    for d in settled.iter().step_by((settled.len() / 20).max(1)) {
        let (status, body) = get(d.id.clone()).await;
        assert_eq!(status, 200, "{}: {body}", d.id);
        assert_eq!(body["id"], json!(d.id));
    }

    // 5. New traffic goes to a new file, and a clean shutdown loses nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let url = serve.url.clone();
    let (Load { done: after, .. }, ()) = tokio::join!(load(&url, 4, Arc::clone(&stop)), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        stop.store(true, Ordering::SeqCst);
    });
    assert!(!after.is_empty());
    let (status, _) = get(after[after.len() / 2].id.clone()).await;
    assert_eq!(status, 200);
    serve.terminate();
    assert_eq!(
        std::fs::metadata(&newest).unwrap().len(),
        torn_len,
        "the torn file is never appended to"
    );
    let (on_disk, torn) = read_log(&log_dir);
    assert_eq!(torn, 1, "only the hand-torn tail");
    let lost_after = after.iter().filter(|d| !on_disk.contains(&d.id)).count();
    assert_eq!(lost_after, 0, "SIGTERM drains and flushes every record");
    assert!(
        log_dir_files(&log_dir).len() >= 2,
        "the restart opened a new file"
    );
    println!(
        "restart on a torn tail: ready, old records served from disk, {} new responses all recorded after SIGTERM",
        after.len()
    );
    tasks.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_written_durability_loses_no_answered_record() {
    let mut tasks = tokio::task::JoinSet::new();
    let setup = Setup::new(
        &mut tasks,
        "fsync_interval_ms = 50\ndurability = \"written\"",
    )
    .await;
    let (config, log_dir) = (setup.config.clone(), setup.log_dir.clone());

    let mut serve = Serve::start(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let url = serve.url.clone();
    let (load, ()) = tokio::join!(load(&url, 8, Arc::clone(&stop)), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        serve.kill9();
        stop.store(true, Ordering::SeqCst);
    });
    assert!(
        load.headed.len() > 50,
        "load too small: {}",
        load.headed.len()
    );

    let (on_disk, torn) = read_log(&log_dir);
    assert!(torn <= 1, "at most the file being written has a torn tail");
    let lost: Vec<&String> = load
        .headed
        .iter()
        .filter(|id| !on_disk.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests have no record after SIGKILL: {:?}",
        lost.len(),
        load.headed.len(),
        &lost[..lost.len().min(5)]
    );
    println!(
        "SIGKILL under load, durability = written: {} response heads ({} complete), {} records on disk, 0 lost, {torn} torn tail(s)",
        load.headed.len(),
        load.done.len(),
        on_disk.len()
    );
}
