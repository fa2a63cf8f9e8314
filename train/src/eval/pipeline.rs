//! The evaluation run: load the artifact and the data, predict with the router and the
//! baselines, sweep the serve policy, and collect the per-dataset results.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, bail};
use datasets::split::{Split, SplitRatios, split_of};
use indicatif::{ProgressBar, ProgressStyle};
use models::{Artifact, Catalog, FeatureBatch, Features, Featurizer, OnnxScorer, RequestFacts};
use rayon::prelude::*;

use super::baselines::{self, Predictions, SparseVec};
use super::bootstrap::{self, MultiInputs, PairRanking, SweepOutcomes};
use super::calibration;
use super::metrics::{
    self, CostQuality, MultiSummary, lambda_grid, pair_curve, random_pair_summary, summarize_multi,
    summarize_pair,
};
use super::pool::TrainingPool;
use super::report::{DatasetResult, DecisionMix, MultiView, PairView, SweepCurve};
use super::sweep::{self, CostView, PromptCandidates};
use super::table::EvalTable;
use super::{EvalArgs, SplitChoice};

/// λ values (USD⁻¹) at which `decisions.csv` records the router's choice.
pub const DECISION_LAMBDAS: [f64; 4] = [0.0, 10.0, 100.0, 1000.0];

/// Baselines in display order.
pub const BASELINES: [&str; 2] = ["category_prior", "knn"];

/// One row of `decisions.csv`.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub dataset: String,
    pub prompt_id: String,
    pub category: Option<String>,
    /// Task of the prompt's dataset/category in the shared taxonomy.
    pub task: String,
    /// The router's most probable task.
    pub predicted_task: Option<String>,
    /// Router's choice at each of [`DECISION_LAMBDAS`].
    pub choices: Vec<Option<String>>,
    /// Router's predicted quality for each run candidate ([`RunContext::candidates`]
    /// order), whether or not that model is labelled for this prompt.
    pub predicted: Vec<Option<f64>>,
}

/// What the run shares across datasets.
pub struct RunContext<'a> {
    pub args: &'a EvalArgs,
    pub artifact: &'a Artifact,
    pub scorer: &'a OnnxScorer,
    pub featurizer: &'a Featurizer,
    pub catalog: &'a Catalog,
    pub ratios: &'a SplitRatios,
    /// Names of the router candidates taking part (artifact order, `--candidates` applied).
    pub candidates: &'a [String],
    /// Bootstrap settings (`--bootstrap`, `--bootstrap-seed`).
    pub bootstrap: bootstrap::Settings,
    /// The datasets the router was trained on (`training.datasets` of its manifest).
    pub trained_on: &'a [String],
    /// Their train splits, for the baselines of an evaluated dataset not among them.
    pub pool: Option<&'a TrainingPool>,
}

/// Split ratios recorded by training (an object `{train, validation, test}` under
/// `training.split_ratios`, `training.split` or `training.ratios` in the manifest), else
/// the defaults. The second value says which.
pub fn split_ratios(training: &serde_json::Value) -> (SplitRatios, &'static str) {
    for key in ["split_ratios", "split", "ratios"] {
        let Some(v) = training.get(key) else { continue };
        let share = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        if let (Some(train), Some(validation), Some(test)) =
            (share("train"), share("validation"), share("test"))
            && let Ok(r) = SplitRatios::new(train, validation, test)
        {
            return (r, "manifest");
        }
    }
    (SplitRatios::default(), "default")
}

/// Router candidates after `--candidates`; unknown names are an error.
pub fn router_candidates(
    artifact: &Artifact,
    only: Option<&[String]>,
) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = artifact
        .manifest
        .candidates
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let Some(only) = only else {
        return Ok(names);
    };
    let unknown: Vec<&String> = only.iter().filter(|n| !names.contains(n)).collect();
    if !unknown.is_empty() {
        bail!(
            "--candidates: {} not among the artifact's candidates ({})",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        );
    }
    Ok(names.into_iter().filter(|n| only.contains(n)).collect())
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what.to_string());
    pb
}

pub(super) fn to_sparse(f: &Features) -> SparseVec {
    let mut v = SparseVec::default();
    for (&id, &w) in f.ids.iter().zip(&f.weights) {
        if id > 0 && w != 0.0 {
            v.ids.push(u32::try_from(id).unwrap_or(0));
            v.weights.push(w);
        }
    }
    v
}

