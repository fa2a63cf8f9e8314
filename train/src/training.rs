//! The training loop (burn's `custom-training-loop` style, on an autodiff backend).
//!
//! Loss = masked binary cross-entropy between the quality logits and the targets (the
//! normalised scores, mixed by `prior_mix` with the train split's (dataset, category) mean;
//! a missing (prompt, model) outcome has mask 0 and adds nothing), averaged per prompt (or
//! per labelled pair), + `task_weight` × cross-entropy of the task head + `category_weight` ×
//! cross-entropy of the category head. Adam, shuffled mini-batches, early stopping on the
//! validation BCE (+ `stop_category_weight` × the category cross-entropy) with `patience`;
//! the best epoch's weights are kept. The same seed, data and backend give the same model.
//! [`train_ensemble`] trains several networks with consecutive seeds and averages them.
//!
//! [`TrainingConfig`]'s and [`ModelConfig`]'s defaults are the shipped settings: `train`
//! without flags trains exactly `TrainingConfig::new(ModelConfig::new(shape…))`.

use crate::onnx::import::InitialWeights;
use std::time::{Duration, Instant};

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::data::{Example, RouterBatch, RouterBatcher, TrainingData};
use crate::inference;
use crate::model::{ModelConfig, RouterEnsemble, RouterModel, task_log_probs};
use crate::validation::{self, ValidationMetrics};

/// Everything that defines a training run; saved in the manifest (`training.hyper_parameters`).
///
/// The defaults are the shipped router's settings: the `train` command takes its flags'
/// defaults from here (`crate::run::TrainArgs`), and `models/default/manifest.json` records
/// them (both pinned by tests in `crate::run`).
#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    pub model: ModelConfig,
    /// Upper bound on epochs (early stopping usually ends sooner; the cap keeps the default
    /// run under a minute on two cores).
    #[config(default = 20)]
    pub max_epochs: usize,
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam learning rate (of the first epoch; see `lr_decay`).
    #[config(default = 3e-3)]
    pub lr: f64,
    /// Factor applied to the learning rate after every epoch (1: constant).
    #[config(default = 1.0)]
    pub lr_decay: f64,
    /// Weight of the task cross-entropy relative to the quality BCE.
    #[config(default = 0.2)]
    pub task_weight: f64,
    /// Average the quality loss per prompt first (each prompt counts once, however many
    /// models answered it) instead of per labelled pair.
    #[config(default = true)]
    pub per_prompt_loss: bool,
    /// L2 weight decay of Adam (0 disables it).
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Share of the train-split (dataset, category) mean in each labelled pair's target
    /// (see [`crate::data::Example::prior`]; damps one-shot label noise); 0 trains on the
    /// labels alone.
    #[config(default = 0.3)]
    pub prior_mix: f64,
    /// Weight of the auxiliary (dataset, category) cross-entropy (needs
    /// `model.n_categories > 0`; `train` gives the model no category head when this is 0).
    #[config(default = 1.0)]
    pub category_weight: f64,
    /// Early-stopping score: the validation quality BCE plus this weight × the validation
    /// cross-entropy of the category head (0: the BCE alone). With the predicted-category
    /// prior, the quality BCE can plateau while the category head still improves.
    #[config(default = 0.0)]
    pub stop_category_weight: f64,
    /// Epochs without a better early-stopping score before stopping (with the
    /// predicted-category prior the validation BCE plateaus for a few epochs while the
    /// category head learns).
    #[config(default = 6)]
    pub patience: usize,
    /// Seeds parameter initialisation, dropout and the batch order.
    #[config(default = 42)]
    pub seed: u64,
    /// Networks trained by [`train_ensemble`] (member `i` uses seed `seed + i`); the
    /// exported router averages their outputs.
    #[config(default = 1)]
    pub members: usize,
}

/// One epoch's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss (quality BCE + weighted task CE).
    pub train_loss: f64,
    /// `None` when there is no validation split.
    pub validation: Option<ValidationMetrics>,
    /// Share of validation prompts whose most probable (dataset, category) class is theirs,
    /// per dataset (only with a category head; prompts of classes unseen in training count
    /// as misses).
    pub category_accuracy: std::collections::BTreeMap<String, f64>,
    /// Mean cross-entropy of the category head on validation prompts with a known class.
    pub category_ce: Option<f64>,
    pub seconds: f64,
}

