//! Random and truncated bytes in place of each loader's files: every load returns Ok or
//! Err, never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::path::PathBuf;

use common::*;
use proptest::prelude::*;

/// One file per loader (path relative to the fixture root).
const TARGETS: [&str; 9] = [
    "routellm/mmlu/responses/mmlu_anatomy.csv",
    "routellm/gsm8k/gsm8k_responses.csv",
    "routellm/mt_bench/judgements.jsonl",
    "routellm/mt_bench/question.jsonl",
    "arena_hard/arena-bench-v1/model_judgment/claude-2.1.jsonl",
    "arena_hard/arena-bench-v1/model_answer/claude-2.1.jsonl",
    "alpaca_eval/results/claude-2.1/weighted_alpaca_eval_gpt4_turbo/annotations.json",
    "mmlu_pro/mmlu_pro_routerbench.csv",
    "generic/support_tickets.jsonl",
];

fn load_with_replaced(target: &str, bytes: &[u8]) {
    let (_tmp, root) = fixture_copy();
    let file: PathBuf = root.join(target);
    std::fs::write(&file, bytes).unwrap();
    // both the file alone and the whole folder; an error always names a file in it
    for path in [&file, &root] {
        if let Err(err) = datasets::load(path) {
            assert!(err.path().starts_with(&root), "{err:?}");
            assert!(!err.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(target in 0..TARGETS.len(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        load_with_replaced(TARGETS[target], &bytes);
    }

    #[test]
    fn truncated_files_never_panic(target in 0..TARGETS.len(), cut in 0.0f64..1.0) {
        let original = std::fs::read(fixtures().join(TARGETS[target])).unwrap();
        let keep = (original.len() as f64 * cut) as usize;
        load_with_replaced(TARGETS[target], &original[..keep]);
    }
}

#[test]
fn random_parquet_bytes_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.parquet");
    for bytes in [
        &b""[..],
        b"PAR1",
        b"PAR1\x00\x00\x00\x00PAR1",
        b"PAR1garbagegarbagePAR1",
    ] {
        std::fs::write(&file, bytes).unwrap();
        assert!(datasets::load(&file).is_err());
    }
}
