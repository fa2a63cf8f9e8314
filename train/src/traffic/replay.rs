//! `train eval --replay DIR --model ARTIFACT`: what ARTIFACT's policy would have scored and
//! cost on the logged traffic, estimated from the logging policy's own choices and their
//! logged propensities (off-policy evaluation), before ARTIFACT serves a single request.
//!
//! Each usable record i has the logged action `a` (`routed_model`, which also answered), its
//! propensity `p`, the realised quality `r` (its feedback) and cost `c`. ARTIFACT scores the
//! record's prompt and the shared policy ([`models::decide`], the gateway's) picks `t` among
//! the record's candidates with the record's costs, objective and constraints. With
//! `w = 1[a = t] / p`:
//! - IPS: `mean(w·r)`, unbiased when every `t` had a logging probability above 0;
//! - SNIPS: `Σ w·r / Σ w`, self-normalised (lower variance, slightly biased);
//! - DR: `mean(q̂(t) + w·(r − q̂(a)))`, ARTIFACT's own predicted quality `q̂` as the direct
//!   model (for cost, the logged cost estimate), unbiased if either part is right;
//! - DR, calibrated: the same with `g(q̂)` for `q̂`, where `g` is the isotonic regression of
//!   the realised quality on ARTIFACT's prediction for the logged action, fitted on the other
//!   half of the records (cross-fitting: no record calibrates its own term). Where ARTIFACT
//!   and the logging policy rarely agree, DR is mostly its direct model, and a router's raw
//!   prediction for its own pick is optimistic (it picked the model it over-rates); the
//!   calibrated one says what the logs saw at that predicted level.
//!
//! Each figure carries a paired bootstrap 95% interval over the records (for the off-policy
//! quality estimates, widened to at least the Wilson interval at the effective sample size:
//! see `at_least_wilson`), next to the logging policy's realised values, the effective sample
//! size `(Σw)² / Σw²` and the share of records where `t` had logging probability above 0
//! (recomputed from the logged utilities and exploration settings): where it is low, IPS
//! cannot see what ARTIFACT would do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use models::{CandidateInput, Constraints, ExploreConfig, Objective, Scorer, Unavailable};
use serde::Serialize;

use super::ingest::decision_score;
use super::log::{LoggedDecision, Traffic, read_dir};
use crate::eval::bootstrap::{self, Interval, Missing};

/// Why a record cannot be replayed (skipped and counted).
pub mod reasons {
    /// No feedback: no realised quality.
    pub const NO_FEEDBACK: &str = "no feedback";
    /// No propensity in the record (logged by a gateway before propensities, or a named model).
    pub const NO_PROPENSITY: &str =
        "no propensity (not an `auto` decision, or logged before propensities)";
    /// `audit.log_prompts` was off: ARTIFACT cannot score the prompt.
    pub const NO_PROMPT: &str = "no prompt text (audit.log_prompts was off)";
    /// A fallback answered: the reward is not the logged action's.
    pub const FALLBACK: &str = "answered by a fallback, not the logged choice";
    /// None of the record's candidates is one of ARTIFACT's.
    pub const NO_OVERLAP: &str = "no candidate of the artifact among the record's";
}

/// One replayable record.
#[derive(Debug, Clone, PartialEq)]
struct Replayed {
    /// Realised quality of the logged action.
    reward: f64,
    /// Realised (else estimated) cost of the logged action.
    cost: f64,
    /// Logging propensity of the logged action.
    propensity: f64,
    /// The target picked the logged action.
    matched: bool,
    /// The target's predicted quality of its own pick and of the logged action.
    q_target: f64,
    q_logged: f64,
    /// The logged cost estimates of the target's pick and of the logged action.
    cost_target: f64,
    cost_logged_estimate: f64,
    /// The target's pick had logging probability above 0.
    supported: bool,
    /// The target's pick.
    target: String,
}

/// A figure with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// 95% percentile interval over resamples.
    pub interval: Interval,
}