/// Router predictions for the evaluated prompts: by table model, by run candidate
/// ([`RunContext::candidates`] order), and the most probable task of each.
fn router_predictions(
    ctx: &RunContext<'_>,
    table: &EvalTable,
    eval: &[usize],
    features: &[Features],
) -> anyhow::Result<(Predictions, Predictions, Vec<Option<String>>)> {
    let manifest = &ctx.artifact.manifest;
    let candidate_column: Vec<Option<usize>> = ctx
        .candidates
        .iter()
        .map(|m| manifest.candidate_index(m))
        .collect();
    // Table model → column of the `quality` output (only allowed candidates).
    let column: Vec<Option<usize>> = table
        .models
        .iter()
        .map(|m| {
            ctx.candidates
                .contains(m)
                .then(|| manifest.candidate_index(m))
                .flatten()
        })
        .collect();
    let pb = bar(eval.len(), &format!("{} scoring", table.dataset));
    let mut preds = Vec::with_capacity(eval.len());
    let mut by_candidate = Vec::with_capacity(eval.len());
    let mut tasks = Vec::with_capacity(eval.len());
    let dense_dim = ctx.featurizer.dense_dim();
    for chunk in eval.chunks(ctx.args.batch_size.max(1)) {
        let rows: Vec<Features> = chunk.iter().map(|&p| features[p].clone()).collect();
        let batch = FeatureBatch::from_features(&rows, dense_dim);
        let out = ctx
            .scorer
            .score_features(&batch)
            .with_context(|| format!("scoring {} prompts of {}", chunk.len(), table.dataset))?;
        for pred in out {
            by_candidate.push(
                candidate_column
                    .iter()
                    .map(|c| c.and_then(|c| pred.quality.get(c)).map(|&q| f64::from(q)))
                    .collect(),
            );
            preds.push(
                column
                    .iter()
                    .map(|c| c.and_then(|c| pred.quality.get(c)).map(|&q| f64::from(q)))
                    .collect(),
            );
            let best = pred
                .task_probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .and_then(|(i, _)| manifest.tasks.get(i).cloned());
            tasks.push(best);
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok((preds, by_candidate, tasks))
}

/// Evaluates one dataset.
pub fn evaluate_dataset(
    ctx: &RunContext<'_>,
    table: &EvalTable,
) -> anyhow::Result<Option<(DatasetResult, Vec<DecisionRow>)>> {
    let started = Instant::now();
    let mut notes = Vec::new();
    let split = |p: usize| split_of(&table.prompts[p].id, ctx.ratios);
    let all: Vec<usize> = (0..table.prompts.len()).collect();
    let train: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&p| split(p) == Split::Train)
        .collect();
    let eval: Vec<usize> = match ctx.args.split {
        SplitChoice::Test => all
            .iter()
            .copied()
            .filter(|&p| split(p) == Split::Test)
            .collect(),
        SplitChoice::Validation => all
            .iter()
            .copied()
            .filter(|&p| split(p) == Split::Validation)
            .collect(),
        SplitChoice::All => all.clone(),
    };
    if eval.is_empty() {
        tracing::warn!(dataset = %table.dataset, "no prompts to evaluate in this split; skipped");
        return Ok(None);
    }
    if table.merged_rows > 0 {
        notes.push(format!(
            "{} repeated (prompt, model) outcomes averaged into one",
            table.merged_rows
        ));
    }
    if ctx.args.split == SplitChoice::All {
        notes.push(
            "--split all: evaluated prompts include the router's and the baselines' training prompts"
                .to_string(),
        );
    }

    // Features of every prompt the router or the baselines look at.
    let needed: HashSet<usize> = train.iter().chain(&eval).copied().collect();
    let pb = bar(table.prompts.len(), &format!("{} features", table.dataset));
    let features: Vec<Features> = table
        .prompts
        .par_iter()
        .enumerate()
        .map(|(p, prompt)| {
            pb.inc(1);
            if needed.contains(&p) {
                ctx.featurizer.featurize(&prompt.text)
            } else {
                Features::default()
            }
        })
        .collect();
    pb.finish_and_clear();

    let (router, router_by_candidate, predicted_tasks) =
        router_predictions(ctx, table, &eval, &features)?;
    let calibration = calibration::calibrate(
        table,
        &eval,
        &router,
        &calibration::held_out_models(&ctx.artifact.manifest.training, &table.dataset),
        ctx.bootstrap,
    );
    let oracle: Predictions = eval.iter().map(|&p| table.scores[p].clone()).collect();
    let vectors: Vec<SparseVec> = features.iter().map(to_sparse).collect();
    drop(features);
    let pb = bar(eval.len(), &format!("{} knn", table.dataset));
    let progress = |n| pb.inc(n);
    let unseen_pool = ctx
        .pool
        .filter(|_| !ctx.trained_on.contains(&table.dataset));
    let baseline_train_prompts = unseen_pool.map_or(train.len(), TrainingPool::len);
    let (prior, knn) = match unseen_pool {
        // Out of domain for the router: the rules get what it got.
        Some(pool) => {
            notes.push(format!(
                "not among the router's training datasets: category_prior and knn fitted on the router's training data \
                 ({} train-split prompts of {}), not on this dataset's train split",
                pool.len(),
                pool.datasets.join(", ")
            ));
            pool.baselines(table, &vectors, &eval, ctx.args.knn_k, &progress)
        }
        None => (
            baselines::category_prior(table, &train, &eval),
            baselines::knn(table, &vectors, &train, &eval, ctx.args.knn_k, &progress),
        ),
    };
    pb.finish_and_clear();

    let methods: Vec<(&str, &Predictions)> = vec![
        ("router", &router),
        ("oracle", &oracle),
        (BASELINES[0], &prior),
        (BASELINES[1], &knn),
    ];

    let (pair, rankings) = match pair_view(ctx, table, &eval, &methods, &mut notes) {
        Some((view, rankings)) => (Some(view), Some(rankings)),
        None => (None, None),
    };
    let (multi, multi_inputs, decision_candidates) =
        multi_view(ctx, table, &eval, &methods, &mut notes);
    if pair.is_none() && multi.is_none() {
        notes.push(format!(
            "no view: the router scores {} priced model(s) of this dataset (3 needed for the cost view) \
             and not both `{}` and `{}`",
            decision_candidates.len(),
            ctx.args.strong,
            ctx.args.weak
        ));
    }

    // Router decisions per prompt at a few λ, over the same candidates as the multi view.
    let decisions: Vec<DecisionRow> = eval
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let prompt = &table.prompts[p];
            let cands = sweep::prompt_candidates(
                table,
                p,
                &decision_candidates,
                &router[i],
                CostView::Estimated(ctx.catalog),
            );
            DecisionRow {
                dataset: table.dataset.clone(),
                prompt_id: prompt.id.clone(),
                category: prompt.category.clone(),
                task: models::taxonomy::task_for(&table.dataset, prompt.category.as_deref())
                    .to_string(),
                predicted_task: predicted_tasks[i].clone(),
                choices: DECISION_LAMBDAS
                    .iter()
                    .map(|&l| sweep::choose(&cands, l).map(|m| table.models[m].clone()))
                    .collect(),
                predicted: router_by_candidate[i].clone(),
            }
        })
        .collect();
    let decision_mix = DecisionMix::from_choices(
        DECISION_LAMBDAS.to_vec(),
        (0..DECISION_LAMBDAS.len())
            .map(|l| decisions.iter().map(|d| d.choices[l].as_deref()).collect())
            .collect(),
    );
    let sweep_mix = multi.as_ref().and_then(|m| {
        let router = m.sweeps.iter().find(|s| s.method == "router")?;
        Some(DecisionMix::from_choices(
            router.lambdas.clone(),
            router
                .choices
                .iter()
                .map(|per_prompt| {
                    per_prompt
                        .iter()
                        .map(|c| c.map(|m| table.models[m].as_str()))
                        .collect()
                })
                .collect(),
        ))
    });

    let boot_started = Instant::now();
    let intervals = bootstrap::bootstrap_dataset(
        ctx.bootstrap,
        &table.dataset,
        eval.len(),
        rankings.as_deref(),
        multi_inputs.as_ref(),
    );
    if ctx.bootstrap.resamples > 0 {
        tracing::info!(
            dataset = %table.dataset,
            resamples = ctx.bootstrap.resamples,
            seconds = boot_started.elapsed().as_secs_f64(),
            "bootstrap"
        );
    }

    tracing::info!(
        dataset = %table.dataset,
        prompts = eval.len(),
        seconds = started.elapsed().as_secs_f64(),
        "evaluated"
    );
    Ok(Some((
        DatasetResult {
            key: table.dataset.clone(),
            prompts: eval.len(),
            train_prompts: baseline_train_prompts,
            pair,
            multi,
            intervals,
            decision_mix,
            sweep_mix,
            calibration,
            notes,
        },
        decisions,
    )))
}

