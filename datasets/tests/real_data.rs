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

/// Every set's models after the renames of [`datasets::MODEL_ALIASES`] (sorted).
#[test]
fn model_lists_per_set() {
    use std::collections::BTreeSet;
    let frame = &loaded().frame;
    let datasets_col = frame
        .column(datasets::schema::DATASET)
        .unwrap()
        .str()
        .unwrap();
    let models_col = frame
        .column(datasets::schema::MODEL)
        .unwrap()
        .str()
        .unwrap();
    let models_of = |dataset: &str| -> Vec<&str> {
        let set: BTreeSet<&str> = datasets_col
            .iter()
            .zip(models_col.iter())
            .filter(|(d, _)| *d == Some(dataset))
            .filter_map(|(_, m)| m)
            .collect();
        set.into_iter().collect()
    };
    assert_eq!(
        models_of("mmlu"),
        ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1",],
        "mmlu"
    );
    assert_eq!(
        models_of("gsm8k"),
        ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1",],
        "gsm8k"
    );
    assert_eq!(
        models_of("mt_bench"),
        ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1",],
        "mt_bench"
    );
    assert_eq!(
        models_of("arena_bench"),
        [
            "Llama-2-70b-chat",
            "Starling-LM-7B-alpha",
            "claude-1",
            "claude-2.1",
            "claude-instant-1",
            "gpt-3.5-turbo",
            "gpt-3.5-turbo-1106",
            "gpt-4-0314",
            "gpt-4-1106-preview",
            "mistralai/Mistral-7B-Instruct-v0.1",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "openchat_3.5",
            "palm-2-chat-bison-001",
            "vicuna-33b-v1.3",
        ],
        "arena_bench"
    );
    assert_eq!(
        models_of("alpaca_eval"),
        [
            "FuseChat-Gemma-2-9B-Instruct",
            "FuseChat-Llama-3.1-8B-Instruct",
            "FuseChat-Llama-3.2-1B-Instruct",
            "FuseChat-Llama-3.2-3B-Instruct",
            "FuseChat-Qwen-2.5-7B-Instruct",
            "OpenHermes-2.5-Mistral-7B",
            "Qwen-14B-Chat",
            "claude",
            "claude-2",
            "claude-2.1",
            "claude-instant-1.2",
            "falcon-40b-instruct",
            "falcon-7b-instruct",
            "gemma-2b-it",
            "gemma-7b-it",
            "gpt-3.5-turbo-0301",
            "gpt-3.5-turbo-1106",
            "gpt-3.5-turbo-instruct",
            "gpt-4-1106-preview",
            "humpback-llama2-70b",
            "phi-2",
            "text-davinci-003",
            "vicuna-13b-v1.5",
            "vicuna-7b-v1.5",
        ],
        "alpaca_eval"
    );
    assert_eq!(
        models_of("llmrouter"),
        [
            "Meta-Llama-3_1-8B-Instruct",
            "Qwen2.5-7B-Instruct",
            "codegemma-7b",
            "gemma-2-9b-it",
            "llama-3.1-nemotron-51b-instruct",
            "llama-3.3-nemotron-super-49b-v1",
            "llama3-chatqa-1.5-70b",
            "llama3-chatqa-1.5-8b",
            "mistral-7b-instruct-v0.3",
        ],
        "llmrouter"
    );
    assert_eq!(
        models_of("mmlu_pro"),
        [
            "DeepSeek-Coder-V2",
            "Llama-2-13b-hf",
            "Llama-2-70b-hf",
            "Llama-2-7b-hf",
            "Meta-Llama-3-70B",
            "Meta-Llama-3-8B",
            "Meta-Llama-3_1-70B",
            "Meta-Llama-3_1-70B-Instruct",
            "Meta-Llama-3_1-8B",
            "Meta-Llama-3_1-8B-Instruct",
            "Mistral-7B-Instruct-v0.2",
            "Mistral-7B-v0.1",
            "Mistral-7B-v0.2-hf",
            "Mixtral-8x7B-v0.1",
            "Phi-3-mini-4k-instruct",
            "Qwen1.5-110B",
            "Qwen1.5-72B-Chat",
            "Qwen1.5-7B-Chat",
            "Yi-34B",
            "Yi-6B",
            "Yi-6b-Chat",
            "c4ai-command-r-v01",
            "gemini-1.5-flash-002",
            "gemini-1.5-pro-002",
            "gemma-7b",
            "jamba-1.5-large",
            "mathstral-7B",
            "mistralai/Mistral-7B-Instruct-v0.1",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
        ],
        "mmlu_pro"
    );
    assert_eq!(
        models_of("zeroeval_crux"),
        [
            "Athene-70B",
            "Llama-3.1-405B-Inst-fp8@together",
            "Llama-3.1-405B-Inst@hyperbolic",
            "Llama-3.1-405B-Inst@sambanova",
            "Meta-Llama-3-70B-Instruct",
            "Meta-Llama-3-8B-Instruct",
            "Meta-Llama-3_1-70B-Instruct",
            "Meta-Llama-3_1-8B-Instruct",
            "Mistral-Large-2",
            "Phi-3-mini-4k-instruct",
            "Phi-3.5-mini-instruct",
            "Qwen2-72B-Instruct",
            "Qwen2-7B-Instruct",
            "Qwen2.5-32B-Instruct",
            "Qwen2.5-3B-Instruct",
            "Qwen2.5-72B-Instruct",
            "Qwen2.5-7B-Instruct",
            "Yi-1.5-34B-Chat",
            "Yi-1.5-9B-Chat",
            "chatgpt-4o-latest-24-09-07",
            "claude-3-5-haiku-20241022",
            "claude-3-5-sonnet-20240620",
            "claude-3-5-sonnet-20241022",
            "claude-3-haiku-20240307",
            "claude-3-opus-20240229",
            "claude-3-sonnet-20240229",
            "deepseek-v2-chat-0628",
            "deepseek-v2-coder-0724",
            "deepseek-v2.5-0908",
            "gemini-1.5-flash",
            "gemini-1.5-flash-exp-0827",
            "gemini-1.5-pro",
            "gemini-1.5-pro-exp-0801",
            "gemini-1.5-pro-exp-0827",
            "gemma-2-27b-it",
            "gemma-2-2b-it",
            "gemma-2-9b-it",
            "gpt-3.5-turbo-0125",
            "gpt-4-0314",
            "gpt-4-turbo-2024-04-09",
            "gpt-4o-2024-05-13",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini-2024-07-18",
            "grok-2-1212",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "o1-mini-2024-09-12",
            "o1-preview-2024-09-12",
            "reka-core-20240501",
            "reka-flash-20240226",
            "yi-large",
            "yi-large-preview",
        ],
        "zeroeval_crux"
    );
    assert_eq!(
        models_of("zeroeval_gsm"),
        [
            "Athene-70B",
            "Llama-3.1-405B-Inst-fp8@together",
            "Llama-3.1-405B-Inst@hyperbolic",
            "Llama-3.1-405B-Inst@sambanova",
            "Meta-Llama-3-70B-Instruct",
            "Meta-Llama-3-8B-Instruct",
            "Meta-Llama-3_1-70B-Instruct",
            "Meta-Llama-3_1-8B-Instruct",
            "Mistral-Large-2",
            "Mistral-Nemo-Instruct-2407",
            "Phi-3.5-mini-instruct",
            "Qwen2-72B-Instruct",
            "Qwen2-7B-Instruct",
            "Yi-1.5-34B-Chat",
            "Yi-1.5-9B-Chat",
            "c4ai-command-r-v01",
            "claude-3-5-haiku-20241022",
            "claude-3-5-sonnet-20240620",
            "claude-3-5-sonnet-20241022",
            "claude-3-haiku-20240307",
            "claude-3-opus-20240229",
            "claude-3-sonnet-20240229",
            "command-r-plus",
            "deepseek-v2-chat-0628",
            "deepseek-v2-coder-0614",
            "deepseek-v2-coder-0724",
            "deepseek-v2.5-0908",
            "gemini-1.5-flash",
            "gemini-1.5-flash-exp-0827",
            "gemini-1.5-pro",
            "gemini-1.5-pro-exp-0801",
            "gemma-2-27b-it",
            "gemma-2-2b-it",
            "gemma-2-9b-it",
            "gpt-3.5-turbo-0125",
            "gpt-4o-2024-05-13",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini-2024-07-18",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "o1-mini-2024-09-12",
            "reka-core-20240501",
            "reka-flash-20240226",
            "yi-large",
            "yi-large-preview",
        ],
        "zeroeval_gsm"
    );
    assert_eq!(
        models_of("zeroeval_math_l5"),
        [
            "Athene-70B",
            "Llama-3.1-405B-Inst@hyperbolic",
            "Llama-3.1-405B-Inst@sambanova",
            "Meta-Llama-3-70B-Instruct",
            "Meta-Llama-3-8B-Instruct",
            "Meta-Llama-3.1-70B-Instruct@hyperbolic",
            "Meta-Llama-3_1-70B-Instruct",
            "Meta-Llama-3_1-8B-Instruct",
            "Mistral-Large-2",
            "Phi-3-mini-4k-instruct",
            "Phi-3.5-mini-instruct",
            "Qwen2-72B-Instruct",
            "Qwen2-7B-Instruct",
            "Qwen2.5-32B-Instruct",
            "Qwen2.5-3B-Instruct",
            "Qwen2.5-72B-Instruct",
            "Qwen2.5-7B-Instruct",
            "Yi-1.5-34B-Chat",
            "Yi-1.5-9B-Chat",
            "chatgpt-4o-latest-24-09-07",
            "claude-3-5-haiku-20241022",
            "claude-3-5-sonnet-20240620",
            "claude-3-5-sonnet-20241022",
            "claude-3-haiku-20240307",
            "claude-3-opus-20240229",
            "deepseek-v2.5-0908",
            "gemini-1.5-flash",
            "gemini-1.5-flash-exp-0827",
            "gemini-1.5-pro",
            "gemini-1.5-pro-exp-0827",
            "gemma-2-27b-it",
            "gemma-2-2b-it",
            "gemma-2-9b-it",
            "gpt-3.5-turbo-0125",
            "gpt-4-0314",
            "gpt-4-turbo-2024-04-09",
            "gpt-4o-2024-05-13",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini-2024-07-18",
            "grok-2-1212",
            "o1-mini-2024-09-12",
            "o1-preview-2024-09-12",
            "reka-core-20240501",
        ],
        "zeroeval_math_l5"
    );
}

