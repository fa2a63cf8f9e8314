//! Bad input: each error kind, on a corrupted copy of a fixture, names the file and
//! where (line/row/record) and what (column/field) is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::path::Path;

use common::*;
use datasets::{LoadError, Location, load};

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[test]
fn misnamed_column_is_reported_with_the_columns_found() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/mmlu/responses/mmlu_anatomy.csv");
    edit(&file, |t| t.replacen("prompt,", "question,", 1));
    let err = load(&root).unwrap_err();
    match &err {
        LoadError::MissingColumn {
            path,
            column,
            found,
        } => {
            assert_eq!(path, &file);
            assert_eq!(column, "prompt");
            assert!(found.contains(&"question".to_string()));
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("mmlu_anatomy.csv") && message.contains("`prompt`"),
        "{message}"
    );
}

#[test]
fn missing_price_column_is_reported() {
    let (_tmp, root) = fixture_copy();
    edit(&root.join("prices.csv"), |t| {
        t.replacen("output_usd_per_mtok", "out", 1)
    });
    let err = load(&root).unwrap_err();
    assert!(
        matches!(&err, LoadError::MissingColumn { column, .. } if column == "output_usd_per_mtok"),
        "{err:?}"
    );
}

#[test]
fn non_boolean_cell_names_row_and_column() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/mmlu/responses/mmlu_anatomy.csv");
    edit(&file, |t| {
        t.replacen("Answer:\",True,True", "Answer:\",True,Maybe", 1)
    });
    let err = load(&root).unwrap_err();
    match &err {
        LoadError::NotBoolean {
            path,
            location,
            column,
            value,
        } => {
            assert_eq!(path, &file);
            assert_eq!(*location, Location::Row(2));
            assert_eq!(column, "gpt-4-1106-preview");
            assert_eq!(value, "Maybe");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("row 2"), "{err}");
}

#[test]
fn judge_score_out_of_range_names_line_and_field() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/mt_bench/judgements.jsonl");
    edit(&file, |t| t.replacen("\"score\": 9,", "\"score\": 11,", 1));
    let err = load(&root).unwrap_err();
    match &err {
        LoadError::ScoreOutOfRange {
            path,
            location,
            field,
            value,
            ..
        } => {
            assert_eq!(path, &file);
            assert_eq!(*location, Location::Line(1));
            assert_eq!(field, "score");
            assert_eq!(*value, 11.0);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn preference_out_of_range_names_the_record() {
    let (_tmp, root) = fixture_copy();
    let file = root
        .join("alpaca_eval/results/claude-2.1/weighted_alpaca_eval_gpt4_turbo/annotations.json");
    edit(&file, |t| {
        t.replacen("\"preference\": 2.0", "\"preference\": \"2.5\"", 1)
    });
    let err = load(&root).unwrap_err();
    assert!(
        matches!(&err, LoadError::ScoreOutOfRange { location: Location::Record(1), field, .. } if field == "preference"),
        "{err:?}"
    );
}

#[test]
fn routerbench_and_generic_scores_out_of_range() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("mmlu_pro/mmlu_pro_routerbench.csv");
    edit(&file, |t| {
        t.replacen("mmlu-pro-law,1.0,0.0", "mmlu-pro-law,1.5,0.0", 1)
    });
    let err = load(&file).unwrap_err();
    assert!(
        matches!(&err, LoadError::ScoreOutOfRange { location: Location::Row(1), field, .. } if field == "model-a"),
        "{err:?}"
    );
    let file = root.join("generic/support_tickets.jsonl");
    edit(&file, |t| t.replacen("\"score\": 0.4", "\"score\": 4", 1));
    let err = load(&file).unwrap_err();
    // the second record is on line 3 (line 2 is blank)
    assert!(
        matches!(
            &err,
            LoadError::ScoreOutOfRange {
                location: Location::Line(3),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_json_names_the_line() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("arena_hard/arena-bench-v1/model_judgment/claude-2.1.jsonl");
    edit(&file, |t| {
        t.replacen("\"score\": 7.0}", "\"score\": 7.0", 1)
    });
    let err = load(&root).unwrap_err();
    match &err {
        LoadError::InvalidJson { path, location, .. } => {
            assert_eq!(path, &file);
            assert_eq!(*location, Location::Line(1));
        }
        other => panic!("unexpected {other:?}"),
    }
    let (_tmp, root) = fixture_copy();
    let file =
        root.join("alpaca_eval/results/phi-2/weighted_alpaca_eval_gpt4_turbo/annotations.json");
    edit(&file, |t| t[..t.len() / 2].to_string());
    let err = load(&root).unwrap_err();
    assert!(
        matches!(&err, LoadError::InvalidJson { path, .. } if path == &file),
        "{err:?}"
    );
}

#[test]
fn wrong_field_type_names_the_field() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("arena_hard/arena-bench-v1/model_judgment/gpt-4-turbo.jsonl");
    edit(&file, |t| {
        t.replacen("\"score\": 8", "\"score\": \"eight\"", 1)
    });
    let err = load(&root).unwrap_err();
    match &err {
        LoadError::BadField {
            path,
            location,
            field,
            ..
        } => {
            assert_eq!(path, &file);
            assert_eq!(*location, Location::Line(2));
            assert_eq!(field, "score");
        }
        other => panic!("unexpected {other:?}"),
    }
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/mt_bench/question.jsonl");
    edit(&file, |t| {
        t.replacen(
            "\"turns\": [\"Write a haiku",
            "\"turnz\": [\"Write a haiku",
            1,
        )
    });
    let err = load(&root).unwrap_err();
    assert!(err.to_string().contains("turns"), "{err}");
    assert!(
        matches!(
            &err,
            LoadError::BadField {
                location: Location::Line(1),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn empty_sets_are_errors() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/gsm8k/gsm8k_responses.csv");
    edit(&file, |t| t.lines().next().unwrap().to_string() + "\n");
    let err = load(&root).unwrap_err();
    assert!(matches!(&err, LoadError::EmptySet { .. }), "{err:?}");
    assert!(err.to_string().contains("gsm8k"), "{err}");

    let (_tmp, root) = fixture_copy();
    let dir = root.join("alpaca_eval/results");
    for model in ["claude-2.1", "gpt4_1106_preview", "phi-2"] {
        std::fs::write(
            dir.join(model)
                .join("weighted_alpaca_eval_gpt4_turbo/annotations.json"),
            "[]",
        )
        .unwrap();
    }
    let err = load(&root).unwrap_err();
    assert!(
        matches!(&err, LoadError::EmptySet { path, .. } if path == &dir),
        "{err:?}"
    );
}

#[test]
fn unrecognised_file_and_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("notes.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let err = load(&file).unwrap_err();
    assert!(
        matches!(&err, LoadError::Unrecognised { path, .. } if path == &file),
        "{err:?}"
    );
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(&err, LoadError::NothingFound { .. }), "{err:?}");
    let err = load(tmp.path().join("missing")).unwrap_err();
    assert!(matches!(&err, LoadError::Io { .. }), "{err:?}");
}

#[test]
fn mt_bench_turn_beyond_the_question_is_an_error() {
    let (_tmp, root) = fixture_copy();
    let file = root.join("routellm/mt_bench/judgements.jsonl");
    edit(&file, |t| t.replacen("\"turn\": 1,", "\"turn\": 3,", 1));
    let err = load(&root).unwrap_err();
    assert!(
        matches!(&err, LoadError::BadField { location: Location::Line(1), field, .. } if field == "turn"),
        "{err:?}"
    );
}
