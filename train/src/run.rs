//! `train` without a subcommand: load data → build examples → train → export → summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::{AutodiffBackend, Backend};
use datasets::split::{Split, SplitRatios};
use datasets::{LoadOptions, PriceTable};
use models::{Featurizer, FeaturizerConfig, HashedNgramsConfig, LabelSemantics, taxonomy};

use crate::data::{self, LabelKind, TrainingData};
use crate::inference;
use crate::model::ModelConfig;
use crate::onnx::{ArtifactInfo, WrittenArtifact, write_artifact};
use crate::summary::{self, DatasetSummary};
use crate::training::{EnsembleOutcome, TrainingConfig, train_ensemble};

/// Sets whose licenses allow training a model we ship (AlpacaEval is CC BY-NC).
pub const PERMISSIVE_DATASETS: [&str; 5] = ["mmlu", "gsm8k", "mt_bench", "arena_bench", "mmlu_pro"];

/// Sets that may be used for experiments only.
pub const NONCOMMERCIAL_DATASETS: [&str; 1] = ["alpaca_eval"];

/// Where training data is looked for when neither `--data` nor `ROUTER_DATA_DIR` is set.
fn default_data_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("../shared/data"),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
    ]
}

/// Compute device for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// ndarray backend on the CPU (always available).
    Cpu,
    /// burn's CUDA backend (build with `--features cuda`).
    Cuda,
    /// burn's wgpu backend (build with `--features wgpu`).
    Wgpu,
}

