//! Baseline predictors, fitted on the train split of the same data the router is
//! evaluated on (or, for a dataset the router was not trained on, on the router's own
//! training data: [`super::pool`]): a per-category prior and k-nearest neighbours over the featurizer's
//! sparse vectors. Both predict a quality per (prompt, model) like the router does, so
//! they go through the same decision policy.

use rayon::prelude::*;

use super::table::EvalTable;

/// Predicted quality per evaluated prompt and model (`[eval row][model]`), `None` where
/// the predictor knows nothing about that model.
pub type Predictions = Vec<Vec<Option<f64>>>;

/// Mean score per model over the `train` prompts where it is labelled.
fn global_means(table: &EvalTable, train: &[usize]) -> Vec<Option<f64>> {
    (0..table.models.len())
        .map(|m| {
            let (sum, n) = train
                .iter()
                .filter_map(|&p| table.scores[p][m])
                .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            (n > 0).then(|| sum / n as f64)
        })
        .collect()
}

/// Per-category prior: mean score of each model over the train prompts of the same
/// category; models without a label in that category fall back to their global mean.
pub fn category_prior(table: &EvalTable, train: &[usize], eval: &[usize]) -> Predictions {
    use std::collections::HashMap;
    let global = global_means(table, train);
    let nm = table.models.len();
    let mut by_category: HashMap<Option<&str>, (Vec<f64>, Vec<usize>)> = HashMap::new();
    for &p in train {
        let entry = by_category
            .entry(table.prompts[p].category.as_deref())
            .or_insert_with(|| (vec![0.0; nm], vec![0; nm]));
        for m in 0..nm {
            if let Some(s) = table.scores[p][m] {
                entry.0[m] += s;
                entry.1[m] += 1;
            }
        }
    }
    eval.iter()
        .map(|&p| {
            let stats = by_category.get(&table.prompts[p].category.as_deref());
            (0..nm)
                .map(|m| match stats {
                    Some((sum, n)) if n[m] > 0 => Some(sum[m] / n[m] as f64),
                    _ => global[m],
                })
                .collect()
        })
        .collect()
}

/// A sparse, L2-normalised feature vector (the featurizer's hashed n-grams).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub ids: Vec<u32>,
    pub weights: Vec<f32>,
}

/// k-nearest neighbours by cosine similarity (dot product of the normalised vectors),
/// brute force over all train prompts. The prediction for a model is the
/// similarity-weighted mean score of the neighbours labelled for it (global mean when
/// none is). `vectors` is indexed by the table's prompt index; an evaluated prompt is
/// never its own neighbour (matters for `--split all`).
pub fn knn(
    table: &EvalTable,
    vectors: &[SparseVec],
    train: &[usize],
    eval: &[usize],
    k: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Predictions {
    let global = global_means(table, train);
    let nm = table.models.len();
    let dim = vectors
        .iter()
        .flat_map(|v| v.ids.iter())
        .max()
        .map_or(0, |&m| m as usize + 1);
    let k = k.max(1);

    eval.par_iter()
        .map_init(
            || vec![0.0f32; dim],
            |scratch, &p| {
                let query = &vectors[p];
                for (&id, &w) in query.ids.iter().zip(&query.weights) {
                    scratch[id as usize] += w;
                }
                let mut sims: Vec<(f32, usize)> = train
                    .iter()
                    .filter(|&&t| t != p)
                    .map(|&t| {
                        let v = &vectors[t];
                        let dot: f32 = v
                            .ids
                            .iter()
                            .zip(&v.weights)
                            .map(|(&id, &w)| scratch[id as usize] * w)
                            .sum();
                        (dot, t)
                    })
                    .collect();
                for &id in &query.ids {
                    scratch[id as usize] = 0.0;
                }
                let take = k.min(sims.len());
                if take > 0 && take < sims.len() {
                    sims.select_nth_unstable_by(take - 1, |a, b| b.0.total_cmp(&a.0));
                }
                sims.truncate(take);
                progress(1);
                (0..nm)
                    .map(|m| {
                        let (mut wsum, mut ssum, mut plain, mut n) = (0.0, 0.0, 0.0, 0usize);
                        for &(sim, t) in &sims {
                            if let Some(s) = table.scores[t][m] {
                                let w = f64::from(sim.max(0.0));
                                wsum += w;
                                ssum += w * s;
                                plain += s;
                                n += 1;
                            }
                        }
                        if wsum > 0.0 {
                            Some(ssum / wsum)
                        } else if n > 0 {
                            Some(plain / n as f64)
                        } else {
                            global[m]
                        }
                    })
                    .collect()
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::table::PromptRecord;

    fn table() -> EvalTable {
        let prompt = |id: &str, cat: &str| PromptRecord {
            id: id.into(),
            text: id.into(),
            category: Some(cat.into()),
            input_tokens: 1,
        };
        EvalTable {
            dataset: "t".into(),
            models: vec!["a".into(), "b".into()],
            prompts: vec![
                prompt("0", "math"),
                prompt("1", "math"),
                prompt("2", "law"),
                prompt("3", "math"),
                prompt("4", "art"),
            ],
            scores: vec![
                vec![Some(1.0), Some(0.0)],
                vec![Some(0.0), None],
                vec![Some(0.0), Some(1.0)],
                vec![Some(1.0), Some(1.0)],
                vec![Some(0.0), Some(0.0)],
            ],
            costs: vec![vec![None; 2]; 5],
            ..EvalTable::default()
        }
    }

    #[test]
    fn prior_uses_category_means_with_global_fallback() {
        let t = table();
        let pred = category_prior(&t, &[0, 1, 2], &[3, 4]);
        // math: a = (1 + 0) / 2; b only labelled on prompt 0 → 0.
        assert_eq!(pred[0], vec![Some(0.5), Some(0.0)]);
        // art unseen: global means a = 1/3, b = 1/2.
        assert!((pred[1][0].unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(pred[1][1], Some(0.5));
    }

    #[test]
    fn knn_weights_nearest_labelled_neighbours() {
        let t = table();
        let v = |ids: &[u32], w: &[f32]| SparseVec {
            ids: ids.to_vec(),
            weights: w.to_vec(),
        };
        let vectors = vec![
            v(&[1], &[1.0]),
            v(&[2], &[1.0]),
            v(&[3], &[1.0]),
            v(&[1, 2], &[0.8, 0.6]),
            v(&[3], &[1.0]),
        ];
        let pred = knn(&t, &vectors, &[0, 1, 2], &[3, 4], 2, &|_| {});
        // Prompt 3: neighbours 0 (0.8) and 1 (0.6): a = 0.8·1 / 1.4; b only from 0 → 0.
        assert!((pred[0][0].unwrap() - 0.8 / 1.4).abs() < 1e-6);
        assert_eq!(pred[0][1], Some(0.0));
        // Prompt 4 matches prompt 2 exactly.
        assert_eq!(pred[1][1], Some(1.0));
        // A prompt is never its own neighbour.
        let self_pred = knn(&t, &vectors, &[0, 1, 2], &[2], 1, &|_| {});
        assert_ne!(self_pred[0][1], Some(1.0));
    }
}
