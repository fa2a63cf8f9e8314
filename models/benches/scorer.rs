//! Scoring one prompt: featurize alone, ONNX Runtime alone, and featurize + ONNX Runtime,
//! on a tiny MLP (2^18 × 32 embedding, 12 candidates) like the routers `train` exports.
//!
//! Run: `cargo bench -p models --bench scorer`.
#![allow(clippy::unwrap_used)] // a benchmark fails loudly

#[path = "../tests/support/tiny_model.rs"]
mod tiny_model;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use models::{Featurizer, OnnxScorer, Scorer};

/// A realistic 500-character prompt (an MMLU-style question with options).
fn prompt_500() -> String {
    let base = "The following is a multiple choice question about college physics. \
        A uniform solid sphere of mass 2.0 kg and radius 0.10 m rolls without slipping down \
        an incline of height 1.5 m, starting from rest. What is its translational speed at the \
        bottom of the incline? Assume g = 9.8 m/s^2 and neglect air resistance.\n\
        A. 3.2 m/s\nB. 4.6 m/s\nC. 5.4 m/s\nD. 6.1 m/s\nAnswer with the letter of the correct \
        option and explain your reasoning briefly, step by step please.";
    let mut s: String = base.chars().cycle().take(500).collect();
    s.truncate(500);
    s
}

fn bench(c: &mut Criterion) {
    let prompt = prompt_500();
    assert_eq!(prompt.chars().count(), 500);

    let featurizer = Featurizer::new(models::FeaturizerConfig::default());
    c.bench_function("featurize/500_chars", |b| {
        b.iter(|| featurizer.featurize(black_box(&prompt)))
    });

    let dir = tempfile::tempdir().unwrap();
    tiny_model::tiny_artifact(dir.path(), 12, 1 << 18, 32);
    let scorer = OnnxScorer::load(dir.path()).unwrap();
    let features = scorer.featurizer().featurize_batch(&[prompt.as_str()]);
    c.bench_function("onnx_only/500_chars", |b| {
        b.iter(|| scorer.score_features(black_box(&features)).unwrap())
    });
    // Width 1: the fixed cost of one ONNX Runtime call.
    let empty = scorer.featurizer().featurize_batch(&[""]);
    c.bench_function("onnx_only/empty_prompt", |b| {
        b.iter(|| scorer.score_features(black_box(&empty)).unwrap())
    });
    c.bench_function("featurize_and_onnx/500_chars", |b| {
        b.iter(|| scorer.score(black_box(&prompt)).unwrap())
    });
    let batch: Vec<&str> = std::iter::repeat_n(prompt.as_str(), 32).collect();
    c.bench_function("featurize_and_onnx/batch_32x500_chars", |b| {
        b.iter(|| scorer.score_batch(black_box(&batch)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
