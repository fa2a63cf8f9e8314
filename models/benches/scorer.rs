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

// `prompt_500()`: shared with train's `shipped_router` bench.
include!("common/prompt_500.rs");

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