/// Arguments of `train` (no subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Benchmark data directory [default: ../shared/data]
    #[arg(long, env = "ROUTER_DATA_DIR")]
    pub data: Option<PathBuf>,
    /// Artifact directory to write (router.onnx + manifest.json).
    #[arg(long, default_value = "models/default")]
    pub out: PathBuf,
    /// Datasets to train on (comma-separated keys) [default: mmlu,gsm8k,mt_bench,arena_bench,mmlu_pro]
    #[arg(long, value_delimiter = ',')]
    pub datasets: Option<Vec<String>>,
    /// Allow non-commercially licensed sets (alpaca_eval) in `--datasets`; the artifact is then
    /// marked as not shippable in its manifest.
    #[arg(long)]
    pub allow_noncommercial: bool,
    /// Price table (model,input_usd_per_mtok,output_usd_per_mtok) [default: prices.csv next to the data]
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Maximum number of epochs (early stopping usually ends sooner; the cap keeps the
    /// default run under a minute on two cores).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Factor applied to the learning rate after every epoch (1: constant).
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f64,
    /// Add a learned per-prompt difficulty (shared by all candidates) to the quality logits.
    #[arg(long)]
    pub difficulty: bool,
    /// Hidden layer width.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Embedding width of the hashed features.
    #[arg(long, default_value_t = 16)]
    pub embed_dim: usize,
    /// Width of the prompt and model vectors of the quality head.
    #[arg(long, default_value_t = 32)]
    pub factor_dim: usize,
    /// Dropout on the hidden layer.
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f64,
    /// Weight of the auxiliary task loss.
    #[arg(long, default_value_t = 0.2)]
    pub task_weight: f64,
    /// Weigh labelled (prompt, model) pairs equally in the quality loss; by default each prompt
    /// weighs the same however many models answered it.
    #[arg(long)]
    pub per_pair_loss: bool,
    /// Adam weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Share of the train split's (dataset, category) mean in each labelled pair's training
    /// target (damps one-shot label noise; the category is never a network input).
    #[arg(long, default_value_t = 0.3)]
    pub prior_mix: f64,
    /// Weight of an auxiliary training-only head that predicts the prompt's (dataset,
    /// category) from its text (0: no such head).
    #[arg(long, default_value_t = 1.0)]
    pub category_weight: f64,
    /// Add the predicted-category prior to the quality logits: the category head's softmax
    /// times a learned per-(category, model) table of prior logits, initialised from the train
    /// split's category means (needs `--category-weight` > 0; exported in router.onnx).
    /// `--category-prior false` trains without it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub category_prior: bool,
    /// Keep the quality loss out of the category head (it then learns from its own
    /// cross-entropy only; the prior table still learns from the quality loss).
    #[arg(long)]
    pub category_prior_detach: bool,
    /// Temperature of the category softmax inside the predicted-category prior.
    #[arg(long, default_value_t = 1.0)]
    pub category_temperature: f64,
    /// Early-stop on the validation BCE plus this weight × the category head's validation
    /// cross-entropy (0: the BCE alone).
    #[arg(long, default_value_t = 0.0)]
    pub stop_category_weight: f64,
    /// Hash buckets of the featurizer (rows of the embedding table; drives ONNX size).
    #[arg(long, default_value_t = 1 << 15)]
    pub buckets: u32,
    /// Most sparse features per prompt.
    #[arg(long, default_value_t = 256)]
    pub max_features: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Epochs without validation improvement before stopping (with the predicted-category
    /// prior the validation BCE plateaus for a few epochs while the category head learns).
    #[arg(long, default_value_t = 6)]
    pub patience: usize,
    /// Seed of initialisation, dropout and batch order (ensemble member i uses seed + i).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Networks trained with consecutive seeds and averaged into one exported router (each
    /// member takes as long as a single network, and adds its size to router.onnx).
    #[arg(long, default_value_t = 1)]
    pub members: usize,
    /// Validate (early-stop and report) on cross-validation fold K of the non-test prompts
    /// instead of the plain validation split, for choosing settings on several splits; the
    /// test split is unchanged and the end-of-run table then shows this fold's validation
    /// prompts, not the test split. `train eval` always uses the plain split.
    #[arg(long, value_name = "K")]
    pub validation_fold: Option<usize>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Name recorded in the manifest.
    #[arg(long, default_value = "arbiter-default")]
    pub name: String,
    /// Hide the progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// What a training run produced (also printed by the binary).
#[derive(Debug)]
pub struct RunSummary {
    pub data_dir: PathBuf,
    pub data: TrainingData,
    /// Epochs over all ensemble members.
    pub epochs_run: usize,
    /// Kept epoch of each member.
    pub best_epochs: Vec<usize>,
    pub train_seconds: f64,
    pub total_seconds: f64,
    pub validation: serde_json::Value,
    pub test: Vec<DatasetSummary>,
    /// The split `test` summarises (validation with `--validation-fold`).
    pub reported: Split,
    pub artifact: WrittenArtifact,
}

/// Runs training as configured by `args`.
pub fn run(args: &TrainArgs) -> anyhow::Result<RunSummary> {
    match args.device {
        DeviceChoice::Cpu => run_on::<Autodiff<NdArray<f32>>>(args, &Default::default()),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => run_on::<Autodiff<burn::backend::Cuda>>(args, &Default::default()),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => run_on::<Autodiff<burn::backend::Wgpu>>(args, &Default::default()),
        #[allow(unreachable_patterns)]
        other => bail!(
            "--device {}: this build has no {0} backend; rebuild with `cargo run --release -p train --features {0}`",
            match other {
                DeviceChoice::Cuda => "cuda",
                DeviceChoice::Wgpu => "wgpu",
                DeviceChoice::Cpu => "cpu",
            }
        ),
    }
}

/// The data directory: `--data`/`ROUTER_DATA_DIR`, else the first default that exists.
pub fn resolve_data_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        if !dir.exists() {
            bail!(
                "data directory {} does not exist (from --data or ROUTER_DATA_DIR)",
                dir.display()
            );
        }
        return Ok(dir.to_path_buf());
    }
    let defaults = default_data_dirs();
    if let Some(dir) = defaults.iter().find(|d| d.is_dir()) {
        return Ok(dir.clone());
    }
    bail!(
        "no training data: pass --data DIR or set ROUTER_DATA_DIR (looked in {})",
        defaults
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The datasets to train on, refusing non-commercial ones unless allowed.
pub fn resolve_datasets(
    requested: Option<&[String]>,
    allow_noncommercial: bool,
) -> anyhow::Result<Vec<String>> {
    let chosen: Vec<String> = match requested {
        Some(list) if !list.is_empty() => list.iter().map(|s| s.trim().to_string()).collect(),
        _ => PERMISSIVE_DATASETS.iter().map(|s| s.to_string()).collect(),
    };
    let restricted: Vec<&String> = chosen
        .iter()
        .filter(|d| NONCOMMERCIAL_DATASETS.contains(&d.as_str()))
        .collect();
    if !restricted.is_empty() && !allow_noncommercial {
        bail!(
            "--datasets includes {}: its license (CC BY-NC 4.0) forbids training a model that is shipped; \
             pass --allow-noncommercial for an experiment",
            restricted
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(chosen)
}

/// The price table: `--prices`, else `prices.csv` in the data directory or up to three above.
fn price_table(data_dir: &Path, explicit: Option<&Path>) -> anyhow::Result<PriceTable> {
    if let Some(p) = explicit {
        return PriceTable::from_csv(p).with_context(|| format!("reading prices {}", p.display()));
    }
    for dir in data_dir.ancestors().take(4) {
        let file = dir.join("prices.csv");
        if file.is_file() {
            return PriceTable::from_csv(&file)
                .with_context(|| format!("reading prices {}", file.display()));
        }
    }
    Ok(PriceTable::empty())
}

fn run_on<B: AutodiffBackend>(args: &TrainArgs, device: &B::Device) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let wanted = resolve_datasets(args.datasets.as_deref(), args.allow_noncommercial)?;
    let options = LoadOptions {
        only: Some(wanted.clone()),
        prices: args.prices.clone(),
    };
    let loaded = datasets::load_with(&data_dir, &options)
        .with_context(|| format!("loading benchmark data from {}", data_dir.display()))?;
    for set in &loaded.report.sets {
        for r in &set.renamed {
            tracing::info!(dataset = %set.dataset, from = %r.from, to = %r.to, rows = r.rows, "model loaded under its canonical name");
        }
        for s in &set.skipped {
            tracing::warn!(dataset = %set.dataset, reason = %s.reason, count = s.count, "rows skipped while loading");
        }
    }
    let found: Vec<&str> = loaded
        .report
        .sets
        .iter()
        .map(|s| s.dataset.as_str())
        .collect();
    if let Some(requested) = &args.datasets {
        let missing: Vec<&String> = requested
            .iter()
            .filter(|d| !found.contains(&d.as_str()))
            .collect();
        if !missing.is_empty() {
            bail!(
                "--datasets: {} not found under {} (found: {})",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                data_dir.display(),
                found.join(", ")
            );
        }
    }
    let prices = price_table(&data_dir, args.prices.as_deref())?;
    if args.category_prior && args.category_weight <= 0.0 {
        bail!(
            "--category-prior needs the category head: set --category-weight above 0, or pass --category-prior false"
        );
    }
    if !(args.category_temperature.is_finite() && args.category_temperature > 0.0) {
        bail!(
            "--category-temperature must be a positive number, got {}",
            args.category_temperature
        );
    }
    let featurizer_config = FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
        buckets: args.buckets,
        max_features: args.max_features,
        ..HashedNgramsConfig::default()
    });
    featurizer_config
        .validate()
        .map_err(|m| anyhow::anyhow!("invalid featurizer settings: {m}"))?;
    let featurizer = Featurizer::new(featurizer_config.clone());
    let ratios = SplitRatios::default();
    check_fold(args.validation_fold, &ratios)?;
    let data = data::build_with_fold(
        &loaded.frame,
        &featurizer,
        &prices,
        &ratios,
        args.validation_fold,
    )
    .context("building training examples")?;
    if data.skipped.total() > 0 {
        for (reason, count) in &data.skipped.reasons {
            tracing::warn!(reason, count, "outcome rows not used as labels");
        }
    }

    let model_config = ModelConfig::new(
        args.buckets as usize,
        featurizer.dense_dim(),
        data.candidates.len(),
        taxonomy::TASKS.len(),
    )
    .with_embed_dim(args.embed_dim)
    .with_hidden(args.hidden)
    .with_factor_dim(args.factor_dim)
    .with_dropout(args.dropout)
    .with_difficulty(args.difficulty)
    .with_category_prior(args.category_prior)
    .with_category_temperature(args.category_temperature)
    .with_category_prior_detach(args.category_prior_detach)
    .with_n_categories(if args.category_weight > 0.0 {
        data.category_classes.len()
    } else {
        0
    });
    let config = TrainingConfig::new(model_config)
        .with_max_epochs(args.epochs)
        .with_lr(args.lr)
        .with_lr_decay(args.lr_decay)
        .with_batch_size(args.batch_size)
        .with_patience(args.patience)
        .with_task_weight(args.task_weight)
        .with_per_prompt_loss(!args.per_pair_loss)
        .with_weight_decay(args.weight_decay)
        .with_prior_mix(args.prior_mix)
        .with_members(args.members)
        .with_category_weight(args.category_weight)
        .with_stop_category_weight(args.stop_category_weight)
        .with_seed(args.seed);
    let outcome: EnsembleOutcome<B::InnerBackend> =
        train_ensemble::<B>(&config, &data, device, !args.quiet)?;

    // With a validation fold, the end-of-run table is that fold's (the settings are being
    // chosen; the test split stays unseen).
    let reported = if args.validation_fold.is_some() {
        Split::Validation
    } else {
        Split::Test
    };
    let test = data.split(reported);
    let predictions = inference::predict(&outcome.model, &test, 512, device);
    let test_summary = summary::summarize(&data, &test, &predictions);

    let validation = serde_json::json!({
        "split": "validation",
        "best_epochs": best_epochs(&outcome),
        "metrics": outcome.validation,
        "members": outcome.members,
        (reported.as_str()): test_summary,
    });
    let info = ArtifactInfo {
        name: args.name.clone(),
        candidates: data.candidates.clone(),
        featurizer: featurizer_config,
        tasks: taxonomy::TASKS.iter().map(|t| t.to_string()).collect(),
        task_mapping: data.task_mapping.clone(),
        labels: label_semantics(&data),
        training: training_record(args, &data_dir, &wanted, &data, &config, &outcome, &ratios),
        validation: validation.clone(),
    };
    let artifact = write_artifact(&args.out, &outcome.model, info)
        .with_context(|| format!("writing the router artifact to {}", args.out.display()))?;
    Ok(RunSummary {
        data_dir,
        epochs_run: outcome.members.iter().map(|m| m.history.len()).sum(),
        best_epochs: best_epochs(&outcome),
        train_seconds: outcome.duration.as_secs_f64(),
        total_seconds: started.elapsed().as_secs_f64(),
        validation,
        test: test_summary,
        reported,
        artifact,
        data,
    })
}

/// `--validation-fold K` must name one of the folds the split ratios give.
fn check_fold(fold: Option<usize>, ratios: &SplitRatios) -> anyhow::Result<()> {
    let folds = datasets::split::fold_count(ratios);
    match fold {
        Some(k) if k >= folds => bail!(
            "--validation-fold {k}: the split ratios {}/{}/{} give folds 0 to {}",
            ratios.train,
            ratios.validation,
            ratios.test,
            folds.saturating_sub(1)
        ),
        _ => Ok(()),
    }
}

fn best_epochs<B: Backend>(outcome: &EnsembleOutcome<B>) -> Vec<usize> {
    outcome.members.iter().map(|m| m.best_epoch).collect()
}

fn label_semantics(data: &TrainingData) -> LabelSemantics {
    let kinds: Vec<String> = data
        .datasets
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d.name,
                match d.label_kind {
                    LabelKind::Binary => "correct=1/incorrect=0",
                    LabelKind::Graded => "graded score normalised to [0,1]",
                }
            )
        })
        .collect();
    let base = LabelSemantics::default();
    LabelSemantics {
        description: format!("{} ({})", base.description, kinds.join("; ")),
        datasets: data.datasets.iter().map(|d| d.name.clone()).collect(),
        ..base
    }
}

