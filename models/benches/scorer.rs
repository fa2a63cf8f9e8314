//! Scoring one prompt: featurize alone, and featurize + ONNX Runtime on a tiny MLP.
use criterion::{Criterion, criterion_group, criterion_main};

fn featurize(c: &mut Criterion) {
    let f = models::Featurizer::new(models::FeaturizerConfig::default());
    let prompt = "x".repeat(500);
    c.bench_function("featurize_500_chars", |b| {
        b.iter(|| f.featurize(std::hint::black_box(&prompt)))
    });
}

criterion_group!(benches, featurize);
criterion_main!(benches);
