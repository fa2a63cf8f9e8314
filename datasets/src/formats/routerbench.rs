//! RouterBench's wide format (CSV or Parquet): `sample_id`, `prompt`, `eval_name`, one
//! column per model with its score in [0, 1], `<model>|model_response` (output text) and
//! `<model>|total_cost` (USD).
//!
//! - A null model cell is a missing outcome: skipped and counted, never scored 0.
//! - Dataset key `mmlu_pro` when every `eval_name` starts with `mmlu-pro-` (category =
//!   the rest, e.g. `law`), else `routerbench` (category = `eval_name`).
//! - Output tokens: the estimate of `<model>|model_response`; [`FALLBACK_OUTPUT_TOKENS`]
//!   when the file has no response for that cell.
//! - Cost: the published `<model>|total_cost` when present, else the price table.

use std::path::Path;

use polars::prelude::DataFrame;

use crate::error::{LoadError, Location};
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::table;
use crate::text;

pub const PROMPT: &str = "prompt";
pub const EVAL_NAME: &str = "eval_name";
pub const SAMPLE_ID: &str = "sample_id";
/// Columns that are neither models nor per-model companions.
const NON_MODEL: [&str; 4] = [PROMPT, EVAL_NAME, SAMPLE_ID, "oracle_model_to_route_to"];
const RESPONSE: &str = "|model_response";
const TOTAL_COST: &str = "|total_cost";
const MMLU_PRO_PREFIX: &str = "mmlu-pro-";
/// Output tokens when a cell has no response text (RouterBench's median-ish answer).
pub const FALLBACK_OUTPUT_TOKENS: u32 = 100;

/// True when the columns look like RouterBench's wide layout.
pub fn recognises(columns: &[String]) -> bool {
    [PROMPT, EVAL_NAME, SAMPLE_ID]
        .iter()
        .all(|c| columns.iter().any(|n| n == c))
}

/// Load one RouterBench-format file (`.csv` or `.parquet`).
pub(crate) fn load(path: &Path) -> Result<SetBuilder, LoadError> {
    let df = if is_parquet(path) {
        table::read_parquet(path)?
    } else {
        table::read_csv_strings(path)?
    };
    from_frame(path, &df)
}

pub(crate) fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn from_frame(path: &Path, df: &DataFrame) -> Result<SetBuilder, LoadError> {
    let names = table::column_names(df);
    let prompts = table::str_column(df, path, PROMPT)?;
    let evals = table::str_column(df, path, EVAL_NAME)?;
    // sample_id is part of the layout even though outcomes are keyed by prompt text.
    table::str_column(df, path, SAMPLE_ID)?;
    let models: Vec<&String> = names
        .iter()
        .filter(|n| !NON_MODEL.contains(&n.as_str()) && !n.contains('|'))
        .collect();
    if models.is_empty() {
        return Err(LoadError::MissingColumn {
            path: path.to_path_buf(),
            column: "<model> (a score column per model)".to_string(),
            found: names.clone(),
        });
    }
    let mmlu_pro = !evals.is_empty()
        && evals
            .iter()
            .all(|e| e.is_some_and(|e| e.starts_with(MMLU_PRO_PREFIX)));
    let dataset = if mmlu_pro { "mmlu_pro" } else { "routerbench" };
    let mut set = SetBuilder::new(dataset, path);

    struct ModelColumns {
        id: u32,
        name: String,
        scores: Vec<Option<f64>>,
        tokens: Option<Vec<Option<u32>>>,
        costs: Option<Vec<Option<f64>>>,
    }
    let mut columns = Vec::with_capacity(models.len());
    for model in &models {
        let scores = table::f64_column(df, path, model)?;
        let response = format!("{model}{RESPONSE}");
        let tokens = if names.contains(&response) {
            let ca = table::str_column(df, path, &response)?;
            Some(ca.iter().map(|r| r.map(text::estimate_tokens)).collect())
        } else {
            None
        };
        let cost = format!("{model}{TOTAL_COST}");
        let costs = if names.contains(&cost) {
            Some(table::f64_column(df, path, &cost)?)
        } else {
            None
        };
        columns.push(ModelColumns {
            id: set.model(model),
            name: (*model).clone(),
            scores,
            tokens,
            costs,
        });
    }

    for (row, (prompt, eval)) in prompts.iter().zip(evals.iter()).enumerate() {
        let Some(prompt) = prompt.filter(|p| !p.is_empty()) else {
            set.skip(reasons::EMPTY_PROMPT, columns.len());
            continue;
        };
        let category = eval.map(|e| {
            if mmlu_pro {
                e.strip_prefix(MMLU_PRO_PREFIX).unwrap_or(e).to_string()
            } else {
                e.to_string()
            }
        });
        let mut prompt_index = None;
        for column in &columns {
            let Some(score) = column.scores.get(row).copied().flatten() else {
                set.skip(reasons::MISSING_OUTCOME, 1);
                continue;
            };
            if !(0.0..=1.0).contains(&score) {
                return Err(LoadError::ScoreOutOfRange {
                    path: path.to_path_buf(),
                    location: Location::Row(row + 1),
                    field: column.name.clone(),
                    value: score,
                    min: 0.0,
                    max: 1.0,
                });
            }
            let p = *prompt_index
                .get_or_insert_with(|| set.prompt(prompt.to_string(), category.clone()));
            let output_tokens = column
                .tokens
                .as_ref()
                .and_then(|t| t.get(row).copied().flatten())
                .unwrap_or(FALLBACK_OUTPUT_TOKENS);
            let cost_usd = column
                .costs
                .as_ref()
                .and_then(|c| c.get(row).copied().flatten())
                .filter(|c| *c >= 0.0);
            set.push(Outcome {
                prompt: p,
                model: column.id,
                score,
                raw_score: score,
                output_tokens,
                cost_usd,
            });
        }
    }
    Ok(set)
}
