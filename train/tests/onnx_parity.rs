//! Trains a small router on a synthetic canonical table, exports it, and checks that burn
//! and ONNX Runtime (through `models::OnnxScorer`, the scorer `serve` uses) agree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)] // test helpers outside #[test] fns; the parity gap is printed

use burn::backend::{Autodiff, NdArray};
use datasets::PriceTable;
use datasets::schema;
use datasets::split::SplitRatios;
use models::{
    Featurizer, FeaturizerConfig, HashedNgramsConfig, LabelSemantics, OnnxScorer, Scorer, taxonomy,
};
use polars::prelude::*;
use train::data::{self, Example, TrainingData};
use train::inference;
use train::model::{Members, ModelConfig};
use train::onnx::{ArtifactInfo, write_artifact};
use train::training::{TrainingConfig, train, train_ensemble};

const PROMPTS: usize = 1200;
const MODELS: [&str; 3] = ["big-model", "coder-model", "small-model"];

/// A deterministic pseudo-random number in [0, 1) from two integers.
fn noise(a: usize, b: usize) -> f64 {
    let mut z = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 31;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Three kinds of prompt (math, code, trivia) with model skills that depend on the kind.
fn synthetic_table() -> PolarsResult<DataFrame> {
    let words = [
        "apple", "river", "engine", "planet", "violin", "harbor", "canyon", "lantern",
    ];
    let mut cols: [Vec<String>; 5] = Default::default();
    let (mut score, mut input, mut output, mut cost) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..PROMPTS {
        let w = words[i % words.len()];
        let (prompt, category, skills) = match i % 3 {
            0 => (
                format!(
                    "Solve for x: {}x + {} = {}. Show the steps about the {w}.",
                    i % 17 + 2,
                    i % 31,
                    i * 7 % 101
                ),
                "high_school_mathematics",
                [0.9, 0.5, 0.3],
            ),
            1 => (
                format!(
                    "Write a Python function `{w}_{i}(xs)` that returns the sum of the list; use a for loop {{ }}."
                ),
                "college_computer_science",
                [0.8, 0.9, 0.4],
            ),
            _ => (
                format!(
                    "Which of the following is true about the {w} number {i}?\nA. one\nB. two\nC. three\nD. four"
                ),
                "global_facts",
                [0.8, 0.6, 0.7],
            ),
        };
        let id = models::prompt_id(&prompt);
        for (m, model) in MODELS.iter().enumerate() {
            // The small model has no outcome for every fifth prompt: a masked pair.
            if m == 2 && i % 5 == 0 {
                continue;
            }
            cols[0].push("mmlu".into());
            cols[1].push(id.clone());
            cols[2].push(prompt.clone());
            cols[3].push(category.into());
            cols[4].push((*model).into());
            score.push(if noise(i, m) < skills[m] { 1.0 } else { 0.0 });
            input.push((prompt.len() / 4) as u32);
            output.push(100u32);
            cost.push(Some(1e-4 * (3 - m) as f64));
        }
    }
    let n = score.len();
    let [dataset, id, prompt, category, model] = cols;
    DataFrame::new(
        n,
        vec![
            Column::new(schema::DATASET.into(), dataset),
            Column::new(schema::PROMPT_ID.into(), id),
            Column::new(schema::PROMPT.into(), prompt),
            Column::new(schema::CATEGORY.into(), category),
            Column::new(schema::MODEL.into(), model),
            Column::new(schema::SCORE.into(), score.clone()),
            Column::new(schema::RAW_SCORE.into(), score),
            Column::new(schema::INPUT_TOKENS.into(), input),
            Column::new(schema::OUTPUT_TOKENS.into(), output),
            Column::new(schema::COST_USD.into(), cost),
        ],
    )
}

fn featurizer_config() -> FeaturizerConfig {
    FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
        buckets: 1 << 12,
        max_features: 128,
        ..HashedNgramsConfig::default()
    })
}

fn training_data() -> TrainingData {
    training_data_with(&Featurizer::new(featurizer_config()))
}

fn training_data_with(featurizer: &Featurizer) -> TrainingData {
    let data = data::build(
        &synthetic_table().unwrap(),
        featurizer,
        &PriceTable::empty(),
        &SplitRatios::default(),
    )
    .unwrap();
    assert_eq!(data.examples.len(), PROMPTS);
    assert_eq!(data.candidate_names(), MODELS);
    data
}

fn small_config(data: &TrainingData) -> TrainingConfig {
    small_config_with(data, featurizer_config().dense_dim())
}

