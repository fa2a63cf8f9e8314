//! The short test-split summary printed after training (prompts never trained on); the full
//! offline evaluation and its report are [`crate::eval`] (`train eval`).
//!
//! Per dataset: the mean quality of the router's quality-objective pick, of the best single
//! model and of the oracle; for two-model sets the APGR of threshold routing between them;
//! next to it the APGR of the per-category prior (which knows each prompt's category);
//! for every set the cheapest cost-aware routing (a λ sweep through
//! [`models::routing`] and [`crate::eval::sweep::choose`], the gateway's inputs and policy)
//! that matches the best single model's quality, as a share of that model's cost.

use models::CandidateModel;
use models::routing::{self, Live, RequestFacts};

use crate::data::{Example, TrainingData};
use crate::eval::metrics::{PairOutcome, pair_curve, summarize_pair};
use crate::eval::sweep::{self, PromptCandidates};
use crate::inference::Predictions;

/// One dataset's test-split figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetSummary {
    pub dataset: String,
    pub prompts: usize,
    /// Mean normalised score of the router's pick under the quality objective.
    pub router_quality: f64,
    /// Mean realised cost (USD) of those picks, where known.
    pub router_cost: Option<f64>,
    pub best_single: String,
    pub best_single_quality: f64,
    pub best_single_cost: Option<f64>,
    /// Mean of the best available outcome per prompt.
    pub oracle_quality: f64,
    /// Two-model sets: APGR of routing to the stronger model by predicted quality difference.
    pub apgr: Option<f64>,
    /// Two-model sets: APGR of the same routing by the train split's per-category prior
    /// ([`Example::prior`]), the baseline that knows each prompt's category.
    pub prior_apgr: Option<f64>,
    /// Least cost of a λ-sweep point whose quality reaches the best single model's, as a share
    /// of the best single model's cost.
    pub cost_share_at_best_quality: Option<f64>,
}

/// Summaries for every dataset that has test prompts; `predictions` are in `test` order.
pub fn summarize(
    data: &TrainingData,
    test: &[&Example],
    predictions: &Predictions,
) -> Vec<DatasetSummary> {
    let prior = Predictions {
        n_candidates: predictions.n_candidates,
        n_tasks: 0,
        quality: test.iter().flat_map(|e| e.prior.iter().copied()).collect(),
        task_probs: Vec::new(),
    };
    let mut out = Vec::new();
    for (d, info) in data.datasets.iter().enumerate() {
        let rows: Vec<usize> = (0..test.len()).filter(|&i| test[i].dataset == d).collect();
        if rows.is_empty() {
            continue;
        }
        out.push(summarize_dataset(
            &info.name,
            &data.candidates,
            test,
            predictions,
            &prior,
            &rows,
        ));
    }
    out
}

fn summarize_dataset(
    name: &str,
    candidates: &[CandidateModel],
    test: &[&Example],
    predictions: &Predictions,
    prior: &Predictions,
    rows: &[usize],
) -> DatasetSummary {
    let n = candidates.len();
    let mut router = Mean::default();
    let mut router_cost = Mean::default();
    let mut oracle = Mean::default();
    let mut per_model = vec![Mean::default(); n];
    let mut per_model_cost = vec![Mean::default(); n];
    for &i in rows {
        let e = test[i];
        let q = predictions.quality(i);
        let labelled: Vec<usize> = e.labelled().collect();
        let pick = labelled
            .iter()
            .copied()
            .max_by(|&a, &b| q[a].total_cmp(&q[b]).then(b.cmp(&a)));
        if let Some(p) = pick {
            router.add(f64::from(e.labels[p]));
            if let Some(c) = e.costs[p] {
                router_cost.add(c);
            }
        }
        oracle.add(
            labelled
                .iter()
                .map(|&m| f64::from(e.labels[m]))
                .fold(0.0, f64::max),
        );
        for &m in &labelled {
            per_model[m].add(f64::from(e.labels[m]));
            if let Some(c) = e.costs[m] {
                per_model_cost[m].add(c);
            }
        }
    }
    // Best single model among those that answered most of the set.
    let best = (0..n)
        .filter(|&m| per_model[m].count * 2 >= rows.len())
        .max_by(|&a, &b| per_model[a].mean().total_cmp(&per_model[b].mean()));
    let present: Vec<usize> = (0..n).filter(|&m| per_model[m].count > 0).collect();
    let pair = (present.len() == 2).then(|| {
        let (a, b) = (present[0], present[1]);
        if per_model[a].mean() >= per_model[b].mean() {
            (a, b)
        } else {
            (b, a)
        }
    });
    let apgr_of =
        |p: &Predictions| pair.and_then(|(strong, weak)| apgr(test, p, rows, strong, weak));
    let cost_share = best.and_then(|b| {
        let target = per_model[b].mean();
        let best_cost = per_model_cost[b].value()?;
        cheapest_matching(candidates, test, predictions, rows, target).map(|c| c / best_cost)
    });
    DatasetSummary {
        dataset: name.to_string(),
        prompts: rows.len(),
        router_quality: router.mean(),
        router_cost: router_cost.value(),
        best_single: best.map_or_else(String::new, |b| candidates[b].name.clone()),
        best_single_quality: best.map_or(f64::NAN, |b| per_model[b].mean()),
        best_single_cost: best.and_then(|b| per_model_cost[b].value()),
        oracle_quality: oracle.mean(),
        apgr: apgr_of(predictions),
        prior_apgr: apgr_of(prior),
        cost_share_at_best_quality: cost_share,
    }
}

