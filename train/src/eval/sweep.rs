//! Operating points of a predictor, computed through the serve decision policy.
//!
//! - Two-model view: the router score is predicted quality strong − weak; the threshold
//!   sweep itself is in [`super::metrics::pair_curve`].
//! - Multi-model view: for each λ (USD⁻¹), every prompt goes through
//!   `models::policy::decide` with `Objective::Weighted { quality: 1, cost_per_usd: λ }`
//!   over the models that have a label for that prompt (a missing outcome is missing:
//!   that model is not a candidate there), and the chosen model's realised score and
//!   cost are averaged.

use models::policy::{CandidateInput, Constraints, Objective, decide};
use models::routing::{self, Live, RequestFacts};
use models::{Catalog, ModelTerms};
use rayon::prelude::*;

use super::baselines::Predictions;
use super::metrics::{CostQuality, PairOutcome};
use super::table::EvalTable;

/// The inputs the policy sees for one prompt, and which table model each one is.
#[derive(Debug, Clone, Default)]
pub struct PromptCandidates {
    pub inputs: Vec<CandidateInput>,
    pub model_of: Vec<usize>,
}

/// What the policy believes a candidate costs on a prompt.
#[derive(Debug, Clone, Copy)]
pub enum CostView<'a> {
    /// The gateway's estimate: the artifact's catalog (manifest prices and expected answer
    /// lengths) at the prompt's token count, through [`models::routing`] as `serve` does.
    Estimated(&'a Catalog),
    /// The realised cost: what only the oracle knows.
    Realised,
}

/// Builds the policy inputs of table prompt `p` from `predicted` (by table model) over
/// `candidates` (table model indices): only models with a realised score and cost for
/// that prompt and with a prediction take part.
pub fn prompt_candidates(
    table: &EvalTable,
    p: usize,
    candidates: &[usize],
    predicted: &[Option<f64>],
    costs: CostView<'_>,
) -> PromptCandidates {
    // Costs are estimated from the prompt as the gateway would receive it (one user
    // message), not from the dataset's token count, so that they match `serve`'s.
    let request = RequestFacts::user_prompt(&table.prompts[p].text);
    let mut out = PromptCandidates::default();
    for &m in candidates {
        let labelled = table.scores[p][m].is_some() && table.costs[p][m].is_some();
        let (true, Some(q)) = (labelled, predicted.get(m).copied().flatten()) else {
            continue;
        };
        let name = &table.models[m];
        let terms = match costs {
            // A model the artifact does not price is unpriced here too.
            CostView::Estimated(catalog) => catalog.get(name).map_or(UNPRICED, |e| e.terms),
            CostView::Realised => UNPRICED,
        };
        let mut input =
            routing::candidate_input(name.clone(), q, &terms, &request, Live::default());
        if let CostView::Realised = costs {
            input.est_cost_usd = table.costs[p][m];
        }
        out.inputs.push(input);
        out.model_of.push(m);
    }
    out
}

const UNPRICED: ModelTerms = ModelTerms {
    price: None,
    context_length: None,
    expected_output_tokens: 0.0,
};

/// The objective of the cost sweep at weight `lambda` (USD⁻¹).
pub fn objective(lambda: f64) -> Objective {
    Objective::Weighted {
        quality: 1.0,
        cost_per_usd: lambda,
        latency_per_s: 0.0,
    }
}

/// The table model the serve policy picks for these candidates at weight `lambda`.
pub fn choose(candidates: &PromptCandidates, lambda: f64) -> Option<usize> {
    if candidates.inputs.is_empty() {
        return None;
    }
    let decision = decide(
        &candidates.inputs,
        &objective(lambda),
        &Constraints::default(),
    );
    decision
        .winner
        .and_then(|w| candidates.model_of.get(w).copied())
}

/// A λ sweep: one operating point per λ and the model chosen for every prompt.
#[derive(Debug, Clone)]
pub struct MultiSweep {
    pub lambdas: Vec<f64>,
    pub points: Vec<CostQuality>,
    /// `choices[l][i]`: table model chosen for the i-th evaluated prompt at `lambdas[l]`.
    pub choices: Vec<Vec<Option<usize>>>,
}

/// Sweeps λ over the evaluated prompts `eval` (table indices), with `per_prompt[i]` the
/// policy inputs of `eval[i]`. Prompts without any candidate are left out of the means.
pub fn multi_sweep(
    table: &EvalTable,
    eval: &[usize],
    per_prompt: &[PromptCandidates],
    lambdas: &[f64],
) -> MultiSweep {
    let results: Vec<(CostQuality, Vec<Option<usize>>)> = lambdas
        .par_iter()
        .map(|&lambda| {
            let choices: Vec<Option<usize>> =
                per_prompt.iter().map(|c| choose(c, lambda)).collect();
            let (mut q, mut c, mut n) = (0.0, 0.0, 0usize);
            for (&p, choice) in eval.iter().zip(&choices) {
                if let Some(m) = *choice
                    && let (Some(s), Some(cost)) = (table.scores[p][m], table.costs[p][m])
                {
                    q += s;
                    c += cost;
                    n += 1;
                }
            }
            let denom = n.max(1) as f64;
            (
                CostQuality {
                    cost: c / denom,
                    quality: q / denom,
                },
                choices,
            )
        })
        .collect();
    let (points, choices) = results.into_iter().unzip();
    MultiSweep {
        lambdas: lambdas.to_vec(),
        points,
        choices,
    }
}

