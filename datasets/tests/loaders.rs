//! Each loader on its fixture (in the real layout), and the whole fixture folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use datasets::report::reasons;
use datasets::schema::*;
use datasets::text::{estimate_tokens, prompt_id};
use datasets::{LoadOptions, load, load_with};
use polars::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn frame_has_the_canonical_columns_and_dtypes() {
    let loaded = load(fixtures()).unwrap();
    let schema = loaded.frame.schema();
    let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
    assert_eq!(names, COLUMNS.to_vec());
    for name in COLUMNS {
        assert_eq!(schema.get(name), dtype(name).as_ref(), "{name}");
    }
    for name in [
        DATASET,
        PROMPT_ID,
        PROMPT,
        MODEL,
        SCORE,
        RAW_SCORE,
        INPUT_TOKENS,
        OUTPUT_TOKENS,
    ] {
        assert_eq!(loaded.frame.column(name).unwrap().null_count(), 0, "{name}");
    }
}

#[test]
fn whole_fixture_folder_finds_every_set_in_order() {
    let loaded = load(fixtures()).unwrap();
    let sets: Vec<&str> = loaded
        .report
        .sets
        .iter()
        .map(|s| s.dataset.as_str())
        .collect();
    assert_eq!(
        sets,
        [
            "mmlu",
            "gsm8k",
            "mt_bench",
            "arena_bench",
            "alpaca_eval",
            "my_eval",
            "support",
            "mmlu_pro"
        ]
    );
    assert!(
        loaded.report.ignored.is_empty(),
        "{:?}",
        loaded.report.ignored
    );
    assert_eq!(loaded.frame.height(), loaded.report.total_rows());
    // deterministic: a second load gives the same frame
    let again = load(fixtures()).unwrap();
    assert!(loaded.frame.equals_missing(&again.frame));
}

#[test]
fn mmlu_subjects_contamination_and_duplicates() {
    let loaded = load(fixtures().join("routellm/mmlu")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "mmlu");
    assert_eq!((report.rows, report.prompts, report.models), (6, 3, 2));
    assert_eq!(report.skipped_for(reasons::CONTAMINATED), 2);
    assert_eq!(report.skipped_for(reasons::DUPLICATE), 2);
    let f = &loaded.frame;
    let i = row(
        f,
        "mmlu",
        "Which bone",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    );
    assert_eq!(f64s(f, SCORE)[i], Some(0.0));
    assert_eq!(strs(f, CATEGORY)[i].as_deref(), Some("anatomy"));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[i],
        datasets::formats::routellm_wide::MMLU_OUTPUT_TOKENS
    );
    let j = row(f, "mmlu", "Which planet", "gpt-4-1106-preview");
    assert_eq!(strs(f, CATEGORY)[j].as_deref(), Some("astronomy"));
    assert_eq!(f64s(f, SCORE)[j], Some(1.0));
    // first occurrence kept: anatomy's "True" for gpt-4, not astronomy's "False"
    let k = row(f, "mmlu", "Which organ", "gpt-4-1106-preview");
    assert_eq!(f64s(f, SCORE)[k], Some(1.0));
    let prompt = strs(f, PROMPT)[k].clone().unwrap();
    assert_eq!(
        strs(f, PROMPT_ID)[k].as_deref(),
        Some(prompt_id(&prompt).as_str())
    );
    assert_eq!(u32s(f, INPUT_TOKENS)[k], estimate_tokens(&prompt));
    // cost from prices.csv at the fixture root: 10 $/Mtok in, 30 $/Mtok out
    let expected = (f64::from(estimate_tokens(&prompt)) * 10.0 + 30.0) / 1e6;
    assert!(close(f64s(f, COST_USD)[k].unwrap(), expected));
}

#[test]
fn gsm8k_response_tokens_contamination_and_missing_cells() {
    let loaded = load(fixtures().join("routellm/gsm8k/gsm8k_responses.csv")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "gsm8k");
    assert_eq!((report.rows, report.prompts, report.models), (3, 2, 2));
    assert_eq!(report.skipped_for(reasons::CONTAMINATED), 2);
    assert_eq!(report.skipped_for(reasons::MISSING_OUTCOME), 1);
    let f = &loaded.frame;
    let i = row(
        f,
        "gsm8k",
        "Tom has",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    );
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[i],
        estimate_tokens(" Tom has 3 + 2 = 5 apples.\n#### 5")
    );
    assert_eq!(f64s(f, RAW_SCORE)[i], Some(1.0));
    assert_eq!(strs(f, CATEGORY)[i], None);
}