/// The result of [`train`].
#[derive(Debug)]
pub struct TrainOutcome<B: Backend> {
    /// The weights of the best validation epoch (the last epoch without a validation split).
    pub model: RouterModel<B>,
    pub history: Vec<EpochRecord>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub duration: Duration,
}

impl<B: Backend> TrainOutcome<B> {
    /// Validation metrics of the kept epoch.
    pub fn best_validation(&self) -> Option<&ValidationMetrics> {
        self.history
            .get(self.best_epoch.saturating_sub(1))
            .and_then(|r| r.validation.as_ref())
    }
}

/// One ensemble member's run (its weights are in [`EnsembleOutcome::model`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberRun {
    pub seed: u64,
    pub history: Vec<EpochRecord>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub seconds: f64,
}

/// The result of [`train_ensemble`].
#[derive(Debug)]
pub struct EnsembleOutcome<B: Backend> {
    pub model: RouterEnsemble<B>,
    pub members: Vec<MemberRun>,
    /// Metrics of the averaged outputs on the validation split (`None` without one).
    pub validation: Option<ValidationMetrics>,
    pub duration: Duration,
}

/// Trains `config.members` networks with seeds `seed, seed + 1, …` (each early-stopped on
/// the validation split as [`train`] does) and returns them as one averaging ensemble.
pub fn train_ensemble<B: AutodiffBackend>(
    config: &TrainingConfig,
    data: &TrainingData,
    device: &B::Device,
    progress: bool,
) -> Result<EnsembleOutcome<B::InnerBackend>, TrainError> {
    train_ensemble_from::<B>(config, data, device, progress, None)
}

/// [`train_ensemble`] with every member starting from an artifact's weights (fine-tuning,
/// `train --init-from`; see [`crate::onnx::import`]) instead of a fresh initialisation.
pub fn train_ensemble_from<B: AutodiffBackend>(
    config: &TrainingConfig,
    data: &TrainingData,
    device: &B::Device,
    progress: bool,
    init: Option<&InitialWeights>,
) -> Result<EnsembleOutcome<B::InnerBackend>, TrainError> {
    if config.members == 0 {
        return Err(TrainError::Config(
            "the ensemble needs at least one member".into(),
        ));
    }
    let started = Instant::now();
    let mut members = Vec::with_capacity(config.members);
    let mut runs = Vec::with_capacity(config.members);
    for i in 0..config.members {
        let seed = config.seed.wrapping_add(i as u64);
        let member_config = config.clone().with_seed(seed);
        let outcome = train_from::<B>(&member_config, data, device, progress, init)?;
        tracing::info!(
            member = i,
            seed,
            best_epoch = outcome.best_epoch,
            seconds = outcome.duration.as_secs_f64(),
            "ensemble member trained"
        );
        runs.push(MemberRun {
            seed,
            history: outcome.history,
            best_epoch: outcome.best_epoch,
            stopped_early: outcome.stopped_early,
            seconds: outcome.duration.as_secs_f64(),
        });
        members.push(outcome.model);
    }
    let model = RouterEnsemble { members };
    let valid_set = data.split(datasets::split::Split::Validation);
    let validation = (!valid_set.is_empty()).then(|| {
        let predictions = inference::predict(&model, &valid_set, 512, device);
        validation::metrics(&valid_set, &predictions)
    });
    Ok(EnsembleOutcome {
        model,
        members: runs,
        validation,
        duration: started.elapsed(),
    })
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no training examples")]
    NoExamples,
    #[error("invalid training configuration: {0}")]
    Config(String),
}

/// Trains a network on `data`'s train split, early-stopping on its validation split.
/// `progress` shows indicatif bars (hidden automatically when stderr is not a terminal).
pub fn train<B: AutodiffBackend>(
    config: &TrainingConfig,
    data: &TrainingData,
    device: &B::Device,
    progress: bool,
) -> Result<TrainOutcome<B::InnerBackend>, TrainError> {
    train_from::<B>(config, data, device, progress, None)
}

