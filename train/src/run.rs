//! `train` without a subcommand: load data → build examples → train → export → summary.
//!
//! The flags' defaults are the shipped settings, read from [`TrainingConfig`]'s and
//! [`ModelConfig`]'s burn defaults and [`HashedNgramsConfig::default`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::{AutodiffBackend, Backend};
use datasets::split::{Split, SplitRatios};
use datasets::{LoadOptions, PriceTable};
use models::{Featurizer, FeaturizerConfig, HashedNgramsConfig, LabelSemantics, taxonomy};

use crate::data::{self, LabelKind, TrainingData};
use crate::holdout;
use crate::inference;
use crate::model::ModelConfig;
use crate::onnx::{ArtifactInfo, WrittenArtifact, write_artifact};
use crate::summary::{self, DatasetSummary};
use crate::training::{EnsembleOutcome, TrainingConfig, train_ensemble_from};

/// Sets whose licenses allow training a model we ship (all of the shared data but
/// AlpacaEval, which is CC BY-NC), and sets that may be used for experiments only; the
/// datasets crate keeps the one list.
pub use datasets::{NONCOMMERCIAL_DATASETS, PERMISSIVE_DATASETS};

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

use crate::encoder::distill::{TABLE_FILE as SEMANTIC_TABLE, VOCAB_FILE as SEMANTIC_VOCAB};