#[test]
fn mt_bench_turns_scores_and_failed_judgements() {
    let loaded = load(fixtures().join("routellm/mt_bench")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "mt_bench");
    assert_eq!((report.rows, report.prompts, report.models), (5, 3, 2));
    assert_eq!(report.skipped_for(reasons::JUDGE_FAILED), 1);
    assert_eq!(report.skipped_for(reasons::CONTAMINATED), 2);
    let f = &loaded.frame;
    let t2 = row(
        f,
        "mt_bench",
        "Write a haiku about rain.\n\nNow make it about snow.",
        "gpt-4-1106-preview",
    );
    assert_eq!(
        strs(f, PROMPT)[t2].as_deref(),
        Some("Write a haiku about rain.\n\nNow make it about snow.")
    );
    assert_eq!(f64s(f, SCORE)[t2], Some(1.0));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[t2],
        estimate_tokens("White snow settles down, hushing every busy street.")
    );
    let prompts = strs(f, PROMPT);
    let t1 = (0..f.height())
        .find(|&i| {
            prompts[i].as_deref() == Some("Write a haiku about rain.")
                && strs(f, MODEL)[i].as_deref() == Some("mistralai/Mixtral-8x7B-Instruct-v0.1")
        })
        .unwrap();
    assert!(close(f64s(f, SCORE)[t1].unwrap(), 3.0 / 9.0));
    assert_eq!(f64s(f, RAW_SCORE)[t1], Some(4.0));
    assert_eq!(strs(f, CATEGORY)[t1].as_deref(), Some("writing"));
    assert_eq!(u32s(f, OUTPUT_TOKENS)[t1], estimate_tokens("Rain falls."));
    let no_marker = row(
        f,
        "mt_bench",
        "Write a haiku about rain.\n\nNow",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    );
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[no_marker],
        datasets::formats::mt_bench::FALLBACK_OUTPUT_TOKENS
    );
    assert_eq!(f64s(f, SCORE)[no_marker], Some(0.0));
}

#[test]
fn arena_scores_models_from_records_and_answer_tokens() {
    let loaded = load(fixtures().join("arena_hard")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "arena_bench");
    assert_eq!((report.rows, report.prompts, report.models), (3, 2, 2));
    assert_eq!(report.skipped_for(reasons::MISSING_SCORE), 1);
    assert_eq!(report.skipped_for(reasons::UNKNOWN_QUESTION), 1);
    assert_eq!(report.skipped_for(reasons::ANSWER_WITHOUT_JUDGEMENT), 1);
    let f = &loaded.frame;
    // gpt-4-turbo.jsonl holds gpt-4-1106-preview: the record's model wins
    let i = row(f, "arena_bench", "Explain recursion", "gpt-4-1106-preview");
    assert_eq!(f64s(f, SCORE)[i], Some(1.0));
    assert_eq!(f64s(f, RAW_SCORE)[i], Some(10.0));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[i],
        estimate_tokens("Recursion is when a function calls itself, like a set of nesting dolls.")
    );
    assert_eq!(strs(f, CATEGORY)[i].as_deref(), Some("arena-bench-v1"));
    let j = row(f, "arena_bench", "Explain recursion", "claude-2.1");
    assert!(close(f64s(f, SCORE)[j].unwrap(), 6.0 / 9.0));
    assert!(
        strs(f, MODEL)
            .iter()
            .all(|m| m.as_deref() != Some("gpt-4-turbo"))
    );
}

