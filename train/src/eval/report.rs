//! What an evaluation run writes: `metrics.json`, `report.md`, the curve points
//! (`<dataset>_curves.csv`), the per-prompt decisions (`decisions.csv`) and the plots.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::bootstrap::{self, DatasetIntervals, Interval, ViewIntervals};
use super::calibration::ModelCalibration;
use super::metrics::{CostQuality, MultiSummary, PairCurve, PairSummary};
use super::plot::{Panel, Series, Style};

/// Two-model view of one dataset.
#[derive(Debug, Clone)]
pub struct PairView {
    pub strong: String,
    pub weak: String,
    /// Prompts where both models are labelled.
    pub prompts: usize,
    pub strong_quality: f64,
    pub weak_quality: f64,
    /// Per method (router, oracle, random, baselines), in display order.
    pub summaries: Vec<(String, PairSummary)>,
    pub curves: Vec<(String, PairCurve)>,
}

/// One λ sweep of a method.
#[derive(Debug, Clone)]
pub struct SweepCurve {
    pub method: String,
    pub lambdas: Vec<f64>,
    pub points: Vec<CostQuality>,
    /// `choices[l][i]`: table model chosen for the i-th evaluated prompt at `lambdas[l]`.
    pub choices: Vec<Vec<Option<usize>>>,
}

/// Share of prompts per chosen model at each λ (the router's decision mix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionMix {
    pub lambdas: Vec<f64>,
    /// Models chosen at least once, by total share over all λ (largest first).
    pub models: Vec<String>,
    /// `shares[l][m]`: share of the prompts that go to `models[m]` at `lambdas[l]`.
    pub shares: Vec<Vec<f64>>,
    /// `none[l]`: share of the prompts without any candidate at `lambdas[l]`.
    pub none: Vec<f64>,
    pub prompts: usize,
}

impl DecisionMix {
    /// From the choice of every prompt at every λ (`choices[l][i]`).
    pub fn from_choices(lambdas: Vec<f64>, choices: Vec<Vec<Option<&str>>>) -> Self {
        let prompts = choices.first().map_or(0, Vec::len);
        let mut totals: Vec<(String, usize)> = Vec::new();
        for per_prompt in &choices {
            for m in per_prompt.iter().flatten() {
                match totals.iter_mut().find(|(n, _)| n == m) {
                    Some(t) => t.1 += 1,
                    None => totals.push((m.to_string(), 1)),
                }
            }
        }
        totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let models: Vec<String> = totals.into_iter().map(|(m, _)| m).collect();
        let denom = prompts.max(1) as f64;
        let shares = choices
            .iter()
            .map(|per_prompt| {
                models
                    .iter()
                    .map(|m| {
                        per_prompt
                            .iter()
                            .filter(|c| **c == Some(m.as_str()))
                            .count() as f64
                            / denom
                    })
                    .collect()
            })
            .collect();
        let none = choices
            .iter()
            .map(|per_prompt| per_prompt.iter().filter(|c| c.is_none()).count() as f64 / denom)
            .collect();
        Self {
            lambdas,
            models,
            shares,
            none,
            prompts,
        }
    }

    /// The most chosen model at the l-th λ and its share.
    pub fn top(&self, l: usize) -> Option<(&str, f64)> {
        let shares = self.shares.get(l)?;
        shares
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(m, &s)| (self.models[m].as_str(), s))
    }
}

/// Share of the prompts at which one model counts as a collapse in the report.
pub const COLLAPSE_SHARE: f64 = 0.9;

/// Multi-model view of one dataset.
#[derive(Debug, Clone)]
pub struct MultiView {
    pub candidates: Vec<String>,
    pub best_single: String,
    pub cheapest: String,
    /// Every candidate as a single-model operating point.
    pub singles: Vec<(String, CostQuality)>,
    pub random: Option<CostQuality>,
    /// Per method (router, oracle, best_single, cheapest, random, baselines).
    pub summaries: Vec<(String, MultiSummary)>,
    pub sweeps: Vec<SweepCurve>,
}