/// [`train`] starting from an artifact's weights where `init` is given.
pub fn train_from<B: AutodiffBackend>(
    config: &TrainingConfig,
    data: &TrainingData,
    device: &B::Device,
    progress: bool,
    init: Option<&InitialWeights>,
) -> Result<TrainOutcome<B::InnerBackend>, TrainError> {
    if config.batch_size == 0 || config.max_epochs == 0 {
        return Err(TrainError::Config(
            "batch_size and max_epochs must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&config.prior_mix) {
        return Err(TrainError::Config(format!(
            "prior_mix must be in [0, 1], got {}",
            config.prior_mix
        )));
    }
    if !(0.0..1.0).contains(&config.model.dropout) {
        return Err(TrainError::Config(format!(
            "dropout must be in [0, 1), got {}",
            config.model.dropout
        )));
    }
    let started = Instant::now();
    let train_set = data.split(datasets::split::Split::Train);
    let valid_set = data.split(datasets::split::Split::Validation);
    if train_set.is_empty() {
        return Err(TrainError::NoExamples);
    }
    B::seed(device, config.seed);
    let batcher = RouterBatcher {
        n_candidates: config.model.n_candidates,
        n_tasks: config.model.n_tasks,
        dense_dim: config.model.dense_dim,
        prior_mix: config.prior_mix as f32,
        n_categories: config.model.n_categories,
    };
    let mut model: RouterModel<B> = config.model.init(device);
    if model.prior_table.is_some() {
        model = model.with_prior_table(&data.category_prior_logits(), device);
    }
    if let Some(init) = init {
        let names: Vec<String> = data.candidates.iter().map(|c| c.name.clone()).collect();
        let (loaded, report) = crate::onnx::import::apply(model, init, &names, device);
        model = loaded;
        tracing::info!(from = %report.from, loaded = ?report.loaded, candidates_kept = report.candidates_kept, candidates_new = ?report.candidates_new, "starting from the artifact's weights");
        for (name, why) in &report.fresh {
            tracing::warn!(weight = %name, why = %why, "not taken from the artifact: starts fresh");
        }
    }
    let mut adam = AdamConfig::new();
    if config.weight_decay > 0.0 {
        adam = adam.with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)));
    }
    let mut optim = adam.init();
    let mut rng = SplitMix64::new(config.seed);

    let bars = Bars::new(
        progress,
        config.max_epochs,
        train_set.len().div_ceil(config.batch_size),
    );
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, RouterModel<B::InnerBackend>)> = None;
    let mut stale = 0;
    let mut stopped_early = false;
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    for epoch in 1..=config.max_epochs {
        let epoch_started = Instant::now();
        rng.shuffle(&mut order);
        bars.start_epoch(epoch);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        let lr = config.lr * config.lr_decay.powi(epoch as i32 - 1);
        for chunk in order.chunks(config.batch_size) {
            let items: Vec<&Example> = chunk.iter().map(|&i| train_set[i]).collect();
            let batch = batcher.batch::<B>(&items, device);
            let loss = loss(
                &model,
                batch,
                config.task_weight,
                config.category_weight,
                config.per_prompt_loss,
            );
            let value: f64 = loss.clone().into_scalar().elem();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum += value;
            batches += 1;
            bars.step(loss_sum / batches as f64);
        }
        let train_loss = loss_sum / batches.max(1) as f64;
        let valid_model = model.valid();
        let validation = (!valid_set.is_empty()).then(|| {
            let predictions = inference::predict(&valid_model, &valid_set, 512, device);
            validation::metrics(&valid_set, &predictions)
        });
        let category_fit = category_fit(&valid_model, data, &valid_set, device);
        let category_ce = category_fit.cross_entropy;
        let record = EpochRecord {
            epoch,
            train_loss,
            validation: validation.clone(),
            category_accuracy: category_fit.accuracy,
            category_ce,
            seconds: epoch_started.elapsed().as_secs_f64(),
        };
        bars.end_epoch(&record);
        tracing::info!(epoch, train_loss, validation = ?validation, "epoch done");
        history.push(record);

        let score = validation.as_ref().map_or(train_loss, |v| {
            v.bce + config.stop_category_weight * category_ce.unwrap_or(0.0)
        });
        match &best {
            Some((best_score, _, _)) if score >= *best_score => {
                stale += 1;
                if validation.is_some() && stale >= config.patience {
                    stopped_early = epoch < config.max_epochs;
                    break;
                }
            }
            _ => {
                best = Some((score, epoch, valid_model));
                stale = 0;
            }
        }
    }
    bars.finish();
    let (_, best_epoch, model) = match best {
        Some(b) => b,
        None => (f64::NAN, history.len(), model.valid()),
    };
    Ok(TrainOutcome {
        model,
        history,
        best_epoch,
        stopped_early,
        duration: started.elapsed(),
    })
}