/// Each rename of [`datasets::MODEL_ALIASES`] that fires on the shared data, reported per
/// set with its rows; the other sets report none.
#[test]
fn renames_are_reported_per_set() {
    let renamed = |dataset: &str| -> Vec<(String, String, usize)> {
        set(dataset)
            .renamed
            .iter()
            .map(|r| (r.from.clone(), r.to.clone(), r.rows))
            .collect()
    };
    let r = |from: &str, to: &str, rows: usize| (from.to_string(), to.to_string(), rows);
    assert_eq!(
        renamed("mmlu_pro"),
        [
            r(
                "Mistral-7B-Instruct-v0.1",
                "mistralai/Mistral-7B-Instruct-v0.1",
                9_531
            ),
            r(
                "Mixtral-8x7B-Instruct-v0.1",
                "mistralai/Mixtral-8x7B-Instruct-v0.1",
                9_531
            ),
        ]
    );
    // ZeroEval's Cohere API `command-r` is MMLU-Pro's c4ai-command-r-v01 (03-2024 weights).
    assert_eq!(
        renamed("zeroeval_gsm"),
        [r("command-r", "c4ai-command-r-v01", 1_059)]
    );
    // AlpacaEval's configuration names become OpenAI's API names.
    assert_eq!(
        renamed("alpaca_eval"),
        [
            r("gpt35_turbo_instruct", "gpt-3.5-turbo-instruct", 678),
            r("gpt4_1106_preview", "gpt-4-1106-preview", 678),
            r("text_davinci_003", "text-davinci-003", 678),
        ]
    );
    for dataset in [
        "mmlu",
        "gsm8k",
        "mt_bench",
        "arena_bench",
        "llmrouter",
        "zeroeval_crux",
        "zeroeval_math_l5",
    ] {
        assert_eq!(renamed(dataset), [], "{dataset}");
    }
}

