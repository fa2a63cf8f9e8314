//! Offline evaluation of a router artifact (`train eval`).
//!
//! Scores the prompts of a benchmark directory with the same `models::OnnxScorer` and
//! the same `models::policy::decide` that `serve` uses, and compares the router with
//! the oracle, random routing, single models and cheap baselines trained on the train
//! split of the same data.
//!
//! Module map:
//! - [`metrics`]: pure metric functions (two-model threshold sweep, APGR, CPT, convex
//!   cost–quality hull, AIQ) — no I/O, no model.
//! - [`table`]: the canonical outcome table reshaped into a prompt × model matrix per dataset.
//! - [`baselines`]: per-category prior and k-nearest-neighbour predictors (train split).
//! - [`sweep`]: policy inputs per prompt and the λ sweep through `models::policy::decide`.
//! - [`bootstrap`]: paired bootstrap intervals of every figure and of router − baseline.
//! - [`calibration`]: predicted against realised mean quality per (dataset, model), held-out
//!   labels flagged (the cross-dataset comparability check).
//! - [`pipeline`]: one dataset end to end (features, router scores, baselines, both views).
//! - [`report`]: `metrics.json`, `report.md`, curve and decision CSVs, plot panels.
//! - [`plot`]: SVG/PNG drawing with plotters.

pub mod baselines;
pub mod bootstrap;
pub mod calibration;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod pool;
pub mod report;
pub mod sweep;
pub mod table;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use models::Catalog;

/// Which prompts of `--data` are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    /// Only the held-out test split (same hash split and ratios as training).
    Test,
    /// Only the validation split (what training early-stops on): for choosing settings
    /// without looking at the test split.
    Validation,
    /// Every prompt in the directory (includes prompts the router was trained on).
    All,
}

/// Arguments of `train eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Router artifact directory (`router.onnx` + `manifest.json`).
    #[arg(long, default_value = "models/default")]
    pub model: PathBuf,
    /// Benchmark data directory (any directory with the supported formats).
    #[arg(long, env = "ROUTER_DATA_DIR", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Output directory for metrics.json, report.md, plots and CSVs.
    #[arg(long, default_value = "out/eval")]
    pub out: PathBuf,
    /// Which prompts to evaluate.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    pub split: SplitChoice,
    /// Restrict the candidate models (comma-separated names as published); default: all
    /// of the artifact's candidates.
    #[arg(long, value_delimiter = ',')]
    pub candidates: Option<Vec<String>>,
    /// Strong model of the two-model view.
    #[arg(long, default_value = "gpt-4-1106-preview")]
    pub strong: String,
    /// Weak model of the two-model view.
    #[arg(long, default_value = "mistralai/Mixtral-8x7B-Instruct-v0.1")]
    pub weak: String,
    /// Number of λ values (USD⁻¹) in the cost–quality sweep, λ = 0 included.
    #[arg(long, default_value_t = 60)]
    pub lambda_points: usize,
    /// Neighbours of the k-nearest-neighbour baseline.
    #[arg(long, default_value_t = 20)]
    pub knn_k: usize,
    /// Prompts per ONNX scoring batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Restrict to these datasets (comma-separated keys such as `mmlu,gsm8k`).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Option<Vec<String>>,
    /// Paired bootstrap resamples of the evaluated prompts for the 95% intervals
    /// (0: point estimates only).
    #[arg(long, default_value_t = bootstrap::DEFAULT_RESAMPLES)]
    pub bootstrap: usize,
    /// Seed of the bootstrap resampling (same seed, same intervals).
    #[arg(long, default_value_t = bootstrap::DEFAULT_SEED)]
    pub bootstrap_seed: u64,
    /// Instead of the benchmark data: a gateway's decision log directory (`audit.dir`), on
    /// whose logged traffic `--model`'s policy is estimated off-policy (IPS, SNIPS, doubly
    /// robust) against the logging policy's realised quality and cost.
    #[arg(long)]
    pub replay: Option<PathBuf>,
}

