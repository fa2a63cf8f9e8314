//! What an evaluation run writes: `metrics.json`, `report.md`, the curve points
//! (`<dataset>_curves.csv`), the per-prompt decisions (`decisions.csv`) and the plots.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

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
}

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
                .map(|(m, s)| (m.clone(), pair_json(s)))
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
                .map(|(m, s)| (m.clone(), multi_json(s)))
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

/// The human-readable `report.md`.
pub fn report_markdown(info: &RunInfo, results: &[DatasetResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Offline evaluation of `{}`\n", info.model_name);
    let _ = writeln!(s, "- artifact: `{}`", info.artifact);
    let _ = writeln!(s, "- data: `{}` (split: {})", info.data, info.split);
    let _ = writeln!(s, "- router candidates: {}", info.candidates.join(", "));
    let _ = writeln!(
        s,
        "- baselines (fitted on the train split): {}",
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
            for (m, v) in &pair.summaries {
                let _ = writeln!(
                    s,
                    "| {m} | {} | {} | {} |",
                    f3(v.apgr),
                    pct(v.cpt50),
                    pct(v.cpt80)
                );
            }
            s.push('\n');
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
            for (m, v) in &multi.summaries {
                let _ = writeln!(
                    s,
                    "| {m} | {} | {} | {} | {} |",
                    f3(v.aiq),
                    f3(v.quality_at_best_single_cost),
                    pct(v.cost_to_match_best_single),
                    f3(Some(v.quality_max))
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
                }],
            }),
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
