//! The loaders on the real shared data (`ROUTER_DATA_DIR`, else `../shared/data` next to
//! the workspace), against the counts of the data README.
//!
//! README counts are rows as published; the table drops what the README says to drop
//! (contaminated prompts) and keeps one outcome per (prompt, model), so the assertions
//! spell out how each README figure splits into loaded prompts and skipped rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::PathBuf;
use std::sync::OnceLock;

use datasets::report::reasons;
use datasets::{Loaded, SetReport, load};

fn data_dir() -> PathBuf {
    std::env::var_os("ROUTER_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| load(data_dir()).expect("the shared data loads"))
}

fn set(dataset: &str) -> &'static SetReport {
    let sets = loaded().report.for_dataset(dataset);
    assert_eq!(sets.len(), 1, "{dataset}");
    sets[0]
}

#[test]
fn finds_every_set_of_the_data_readme() {
    let keys: Vec<&str> = loaded()
        .report
        .sets
        .iter()
        .map(|s| s.dataset.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "mmlu",
            "gsm8k",
            "mt_bench",
            "arena_bench",
            "alpaca_eval",
            "llmrouter",
            "mmlu_pro",
            "zeroeval_crux",
            "zeroeval_gsm",
            "zeroeval_math_l5"
        ]
    );
    assert!(
        loaded().report.ignored.is_empty(),
        "{:?}",
        loaded().report.ignored
    );
    assert_eq!(loaded().frame.height(), loaded().report.total_rows());
}

#[test]
fn mmlu_counts() {
    let s = set("mmlu");
    assert_eq!(s.models, 2);
    // README: 11,218 question rows in 57 files. 4 are contaminated (2 models each) and
    // 89 repeat an earlier question's text (duplicates, first kept).
    assert_eq!(s.skipped_for(reasons::CONTAMINATED), 4 * 2);
    assert_eq!(s.skipped_for(reasons::DUPLICATE), 89 * 2);
    assert_eq!(s.prompts, 11_218 - 4 - 89);
    assert_eq!(s.rows, s.prompts * 2);
}

#[test]
fn gsm8k_counts() {
    let s = set("gsm8k");
    assert_eq!(s.models, 2);
    // README: 1,059 prompts, of which 9 are in contaminated_prompts.jsonl.
    assert_eq!(s.skipped_for(reasons::CONTAMINATED), 9 * 2);
    assert_eq!(s.prompts, 1_059 - 9);
    assert_eq!(s.rows, s.prompts * 2);
}

#[test]
fn mt_bench_counts() {
    let s = set("mt_bench");
    assert_eq!(s.models, 2);
    // README: 66 questions × 2 turns; 6 questions' first turns are contaminated.
    assert_eq!(s.prompts, (66 - 6) * 2);
    assert_eq!(s.skipped_for(reasons::CONTAMINATED), 6 * 2 * 2);
    assert_eq!(s.rows, s.prompts * 2);
}

#[test]
fn arena_counts() {
    let s = set("arena_bench");
    assert_eq!((s.prompts, s.models), (243, 14));
    // 243 × 14 judgements, a few without a score
    assert_eq!(s.rows + s.skipped_for(reasons::MISSING_SCORE), 243 * 14);
    assert!(s.skipped_for(reasons::MISSING_SCORE) > 0);
    // three models have answers but no judgements
    assert_eq!(s.skipped_for(reasons::ANSWER_WITHOUT_JUDGEMENT), 3 * 243);
}

#[test]
fn alpaca_counts() {
    let s = set("alpaca_eval");
    assert_eq!((s.prompts, s.models), (678, 24));
    // every model answered every instruction except phi-2 (676)
    assert_eq!(s.rows, 23 * 678 + 676);
}

#[test]
fn mmlu_pro_counts() {
    let s = set("mmlu_pro");
    assert_eq!(s.models, 29);
    // README: 9,658 questions; 127 repeat an earlier question's text (29 outcomes each).
    assert_eq!(s.skipped_for(reasons::DUPLICATE), 127 * 29);
    assert_eq!(s.prompts, 9_658 - 127);
    // null cells (DeepSeek-Coder-V2, Gemini) are missing outcomes, never zeros
    assert!(s.skipped_for(reasons::MISSING_OUTCOME) > 0);
    assert_eq!(
        s.rows + s.skipped_for(reasons::MISSING_OUTCOME),
        s.prompts * 29
    );
}