#[test]
fn alpaca_preferences_reference_rows_and_null_preference() {
    let loaded = load(fixtures().join("alpaca_eval")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "alpaca_eval");
    assert_eq!((report.rows, report.prompts, report.models), (5, 2, 3));
    assert_eq!(report.skipped_for(reasons::NULL_PREFERENCE), 1);
    let f = &loaded.frame;
    let i = row(f, "alpaca_eval", "What is the capital", "claude-2.1");
    assert!(close(f64s(f, SCORE)[i].unwrap(), 0.25));
    assert_eq!(f64s(f, RAW_SCORE)[i], Some(1.25));
    assert_eq!(strs(f, CATEGORY)[i].as_deref(), Some("helpful_base"));
    assert_eq!(u32s(f, OUTPUT_TOKENS)[i], estimate_tokens("Paris."));
    // The reference's configuration name is loaded under OpenAI's API name (an alias),
    // and the rename is reported.
    let r = row(f, "alpaca_eval", "Tell me a joke", "gpt-4-1106-preview");
    assert!(
        strs(f, MODEL)
            .iter()
            .all(|m| m.as_deref() != Some("gpt4_1106_preview"))
    );
    let renamed: Vec<(&str, &str, usize)> = report
        .renamed
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str(), r.rows))
        .collect();
    assert_eq!(renamed, [("gpt4_1106_preview", "gpt-4-1106-preview", 2)]);
    assert_eq!(f64s(f, SCORE)[r], Some(0.5));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[r],
        estimate_tokens("Why did the chicken cross the road? To get to the other side.")
    );
    let p = row(f, "alpaca_eval", "What is the capital", "phi-2");
    assert_eq!(f64s(f, SCORE)[p], Some(0.0));
}

#[test]
fn routerbench_csv_mmlu_pro_key_missing_cells_and_published_costs() {
    let loaded = load(fixtures().join("mmlu_pro/mmlu_pro_routerbench.csv")).unwrap();
    let report = &loaded.report.sets[0];
    assert_eq!(report.dataset, "mmlu_pro");
    assert_eq!((report.rows, report.prompts, report.models), (5, 3, 2));
    assert_eq!(report.skipped_for(reasons::MISSING_OUTCOME), 1);
    let f = &loaded.frame;
    let i = row(f, "mmlu_pro", "Question: Is a verbal", "model-a");
    assert_eq!(strs(f, CATEGORY)[i].as_deref(), Some("law"));
    assert_eq!(f64s(f, COST_USD)[i], Some(0.0001));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[i],
        estimate_tokens("The answer is (A)")
    );
    // no published cost and no price for model-b → null, never guessed
    let j = row(f, "mmlu_pro", "Question: Is a verbal", "model-b");
    assert_eq!(f64s(f, COST_USD)[j], None);
    assert_eq!(f64s(f, SCORE)[j], Some(0.0));
    // no published cost, model-a priced 1/2 $/Mtok
    let k = row(f, "mmlu_pro", "Question: 3*3", "model-a");
    let prompt = strs(f, PROMPT)[k].clone().unwrap();
    let expected = (f64::from(estimate_tokens(&prompt))
        + 2.0 * f64::from(estimate_tokens("The answer is (B)")))
        / 1e6;
    assert!(close(f64s(f, COST_USD)[k].unwrap(), expected));
    // the null cell of model-b is missing, not a 0
    let prompts = strs(f, PROMPT);
    let models = strs(f, MODEL);
    assert!(!(0..f.height()).any(|i| {
        prompts[i]
            .as_deref()
            .is_some_and(|p| p.starts_with("Question: 2+2"))
            && models[i].as_deref() == Some("model-b")
    }));
}

#[test]
fn routerbench_parquet_matches_csv_and_other_evals_are_routerbench() {
    let csv = load(fixtures().join("mmlu_pro/mmlu_pro_routerbench.csv")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let parquet = tmp.path().join("bench.parquet");
    // parquet with typed columns, as published
    let mut df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(fixtures().join("mmlu_pro/mmlu_pro_routerbench.csv")))
        .unwrap()
        .finish()
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut df)
        .unwrap();
    let options = LoadOptions {
        only: None,
        prices: Some(fixtures().join("prices.csv")),
    };
    let pq = load_with(&parquet, &options).unwrap();
    let cols = [PROMPT_ID, MODEL, CATEGORY];
    for c in cols {
        assert_eq!(strs(&csv.frame, c), strs(&pq.frame, c), "{c}");
    }
    assert_eq!(f64s(&csv.frame, SCORE), f64s(&pq.frame, SCORE));
    assert_eq!(f64s(&csv.frame, COST_USD), f64s(&pq.frame, COST_USD));

    // a non-MMLU-Pro eval makes the whole file `routerbench`, category = eval_name
    let text = std::fs::read_to_string(fixtures().join("mmlu_pro/mmlu_pro_routerbench.csv"))
        .unwrap()
        .replace("mmlu-pro-math.2,", "gsm8k.2,")
        .replace(
            "Options: A. 9 B. 6\",mmlu-pro-math",
            "Options: A. 9 B. 6\",grade-school-math",
        );
    let other = tmp.path().join("rb.csv");
    std::fs::write(&other, text).unwrap();
    let rb = load_with(&other, &options).unwrap();
    assert_eq!(rb.report.sets[0].dataset, "routerbench");
    let cats = strs(&rb.frame, CATEGORY);
    assert!(cats.contains(&Some("mmlu-pro-law".to_string())));
    assert!(cats.contains(&Some("grade-school-math".to_string())));
}