/// Arguments of `train` (no subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Benchmark data directory [default: ../shared/data]
    #[arg(long, env = "ROUTER_DATA_DIR")]
    pub data: Option<PathBuf>,
    /// Artifact directory to write (router.onnx + manifest.json).
    #[arg(long, default_value = "models/default")]
    pub out: PathBuf,
    /// Datasets to train on (comma-separated keys) [default: every permissive set: mmlu,gsm8k,mt_bench,arena_bench,mmlu_pro,zeroeval_gsm,zeroeval_math_l5,zeroeval_crux,llmrouter]
    #[arg(long, value_delimiter = ',')]
    pub datasets: Option<Vec<String>>,
    /// Leave these datasets out of training entirely (comma-separated keys), e.g. for a
    /// leave-one-dataset-out run: `train --exclude-datasets mt_bench --out /tmp/lodo-mt`,
    /// then `train eval --model /tmp/lodo-mt --datasets mt_bench`. Recorded in the manifest.
    #[arg(long, value_delimiter = ',')]
    pub exclude_datasets: Vec<String>,
    /// Fine-tune: start from this artifact's weights (matched by name and shape; candidates
    /// by name) instead of a fresh initialisation. Its featurizer must be this run's.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Folders of logged traffic to train on beside the benchmark data (what `train ingest`
    /// writes: generic long format files; every set in them is used). Repeatable.
    #[arg(long)]
    pub traffic: Vec<PathBuf>,
    /// Add the semantic featurizer: the static token table `train distill --out DIR` wrote
    /// (`semantic.safetensors` + `vocab.txt`), copied into the artifact; its prompt vector is
    /// appended to the dense features.
    #[arg(long)]
    pub semantic: Option<PathBuf>,
    /// Hold one model's labels on one dataset out of training (`MODEL@DATASET`,
    /// comma-separated or repeated), keeping its labels elsewhere: `train eval` then reports
    /// the router's mean predicted quality for that model on that dataset against the real
    /// mean (the cross-dataset comparability check). Recorded in the manifest.
    #[arg(long, value_delimiter = ',')]
    pub hold_out_labels: Vec<String>,
    /// Allow non-commercially licensed sets (alpaca_eval) in `--datasets`; the artifact is then
    /// marked as not shippable in its manifest.
    #[arg(long)]
    pub allow_noncommercial: bool,
    /// Price table (model,input_usd_per_mtok,output_usd_per_mtok) [default: prices.csv next to the data]
    #[arg(long)]
    pub prices: Option<PathBuf>,
    // The hyper-parameters below take their defaults from `shipped()` (the burn defaults of
    // `TrainingConfig`/`ModelConfig`) and `HashedNgramsConfig::default()`: those are the one
    // source of the shipped settings. `TrainArgs::training_config` maps the flags back.
    /// Maximum number of epochs (early stopping usually ends sooner; the cap keeps the
    /// default run under a minute on two cores).
    #[arg(long, default_value_t = shipped().max_epochs)]
    pub epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = shipped().lr)]
    pub lr: f64,
    /// Factor applied to the learning rate after every epoch (1: constant).
    #[arg(long, default_value_t = shipped().lr_decay)]
    pub lr_decay: f64,
    /// Add a learned per-prompt difficulty (shared by all candidates) to the quality logits.
    #[arg(long, default_value_t = shipped().model.difficulty, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub difficulty: bool,
    /// Hidden layer width.
    #[arg(long, default_value_t = shipped().model.hidden)]
    pub hidden: usize,
    /// Embedding width of the hashed features.
    #[arg(long, default_value_t = shipped().model.embed_dim)]
    pub embed_dim: usize,
    /// Width of the prompt and model vectors of the quality head.
    #[arg(long, default_value_t = shipped().model.factor_dim)]
    pub factor_dim: usize,
    /// Dropout on the hidden layer.
    #[arg(long, default_value_t = shipped().model.dropout)]
    pub dropout: f64,
    /// Weight of the auxiliary task loss.
    #[arg(long, default_value_t = shipped().task_weight)]
    pub task_weight: f64,
    /// Weigh labelled (prompt, model) pairs equally in the quality loss; by default each prompt
    /// weighs the same however many models answered it.
    #[arg(long, default_value_t = !shipped().per_prompt_loss, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub per_pair_loss: bool,
    /// Adam weight decay.
    #[arg(long, default_value_t = shipped().weight_decay)]
    pub weight_decay: f64,
    /// Share of the train split's (dataset, category) mean in each labelled pair's training
    /// target (damps one-shot label noise; the category is never a network input).
    #[arg(long, default_value_t = shipped().prior_mix)]
    pub prior_mix: f64,
    /// Weight of an auxiliary head that predicts the prompt's (dataset, category) from its
    /// text (0: no such head).
    #[arg(long, default_value_t = shipped().category_weight)]
    pub category_weight: f64,
    /// Add the predicted-category prior to the quality logits: the category head's softmax
    /// times a learned per-(category, model) table of prior logits, initialised from the train
    /// split's category means (needs `--category-weight` > 0; exported in router.onnx).
    /// `--category-prior false` trains without it.
    #[arg(long, default_value_t = shipped().model.category_prior, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub category_prior: bool,
    /// Keep the quality loss out of the category head (it then learns from its own
    /// cross-entropy only; the prior table still learns from the quality loss).
    #[arg(long, default_value_t = shipped().model.category_prior_detach, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub category_prior_detach: bool,
    /// Temperature of the category softmax inside the predicted-category prior.
    #[arg(long, default_value_t = shipped().model.category_temperature)]
    pub category_temperature: f64,
    /// After training, weigh each dataset's prompt-specific logits against the
    /// predicted-category prior by what its validation split says (APGR, λ = 0 quality; see
    /// `train::stacking`); exported in router.onnx. `--stacking false`: the network as trained.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub stacking: bool,
    /// Early-stop on the validation BCE plus this weight × the category head's validation
    /// cross-entropy (0: the BCE alone).
    #[arg(long, default_value_t = shipped().stop_category_weight)]
    pub stop_category_weight: f64,
    /// Hash buckets of the featurizer (rows of the embedding table; drives ONNX size).
    #[arg(long, default_value_t = HashedNgramsConfig::default().buckets)]
    pub buckets: u32,
    /// Most sparse features per prompt.
    #[arg(long, default_value_t = HashedNgramsConfig::default().max_features)]
    pub max_features: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = shipped().batch_size)]
    pub batch_size: usize,
    /// Epochs without validation improvement before stopping (with the predicted-category
    /// prior the validation BCE plateaus for a few epochs while the category head learns).
    #[arg(long, default_value_t = shipped().patience)]
    pub patience: usize,
    /// Seed of initialisation, dropout and batch order (ensemble member i uses seed + i).
    #[arg(long, default_value_t = shipped().seed)]
    pub seed: u64,
    /// Networks trained with consecutive seeds and averaged into one exported router (each
    /// member takes as long as a single network, and adds its size to router.onnx).
    #[arg(long, default_value_t = shipped().members)]
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

