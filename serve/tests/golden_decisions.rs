//! The gateway's path held to the pinned decisions: the golden prompts of
//! `models/tests/golden_default_artifact.rs`, each sent as one user message to
//! `POST /v1/route` of a gateway on `models/default` with the built-in catalog (the
//! manifest's prices), give exactly the winner, fallback order, exclusions and predicted
//! qualities pinned in `models/tests/fixtures/default_artifact_golden.json`. The offline
//! path (`train/tests/golden_eval_path.rs`) is held to the same fixture, so `serve` and
//! `train eval` decide the same, by construction (`models::routing`) and by test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "../../models/tests/support/golden.rs"]
mod golden;
mod support;

use golden::{DECISIONS_FIXTURE, Routed, Row, assert_same_decisions, constrained, scorer_prompts};
use serde_json::{Value, json};
use serve::builtin::builtin_config;
use serve::router_artifact::{LoadedRouter, dir_loader};
use support::{Gateway, post_json};

/// The record's view of the decision, in the fixture's shape.
fn routed(record: &Value) -> Routed {
    let order: Vec<String> = record["fallback_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let winner = record["routed_model"].as_str().map(str::to_string);
    assert_eq!(
        order.first(),
        winner.as_ref(),
        "the winner is tried first: {record}"
    );
    Routed {
        winner,
        fallback_order: order.into_iter().skip(1).collect(),
        excluded: record["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                let why = c["excluded"].as_str()?;
                Some((c["model"].as_str().unwrap().to_string(), why.to_string()))
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_gateway_makes_the_pinned_decisions() {
    let dir = models::artifact::default_dir();
    let router = LoadedRouter::load_dir(&dir).unwrap();
    let mut config = builtin_config(&router.candidates);
    let log_dir = tempfile::tempdir().unwrap();
    config.audit.dir = log_dir.path().to_path_buf();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let gw = Gateway::start(config, dir_loader(dir)).await;
    let url = format!("{}/v1/route", gw.url);
    let limits = constrained();

    let mut rows = Vec::new();
    for prompt in scorer_prompts() {
        let ask = |route: Value| json!({"model": "auto", "messages": [{"role": "user", "content": prompt}], "route": route});
        let quality: Value = post_json(&url, &ask(json!({"objective": "quality"}))).await;
        let cost: Value = post_json(&url, &ask(json!({"objective": "cost"}))).await;
        let latency: Value = post_json(&url, &ask(json!({"objective": "latency"}))).await;
        let capped: Value = post_json(
            &url,
            &ask(json!({
                "objective": "cost",
                "max_cost_usd": limits.max_cost_usd,
                "min_quality": limits.min_quality,
                "exclude": limits.exclude,
            })),
        )
        .await;
        rows.push(Row {
            prompt_id: quality["prompt_id"].as_str().unwrap().to_string(),
            quality: quality["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["predicted_quality"].as_f64().unwrap() as f32)
                .collect(),
            quality_objective: routed(&quality),
            cost_objective: routed(&cost),
            latency_objective: routed(&latency),
            constrained_cost_objective: routed(&capped),
        });
    }
    gw.stop().await;
    let text = std::fs::read_to_string(golden::fixture_path(DECISIONS_FIXTURE)).unwrap();
    let pinned: Vec<Row> = serde_json::from_str(&text).unwrap();
    assert_same_decisions(&rows, &pinned, "serve /v1/route");
}
