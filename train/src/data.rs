//! From the canonical outcome table to training examples, and examples to burn tensors.
//!
//! One [`Example`] per unique (dataset, prompt): the featurized prompt, one label per
//! candidate model with a mask (a (prompt, model) pair without an outcome is masked out and
//! adds nothing to the loss), the task label from [`models::taxonomy::task_for`], and the
//! prompt's split (deterministic by prompt hash, [`datasets::split::split_of`]).
//!
//! Candidates are the models with at least one outcome in the train split, sorted by name so
//! that the `quality` output's column order is stable across runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use datasets::schema;
use datasets::split::{Split, SplitRatios, split_of, split_of_fold};
use datasets::{Price, PriceTable};
use models::manifest::TaskMapping;
use models::{CandidateModel, FeatureBatch, Features, Featurizer, taxonomy};
use polars::prelude::*;
use rayon::prelude::*;

use crate::output_length;

/// How a dataset's outcomes were graded (both are trained as BCE on the normalised score).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Correct (1) or incorrect (0).
    Binary,
    /// A judge score or preference normalised to `[0, 1]`.
    Graded,
}

/// What was learned about one dataset while building examples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetInfo {
    pub name: String,
    pub label_kind: LabelKind,
    /// Outcome rows used.
    pub rows: usize,
    /// Unique prompts.
    pub prompts: usize,
    /// Prompts per split: train, validation, test.
    pub split_prompts: [usize; 3],
}

/// One prompt with its labels.
#[derive(Debug, Clone)]
pub struct Example {
    /// Index into [`TrainingData::datasets`].
    pub dataset: usize,
    pub prompt_id: String,
    pub prompt: String,
    pub category: Option<String>,
    /// Estimated prompt tokens (for cost estimates, as the gateway makes them).
    pub input_tokens: u32,
    pub features: Features,
    /// Normalised score per candidate (0 where masked).
    pub labels: Vec<f32>,
    /// 1 where the candidate has an outcome for this prompt, else 0.
    pub mask: Vec<f32>,
    /// Mean train-split label of each candidate on this prompt's (dataset, category), shrunk
    /// toward the candidate's dataset mean ([`PRIOR_STRENGTH`] pseudo-prompts); 0 where the
    /// candidate has no train label in the dataset. A training target only (the network never
    /// sees the category): blending it into the label ([`RouterBatcher::prior_mix`]) damps the
    /// noise of one-shot correct/incorrect outcomes.
    pub prior: Vec<f32>,
    /// Realised cost in USD per candidate, where known.
    pub costs: Vec<Option<f64>>,
    /// Index into [`taxonomy::TASKS`].
    pub task: usize,
    /// Index into [`TrainingData::category_classes`] (a training target only).
    pub category_class: Option<usize>,
    pub split: Split,
}

impl Example {
    /// Candidates with an outcome for this prompt.
    pub fn labelled(&self) -> impl Iterator<Item = usize> + '_ {
        self.mask
            .iter()
            .enumerate()
            .filter(|(_, m)| **m > 0.0)
            .map(|(i, _)| i)
    }
}

/// Rows of the table that did not become labels, by reason.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Skipped {
    pub reasons: BTreeMap<String, usize>,
}

impl Skipped {
    fn add(&mut self, reason: &str, n: usize) {
        if n > 0 {
            *self.reasons.entry(reason.to_string()).or_default() += n;
        }
    }

    pub fn total(&self) -> usize {
        self.reasons.values().sum()
    }
}

/// Everything training needs from the data.
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// Candidate models in output order, with prices and expected output length.
    pub candidates: Vec<CandidateModel>,
    pub datasets: Vec<DatasetInfo>,
    pub examples: Vec<Example>,
    pub task_mapping: TaskMapping,
    /// `dataset/category` of every category with a train-split prompt (targets of the
    /// auxiliary category head).
    pub category_classes: Vec<String>,
    pub skipped: Skipped,
    /// Duplicate (dataset, prompt, model) outcomes that were averaged into one label.
    pub merged_duplicates: usize,
    pub ratios: SplitRatios,
}

