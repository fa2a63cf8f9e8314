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

// `prompt_500()`: the same prompt as `models`' scorer bench.
include!("../../models/benches/common/prompt_500.rs");

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