/// APGR of routing a growing share of prompts to `strong`, most confident first, over the
/// prompts where both models have an outcome (the threshold curve of `train eval`, where
/// prompts with equal scores, such as one category's under the prior, count as a random order).
fn apgr(
    test: &[&Example],
    predictions: &Predictions,
    rows: &[usize],
    strong: usize,
    weak: usize,
) -> Option<f64> {
    let (scores, outcomes): (Vec<f64>, Vec<PairOutcome>) = rows
        .iter()
        .filter(|&&i| test[i].mask[strong] > 0.0 && test[i].mask[weak] > 0.0)
        .map(|&i| {
            let q = predictions.quality(i);
            (
                f64::from(q[strong] - q[weak]),
                PairOutcome {
                    strong: f64::from(test[i].labels[strong]),
                    weak: f64::from(test[i].labels[weak]),
                },
            )
        })
        .unzip();
    if scores.is_empty() {
        return None;
    }
    summarize_pair(&pair_curve(&scores, &outcomes)).apgr
}

/// The least mean realised cost over a λ sweep whose mean quality reaches `target`.
fn cheapest_matching(
    candidates: &[CandidateModel],
    test: &[&Example],
    predictions: &Predictions,
    rows: &[usize],
    target: f64,
) -> Option<f64> {
    // The policy's inputs per prompt, built once, as `serve` and `train eval` build them.
    let per_row: Vec<PromptCandidates> = rows
        .iter()
        .map(|&i| {
            let e = test[i];
            let q = predictions.quality(i);
            let request = RequestFacts::user_prompt(&e.prompt);
            let model_of: Vec<usize> = e.labelled().collect();
            let inputs = model_of
                .iter()
                .map(|&m| {
                    let c = &candidates[m];
                    let q = f64::from(q[m]);
                    routing::candidate_input(
                        c.name.clone(),
                        q,
                        &c.terms(),
                        &request,
                        Live::default(),
                    )
                })
                .collect();
            PromptCandidates { inputs, model_of }
        })
        .collect();
    let lambdas =
        std::iter::once(0.0).chain((0..48).map(|i| 10f64.powf(-1.0 + f64::from(i) * 0.125)));
    let mut best: Option<f64> = None;
    for lambda in lambdas {
        let (mut quality, mut cost) = (Mean::default(), Mean::default());
        for (&i, cands) in rows.iter().zip(&per_row) {
            let Some(m) = sweep::choose(cands, lambda) else {
                continue;
            };
            let e = test[i];
            quality.add(f64::from(e.labels[m]));
            // Picks without a known realised cost are left out of the cost mean.
            if let Some(c) = e.costs[m] {
                cost.add(c);
            }
        }
        if quality.mean() >= target - 1e-9
            && let Some(c) = cost.value()
        {
            best = Some(best.map_or(c, |b: f64| b.min(c)));
        }
    }
    best
}

#[derive(Debug, Clone, Copy, Default)]
struct Mean {
    sum: f64,
    count: usize,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }

    fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.mean())
    }
}

/// The summaries as a fixed-width text table.
pub fn render(summaries: &[DatasetSummary]) -> String {
    let mut s = format!(
        "{:<12} {:>6} {:>8} {:>8} {:>8} {:>7} {:>7} {:>10}  best single model\n",
        "dataset", "prompts", "router", "best", "oracle", "APGR", "prior", "cost@best"
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0));
    for d in summaries {
        s.push_str(&format!(
            "{:<12} {:>6} {:>8.4} {:>8.4} {:>8.4} {:>7} {:>7} {:>10}  {}\n",
            d.dataset,
            d.prompts,
            d.router_quality,
            d.best_single_quality,
            d.oracle_quality,
            d.apgr.map_or("-".to_string(), |a| format!("{a:.3}")),
            d.prior_apgr.map_or("-".to_string(), |a| format!("{a:.3}")),
            pct(d.cost_share_at_best_quality),
            d.best_single
        ));
    }
    s
}