/// Why examples could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("canonical table: {0}")]
    Polars(#[from] PolarsError),
    #[error("canonical table: column `{column}` row {row} is null")]
    Null { column: &'static str, row: usize },
    #[error("no outcomes in the train split: nothing to learn from ({0} rows in the table)")]
    NoTrainingRows(usize),
}

impl TrainingData {
    /// Examples of one split.
    pub fn split(&self, split: Split) -> Vec<&Example> {
        self.examples.iter().filter(|e| e.split == split).collect()
    }

    /// Candidate names in output order.
    pub fn candidate_names(&self) -> Vec<&str> {
        self.candidates.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Per-model running totals used for prices.
#[derive(Default, Clone)]
struct ModelStats {
    train_labels: usize,
    /// Least-squares sums for cost ≈ a·input + b·output.
    ii: f64,
    io: f64,
    oo: f64,
    ic: f64,
    oc: f64,
    cost_rows: usize,
}

/// One outcome row, as read from the frame (training and offline evaluation both read
/// the canonical table through [`frame_rows`]).
pub(crate) struct Row<'a> {
    pub(crate) dataset: &'a str,
    pub(crate) prompt_id: &'a str,
    pub(crate) prompt: &'a str,
    pub(crate) category: Option<&'a str>,
    pub(crate) model: &'a str,
    pub(crate) score: Option<f64>,
    pub(crate) input_tokens: u32,
    pub(crate) output_tokens: u32,
    pub(crate) cost: Option<f64>,
}

/// Builds examples from the canonical table. `prices` fills candidate prices (else they are
/// estimated from the table's `cost_usd` by least squares over token counts).
pub fn build(
    frame: &DataFrame,
    featurizer: &Featurizer,
    prices: &PriceTable,
    ratios: &SplitRatios,
) -> Result<TrainingData, DataError> {
    build_with_fold(frame, featurizer, prices, ratios, None)
}

/// [`build`] with validation on cross-validation fold `fold`
/// ([`datasets::split::split_of_fold`]; the test split is unchanged); `None`: the plain split.
pub fn build_with_fold(
    frame: &DataFrame,
    featurizer: &Featurizer,
    prices: &PriceTable,
    ratios: &SplitRatios,
    fold: Option<usize>,
) -> Result<TrainingData, DataError> {
    let rows = frame_rows(frame)?;
    build_from_rows(&rows, featurizer, prices, ratios, fold)
}

/// The canonical table's rows; a null in a required column (dataset, prompt id, prompt,
/// model) is an error that names the column and row, never a silent skip.
pub(crate) fn frame_rows(frame: &DataFrame) -> Result<Vec<Row<'_>>, DataError> {
    let dataset = frame.column(schema::DATASET)?.str()?;
    let prompt_id = frame.column(schema::PROMPT_ID)?.str()?;
    let prompt = frame.column(schema::PROMPT)?.str()?;
    let category = frame.column(schema::CATEGORY)?.str()?;
    let model = frame.column(schema::MODEL)?.str()?;
    let score = frame.column(schema::SCORE)?.f64()?;
    let input_tokens = frame.column(schema::INPUT_TOKENS)?.u32()?;
    let output_tokens = frame.column(schema::OUTPUT_TOKENS)?.u32()?;
    let cost = frame.column(schema::COST_USD)?.f64()?;

    let mut rows = Vec::with_capacity(frame.height());
    let iter = dataset
        .iter()
        .zip(prompt_id.iter())
        .zip(prompt.iter())
        .zip(category.iter())
        .zip(model.iter())
        .zip(score.iter())
        .zip(input_tokens.iter())
        .zip(output_tokens.iter())
        .zip(cost.iter());
    for (i, ((((((((d, id), p), c), m), s), it), ot), cost)) in iter.enumerate() {
        let null = |column| DataError::Null { column, row: i };
        rows.push(Row {
            dataset: d.ok_or_else(|| null(schema::DATASET))?,
            prompt_id: id.ok_or_else(|| null(schema::PROMPT_ID))?,
            prompt: p.ok_or_else(|| null(schema::PROMPT))?,
            category: c,
            model: m.ok_or_else(|| null(schema::MODEL))?,
            score: s,
            input_tokens: it.unwrap_or(0),
            output_tokens: ot.unwrap_or(0),
            cost,
        });
    }
    Ok(rows)
}

fn build_from_rows(
    rows: &[Row<'_>],
    featurizer: &Featurizer,
    prices: &PriceTable,
    ratios: &SplitRatios,
    fold: Option<usize>,
) -> Result<TrainingData, DataError> {
    let split_of = |id: &str| match fold {
        Some(k) => split_of_fold(id, ratios, k),
        None => split_of(id, ratios),
    };
    let mut skipped = Skipped::default();
    let usable = |r: &Row<'_>| {
        r.score
            .is_some_and(|s| s.is_finite() && (0.0..=1.0).contains(&s))
    };

    // Candidates: models with at least one usable outcome in the train split.
    let mut stats: BTreeMap<&str, ModelStats> = BTreeMap::new();
    let mut lengths: Vec<(&str, &str, u32)> = Vec::new();
    for r in rows.iter().filter(|r| usable(r)) {
        let st = stats.entry(r.model).or_default();
        if split_of(r.prompt_id) == Split::Train {
            st.train_labels += 1;
            lengths.push((r.model, r.dataset, r.output_tokens));
            if let Some(c) = r.cost.filter(|c| c.is_finite() && *c >= 0.0) {
                let (i, o) = (f64::from(r.input_tokens), f64::from(r.output_tokens));
                st.ii += i * i;
                st.io += i * o;
                st.oo += o * o;
                st.ic += i * c;
                st.oc += o * c;
                st.cost_rows += 1;
            }
        }
    }
    stats.retain(|_, st| st.train_labels > 0);
    let expected_lengths = output_length::expected_output_tokens(lengths);
    if stats.is_empty() {
        return Err(DataError::NoTrainingRows(rows.len()));
    }
    let names: Vec<&str> = stats.keys().copied().collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let candidates: Vec<CandidateModel> = names
        .iter()
        .map(|name| {
            let expected = expected_lengths.get(name).copied().unwrap_or(0.0);
            candidate(name, &stats[name], expected, prices)
        })
        .collect();
    let n = candidates.len();

    // Group outcomes by (dataset, prompt).
    let mut dataset_names: Vec<String> = Vec::new();
    let mut dataset_index: HashMap<&str, usize> = HashMap::new();
    let mut by_prompt: HashMap<(usize, &str), usize> = HashMap::new();
    let mut examples: Vec<Example> = Vec::new();
    let mut sums: Vec<(Vec<f64>, Vec<u32>)> = Vec::new();
    let mut all_binary: Vec<bool> = Vec::new();
    let mut used_rows: Vec<usize> = Vec::new();
    let mut task_mapping = TaskMapping::default();
    let mut merged_duplicates = 0;
    for r in rows {
        let Some(score) = r.score.filter(|s| s.is_finite()) else {
            skipped.add("no score (missing outcome)", 1);
            continue;
        };
        if !(0.0..=1.0).contains(&score) {
            skipped.add("score outside [0, 1]", 1);
            continue;
        }
        let Some(&m) = index.get(r.model) else {
            skipped.add("model has no outcome in the train split", 1);
            continue;
        };
        let d = *dataset_index.entry(r.dataset).or_insert_with(|| {
            dataset_names.push(r.dataset.to_string());
            all_binary.push(true);
            used_rows.push(0);
            dataset_names.len() - 1
        });
        used_rows[d] += 1;
        all_binary[d] &= score == 0.0 || score == 1.0;
        let e = *by_prompt.entry((d, r.prompt_id)).or_insert_with(|| {
            let task = task_mapping.record(r.dataset, r.category);
            examples.push(Example {
                dataset: d,
                prompt_id: r.prompt_id.to_string(),
                prompt: r.prompt.to_string(),
                category: r.category.map(str::to_string),
                input_tokens: r.input_tokens,
                features: Features::default(),
                labels: vec![0.0; n],
                mask: vec![0.0; n],
                prior: vec![0.0; n],
                costs: vec![None; n],
                task: taxonomy::task_index(task).unwrap_or(taxonomy::TASKS.len() - 1),
                category_class: None,
                split: split_of(r.prompt_id),
            });
            sums.push((vec![0.0; n], vec![0; n]));
            examples.len() - 1
        });
        let (sum, count) = &mut sums[e];
        if count[m] > 0 {
            merged_duplicates += 1;
        }
        sum[m] += score;
        count[m] += 1;
        let cost = r.cost.or_else(|| {
            let price = candidates[m].price()?;
            Some(models::estimate_cost(
                r.input_tokens,
                r.output_tokens,
                &price,
            ))
        });
        if let Some(c) = cost {
            let slot = &mut examples[e].costs[m];
            *slot = Some(slot.map_or(c, |prev| (prev + c) / 2.0));
        }
    }
    for (ex, (sum, count)) in examples.iter_mut().zip(&sums) {
        for m in 0..n {
            if count[m] > 0 {
                ex.labels[m] = (sum[m] / f64::from(count[m])) as f32;
                ex.mask[m] = 1.0;
            }
        }
    }

    fill_priors(&mut examples, n);
    let category_classes = fill_category_classes(&mut examples, &dataset_names);
    examples.par_iter_mut().for_each(|ex| {
        featurizer.featurize_into(&ex.prompt, &mut ex.features);
    });

    let mut datasets: Vec<DatasetInfo> = dataset_names
        .into_iter()
        .enumerate()
        .map(|(d, name)| DatasetInfo {
            name,
            label_kind: if all_binary[d] {
                LabelKind::Binary
            } else {
                LabelKind::Graded
            },
            rows: used_rows[d],
            prompts: 0,
            split_prompts: [0; 3],
        })
        .collect();
    for ex in &examples {
        let info = &mut datasets[ex.dataset];
        info.prompts += 1;
        info.split_prompts[match ex.split {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Test => 2,
        }] += 1;
    }

    Ok(TrainingData {
        candidates,
        datasets,
        examples,
        task_mapping,
        category_classes,
        skipped,
        merged_duplicates,
        ratios: *ratios,
    })
}

/// Pseudo-prompts of the dataset mean in each (dataset, category) prior, and of the
/// dataset's pooled mean in each candidate's dataset mean.
pub const PRIOR_STRENGTH: f64 = 20.0;

/// Each candidate's mean train label in one dataset, shrunk toward the dataset's pooled mean
/// over all candidates with [`PRIOR_STRENGTH`] pseudo-prompts, per dataset; `None` where the candidate
/// has no label there. Without it a candidate with a handful of labels (logged traffic, where
/// exploration spreads a few hundred requests over dozens of models) would enter the prior at
/// its raw mean, and the one that happened to be right on all of its ten prompts would look
/// best of all: the winner's curse. With hundreds of labels the shrinkage is negligible.
fn shrunk_dataset_means(
    by_dataset: &HashMap<usize, (Vec<f64>, Vec<f64>)>,
) -> HashMap<usize, Vec<Option<f64>>> {
    let shrink = |sums: &[f64], counts: &[f64]| -> Vec<Option<f64>> {
        let pooled = sums.iter().sum::<f64>() / counts.iter().sum::<f64>().max(1.0);
        sums.iter()
            .zip(counts)
            .map(|(&s, &c)| (c > 0.0).then(|| (s + PRIOR_STRENGTH * pooled) / (c + PRIOR_STRENGTH)))
            .collect()
    };
    by_dataset
        .iter()
        .map(|(&d, (sums, counts))| (d, shrink(sums, counts)))
        .collect()
}

/// Fills [`Example::prior`] from the train split's labels.
fn fill_priors(examples: &mut [Example], n: usize) {
    type Sums = (Vec<f64>, Vec<f64>);
    let zero = || (vec![0.0; n], vec![0.0; n]);
    let mut by_dataset: HashMap<usize, Sums> = HashMap::new();
    let mut by_category: HashMap<(usize, Option<String>), Sums> = HashMap::new();
    for ex in examples.iter().filter(|e| e.split == Split::Train) {
        let d = by_dataset.entry(ex.dataset).or_insert_with(zero);
        let c = by_category
            .entry((ex.dataset, ex.category.clone()))
            .or_insert_with(zero);
        for m in ex.labelled() {
            let y = f64::from(ex.labels[m]);
            d.0[m] += y;
            d.1[m] += 1.0;
            c.0[m] += y;
            c.1[m] += 1.0;
        }
    }
    let bases = shrunk_dataset_means(&by_dataset);
    for ex in examples.iter_mut() {
        let Some(bases) = bases.get(&ex.dataset) else {
            continue;
        };
        let category = by_category.get(&(ex.dataset, ex.category.clone()));
        for (m, base) in bases.iter().enumerate().take(n) {
            let Some(base) = *base else {
                continue;
            };
            let (c_sum, c_count) = category.map_or((0.0, 0.0), |c| (c.0[m], c.1[m]));
            ex.prior[m] = ((c_sum + PRIOR_STRENGTH * base) / (c_count + PRIOR_STRENGTH)) as f32;
        }
    }
}

/// Two tables of train-split mean labels, row-major `[category_classes, candidates]`
/// (see [`TrainingData::prior_mean_tables`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PriorMeanTables {
    /// Each candidate's mean in the class's (dataset, category), shrunk toward `dataset`.
    pub category: Vec<f32>,
    /// Each candidate's mean in the class's dataset, repeated over the dataset's classes.
    pub dataset: Vec<f32>,
}

