//! Collects one set's outcomes and turns them into a canonical frame.
//!
//! Loaders register each prompt once ([`SetBuilder::prompt`]) and then push compact
//! outcome rows that point at it. The frame's text columns are gathered from the
//! per-prompt columns by index, so a prompt shared by 29 models is hashed, counted and
//! stored once (polars string views share the buffer).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use polars::prelude::*;

use crate::aliases;
use crate::error::LoadError;
use crate::prices::PriceTable;
use crate::report::{Renamed, SetReport, Skipped, reasons};
use crate::schema;
use crate::text;

/// One (prompt × model) outcome, pointing into the builder's prompt and model tables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub prompt: u32,
    pub model: u32,
    pub score: f64,
    pub raw_score: f64,
    pub output_tokens: u32,
    /// Published cost; the price table fills it when absent.
    pub cost_usd: Option<f64>,
}

pub(crate) struct SetBuilder {
    dataset: String,
    source: PathBuf,
    prompts: Vec<String>,
    categories: Vec<Option<String>>,
    /// Prompt ids / input tokens supplied by the data (generic format), else computed.
    id_overrides: Vec<Option<String>>,
    input_overrides: Vec<Option<u32>>,
    models: Vec<String>,
    model_index: HashMap<String, u32>,
    rows: Vec<Outcome>,
    skipped: Vec<Skipped>,
}

/// A finished set: its canonical frame and report.
pub(crate) struct BuiltSet {
    pub frame: DataFrame,
    pub report: SetReport,
}