/// One quantity (quality or cost) estimated three ways, with the logged value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimates {
    /// The logging policy's realised mean.
    pub logged: Estimate,
    /// Inverse propensity scoring.
    pub ips: Estimate,
    /// Self-normalised IPS.
    pub snips: Estimate,
    /// Doubly robust.
    pub dr: Estimate,
    /// Doubly robust with the calibrated direct model (quality; for cost, the same as `dr`).
    pub dr_calibrated: Estimate,
}

/// What the replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The evaluated artifact.
    pub artifact: String,
    /// The log directory.
    pub decisions_dir: PathBuf,
    /// Records read.
    pub records: usize,
    /// Records replayed.
    pub used: usize,
    /// Skipped records by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Share of records where the target picked the logged action.
    pub match_rate: f64,
    /// `(Σw)² / Σw²`.
    pub effective_sample_size: f64,
    /// Share of records whose target pick had logging probability above 0.
    pub support: f64,
    /// Records whose logging propensity was below 1 (logged under exploration).
    pub explored: usize,
    /// Quality (feedback score) estimates.
    pub quality: Estimates,
    /// Cost (USD per request) estimates.
    pub cost: Estimates,
    /// Share of replayed records per target pick.
    pub target_mix: BTreeMap<String, f64>,
    /// Bootstrap settings.
    pub bootstrap: bootstrap::Settings,
    /// Why the estimates should not be trusted, when they should not (empty: no warning).
    pub warnings: Vec<String>,
}

/// Below this effective sample size (or [`MIN_ESS_SHARE`] of the records) the estimates
/// rest on too few records that the artifact and the logging policy agree on: their
/// bootstrap intervals are then too narrow to mean anything (a handful of records all
/// scoring 1 give `[1, 1]`).
pub const MIN_ESS: f64 = 30.0;
/// See [`MIN_ESS`].
pub const MIN_ESS_SHARE: f64 = 0.05;
/// Below this share of records whose pick the logging policy could have made, IPS cannot
/// see part of what the artifact would do.
pub const MIN_SUPPORT: f64 = 0.95;

/// Replays `traffic` through `scorer` (the artifact's candidates `candidate_names`).
pub fn replay(
    traffic: &Traffic,
    scorer: &dyn Scorer,
    candidate_names: &[String],
    settings: bootstrap::Settings,
    artifact: &str,
    decisions_dir: &Path,
) -> anyhow::Result<ReplayReport> {
    let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut usable: Vec<(&LoggedDecision, f64, f64)> = Vec::new();
    for d in &traffic.decisions {
        let why = match (decision_score(d, traffic, &[]), d.propensity) {
            (None, _) => reasons::NO_FEEDBACK,
            (Some(_), None) => reasons::NO_PROPENSITY,
            (Some(_), Some(_)) if d.prompt.is_none() => reasons::NO_PROMPT,
            (Some(_), Some(_)) if d.model.is_none() || d.model != d.routed_model => {
                reasons::FALLBACK
            }
            (Some(r), Some(p)) => {
                usable.push((d, r, p));
                continue;
            }
        };
        *skipped.entry(why).or_default() += 1;
    }
    let with_feedback =
        traffic.decisions.len() - skipped.get(reasons::NO_FEEDBACK).copied().unwrap_or(0);
    if usable.is_empty() {
        if with_feedback > 0 && skipped.get(reasons::NO_PROPENSITY) == Some(&with_feedback) {
            bail!(
                "{}: none of the {with_feedback} records with feedback carries a propensity: replay needs `auto` decisions logged by a gateway that records `propensity` (any version with [routing.explore] support; exploration itself may be off)",
                decisions_dir.display()
            );
        }
        bail!(
            "{}: no record can be replayed (records: {}; skipped: {})",
            decisions_dir.display(),
            traffic.decisions.len(),
            describe(&skipped)
        );
    }
    let logged_models: std::collections::BTreeSet<&str> = usable
        .iter()
        .flat_map(|(d, _, _)| d.candidates.iter().map(|c| c.model.as_str()))
        .collect();
    if !candidate_names
        .iter()
        .any(|n| logged_models.contains(n.as_str()))
    {
        bail!(
            "the artifact's candidates ({}) and the logged candidates ({}) do not overlap: its policy cannot be replayed on this traffic",
            candidate_names.join(", "),
            logged_models.into_iter().collect::<Vec<_>>().join(", ")
        );
    }

    let prompts: Vec<&str> = usable
        .iter()
        .map(|(d, _, _)| d.prompt.as_deref().unwrap_or_default())
        .collect();
    let mut predictions = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(256) {
        predictions.extend(
            scorer
                .score_batch(chunk)
                .context("scoring the logged prompts with the artifact")?,
        );
    }
    let mut replayed = Vec::with_capacity(usable.len());
    for ((d, reward, propensity), prediction) in usable.iter().zip(&predictions) {
        let predicted: BTreeMap<&str, f64> = candidate_names
            .iter()
            .map(String::as_str)
            .zip(prediction.quality.iter().map(|q| f64::from(*q)))
            .collect();
        match replay_one(d, *reward, *propensity, &predicted) {
            Some(r) => replayed.push(r),
            None => *skipped.entry(reasons::NO_OVERLAP).or_default() += 1,
        }
    }
    if replayed.is_empty() {
        bail!(
            "no logged record has one of the artifact's candidates among its eligible ones (skipped: {})",
            describe(&skipped)
        );
    }
    Ok(summarise(
        &replayed,
        traffic.decisions.len(),
        skipped,
        settings,
        artifact,
        decisions_dir,
    ))
}