/// Bounds of a prior probability before it becomes a logit (a category where a model was
/// always right must not start at an infinite logit).
const PRIOR_CLAMP: f64 = 0.02;

impl TrainingData {
    /// Initial table of the predicted-category prior: for every category class (rows, in
    /// [`TrainingData::category_classes`] order) and candidate (columns), the logit of the
    /// candidate's mean train-split label in that (dataset, category), shrunk toward its
    /// dataset mean with [`PRIOR_STRENGTH`] pseudo-prompts, as [`Example::prior`]; a
    /// candidate without a train label in the dataset gets its mean over all datasets.
    /// Row-major `[category_classes.len(), candidates.len()]`.
    pub fn category_prior_logits(&self) -> Vec<f32> {
        let logit = |p: f32| {
            let p = f64::from(p).clamp(PRIOR_CLAMP, 1.0 - PRIOR_CLAMP);
            (p / (1.0 - p)).ln() as f32
        };
        self.category_prior_means().into_iter().map(logit).collect()
    }

    /// The means behind [`TrainingData::category_prior_logits`], as probabilities (the
    /// category-mean rule that [`crate::stacking`] stacks onto the network).
    pub fn category_prior_means(&self) -> Vec<f32> {
        self.prior_mean_tables().category
    }

    /// The per-(dataset, category) means of [`TrainingData::category_prior_means`] and, in the
    /// same layout, the dataset means they are shrunk toward (every class row of a dataset
    /// holds that dataset's shrunk per-candidate means: the best-single-model rule), both
    /// from one pass over the train split.
    pub fn prior_mean_tables(&self) -> PriorMeanTables {
        let (k, n) = (self.category_classes.len(), self.candidates.len());
        let zero = || (vec![0.0f64; n], vec![0.0f64; n]);
        let mut global = zero();
        let mut by_dataset: HashMap<usize, (Vec<f64>, Vec<f64>)> = HashMap::new();
        let mut by_class = vec![zero(); k];
        let mut class_dataset: Vec<Option<usize>> = vec![None; k];
        for ex in self.examples.iter().filter(|e| e.split == Split::Train) {
            let d = by_dataset.entry(ex.dataset).or_insert_with(zero);
            let c = ex.category_class.filter(|&c| c < k);
            if let Some(c) = c {
                class_dataset[c] = Some(ex.dataset);
            }
            for m in ex.labelled() {
                let y = f64::from(ex.labels[m]);
                for acc in [&mut global, &mut *d]
                    .into_iter()
                    .chain(c.map(|c| &mut by_class[c]))
                {
                    acc.0[m] += y;
                    acc.1[m] += 1.0;
                }
            }
        }
        let bases = shrunk_dataset_means(&by_dataset);
        let mut category = Vec::with_capacity(k * n);
        let mut dataset_means = Vec::with_capacity(k * n);
        for (c, (c_sum, c_count)) in by_class.iter().enumerate() {
            let dataset = class_dataset[c].and_then(|d| bases.get(&d));
            for m in 0..n {
                let global_mean = global.0[m] / global.1[m].max(1.0);
                let (p, base) = match dataset.and_then(|bases| bases[m]) {
                    Some(base) => (
                        (c_sum[m] + PRIOR_STRENGTH * base) / (c_count[m] + PRIOR_STRENGTH),
                        base,
                    ),
                    None => (global_mean, global_mean),
                };
                category.push(p as f32);
                dataset_means.push(base as f32);
            }
        }
        PriorMeanTables {
            category,
            dataset: dataset_means,
        }
    }
}

