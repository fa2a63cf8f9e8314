//! End-to-end runs of `train eval`: a synthetic generic set with known structure, and
//! real benchmark data (ROUTER_DATA_DIR), each scored by a small untrained router
//! exported through the train crate's ONNX writer and loaded by `models::OnnxScorer`.

use train::eval;

use std::fmt::Write as _;
use std::path::Path;

use burn::backend::NdArray;
use models::{CandidateModel, FeaturizerConfig, LabelSemantics, TaskMapping};
use train::model::ModelConfig;
use train::onnx::artifact::{ArtifactInfo, write_artifact};

const STRONG: &str = "gpt-4-1106-preview";
const WEAK: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
const CHEAP: &str = "tiny-llm";

/// A generic long-format set where the strong model wins on math, all models are
/// close on chat, and the cheap model has a few missing outcomes.
fn write_data(dir: &Path) -> std::io::Result<()> {
    let mut csv = String::from("dataset,prompt,category,model,score,cost_usd\n");
    let mut state: u64 = 42;
    let mut rand = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..400 {
        let (category, prompt, probs) = if i % 2 == 0 {
            (
                "math",
                format!("Compute {} times {} and add {}", i * 7, i % 13, i % 5),
                [0.95, 0.35, 0.1],
            )
        } else {
            (
                "chat",
                format!("Write a short friendly story about animal number {i}"),
                [0.85, 0.8, 0.6],
            )
        };
        for (m, (model, cost)) in [(STRONG, 0.01), (WEAK, 0.001), (CHEAP, 0.0001)]
            .iter()
            .enumerate()
        {
            if *model == CHEAP && i % 7 == 0 {
                continue;
            }
            let score = if rand() < probs[m] { 1.0 } else { 0.0 };
            let _ = writeln!(csv, "toy,\"{prompt}\",{category},{model},{score},{cost}");
        }
    }
    std::fs::write(dir.join("toy.csv"), csv)
}

fn write_router(dir: &Path, priced: &[(&str, f64, f64)]) -> anyhow::Result<()> {
    let featurizer = FeaturizerConfig::default();
    let candidates: Vec<CandidateModel> = priced
        .iter()
        .map(|&(name, i, o)| CandidateModel {
            name: name.into(),
            input_usd_per_mtok: Some(i),
            output_usd_per_mtok: Some(o),
            expected_output_tokens: 200.0,
        })
        .collect();
    let tasks: Vec<String> = models::taxonomy::TASKS
        .iter()
        .map(|t| t.to_string())
        .collect();
    let config = ModelConfig::new(
        featurizer.buckets() as usize,
        featurizer.dense_dim(),
        candidates.len(),
        tasks.len(),
    );
    let model = config.init::<NdArray<f32>>(&Default::default());
    write_artifact(
        dir,
        &model,
        ArtifactInfo {
            name: "untrained-test-router".into(),
            candidates,
            featurizer,
            tasks,
            task_mapping: TaskMapping::default(),
            labels: LabelSemantics::default(),
            training: serde_json::json!({"split_ratios": {"train": 0.5, "validation": 0.1, "test": 0.4}}),
            validation: serde_json::Value::Null,
        },
    )?;
    Ok(())
}