impl SetBuilder {
    pub fn new(dataset: impl Into<String>, source: impl Into<PathBuf>) -> Self {
        Self {
            dataset: dataset.into(),
            source: source.into(),
            prompts: Vec::new(),
            categories: Vec::new(),
            id_overrides: Vec::new(),
            input_overrides: Vec::new(),
            models: Vec::new(),
            model_index: HashMap::new(),
            rows: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Register a prompt (with its category) and get its index for [`Outcome::prompt`].
    pub fn prompt(&mut self, text: String, category: Option<String>) -> u32 {
        self.prompt_with(text, category, None, None)
    }

    /// Register a prompt whose id and/or input token count the data supplies.
    pub fn prompt_with(
        &mut self,
        text: String,
        category: Option<String>,
        id: Option<String>,
        input_tokens: Option<u32>,
    ) -> u32 {
        self.prompts.push(text);
        self.categories.push(category);
        self.id_overrides.push(id);
        self.input_overrides.push(input_tokens);
        index_u32(self.prompts.len() - 1)
    }

    /// Index of a model name, registering it on first use.
    pub fn model(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.model_index.get(name) {
            return i;
        }
        let i = index_u32(self.models.len());
        self.models.push(name.to_string());
        self.model_index.insert(name.to_string(), i);
        i
    }

    pub fn push(&mut self, outcome: Outcome) {
        self.rows.push(outcome);
    }

    /// Count `count` rows skipped for `reason`.
    pub fn skip(&mut self, reason: &str, count: usize) {
        if count == 0 {
            return;
        }
        match self.skipped.iter_mut().find(|s| s.reason == reason) {
            Some(s) => s.count += count,
            None => self.skipped.push(Skipped {
                reason: reason.to_string(),
                count,
            }),
        }
    }

    /// Build the canonical frame: prompt ids and input tokens per prompt, the price table
    /// for missing costs, duplicates of (prompt id, model) dropped (first kept, counted).
    pub fn finish(mut self, prices: &PriceTable) -> Result<BuiltSet, LoadError> {
        if self.rows.is_empty() {
            return Err(LoadError::EmptySet {
                path: self.source.clone(),
                detail: skipped_detail(&self.skipped),
            });
        }
        let ids: Vec<String> = self
            .prompts
            .iter()
            .zip(&self.id_overrides)
            .map(|(p, id)| id.clone().unwrap_or_else(|| text::prompt_id(p)))
            .collect();
        let input_tokens: Vec<u32> = self
            .prompts
            .iter()
            .zip(&self.input_overrides)
            .map(|(p, n)| n.unwrap_or_else(|| text::estimate_tokens(p)))
            .collect();

        // One index per canonical model name: published spellings of one model merge here,
        // so their outcomes become one candidate's labels (and a clash is a duplicate).
        let mut names: Vec<String> = Vec::new();
        let canonical_of: Vec<u32> = {
            let mut index: HashMap<String, u32> = HashMap::new();
            self.models
                .iter()
                .map(|m| {
                    let c = aliases::canonical_model(m);
                    *index.entry(c.to_string()).or_insert_with(|| {
                        names.push(c.to_string());
                        index_u32(names.len() - 1)
                    })
                })
                .collect()
        };
        let mut renamed_rows = vec![0usize; self.models.len()];
        let mut seen: HashSet<(&str, u32)> = HashSet::with_capacity(self.rows.len());
        let mut keep = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let model = canonical_of[row.model as usize];
            if seen.insert((ids[row.prompt as usize].as_str(), model)) {
                if names[model as usize] != self.models[row.model as usize] {
                    renamed_rows[row.model as usize] += 1;
                }
                keep.push(Outcome { model, ..*row });
            }
        }
        let renamed: Vec<Renamed> = renamed_rows
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(m, &rows)| Renamed {
                from: self.models[m].clone(),
                to: names[canonical_of[m] as usize].clone(),
                rows,
            })
            .collect();
        let duplicates = self.rows.len() - keep.len();
        self.skip(reasons::DUPLICATE, duplicates);

        let n = keep.len();
        let prompt_idx = IdxCa::from_vec(
            "idx".into(),
            keep.iter().map(|r| r.prompt as IdxSize).collect(),
        );
        let model_idx = IdxCa::from_vec(
            "idx".into(),
            keep.iter().map(|r| r.model as IdxSize).collect(),
        );
        let gather =
            |name: &str, values: StringChunked, idx: &IdxCa| -> Result<Column, LoadError> {
                values
                    .take(idx)
                    .map(|ca| ca.with_name(name.into()).into_column())
                    .map_err(|e| LoadError::Internal {
                        path: self.source.clone(),
                        message: e.to_string(),
                    })
            };
        let prompt_col = gather(
            schema::PROMPT,
            StringChunked::from_iter_values("p".into(), self.prompts.iter().map(String::as_str)),
            &prompt_idx,
        )?;
        let id_col = gather(
            schema::PROMPT_ID,
            StringChunked::from_iter_values("p".into(), ids.iter().map(String::as_str)),
            &prompt_idx,
        )?;
        let category_col = gather(
            schema::CATEGORY,
            StringChunked::from_iter_options(
                "p".into(),
                self.categories.iter().map(|c| c.as_deref()),
            ),
            &prompt_idx,
        )?;
        let model_col = gather(
            schema::MODEL,
            StringChunked::from_iter_values("p".into(), names.iter().map(String::as_str)),
            &model_idx,
        )?;
        let dataset_col =
            StringChunked::full(schema::DATASET.into(), &self.dataset, n).into_column();
        let score: Vec<f64> = keep.iter().map(|r| r.score).collect();
        let raw: Vec<f64> = keep.iter().map(|r| r.raw_score).collect();
        let input: Vec<u32> = keep
            .iter()
            .map(|r| input_tokens[r.prompt as usize])
            .collect();
        let output: Vec<u32> = keep.iter().map(|r| r.output_tokens).collect();
        let cost: Vec<Option<f64>> = keep
            .iter()
            .map(|r| {
                r.cost_usd.or_else(|| {
                    prices.cost(
                        &names[r.model as usize],
                        input_tokens[r.prompt as usize],
                        r.output_tokens,
                    )
                })
            })
            .collect();

        let prompts: HashSet<&str> = keep
            .iter()
            .map(|r| ids[r.prompt as usize].as_str())
            .collect();
        let models: HashSet<u32> = keep.iter().map(|r| r.model).collect();
        let report = SetReport {
            dataset: self.dataset.clone(),
            source: self.source.clone(),
            rows: n,
            prompts: prompts.len(),
            models: models.len(),
            skipped: self.skipped.clone(),
            renamed,
        };

        let frame = DataFrame::new(
            n,
            vec![
                dataset_col,
                id_col,
                prompt_col,
                category_col,
                model_col,
                Column::new(schema::SCORE.into(), score),
                Column::new(schema::RAW_SCORE.into(), raw),
                Column::new(schema::INPUT_TOKENS.into(), input),
                Column::new(schema::OUTPUT_TOKENS.into(), output),
                Column::new(schema::COST_USD.into(), cost),
            ],
        )
        .map_err(|e| LoadError::Internal {
            path: self.source.clone(),
            message: e.to_string(),
        })?;
        Ok(BuiltSet { frame, report })
    }
}

fn skipped_detail(skipped: &[Skipped]) -> String {
    skipped
        .iter()
        .map(|s| format!("{} skipped: {}", s.count, s.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Table indices fit in u32 for any benchmark we load; saturate rather than wrap.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// An empty canonical frame (used when nothing is loaded into a union).
pub(crate) fn empty_frame() -> DataFrame {
    let columns = schema::COLUMNS
        .iter()
        .filter_map(|name| schema::dtype(name).map(|dt| Column::new_empty((*name).into(), &dt)))
        .collect();
    DataFrame::new(0, columns).unwrap_or_default()
}