/// Numbers the (dataset, category) pairs of the train split (sorted) and sets each example's
/// [`Example::category_class`]; categories never seen in training stay `None`.
fn fill_category_classes(examples: &mut [Example], dataset_names: &[String]) -> Vec<String> {
    // A prompt without a category (GSM8K) gets its dataset as its class, so the category
    // head (and the predicted-category prior built on it) covers every prompt.
    let label = |e: &Example| {
        Some(match &e.category {
            Some(c) => format!("{}/{c}", dataset_names[e.dataset]),
            None => dataset_names[e.dataset].clone(),
        })
    };
    let classes: Vec<String> = examples
        .iter()
        .filter(|e| e.split == Split::Train)
        .filter_map(label)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    for e in examples.iter_mut() {
        e.category_class = label(e).and_then(|l| index.get(l.as_str()).copied());
    }
    classes
}

/// A candidate's manifest entry: list price when the price table has it, else prices fitted
/// to the table's costs (`cost ≈ a·input + b·output` by least squares), else unknown.
/// `expected_output_tokens` comes from [`output_length::expected_output_tokens`].
fn candidate(
    name: &str,
    st: &ModelStats,
    expected_output_tokens: f64,
    prices: &PriceTable,
) -> CandidateModel {
    let price = prices.get(name).or_else(|| fitted_price(st));
    CandidateModel {
        name: name.to_string(),
        input_usd_per_mtok: price.map(|p| p.input_usd_per_mtok),
        output_usd_per_mtok: price.map(|p| p.output_usd_per_mtok),
        expected_output_tokens,
    }
}

