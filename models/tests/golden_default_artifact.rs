//! Golden test: fixed prompts through the shipped router (`models/default`) with
//! [`models::OnnxScorer`], then through the policy as the gateway and `train eval` call it
//! (`models::routing` over the manifest catalog, the prompt sent as one user message), for each
//! named objective and for one constrained request. Predicted qualities (to 1e-5), the
//! winner, the fallback order and the exclusions are pinned in
//! `tests/fixtures/default_artifact_golden.json`.
//!
//! It fails when the featurizer, the graph, the runtime's numerics, the cost estimate or a
//! policy rule changes what the shipped router decides. If the change is deliberate,
//! regenerate with `ARBITER_REGENERATE_GOLDEN=1 cargo test -p models --test
//! golden_default_artifact` and review the fixture diff.

#[path = "support/golden.rs"]
mod golden;

use golden::{
    DECISIONS_FIXTURE, Routed, Row, assert_same_decisions, constrained, pinned, scorer_prompts,
    unpriced_not_in_catalog,
};
use models::routing::catalog_inputs;
use models::{
    CandidateInput, Catalog, Constraints, Objective, OnnxScorer, RequestFacts, Scorer, decide,
};

fn route(inputs: &[CandidateInput], objective: Objective, constraints: &Constraints) -> Routed {
    Routed::of(&decide(inputs, &objective, constraints))
}

#[test]
fn default_artifact_decisions_are_pinned() {
    let scorer = OnnxScorer::load(models::artifact::default_dir()).unwrap();
    let catalog = Catalog::from_manifest(scorer.manifest());
    let prompts = scorer_prompts();
    assert!(prompts.len() >= 50);
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let predictions = scorer.score_batch(&refs).unwrap();
    let rows: Vec<Row> = prompts
        .iter()
        .zip(predictions)
        .map(|(prompt, p)| {
            let request = RequestFacts::user_prompt(prompt);
            let mut inputs = catalog_inputs(&catalog, &p.quality, &request);
            unpriced_not_in_catalog(&mut inputs, &catalog);
            let open = Constraints::default();
            Row {
                prompt_id: models::prompt_id(prompt),
                quality_objective: route(&inputs, Objective::Quality, &open),
                cost_objective: route(&inputs, Objective::Cost, &open),
                latency_objective: route(&inputs, Objective::Latency, &open),
                constrained_cost_objective: route(&inputs, Objective::Cost, &constrained()),
                quality: p.quality,
            }
        })
        .collect();
    let golden = pinned(DECISIONS_FIXTURE, &rows);
    assert_same_decisions(&rows, &golden, "models::routing + policy");
}