/// Runs the offline evaluation described by `args` and writes its outputs.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.replay {
        let settings = bootstrap::Settings {
            resamples: args.bootstrap,
            seed: args.bootstrap_seed,
        };
        let report = crate::traffic::replay::run(dir, &args.model, &args.out, settings)?;
        use std::io::Write as _;
        std::io::stdout()
            .write_all(crate::traffic::replay::render(&report).as_bytes())
            .context("writing the replay report to stdout")?;
        return Ok(());
    }
    let started = Instant::now();
    let (artifact, scorer) = pipeline::load_scorer(&args)?;
    let (ratios, ratio_source) = pipeline::split_ratios(&artifact.manifest.training);
    let candidates = pipeline::router_candidates(&artifact, args.candidates.as_deref())?;

    let loaded = datasets::load(&args.data)
        .with_context(|| format!("loading benchmark data from {}", args.data.display()))?;
    let mut run_notes = Vec::new();
    for set in &loaded.report.sets {
        for r in &set.renamed {
            run_notes.push(format!(
                "{}: {} rows of `{}` loaded as `{}` (one model, two published names)",
                set.dataset, r.rows, r.from, r.to
            ));
        }
        for skipped in &set.skipped {
            tracing::warn!(dataset = %set.dataset, reason = %skipped.reason, count = skipped.count, "rows skipped while loading");
            run_notes.push(format!(
                "{}: {} rows skipped while loading ({})",
                set.dataset, skipped.count, skipped.reason
            ));
        }
    }
    let mut tables = table::tables_from_frame(&loaded.frame)?;
    // The scorer's own featurizer (built from the manifest): the features the router
    // sees are exactly the ones serve computes, and kNN uses the same vectors.
    let featurizer = scorer.featurizer().clone();
    // Built before `--datasets` narrows the tables: the baselines of a dataset the router
    // was not trained on are fitted on the router's training datasets.
    let trained_on = pool::trained_datasets(&artifact.manifest.training);
    let evaluated = |t: &table::EvalTable| {
        args.datasets
            .as_ref()
            .is_none_or(|only| only.contains(&t.dataset))
    };
    let pool = if tables
        .iter()
        .any(|t| evaluated(t) && !trained_on.contains(&t.dataset))
    {
        pool::TrainingPool::build(&tables, &trained_on, &ratios, &|text| {
            pipeline::to_sparse(&featurizer.featurize(text))
        })
    } else {
        None
    };
    if let Some(only) = &args.datasets {
        let present: Vec<&str> = tables.iter().map(|t| t.dataset.as_str()).collect();
        let missing: Vec<&String> = only
            .iter()
            .filter(|d| !present.contains(&d.as_str()))
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "--datasets: {:?} not found in {} (found: {})",
                missing,
                args.data.display(),
                present.join(", ")
            );
        }
        tables.retain(|t| only.contains(&t.dataset));
    }
    for t in &tables {
        if t.unscored_rows > 0 {
            run_notes.push(format!(
                "{}: {} rows without a score skipped",
                t.dataset, t.unscored_rows
            ));
        }
    }
    run_notes.push(format!(
        "split ratios train/validation/test {}/{}/{} ({ratio_source}); baselines fitted on the train split \
         (of the router's training datasets for a dataset it was not trained on)",
        ratios.train, ratios.validation, ratios.test
    ));

    let catalog = Catalog::from_manifest(&artifact.manifest);
    let ctx = pipeline::RunContext {
        args: &args,
        artifact: &artifact,
        scorer: &scorer,
        featurizer: &featurizer,
        catalog: &catalog,
        ratios: &ratios,
        candidates: &candidates,
        bootstrap: bootstrap::Settings {
            resamples: args.bootstrap,
            seed: args.bootstrap_seed,
        },
        trained_on: &trained_on,
        pool: pool.as_ref(),
    };
    let mut results = Vec::new();
    let mut decisions = Vec::new();
    for t in &tables {
        if let Some((result, rows)) = pipeline::evaluate_dataset(&ctx, t)? {
            results.push(result);
            decisions.extend(rows);
        }
    }
    if results.is_empty() {
        anyhow::bail!(
            "no prompts to evaluate in {} (split {:?})",
            args.data.display(),
            args.split
        );
    }

    let info = report::RunInfo {
        model_name: artifact.manifest.name.clone(),
        artifact: args.model.display().to_string(),
        data: args.data.display().to_string(),
        split: match args.split {
            SplitChoice::Test => "test".into(),
            SplitChoice::Validation => "validation".into(),
            SplitChoice::All => "all".into(),
        },
        candidates: candidates.clone(),
        baselines: pipeline::BASELINES.iter().map(|s| s.to_string()).collect(),
        notes: run_notes,
    };
    write_outputs(&args, &info, &results, &decisions, &candidates)?;
    tracing::info!(
        out = %args.out.display(),
        datasets = results.len(),
        seconds = started.elapsed().as_secs_f64(),
        "offline evaluation written"
    );
    Ok(())
}

/// File-name-safe form of a dataset key.
fn file_stem(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_outputs(
    args: &EvalArgs,
    info: &report::RunInfo,
    results: &[report::DatasetResult],
    decisions: &[pipeline::DecisionRow],
    candidates: &[String],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating output directory {}", args.out.display()))?;
    // Plots and CSVs are named after the file-safe key; the report links to those names.
    let results: Vec<report::DatasetResult> = results
        .iter()
        .cloned()
        .map(|mut r| {
            r.key = file_stem(&r.key);
            r
        })
        .collect();
    let metrics = report::metrics_json(info, &results);
    report::write_text(
        &args.out,
        "metrics.json",
        &serde_json::to_string_pretty(&metrics)?,
    )?;
    report::write_text(
        &args.out,
        "report.md",
        &report::report_markdown(info, &results),
    )?;
    for r in &results {
        report::write_text(
            &args.out,
            &format!("{}_curves.csv", r.key),
            &report::curves_csv(r),
        )?;
        let panels = report::panels(r);
        if panels.is_empty() {
            continue;
        }
        plot::write_svg(&args.out.join(format!("{}.svg", r.key)), &panels)?;
        // PNG text needs system fonts; an SVG is still there when they are missing.
        if let Err(e) = plot::write_png(&args.out.join(format!("{}.png", r.key)), &panels) {
            tracing::warn!(error = %e, "PNG plot not written");
        }
    }
    let mut csv = String::from("dataset,prompt_id,category,task,predicted_task");
    for l in pipeline::DECISION_LAMBDAS {
        let _ = write!(csv, ",lambda_{l}");
    }
    for c in candidates {
        let _ = write!(csv, ",{}", report::csv_field(&format!("predicted:{c}")));
    }
    csv.push('\n');
    for d in decisions {
        let _ = write!(
            csv,
            "{},{},{},{},{}",
            report::csv_field(&d.dataset),
            report::csv_field(&d.prompt_id),
            report::csv_field(d.category.as_deref().unwrap_or("")),
            report::csv_field(&d.task),
            report::csv_field(d.predicted_task.as_deref().unwrap_or(""))
        );
        for c in &d.choices {
            let _ = write!(csv, ",{}", report::csv_field(c.as_deref().unwrap_or("")));
        }
        for q in &d.predicted {
            match q {
                Some(q) => {
                    let _ = write!(csv, ",{q:.4}");
                }
                None => csv.push(','),
            }
        }
        csv.push('\n');
    }
    report::write_text(&args.out, "decisions.csv", &csv)
}