fn describe(skipped: &BTreeMap<&'static str, usize>) -> String {
    skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The target's decision on one record; `None` when it has no eligible candidate.
fn replay_one(
    d: &LoggedDecision,
    reward: f64,
    propensity: f64,
    predicted: &BTreeMap<&str, f64>,
) -> Option<Replayed> {
    let logged = d.routed_model.as_deref()?;
    let objective: Objective = d
        .objective
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let constraints: Constraints = d
        .constraints
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let inputs: Vec<CandidateInput> = d
        .candidates
        .iter()
        .map(|c| CandidateInput {
            model: c.model.clone(),
            // A logged candidate the artifact does not know cannot be its choice.
            predicted_quality: predicted.get(c.model.as_str()).copied().unwrap_or(f64::NAN),
            est_cost_usd: c.est_cost_usd,
            est_latency_ms: c.est_latency_ms,
            // What the gateway could not use then, the target could not either.
            unavailable: c
                .excluded
                .as_deref()
                .filter(|why| why.starts_with("unavailable"))
                .map(|_| Unavailable::NotInCatalog),
        })
        .collect();
    let decision = models::decide(&inputs, &objective, &constraints);
    let target = decision.winner_model()?.to_string();
    let logged_cand = d.candidate(logged)?;
    let target_cand = d.candidate(&target)?;
    let cost_logged_estimate = logged_cand.est_cost_usd.unwrap_or(0.0);
    Some(Replayed {
        reward,
        cost: d.cost_usd.unwrap_or(cost_logged_estimate),
        propensity,
        matched: target == logged,
        q_target: predicted.get(target.as_str()).copied().unwrap_or(0.0),
        q_logged: predicted.get(logged).copied().unwrap_or(0.0),
        cost_target: target_cand.est_cost_usd.unwrap_or(0.0),
        cost_logged_estimate,
        supported: logging_probability(d, &target) > 0.0,
        target,
    })
}

/// The logging policy's probability of `model` on this record: its eligible candidates
/// ranked by logged utility, through the logged exploration settings (the winner alone when
/// there were none).
fn logging_probability(d: &LoggedDecision, model: &str) -> f64 {
    let mut ranked: Vec<(&str, f64)> = d
        .candidates
        .iter()
        .filter(|c| c.excluded.is_none())
        .filter_map(|c| c.utility.map(|u| (c.model.as_str(), u)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    if ranked.is_empty() {
        return 0.0;
    }
    let explore: ExploreConfig = d
        .policy
        .as_ref()
        .and_then(|p| p.explore)
        .unwrap_or_default();
    let utilities: Vec<f64> = ranked.iter().map(|(_, u)| *u).collect();
    let probs = models::explore::probabilities(&utilities, &explore);
    ranked
        .iter()
        .zip(probs)
        .find(|((m, _), _)| *m == model)
        .map_or(0.0, |(_, p)| p)
}

/// The estimators on a weighting of the records (`counts[i]` copies of record i), in the
/// order of [`ESTIMATES`].
fn estimates(rs: &[Replayed], by_q_logged: &[usize], counts: &[u32]) -> [f64; ESTIMATES] {
    let calibrated = cross_fitted_calibration(rs, by_q_logged, counts);
    let (mut n, mut sw) = (0.0, 0.0);
    let (mut logged_q, mut ips_q, mut snips_q, mut dr_q, mut drc_q) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut logged_c, mut ips_c, mut snips_c, mut dr_c) = (0.0, 0.0, 0.0, 0.0);
    for ((r, &k), (g_target, g_logged)) in rs.iter().zip(counts).zip(&calibrated) {
        if k == 0 {
            continue;
        }
        let k = f64::from(k);
        let w = if r.matched { 1.0 / r.propensity } else { 0.0 };
        n += k;
        sw += k * w;
        logged_q += k * r.reward;
        ips_q += k * w * r.reward;
        snips_q += k * w * r.reward;
        dr_q += k * (r.q_target + w * (r.reward - r.q_logged));
        drc_q += k * (g_target + w * (r.reward - g_logged));
        logged_c += k * r.cost;
        ips_c += k * w * r.cost;
        snips_c += k * w * r.cost;
        dr_c += k * (r.cost_target + w * (r.cost - r.cost_logged_estimate));
    }
    let snips = |s: f64| if sw > 0.0 { s / sw } else { f64::NAN };
    [
        logged_q / n,
        ips_q / n,
        snips(snips_q),
        dr_q / n,
        drc_q / n,
        logged_c / n,
        ips_c / n,
        snips(snips_c),
        dr_c / n,
    ]
}

/// How many figures [`estimates`] returns: quality logged, IPS, SNIPS, DR, calibrated DR;
/// cost logged, IPS, SNIPS, DR.
const ESTIMATES: usize = 9;

/// Each record's calibrated `(g(q̂(t)), g(q̂(a)))`, `g` fitted on the other fold (records
/// alternate between two folds by index), weighted by `counts`. `by_q_logged` orders the
/// records by `q_logged`. A fold whose other half has no weight keeps the raw predictions.
fn cross_fitted_calibration(
    rs: &[Replayed],
    by_q_logged: &[usize],
    counts: &[u32],
) -> Vec<(f64, f64)> {
    let fits: [Option<Isotonic>; 2] = [0, 1].map(|fold| {
        Isotonic::fit(
            by_q_logged
                .iter()
                .filter(|&&i| i % 2 != fold && counts[i] > 0)
                .map(|&i| (rs[i].q_logged, rs[i].reward, f64::from(counts[i]))),
        )
    });
    rs.iter()
        .enumerate()
        .map(|(i, r)| match &fits[i % 2] {
            Some(g) => (g.predict(r.q_target), g.predict(r.q_logged)),
            None => (r.q_target, r.q_logged),
        })
        .collect()
}

/// `estimate` with its interval widened to at least the Wilson score interval of a
/// proportion equal to its value observed on `effective_n` records (Kish's effective sample
/// size: the design-effect adjusted Wilson interval of survey statistics). A percentile
/// bootstrap over a few effective records that all succeeded has no width at all, however
/// little they prove; a quality in [0, 1] has at most the variance of a proportion, so the
/// Wilson interval is the honest floor. No effective record: nothing is known, [0, 1].
fn at_least_wilson(estimate: Estimate, effective_n: f64) -> Estimate {
    const Z: f64 = 1.959_963_984_540_054;
    let (lo, hi) = if effective_n > 0.0 {
        let p = estimate.value.clamp(0.0, 1.0);
        let z2n = Z * Z / effective_n;
        let centre = (p + z2n / 2.0) / (1.0 + z2n);
        let half = Z / (1.0 + z2n) * (p * (1.0 - p) / effective_n + z2n / effective_n / 4.0).sqrt();
        (centre - half, centre + half)
    } else {
        (0.0, 1.0)
    };
    let interval = estimate.interval;
    Estimate {
        value: estimate.value,
        interval: Interval {
            lo: Some(interval.lo.map_or(lo, |b| b.min(lo))),
            hi: Some(interval.hi.map_or(hi, |b| b.max(hi))),
            ..interval
        },
    }
}

/// A non-decreasing step function fitted by pool-adjacent-violators.
#[derive(Debug, Clone, PartialEq)]
struct Isotonic {
    /// Per block: its largest x and its weighted mean y; x ascending, y non-decreasing.
    blocks: Vec<(f64, f64)>,
}

impl Isotonic {
    /// Fits `(x, y, weight)` points given in ascending x; `None` without points.
    fn fit(points: impl Iterator<Item = (f64, f64, f64)>) -> Option<Self> {
        // Per block: largest x, weighted sum of y, weight.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for (x, y, w) in points {
            // Ties are one point: the step function has one value per x.
            match blocks.last_mut() {
                Some(last) if last.0 == x => {
                    last.1 += y * w;
                    last.2 += w;
                }
                _ => blocks.push((x, y * w, w)),
            }
            while let [.., (_, sa, wa), (xb, sb, wb)] = blocks[..] {
                if sa / wa <= sb / wb {
                    break;
                }
                blocks.truncate(blocks.len() - 2);
                blocks.push((xb, sa + sb, wa + wb));
            }
        }
        (!blocks.is_empty()).then(|| Self {
            blocks: blocks.into_iter().map(|(x, s, w)| (x, s / w)).collect(),
        })
    }

    /// The value of the block that `x` falls in (the last block beyond the largest x).
    fn predict(&self, x: f64) -> f64 {
        let i = self.blocks.partition_point(|(upper, _)| *upper < x);
        self.blocks[i.min(self.blocks.len() - 1)].1
    }
}

fn summarise(
    rs: &[Replayed],
    records: usize,
    skipped: BTreeMap<&'static str, usize>,
    settings: bootstrap::Settings,
    artifact: &str,
    decisions_dir: &Path,
) -> ReplayReport {
    let n = rs.len();
    let mut by_q_logged: Vec<usize> = (0..n).collect();
    by_q_logged.sort_by(|&a, &b| rs[a].q_logged.total_cmp(&rs[b].q_logged));
    let point = estimates(rs, &by_q_logged, &vec![1; n]);
    let draws: Vec<[f64; ESTIMATES]> = (0..settings.resamples)
        .map(|b| {
            estimates(
                rs,
                &by_q_logged,
                &bootstrap::resample_counts(settings.seed, "replay", b, n),
            )
        })
        .collect();
    let weights: Vec<f64> = rs
        .iter()
        .map(|r| if r.matched { 1.0 / r.propensity } else { 0.0 })
        .collect();
    let (sw, sw2): (f64, f64) = weights
        .iter()
        .fold((0.0, 0.0), |(a, b), w| (a + w, b + w * w));
    let ess = if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 };
    let est = |i: usize| Estimate {
        value: point[i],
        interval: bootstrap::percentile_interval(
            &draws
                .iter()
                .map(|d| Some(d[i]).filter(|v| v.is_finite()))
                .collect::<Vec<_>>(),
            Missing::Undefined,
        ),
    };
    // Quality lies in [0, 1]: an off-policy estimate is known no better than a proportion
    // observed on its effective sample.
    let quality_est = |i: usize| at_least_wilson(est(i), ess);
    let support = rs.iter().filter(|r| r.supported).count() as f64 / n as f64;
    let mut warnings = Vec::new();
    if ess < MIN_ESS.max(MIN_ESS_SHARE * n as f64) {
        warnings.push(format!(
            "effective sample size {ess:.0} of {n} records: the artifact picks the logged model too rarely for IPS, SNIPS or DR to say much (their quality intervals are at least what a proportion on that many records can show); log more traffic with more exploration (a larger `epsilon` or `band`)"
        ));
    }
    if support < MIN_SUPPORT {
        warnings.push(format!(
            "the artifact's pick had logging probability 0 on {:.0}% of the records: IPS cannot see what it does there",
            100.0 * (1.0 - support)
        ));
    }
    let mut target_mix: BTreeMap<String, f64> = BTreeMap::new();
    for r in rs {
        *target_mix.entry(r.target.clone()).or_default() += 1.0 / n as f64;
    }
    ReplayReport {
        artifact: artifact.to_string(),
        decisions_dir: decisions_dir.to_path_buf(),
        records,
        used: n,
        skipped,
        match_rate: rs.iter().filter(|r| r.matched).count() as f64 / n as f64,
        effective_sample_size: ess,
        support,
        explored: rs.iter().filter(|r| r.propensity < 1.0).count(),
        quality: Estimates {
            logged: est(0),
            ips: quality_est(1),
            snips: quality_est(2),
            dr: quality_est(3),
            dr_calibrated: quality_est(4),
        },
        cost: Estimates {
            logged: est(5),
            ips: est(6),
            snips: est(7),
            dr: est(8),
            dr_calibrated: est(8),
        },
        target_mix,
        bootstrap: settings,
        warnings,
    }
}