/// Everything measured on one dataset.
#[derive(Debug, Clone)]
pub struct DatasetResult {
    pub key: String,
    /// Evaluated prompts.
    pub prompts: usize,
    /// Train-split prompts the baselines were fitted on.
    pub train_prompts: usize,
    pub pair: Option<PairView>,
    pub multi: Option<MultiView>,
    /// Paired bootstrap intervals of both views (empty with `--bootstrap 0`).
    pub intervals: DatasetIntervals,
    /// The router's decision mix at the λ of `decisions.csv`.
    pub decision_mix: DecisionMix,
    /// The router's decision mix over its whole cost sweep (multi-model view only).
    pub sweep_mix: Option<DecisionMix>,
    /// Predicted against realised mean quality per model the router scores here.
    pub calibration: Vec<ModelCalibration>,
    pub notes: Vec<String>,
}

/// Run-level facts for the report header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub model_name: String,
    pub artifact: String,
    pub data: String,
    pub split: String,
    pub candidates: Vec<String>,
    pub baselines: Vec<String>,
    pub notes: Vec<String>,
}

fn opt(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite()).map_or(Value::Null, Value::from)
}

fn pair_json(s: &PairSummary) -> Value {
    json!({"apgr": opt(s.apgr), "cpt50": opt(s.cpt50), "cpt80": opt(s.cpt80)})
}

fn multi_json(s: &MultiSummary) -> Value {
    json!({
        "aiq": opt(s.aiq),
        "quality_at_best_single_cost": opt(s.quality_at_best_single_cost),
        "cost_to_match_best_single": opt(s.cost_to_match_best_single),
        "quality_max": opt(Some(s.quality_max)),
    })
}

/// `[lo, hi]` (a `null` bound: never reached / undefined).
fn interval_json(i: &Interval) -> Value {
    json!([opt(i.lo), opt(i.hi)])
}

/// Adds `<figure>_ci95: [lo, hi]` (and `<figure>_ci95_missing` where some resamples had
/// no value) to a method's object.
fn add_intervals(method: &mut Value, intervals: Option<&ViewIntervals>, name: &str) {
    let (Some(obj), Some(iv)) = (method.as_object_mut(), intervals) else {
        return;
    };
    let Some((_, figures)) = iv.methods.iter().find(|(m, _)| m == name) else {
        return;
    };
    for (figure, i) in figures {
        obj.insert(format!("{figure}_ci95"), interval_json(i));
        if i.missing > 0 {
            obj.insert(format!("{figure}_ci95_missing"), i.missing.into());
        }
    }
}

fn differences_json(iv: &ViewIntervals) -> Value {
    let out: Map<String, Value> = iv
        .differences
        .iter()
        .map(|(base, figures)| {
            let f: Map<String, Value> = figures
                .iter()
                .map(|(figure, d)| {
                    let mut v =
                        json!({"estimate": opt(d.estimate), "ci95": interval_json(&d.ci95)});
                    if d.ci95.missing > 0 {
                        v["ci95_missing"] = d.ci95.missing.into();
                    }
                    (figure.to_string(), v)
                })
                .collect();
            (format!("router-{base}"), Value::Object(f))
        })
        .collect();
    Value::Object(out)
}

fn mix_json(mix: &DecisionMix) -> Value {
    let rows: Vec<Value> = mix
        .lambdas
        .iter()
        .enumerate()
        .map(|(l, lambda)| {
            let shares: Map<String, Value> = mix
                .models
                .iter()
                .zip(&mix.shares[l])
                .filter(|(_, s)| **s > 0.0)
                .map(|(m, s)| (m.clone(), (*s).into()))
                .collect();
            json!({"lambda": lambda, "shares": shares, "none": mix.none[l]})
        })
        .collect();
    json!({"prompts": mix.prompts, "by_lambda": rows})
}

