//! The router's own training data as one table, for the baselines of a dataset the router
//! was never trained on (a leave-one-dataset-out run): there the category prior and kNN
//! must be fitted on what the router saw (the train splits of its training datasets), not
//! on the evaluated set's own train split, or the comparison pits an out-of-domain router
//! against in-domain rules.
//!
//! The evaluated prompts' categories never match the pool's (each category is qualified by
//! its dataset), so the prior becomes each model's mean over the router's training data
//! (the best-model-on-average rule); kNN finds neighbours among the router's training
//! prompts. Models are matched by name.

use std::collections::HashMap;

use datasets::split::{Split, SplitRatios, split_of};
use rayon::prelude::*;

use super::baselines::{self, Predictions, SparseVec};
use super::table::{EvalTable, PromptRecord};

/// The train-split prompts of the datasets a router was trained on.
pub struct TrainingPool {
    /// Names of the datasets in the pool.
    pub datasets: Vec<String>,
    table: EvalTable,
    vectors: Vec<SparseVec>,
}

/// The dataset names a manifest's `training.datasets` lists (`[{ "name": … }, …]`).
pub fn trained_datasets(training: &serde_json::Value) -> Vec<String> {
    training
        .get("datasets")
        .and_then(serde_json::Value::as_array)
        .map(|sets| {
            sets.iter()
                .filter_map(|s| s.get("name").and_then(serde_json::Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl TrainingPool {
    /// The pool of `tables` whose dataset is in `trained_on`, each prompt with its vector
    /// from `vectorize`; `None` when no such table was loaded.
    pub fn build(
        tables: &[EvalTable],
        trained_on: &[String],
        ratios: &SplitRatios,
        vectorize: &(dyn Fn(&str) -> SparseVec + Sync),
    ) -> Option<TrainingPool> {
        let mut table = EvalTable {
            dataset: "router training data".into(),
            ..EvalTable::default()
        };
        let mut model_index: HashMap<String, usize> = HashMap::new();
        let mut datasets = Vec::new();
        for t in tables.iter().filter(|t| trained_on.contains(&t.dataset)) {
            datasets.push(t.dataset.clone());
            let columns: Vec<usize> = t
                .models
                .iter()
                .map(|m| {
                    let next = model_index.len();
                    *model_index.entry(m.clone()).or_insert_with(|| {
                        table.models.push(m.clone());
                        next
                    })
                })
                .collect();
            for (p, prompt) in t.prompts.iter().enumerate() {
                if split_of(&prompt.id, ratios) != Split::Train {
                    continue;
                }
                table.prompts.push(qualified(prompt, &t.dataset));
                // Later tables add columns: rows are widened at the end.
                let mut scores = vec![None; table.models.len()];
                for (m, &col) in columns.iter().enumerate() {
                    scores[col] = t.scores[p][m];
                }
                table.scores.push(scores);
            }
        }
        if datasets.is_empty() {
            return None;
        }
        let width = table.models.len();
        for row in &mut table.scores {
            row.resize(width, None);
        }
        let vectors = table
            .prompts
            .par_iter()
            .map(|p| vectorize(&p.text))
            .collect();
        Some(TrainingPool {
            datasets,
            table,
            vectors,
        })
    }

    /// Prompts in the pool.
    pub fn len(&self) -> usize {
        self.table.prompts.len()
    }

    /// Whether the pool has no prompt.
    pub fn is_empty(&self) -> bool {
        self.table.prompts.is_empty()
    }

    /// The category prior and kNN (k neighbours) fitted on the pool, for the `eval`
    /// prompts of `target` (whose vectors are `target_vectors`, by target prompt index), in
    /// `target`'s model order; `None` for a model the pool never labels.
    pub fn baselines(
        &self,
        target: &EvalTable,
        target_vectors: &[SparseVec],
        eval: &[usize],
        k: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> (Predictions, Predictions) {
        let mut table = EvalTable {
            dataset: self.table.dataset.clone(),
            models: self.table.models.clone(),
            prompts: self.table.prompts.clone(),
            scores: self.table.scores.clone(),
            ..EvalTable::default()
        };
        let train: Vec<usize> = (0..table.prompts.len()).collect();
        let mut vectors = self.vectors.clone();
        let width = table.models.len();
        let mut rows = Vec::with_capacity(eval.len());
        for &p in eval {
            rows.push(table.prompts.len());
            table
                .prompts
                .push(qualified(&target.prompts[p], &target.dataset));
            // What the evaluated prompts scored is never a baseline's to see.
            table.scores.push(vec![None; width]);
            vectors.push(target_vectors[p].clone());
        }
        let prior = baselines::category_prior(&table, &train, &rows);
        let knn = baselines::knn(&table, &vectors, &train, &rows, k, progress);
        let columns: Vec<Option<usize>> = target
            .models
            .iter()
            .map(|m| self.table.model_index(m))
            .collect();
        let to_target = |preds: Predictions| -> Predictions {
            preds
                .into_iter()
                .map(|row| columns.iter().map(|c| c.and_then(|c| row[c])).collect())
                .collect()
        };
        (to_target(prior), to_target(knn))
    }
}

/// The prompt with its category qualified by its dataset (`mmlu/anatomy`), so categories
/// of different datasets never pool together.
fn qualified(prompt: &PromptRecord, dataset: &str) -> PromptRecord {
    PromptRecord {
        category: Some(format!(
            "{dataset}/{}",
            prompt.category.as_deref().unwrap_or("")
        )),
        ..prompt.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(id: &str, text: &str, category: &str) -> PromptRecord {
        PromptRecord {
            id: id.into(),
            text: text.into(),
            category: Some(category.into()),
            input_tokens: 1,
        }
    }

    /// A vector per word of a tiny vocabulary.
    fn vectorize(text: &str) -> SparseVec {
        let words = ["math", "code", "chat"];
        let ids: Vec<u32> = words
            .iter()
            .enumerate()
            .filter(|(_, w)| text.contains(*w))
            .map(|(i, _)| i as u32 + 1)
            .collect();
        let w = 1.0 / (ids.len().max(1) as f32).sqrt();
        SparseVec {
            weights: vec![w; ids.len()],
            ids,
        }
    }

    fn train_ids(n: usize) -> Vec<String> {
        let ratios = SplitRatios::default();
        (0..10_000)
            .map(|i| format!("{i:016x}"))
            .filter(|id| split_of(id, &ratios) == Split::Train)
            .take(n)
            .collect()
    }

    #[test]
    fn baselines_of_an_unseen_dataset_come_from_the_training_pool_by_model_name() {
        let ids = train_ids(4);
        // Trained on: "a" knows big and small, "b" knows small and only-b.
        let a = EvalTable {
            dataset: "a".into(),
            models: vec!["big".into(), "small".into()],
            prompts: vec![
                prompt(&ids[0], "math one", "x"),
                prompt(&ids[1], "code two", "x"),
            ],
            scores: vec![vec![Some(1.0), Some(0.0)], vec![Some(0.0), Some(1.0)]],
            ..EvalTable::default()
        };
        let b = EvalTable {
            dataset: "b".into(),
            models: vec!["small".into(), "only-b".into()],
            prompts: vec![prompt(&ids[2], "chat three", "y")],
            scores: vec![vec![Some(1.0), Some(0.5)]],
            ..EvalTable::default()
        };
        // Not trained on: its own labels must not be seen.
        let target = EvalTable {
            dataset: "t".into(),
            models: vec!["small".into(), "big".into(), "unknown".into()],
            prompts: vec![prompt(&ids[3], "math please", "x")],
            scores: vec![vec![Some(0.0), Some(0.0), Some(1.0)]],
            ..EvalTable::default()
        };
        let tables = [a, b, target.clone()];
        let pool = TrainingPool::build(
            &tables,
            &["a".into(), "b".into()],
            &SplitRatios::default(),
            &vectorize,
        )
        .unwrap();
        assert_eq!(pool.datasets, ["a", "b"]);
        assert_eq!(pool.len(), 3);
        let target_vectors: Vec<SparseVec> =
            target.prompts.iter().map(|p| vectorize(&p.text)).collect();
        let (prior, knn) = pool.baselines(&target, &target_vectors, &[0], 1, &|_| {});
        // Prior: each model's mean over the pool (the category "t/x" is never "a/x").
        assert_eq!(prior, vec![vec![Some(2.0 / 3.0), Some(0.5), None]]);
        // kNN with k = 1: the nearest pool prompt is "math one" (big 1, small 0).
        assert_eq!(knn, vec![vec![Some(0.0), Some(1.0), None]]);
    }

    #[test]
    fn the_manifest_names_the_training_datasets() {
        let training = serde_json::json!({"datasets": [{"name": "mmlu"}, {"name": "gsm8k"}]});
        assert_eq!(trained_datasets(&training), ["mmlu", "gsm8k"]);
        assert!(trained_datasets(&serde_json::Value::Null).is_empty());
    }
}