/// The shipped training settings, from which [`TrainArgs`] takes its defaults: the burn
/// defaults of [`TrainingConfig`] and [`ModelConfig`]. The network's shape (buckets, dense
/// width, candidates, tasks) is zero here; [`TrainArgs::training_config`] sets it from the
/// featurizer and the data.
fn shipped() -> TrainingConfig {
    TrainingConfig::new(ModelConfig::new(0, 0, 0, 0))
}

impl TrainArgs {
    /// The featurizer these arguments select (`HashedNgramsConfig::default()` without flags).
    pub fn featurizer_config(&self) -> FeaturizerConfig {
        FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
            buckets: self.buckets,
            max_features: self.max_features,
            ..HashedNgramsConfig::default()
        })
    }

    /// The training configuration these arguments select for a network over `featurizer`'s
    /// features, `n_candidates` candidate models and `n_categories` (dataset, category)
    /// classes (the category head is left out when `--category-weight` is 0). Without flags
    /// this is `TrainingConfig::new(ModelConfig::new(shape…).with_n_categories(n_categories))`.
    ///
    /// The struct literals name every field, so a setting added to the configs does not
    /// compile until it is given a flag here (or deliberately kept at its default).
    pub fn training_config(
        &self,
        featurizer: &FeaturizerConfig,
        n_candidates: usize,
        n_categories: usize,
    ) -> TrainingConfig {
        let defaults = shipped();
        let model = ModelConfig {
            buckets: featurizer.buckets() as usize,
            dense_dim: featurizer.dense_dim(),
            n_candidates,
            n_tasks: taxonomy::TASKS.len(),
            embed_dim: self.embed_dim,
            hidden: self.hidden,
            factor_dim: self.factor_dim,
            dropout: self.dropout,
            // Not a flag.
            embed_init_std: defaults.model.embed_init_std,
            n_categories: if self.category_weight > 0.0 {
                n_categories
            } else {
                0
            },
            difficulty: self.difficulty,
            category_prior: self.category_prior,
            category_temperature: self.category_temperature,
            category_prior_detach: self.category_prior_detach,
        };
        TrainingConfig {
            model,
            max_epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_decay: self.lr_decay,
            task_weight: self.task_weight,
            per_prompt_loss: !self.per_pair_loss,
            weight_decay: self.weight_decay,
            prior_mix: self.prior_mix,
            category_weight: self.category_weight,
            stop_category_weight: self.stop_category_weight,
            patience: self.patience,
            seed: self.seed,
            members: self.members,
        }
    }
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

/// The datasets to train on after `--exclude-datasets`. Excluding a set that would be
/// trained on removes it; a non-commercial set that is not asked for is never trained on,
/// so excluding it changes nothing; any other name is an error (a typo would otherwise
/// leave the set in). Excluding every set is an error.
pub fn training_datasets(
    requested: Option<&[String]>,
    excluded: &[String],
    allow_noncommercial: bool,
) -> anyhow::Result<Vec<String>> {
    let chosen = resolve_datasets(requested, allow_noncommercial)?;
    let excluded: Vec<&str> = excluded
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let unknown: Vec<&str> = excluded
        .iter()
        .copied()
        .filter(|d| !chosen.iter().any(|c| c == d) && !NONCOMMERCIAL_DATASETS.contains(d))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "--exclude-datasets: {} not among the datasets to train on ({})",
            unknown.join(", "),
            chosen.join(", ")
        );
    }
    let kept: Vec<String> = chosen
        .into_iter()
        .filter(|d| !excluded.contains(&d.as_str()))
        .collect();
    if kept.is_empty() {
        bail!("--exclude-datasets leaves no dataset to train on");
    }
    Ok(kept)
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