/// Runs the replay of `dir` with the artifact in `model_dir` and writes `metrics.json` and
/// `report.md` into `out`.
pub fn run(
    dir: &Path,
    model_dir: &Path,
    out: &Path,
    settings: bootstrap::Settings,
) -> anyhow::Result<ReplayReport> {
    let traffic = read_dir(dir)?;
    let scorer = models::OnnxScorer::load(model_dir)
        .with_context(|| format!("loading the ONNX scorer of {}", model_dir.display()))?;
    let names: Vec<String> = scorer
        .manifest()
        .candidates
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let report = replay(
        &traffic,
        &scorer,
        &names,
        settings,
        &scorer.manifest().name,
        dir,
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::json!({ "replay": &report });
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&json)?,
    )
    .with_context(|| format!("writing {}", out.join("metrics.json").display()))?;
    std::fs::write(out.join("report.md"), render(&report))
        .with_context(|| format!("writing {}", out.join("report.md").display()))?;
    Ok(report)
}

fn fmt_est(e: &Estimate, digits: usize) -> String {
    let b = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "{:.digits$} [{}, {}]",
        e.value,
        b(e.interval.lo),
        b(e.interval.hi)
    )
}

/// `report.md`.
pub fn render(r: &ReplayReport) -> String {
    let mut s = format!(
        "# Replay of `{}` on {}\n\n{} records, {} replayed ({} logged with propensity below 1); the artifact picks the logged model on {:.1}% of them; effective sample size {:.1}; its pick within the logging policy's support on {:.1}%.\n",
        r.artifact,
        r.decisions_dir.display(),
        r.records,
        r.used,
        r.explored,
        100.0 * r.match_rate,
        r.effective_sample_size,
        100.0 * r.support
    );
    for (why, n) in &r.skipped {
        s.push_str(&format!("- skipped {n}: {why}\n"));
    }
    for w in &r.warnings {
        s.push_str(&format!("\n**Warning:** {w}.\n"));
    }
    s.push_str(&format!(
        "\nEach figure with its paired bootstrap 95% interval ({} resamples).\n\n| | quality | cost per request (USD) |\n|---|---:|---:|\n",
        r.bootstrap.resamples
    ));
    for (name, q, c) in [
        (
            "logged policy (realised)",
            &r.quality.logged,
            &r.cost.logged,
        ),
        ("artifact, IPS", &r.quality.ips, &r.cost.ips),
        ("artifact, SNIPS", &r.quality.snips, &r.cost.snips),
        ("artifact, doubly robust", &r.quality.dr, &r.cost.dr),
        (
            "artifact, doubly robust (calibrated direct model)",
            &r.quality.dr_calibrated,
            &r.cost.dr_calibrated,
        ),
    ] {
        s.push_str(&format!(
            "| {name} | {} | {} |\n",
            fmt_est(q, 3),
            fmt_est(c, 6)
        ));
    }
    s.push_str("\nThe artifact's picks:\n\n| model | share |\n|---|---:|\n");
    for (m, share) in &r.target_mix {
        s.push_str(&format!("| {m} | {:.1}% |\n", 100.0 * share));
    }
    s
}

