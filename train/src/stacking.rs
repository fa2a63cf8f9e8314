//! Stacking the simple rules onto the network, per dataset, on the validation split.
//!
//! The per-category mean (each candidate's train-split mean label in the prompt's category)
//! and the best single model (its mean over the dataset) are the simple rules that beat the
//! network on some datasets (MMLU-Pro, LLMRouter; CRUX, MATH). The router contains them: the
//! category head's softmax reads the rule's table, whose row for a category class is
//! `b · category means + (1 − b) · dataset means`, and the output is `q + a · (rule − q)` with a
//! weight `a` and a blend `b` per dataset, chosen on the validation split from [`GRID`] ×
//! [`BLENDS`] by the routing figures the offline evaluation reports (APGR of the two-model
//! view, quality of the λ = 0 pick of the multi-model view), each trial setting only that
//! dataset's classes so that it scores the router the fit exports; a setting other than weight 0
//! is taken only when its paired-bootstrap gain over weight 0 is above zero at the 2.5% quantile,
//! so a hundred validation prompts' noise does not move a dataset. The weights and the blended
//! table live in the graph ([`crate::model::RouterModel::rule`], one weight per category
//! class, read through the category head's softmax), so `serve` and `train eval` run the
//! stacked router as one code path. Weight 0 everywhere is the network as trained, so the fit
//! can only move a dataset away from it when the validation split says so.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use datasets::split::Split;
use serde::Serialize;

use crate::data::{Example, PriorMeanTables, TrainingData, feature_tensors};
use crate::eval::bootstrap::{PairRanking, resample_counts};
use crate::eval::metrics::PairOutcome;
use crate::inference::{self, Predictions};
use crate::model::RouterEnsemble;

/// Candidate weights of the rule (0: the network as trained; 1: the rule alone).
pub const GRID: [f32; 9] = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0];

/// Candidate shares of the category means in the rule, the rest being the dataset means (1:
/// the per-category mean; 0: the dataset's best single model, as the head recognises the
/// dataset). Tried in this order, so a tie keeps the earlier blend.
pub const BLENDS: [f32; 3] = [1.0, 0.5, 0.0];

/// One point of the fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Setting {
    /// The rule's weight `a`.
    pub weight: f32,
    /// The category means' share `b` in the rule.
    pub blend: f32,
}

/// Every setting the fit tries: weight 0 first (the network as trained; the blend does not
/// matter there), then every other weight of [`GRID`] at every blend of [`BLENDS`].
pub fn settings() -> Vec<Setting> {
    let mut out = vec![Setting {
        weight: 0.0,
        blend: BLENDS[0],
    }];
    for &blend in &BLENDS {
        out.extend(GRID[1..].iter().map(|&weight| Setting { weight, blend }));
    }
    out
}

/// One setting's figures on a dataset's validation prompts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    #[serde(flatten)]
    pub setting: Setting,
    /// The criterion (`None`: undefined there).
    pub value: Option<f64>,
    /// 2.5% quantile of the setting's paired-bootstrap gain over weight 0 on the same prompts
    /// ([`RESAMPLES`] resamples).
    pub gain_lower: Option<f64>,
}

/// A dataset needs this many validation prompts for its weight to be fitted; below it the
/// differences between grid points are noise, and the network stays as trained (weight 0).
pub const MIN_PROMPTS: usize = 100;

/// The two-model view's pair, as `train eval` defaults it.
pub const STRONG: &str = "gpt-4-1106-preview";
pub const WEAK: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";

/// What the fit chose for one dataset, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetFit {
    pub dataset: String,
    /// Validation prompts of the dataset.
    pub prompts: usize,
    /// The rule's weight its categories get.
    pub weight: f32,
    /// The category means' share in its rule.
    pub blend: f32,
    /// What the criterion sums, e.g. `["apgr"]`, `["quality_lambda0"]`; empty when the
    /// dataset has neither view (or too few prompts) and keeps weight 0.
    pub criterion: Vec<&'static str>,
    /// Every setting's figures, in [`settings`] order.
    pub trials: Vec<Trial>,
    /// Share of the validation prompts whose most probable category class (the category
    /// head's argmax, first member) is their own: how well the rule can read the category
    /// that the per-category baseline is given.
    pub category_accuracy: f64,
}