/// How well the category head recognises validation prompts (see [`category_fit`]).
#[derive(Debug, Clone, Default)]
pub struct CategoryFit {
    /// Per dataset, the share of prompts whose most probable class is theirs (prompts of a
    /// class unseen in training count as misses).
    pub accuracy: std::collections::BTreeMap<String, f64>,
    /// Mean cross-entropy over the prompts with a known class.
    pub cross_entropy: Option<f64>,
}

/// [`CategoryFit`] of `model`'s category head on `examples` (empty without the head).
pub fn category_fit<B: Backend>(
    model: &RouterModel<B>,
    data: &TrainingData,
    examples: &[&Example],
    device: &B::Device,
) -> CategoryFit {
    let mut hits: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let (mut ce, mut known) = (0.0f64, 0usize);
    if model.category_head.is_none() {
        return CategoryFit::default();
    }
    let dense_dim = model.hidden.weight.dims()[0] - model.embedding.weight.dims()[1];
    for chunk in examples.chunks(512) {
        let rows: Vec<&models::Features> = chunk.iter().map(|e| &e.features).collect();
        let batch = models::FeatureBatch::from_features(&rows, dense_dim);
        let (ids, weights, dense) = crate::data::feature_tensors::<B>(&batch, device);
        let Some(logits) = model.forward_logits(ids, weights, dense).category else {
            break;
        };
        let [_, k] = logits.dims();
        let log_probs: Vec<f32> = task_log_probs(logits).into_data().iter::<f32>().collect();
        for (i, e) in chunk.iter().enumerate() {
            let row = &log_probs[i * k..(i + 1) * k];
            let best = crate::validation::argmax(row);
            let entry = hits
                .entry(data.datasets[e.dataset].name.clone())
                .or_default();
            entry.1 += 1;
            if let Some(c) = e.category_class.filter(|&c| c < k) {
                ce -= f64::from(row[c]);
                known += 1;
                if best == Some(c) {
                    entry.0 += 1;
                }
            }
        }
    }
    CategoryFit {
        accuracy: hits
            .into_iter()
            .map(|(d, (h, n))| (d, h as f64 / n.max(1) as f64))
            .collect(),
        cross_entropy: (known > 0).then(|| ce / known as f64),
    }
}

/// Masked BCE (quality) + `task_weight` × task cross-entropy, as a scalar tensor.
pub fn loss<B: Backend>(
    model: &RouterModel<B>,
    batch: RouterBatch<B>,
    task_weight: f64,
    category_weight: f64,
    per_prompt: bool,
) -> Tensor<B, 1> {
    let logits = model.forward_logits(batch.ids, batch.weights, batch.dense);
    let quality = if per_prompt {
        per_prompt_bce_with_logits(logits.quality, batch.labels, batch.mask)
    } else {
        masked_bce_with_logits(logits.quality, batch.labels, batch.mask)
    };
    let [rows, _] = batch.tasks.dims();
    let task = (task_log_probs(logits.task) * batch.tasks).sum().neg() / rows.max(1) as f64;
    let total = quality + task * task_weight;
    match logits.category {
        Some(category) if category_weight > 0.0 => {
            // Rows without a known category have an all-zero target and add nothing.
            let ce = (task_log_probs(category) * batch.categories).sum().neg() / rows.max(1) as f64;
            total + ce * category_weight
        }
        _ => total,
    }
}

