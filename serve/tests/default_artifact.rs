//! The shipped router `models/default` through `OnnxScorer`, with the built-in catalog
//! that `cargo run -p serve` uses without a config: every candidate is routable, and
//! `/v1/route` answers with no key at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use serde_json::{Value, json};
use serve::builtin::builtin_config;
use serve::router_artifact::{LoadedRouter, dir_loader};
use support::{Gateway, post_json};

#[tokio::test]
async fn the_default_router_and_builtin_catalog_route_without_keys() {
    let dir = models::artifact::default_dir();
    let router =
        LoadedRouter::load_dir(&dir).unwrap_or_else(|e| panic!("models/default must load: {e}"));
    let mut config = builtin_config(&router.candidates);
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let log_dir = tempfile::tempdir().unwrap();
    config.audit.dir = log_dir.path().to_path_buf();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let priced = router
        .candidates
        .iter()
        .filter(|c| c.input_usd_per_mtok.is_some() && c.output_usd_per_mtok.is_some())
        .count();
    assert_eq!(config.models.len(), priced);

    let gw = Gateway::start(config, dir_loader(dir.clone())).await;
    for (prompt, objective) in [
        ("What is 37 * 43? Show your work.", "quality"),
        ("Write a haiku about the sea.", "cost"),
        ("Explain the difference between TCP and UDP.", "latency"),
    ] {
        let body = json!({"model": "auto", "messages": [{"role": "user", "content": prompt}], "route": {"objective": objective}});
        let r: Value = post_json(format!("{}/v1/route", gw.url), &body).await;
        assert_eq!(r["outcome"], "routed", "{r}");
        assert_eq!(
            r["policy"]["router_sha256"].as_str(),
            Some(sha256sum_of_artifact(&dir).as_str()),
            "the record names the artifact by its content: {r}"
        );
        assert!(r["model"].is_string(), "{r}");
        assert_eq!(
            r["candidates"].as_array().unwrap().len(),
            router.candidates.len()
        );
        let p = r["task"]["probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        assert!(
            r["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| (0.0..=1.0).contains(&c["predicted_quality"].as_f64().unwrap())),
            "{r}"
        );
    }
    gw.stop().await;
}

/// `cat manifest.json router.onnx | sha256sum`: the artifact hash computed by coreutils,
/// independently of the gateway's own SHA-256.
fn sha256sum_of_artifact(dir: &std::path::Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("cat manifest.json router.onnx | sha256sum")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