/// The fitted settings: per dataset, and per category class as the graph reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stacking {
    pub grid: Vec<f32>,
    pub blends: Vec<f32>,
    pub datasets: Vec<DatasetFit>,
    /// One weight per category class, in [`TrainingData::category_classes`] order.
    pub class_weights: Vec<f32>,
    /// One blend per category class, same order.
    pub class_blends: Vec<f32>,
}

/// Fits the per-dataset weights on `data`'s validation split and sets them in every member of
/// `model`. `None` (model unchanged) when the network has no predicted-category prior or
/// the data no validation split.
pub fn fit<B: Backend>(
    model: &mut RouterEnsemble<B>,
    data: &TrainingData,
    device: &B::Device,
) -> Option<Stacking> {
    let k = data.category_classes.len();
    if k == 0 || model.members.iter().any(|m| m.prior_table.is_none()) {
        return None;
    }
    let validation = data.split(Split::Validation);
    if validation.is_empty() {
        return None;
    }
    let tables = data.prior_mean_tables();
    let n = data.candidates.len();
    let settings = settings();
    let class_dataset = class_datasets(data);
    let index = |name: &str| data.candidates.iter().position(|c| c.name == name);
    let pair = (index(STRONG), index(WEAK));
    let priced: Vec<bool> = data
        .candidates
        .iter()
        .map(|c| c.price().is_some())
        .collect();
    let mut by_dataset: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, e) in validation.iter().enumerate() {
        by_dataset.entry(e.dataset).or_default().push(i);
    }
    let predicted_class = predicted_classes(model, &validation, device);
    let mut setting_of_dataset = vec![settings[0]; data.datasets.len()];
    let mut fits = Vec::new();
    for (&d, rows) in &by_dataset {
        let examples: Vec<&Example> = rows.iter().map(|&i| validation[i]).collect();
        // Each trial sets only this dataset's classes and leaves every other class at the
        // network (weight 0): the category head spreads a prompt's mass over classes of
        // several datasets, so a setting tried on every class at once scores a router that
        // the per-dataset fit never exports.
        let predictions: Vec<Predictions> = settings
            .iter()
            .map(|s| {
                let (weights, blends) = class_settings_for(&class_dataset, d, *s);
                let means = blended(&tables, &blends, n);
                let trial = weighted(model, Some((&means, &weights)), device);
                inference::predict(&trial, &examples, 512, device)
            })
            .collect();
        let mut fit = fit_dataset(
            &data.datasets[d].name,
            &examples,
            (&settings, &predictions),
            pair,
            &priced,
        );
        let hits = rows
            .iter()
            .filter(|&&i| {
                validation[i].category_class.is_some()
                    && validation[i].category_class == predicted_class[i]
            })
            .count();
        fit.category_accuracy = hits as f64 / rows.len().max(1) as f64;
        setting_of_dataset[d] = Setting {
            weight: fit.weight,
            blend: fit.blend,
        };
        fits.push(fit);
    }
    let class_settings: Vec<Setting> = class_dataset
        .into_iter()
        .map(|d| d.map_or(settings[0], |d| setting_of_dataset[d]))
        .collect();
    let class_weights: Vec<f32> = class_settings.iter().map(|s| s.weight).collect();
    let class_blends: Vec<f32> = class_settings.iter().map(|s| s.blend).collect();
    let means = blended(&tables, &class_blends, n);
    *model = weighted(model, Some((&means, &class_weights)), device);
    Some(Stacking {
        grid: GRID.to_vec(),
        blends: BLENDS.to_vec(),
        datasets: fits,
        class_weights,
        class_blends,
    })
}