fn training_record<B: Backend>(
    args: &TrainArgs,
    data_dir: &Path,
    datasets: &[String],
    data: &TrainingData,
    config: &TrainingConfig,
    outcome: &EnsembleOutcome<B>,
    ratios: &SplitRatios,
) -> serde_json::Value {
    let noncommercial = datasets
        .iter()
        .any(|d| NONCOMMERCIAL_DATASETS.contains(&d.as_str()));
    serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "trainer": format!("arbiter train {}", env!("CARGO_PKG_VERSION")),
        "data_dir": data_dir.display().to_string(),
        "datasets": data.datasets,
        "requested_datasets": datasets,
        "shippable": !noncommercial,
        "examples": data.examples.len(),
        "skipped_rows": data.skipped.reasons,
        "merged_duplicate_outcomes": data.merged_duplicates,
        "split_ratios": { "train": ratios.train, "validation": ratios.validation, "test": ratios.test },
        "validation_fold": args.validation_fold,
        "seed": config.seed,
        "device": args.device,
        "members": config.members,
        "epochs_run": outcome.members.iter().map(|m| m.history.len()).collect::<Vec<_>>(),
        "best_epochs": best_epochs(outcome),
        "stopped_early": outcome.members.iter().map(|m| m.stopped_early).collect::<Vec<_>>(),
        "train_seconds": outcome.duration.as_secs_f64(),
        "hyper_parameters": config,
        "loss": "masked BCE on normalised scores (missing outcomes masked; target = (1 - prior_mix) x label + prior_mix x train-split (dataset, category) mean) + task_weight x task cross-entropy; members averaged",
    })
}