/// Models labelled by more than one source of the permissive data (RouteLLM, Arena,
/// MMLU-Pro, ZeroEval, LLMRouter): the bridges of the comparison graph.
#[test]
fn bridges_between_sources() {
    use std::collections::{BTreeMap, BTreeSet};
    let source = |dataset: &str| match dataset {
        "mmlu" | "gsm8k" | "mt_bench" => Some("routellm"),
        "arena_bench" => Some("arena"),
        "mmlu_pro" => Some("mmlu_pro"),
        "llmrouter" => Some("llmrouter"),
        d if d.starts_with("zeroeval_") => Some("zeroeval"),
        _ => None, // alpaca_eval: evaluation only
    };
    let frame = &loaded().frame;
    let datasets_col = frame
        .column(datasets::schema::DATASET)
        .unwrap()
        .str()
        .unwrap();
    let models_col = frame
        .column(datasets::schema::MODEL)
        .unwrap()
        .str()
        .unwrap();
    let mut sources: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (d, m) in datasets_col.iter().zip(models_col.iter()) {
        if let (Some(s), Some(m)) = (d.and_then(source), m) {
            sources.entry(m).or_default().insert(s);
        }
    }
    let bridges: Vec<(&str, Vec<&str>)> = sources
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(m, s)| (*m, s.iter().copied().collect()))
        .collect();
    assert_eq!(
        bridges,
        [
            ("Meta-Llama-3_1-70B-Instruct", vec!["mmlu_pro", "zeroeval"]),
            (
                "Meta-Llama-3_1-8B-Instruct",
                vec!["llmrouter", "mmlu_pro", "zeroeval"]
            ),
            ("Phi-3-mini-4k-instruct", vec!["mmlu_pro", "zeroeval"]),
            ("Qwen2.5-7B-Instruct", vec!["llmrouter", "zeroeval"]),
            ("c4ai-command-r-v01", vec!["mmlu_pro", "zeroeval"]),
            ("gemma-2-9b-it", vec!["llmrouter", "zeroeval"]),
            ("gpt-4-0314", vec!["arena", "zeroeval"]),
            ("gpt-4-1106-preview", vec!["arena", "routellm"]),
            (
                "mistralai/Mistral-7B-Instruct-v0.1",
                vec!["arena", "mmlu_pro"]
            ),
            (
                "mistralai/Mixtral-8x7B-Instruct-v0.1",
                vec!["arena", "mmlu_pro", "routellm", "zeroeval"]
            ),
        ]
    );
    // The permissive data: 97 distinct models, 447,293 (prompt, model) outcomes.
    assert_eq!(sources.len(), 97);
    let permissive_rows: usize = loaded()
        .report
        .sets
        .iter()
        .filter(|s| datasets::PERMISSIVE_DATASETS.contains(&s.dataset.as_str()))
        .map(|s| s.rows)
        .sum();
    assert_eq!(permissive_rows, 447_293);
}

/// Every set of the shared data is classed permissive or non-commercial, never both, so
/// that `train`'s default (the permissive list) cannot silently leave a new set out.
#[test]
fn every_set_has_a_license_class() {
    for s in &loaded().report.sets {
        let permissive = datasets::PERMISSIVE_DATASETS.contains(&s.dataset.as_str());
        let noncommercial = datasets::NONCOMMERCIAL_DATASETS.contains(&s.dataset.as_str());
        assert!(permissive != noncommercial, "{}", s.dataset);
    }
    assert_eq!(
        datasets::PERMISSIVE_DATASETS.len() + datasets::NONCOMMERCIAL_DATASETS.len(),
        loaded().report.sets.len()
    );
}