fn small_config_with(data: &TrainingData, dense_dim: usize) -> TrainingConfig {
    let model_config = ModelConfig::new(1 << 12, dense_dim, MODELS.len(), taxonomy::TASKS.len())
        .with_embed_dim(16)
        .with_hidden(32)
        .with_factor_dim(8)
        .with_n_categories(data.category_classes.len())
        // The exported graph adds the per-prompt difficulty and the predicted-category prior
        // (category softmax at a temperature · prior table) as burn does.
        .with_difficulty(true)
        .with_category_prior(true)
        .with_category_temperature(1.5);
    TrainingConfig::new(model_config)
        .with_max_epochs(3)
        .with_batch_size(64)
        .with_lr(1e-2)
        .with_prior_mix(0.3)
        .with_category_weight(0.5)
}

/// Exports `model`, scores every prompt with burn and with ONNX Runtime (the serving scorer,
/// which featurizes the raw text itself), and returns the largest absolute difference.
fn max_parity_gap<M: Members<NdArray<f32>>>(model: &M, data: &TrainingData) -> f32 {
    max_parity_gap_with(model, data, featurizer_config(), None)
}

/// As [`max_parity_gap`], for a featurizer whose semantic table lies in `semantic_dir`
/// (copied into the artifact, as `train --semantic` does).
fn max_parity_gap_with<M: Members<NdArray<f32>>>(
    model: &M,
    data: &TrainingData,
    featurizer: FeaturizerConfig,
    semantic_dir: Option<&std::path::Path>,
) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    if let (Some(from), Some(s)) = (semantic_dir, featurizer.semantic()) {
        for file in [&s.table, &s.vocab] {
            std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
        }
    }
    let info = ArtifactInfo {
        name: "parity-test".into(),
        candidates: data.candidates.clone(),
        featurizer,
        tasks: taxonomy::TASKS.iter().map(|t| t.to_string()).collect(),
        task_mapping: data.task_mapping.clone(),
        labels: LabelSemantics::default(),
        training: serde_json::json!({ "members": model.members().len() }),
        validation: serde_json::Value::Null,
    };
    let written = write_artifact(dir.path(), model, info).unwrap();
    assert!(written.onnx_bytes > model.members().len() as u64 * (1 << 12) * 16 * 4);

    let device = Default::default();
    let all: Vec<&Example> = data.examples.iter().collect();
    let burn_out = inference::predict(model, &all, 256, &device);
    let scorer = OnnxScorer::load(dir.path()).unwrap();
    assert_eq!(scorer.manifest().candidate_names(), MODELS);
    let mut max_diff = 0f32;
    let mut compared = 0;
    for (c, chunk) in all.chunks(100).enumerate() {
        let prompts: Vec<&str> = chunk.iter().map(|e| e.prompt.as_str()).collect();
        let onnx = scorer.score_batch(&prompts).unwrap();
        assert_eq!(onnx.len(), chunk.len());
        for (j, p) in onnx.iter().enumerate() {
            let i = c * 100 + j;
            for (a, b) in p.quality.iter().zip(burn_out.quality(i)) {
                max_diff = max_diff.max((a - b).abs());
            }
            for (a, b) in p.task_probs.iter().zip(burn_out.task_probs(i)) {
                max_diff = max_diff.max((a - b).abs());
            }
            compared += 1;
        }
    }
    assert!(compared >= 1000);
    // The model learned something: its scores are not constant.
    let spread = burn_out
        .quality
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &q| (lo.min(q), hi.max(q)));
    assert!(spread.1 - spread.0 > 0.05, "scores barely vary: {spread:?}");
    eprintln!("parity: {compared} prompts, max |burn - onnx| = {max_diff:e}");
    max_diff
}

#[test]
fn burn_and_onnx_runtime_scores_agree() {
    let data = training_data();
    let config = small_config(&data);
    let device = Default::default();
    let outcome = train::<Autodiff<NdArray<f32>>>(&config, &data, &device, false).unwrap();
    assert!(!outcome.history.is_empty());
    let first = outcome.history[0].train_loss;
    let last = outcome.history.last().unwrap().train_loss;
    assert!(
        last < first,
        "training loss did not fall: {first} -> {last}"
    );
    // The prior table starts from the train split's category means: the maths category
    // (big-model right 90% of the time) starts far above the small model's 30%.
    let table = outcome.model.prior_table.as_ref().unwrap().val();
    assert_eq!(table.dims(), [data.category_classes.len(), MODELS.len()]);
    let gap = max_parity_gap(&outcome.model, &data);
    assert!(gap < 1e-4, "burn and ONNX Runtime disagree by {gap}");
}

