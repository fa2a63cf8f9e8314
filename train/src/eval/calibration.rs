//! Does predicted quality mean the same thing for every model? Per (dataset, model), the
//! router's mean predicted quality against the model's realised mean score over the
//! evaluated prompts labelled for it, with a bootstrap interval of the difference.
//!
//! This is the check of a router's cross-dataset comparability: train with
//! `--hold-out-labels MODEL@DATASET` (that model's labels on that dataset never reach
//! training, its labels elsewhere do), then evaluate: the held-out row says how far the
//! router's belief about a model on a dataset it never saw the model answer is from the
//! truth. Rows of models whose labels were trained on measure plain calibration.

use std::collections::HashSet;

use serde::Serialize;

use super::baselines::Predictions;
use super::bootstrap::{self, Interval, Missing};
use super::table::EvalTable;

/// One (dataset, model) row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCalibration {
    pub model: String,
    /// Evaluated prompts labelled for the model (and scored by the router).
    pub prompts: usize,
    pub predicted_mean: f64,
    pub realised_mean: f64,
    /// `predicted_mean − realised_mean`.
    pub difference: f64,
    /// Paired bootstrap interval of the difference (`None` with `--bootstrap 0`).
    pub interval: Option<Interval>,
    /// The model's labels on this dataset were held out of training.
    pub held_out: bool,
}

/// Calibration rows of every table model the router scores on at least one labelled
/// evaluated prompt. `router[i]` holds the router's predictions for evaluated prompt
/// `eval[i]` in table-model order; `held_out` the models whose labels on this dataset
/// training never saw.
pub fn calibrate(
    table: &EvalTable,
    eval: &[usize],
    router: &Predictions,
    held_out: &HashSet<String>,
    settings: bootstrap::Settings,
) -> Vec<ModelCalibration> {
    (0..table.models.len())
        .filter_map(|m| {
            let pairs: Vec<(f64, f64)> = eval
                .iter()
                .zip(router)
                .filter_map(|(&p, pred)| {
                    Some((pred.get(m).copied().flatten()?, table.scores[p][m]?))
                })
                .filter(|(q, s)| q.is_finite() && s.is_finite())
                .collect();
            if pairs.is_empty() {
                return None;
            }
            let n = pairs.len() as f64;
            let predicted_mean = pairs.iter().map(|p| p.0).sum::<f64>() / n;
            let realised_mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
            let model = table.models[m].clone();
            let interval = (settings.resamples > 0).then(|| {
                let key = format!("{}/calibration/{model}", table.dataset);
                let values: Vec<Option<f64>> = (0..settings.resamples)
                    .map(|b| {
                        let counts =
                            bootstrap::resample_counts(settings.seed, &key, b, pairs.len());
                        let (mut diff, mut total) = (0.0, 0u64);
                        for (&(q, s), &k) in pairs.iter().zip(&counts) {
                            diff += f64::from(k) * (q - s);
                            total += u64::from(k);
                        }
                        (total > 0).then(|| diff / total as f64)
                    })
                    .collect();
                bootstrap::percentile_interval(&values, Missing::Undefined)
            });
            Some(ModelCalibration {
                held_out: held_out.contains(&model),
                model,
                prompts: pairs.len(),
                predicted_mean,
                realised_mean,
                difference: predicted_mean - realised_mean,
                interval,
            })
        })
        .collect()
}

/// The held-out (model, dataset) pairs a manifest records (`training.held_out_labels`, a
/// list of `MODEL@DATASET`), for `dataset`.
pub fn held_out_models(training: &serde_json::Value, dataset: &str) -> HashSet<String> {
    training
        .get("held_out_labels")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .filter_map(|s| s.rsplit_once('@'))
        .filter(|(_, d)| *d == dataset)
        .map(|(m, _)| m.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::table::PromptRecord;

    fn table() -> EvalTable {
        let prompt = |id: &str| PromptRecord {
            id: id.into(),
            text: id.into(),
            category: None,
            input_tokens: 1,
        };
        EvalTable {
            dataset: "d".into(),
            models: vec!["a".into(), "b".into(), "c".into()],
            prompts: vec![prompt("0"), prompt("1"), prompt("2")],
            scores: vec![
                vec![Some(1.0), Some(0.0), None],
                vec![Some(0.0), None, None],
                vec![Some(1.0), Some(1.0), None],
            ],
            costs: vec![vec![None; 3]; 3],
            ..EvalTable::default()
        }
    }

    #[test]
    fn compares_means_over_the_labelled_prompts_only() {
        let t = table();
        let router = vec![
            vec![Some(0.9), Some(0.2), Some(0.5)],
            vec![Some(0.3), Some(0.9), Some(0.5)],
            vec![Some(0.6), Some(0.8), Some(0.5)],
        ];
        let held: HashSet<String> = ["b".to_string()].into();
        let rows = calibrate(
            &t,
            &[0, 1, 2],
            &router,
            &held,
            bootstrap::Settings {
                resamples: 200,
                seed: 1,
            },
        );
        // c is never labelled: no row.
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!((a.model.as_str(), a.prompts, a.held_out), ("a", 3, false));
        assert!((a.predicted_mean - 0.6).abs() < 1e-12);
        assert!((a.realised_mean - 2.0 / 3.0).abs() < 1e-12);
        // b: prompt 1 has no label, so its 0.9 does not count.
        let b = &rows[1];
        assert_eq!((b.prompts, b.held_out), (2, true));
        assert!((b.predicted_mean - 0.5).abs() < 1e-12);
        assert!((b.difference - 0.0).abs() < 1e-12);
        let iv = b.interval.unwrap();
        assert!(iv.lo.unwrap() <= 0.0 && iv.hi.unwrap() >= 0.0);
        assert!(iv.lo.unwrap() >= -0.8 - 1e-12 && iv.hi.unwrap() <= 0.2 + 1e-12);
    }

    #[test]
    fn reads_held_out_pairs_of_one_dataset() {
        let training = serde_json::json!({
            "held_out_labels": ["gpt-4o@zeroeval_gsm", "x@y", "mixtral@zeroeval_gsm"]
        });
        let got = held_out_models(&training, "zeroeval_gsm");
        assert_eq!(got.len(), 2);
        assert!(got.contains("gpt-4o") && got.contains("mixtral"));
        assert!(held_out_models(&serde_json::json!({}), "y").is_empty());
    }
}