#[test]
fn generic_csv_and_jsonl() {
    let loaded = load(fixtures().join("generic")).unwrap();
    let sets: Vec<&str> = loaded
        .report
        .sets
        .iter()
        .map(|s| s.dataset.as_str())
        .collect();
    assert_eq!(sets, ["my_eval", "support"]);
    let mine = &loaded.report.sets[0];
    assert_eq!((mine.rows, mine.prompts, mine.models), (3, 2, 2));
    assert_eq!(mine.skipped_for(reasons::MISSING_OUTCOME), 1);
    let f = &loaded.frame;
    let i = row(f, "my_eval", "Summarise", "model-a");
    assert_eq!(f64s(f, RAW_SCORE)[i], Some(7.5));
    assert_eq!(u32s(f, OUTPUT_TOKENS)[i], 40);
    let prompt = "Summarise this paragraph about cats.";
    let expected = (f64::from(estimate_tokens(prompt)) * 1.0 + 40.0 * 2.0) / 1e6;
    assert!(close(f64s(f, COST_USD)[i].unwrap(), expected));
    let j = row(f, "my_eval", "Summarise", "model-b");
    assert_eq!(f64s(f, COST_USD)[j], Some(0.002));
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[j],
        datasets::formats::generic::DEFAULT_OUTPUT_TOKENS
    );
    let k = row(f, "my_eval", "Translate", "model-a");
    assert_eq!(f64s(f, RAW_SCORE)[k], Some(1.0));
    assert_eq!(strs(f, CATEGORY)[k].as_deref(), Some("translation"));

    let support = &loaded.report.sets[1];
    assert_eq!((support.rows, support.prompts, support.models), (3, 2, 2));
    let a = row(f, "support", "My order", "model-a");
    assert_eq!(
        u32s(f, OUTPUT_TOKENS)[a],
        estimate_tokens("Sorry to hear that, let me check your order.")
    );
    let r = row(f, "support", "How do I reset", "model-a");
    assert_eq!(u32s(f, INPUT_TOKENS)[r], 12);
}

#[test]
fn only_restricts_dataset_keys() {
    let options = LoadOptions {
        only: Some(vec!["mmlu".to_string(), "mmlu_pro".to_string()]),
        prices: None,
    };
    let loaded = load_with(fixtures(), &options).unwrap();
    let sets: Vec<&str> = loaded
        .report
        .sets
        .iter()
        .map(|s| s.dataset.as_str())
        .collect();
    assert_eq!(sets, ["mmlu", "mmlu_pro"]);
    assert!(
        strs(&loaded.frame, DATASET)
            .iter()
            .all(|d| matches!(d.as_deref(), Some("mmlu" | "mmlu_pro")))
    );
}

#[test]
fn prices_option_overrides_the_data_folder_table() {
    let tmp = tempfile::tempdir().unwrap();
    let prices = tmp.path().join("p.csv");
    std::fs::write(
        &prices,
        "model,input_usd_per_mtok,output_usd_per_mtok\ngpt-4-1106-preview,1000000,0\n",
    )
    .unwrap();
    let options = LoadOptions {
        only: None,
        prices: Some(prices),
    };
    let loaded = load_with(fixtures().join("routellm/gsm8k"), &options).unwrap();
    let f = &loaded.frame;
    let i = row(f, "gsm8k", "Tom has", "gpt-4-1106-preview");
    let prompt = strs(f, PROMPT)[i].clone().unwrap();
    assert!(close(
        f64s(f, COST_USD)[i].unwrap(),
        f64::from(estimate_tokens(&prompt))
    ));
    let j = row(
        f,
        "gsm8k",
        "Tom has",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    );
    assert_eq!(f64s(f, COST_USD)[j], None);
}