/// A router with the semantic featurizer: the table's prompt vector is part of the dense
/// input, and the scorer (which loads the table from the artifact) gives burn's scores.
#[test]
fn a_router_with_a_semantic_table_scores_alike_in_burn_and_onnx_runtime() {
    let table_dir = tempfile::tempdir().unwrap();
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .map(String::from)
        .to_vec();
    for w in "solve for x show the steps about write a python function that returns sum of list use loop what is capital apple river engine planet violin harbor canyon lantern . : + = ` ( ) { } ; ?".split(' ') {
        vocab.push(w.to_string());
    }
    std::fs::write(table_dir.path().join("vocab.txt"), vocab.join("\n")).unwrap();
    const DIM: usize = 8;
    let rows: Vec<f32> = (0..vocab.len() * DIM)
        .map(|i| noise(i, 7) as f32 - 0.5)
        .collect();
    models::semantic::write_table(
        &table_dir.path().join("semantic.safetensors"),
        &rows,
        DIM,
        Default::default(),
    )
    .unwrap();
    let semantic =
        models::semantic::describe(table_dir.path(), "semantic.safetensors", "vocab.txt").unwrap();
    let FeaturizerConfig::HashedNgrams(mut c) = featurizer_config();
    c.semantic = Some(semantic);
    let config = FeaturizerConfig::HashedNgrams(c);
    assert_eq!(config.dense_dim(), featurizer_config().dense_dim() + DIM);
    assert_eq!(
        config.kinds(),
        ["hashed_ngrams", "dense_stats", "static_semantic"]
    );
    let featurizer = Featurizer::load(config.clone(), table_dir.path()).unwrap();
    let x = featurizer.featurize("Solve for x: the apple river.");
    let tail = &x.dense[x.dense.len() - DIM..];
    let norm: f32 = tail.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(
        (norm - 1.0).abs() < 1e-4,
        "the semantic part is unit length: {tail:?}"
    );

    let data = training_data_with(&featurizer);
    let train_config = small_config_with(&data, config.dense_dim()).with_max_epochs(2);
    let device = Default::default();
    let outcome = train::<Autodiff<NdArray<f32>>>(&train_config, &data, &device, false).unwrap();
    let gap = max_parity_gap_with(&outcome.model, &data, config, Some(table_dir.path()));
    assert!(gap < 1e-4, "burn and ONNX Runtime disagree by {gap}");
}

#[test]
fn an_ensemble_exports_the_mean_of_its_members() {
    let data = training_data();
    // Without the category prior: the training-only category head must not change what
    // is exported.
    let mut config = small_config(&data).with_max_epochs(2).with_members(2);
    config.model = config.model.with_category_prior(false);
    let device = Default::default();
    let outcome = train_ensemble::<Autodiff<NdArray<f32>>>(&config, &data, &device, false).unwrap();
    assert_eq!(outcome.members.len(), 2);
    assert_eq!(
        outcome.members.iter().map(|m| m.seed).collect::<Vec<_>>(),
        [config.seed, config.seed + 1]
    );
    assert!(outcome.validation.is_some());
    let gap = max_parity_gap(&outcome.model, &data);
    assert!(gap < 1e-4, "burn and ONNX Runtime disagree by {gap}");
}

