//! The gateway with a real ONNX router through `models::OnnxScorer` (the synthetic router
//! of `examples/bench_common/artifact.rs`, same graph shape as the trained one, until
//! `models/default` is committed): scores in decisions equal the scorer's, the choice is
//! `models::decide`'s, and the router reloads from disk over HTTP and on SIGHUP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "../examples/bench_common/artifact.rs"]
mod artifact;
mod support;

use std::time::Duration;

use models::Scorer;
use serde_json::{Value, json};
use serve::config::Config;
use serve::router_artifact::{LoadedRouter, dir_loader};
use support::{Gateway, StubUpstream, candidate, client, post_json};

fn rename_router(dir: &std::path::Path, name: &str) {
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["name"] = json!(name);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[tokio::test]
async fn decisions_use_the_onnx_scores_and_the_shared_policy_and_reload_from_disk() {
    let mut tasks = tokio::task::JoinSet::new();
    let stub = StubUpstream::start("stub", &mut tasks).await;
    let router_dir = tempfile::tempdir().unwrap();
    let log_dir = tempfile::tempdir().unwrap();
    let manifest = artifact::write_synthetic_router(router_dir.path()).unwrap();
    let toml = artifact::gateway_config_toml(
        &manifest,
        router_dir.path(),
        &stub.base_url,
        log_dir.path(),
        "127.0.0.1:0",
        "",
    );
    let config = Config::from_toml_str(&toml, "onnx.toml").unwrap();
    let gw = Gateway::start(config, dir_loader(router_dir.path().to_path_buf())).await;

    let prompt = "Write a Python function that merges two sorted lists.";
    let body = json!({"model": "auto", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": prompt},
    ], "route": {"objective": "cost"}});
    let r: Value = post_json(format!("{}/v1/route", gw.url), &body).await;
    assert_eq!(r["router"], "synthetic-bench-router");

    // The same numbers as the scorer gives for the user turn alone (system prompt not scored).
    let scorer = models::OnnxScorer::load(router_dir.path()).unwrap();
    let p = scorer.score(prompt).unwrap();
    for (c, q) in manifest.candidates.iter().zip(&p.quality) {
        let got = candidate(&r, &c.name)["predicted_quality"]
            .as_f64()
            .unwrap();
        assert!(
            (got - f64::from(*q)).abs() < 1e-6,
            "{}: {got} vs {q}",
            c.name
        );
    }
    let top = p.top_task().unwrap();
    assert_eq!(r["task"]["name"], manifest.tasks[top].as_str());

    // The winner is what models::decide says for the same inputs.
    let inputs: Vec<models::CandidateInput> = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&p.quality)
        .map(|(c, q)| models::CandidateInput {
            model: c["model"].as_str().unwrap().to_string(),
            predicted_quality: f64::from(*q),
            est_cost_usd: c["est_cost_usd"].as_f64(),
            est_latency_ms: None,
            unavailable: None,
        })
        .collect();
    let d = models::decide(
        &inputs,
        &models::Objective::Cost,
        &models::Constraints::default(),
    );
    assert_eq!(r["model"].as_str(), d.winner_model());
    assert_eq!(r["reason"].as_str().unwrap(), d.reason);

    // A chat through the real router answers, and is logged.
    let resp = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-arbiter-model"].to_str().unwrap(),
        d.winner_model().unwrap()
    );

    // A new artifact on disk is picked up by POST /admin/reload.
    rename_router(router_dir.path(), "synthetic-v2");
    let rep: Value = client()
        .post(format!("{}/admin/reload", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rep["router"], "synthetic-v2");
    let r: Value = post_json(format!("{}/v1/route", gw.url), &body).await;
    assert_eq!(r["router"], "synthetic-v2");

    // A broken artifact is refused and the current router stays.
    std::fs::write(router_dir.path().join("router.onnx"), b"not onnx").unwrap();
    let resp = client()
        .post(format!("{}/admin/reload", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let r: Value = post_json(format!("{}/v1/route", gw.url), &body).await;
    assert_eq!(r["router"], "synthetic-v2");
    gw.stop().await;
}

#[test]
fn the_binary_reloads_on_sighup_and_drains_on_sigterm() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    let stub = rt.block_on(StubUpstream::start("stub", &mut tasks));
    let router_dir = tempfile::tempdir().unwrap();
    let log_dir = tempfile::tempdir().unwrap();
    let manifest = artifact::write_synthetic_router(router_dir.path()).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let toml = artifact::gateway_config_toml(
        &manifest,
        router_dir.path(),
        &stub.base_url,
        log_dir.path(),
        &listen,
        "",
    );
    let config_path = log_dir.path().join("arbiter.toml");
    std::fs::write(&config_path, toml).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_serve"))
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let ready = |base: &str| -> Option<Value> {
        rt.block_on(async {
            let resp = client().get(format!("{base}/readyz")).send().await.ok()?;
            resp.json::<Value>().await.ok()
        })
    };
    let mut state = None;
    for _ in 0..200 {
        state = ready(&base);
        if state.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(state) = state else {
        let _ = child.kill();
        panic!("the gateway did not start");
    };
    assert_eq!(state["router"], "synthetic-bench-router");

    rename_router(router_dir.path(), "after-sighup");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut reloaded = false;
    for _ in 0..100 {
        if ready(&base).is_some_and(|s| s["router"] == "after-sighup") {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(reloaded, "SIGHUP did not reload the router");

    // One decision, then SIGTERM: the process exits cleanly and the record is on disk.
    let r: Value = rt.block_on(post_json(
        format!("{base}/v1/route"),
        &support::chat("auto", "hello"),
    ));
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let id = r["id"].as_str().unwrap();
    let found =
        serve::audit::find_on_disk(log_dir.path(), id).expect("the record was flushed on SIGTERM");
    assert_eq!(found.router.as_deref(), Some("after-sighup"));
    drop(LoadedRouter::load_dir(router_dir.path()).unwrap());
}

/// Copies the shipped router (`models/default`) into a temporary directory.
fn copy_default_router() -> tempfile::TempDir {
    let src = models::artifact::default_dir();
    let dir = tempfile::tempdir().unwrap();
    for file in ["manifest.json", "router.onnx"] {
        std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn set_buckets(dir: &std::path::Path, buckets: u64) {
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["featurizer"]["buckets"] = json!(buckets);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Issue 13, case 4: a manifest whose `featurizer.buckets` disagrees with the graph's
/// embedding table used to reload "ok", after which every `auto` request hashing into a
/// high bucket failed with `Gather … indices out of bounds`. The reload must fail, and the
/// current router keep serving.
#[tokio::test]
async fn a_reload_whose_buckets_disagree_with_the_embedding_table_is_refused() {
    let mut tasks = tokio::task::JoinSet::new();
    let stub = StubUpstream::start("stub", &mut tasks).await;
    let router_dir = copy_default_router();
    let log_dir = tempfile::tempdir().unwrap();
    let manifest = models::Manifest::load(router_dir.path()).unwrap();
    let rows = u64::from(manifest.featurizer.buckets());
    let toml = artifact::gateway_config_toml(
        &manifest,
        router_dir.path(),
        &stub.base_url,
        log_dir.path(),
        "127.0.0.1:0",
        "",
    );
    let config = Config::from_toml_str(&toml, "onnx.toml").unwrap();
    let gw = Gateway::start(config, dir_loader(router_dir.path().to_path_buf())).await;
    // Long and non-Latin prompts: their n-grams hash all over the id space.
    let prompts = [
        "What is 2+2?".to_string(),
        "日本語で短い詩を書いてください 🦀 «ζῷον λόγον ἔχον»".repeat(20),
        (0..500).map(|i| format!("word{i} ")).collect::<String>(),
    ];
    let name = manifest.name.clone();
    let route_all = |url: String| {
        let prompts = prompts.clone();
        let name = name.clone();
        async move {
            for p in &prompts {
                let resp = client()
                    .post(format!("{url}/v1/route"))
                    .json(&support::chat("auto", p))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let body: Value = resp.json().await.unwrap();
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["router"], name.as_str(), "{body}");
            }
        }
    };
    route_all(gw.url.clone()).await;

    // More buckets than rows (ids past the table), then fewer (rows never used: hashing
    // no longer matches training); also a neighbour of the true value.
    for buckets in [rows * 2, rows / 2, rows + 1] {
        set_buckets(router_dir.path(), buckets);
        let resp = client()
            .post(format!("{}/admin/reload", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500, "buckets = {buckets}");
        let body: Value = resp.json().await.unwrap();
        let message = support::assert_openai_error(&body)["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("featurizer.buckets") && message.contains(&rows.to_string()),
            "buckets = {buckets}: {message}"
        );
        // The old router still serves every prompt, and the gateway is ready.
        route_all(gw.url.clone()).await;
        let ready = client()
            .get(format!("{}/readyz", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    let metrics = support::get_text(format!("{}/metrics", gw.url)).await;
    assert!(
        metrics.contains("arbiter_router_reloads_total{result=\"error\"} 3"),
        "{metrics}"
    );

    // The right value reloads.
    set_buckets(router_dir.path(), rows);
    let resp = client()
        .post(format!("{}/admin/reload", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}
