//! What the gateway adds to a request, measured in one process on loopback:
//! the same non-streaming chat request sent N times straight to the stub upstream and N
//! times through the gateway with `model: "auto"`; and the router's own time per request
//! (scoring + policy) from the gateway's `arbiter_router_duration_seconds` histogram, for
//! scoring inline and on tokio's blocking pool.
//!
//! ```text
//! cargo run --release -p serve --example overhead -- [--router-dir models/default] [-n 2000]
//! ```
//! Without a router artifact it falls back to the test-double scorer and says so.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use serve::config::Config;
use serve::router_artifact::{LoadedRouter, RouterLoader};
use support::{Gateway, StubUpstream};

#[derive(Debug, Parser)]
struct Cli {
    /// Router artifact directory.
    #[arg(long, default_value = "models/default")]
    router_dir: PathBuf,
    /// Requests per measurement.
    #[arg(short, default_value_t = 2000)]
    n: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

async fn timed(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    n: usize,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = client.post(url).json(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.sort_by(f64::total_cmp);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    let mut tasks = tokio::task::JoinSet::new();
    let stub = StubUpstream::start("stub", &mut tasks).await;

    let (loader, label, candidates): (RouterLoader, String, Vec<String>) =
        match LoadedRouter::load_dir(&cli.router_dir) {
            Ok(r) => {
                let names = r.candidate_names();
                let dir = cli.router_dir.clone();
                (
                    Arc::new(move || LoadedRouter::load_dir(&dir)),
                    format!(
                        "ONNX router `{}` from {} ({} candidates)",
                        r.name,
                        cli.router_dir.display(),
                        names.len()
                    ),
                    names,
                )
            }
            Err(e) => {
                println!(
                    "note: no router at {} ({e}); using the test-double scorer",
                    cli.router_dir.display()
                );
                (
                    support::test_loader(),
                    "test-double keyword scorer (no ONNX)".into(),
                    vec!["big".into(), "mid".into(), "small".into()],
                )
            }
        };
    println!("router: {label}");

    let log_dir = tempfile::tempdir().unwrap();
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\n[audit]\ndir = \"{}\"\n[limits]\nmax_concurrency = 4096\n",
        log_dir.path().display()
    );
    for name in &candidates {
        toml.push_str(&format!(
            "[models.\"{name}\"]\ncontext_length = 1000000\n[[models.\"{name}\".providers]]\nname = \"stub\"\nbase_url = \"{}\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
            stub.base_url
        ));
    }

    let client = support::client();
    let prompt = "Solve for x: 3x + 7 = 22. Explain each step briefly, then give the final answer.";
    let body = json!({"model": "auto", "messages": [{"role": "system", "content": "You are a careful tutor."}, {"role": "user", "content": prompt}]});
    let direct_body = json!({"model": candidates[0], "messages": body["messages"]});

    for on_pool in [false, true] {
        let mut text = toml.clone();
        text.push_str(&format!("[routing]\nscore_on_blocking_pool = {on_pool}\n"));
        let config = Config::from_toml_str(&text, "overhead.toml").unwrap();
        let gw = Gateway::start(config, Arc::clone(&loader)).await;
        let url = format!("{}/v1/chat/completions", gw.url);
        let direct_url = format!("{}/chat/completions", stub.base_url);
        // Warm up both paths (connections, ONNX session, caches).
        timed(&client, &url, &body, 200).await;
        timed(&client, &direct_url, &direct_body, 200).await;
        let before = gw.state.metrics.router_duration.count();
        let direct = timed(&client, &direct_url, &direct_body, cli.n).await;
        let through = timed(&client, &url, &body, cli.n).await;
        let h = &gw.state.metrics.router_duration;
        assert!(h.count() >= before + cli.n as u64);
        // The histogram includes the warm-up; the exact per-request values are in the records.
        let mut router_us: Vec<f64> = Vec::new();
        gw.state.audit.flush().await;
        for path in serve::audit::writer::log_files(log_dir.path()) {
            for line in std::fs::read_to_string(path).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(us) = v["router_us"].as_f64() {
                    router_us.push(us);
                }
            }
        }
        router_us.sort_by(f64::total_cmp);
        let mode = if on_pool { "blocking pool" } else { "inline" };
        println!("\n== scoring {mode}, n = {} ==", cli.n);
        println!(
            "router time (histogram, /metrics):  p50 {:.1} µs  p99 {:.1} µs",
            h.quantile(0.5).unwrap() * 1e6,
            h.quantile(0.99).unwrap() * 1e6
        );
        println!(
            "router time (exact, audit records): p50 {:.1} µs  p99 {:.1} µs  ({} records)",
            percentile(&router_us, 0.5),
            percentile(&router_us, 0.99),
            router_us.len()
        );
        println!(
            "direct to stub:    p50 {:.0} µs  p99 {:.0} µs",
            percentile(&direct, 0.5),
            percentile(&direct, 0.99)
        );
        println!(
            "through gateway:   p50 {:.0} µs  p99 {:.0} µs",
            percentile(&through, 0.5),
            percentile(&through, 0.99)
        );
        println!(
            "added by gateway:  p50 {:.0} µs  p99 {:.0} µs",
            percentile(&through, 0.5) - percentile(&direct, 0.5),
            percentile(&through, 0.99) - percentile(&direct, 0.99)
        );
        gw.stop().await;
        for path in serve::audit::writer::log_files(log_dir.path()) {
            let _ = std::fs::remove_file(path);
        }
    }
}