/// Fine-tuning starts from the artifact itself: its weights read back from `router.onnx`
/// into a fresh network give the same scores, and candidate-indexed weights follow the
/// candidates by name when the new run lists them in another order.
#[test]
fn an_artifact_read_back_scores_as_it_did() {
    let data = training_data();
    let config = small_config(&data).with_max_epochs(2);
    let device = Default::default();
    let outcome = train::<Autodiff<NdArray<f32>>>(&config, &data, &device, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let info = ArtifactInfo {
        name: "import-test".into(),
        candidates: data.candidates.clone(),
        featurizer: featurizer_config(),
        tasks: taxonomy::TASKS.iter().map(|t| t.to_string()).collect(),
        task_mapping: data.task_mapping.clone(),
        labels: LabelSemantics::default(),
        training: serde_json::json!({ "members": 1 }),
        validation: serde_json::Value::Null,
    };
    write_artifact(dir.path(), &outcome.model, info).unwrap();

    let init = train::onnx::import::InitialWeights::read(dir.path()).unwrap();
    let names: Vec<String> = MODELS.iter().map(|m| m.to_string()).collect();
    let fresh = config.model.init::<NdArray<f32>>(&device);
    let (imported, report) = train::onnx::import::apply(fresh, &init, &names, &device);
    assert!(report.fresh.is_empty(), "{:?}", report.fresh);
    assert_eq!(report.candidates_kept, 3);
    let all: Vec<&Example> = data.examples.iter().collect();
    let before = inference::predict(&outcome.model, &all, 256, &device);
    let after = inference::predict(&imported, &all, 256, &device);
    let gap = before
        .quality
        .iter()
        .zip(&after.quality)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(gap < 1e-5, "imported weights score differently by {gap}");

    // Reversed candidate order: each candidate keeps its own bias.
    let reversed: Vec<String> = names.iter().rev().cloned().collect();
    let fresh = config.model.init::<NdArray<f32>>(&device);
    let (flipped, _) = train::onnx::import::apply(fresh, &init, &reversed, &device);
    let bias = |m: &train::model::RouterModel<NdArray<f32>>| -> Vec<f32> {
        m.model_bias.val().into_data().iter::<f32>().collect()
    };
    let mut expected = bias(&imported);
    expected.reverse();
    assert_eq!(bias(&flipped), expected);
}

/// The stacked router: the category-mean rule and its per-category weights (fitted on the
/// validation split by `train::stacking`, here also set by hand to distinct values) are part
/// of the exported graph and score alike in burn and ONNX Runtime; weight 0 everywhere is the
/// network as trained, weight 1 the rule alone, and other weights move the scores.
#[test]
fn the_stacked_rule_is_exported_and_scores_alike() {
    let data = training_data();
    let config = small_config(&data).with_max_epochs(3);
    let device = Default::default();
    let outcome = train_ensemble::<Autodiff<NdArray<f32>>>(&config, &data, &device, false).unwrap();
    let all: Vec<&Example> = data.examples.iter().collect();
    let plain = inference::predict(&outcome.model, &all, 256, &device);
    let k = data.category_classes.len();
    assert!(k >= 2, "the synthetic table has several categories");
    let means = data.category_prior_means();
    assert_eq!(means.len(), k * MODELS.len());
    assert!(means.iter().all(|p| (0.0..=1.0).contains(p)));

    let with = |weights: &[f32]| train::model::RouterEnsemble {
        members: outcome
            .model
            .members
            .iter()
            .map(|m| m.clone().with_rule(Some((&means, weights)), &device))
            .collect(),
    };
    let max_gap = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    let zeros = inference::predict(&with(&vec![0.0; k]), &all, 256, &device);
    let gap = max_gap(&plain.quality, &zeros.quality);
    assert!(gap < 1e-6, "weight 0 changed the scores by {gap}");

    // Weight 1: every score is a mix of the rule's category means, so inside their range.
    let rule_only = inference::predict(&with(&vec![1.0; k]), &all, 256, &device);
    let (lo, hi) = means
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    for q in &rule_only.quality {
        assert!(
            *q >= lo - 1e-5 && *q <= hi + 1e-5,
            "{q} outside [{lo}, {hi}]"
        );
    }
    assert!(max_gap(&plain.quality, &rule_only.quality) > 1e-3);

    let distinct: Vec<f32> = (0..k).map(|c| c as f32 / (k - 1) as f32).collect();
    let stacked = with(&distinct);
    assert!(stacked.members[0].rule.is_some());
    let gap = max_parity_gap(&stacked, &data);
    assert!(gap < 1e-4, "burn and ONNX Runtime disagree by {gap}");

    // The fit itself: one weight per dataset from the grid, spread to every category class.
    let mut fitted = outcome.model.clone();
    let fit = train::stacking::fit(&mut fitted, &data, &device).unwrap();
    assert_eq!(fit.class_weights.len(), k);
    assert_eq!(fit.class_blends.len(), k);
    assert!(!fit.datasets.is_empty());
    for d in &fit.datasets {
        assert!(train::stacking::GRID.contains(&d.weight), "{d:?}");
        assert!(train::stacking::BLENDS.contains(&d.blend), "{d:?}");
        assert_eq!(d.trials.len(), train::stacking::settings().len());
    }
    assert!(fitted.members.iter().all(|m| m.rule.is_some()));
    let gap = max_parity_gap(&fitted, &data);
    assert!(gap < 1e-4, "burn and ONNX Runtime disagree by {gap}");
}