fn fitted_price(st: &ModelStats) -> Option<Price> {
    if st.cost_rows < 2 {
        return None;
    }
    let det = st.ii * st.oo - st.io * st.io;
    let per_mtok = |v: f64| (v * 1e6).max(0.0);
    if det.abs() > 1e-9 * (st.ii * st.oo).max(1.0) {
        let a = (st.ic * st.oo - st.oc * st.io) / det;
        let b = (st.oc * st.ii - st.ic * st.io) / det;
        if a >= 0.0 && b >= 0.0 && a.is_finite() && b.is_finite() {
            return Some(Price {
                input_usd_per_mtok: per_mtok(a),
                output_usd_per_mtok: per_mtok(b),
            });
        }
    }
    // Degenerate design (e.g. output tokens proportional to input): one blended price.
    let tokens = st.ii + 2.0 * st.io + st.oo;
    (tokens > 0.0).then(|| {
        let p = per_mtok((st.ic + st.oc) / tokens);
        Price {
            input_usd_per_mtok: p,
            output_usd_per_mtok: p,
        }
    })
}

/// A batch of examples as tensors.
#[derive(Debug, Clone)]
pub struct RouterBatch<B: Backend> {
    /// `[batch, width]`.
    pub ids: Tensor<B, 2, Int>,
    /// `[batch, width]`.
    pub weights: Tensor<B, 2>,
    /// `[batch, dense_dim]`.
    pub dense: Tensor<B, 2>,
    /// `[batch, n_candidates]`, normalised scores.
    pub labels: Tensor<B, 2>,
    /// `[batch, n_candidates]`, 1 where labelled.
    pub mask: Tensor<B, 2>,
    /// `[batch, n_tasks]`, one-hot task labels.
    pub tasks: Tensor<B, 2>,
    /// `[batch, n_categories]`, one-hot category classes (a zero row where unknown).
    pub categories: Tensor<B, 2>,
}