/// Loads the datasets `args` select (`--datasets` minus `--exclude-datasets`) and builds
/// the training examples: the data directory, the datasets asked for, and the examples.
pub fn training_data(
    args: &TrainArgs,
    featurizer: &Featurizer,
) -> anyhow::Result<(PathBuf, Vec<String>, TrainingData)> {
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let wanted = training_datasets(
        args.datasets.as_deref(),
        &args.exclude_datasets,
        args.allow_noncommercial,
    )?;
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
            .filter(|d| wanted.contains(d) && !found.contains(&d.as_str()))
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
    let held: Vec<holdout::HeldOut> = args
        .hold_out_labels
        .iter()
        .map(|s| holdout::parse(s))
        .collect::<Result<_, _>>()?;
    let mut frame = loaded.frame;
    for dir in &args.traffic {
        let traffic = datasets::load_with(
            dir,
            &LoadOptions {
                only: None,
                prices: args.prices.clone(),
            },
        )
        .with_context(|| format!("loading logged traffic from {} (--traffic)", dir.display()))?;
        for set in &traffic.report.sets {
            tracing::info!(dataset = %set.dataset, rows = traffic.frame.height(), "logged traffic added to the training data");
            for s in &set.skipped {
                tracing::warn!(dataset = %set.dataset, reason = %s.reason, count = s.count, "traffic rows skipped while loading");
            }
        }
        if traffic.report.sets.is_empty() {
            bail!(
                "--traffic {}: no generic long format file found (write one with `train ingest`)",
                dir.display()
            );
        }
        frame.vstack_mut_owned(traffic.frame).with_context(|| {
            format!(
                "adding the traffic of {} to the benchmark data",
                dir.display()
            )
        })?;
    }
    let (frame, removed) = holdout::remove(&frame, &held)?;
    for (pair, rows) in &removed {
        tracing::info!(pair = %pair, rows, "labels held out of training (--hold-out-labels)");
    }
    let prices = price_table(&data_dir, args.prices.as_deref())?;
    let ratios = SplitRatios::default();
    check_fold(args.validation_fold, &ratios)?;
    let data = data::build_with_fold(&frame, featurizer, &prices, &ratios, args.validation_fold)
        .context("building training examples")?;
    Ok((data_dir, wanted, data))
}