#[test]
fn zeroeval_counts() {
    // README: GSM8K 1,059 prompts × 44 models, MATH level 5 589 × 43, CRUX 641 × 51; a
    // null score is a missing outcome (skipped and counted), never a zero.
    let gsm = set("zeroeval_gsm");
    assert_eq!((gsm.prompts, gsm.models), (1_059, 44));
    // gemini-1.5-flash-exp-0827 answered only part of GSM8K (681 of the full 1,319).
    let gsm_missing = gsm.skipped_for(reasons::MISSING_OUTCOME);
    assert!(gsm_missing > 0);
    assert_eq!(gsm.rows + gsm_missing, 1_059 * 44);

    let math = set("zeroeval_math_l5");
    assert_eq!((math.prompts, math.models), (589, 43));
    // Llama-3.1-405B@hyperbolic and Meta-Llama-3.1-70B@hyperbolic answered part of MATH.
    let math_missing = math.skipped_for(reasons::MISSING_OUTCOME);
    assert!(math_missing > 0);
    assert_eq!(math.rows + math_missing, 589 * 43);

    let crux = set("zeroeval_crux");
    assert_eq!((crux.prompts, crux.models), (641, 51));
    assert_eq!(crux.rows, 641 * 51);
}

#[test]
fn llmrouter_counts() {
    // README: 4,493 prompts, 9 models, 13 tasks, every model scored on every prompt.
    use polars::prelude::*;
    let s = set("llmrouter");
    assert_eq!((s.prompts, s.models), (4_493, 9));
    assert_eq!(s.rows, 4_493 * 9);
    let categories = loaded()
        .frame
        .clone()
        .filter(
            &loaded()
                .frame
                .column(datasets::schema::DATASET)
                .unwrap()
                .str()
                .unwrap()
                .equal("llmrouter"),
        )
        .unwrap()
        .column(datasets::schema::CATEGORY)
        .unwrap()
        .n_unique()
        .unwrap();
    assert_eq!(categories, 13);
}

#[test]
fn published_accuracies_and_costs() {
    let summaries = datasets::summary::summarize(&loaded().frame, &loaded().report).unwrap();
    let mean = |dataset: &str, model: &str| {
        summaries
            .iter()
            .find(|s| s.dataset == dataset)
            .and_then(|s| s.models.iter().find(|m| m.model == model))
            .map(|m| m.mean_score)
            .unwrap()
    };
    // README full-set accuracies (this is ~80% of the set): MMLU GPT-4 80.58%, Mixtral 68.08%
    assert!((mean("mmlu", "gpt-4-1106-preview") - 0.8058).abs() < 0.02);
    assert!((mean("mmlu", "mistralai/Mixtral-8x7B-Instruct-v0.1") - 0.6808).abs() < 0.02);
    assert!((mean("gsm8k", "gpt-4-1106-preview") - 0.8567).abs() < 0.03);
    // MT-Bench means 9.228 / 8.341 on the 1–10 scale
    assert!((mean("mt_bench", "gpt-4-1106-preview") * 9.0 + 1.0 - 9.228).abs() < 0.3);
    // MMLU-Pro accuracy range 0.18 .. 0.70
    assert!((mean("mmlu_pro", "Llama-2-7b-hf") - 0.18).abs() < 0.02);
    assert!((mean("mmlu_pro", "gemini-1.5-pro-002") - 0.70).abs() < 0.02);
    // ZeroEval (published on the full sets; this is ~80%): GSM8K claude-3-5-sonnet-20241022
    // 96.66%, gemma-2-2b-it 51.63%; CRUX o1-preview 95.88%; MATH-L5 o1-mini 89.32%
    assert!((mean("zeroeval_gsm", "claude-3-5-sonnet-20241022") - 0.9666).abs() < 0.03);
    assert!((mean("zeroeval_gsm", "gemma-2-2b-it") - 0.5163).abs() < 0.03);
    assert!((mean("zeroeval_crux", "o1-preview-2024-09-12") - 0.9588).abs() < 0.03);
    assert!((mean("zeroeval_math_l5", "o1-mini-2024-09-12") - 0.8932).abs() < 0.03);
    // prices.csv lists no o1 price on purpose (hidden reasoning tokens are billed): their
    // cost is unknown (null), never guessed; every other model of every set is priced.
    let frame = &loaded().frame;
    let models = frame
        .column(datasets::schema::MODEL)
        .unwrap()
        .str()
        .unwrap();
    let costs = frame.column(datasets::schema::COST_USD).unwrap();
    let nulls = costs.is_null();
    let unpriced: std::collections::BTreeSet<&str> = (0..frame.height())
        .filter(|&i| nulls.get(i) == Some(true))
        .filter_map(|i| models.get(i))
        .collect();
    assert_eq!(
        unpriced.into_iter().collect::<Vec<_>>(),
        ["o1-mini-2024-09-12", "o1-preview-2024-09-12"]
    );
    // o1-mini in all three ZeroEval sets, o1-preview in CRUX and MATH.
    assert_eq!(costs.null_count(), 641 * 2 + 1_059 + 589 * 2);
}