#[test]
fn eval_end_to_end_on_a_generic_set() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, router, out) = (
        tmp.path().join("data"),
        tmp.path().join("router"),
        tmp.path().join("out"),
    );
    std::fs::create_dir_all(&data).unwrap();
    write_data(&data).unwrap();
    write_router(
        &router,
        &[(STRONG, 10.0, 30.0), (WEAK, 0.6, 0.6), (CHEAP, 0.05, 0.05)],
    )
    .unwrap();
    let args = eval::EvalArgs {
        model: router.clone(),
        data: data.clone(),
        out: out.clone(),
        split: eval::SplitChoice::Test,
        candidates: None,
        strong: STRONG.into(),
        weak: WEAK.into(),
        lambda_points: 30,
        knn_k: 10,
        batch_size: 64,
        datasets: None,
        bootstrap: 200,
        bootstrap_seed: 7,
        replay: None,
    };
    eval::run(args).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&metrics).unwrap());
    let toy = &metrics["datasets"]["toy"];
    assert!(
        toy["prompts"].as_u64().unwrap() > 100,
        "split ratios from the manifest: ~40% test"
    );
    let apgr = |m: &str| toy["pair"][m]["apgr"].as_f64().unwrap();
    assert_eq!(apgr("random"), 0.5);
    assert!(apgr("oracle") > apgr("router"));
    // The category prior knows that math is where the strong model wins.
    assert!(
        apgr("category_prior") > 0.6,
        "prior {}",
        apgr("category_prior")
    );
    let aiq = |m: &str| toy["multi"][m]["aiq"].as_f64().unwrap();
    assert!(aiq("oracle") >= aiq("category_prior") && aiq("oracle") >= aiq("router"));
    assert_eq!(toy["best_single_model"], STRONG);
    assert!(aiq("zero_router") >= aiq("cheapest"));
    assert!(
        toy["multi"]["best_single"]["cost_to_match_best_single"]
            .as_f64()
            .unwrap()
            - 1.0
            < 1e-9
    );
    for f in [
        "report.md",
        "toy.svg",
        "toy.png",
        "toy_curves.csv",
        "decisions.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Bootstrap intervals next to the estimates, and the paired differences.
    let router_apgr = apgr("router");
    let ci = toy["pair"]["router"]["apgr_ci95"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo <= router_apgr && router_apgr <= hi,
        "{lo} {router_apgr} {hi}"
    );
    assert!(toy["multi"]["router"]["aiq_ci95"].is_array());
    assert_eq!(toy["bootstrap"]["resamples"], 200);
    let diff = &toy["bootstrap"]["differences"]["pair"]["router-knn"]["apgr"];
    assert!(
        (diff["estimate"].as_f64().unwrap() - (router_apgr - apgr("knn"))).abs() < 1e-9,
        "{diff}"
    );
    assert!(
        toy["bootstrap"]["differences"]["multi"]["router-best_single"]["quality_max"].is_object()
    );
    // The decision mix at every decision λ sums to one.
    for row in toy["decision_mix"]["by_lambda"].as_array().unwrap() {
        let total: f64 = row["shares"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum::<f64>()
            + row["none"].as_f64().unwrap();
        assert!((total - 1.0).abs() < 1e-9, "{row}");
    }
    assert!(
        toy["sweep_decision_mix"]["by_lambda"]
            .as_array()
            .unwrap()
            .len()
            == 30
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("### Decision mix"));
    assert!(report.contains("| router − knn |"));
    let decisions = std::fs::read_to_string(out.join("decisions.csv")).unwrap();
    assert!(decisions.starts_with("dataset,prompt_id,category,task,predicted_task,lambda_0,"));
    // One predicted-quality column per candidate, a number in [0, 1] on every row.
    let header: Vec<&str> = decisions.lines().next().unwrap().split(',').collect();
    let predicted: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].starts_with("predicted:"))
        .collect();
    assert_eq!(predicted.len(), 3, "{header:?}");
    assert!(header.contains(&format!("predicted:{CHEAP}").as_str()));
    for line in decisions.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        for &i in &predicted {
            let q: f64 = fields[i].parse().unwrap();
            assert!((0.0..=1.0).contains(&q), "{line}");
        }
    }
    println!(
        "{}",
        std::fs::read_to_string(out.join("report.md")).unwrap()
    );
}

fn real_data_dir() -> std::path::PathBuf {
    std::env::var_os("ROUTER_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into())
}

#[test]
fn eval_on_real_gsm8k_and_arena_bench() {
    let tmp = tempfile::tempdir().unwrap();
    let (router, out) = (tmp.path().join("router"), tmp.path().join("out"));
    // Arena-bench models with list prices in prices.csv (USD per million tokens).
    write_router(
        &router,
        &[
            (STRONG, 10.0, 30.0),
            (WEAK, 0.6, 0.6),
            ("gpt-3.5-turbo-1106", 1.0, 2.0),
            ("claude-2.1", 8.0, 24.0),
            ("Llama-2-70b-chat", 0.9, 0.9),
            ("mistralai/Mistral-7B-Instruct-v0.1", 0.2, 0.2),
        ],
    )
    .unwrap();
    let args = eval::EvalArgs {
        model: router,
        data: real_data_dir(),
        out: out.clone(),
        split: eval::SplitChoice::All,
        candidates: None,
        strong: STRONG.into(),
        weak: WEAK.into(),
        lambda_points: 20,
        knn_k: 20,
        batch_size: 256,
        datasets: Some(vec!["gsm8k".into(), "arena_bench".into()]),
        bootstrap: 50,
        bootstrap_seed: 7,
        replay: None,
    };
    eval::run(args).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let sets = metrics["datasets"].as_object().unwrap();
    assert_eq!(sets.len(), 2, "only the requested datasets");
    let gsm8k = &metrics["datasets"]["gsm8k"];
    assert!(gsm8k["prompts"].as_u64().unwrap() > 1000);
    assert!(gsm8k["pair"]["oracle"]["apgr"].as_f64().unwrap() > 0.5);
    // GSM8K has no categories: the prior is one constant, i.e. exactly the random line.
    assert!((gsm8k["pair"]["category_prior"]["apgr"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert!(gsm8k.get("multi").is_none(), "two models only");
    let arena = &metrics["datasets"]["arena_bench"];
    let multi = &arena["multi"];
    assert_eq!(arena["single_models"].as_object().unwrap().len(), 6);
    let aiq = |m: &str| multi[m]["aiq"].as_f64().unwrap();
    assert!(aiq("oracle") > aiq("zero_router"));
    assert!(arena["pair"]["router"]["apgr"].is_number());
    let decisions = std::fs::read_to_string(out.join("decisions.csv")).unwrap();
    assert_eq!(
        decisions.lines().count(),
        1 + gsm8k["prompts"].as_u64().unwrap() as usize
            + arena["prompts"].as_u64().unwrap() as usize
    );
}