/// The `metrics.json` document.
pub fn metrics_json(info: &RunInfo, results: &[DatasetResult]) -> Value {
    let mut datasets = Map::new();
    for r in results {
        let mut d = Map::new();
        d.insert("prompts".into(), r.prompts.into());
        d.insert("train_prompts".into(), r.train_prompts.into());
        if let Some(pair) = &r.pair {
            let methods: Map<String, Value> = pair
                .summaries
                .iter()
                .map(|(m, s)| {
                    let mut v = pair_json(s);
                    add_intervals(&mut v, r.intervals.pair.as_ref(), m);
                    (m.clone(), v)
                })
                .collect();
            d.insert("pair".into(), Value::Object(methods));
            d.insert(
                "pair_models".into(),
                json!({
                    "strong": pair.strong, "weak": pair.weak, "prompts": pair.prompts,
                    "strong_quality": pair.strong_quality, "weak_quality": pair.weak_quality,
                }),
            );
        }
        if let Some(multi) = &r.multi {
            let methods: Map<String, Value> = multi
                .summaries
                .iter()
                .map(|(m, s)| {
                    let mut v = multi_json(s);
                    add_intervals(&mut v, r.intervals.multi.as_ref(), m);
                    (m.clone(), v)
                })
                .collect();
            d.insert("multi".into(), Value::Object(methods));
            d.insert("best_single_model".into(), multi.best_single.clone().into());
            d.insert("cheapest_model".into(), multi.cheapest.clone().into());
            let singles: Map<String, Value> = multi
                .singles
                .iter()
                .map(|(m, p)| (m.clone(), json!({"quality": p.quality, "cost_usd": p.cost})))
                .collect();
            d.insert("single_models".into(), Value::Object(singles));
        }
        if let Some(settings) = &r.intervals.settings {
            let mut b = json!({
                "resamples": settings.resamples,
                "seed": settings.seed,
                "level": bootstrap::LEVEL,
                "method": "paired percentile bootstrap over the evaluated prompts",
            });
            let mut diffs = Map::new();
            if let Some(iv) = &r.intervals.pair {
                diffs.insert("pair".into(), differences_json(iv));
            }
            if let Some(iv) = &r.intervals.multi {
                diffs.insert("multi".into(), differences_json(iv));
            }
            b["differences"] = Value::Object(diffs);
            d.insert("bootstrap".into(), b);
        }
        d.insert("decision_mix".into(), mix_json(&r.decision_mix));
        if let Some(mix) = &r.sweep_mix {
            d.insert("sweep_decision_mix".into(), mix_json(mix));
        }
        if !r.calibration.is_empty() {
            d.insert("calibration".into(), json!(r.calibration));
        }
        if !r.notes.is_empty() {
            d.insert("notes".into(), json!(r.notes));
        }
        datasets.insert(r.key.clone(), Value::Object(d));
    }
    json!({
        "model": info.model_name,
        "artifact": info.artifact,
        "data": info.data,
        "split": info.split,
        "baselines": info.baselines,
        "datasets": Value::Object(datasets),
    })
}

fn f3(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

fn pct(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "never".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

fn usd(x: f64) -> String {
    if x < 0.01 {
        format!("${x:.2e}")
    } else {
        format!("${x:.4}")
    }
}

/// `point [lo, hi]` when there is an interval.
fn ci(point: String, iv: Option<Interval>, fmt: fn(Option<f64>) -> String) -> String {
    match iv {
        Some(i) if i.lo.is_some() || i.hi.is_some() => {
            format!("{point} [{}, {}]", fmt(i.lo), fmt(i.hi))
        }
        _ => point,
    }
}

fn signed3(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_string(), |v| format!("{v:+.3}"))
}

fn signed_pp(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_string(), |v| format!("{:+.1} pp", 100.0 * v))
}

