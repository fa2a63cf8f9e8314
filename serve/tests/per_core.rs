//! The per-core server (`server.mode = "per_core"`): several single-threaded runtimes on
//! one address. Requests on separate connections are all answered whichever thread takes
//! them, every decision is findable from any thread, shutdown drains and the log is complete,
//! and a port already in use is an error at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serve::AppState;
use serve::config::Config;
use serve::per_core::{PerCoreServer, StartError};
use support::{StubUpstream, chat, get_json, test_config_toml, test_loader};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const REQUESTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_share_one_port_and_one_decision_log() {
    let mut tasks = JoinSet::new();
    let big = StubUpstream::start("big", &mut tasks).await;
    let backup = StubUpstream::start("big-backup", &mut tasks).await;
    let mid = StubUpstream::start("mid", &mut tasks).await;
    let small = StubUpstream::start("small", &mut tasks).await;
    let log_dir = tempfile::tempdir().unwrap();
    let toml = test_config_toml(
        &big.base_url,
        &backup.base_url,
        &mid.base_url,
        &small.base_url,
        log_dir.path(),
    );
    let config = Config::from_toml_str(&toml, "test.toml").unwrap();
    let shutdown = CancellationToken::new();
    let state = AppState::new(config, test_loader(), shutdown.clone()).unwrap();
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = PerCoreServer::start(&state, any_port, 3, Duration::from_secs(5)).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "the chosen port is reported");

    // A second server on the same port is refused, as a plain bind would be.
    let other = AppState::new(
        Config::from_toml_str(&toml, "test.toml").unwrap(),
        test_loader(),
        CancellationToken::new(),
    )
    .unwrap();
    match PerCoreServer::start(&other, addr, 2, Duration::from_secs(1)) {
        Err(StartError::Listen { addr: a, .. }) => assert_eq!(a, addr),
        Err(e) => panic!("wrong error for a port in use: {e}"),
        Ok(_) => panic!("a second gateway started on a port in use"),
    }
    other.audit.shutdown_blocking();

    // One connection per request, so the kernel spreads them over the threads.
    let mut requests = JoinSet::new();
    for i in 0..REQUESTS {
        let url = format!("http://{addr}/v1/chat/completions");
        requests.spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let resp = client
                .post(url)
                .json(&chat("auto", &format!("question {i}: what is 2 + {i}?")))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let id = resp.headers()["x-arbiter-decision-id"]
                .to_str()
                .unwrap()
                .to_string();
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(
                body["choices"][0]["message"]["content"].is_string(),
                "{body}"
            );
            id
        });
    }
    let mut ids = HashSet::new();
    while let Some(id) = requests.join_next().await {
        ids.insert(id.unwrap());
    }
    assert_eq!(ids.len(), REQUESTS, "one distinct decision per request");
    for id in ids.iter().take(5) {
        // The final record is stored just after the last byte is sent: wait for it.
        let mut record = serde_json::Value::Null;
        for _ in 0..100 {
            record = get_json(format!("http://{addr}/v1/decisions/{id}")).await;
            if record["outcome"] != "pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(record["id"], id.as_str());
        assert_eq!(record["outcome"], "ok", "{record}");
    }

    // Shutdown: every thread drains and stops; then the log holds every decision.
    shutdown.cancel();
    tokio::task::spawn_blocking(move || server.join())
        .await
        .unwrap()
        .unwrap();
    let st = Arc::clone(&state);
    tokio::task::spawn_blocking(move || st.audit.shutdown_blocking())
        .await
        .unwrap();
    let mut logged = HashSet::new();
    for entry in std::fs::read_dir(log_dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            logged.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    assert!(
        ids.is_subset(&logged),
        "every answered request has its record"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no thread still listens after shutdown"
    );
}