/// Per-class weights and blends that apply `setting` to the classes of `dataset` and leave the
/// others as the network (weight 0, blend 1).
fn class_settings_for(
    class_dataset: &[Option<usize>],
    dataset: usize,
    setting: Setting,
) -> (Vec<f32>, Vec<f32>) {
    class_dataset
        .iter()
        .map(|&c| {
            if c == Some(dataset) {
                (setting.weight, setting.blend)
            } else {
                (0.0, 1.0)
            }
        })
        .unzip()
}

/// The rule's table, row-major `[classes, candidates]`: class `c`'s row is `blend[c]` times its
/// category means plus the rest times its dataset means.
fn blended(tables: &PriorMeanTables, blend: &[f32], n: usize) -> Vec<f32> {
    tables
        .category
        .iter()
        .zip(&tables.dataset)
        .enumerate()
        .map(|(i, (&c, &d))| {
            let b = blend.get(i / n.max(1)).copied().unwrap_or(1.0);
            b * c + (1.0 - b) * d
        })
        .collect()
}

/// A copy of `model` whose members all carry the rule `(means, weights)` (see
/// [`crate::model::RouterModel::with_rule`]).
fn weighted<B: Backend>(
    model: &RouterEnsemble<B>,
    rule: Option<(&[f32], &[f32])>,
    device: &B::Device,
) -> RouterEnsemble<B> {
    RouterEnsemble {
        members: model
            .members
            .iter()
            .map(|m| m.clone().with_rule(rule, device))
            .collect(),
    }
}

/// The category head's most probable class for every example (first member; `None` without
/// the head).
fn predicted_classes<B: Backend>(
    model: &RouterEnsemble<B>,
    examples: &[&Example],
    device: &B::Device,
) -> Vec<Option<usize>> {
    let Some(first) = model.members.first() else {
        return vec![None; examples.len()];
    };
    let dense_dim = first.dense_dim();
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(512) {
        let rows: Vec<&models::Features> = chunk.iter().map(|e| &e.features).collect();
        let batch = models::FeatureBatch::from_features(&rows, dense_dim);
        let (ids, weights, dense) = feature_tensors::<B>(&batch, device);
        match first.forward_logits(ids, weights, dense).category {
            Some(logits) => {
                let classes: Vec<i64> = logits.argmax(1).into_data().iter::<i64>().collect();
                out.extend(classes.into_iter().map(|c| usize::try_from(c).ok()));
            }
            None => out.extend(std::iter::repeat_n(None, chunk.len())),
        }
    }
    out
}

/// The dataset of every category class (from the train examples that carry it).
fn class_datasets(data: &TrainingData) -> Vec<Option<usize>> {
    let mut out = vec![None; data.category_classes.len()];
    for e in &data.examples {
        if let Some(c) = e.category_class.filter(|&c| c < out.len()) {
            out[c] = Some(e.dataset);
        }
    }
    out
}