#[test]
fn split_column_keeps_prompts_together() {
    use datasets::split::{SplitRatios, with_split_column};
    let loaded = load(fixtures()).unwrap();
    let df = with_split_column(loaded.frame, &SplitRatios::default()).unwrap();
    let ids = strs(&df, PROMPT_ID);
    let splits = strs(&df, SPLIT);
    let mut seen = std::collections::HashMap::new();
    for (id, split) in ids.iter().zip(&splits) {
        let split = split.clone().unwrap();
        assert!(["train", "validation", "test"].contains(&split.as_str()));
        assert_eq!(
            seen.entry(id.clone()).or_insert_with(|| split.clone()),
            &split
        );
    }
}

#[test]
fn summary_reports_means_per_model() {
    let loaded = load(fixtures().join("alpaca_eval")).unwrap();
    let summaries = datasets::summary::summarize(&loaded.frame, &loaded.report).unwrap();
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!((s.rows, s.prompts, s.models.len()), (5, 2, 3));
    let claude = s.models.iter().find(|m| m.model == "claude-2.1").unwrap();
    assert!(close(claude.mean_score, (0.25 + 1.0) / 2.0));
    assert_eq!(claude.costed, 2);
    assert_eq!(s.skipped[0].count, 1);
}

#[test]
fn published_aliases_load_under_one_canonical_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("aliases.csv");
    std::fs::write(
        &file,
        "prompt,model,score\n\
         What is 2+2?,Mixtral-8x7B-Instruct-v0.1,1\n\
         What is 2+2?,gpt-4-1106-preview,1\n\
         Name a prime.,mistralai/Mixtral-8x7B-Instruct-v0.1,0\n\
         Name a prime.,Mixtral-8x7B-Instruct-v0.1,1\n\
         Name a prime.,Mistral-7B-Instruct-v0.1,1\n\
         Name a prime.,command-r,1\n\
         What is 2+2?,c4ai-command-r-v01,0\n",
    )
    .unwrap();
    let loaded = load(&file).unwrap();
    let set = &loaded.report.sets[0];
    // Mixtral under two spellings is one model, and so is Command R (ZeroEval's API name,
    // MMLU-Pro's Hugging Face name); Mistral-7B is renamed too.
    assert_eq!(set.models, 4);
    let models = strs(&loaded.frame, MODEL);
    assert!(
        models
            .iter()
            .all(|m| m.as_deref() != Some("Mixtral-8x7B-Instruct-v0.1")),
        "{models:?}"
    );
    // The second spelling on the same prompt is a duplicate: the first row is kept.
    assert_eq!(set.skipped_for(reasons::DUPLICATE), 1);
    let i = row(
        &loaded.frame,
        "aliases",
        "Name a prime.",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    );
    assert_eq!(f64s(&loaded.frame, SCORE)[i], Some(0.0));
    let renamed: Vec<(&str, &str, usize)> = set
        .renamed
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str(), r.rows))
        .collect();
    assert_eq!(
        renamed,
        [
            (
                "Mixtral-8x7B-Instruct-v0.1",
                "mistralai/Mixtral-8x7B-Instruct-v0.1",
                1
            ),
            (
                "Mistral-7B-Instruct-v0.1",
                "mistralai/Mistral-7B-Instruct-v0.1",
                1
            ),
            ("command-r", "c4ai-command-r-v01", 1)
        ]
    );
    // Both spellings' outcomes are one candidate's labels.
    let j = row(
        &loaded.frame,
        "aliases",
        "Name a prime.",
        "c4ai-command-r-v01",
    );
    let k = row(
        &loaded.frame,
        "aliases",
        "What is 2+2?",
        "c4ai-command-r-v01",
    );
    assert_eq!(
        (f64s(&loaded.frame, SCORE)[j], f64s(&loaded.frame, SCORE)[k]),
        (Some(1.0), Some(0.0))
    );
}
