//! Scoring one prompt with a trained router artifact (by default the shipped
//! `models/default`), through `models::OnnxScorer`, the scorer `serve` uses: what the
//! network's own graph (embedding size, heads, the predicted-category prior, a semantic
//! table) costs per request. The `scorer` bench measures the same calls on a fixed
//! synthetic MLP.
//!
//! Run: `cargo bench -p models --bench shipped_router`; `ARBITER_BENCH_ROUTER=DIR` benches
//! another artifact directory, and `ARBITER_BENCH_ROUTER_B=DIR` a second one in the same
//! process (`shipped_b/…`), for an A/B of two routers under the same load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails loudly

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use models::routing::catalog_inputs;
use models::{Catalog, Constraints, Objective, OnnxScorer, RequestFacts, Scorer, decide};

// `prompt_500()`: the same prompt as the scorer bench.
include!("common/prompt_500.rs");

fn bench_router(c: &mut Criterion, group: &str, dir: &PathBuf) {
    let scorer = OnnxScorer::load(dir)
        .unwrap_or_else(|e| panic!("loading the router in {}: {e}", dir.display()));
    let prompt = prompt_500();
    let features = scorer.featurizer().featurize_batch(&[prompt.as_str()]);
    c.bench_function(&format!("{group}/featurize/500_chars"), |b| {
        b.iter(|| {
            scorer
                .featurizer()
                .featurize_batch(black_box(&[prompt.as_str()]))
        })
    });
    c.bench_function(&format!("{group}/onnx_only/500_chars"), |b| {
        b.iter(|| scorer.score_features(black_box(&features)).unwrap())
    });
    c.bench_function(&format!("{group}/featurize_and_onnx/500_chars"), |b| {
        b.iter(|| scorer.score(black_box(&prompt)).unwrap())
    });
    // The whole decision as `serve` and `train eval` make it: scores, the policy's inputs
    // for every candidate of the artifact's catalog, and the policy (`cost` objective).
    let catalog = Catalog::from_manifest(scorer.manifest());
    let decision = || {
        let p = scorer.score(black_box(&prompt)).unwrap();
        let request = RequestFacts::user_prompt(&prompt);
        let inputs = catalog_inputs(&catalog, &p.quality, &request);
        decide(&inputs, &Objective::Cost, &Constraints::default())
    };
    let decision_name = format!("decision_{}_candidates", scorer.manifest().candidates.len());
    c.bench_function(&format!("{group}/{decision_name}/500_chars"), |b| {
        b.iter(decision)
    });
    // The same calls after the core's private caches were overwritten, as in the gateway,
    // where a request's HTTP and JSON work runs between two decisions: what the hot loops
    // above do not show (docs/benchmarks.md "Decision time in the gateway").
    let mut evict = vec![0u8; EVICT_BYTES];
    let mut cold = |name: &str, run: &mut dyn FnMut()| {
        c.bench_function(&format!("{group}/{name}_cold_l2/500_chars"), |b| {
            b.iter_batched(
                || overwrite(&mut evict),
                |()| run(),
                BatchSize::PerIteration,
            )
        });
    };
    cold(&decision_name, &mut || {
        black_box(decision());
    });
    cold("featurize", &mut || {
        black_box(
            scorer
                .featurizer()
                .featurize_batch(black_box(&[prompt.as_str()])),
        );
    });
    cold("onnx_only", &mut || {
        black_box(scorer.score_features(black_box(&features)).unwrap());
    });
}

/// Twice the 2-core VM's per-core L2 (4 MiB): enough to push the router's tables out of it.
const EVICT_BYTES: usize = 8 << 20;

/// Writes one byte per cache line of `buffer`.
fn overwrite(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    black_box(&buffer[0]);
}

fn bench(c: &mut Criterion) {
    let dir = std::env::var_os("ARBITER_BENCH_ROUTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/default")));
    bench_router(c, "shipped", &dir);
    if let Some(other) = std::env::var_os("ARBITER_BENCH_ROUTER_B") {
        bench_router(c, "shipped_b", &PathBuf::from(other));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
