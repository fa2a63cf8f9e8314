//! Scoring one prompt with a trained router artifact (by default the shipped
//! `models/default`), through `models::OnnxScorer`, the scorer `serve` uses: what the
//! network's own graph (embedding size, heads, the predicted-category prior) costs per
//! request. `models`' `scorer` bench measures the same calls on a fixed synthetic MLP.
//!
//! Run: `cargo bench -p train --bench shipped_router`; `ARBITER_BENCH_ROUTER=DIR` benches
//! another artifact directory (e.g. a previous router, to compare).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails loudly

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use models::{OnnxScorer, Scorer};

/// The 500-character MMLU-style prompt of `models`' scorer bench.
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
    let dir = std::env::var_os("ARBITER_BENCH_ROUTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default"))
        });
    let scorer = OnnxScorer::load(&dir)
        .unwrap_or_else(|e| panic!("loading the router in {}: {e}", dir.display()));
    let prompt = prompt_500();
    let features = scorer.featurizer().featurize_batch(&[prompt.as_str()]);
    c.bench_function("shipped/featurize/500_chars", |b| {
        b.iter(|| {
            scorer
                .featurizer()
                .featurize_batch(black_box(&[prompt.as_str()]))
        })
    });
    c.bench_function("shipped/onnx_only/500_chars", |b| {
        b.iter(|| scorer.score_features(black_box(&features)).unwrap())
    });
    c.bench_function("shipped/featurize_and_onnx/500_chars", |b| {
        b.iter(|| scorer.score(black_box(&prompt)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
