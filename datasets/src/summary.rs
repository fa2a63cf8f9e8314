//! Per-dataset summaries of a loaded table (what `datasets describe` prints): prompts,
//! models, mean score and mean cost per model, and what was skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use polars::prelude::*;

use crate::report::{LoadReport, Skipped};
use crate::schema;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub model: String,
    pub outcomes: usize,
    pub mean_score: f64,
    /// Mean over the outcomes that have a cost; `None` when none has.
    pub mean_cost_usd: Option<f64>,
    /// Outcomes with a cost.
    pub costed: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    pub dataset: String,
    pub sources: Vec<PathBuf>,
    pub rows: usize,
    pub prompts: usize,
    /// Sorted by model name.
    pub models: Vec<ModelSummary>,
    pub skipped: Vec<Skipped>,
}

#[derive(Default)]
struct PerDataset<'a> {
    prompts: HashSet<&'a str>,
    models: BTreeMap<&'a str, Acc>,
    rows: usize,
}

#[derive(Default)]
struct Acc {
    outcomes: usize,
    score_sum: f64,
    cost_sum: f64,
    costed: usize,
}

/// Summaries in the report's dataset order.
pub fn summarize(frame: &DataFrame, report: &LoadReport) -> PolarsResult<Vec<DatasetSummary>> {
    let datasets = frame.column(schema::DATASET)?.str()?;
    let ids = frame.column(schema::PROMPT_ID)?.str()?;
    let models = frame.column(schema::MODEL)?.str()?;
    let scores = frame.column(schema::SCORE)?.f64()?;
    let costs = frame.column(schema::COST_USD)?.f64()?;

    let mut per: HashMap<&str, PerDataset> = HashMap::new();
    for ((((d, id), m), s), c) in datasets
        .iter()
        .zip(ids.iter())
        .zip(models.iter())
        .zip(scores.iter())
        .zip(costs.iter())
    {
        let (Some(d), Some(id), Some(m)) = (d, id, m) else {
            continue;
        };
        let entry = per.entry(d).or_default();
        entry.prompts.insert(id);
        entry.rows += 1;
        let acc = entry.models.entry(m).or_default();
        acc.outcomes += 1;
        acc.score_sum += s.unwrap_or(0.0);
        if let Some(c) = c {
            acc.cost_sum += c;
            acc.costed += 1;
        }
    }

    let mut order: Vec<&str> = Vec::new();
    for set in &report.sets {
        if !order.contains(&set.dataset.as_str()) {
            order.push(&set.dataset);
        }
    }
    let mut out = Vec::with_capacity(order.len());
    for dataset in order {
        let mut skipped: Vec<Skipped> = Vec::new();
        let mut sources = Vec::new();
        for set in report.for_dataset(dataset) {
            sources.push(set.source.clone());
            for s in &set.skipped {
                match skipped.iter_mut().find(|k| k.reason == s.reason) {
                    Some(k) => k.count += s.count,
                    None => skipped.push(s.clone()),
                }
            }
        }
        let PerDataset {
            prompts,
            models: accs,
            rows,
        } = per.remove(dataset).unwrap_or_default();
        let models = accs
            .into_iter()
            .map(|(model, acc)| ModelSummary {
                model: model.to_string(),
                outcomes: acc.outcomes,
                mean_score: if acc.outcomes > 0 {
                    acc.score_sum / acc.outcomes as f64
                } else {
                    0.0
                },
                mean_cost_usd: (acc.costed > 0).then(|| acc.cost_sum / acc.costed as f64),
                costed: acc.costed,
            })
            .collect();
        out.push(DatasetSummary {
            dataset: dataset.to_string(),
            sources,
            rows,
            prompts: prompts.len(),
            models,
            skipped,
        });
    }
    Ok(out)
}