/// Turns examples into [`RouterBatch`]es. (burn's `Batcher` trait lives behind its
/// `dataset` feature, which pulls a dataset library this crate does not need; the shape of
/// the API is the same.)
#[derive(Debug, Clone)]
pub struct RouterBatcher {
    pub n_candidates: usize,
    pub n_tasks: usize,
    pub dense_dim: usize,
    /// Share of [`Example::prior`] in the training target of a labelled pair:
    /// `(1 − prior_mix)·label + prior_mix·prior` (0: the label alone).
    pub prior_mix: f32,
    /// Width of [`RouterBatch::categories`] (0: no category targets).
    pub n_categories: usize,
}

impl RouterBatcher {
    /// Packs `items` into tensors on `device`.
    pub fn batch<B: Backend>(&self, items: &[&Example], device: &B::Device) -> RouterBatch<B> {
        let rows: Vec<&Features> = items.iter().map(|e| &e.features).collect();
        let (ids, weights, dense) =
            feature_tensors(&FeatureBatch::from_features(&rows, self.dense_dim), device);
        let b = items.len();
        let mut labels = Vec::with_capacity(b * self.n_candidates);
        let mut mask = Vec::with_capacity(b * self.n_candidates);
        let mut tasks = vec![0f32; b * self.n_tasks];
        let mut categories = vec![0f32; b * self.n_categories];
        for (i, e) in items.iter().enumerate() {
            let mix = self.prior_mix;
            labels.extend(
                e.labels
                    .iter()
                    .zip(&e.prior)
                    .map(|(&y, &p)| (1.0 - mix) * y + mix * p)
                    .chain(std::iter::repeat(0.0))
                    .take(self.n_candidates),
            );
            mask.extend(
                e.mask
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(0.0))
                    .take(self.n_candidates),
            );
            if e.task < self.n_tasks {
                tasks[i * self.n_tasks + e.task] = 1.0;
            }
            if let Some(c) = e.category_class.filter(|&c| c < self.n_categories) {
                categories[i * self.n_categories + c] = 1.0;
            }
        }
        let float = |v: Vec<f32>, cols: usize| {
            Tensor::<B, 2>::from_data(TensorData::new(v, [b, cols]), device)
        };
        RouterBatch {
            ids,
            weights,
            dense,
            labels: float(labels, self.n_candidates),
            mask: float(mask, self.n_candidates),
            tasks: float(tasks, self.n_tasks),
            categories: float(categories, self.n_categories),
        }
    }
}

/// The three input tensors of a feature batch.
pub fn feature_tensors<B: Backend>(
    batch: &FeatureBatch,
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 2>, Tensor<B, 2>) {
    let (b, w, d) = (batch.batch, batch.width, batch.dense_dim);
    (
        Tensor::from_data(TensorData::new(batch.ids.clone(), [b, w]), device),
        Tensor::from_data(TensorData::new(batch.weights.clone(), [b, w]), device),
        Tensor::from_data(TensorData::new(batch.dense.clone(), [b, d]), device),
    )
}

