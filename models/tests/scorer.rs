//! The ONNX scorer against a tiny hand-built graph and its plain-Rust reference.

mod support;

use std::sync::Arc;

use models::{OnnxScorer, Scorer, ScorerError};
use support::tiny_model::{TinyModel, manifest, tiny_artifact, write_artifact};

const PROMPTS: [&str; 4] = [
    "What is the capital of France?",
    "Write a Rust function that reverses a linked list.\n\nfn reverse(head: Option<Box<Node>>) {}",
    "",
    "Solve for x: 3x + 7 = 22. Show each step.",
];

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn scores_match_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (m, model) = tiny_artifact(dir.path(), 3, 1 << 12, 8);
    let scorer = OnnxScorer::load(dir.path()).unwrap();
    assert_eq!(scorer.manifest().candidates.len(), 3);
    for prompt in PROMPTS {
        let p = scorer.score(prompt).unwrap();
        assert_eq!(p.quality.len(), 3);
        assert_eq!(p.task_probs.len(), m.tasks.len());
        assert!(p.quality.iter().all(|q| (0.0..=1.0).contains(q)));
        let sum: f32 = p.task_probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        let expected = &model.reference(&scorer.featurizer().featurize_batch(&[prompt]))[0];
        assert_close(&p.quality, &expected.0);
        assert_close(&p.task_probs, &expected.1);
        assert!(p.top_task().is_some());
    }
}

#[test]
fn batch_equals_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    tiny_artifact(dir.path(), 2, 1 << 12, 8);
    let scorer = OnnxScorer::load(dir.path()).unwrap();
    let batch = scorer.score_batch(&PROMPTS).unwrap();
    assert_eq!(batch.len(), PROMPTS.len());
    for (prompt, b) in PROMPTS.iter().zip(&batch) {
        let one = scorer.score(prompt).unwrap();
        assert_close(&one.quality, &b.quality);
        assert_close(&one.task_probs, &b.task_probs);
    }
    assert!(scorer.score_batch(&[]).unwrap().is_empty());
    let features = scorer.featurizer().featurize_batch(&PROMPTS);
    let direct = scorer.score_features(&features).unwrap();
    assert_eq!(direct, batch);
}

#[test]
fn concurrent_callers_get_the_same_scores() {
    let dir = tempfile::tempdir().unwrap();
    tiny_artifact(dir.path(), 2, 1 << 12, 8);
    let scorer = Arc::new(OnnxScorer::load(dir.path()).unwrap());
    let expected: Vec<_> = PROMPTS.iter().map(|p| scorer.score(p).unwrap()).collect();
    let expected = Arc::new(expected);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let scorer = Arc::clone(&scorer);
            let expected = Arc::clone(&expected);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    for (p, e) in PROMPTS.iter().zip(expected.iter()) {
                        assert_eq!(&scorer.score(p).unwrap(), e);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn more_candidates_in_manifest_than_graph_outputs_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(3, 1 << 10);
    let model = TinyModel::new(1 << 10, 4, m.featurizer.dense_dim(), 2, m.tasks.len(), 1);
    write_artifact(dir.path(), &m, &model);
    let err = OnnxScorer::load(dir.path()).unwrap_err();
    assert!(matches!(err, ScorerError::Mismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("router.onnx"), "{msg}");
    assert!(
        msg.contains("`quality`") && msg.contains("3 candidates"),
        "{msg}"
    );
}

#[test]
fn task_count_mismatch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(2, 1 << 10);
    let model = TinyModel::new(
        1 << 10,
        4,
        m.featurizer.dense_dim(),
        2,
        m.tasks.len() - 1,
        1,
    );
    write_artifact(dir.path(), &m, &model);
    let msg = OnnxScorer::load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("`task_probs`") && msg.contains("tasks"),
        "{msg}"
    );
}

#[test]
fn dense_width_mismatch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(2, 1 << 10);
    let model = TinyModel::new(
        1 << 10,
        4,
        m.featurizer.dense_dim() + 1,
        2,
        m.tasks.len(),
        1,
    );
    write_artifact(dir.path(), &m, &model);
    let msg = OnnxScorer::load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("`dense`"), "{msg}");
}

#[test]
fn renamed_input_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest(2, 1 << 10);
    m.onnx.ids = "token_ids".into();
    let model = TinyModel::new(1 << 10, 4, m.featurizer.dense_dim(), 2, m.tasks.len(), 1);
    write_artifact(dir.path(), &m, &model);
    let msg = OnnxScorer::load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("no input `token_ids`") && msg.contains("ids, weights, dense"),
        "{msg}"
    );
}

#[test]
fn corrupt_onnx_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    manifest(2, 1 << 10).write(dir.path()).unwrap();
    std::fs::write(dir.path().join("router.onnx"), b"this is not protobuf").unwrap();
    let err = OnnxScorer::load(dir.path()).unwrap_err();
    assert!(matches!(err, ScorerError::Load { .. }), "{err}");
    assert!(err.to_string().contains("router.onnx"));
}

#[test]
fn bad_feature_batch_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    tiny_artifact(dir.path(), 2, 1 << 10, 4);
    let scorer = OnnxScorer::load(dir.path()).unwrap();
    let mut batch = scorer.featurizer().featurize_batch(&["hello"]);
    batch.dense.pop();
    batch.dense_dim -= 1;
    let err = scorer.score_features(&batch).unwrap_err();
    assert!(matches!(err, ScorerError::Input(_)), "{err}");
}