#[cfg(test)]
mod tests {
    use models::{Prediction, ScorerError};

    use super::super::fixtures::{decision, feedback, write};
    use super::*;

    /// Predicts `a` 0.9 and `b` 0.2 for every prompt: the target always picks `a`.
    struct PrefersA;

    impl Scorer for PrefersA {
        fn score_batch(&self, prompts: &[&str]) -> Result<Vec<Prediction>, ScorerError> {
            Ok(prompts
                .iter()
                .map(|_| Prediction {
                    quality: vec![0.9, 0.2],
                    task_probs: vec![1.0],
                })
                .collect())
        }
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn settings() -> bootstrap::Settings {
        bootstrap::Settings {
            resamples: 200,
            seed: 7,
        }
    }

    /// Logging policy: ε = 0.5 between `a` and `b`, `b` the greedy winner (p(b) = 0.75,
    /// p(a) = 0.25). Records: a → 1.0, a → 0.0, b → 0.5, b → 0.5.
    fn logged() -> (tempfile::TempDir, Traffic) {
        let dir = tempfile::tempdir().unwrap();
        let d = |id, routed, p| decision(id, Some("q"), routed, Some(p), (0.4, 0.5), true);
        write(
            dir.path(),
            "decisions-20261202T100000.000000Z-0000.jsonl",
            &[
                d("d1", "a", 0.25),
                d("d2", "a", 0.25),
                d("d3", "b", 0.75),
                d("d4", "b", 0.75),
                decision("d5", Some("q"), "b", None, (0.4, 0.5), false),
            ],
            "",
        );
        write(
            dir.path(),
            "feedback-20261202T100000.000000Z-0000.jsonl",
            &[
                feedback("d1", "user", 1.0, 1),
                feedback("d2", "user", 0.0, 1),
                feedback("d3", "user", 0.5, 1),
                feedback("d4", "user", 0.5, 1),
                feedback("d5", "user", 0.5, 1),
            ],
            "",
        );
        let traffic = read_dir(dir.path()).unwrap();
        (dir, traffic)
    }

