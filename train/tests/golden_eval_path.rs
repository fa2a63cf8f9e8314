//! The offline path held to the pinned decisions: the golden prompts of
//! `models/tests/golden_default_artifact.rs` as an evaluation table with every candidate
//! labelled, featurized and scored as `train eval` does (the scorer's own featurizer,
//! `score_features`), their policy inputs built by `eval::sweep::prompt_candidates` with
//! the artifact's catalog, give exactly the winner, fallback order, exclusions and predicted
//! qualities pinned in `models/tests/fixtures/default_artifact_golden.json`, which the
//! gateway's `/v1/route` is held to as well (`serve/tests/golden_decisions.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../models/tests/support/golden.rs"]
mod golden;

use golden::{
    DECISIONS_FIXTURE, Routed, Row, assert_same_decisions, constrained, scorer_prompts,
    unpriced_not_in_catalog,
};
use models::{Catalog, Constraints, FeatureBatch, Objective, OnnxScorer, decide};
use train::eval::sweep::{CostView, prompt_candidates};
use train::eval::table::{EvalTable, PromptRecord};

#[test]
fn offline_evaluation_makes_the_pinned_decisions() {
    let scorer = OnnxScorer::load(models::artifact::default_dir()).unwrap();
    let manifest = scorer.manifest().clone();
    let catalog = Catalog::from_manifest(&manifest);
    let prompts = scorer_prompts();
    let models: Vec<String> = manifest.candidates.iter().map(|c| c.name.clone()).collect();
    let n = models.len();
    let table = EvalTable {
        dataset: "golden".into(),
        models,
        prompts: prompts
            .iter()
            .map(|text| PromptRecord {
                id: models::prompt_id(text),
                text: text.clone(),
                category: None,
                // Deliberately not the gateway's count: the eval path must not use it.
                input_tokens: 0,
            })
            .collect(),
        // Every candidate labelled and priced, so that every one is a candidate offline.
        scores: vec![vec![Some(0.0); n]; prompts.len()],
        costs: vec![vec![Some(0.0); n]; prompts.len()],
        ..EvalTable::default()
    };

    let featurizer = scorer.featurizer().clone();
    let features: Vec<_> = prompts.iter().map(|p| featurizer.featurize(p)).collect();
    let batch = FeatureBatch::from_features(&features, featurizer.dense_dim());
    let predictions = scorer.score_features(&batch).unwrap();

    let all: Vec<usize> = (0..n).collect();
    let open = Constraints::default();
    let rows: Vec<Row> = predictions
        .iter()
        .enumerate()
        .map(|(p, pred)| {
            let predicted: Vec<Option<f64>> =
                pred.quality.iter().map(|&q| Some(f64::from(q))).collect();
            let mut cands =
                prompt_candidates(&table, p, &all, &predicted, CostView::Estimated(&catalog));
            assert_eq!(cands.model_of, all, "every labelled candidate takes part");
            // As the multi-model view (it sweeps the priced models) and the gateway's built-in
            // catalog do.
            unpriced_not_in_catalog(&mut cands.inputs, &catalog);
            let route = |objective: Objective, constraints: &Constraints| {
                Routed::of(&decide(&cands.inputs, &objective, constraints))
            };
            Row {
                prompt_id: table.prompts[p].id.clone(),
                quality: pred.quality.clone(),
                quality_objective: route(Objective::Quality, &open),
                cost_objective: route(Objective::Cost, &open),
                latency_objective: route(Objective::Latency, &open),
                constrained_cost_objective: route(Objective::Cost, &constrained()),
            }
        })
        .collect();
    let text = std::fs::read_to_string(golden::fixture_path(DECISIONS_FIXTURE)).unwrap();
    let pinned: Vec<Row> = serde_json::from_str(&text).unwrap();
    assert_same_decisions(&rows, &pinned, "train eval (eval::sweep)");
}
