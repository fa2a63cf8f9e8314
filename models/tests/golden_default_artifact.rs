//! Golden test: fixed prompts through the shipped router (`models/default`) with
//! [`models::OnnxScorer`], then through the policy as the gateway and `train eval` call it
//! (manifest catalog, `tokens::estimate` prompt tokens, expected output tokens), for each
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

use golden::{pinned, scorer_prompts};
use models::{CandidateInput, Catalog, Constraints, Objective, OnnxScorer, Scorer, decide};
use serde::{Deserialize, Serialize};

/// A request with limits, so that exclusions are pinned too.
fn constrained() -> Constraints {
    Constraints {
        max_cost_usd: Some(0.000_2),
        min_quality: Some(0.3),
        candidates: None,
        exclude: vec!["gpt-4-1106-preview".into()],
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Routed {
    winner: Option<String>,
    fallback_order: Vec<String>,
    /// `(model, reason)` for every excluded candidate, in input order.
    excluded: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Row {
    prompt_id: String,
    quality: Vec<f32>,
    quality_objective: Routed,
    cost_objective: Routed,
    latency_objective: Routed,
    constrained_cost_objective: Routed,
}

fn route(inputs: &[CandidateInput], objective: Objective, constraints: &Constraints) -> Routed {
    let d = decide(inputs, &objective, constraints);
    Routed {
        winner: d.winner_model().map(str::to_string),
        fallback_order: d
            .fallback_order
            .iter()
            .map(|&i| d.candidates[i].model.clone())
            .collect(),
        excluded: d
            .candidates
            .iter()
            .filter_map(|c| c.excluded.clone().map(|why| (c.model.clone(), why)))
            .collect(),
    }
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
            let input_tokens = models::tokens::estimate(prompt);
            let inputs: Vec<CandidateInput> = catalog
                .iter()
                .zip(&p.quality)
                .map(|(entry, &q)| CandidateInput {
                    model: entry.name.clone(),
                    predicted_quality: f64::from(q),
                    est_cost_usd: entry.estimate_cost(input_tokens, None),
                    est_latency_ms: None,
                    unavailable: None,
                })
                .collect();
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
    let golden = pinned("default_artifact_golden.json", &rows);
    assert_eq!(golden.len(), rows.len(), "number of golden prompts changed");
    for (i, (now, then)) in rows.iter().zip(&golden).enumerate() {
        assert_eq!(
            now.prompt_id, then.prompt_id,
            "prompt {i}: prompt_id changed"
        );
        assert_eq!(
            now.quality.len(),
            then.quality.len(),
            "prompt {i}: candidate count changed"
        );
        for (c, (a, b)) in now.quality.iter().zip(&then.quality).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5,
                "prompt {i}, candidate {c}: predicted quality {a} vs pinned {b}"
            );
        }
        for (name, a, b) in [
            ("quality", &now.quality_objective, &then.quality_objective),
            ("cost", &now.cost_objective, &then.cost_objective),
            ("latency", &now.latency_objective, &then.latency_objective),
            (
                "constrained cost",
                &now.constrained_cost_objective,
                &then.constrained_cost_objective,
            ),
        ] {
            assert_eq!(
                a.winner, b.winner,
                "prompt {i}, {name} objective: winner changed"
            );
            assert_eq!(
                a.fallback_order, b.fallback_order,
                "prompt {i}, {name} objective: fallback order changed"
            );
            assert_eq!(
                a.excluded, b.excluded,
                "prompt {i}, {name} objective: exclusions changed"
            );
        }
    }
}