/// `mean over mask=1 of [max(z,0) − z·y + ln(1 + e^{−|z|})]`: BCE on logits, stable for
/// large |z|, valid for fractional targets y ∈ [0, 1] (graded labels).
pub fn masked_bce_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let per_pair =
        logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p();
    let labelled = mask.clone().sum().clamp_min(1.0);
    (per_pair * mask).sum() / labelled
}

/// Like [`masked_bce_with_logits`], but each prompt's labelled pairs are averaged first and
/// prompts then weigh equally, so a set with 29 models per prompt does not drown one with 2.
pub fn per_prompt_bce_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [rows, _] = logits.dims();
    let per_pair =
        logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p();
    let per_row: Tensor<B, 2> =
        (per_pair * mask.clone()).sum_dim(1) / mask.sum_dim(1).clamp_min(1.0);
    per_row.sum() / rows.max(1) as f64
}

/// Progress bars: epochs, and batches within the epoch with the running loss.
struct Bars {
    multi: Option<MultiProgress>,
    epochs: ProgressBar,
    batches: ProgressBar,
}

impl Bars {
    fn new(show: bool, epochs: usize, batches: usize) -> Bars {
        if !show {
            return Bars {
                multi: None,
                epochs: ProgressBar::hidden(),
                batches: ProgressBar::hidden(),
            };
        }
        let multi = MultiProgress::new();
        let epochs_bar = multi.add(ProgressBar::new(epochs as u64));
        epochs_bar.set_style(
            ProgressStyle::with_template("epoch {pos}/{len} {wide_bar} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let batches_bar = multi.add(ProgressBar::new(batches as u64));
        batches_bar.set_style(
            ProgressStyle::with_template("  batch {pos}/{len} {bar:40} loss {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bars {
            multi: Some(multi),
            epochs: epochs_bar,
            batches: batches_bar,
        }
    }

    fn start_epoch(&self, _epoch: usize) {
        self.batches.reset();
    }

    fn step(&self, running_loss: f64) {
        self.batches.inc(1);
        self.batches.set_message(format!("{running_loss:.4}"));
    }

    fn end_epoch(&self, record: &EpochRecord) {
        self.epochs.inc(1);
        let msg = match &record.validation {
            Some(v) => format!(
                "train loss {:.4} | valid BCE {:.4} AUC {} task acc {:.3}",
                record.train_loss,
                v.bce,
                v.auc.map_or("-".into(), |a| format!("{a:.4}")),
                v.task_accuracy
            ),
            None => format!("train loss {:.4}", record.train_loss),
        };
        self.epochs.set_message(msg.clone());
        if self.multi.is_some() {
            self.epochs.println(format!(
                "epoch {:>2}: {msg} ({:.1}s)",
                record.epoch, record.seconds
            ));
        }
    }

    fn finish(&self) {
        self.batches.finish_and_clear();
        self.epochs.finish();
    }
}

/// A small deterministic generator for the batch order (SplitMix64): the same seed gives the
/// same order on every platform, independent of any library's RNG.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; Lemire's multiply-shift, bias negligible here).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;

    #[test]
    fn masked_pairs_add_nothing_to_the_loss() {
        let d = Default::default();
        let t = |v: Vec<f32>| Tensor::<B, 2>::from_data(TensorData::new(v, [1, 3]), &d);
        let a = masked_bce_with_logits(
            t(vec![0.3, -2.0, 5.0]),
            t(vec![1.0, 0.0, 0.0]),
            t(vec![1.0, 1.0, 0.0]),
        );
        let b = masked_bce_with_logits(
            t(vec![0.3, -2.0, -9.0]),
            t(vec![1.0, 0.0, 1.0]),
            t(vec![1.0, 1.0, 0.0]),
        );
        let (a, b): (f32, f32) = (a.into_scalar(), b.into_scalar());
        assert!((a - b).abs() < 1e-6);
        // Matches the textbook BCE on probabilities.
        let p = |z: f32| 1.0 / (1.0 + (-z).exp());
        let expected = (-(p(0.3)).ln() - (1.0 - p(-2.0)).ln()) / 2.0;
        assert!((a - expected).abs() < 1e-5, "{a} vs {expected}");
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        SplitMix64::new(7).shuffle(&mut a);
        SplitMix64::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }
}