/// The criterion of one dataset at every setting, and the setting it picks (see [`choose`]).
fn fit_dataset(
    name: &str,
    examples: &[&Example],
    (settings, predictions): (&[Setting], &[Predictions]),
    pair: (Option<usize>, Option<usize>),
    priced: &[bool],
) -> DatasetFit {
    let pair_rows: Vec<usize> = match pair {
        (Some(s), Some(w)) => (0..examples.len())
            .filter(|&j| examples[j].mask[s] > 0.0 && examples[j].mask[w] > 0.0)
            .collect(),
        _ => Vec::new(),
    };
    let multi_rows: Vec<usize> = (0..examples.len())
        .filter(|&j| examples[j].labelled().filter(|&m| priced[m]).count() >= 3)
        .collect();
    let mut criterion = Vec::new();
    let pair = match pair {
        (Some(s), Some(w)) if pair_rows.len() >= MIN_PROMPTS => {
            criterion.push("apgr");
            Some((s, w))
        }
        _ => None,
    };
    let multi = multi_rows.len() >= MIN_PROMPTS;
    if multi {
        criterion.push("quality_lambda0");
    }
    let judges: Vec<Criterion> = predictions
        .iter()
        .map(|p| Criterion {
            ranking: pair.map(|(s, w)| pair_ranking(examples, &pair_rows, p, s, w)),
            picks: multi.then(|| picks(examples, &multi_rows, p, priced)),
        })
        .collect();
    let unit = vec![1u32; examples.len()];
    let values: Vec<Option<f64>> = judges.iter().map(|j| j.value(&unit)).collect();
    // The paired bootstrap of every setting's gain over weight 0 (the first setting).
    let resampled: Vec<Vec<Option<f64>>> = (0..RESAMPLES)
        .map(|b| {
            let w = resample_counts(BOOTSTRAP_SEED, name, b, examples.len());
            judges.iter().map(|j| j.value(&w)).collect()
        })
        .collect();
    let gain_lower: Vec<Option<f64>> = (0..judges.len())
        .map(|g| {
            let mut gains: Vec<f64> = resampled
                .iter()
                .filter_map(|r| Some(r[g]? - r[0]?))
                .collect();
            if gains.len() < RESAMPLES / 2 {
                return None;
            }
            gains.sort_by(f64::total_cmp);
            gains.get(gains.len() * 25 / 1000).copied()
        })
        .collect();
    let chosen = settings
        .get(choose(&values, &gain_lower))
        .copied()
        .unwrap_or(settings[0]);
    DatasetFit {
        dataset: name.to_string(),
        prompts: examples.len(),
        weight: chosen.weight,
        blend: chosen.blend,
        criterion,
        trials: settings
            .iter()
            .zip(values.iter().zip(&gain_lower))
            .map(|(&setting, (&value, &gain_lower))| Trial {
                setting,
                value,
                gain_lower,
            })
            .collect(),
        category_accuracy: 0.0,
    }
}

/// Resamples of the paired bootstrap that guards each move away from weight 0.
const RESAMPLES: usize = 200;
const BOOTSTRAP_SEED: u64 = 0x57AC_4ED0;

/// One grid weight's routing figures on a dataset's validation prompts, re-weightable for
/// the bootstrap: the two-model ranking and the realised quality of each λ = 0 pick.
struct Criterion {
    ranking: Option<PairRanking>,
    /// By validation position; `None` where the prompt is not in the multi-model view.
    picks: Option<Vec<Option<f64>>>,
}

impl Criterion {
    /// APGR plus mean λ = 0 quality with prompt weights `w`; `None` when a part is undefined.
    fn value(&self, w: &[u32]) -> Option<f64> {
        if self.ranking.is_none() && self.picks.is_none() {
            return None;
        }
        let mut total = 0.0;
        if let Some(r) = &self.ranking {
            total += r.summary(w).apgr?;
        }
        if let Some(picks) = &self.picks {
            let (mut sum, mut n) = (0.0, 0.0);
            for (q, &k) in picks.iter().zip(w) {
                if let Some(q) = q {
                    sum += f64::from(k) * q;
                    n += f64::from(k);
                }
            }
            if n == 0.0 {
                return None;
            }
            total += sum / n;
        }
        Some(total)
    }
}

/// The two-model view's ranking over `pair_rows` (positions in `examples`, which are also the
/// rows of `p`): prompts ranked by predicted strong − weak quality.
fn pair_ranking(
    examples: &[&Example],
    pair_rows: &[usize],
    p: &Predictions,
    strong: usize,
    weak: usize,
) -> PairRanking {
    let scores: Vec<f64> = pair_rows
        .iter()
        .map(|&j| {
            let q = p.quality(j);
            f64::from(q[strong]) - f64::from(q[weak])
        })
        .collect();
    let outcomes: Vec<PairOutcome> = pair_rows
        .iter()
        .map(|&j| PairOutcome {
            strong: f64::from(examples[j].labels[strong]),
            weak: f64::from(examples[j].labels[weak]),
        })
        .collect();
    PairRanking::new(pair_rows, &scores, &outcomes)
}