fn pair_view(
    ctx: &RunContext<'_>,
    table: &EvalTable,
    eval: &[usize],
    methods: &[(&str, &Predictions)],
    notes: &mut Vec<String>,
) -> Option<(PairView, Vec<(String, PairRanking)>)> {
    let (strong, weak) = (
        table.model_index(&ctx.args.strong)?,
        table.model_index(&ctx.args.weak)?,
    );
    // Evaluated-prompt positions of the pair prompts (both models labelled), in
    // `pair_inputs` order.
    let positions: Vec<usize> = eval
        .iter()
        .enumerate()
        .filter(|&(_, &p)| table.scores[p][strong].is_some() && table.scores[p][weak].is_some())
        .map(|(i, _)| i)
        .collect();
    let mut rankings = Vec::new();
    let mut summaries = Vec::new();
    let mut curves = Vec::new();
    let mut pair_prompts = 0;
    let mut qualities = (0.0, 0.0);
    for &(name, preds) in methods {
        let (scores, outcomes) = sweep::pair_inputs(table, eval, preds, strong, weak);
        if outcomes.is_empty() {
            return None;
        }
        if name == "router" && scores.iter().all(|s| s.is_nan()) {
            notes.push(format!(
                "two-model view: the router does not score both `{}` and `{}`",
                ctx.args.strong, ctx.args.weak
            ));
            continue;
        }
        let curve = pair_curve(&scores, &outcomes);
        rankings.push((
            name.to_string(),
            PairRanking::new(&positions, &scores, &outcomes),
        ));
        pair_prompts = outcomes.len();
        qualities = (
            curve.quality.last().copied().unwrap_or(0.0),
            curve.quality.first().copied().unwrap_or(0.0),
        );
        summaries.push((name.to_string(), summarize_pair(&curve)));
        if name == "oracle" {
            summaries.push(("random".to_string(), random_pair_summary(&curve)));
            curves.push((
                "random".to_string(),
                metrics::PairCurve {
                    fraction: vec![0.0, 1.0],
                    quality: vec![qualities.1, qualities.0],
                },
            ));
        }
        curves.push((name.to_string(), curve));
    }
    if qualities.0 <= qualities.1 {
        notes.push(format!(
            "two-model view: `{}` is not better than `{}` here, so PGR is undefined",
            ctx.args.strong, ctx.args.weak
        ));
    }
    Some((
        PairView {
            strong: ctx.args.strong.clone(),
            weak: ctx.args.weak.clone(),
            prompts: pair_prompts,
            strong_quality: qualities.0,
            weak_quality: qualities.1,
            summaries,
            curves,
        },
        rankings,
    ))
}