/// The distinct categories per dataset (for reports).
pub fn categories(data: &TrainingData) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &data.examples {
        if let Some(c) = &e.category {
            out.entry(data.datasets[e.dataset].name.clone())
                .or_default()
                .insert(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use models::FeaturizerConfig;

    fn row<'a>(
        dataset: &'a str,
        prompt: &'a str,
        id: &'a str,
        model: &'a str,
        score: Option<f64>,
    ) -> Row<'a> {
        Row {
            dataset,
            prompt_id: id,
            prompt,
            category: Some("high_school_mathematics"),
            model,
            score,
            input_tokens: 100,
            output_tokens: 50,
            cost: None,
        }
    }

    /// `build_from_rows` with the default featurizer and ratios, no prices, no fold.
    fn build_unpriced(rows: &[Row<'_>]) -> TrainingData {
        build_from_rows(
            rows,
            &Featurizer::new(FeaturizerConfig::default()),
            &PriceTable::empty(),
            &SplitRatios::default(),
            None,
        )
        .unwrap()
    }

    /// Prompt ids whose split is train under the default ratios.
    fn train_ids(k: usize) -> Vec<String> {
        (0..)
            .map(|i| format!("{i:016x}"))
            .filter(|id| split_of(id, &SplitRatios::default()) == Split::Train)
            .take(k)
            .collect()
    }

    #[test]
    fn missing_outcomes_are_masked_and_duplicates_averaged() {
        let ids = train_ids(2);
        let rows = vec![
            row("mmlu", "p0", &ids[0], "b", Some(1.0)),
            row("mmlu", "p0", &ids[0], "a", Some(0.0)),
            row("mmlu", "p0", &ids[0], "a", Some(1.0)),
            row("mmlu", "p1", &ids[1], "b", Some(0.0)),
            row("mmlu", "p1", &ids[1], "c", None),
            row("mt_bench", "p1", &ids[1], "a", Some(0.5)),
        ];
        let prices = PriceTable::from_entries([(
            "a",
            Price {
                input_usd_per_mtok: 1.0,
                output_usd_per_mtok: 2.0,
            },
        )]);
        let data = build_from_rows(
            &rows,
            &Featurizer::new(FeaturizerConfig::default()),
            &prices,
            &SplitRatios::default(),
            None,
        )
        .unwrap();
        assert_eq!(data.candidate_names(), ["a", "b"]);
        assert_eq!(data.candidates[0].input_usd_per_mtok, Some(1.0));
        assert_eq!(data.candidates[1].input_usd_per_mtok, None);
        assert_eq!(data.candidates[0].expected_output_tokens, 50.0);
        assert_eq!(
            data.examples.len(),
            3,
            "(mmlu,p0), (mmlu,p1), (mt_bench,p1)"
        );
        let p0 = &data.examples[0];
        assert_eq!(p0.labels, [0.5, 1.0]);
        assert_eq!(p0.mask, [1.0, 1.0]);
        assert_eq!(p0.costs[0], Some(0.0002));
        let p1 = &data.examples[1];
        assert_eq!(p1.mask, [0.0, 1.0]);
        assert_eq!(data.merged_duplicates, 1);
        assert_eq!(data.skipped.total(), 1);
        assert_eq!(data.datasets[0].label_kind, LabelKind::Binary);
        assert_eq!(data.datasets[1].label_kind, LabelKind::Graded);
        assert_eq!(taxonomy::TASKS[p0.task], "math");
        assert!(!p0.features.ids.is_empty());
    }

    #[test]
    fn priors_are_train_category_means_shrunk_to_the_dataset_mean() {
        let ids = train_ids(3);
        let mut rows = vec![
            row("mmlu", "p0", &ids[0], "a", Some(1.0)),
            row("mmlu", "p1", &ids[1], "a", Some(1.0)),
            row("mmlu", "p2", &ids[2], "a", Some(0.0)),
            row("mmlu", "p2", &ids[2], "b", Some(1.0)),
        ];
        rows[2].category = Some("astronomy");
        let data = build_unpriced(&rows);
        // The dataset's pooled mean is 3/4; `a`'s own mean 2/3 (three labels), shrunk toward
        // it; the maths category has two 1s, astronomy one 0.
        let k = PRIOR_STRENGTH;
        let pooled = 3.0 / 4.0;
        let base = (2.0 + k * pooled) / (3.0 + k);
        let maths = ((2.0 + k * base) / (2.0 + k)) as f32;
        let astronomy = ((0.0 + k * base) / (1.0 + k)) as f32;
        assert!((data.examples[0].prior[0] - maths).abs() < 1e-6);
        assert!((data.examples[2].prior[0] - astronomy).abs() < 1e-6);
        // `b` has one label (a 1, in astronomy): one right answer does not make it look much
        // better than the pool. In maths, where it has none, its prior is its dataset mean.
        let base_b = (1.0 + k * pooled) / (1.0 + k);
        let b_astronomy = ((1.0 + k * base_b) / (1.0 + k)) as f32;
        assert!((data.examples[0].prior[1] - base_b as f32).abs() < 1e-6);
        assert!((data.examples[2].prior[1] - b_astronomy).abs() < 1e-6);
        assert!(b_astronomy < 0.8, "{b_astronomy}");
        assert_eq!(
            data.category_classes,
            ["mmlu/astronomy", "mmlu/high_school_mathematics"]
        );
        assert_eq!(data.examples[2].category_class, Some(0));
        assert_eq!(data.examples[0].category_class, Some(1));

        // The batcher blends the prior into labelled targets only.
        let batcher = RouterBatcher {
            n_candidates: 2,
            n_tasks: taxonomy::TASKS.len(),
            dense_dim: 12,
            prior_mix: 0.5,
            n_categories: 2,
        };
        let items: Vec<&Example> = data.examples.iter().collect();
        let batch: RouterBatch<NdArray<f32>> = batcher.batch(&items, &Default::default());
        let labels = batch.labels.into_data().to_vec::<f32>().unwrap();
        assert!((labels[0] - (0.5 + 0.5 * maths)).abs() < 1e-6);
        let mask = batch.mask.into_data().to_vec::<f32>().unwrap();
        assert_eq!(mask, [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
        let cats = batch.categories.into_data().to_vec::<f32>().unwrap();
        assert_eq!(cats, [0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn the_prior_table_holds_logits_of_shrunk_category_means() {
        let ids = train_ids(4);
        let mut rows = vec![
            row("mmlu", "p0", &ids[0], "a", Some(1.0)),
            row("mmlu", "p1", &ids[1], "a", Some(1.0)),
            row("mmlu", "p2", &ids[2], "a", Some(0.0)),
            row("gsm8k", "p3", &ids[3], "b", Some(1.0)),
        ];
        rows[2].category = Some("astronomy");
        rows[3].category = None;
        let data = build_unpriced(&rows);
        // A prompt without a category gets its dataset as its class.
        assert_eq!(
            data.category_classes,
            ["gsm8k", "mmlu/astronomy", "mmlu/high_school_mathematics"]
        );
        assert_eq!(data.examples[3].category_class, Some(0));
        let table = data.category_prior_logits();
        assert_eq!(table.len(), 3 * 2);
        let logit = |p: f64| (p / (1.0 - p)).ln() as f32;
        let k = PRIOR_STRENGTH;
        // `a` is mmlu's only candidate: its dataset mean is the pooled mean, 2/3.
        let base = 2.0 / 3.0;
        // Rows: classes; columns: candidates a, b.
        assert!((table[2] - logit((0.0 + k * base) / (1.0 + k))).abs() < 1e-5);
        assert!((table[4] - logit((2.0 + k * base) / (2.0 + k))).abs() < 1e-5);
        // `a` has no gsm8k label: its mean over all datasets (2/3); `b` has no mmlu label:
        // its global mean 1.0, clamped before the logit.
        assert!((table[0] - logit(base)).abs() < 1e-5);
        assert!((table[3] - logit(1.0 - PRIOR_CLAMP)).abs() < 1e-5);
        assert!((table[1] - logit(1.0 - PRIOR_CLAMP)).abs() < 1e-5);
    }

    #[test]
    fn batcher_pads_and_one_hots() {
        let ids = train_ids(2);
        let rows = vec![
            row("gsm8k", "a short prompt", &ids[0], "m", Some(1.0)),
            row(
                "gsm8k",
                "a much longer prompt with many more words in it",
                &ids[1],
                "m",
                Some(0.0),
            ),
        ];
        let data = build_unpriced(&rows);
        let batcher = RouterBatcher {
            n_candidates: 1,
            n_tasks: taxonomy::TASKS.len(),
            dense_dim: 12,
            prior_mix: 0.0,
            n_categories: 0,
        };
        let items: Vec<&Example> = data.examples.iter().collect();
        let batch: RouterBatch<NdArray<f32>> = batcher.batch(&items, &Default::default());
        let width = data
            .examples
            .iter()
            .map(|e| e.features.ids.len())
            .max()
            .unwrap();
        assert_eq!(batch.ids.dims(), [2, width]);
        assert_eq!(
            batch.labels.into_data().to_vec::<f32>().unwrap(),
            [1.0, 0.0]
        );
        let tasks = batch.tasks.into_data().to_vec::<f32>().unwrap();
        assert_eq!(tasks.iter().sum::<f32>(), 2.0);
        assert_eq!(tasks[taxonomy::task_index("math").unwrap()], 1.0);
    }
}