fn difference_table(s: &mut String, iv: &ViewIntervals, figures: &[(&str, &str, bool)]) {
    if iv.differences.is_empty() {
        return;
    }
    let _ = write!(s, "| difference |");
    for (_, label, _) in figures {
        let _ = write!(s, " {label} |");
    }
    let _ = write!(s, "\n|---|");
    for _ in figures {
        let _ = write!(s, "---:|");
    }
    s.push('\n');
    for (base, _) in &iv.differences {
        let _ = write!(s, "| router − {base} |");
        for (figure, _, as_pp) in figures {
            let fmt: fn(Option<f64>) -> String = if *as_pp { signed_pp } else { signed3 };
            let cell = iv.difference(base, figure).map_or_else(
                || "–".to_string(),
                |d| {
                    let c = ci(fmt(d.estimate), Some(d.ci95), fmt);
                    if d.ci95.missing > 0 {
                        format!("{c} ({} left out)", d.ci95.missing)
                    } else {
                        c
                    }
                },
            );
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s.push('\n');
}

/// Columns of the decision-mix table before the rest are summed into "other".
const MIX_COLUMNS: usize = 8;

fn decision_mix_markdown(s: &mut String, mix: &DecisionMix, sweep: Option<&DecisionMix>) {
    if mix.prompts == 0 {
        return;
    }
    let shown = mix.models.len().min(MIX_COLUMNS);
    let other = mix.models.len() > shown;
    let _ = writeln!(
        s,
        "### Decision mix (router, share of the {} prompts per chosen model)\n",
        mix.prompts
    );
    let _ = write!(s, "| λ (USD⁻¹) |");
    for m in &mix.models[..shown] {
        let _ = write!(s, " {} |", short(m));
    }
    if other {
        let _ = write!(s, " other |");
    }
    let _ = write!(s, " none |\n|---:|");
    for _ in 0..shown + usize::from(other) + 1 {
        let _ = write!(s, "---:|");
    }
    s.push('\n');
    for (l, lambda) in mix.lambdas.iter().enumerate() {
        let _ = write!(s, "| {lambda} |");
        for share in &mix.shares[l][..shown] {
            let _ = write!(s, " {:.1}% |", 100.0 * share);
        }
        if other {
            let rest: f64 = mix.shares[l][shown..].iter().sum();
            let _ = write!(s, " {:.1}% |", 100.0 * rest);
        }
        let _ = writeln!(s, " {:.1}% |", 100.0 * mix.none[l]);
    }
    s.push('\n');
    let collapsed: Vec<String> = [Some(mix), sweep]
        .into_iter()
        .flatten()
        .flat_map(|m| {
            (0..m.lambdas.len()).filter_map(move |l| {
                let (model, share) = m.top(l)?;
                (share >= COLLAPSE_SHARE).then(|| {
                    format!(
                        "λ={:.3e}: {:.0}% `{}`",
                        m.lambdas[l],
                        100.0 * share,
                        short(model)
                    )
                })
            })
        })
        .collect();
    if !collapsed.is_empty() {
        let _ = writeln!(
            s,
            "**Collapse:** one model takes ≥ {:.0}% of the prompts at {} of the λ values shown here and in the sweep ({}).\n",
            100.0 * COLLAPSE_SHARE,
            collapsed.len(),
            collapsed
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if let Some(sweep) = sweep {
        let _ = writeln!(
            s,
            "<details><summary>decision mix over the router's cost sweep ({} λ)</summary>\n\n| λ (USD⁻¹) | models (share) |\n|---:|---|",
            sweep.lambdas.len()
        );
        for (l, lambda) in sweep.lambdas.iter().enumerate() {
            let mut row: Vec<(&String, f64)> = sweep
                .models
                .iter()
                .zip(sweep.shares[l].iter().copied())
                .filter(|(_, x)| *x > 0.0)
                .collect();
            row.sort_by(|a, b| b.1.total_cmp(&a.1));
            let cells: Vec<String> = row
                .iter()
                .take(4)
                .map(|(m, x)| format!("{} {:.1}%", short(m), 100.0 * x))
                .collect();
            let rest = row.len().saturating_sub(4);
            let _ = writeln!(
                s,
                "| {lambda:.3e} | {}{} |",
                cells.join(", "),
                if rest > 0 {
                    format!(", {rest} more")
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(s, "\n</details>\n");
    }
}

/// Predicted vs realised mean quality per model; held-out rows first and in the open,
/// the rest folded (they are many on the multi-model sets).
fn calibration_markdown(s: &mut String, rows: &[ModelCalibration]) {
    if rows.is_empty() {
        return;
    }
    let row = |s: &mut String, c: &ModelCalibration| {
        let iv = c
            .interval
            .map(|i| format!(" [{}, {}]", signed3(i.lo), signed3(i.hi)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {}{} | {} | {:.3} | {:.3} | {}{iv} |",
            c.model,
            if c.held_out { " (held out)" } else { "" },
            c.prompts,
            c.predicted_mean,
            c.realised_mean,
            signed3(Some(c.difference)),
        );
    };
    let header = "| model | prompts | predicted mean | realised mean | predicted − realised [95% CI] |\n|---|---:|---:|---:|---:|";
    let held: Vec<&ModelCalibration> = rows.iter().filter(|c| c.held_out).collect();
    if !held.is_empty() {
        let _ = writeln!(
            s,
            "Labels held out of training (`--hold-out-labels`): the router's mean predicted quality against the realised mean.\n\n{header}"
        );
        for c in held {
            row(s, c);
        }
        s.push('\n');
    }
    let mean_abs = rows.iter().map(|c| c.difference.abs()).sum::<f64>() / rows.len() as f64;
    let _ = writeln!(
        s,
        "<details><summary>calibration: {} models, mean |predicted − realised| {:.3}</summary>\n\n{header}",
        rows.len(),
        mean_abs
    );
    for c in rows {
        row(s, c);
    }
    let _ = writeln!(s, "\n</details>\n");
}

/// The human-readable `report.md`.
pub fn report_markdown(info: &RunInfo, results: &[DatasetResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Offline evaluation of `{}`\n", info.model_name);
    let _ = writeln!(s, "- artifact: `{}`", info.artifact);
    let _ = writeln!(s, "- data: `{}` (split: {})", info.data, info.split);
    let _ = writeln!(s, "- router candidates: {}", info.candidates.join(", "));
    let _ = writeln!(
        s,
        "- baselines (fitted on the train split; for a dataset the router was not trained on, on the router's training datasets'): {}",
        info.baselines.join(", ")
    );
    for note in &info.notes {
        let _ = writeln!(s, "- {note}");
    }
    let _ = writeln!(
        s,
        "\nTwo-model view: APGR = area under the performance-gap-recovered curve over the \
         fraction of strong calls (weak = 0, strong = 1; random = 0.5); CPT(x) = smallest \
         fraction of strong calls recovering x of the gap. Multi-model view: λ sweep of the \
         serve policy (utility = q − λ·cost); AIQ = mean achievable quality over the \
         normalised cost range (cheapest → most expensive single model) on the \
         non-decreasing convex hull (budgets below a method's cheapest point count 0, so a \
         single model's AIQ is its quality times the share of the range above its cost); \
         zero_router = random mixes of single models (their hull); random = a uniformly \
         random labelled model per prompt; costs are realised USD per prompt.\n"
    );
    if let Some(settings) = results.iter().find_map(|r| r.intervals.settings) {
        let _ = writeln!(
            s,
            "Intervals: `estimate [lo, hi]` is a paired percentile bootstrap {:.0}% interval \
             ({} resamples of the evaluated prompts with replacement, seed {}; every method and \
             both views measured on the same resample, so router − baseline differences are \
             paired). `never` as an upper bound: the figure is not reached in over 2.5% of the \
             resamples; best and cheapest single model are re-chosen on each resample. A \
             difference leaves out the resamples where either side is never reached or undefined \
             (counted in the table).\n",
            100.0 * bootstrap::LEVEL,
            settings.resamples,
            settings.seed
        );
    }
    let _ = writeln!(
        s,
        "`decisions.csv`: one row per evaluated prompt; `lambda_<λ>` = the router's choice at \
         that λ (USD⁻¹) over the multi-model view's candidates (empty: no labelled candidate); \
         `predicted:<model>` = the router's predicted quality of each run candidate for the \
         prompt (empty where the artifact does not score it), whether or not that model is \
         labelled on the prompt. In pandas/polars: the columns starting with `predicted:`.\n"
    );
    for r in results {
        let _ = writeln!(s, "## {}\n", r.key);
        let _ = writeln!(
            s,
            "{} evaluated prompts; baselines fitted on {} train prompts.\n",
            r.prompts, r.train_prompts
        );
        if let Some(pair) = &r.pair {
            let _ = writeln!(
                s,
                "### Two-model view: `{}` vs `{}` ({} prompts; quality {:.3} vs {:.3})\n",
                pair.strong, pair.weak, pair.prompts, pair.strong_quality, pair.weak_quality
            );
            let _ = writeln!(
                s,
                "| method | APGR | CPT(50%) | CPT(80%) |\n|---|---:|---:|---:|"
            );
            let iv = r.intervals.pair.as_ref();
            let of = |m: &str, f: &str| iv.and_then(|i| i.of(m, f));
            for (m, v) in &pair.summaries {
                let _ = writeln!(
                    s,
                    "| {m} | {} | {} | {} |",
                    ci(f3(v.apgr), of(m, "apgr"), f3),
                    ci(pct(v.cpt50), of(m, "cpt50"), pct),
                    ci(pct(v.cpt80), of(m, "cpt80"), pct)
                );
            }
            s.push('\n');
            if let Some(iv) = iv {
                difference_table(
                    &mut s,
                    iv,
                    &[
                        ("apgr", "APGR", false),
                        ("cpt50", "CPT(50%)", true),
                        ("cpt80", "CPT(80%)", true),
                    ],
                );
            }
        }
        if let Some(multi) = &r.multi {
            let best = multi
                .singles
                .iter()
                .find(|(m, _)| *m == multi.best_single)
                .map(|(_, p)| *p);
            let _ = writeln!(
                s,
                "### Multi-model view ({} candidates)\n\nBest single model: `{}`{}; cheapest: `{}`.\n",
                multi.candidates.len(),
                multi.best_single,
                best.map_or_else(String::new, |p| format!(
                    " (quality {:.3} at {} per prompt)",
                    p.quality,
                    usd(p.cost)
                )),
                multi.cheapest
            );
            let _ = writeln!(
                s,
                "| method | AIQ | quality at best-single cost | cost to match best single | max quality (λ=0) |\n|---|---:|---:|---:|---:|"
            );
            let iv = r.intervals.multi.as_ref();
            let of = |m: &str, f: &str| iv.and_then(|i| i.of(m, f));
            for (m, v) in &multi.summaries {
                let _ = writeln!(
                    s,
                    "| {m} | {} | {} | {} | {} |",
                    ci(f3(v.aiq), of(m, "aiq"), f3),
                    ci(
                        f3(v.quality_at_best_single_cost),
                        of(m, "quality_at_best_single_cost"),
                        f3
                    ),
                    ci(
                        pct(v.cost_to_match_best_single),
                        of(m, "cost_to_match_best_single"),
                        pct
                    ),
                    ci(f3(Some(v.quality_max)), of(m, "quality_max"), f3)
                );
            }
            if let Some(iv) = iv {
                s.push('\n');
                difference_table(
                    &mut s,
                    iv,
                    &[
                        ("aiq", "AIQ", false),
                        (
                            "quality_at_best_single_cost",
                            "quality at best-single cost",
                            false,
                        ),
                        (
                            "cost_to_match_best_single",
                            "cost to match best single",
                            true,
                        ),
                        ("quality_max", "max quality (λ=0)", false),
                    ],
                );
            }
            let _ = writeln!(
                s,
                "\n<details><summary>single models</summary>\n\n| model | quality | cost per prompt |\n|---|---:|---:|"
            );
            let mut singles = multi.singles.clone();
            singles.sort_by(|a, b| b.1.quality.total_cmp(&a.1.quality));
            for (m, p) in singles {
                let _ = writeln!(s, "| {m} | {:.3} | {} |", p.quality, usd(p.cost));
            }
            let _ = writeln!(s, "\n</details>\n");
        }
        decision_mix_markdown(&mut s, &r.decision_mix, r.sweep_mix.as_ref());
        calibration_markdown(&mut s, &r.calibration);
        for note in &r.notes {
            let _ = writeln!(s, "- {note}");
        }
        if !r.notes.is_empty() {
            s.push('\n');
        }
        if r.pair.is_some() || r.multi.is_some() {
            let _ = writeln!(
                s,
                "\nPlot: [{k}.svg]({k}.svg) · [{k}.png]({k}.png) · points: [{k}_curves.csv]({k}_curves.csv)\n\n![{k}]({k}.png)\n",
                k = r.key
            );
        }
    }
    s
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The `<dataset>_curves.csv` text: `view,method,lambda,strong_fraction,cost_usd,quality`.
pub fn curves_csv(r: &DatasetResult) -> String {
    let mut s = String::from("view,method,lambda,strong_fraction,cost_usd,quality\n");
    if let Some(pair) = &r.pair {
        for (method, curve) in &pair.curves {
            for (f, q) in curve.fraction.iter().zip(&curve.quality) {
                let _ = writeln!(s, "pair,{},,{f},,{q}", csv_field(method));
            }
        }
    }
    if let Some(multi) = &r.multi {
        for sweep in &multi.sweeps {
            for (l, p) in sweep.lambdas.iter().zip(&sweep.points) {
                let _ = writeln!(
                    s,
                    "multi,{},{l},,{},{}",
                    csv_field(&sweep.method),
                    p.cost,
                    p.quality
                );
            }
        }
        for (m, p) in &multi.singles {
            let _ = writeln!(s, "single,{},,,{},{}", csv_field(m), p.cost, p.quality);
        }
        if let Some(p) = multi.random {
            let _ = writeln!(s, "multi,random,,,{},{}", p.cost, p.quality);
        }
    }
    s
}

/// The plot panels of one dataset.
pub fn panels(r: &DatasetResult) -> Vec<Panel> {
    let mut out = Vec::new();
    if let Some(multi) = &r.multi {
        let mut series: Vec<Series> = multi
            .sweeps
            .iter()
            .map(|sw| Series {
                label: sw.method.clone(),
                style: Style::Line,
                points: sw.points.iter().map(|p| (p.cost, p.quality)).collect(),
            })
            .collect();
        series.push(Series {
            label: "single models".into(),
            style: Style::Points,
            points: multi
                .singles
                .iter()
                .map(|(_, p)| (p.cost, p.quality))
                .collect(),
        });
        if let Some(p) = multi.random {
            series.push(Series {
                label: "random".into(),
                style: Style::Points,
                points: vec![(p.cost, p.quality)],
            });
        }
        out.push(Panel {
            title: format!(
                "{}: cost–quality ({} models)",
                r.key,
                multi.candidates.len()
            ),
            x_label: "mean cost per prompt (USD, log)".into(),
            y_label: "mean quality".into(),
            log_x: true,
            series,
        });
    }
    if let Some(pair) = &r.pair {
        let series = pair
            .curves
            .iter()
            .map(|(m, c)| Series {
                label: m.clone(),
                style: Style::Line,
                points: c
                    .fraction
                    .iter()
                    .copied()
                    .zip(c.quality.iter().copied())
                    .collect(),
            })
            .collect();
        out.push(Panel {
            title: format!(
                "{}: {} vs {}",
                r.key,
                short(&pair.strong),
                short(&pair.weak)
            ),
            x_label: "fraction of strong-model calls".into(),
            y_label: "mean quality".into(),
            log_x: false,
            series,
        });
    }
    out
}

fn short(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}

/// Writes `text` to `dir/name`, naming the file on failure.
pub fn write_text(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> DatasetResult {
        let summary = MultiSummary {
            aiq: Some(0.7),
            quality_at_best_single_cost: Some(0.8),
            cost_to_match_best_single: None,
            quality_max: 0.82,
        };
        DatasetResult {
            key: "toy".into(),
            prompts: 2,
            train_prompts: 8,
            pair: Some(PairView {
                strong: "s".into(),
                weak: "org/w".into(),
                prompts: 2,
                strong_quality: 1.0,
                weak_quality: 0.5,
                summaries: vec![(
                    "router".into(),
                    PairSummary {
                        apgr: Some(0.6),
                        cpt50: Some(0.4),
                        cpt80: None,
                    },
                )],
                curves: vec![(
                    "router".into(),
                    PairCurve {
                        fraction: vec![0.0, 0.5, 1.0],
                        quality: vec![0.5, 1.0, 1.0],
                    },
                )],
            }),
            multi: Some(MultiView {
                candidates: vec!["a".into(), "b,c".into(), "d".into()],
                best_single: "a".into(),
                cheapest: "d".into(),
                singles: vec![(
                    "a".into(),
                    CostQuality {
                        cost: 0.01,
                        quality: 0.8,
                    },
                )],
                random: None,
                summaries: vec![("router".into(), summary)],
                sweeps: vec![SweepCurve {
                    method: "router".into(),
                    lambdas: vec![0.0],
                    points: vec![CostQuality {
                        cost: 0.02,
                        quality: 0.82,
                    }],
                    choices: vec![vec![Some(0), Some(0)]],
                }],
            }),
            intervals: DatasetIntervals::default(),
            decision_mix: DecisionMix::from_choices(
                vec![0.0, 10.0],
                vec![vec![Some("a"), Some("a")], vec![Some("d"), None]],
            ),
            sweep_mix: None,
            calibration: Vec::new(),
            notes: vec![],
        }
    }

    #[test]
    fn metrics_json_has_the_documented_shape() {
        let info = RunInfo {
            model_name: "m".into(),
            artifact: "a".into(),
            data: "d".into(),
            split: "test".into(),
            candidates: vec![],
            baselines: vec![],
            notes: vec![],
        };
        let v = metrics_json(&info, &[result()]);
        assert_eq!(v["model"], "m");
        let d = &v["datasets"]["toy"];
        assert_eq!(d["prompts"], 2);
        assert_eq!(d["pair"]["router"]["apgr"], 0.6);
        assert!(d["pair"]["router"]["cpt80"].is_null());
        assert!(d["multi"]["router"]["cost_to_match_best_single"].is_null());
        assert_eq!(d["multi"]["router"]["quality_max"], 0.82);
        let md = report_markdown(&info, &[result()]);
        assert!(md.contains("| router | 0.600 | 40.0% | never |"));
        assert!(md.contains("Best single model: `a`"));
        // Decision mix: λ = 0 all to `a` (a collapse), λ = 10 half to `d`, half none.
        assert_eq!(d["decision_mix"]["by_lambda"][0]["shares"]["a"], 1.0);
        assert_eq!(d["decision_mix"]["by_lambda"][1]["none"], 0.5);
        assert!(md.contains("| 0 | 100.0% | 0.0% | 0.0% |"), "{md}");
        assert!(md.contains("| 10 | 0.0% | 50.0% | 50.0% |"), "{md}");
        assert!(md.contains("**Collapse:**"));
        assert!(
            d.get("bootstrap").is_none(),
            "no intervals without resamples"
        );
    }

    #[test]
    fn curves_csv_quotes_fields() {
        assert_eq!(csv_field("b,c"), "\"b,c\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let csv = curves_csv(&result());
        assert!(csv.starts_with("view,method,lambda,strong_fraction,cost_usd,quality\n"));
        assert!(csv.contains("pair,router,,0.5,,1\n"));
        assert!(csv.contains("multi,router,0,,0.02,0.82\n"));
        assert_eq!(panels(&result()).len(), 2);
    }
}

#[cfg(test)]
mod interval_tests {
    use super::*;
    use crate::eval::bootstrap::{Difference, ViewIntervals};

    #[test]
    fn intervals_sit_next_to_the_estimates() {
        let iv = |lo, hi, missing| Interval { lo, hi, missing };
        let pair = ViewIntervals {
            methods: vec![(
                "router".into(),
                vec![
                    ("apgr", iv(Some(0.641), Some(0.695), 0)),
                    ("cpt50", iv(Some(0.3), Some(0.5), 0)),
                    ("cpt80", iv(Some(0.7), None, 40)),
                ],
            )],
            differences: vec![(
                "knn".into(),
                vec![(
                    "apgr",
                    Difference {
                        estimate: Some(-0.017),
                        ci95: iv(Some(-0.04), Some(0.006), 0),
                    },
                )],
            )],
        };
        assert_eq!(
            ci(f3(Some(0.668)), pair.of("router", "apgr"), f3),
            "0.668 [0.641, 0.695]"
        );
        assert_eq!(
            ci(pct(Some(0.9)), pair.of("router", "cpt80"), pct),
            "90.0% [70.0%, never]"
        );
        let mut v = pair_json(&PairSummary {
            apgr: Some(0.668),
            cpt50: Some(0.4),
            cpt80: Some(0.9),
        });
        add_intervals(&mut v, Some(&pair), "router");
        assert_eq!(v["apgr_ci95"], json!([0.641, 0.695]));
        assert_eq!(v["cpt80_ci95"], json!([0.7, null]));
        assert_eq!(v["cpt80_ci95_missing"], 40);
        let d = differences_json(&pair);
        assert_eq!(d["router-knn"]["apgr"]["estimate"], -0.017);
        assert_eq!(d["router-knn"]["apgr"]["ci95"], json!([-0.04, 0.006]));
        let mut md = String::new();
        difference_table(&mut md, &pair, &[("apgr", "APGR", false)]);
        assert!(
            md.contains("| router − knn | -0.017 [-0.040, +0.006] |"),
            "{md}"
        );
    }
}