    #[test]
    fn the_estimators_match_their_definitions() {
        let (dir, traffic) = logged();
        let r = replay(&traffic, &PrefersA, &names(), settings(), "t", dir.path()).unwrap();
        assert_eq!((r.records, r.used), (5, 4));
        assert_eq!(r.skipped[reasons::NO_PROPENSITY], 1);
        assert_eq!(r.match_rate, 0.5);
        assert_eq!(r.support, 1.0, "ε reached `a` on every record");
        assert_eq!(r.explored, 4);
        // w = 4 on d1, d2; 0 on d3, d4.
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} vs {b}"); // q̂ comes through f32
        close(r.quality.logged.value, 0.5);
        close(r.quality.ips.value, (4.0 * 1.0 + 4.0 * 0.0) / 4.0);
        close(r.quality.snips.value, 0.5);
        // DR: q̂(a) = 0.9 everywhere, plus w·(r − q̂(logged)) where a was logged.
        close(
            r.quality.dr.value,
            (0.9 + 4.0 * (1.0 - 0.9) + 0.9 + 4.0 * (0.0 - 0.9) + 0.9 + 0.9) / 4.0,
        );
        // Calibrated: records 0, 2 (d1, d3) use g fitted on d2, d4 — (0.2, 0.5), (0.9, 0.0),
        // pooled to 0.25 everywhere; records 1, 3 use g fitted on d1, d3 — 0.2 → 0.5, 0.9 → 1.
        close(
            r.quality.dr_calibrated.value,
            ((0.25 + 4.0 * (1.0 - 0.25)) + (1.0 + 4.0 * (0.0 - 1.0)) + 0.25 + 1.0) / 4.0,
        );
        close(r.cost.ips.value, 4.0 * 0.012 * 2.0 / 4.0);
        close(r.effective_sample_size, 2.0);
        assert!(
            r.warnings[0].contains("effective sample size 2"),
            "four records are too few: {:?}",
            r.warnings
        );
        assert_eq!(r.target_mix["a"], 1.0);
        let iv = r.quality.snips.interval;
        assert!(iv.lo.unwrap() <= 0.5 && 0.5 <= iv.hi.unwrap(), "{iv:?}");
        assert!(render(&r).contains("doubly robust"));
    }