/// The end-of-run report printed by the binary.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    let d = &s.data;
    out.push_str(&format!(
        "trained on {} ({} prompts, {} candidates) from {}\n",
        d.datasets
            .iter()
            .map(|x| format!("{} {}", x.name, x.prompts))
            .collect::<Vec<_>>()
            .join(", "),
        d.examples.len(),
        d.candidates.len(),
        s.data_dir.display()
    ));
    if d.skipped.total() > 0 {
        out.push_str(&format!(
            "outcome rows not used: {}\n",
            d.skipped
                .reasons
                .iter()
                .map(|(r, c)| format!("{c} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!(
        "{} member(s), epochs {} (kept {:?}), training {:.1}s, total {:.1}s\n",
        s.best_epochs.len(),
        s.epochs_run,
        s.best_epochs,
        s.train_seconds,
        s.total_seconds
    ));
    if let Some(m) = s.validation.get("metrics").filter(|m| !m.is_null()) {
        out.push_str(&format!(
            "validation: BCE {:.4}  AUC {}  MAE {:.4}  task accuracy {:.3}\n",
            m["bce"].as_f64().unwrap_or(f64::NAN),
            m["auc"].as_f64().map_or("-".into(), |a| format!("{a:.4}")),
            m["mae"].as_f64().unwrap_or(f64::NAN),
            m["task_accuracy"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    if let Some(acc) = s.validation["members"]
        .get(0)
        .and_then(|m| {
            let best = m["best_epoch"].as_u64()? as usize;
            m["history"]
                .get(best.checked_sub(1)?)?
                .get("category_accuracy")?
                .as_object()
                .cloned()
        })
        .filter(|a| !a.is_empty())
    {
        out.push_str(&format!(
            "validation category accuracy (kept epoch): {}\n",
            acc.iter()
                .map(|(d, a)| format!("{d} {:.3}", a.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!(
        "{} split (quality objective; APGR for two-model sets; cost@best = cost share of the best single model at its quality):\n",
        s.reported
    ));
    out.push_str(&summary::render(&s.test));
    out.push_str(&format!(
        "wrote {} ({:.1} MB) and {}\n",
        s.artifact.onnx.display(),
        s.artifact.onnx_bytes as f64 / 1e6,
        s.artifact.manifest.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noncommercial_sets_need_an_explicit_flag() {
        assert_eq!(resolve_datasets(None, false).unwrap(), PERMISSIVE_DATASETS);
        let asked = vec!["mmlu".to_string(), "alpaca_eval".to_string()];
        let err = resolve_datasets(Some(&asked), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("alpaca_eval") && err.contains("--allow-noncommercial"),
            "{err}"
        );
        assert_eq!(resolve_datasets(Some(&asked), true).unwrap(), asked);
    }

    #[test]
    fn validation_folds_are_checked_against_the_ratios() {
        let ratios = SplitRatios::default();
        assert!(check_fold(None, &ratios).is_ok());
        assert!(check_fold(Some(0), &ratios).is_ok());
        assert!(check_fold(Some(8), &ratios).is_ok());
        let err = check_fold(Some(9), &ratios).unwrap_err().to_string();
        assert!(
            err.contains("--validation-fold 9") && err.contains("0 to 8"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_data_directory_is_named() {
        let err = resolve_data_dir(Some(Path::new("/nonexistent/router-data")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/router-data"), "{err}");
    }
}