/// The multi-model view (when ≥ 3 priced candidates have outcomes here), the per-prompt
/// inputs of its bootstrap, and the candidates used for the router's recorded decisions.
fn multi_view(
    ctx: &RunContext<'_>,
    table: &EvalTable,
    eval: &[usize],
    methods: &[(&str, &Predictions)],
    notes: &mut Vec<String>,
) -> (Option<MultiView>, Option<MultiInputs>, Vec<usize>) {
    // Router candidates present here, with a list price (for the policy's estimate) and
    // a realised cost on every prompt where they are labelled.
    let mut singles: Vec<(usize, CostQuality)> = Vec::new();
    let mut unpriced = Vec::new();
    for (m, name) in table.models.iter().enumerate() {
        if !ctx.candidates.contains(name) {
            continue;
        }
        let priced = ctx.catalog.estimate_cost(name, 1, None).is_some();
        match table.single_model_point(m, eval) {
            Some((quality, Some(cost))) if priced => {
                singles.push((m, CostQuality { cost, quality }))
            }
            Some(_) => unpriced.push(name.clone()),
            None => {}
        }
    }
    if !unpriced.is_empty() {
        notes.push(format!(
            "not in the cost view (no price or no realised cost): {}",
            unpriced.join(", ")
        ));
    }
    let candidates: Vec<usize> = singles.iter().map(|(m, _)| *m).collect();
    if singles.len() < 3 {
        return (None, None, candidates);
    }

    let by_quality = singles.iter().max_by(|a, b| {
        a.1.quality
            .total_cmp(&b.1.quality)
            .then(b.1.cost.total_cmp(&a.1.cost))
    });
    let by_cost = singles.iter().min_by(|a, b| a.1.cost.total_cmp(&b.1.cost));
    let (Some(&(best_m, best)), Some(&(cheap_m, cheap))) = (by_quality, by_cost) else {
        return (None, None, candidates);
    };
    let cost_lo = singles
        .iter()
        .map(|s| s.1.cost)
        .fold(f64::INFINITY, f64::min);
    let cost_hi = singles.iter().map(|s| s.1.cost).fold(0.0, f64::max);

    // λ range from the policy's own cost estimates: from "cost barely matters" to
    // "cost dominates even among the cheapest".
    let (mut est_lo, mut est_hi) = (f64::INFINITY, 0.0f64);
    for &p in eval {
        let request = RequestFacts::user_prompt(&table.prompts[p].text);
        for &m in &candidates {
            let est = ctx.catalog.estimate_cost(
                &table.models[m],
                request.prompt_tokens,
                request.max_output_tokens,
            );
            if let Some(c) = est.filter(|c| *c > 0.0) {
                est_lo = est_lo.min(c);
                est_hi = est_hi.max(c);
            }
        }
    }
    if !est_lo.is_finite() {
        (est_lo, est_hi) = (cost_lo.max(1e-9), cost_hi.max(1e-9));
    }
    let lambdas = lambda_grid(ctx.args.lambda_points.max(2), 0.01 / est_hi, 100.0 / est_lo);

    let mut summaries: Vec<(String, MultiSummary)> = Vec::new();
    let mut sweeps = Vec::new();
    let realised = |p: usize, m: usize| Some((table.scores[p][m]?, table.costs[p][m]?));
    let mut boot_sweeps = Vec::new();
    for &(name, preds) in methods {
        let per_prompt: Vec<PromptCandidates> = eval
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                if name == "oracle" {
                    // The oracle knows the realised outcome and cost.
                    sweep::prompt_candidates(table, p, &candidates, &preds[i], CostView::Realised)
                } else {
                    sweep::prompt_candidates(
                        table,
                        p,
                        &candidates,
                        &preds[i],
                        CostView::Estimated(ctx.catalog),
                    )
                }
            })
            .collect();
        let s = sweep::multi_sweep(table, eval, &per_prompt, &lambdas);
        let q_max = s.points.first().map_or(0.0, |p| p.quality);
        summaries.push((
            name.to_string(),
            summarize_multi(&s.points, best, cost_lo, cost_hi, q_max),
        ));
        boot_sweeps.push(SweepOutcomes {
            method: name.to_string(),
            per_lambda: s
                .choices
                .iter()
                .map(|per_prompt| {
                    eval.iter()
                        .zip(per_prompt)
                        .map(|(&p, c)| c.and_then(|m| realised(p, m)))
                        .collect()
                })
                .collect(),
        });
        sweeps.push(SweepCurve {
            method: name.to_string(),
            lambdas: s.lambdas,
            points: s.points,
            choices: s.choices,
        });
        if name == "oracle" {
            summaries.push((
                "best_single".to_string(),
                summarize_multi(&[best], best, cost_lo, cost_hi, best.quality),
            ));
            summaries.push((
                "cheapest".to_string(),
                summarize_multi(&[cheap], best, cost_lo, cost_hi, cheap.quality),
            ));
            // RouterBench's "zero router": no prompt information, just a random mix of
            // single models on their convex hull — the bar a router must clear on AIQ.
            let single_points: Vec<CostQuality> = singles.iter().map(|s| s.1).collect();
            summaries.push((
                "zero_router".to_string(),
                summarize_multi(&single_points, best, cost_lo, cost_hi, best.quality),
            ));
        }
    }
    let random = sweep::random_point(table, eval, &candidates);
    if let Some(r) = random {
        let at = summaries
            .iter()
            .position(|(m, _)| m == "cheapest")
            .map_or(summaries.len(), |i| i + 1);
        summaries.insert(
            at,
            (
                "random".to_string(),
                summarize_multi(&[r], best, cost_lo, cost_hi, r.quality),
            ),
        );
    }
    let inputs = MultiInputs {
        singles: singles
            .iter()
            .map(|&(m, _)| {
                (
                    table.models[m].clone(),
                    eval.iter().map(|&p| realised(p, m)).collect(),
                )
            })
            .collect(),
        random: eval
            .iter()
            .map(|&p| sweep::random_point(table, &[p], &candidates).map(|r| (r.quality, r.cost)))
            .collect(),
        sweeps: boot_sweeps,
    };
    let view = MultiView {
        candidates: candidates
            .iter()
            .map(|&m| table.models[m].clone())
            .collect(),
        best_single: table.models[best_m].clone(),
        cheapest: table.models[cheap_m].clone(),
        singles: singles
            .iter()
            .map(|(m, p)| (table.models[*m].clone(), *p))
            .collect(),
        random,
        summaries,
        sweeps,
    };
    (Some(view), Some(inputs), candidates)
}

/// Loads the artifact (manifest checked) and its ONNX scorer — the one serve uses.
pub fn load_scorer(args: &EvalArgs) -> anyhow::Result<(Artifact, OnnxScorer)> {
    let artifact = Artifact::load(&args.model)
        .with_context(|| format!("loading router artifact {}", args.model.display()))?;
    let scorer = OnnxScorer::load(&args.model)
        .with_context(|| format!("loading the ONNX scorer of {}", args.model.display()))?;
    Ok((artifact, scorer))
}