    #[test]
    fn wilson_floor_widens_a_degenerate_interval_only() {
        let certain = Estimate {
            value: 1.0,
            interval: Interval {
                lo: Some(1.0),
                hi: Some(1.0),
                missing: 0,
            },
        };
        // 20 effective records, all successes: the Wilson lower bound is n / (n + z²).
        let widened = at_least_wilson(certain, 20.0);
        let lo = widened.interval.lo.unwrap();
        assert!(
            (lo - 20.0 / (20.0 + 1.959_964_f64.powi(2))).abs() < 1e-6,
            "{lo}"
        );
        assert!((widened.interval.hi.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(widened.value, 1.0);
        // A bootstrap interval already wider than Wilson's is kept.
        let wide = Estimate {
            value: 0.5,
            interval: Interval {
                lo: Some(0.0),
                hi: Some(1.0),
                missing: 0,
            },
        };
        assert_eq!(at_least_wilson(wide, 1000.0).interval, wide.interval);
        // No effective record: nothing is known.
        let none = at_least_wilson(certain, 0.0).interval;
        assert_eq!((none.lo, none.hi), (Some(0.0), Some(1.0)));
    }

    #[test]
    fn isotonic_pools_violators_and_ties() {
        let g = Isotonic::fit(
            [
                (0.1, 0.0, 1.0),
                (0.2, 1.0, 1.0),
                (0.3, 0.0, 1.0), // violates: pooled with 0.2 → 0.5
                (0.5, 1.0, 1.0),
                (0.5, 0.0, 3.0), // a tie: one point of weight 4, mean 0.25 → pooled too
                (0.9, 1.0, 2.0),
            ]
            .into_iter(),
        )
        .unwrap();
        // 0.2, 0.3 and 0.5 pool: (1 + 0 + 1) / 6 = 1/3.
        assert_eq!(g.blocks.len(), 3, "{g:?}");
        assert_eq!(g.predict(0.0), 0.0);
        assert!((g.predict(0.25) - 1.0 / 3.0).abs() < 1e-12);
        assert!((g.predict(0.5) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(g.predict(0.7), 1.0);
        assert_eq!(g.predict(2.0), 1.0, "beyond the data: the last block");
        assert!(Isotonic::fit(std::iter::empty()).is_none());
    }

    #[test]
    fn records_without_propensities_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "decisions-20261202T100000.000000Z-0000.jsonl",
            &[decision("d1", Some("q"), "a", None, (0.9, 0.5), false)],
            "",
        );
        write(
            dir.path(),
            "feedback-20261202T100000.000000Z-0000.jsonl",
            &[feedback("d1", "user", 1.0, 1)],
            "",
        );
        let traffic = read_dir(dir.path()).unwrap();
        let err = replay(&traffic, &PrefersA, &names(), settings(), "t", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("propensity"), "{err}");
    }

    #[test]
    fn an_artifact_with_other_candidates_is_a_clear_error() {
        let (dir, traffic) = logged();
        let other = vec!["x".to_string(), "y".to_string()];
        let err = replay(&traffic, &PrefersA, &other, settings(), "t", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("do not overlap") && err.contains("x, y"),
            "{err}"
        );
    }
}