/// Realised strong/weak outcomes and a predictor's router score (predicted strong −
/// weak) for the evaluated prompts where both models are labelled and predicted.
pub fn pair_inputs(
    table: &EvalTable,
    eval: &[usize],
    predictions: &Predictions,
    strong: usize,
    weak: usize,
) -> (Vec<f64>, Vec<PairOutcome>) {
    let mut scores = Vec::new();
    let mut outcomes = Vec::new();
    for (i, &p) in eval.iter().enumerate() {
        let (Some(s), Some(w)) = (table.scores[p][strong], table.scores[p][weak]) else {
            continue;
        };
        let pred = &predictions[i];
        let score = match (pred[strong], pred[weak]) {
            (Some(ps), Some(pw)) => ps - pw,
            _ => f64::NAN,
        };
        scores.push(score);
        outcomes.push(PairOutcome { strong: s, weak: w });
    }
    (scores, outcomes)
}

/// Expected operating point of picking uniformly at random among each prompt's
/// labelled candidates.
pub fn random_point(
    table: &EvalTable,
    eval: &[usize],
    candidates: &[usize],
) -> Option<CostQuality> {
    let (mut q, mut c, mut n) = (0.0, 0.0, 0usize);
    for &p in eval {
        let labelled: Vec<(f64, f64)> = candidates
            .iter()
            .filter_map(|&m| Some((table.scores[p][m]?, table.costs[p][m]?)))
            .collect();
        if labelled.is_empty() {
            continue;
        }
        let k = labelled.len() as f64;
        q += labelled.iter().map(|x| x.0).sum::<f64>() / k;
        c += labelled.iter().map(|x| x.1).sum::<f64>() / k;
        n += 1;
    }
    (n > 0).then(|| CostQuality {
        cost: c / n as f64,
        quality: q / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::table::PromptRecord;

    fn table() -> EvalTable {
        EvalTable {
            dataset: "t".into(),
            models: vec!["cheap".into(), "mid".into(), "best".into()],
            prompts: (0..2)
                .map(|i| PromptRecord {
                    id: i.to_string(),
                    text: String::new(),
                    category: None,
                    input_tokens: 1,
                })
                .collect(),
            // Prompt 0 has no label for "best" (as MMLU-Pro has gaps).
            scores: vec![
                vec![Some(0.0), Some(1.0), None],
                vec![Some(0.0), Some(0.0), Some(1.0)],
            ],
            costs: vec![
                vec![Some(0.001), Some(0.01), Some(0.1)],
                vec![Some(0.001), Some(0.01), Some(0.1)],
            ],
            ..EvalTable::default()
        }
    }

    #[test]
    fn missing_label_excludes_the_model() {
        let t = table();
        let all = [0, 1, 2];
        // The predictor loves "best" everywhere, but prompt 0 has no outcome for it.
        let predicted = [Some(0.1), Some(0.5), Some(0.99)];
        let c0 = prompt_candidates(&t, 0, &all, &predicted, CostView::Realised);
        assert_eq!(c0.model_of, vec![0, 1]);
        assert!(c0.inputs.iter().all(|i| i.model != "best"));
        assert_eq!(choose(&c0, 0.0), Some(1));
        let c1 = prompt_candidates(&t, 1, &all, &predicted, CostView::Realised);
        assert_eq!(c1.model_of, vec![0, 1, 2]);
        assert_eq!(choose(&c1, 0.0), Some(2));
        // A model without a prediction is not a candidate either.
        let c = prompt_candidates(
            &t,
            1,
            &all,
            &[Some(0.1), None, Some(0.2)],
            CostView::Realised,
        );
        assert_eq!(c.model_of, vec![0, 2]);
    }

    #[test]
    fn lambda_trades_quality_for_cost() {
        let t = table();
        let all = [0, 1, 2];
        let per_prompt: Vec<PromptCandidates> = (0..2)
            .map(|p| {
                let oracle: Vec<Option<f64>> = t.scores[p].clone();
                prompt_candidates(&t, p, &all, &oracle, CostView::Realised)
            })
            .collect();
        let sweep = multi_sweep(&t, &[0, 1], &per_prompt, &[0.0, 1e6]);
        // λ = 0: the oracle gets both prompts right: mid on 0, best on 1.
        assert_eq!(sweep.choices[0], vec![Some(1), Some(2)]);
        assert!((sweep.points[0].quality - 1.0).abs() < 1e-12);
        assert!((sweep.points[0].cost - 0.055).abs() < 1e-12);
        // Huge λ: always the cheapest.
        assert_eq!(sweep.choices[1], vec![Some(0), Some(0)]);
        assert!((sweep.points[1].cost - 0.001).abs() < 1e-12);
        // Random among labelled: prompt 0 → (0+1)/2, prompt 1 → 1/3.
        let r = random_point(&t, &[0, 1], &all).unwrap();
        assert!((r.quality - (0.5 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn pair_inputs_skip_unlabelled_prompts() {
        let t = table();
        let preds = vec![
            vec![Some(0.2), None, Some(0.9)],
            vec![Some(0.4), None, Some(0.5)],
        ];
        let (scores, outcomes) = pair_inputs(&t, &[0, 1], &preds, 2, 0);
        assert_eq!(
            outcomes,
            vec![PairOutcome {
                strong: 1.0,
                weak: 0.0
            }]
        );
        assert!((scores[0] - 0.1).abs() < 1e-12);
    }
}