/// Realised quality of the λ = 0 pick (the labelled, priced candidate predicted best) at
/// every validation position of `multi_rows`.
fn picks(
    examples: &[&Example],
    multi_rows: &[usize],
    p: &Predictions,
    priced: &[bool],
) -> Vec<Option<f64>> {
    let mut out = vec![None; examples.len()];
    for &j in multi_rows {
        let q = p.quality(j);
        let e = examples[j];
        out[j] = e
            .labelled()
            .filter(|&m| priced[m])
            .max_by(|&a, &b| q[a].total_cmp(&q[b]))
            .map(|m| f64::from(e.labels[m]));
    }
    out
}

/// The index of the setting with the best criterion value among those whose paired-bootstrap
/// gain over the first (weight 0) has a 2.5% quantile above zero (a move away from the network
/// as trained needs a validation gain beyond resampling noise); ties to the earlier setting; 0
/// when none qualifies.
fn choose(values: &[Option<f64>], gain_lower: &[Option<f64>]) -> usize {
    let mut chosen = 0;
    let mut best: Option<f64> = values.first().copied().flatten();
    for (i, (v, lo)) in values.iter().zip(gain_lower).enumerate() {
        if let (Some(v), Some(lo)) = (*v, *lo)
            && lo > 0.0
            && best.is_none_or(|b| v > b)
        {
            best = Some(v);
            chosen = i;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 9;

    #[test]
    fn a_setting_needs_a_gain_beyond_noise() {
        let mut values = vec![Some(0.5); N];
        values[2] = Some(0.7);
        values[5] = Some(0.7);
        let noisy = vec![Some(-0.01); N];
        assert_eq!(choose(&values, &noisy), 0, "gains within noise: as trained");
        let mut sure = noisy.clone();
        sure[5] = Some(0.01);
        assert_eq!(choose(&values, &sure), 5);
        sure[2] = Some(0.02);
        assert_eq!(choose(&values, &sure), 2, "ties go to the earlier setting");
        values[8] = Some(0.9);
        sure[8] = Some(0.1);
        assert_eq!(choose(&values, &sure), 8);
    }

    #[test]
    fn without_a_criterion_the_network_stays_as_trained() {
        assert_eq!(choose(&[None; N], &[None; N]), 0);
    }

    #[test]
    fn settings_start_with_the_network_and_cover_every_blend() {
        let all = settings();
        assert_eq!(all[0].weight, 0.0);
        assert_eq!(all.len(), 1 + BLENDS.len() * (GRID.len() - 1));
        for b in BLENDS {
            assert!(all.iter().any(|s| s.blend == b && s.weight == 1.0));
        }
        assert_eq!(all.iter().filter(|s| s.weight == 0.0).count(), 1);
    }

    #[test]
    fn a_trial_moves_only_its_own_datasets_classes() {
        let classes = [Some(0), Some(1), None, Some(1)];
        let setting = Setting {
            weight: 0.5,
            blend: 0.0,
        };
        let (weights, blends) = class_settings_for(&classes, 1, setting);
        assert_eq!(weights, vec![0.0, 0.5, 0.0, 0.5]);
        assert_eq!(blends, vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn the_blend_mixes_category_and_dataset_rows() {
        let tables = PriorMeanTables {
            category: vec![0.2, 0.8, 0.6, 0.4],
            dataset: vec![0.5, 0.5, 0.3, 0.7],
        };
        let rows = blended(&tables, &[1.0, 0.5], 2);
        let expected = [0.2, 0.8, 0.45, 0.55];
        for (r, e) in rows.iter().zip(expected) {
            assert!((r - e).abs() < 1e-6, "{rows:?}");
        }
        assert_eq!(blended(&tables, &[0.0, 0.0], 2), tables.dataset);
    }
}