fn run_on<B: AutodiffBackend>(args: &TrainArgs, device: &B::Device) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
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
    let mut featurizer_config = args.featurizer_config();
    featurizer_config
        .validate()
        .map_err(|m| anyhow::anyhow!("invalid featurizer settings: {m}"))?;
    let semantic_dir = args.semantic.clone().unwrap_or_default();
    if args.semantic.is_some() {
        let FeaturizerConfig::HashedNgrams(c) = &mut featurizer_config;
        c.semantic = Some(
            models::semantic::describe(&semantic_dir, SEMANTIC_TABLE, SEMANTIC_VOCAB)
                .with_context(|| format!("--semantic {}", semantic_dir.display()))?,
        );
    }
    let featurizer = Featurizer::load(featurizer_config.clone(), &semantic_dir)?;
    let ratios = SplitRatios::default();
    let (data_dir, wanted, data) = training_data(args, &featurizer)?;
    if data.skipped.total() > 0 {
        for (reason, count) in &data.skipped.reasons {
            tracing::warn!(reason, count, "outcome rows not used as labels");
        }
    }

    let config = args.training_config(
        &featurizer_config,
        data.candidates.len(),
        data.category_classes.len(),
    );
    let init = match &args.init_from {
        Some(dir) => {
            let init = crate::onnx::import::InitialWeights::read(dir)?;
            let ours = serde_json::to_value(&featurizer_config)?;
            if init.featurizer != ours {
                bail!(
                    "--init-from {}: its featurizer ({}) is not this run's ({ours}): embeddings of other features mean nothing; pass its featurizer settings",
                    dir.display(),
                    init.featurizer
                );
            }
            Some(init)
        }
        None => None,
    };
    let mut outcome: EnsembleOutcome<B::InnerBackend> =
        train_ensemble_from::<B>(&config, &data, device, !args.quiet, init.as_ref())?;
    let stacking = if args.stacking {
        crate::stacking::fit(&mut outcome.model, &data, device)
    } else {
        None
    };
    if let Some(s) = &stacking {
        for d in &s.datasets {
            tracing::info!(dataset = d.dataset, weight = d.weight, blend = d.blend, criterion = ?d.criterion, "stacking: the rule's weight and blend");
        }
    }

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
        "stacking": stacking,
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
    if args.semantic.is_some() {
        for file in [SEMANTIC_TABLE, SEMANTIC_VOCAB] {
            let (from, to) = (semantic_dir.join(file), args.out.join(file));
            if from != to {
                std::fs::copy(&from, &to)
                    .with_context(|| format!("copying {} into the artifact", from.display()))?;
            }
        }
    }
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
        "excluded_datasets": args.exclude_datasets,
        "held_out_labels": args.hold_out_labels.iter().map(|s| s.trim()).collect::<Vec<_>>(),
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
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
    }

    fn parse(flags: &[&str]) -> TrainArgs {
        Cli::try_parse_from(std::iter::once("train").chain(flags.iter().copied()))
            .unwrap()
            .train
    }

    /// The configuration of a network of `models/default`'s shape with all other settings at
    /// the burn defaults.
    fn default_config(
        featurizer: &FeaturizerConfig,
        candidates: usize,
        categories: usize,
    ) -> TrainingConfig {
        TrainingConfig::new(
            ModelConfig::new(
                featurizer.buckets() as usize,
                featurizer.dense_dim(),
                candidates,
                taxonomy::TASKS.len(),
            )
            .with_n_categories(categories),
        )
    }

    #[test]
    fn no_flags_train_the_default_configuration() {
        let args = parse(&[]);
        let featurizer = args.featurizer_config();
        assert_eq!(featurizer, FeaturizerConfig::default());
        let config = args.training_config(&featurizer, 41, 81);
        let expected = default_config(&featurizer, 41, 81);
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
        assert_eq!(config, expected);
    }

    /// Every hyper-parameter flag reaches the configuration: set to a value other than its
    /// default, each changes its field (the shape and `embed_init_std` are not flags).
    #[test]
    fn every_flag_reaches_the_configuration() {
        let args = parse(&[
            "--epochs=7",
            "--lr=0.01",
            "--lr-decay=0.9",
            "--difficulty=false",
            "--hidden=64",
            "--embed-dim=8",
            "--factor-dim=16",
            "--dropout=0.1",
            "--task-weight=0.5",
            "--per-pair-loss",
            "--weight-decay=0.001",
            "--prior-mix=0.5",
            "--category-weight=2",
            "--category-prior=false",
            "--category-prior-detach",
            "--category-temperature=2",
            "--stop-category-weight=0.5",
            "--buckets=1024",
            "--max-features=64",
            "--batch-size=32",
            "--patience=2",
            "--seed=7",
            "--members=3",
        ]);
        let featurizer = args.featurizer_config();
        assert_eq!(featurizer.buckets(), 1024);
        assert_eq!(featurizer.max_features(), 64);
        let set = serde_json::to_value(args.training_config(&featurizer, 41, 81)).unwrap();
        let base =
            serde_json::to_value(default_config(&FeaturizerConfig::default(), 41, 81)).unwrap();
        let not_flags = [
            "dense_dim",
            "n_candidates",
            "n_tasks",
            "n_categories",
            "embed_init_std",
        ];
        let mut checked = 0;
        for (scope, set, base) in [("", &set, &base), ("model.", &set["model"], &base["model"])] {
            for (key, value) in set.as_object().unwrap() {
                if key == "model" || not_flags.contains(&key.as_str()) {
                    continue;
                }
                assert_ne!(value, &base[key], "{scope}{key} did not follow its flag");
                checked += 1;
            }
        }
        assert_eq!(
            checked, 22,
            "a setting was added: give it a flag and list it above"
        );
    }

    #[test]
    fn boolean_flags_take_an_optional_value() {
        assert!(parse(&["--difficulty"]).difficulty);
        assert!(!parse(&["--difficulty", "false"]).difficulty);
        assert!(parse(&["--category-prior"]).category_prior);
        assert!(!parse(&["--category-prior", "false"]).category_prior);
        assert!(parse(&[]).stacking, "stacking is on by default");
        assert!(!parse(&["--stacking", "false"]).stacking);
    }

    /// The shipped router (`models/default`) was trained with the defaults: its manifest records
    /// exactly the configuration `train` builds without flags, for its shape.
    #[test]
    fn defaults_are_what_the_shipped_router_records() {
        let manifest = models::Manifest::load(models::artifact::default_dir()).unwrap();
        assert_eq!(manifest.featurizer, FeaturizerConfig::default());
        let recorded: TrainingConfig =
            serde_json::from_value(manifest.training["hyper_parameters"].clone()).unwrap();
        assert_eq!(recorded.model.n_candidates, manifest.candidates.len());
        let built = parse(&[]).training_config(
            &manifest.featurizer,
            recorded.model.n_candidates,
            recorded.model.n_categories,
        );
        assert_eq!(built, recorded);
        assert_eq!(
            serde_json::to_value(&built).unwrap(),
            manifest.training["hyper_parameters"]
        );
    }

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
    fn excluded_datasets_are_left_out_and_checked() {
        let all = training_datasets(None, &[], false).unwrap();
        assert_eq!(all, PERMISSIVE_DATASETS);
        let kept = training_datasets(None, &["mt_bench".into()], false).unwrap();
        assert!(!kept.contains(&"mt_bench".to_string()));
        assert_eq!(kept.len(), PERMISSIVE_DATASETS.len() - 1);
        // Never trained on without the flag: excluding it is a no-op.
        assert_eq!(
            training_datasets(None, &["alpaca_eval".into()], false).unwrap(),
            all
        );
        let typo = training_datasets(None, &["mt-bench".into()], false)
            .unwrap_err()
            .to_string();
        assert!(
            typo.contains("mt-bench") && typo.contains("--exclude-datasets"),
            "{typo}"
        );
        let asked = vec!["mmlu".to_string()];
        assert!(training_datasets(Some(&asked), &asked, false).is_err());
    }

    /// `--exclude-datasets` reaches the examples: the excluded set contributes no training
    /// example (nor a validation or test one), the others do.
    #[test]
    fn an_excluded_dataset_contributes_no_training_example() {
        let tmp = tempfile::tempdir().unwrap();
        let mut csv = String::from("dataset,prompt,category,model,score,cost_usd\n");
        for set in ["keep", "leave"] {
            for i in 0..40 {
                for model in ["m1", "m2"] {
                    csv.push_str(&format!(
                        "{set},\"{set} prompt number {i}\",c,{model},{},0.001\n",
                        i % 2
                    ));
                }
            }
        }
        std::fs::write(tmp.path().join("sets.csv"), csv).unwrap();
        let dir = tmp.path().to_str().unwrap();
        let featurizer = Featurizer::new(FeaturizerConfig::default());
        let examples_of = |flags: &[&str]| {
            let args = parse(&[&["--data", dir, "--datasets", "keep,leave"], flags].concat());
            let (_, wanted, data) = training_data(&args, &featurizer).unwrap();
            let names: Vec<String> = data
                .examples
                .iter()
                .map(|e| data.datasets[e.dataset].name.clone())
                .collect();
            (wanted, names)
        };
        let (wanted, all) = examples_of(&[]);
        assert_eq!(wanted, ["keep", "leave"]);
        assert!(all.iter().any(|d| d == "leave") && all.iter().any(|d| d == "keep"));
        let (wanted, kept) = examples_of(&["--exclude-datasets", "leave"]);
        assert_eq!(wanted, ["keep"]);
        assert!(!kept.is_empty());
        assert!(kept.iter().all(|d| d == "keep"), "{kept:?}");
        assert_eq!(kept.len(), all.iter().filter(|d| *d == "keep").count());
        let args = parse(&["--exclude-datasets", "mt_bench,gsm8k"]);
        assert_eq!(args.exclude_datasets, ["mt_bench", "gsm8k"]);
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
