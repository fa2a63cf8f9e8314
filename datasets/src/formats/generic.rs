//! The generic long format for users' own evaluation data: one row per prompt × model,
//! in CSV, Parquet or JSON lines, with the canonical column names (see
//! `datasets/README.md` for the schema).
//!
//! Required: `prompt`, `model`, `score` (already normalised to [0, 1]).
//! Optional: `dataset` (else the file stem), `prompt_id` (else computed), `category`,
//! `raw_score` (else = score), `input_tokens` (else estimated from the prompt),
//! `output_tokens` (else estimated from a `response` text column, else
//! [`DEFAULT_OUTPUT_TOKENS`]), `cost_usd` (else the price table).
//! A null score is a missing outcome: skipped and counted.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use crate::error::{LoadError, Location};
use crate::json;
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::schema;
use crate::table;
use crate::text;

/// Optional extra column holding the response text (for output tokens).
pub const RESPONSE: &str = "response";
/// Output tokens when a row has neither `output_tokens` nor `response`.
pub const DEFAULT_OUTPUT_TOKENS: u32 = 256;

/// True when the columns are the generic long format's.
pub fn recognises(columns: &[String]) -> bool {
    [schema::PROMPT, schema::MODEL, schema::SCORE]
        .iter()
        .all(|c| columns.iter().any(|n| n == c))
}

pub(crate) fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"))
}

/// Read a generic file into a table plus, for JSON lines, the line of each row.
pub(crate) fn read(path: &Path) -> Result<(DataFrame, Option<Vec<usize>>), LoadError> {
    if crate::formats::routerbench::is_parquet(path) {
        Ok((table::read_parquet(path)?, None))
    } else if is_jsonl(path) {
        let (df, lines) = jsonl_table(path)?;
        Ok((df, Some(lines)))
    } else {
        Ok((table::read_csv_strings(path)?, None))
    }
}

/// JSON lines → a table of text columns (numbers keep their JSON spelling and are parsed
/// with the CSV cells, so every format reports bad cells the same way).
fn jsonl_table(path: &Path) -> Result<(DataFrame, Vec<usize>), LoadError> {
    let text = json::read_text(path)?;
    let mut names: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<Option<String>>> = Vec::new();
    let mut lines = Vec::new();
    json::for_each_line(
        path,
        &text,
        |line, record: serde_json::Map<String, serde_json::Value>| {
            let row = lines.len();
            lines.push(line);
            for (key, value) in record {
                let col = match names.iter().position(|n| *n == key) {
                    Some(c) => c,
                    None => {
                        names.push(key);
                        cells.push(vec![None; row]);
                        names.len() - 1
                    }
                };
                let cell = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                };
                cells[col].push(cell);
            }
            for column in &mut cells {
                column.resize(row + 1, None);
            }
            Ok(())
        },
    )?;
    let height = lines.len();
    let columns = names
        .iter()
        .zip(cells)
        .map(|(name, values)| Column::new(name.as_str().into(), values))
        .collect();
    let df = DataFrame::new(height, columns).map_err(|e| LoadError::table(path, e))?;
    Ok((df, lines))
}

/// Load one generic file; one set per distinct `dataset` value.
pub(crate) fn load(path: &Path) -> Result<Vec<SetBuilder>, LoadError> {
    let (df, lines) = read(path)?;
    let relocate = |err: LoadError| match (&lines, err) {
        (
            Some(lines),
            LoadError::BadField {
                path,
                location: Location::Row(r),
                field,
                message,
            },
        ) => {
            let line = lines.get(r.saturating_sub(1)).copied().unwrap_or(r);
            LoadError::BadField {
                path,
                location: Location::Line(line),
                field,
                message,
            }
        }
        (_, err) => err,
    };
    from_frame(path, &df, &lines).map_err(relocate)
}

fn optional<T>(
    names: &[String],
    name: &str,
    read: impl FnOnce() -> Result<T, LoadError>,
) -> Result<Option<T>, LoadError> {
    if names.iter().any(|n| n == name) {
        read().map(Some)
    } else {
        Ok(None)
    }
}

fn from_frame(
    path: &Path,
    df: &DataFrame,
    lines: &Option<Vec<usize>>,
) -> Result<Vec<SetBuilder>, LoadError> {
    let names = table::column_names(df);
    let location = |row: usize| match lines {
        Some(lines) => Location::Line(lines.get(row).copied().unwrap_or(row + 1)),
        None => Location::Row(row + 1),
    };
    let prompts = table::str_column(df, path, schema::PROMPT)?;
    let models = table::str_column(df, path, schema::MODEL)?;
    let scores = table::f64_column(df, path, schema::SCORE)?;
    let datasets = optional(&names, schema::DATASET, || {
        table::str_column(df, path, schema::DATASET)
    })?;
    let ids = optional(&names, schema::PROMPT_ID, || {
        table::str_column(df, path, schema::PROMPT_ID)
    })?;
    let categories = optional(&names, schema::CATEGORY, || {
        table::str_column(df, path, schema::CATEGORY)
    })?;
    let raws = optional(&names, schema::RAW_SCORE, || {
        table::f64_column(df, path, schema::RAW_SCORE)
    })?;
    let inputs = optional(&names, schema::INPUT_TOKENS, || {
        table::f64_column(df, path, schema::INPUT_TOKENS)
    })?;
    let outputs = optional(&names, schema::OUTPUT_TOKENS, || {
        table::f64_column(df, path, schema::OUTPUT_TOKENS)
    })?;
    let costs = optional(&names, schema::COST_USD, || {
        table::f64_column(df, path, schema::COST_USD)
    })?;
    let responses = optional(&names, RESPONSE, || table::str_column(df, path, RESPONSE))?;

    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generic".to_string());
    let mut sets: BTreeMap<String, SetBuilder> = BTreeMap::new();
    let tokens = |value: Option<f64>, row: usize, field: &str| -> Result<Option<u32>, LoadError> {
        match value {
            None => Ok(None),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => {
                Ok(Some(v as u32))
            }
            Some(v) => Err(LoadError::bad_field(
                path,
                location(row),
                field,
                format!("{v} is not a token count"),
            )),
        }
    };
    for row in 0..df.height() {
        let dataset = datasets
            .as_ref()
            .and_then(|d| d.get(row))
            .filter(|d| !d.is_empty())
            .unwrap_or(&stem)
            .to_string();
        let set = sets
            .entry(dataset.clone())
            .or_insert_with(|| SetBuilder::new(dataset, path));
        let Some(prompt) = prompts.get(row).filter(|p| !p.is_empty()) else {
            set.skip(reasons::EMPTY_PROMPT, 1);
            continue;
        };
        let Some(model) = models.get(row).filter(|m| !m.is_empty()) else {
            return Err(LoadError::bad_field(
                path,
                location(row),
                schema::MODEL,
                "missing model name",
            ));
        };
        let Some(score) = scores.get(row).copied().flatten() else {
            set.skip(reasons::MISSING_OUTCOME, 1);
            continue;
        };
        if !(0.0..=1.0).contains(&score) {
            return Err(LoadError::ScoreOutOfRange {
                path: path.to_path_buf(),
                location: location(row),
                field: schema::SCORE.to_string(),
                value: score,
                min: 0.0,
                max: 1.0,
            });
        }
        let input_tokens = tokens(
            inputs.as_ref().and_then(|v| v.get(row).copied().flatten()),
            row,
            schema::INPUT_TOKENS,
        )?;
        let output_tokens = match tokens(
            outputs.as_ref().and_then(|v| v.get(row).copied().flatten()),
            row,
            schema::OUTPUT_TOKENS,
        )? {
            Some(n) => n,
            None => responses
                .as_ref()
                .and_then(|r| r.get(row))
                .map_or(DEFAULT_OUTPUT_TOKENS, text::estimate_tokens),
        };
        let cost_usd = costs.as_ref().and_then(|c| c.get(row).copied().flatten());
        if let Some(c) = cost_usd
            && c < 0.0
        {
            return Err(LoadError::bad_field(
                path,
                location(row),
                schema::COST_USD,
                format!("negative cost {c}"),
            ));
        }
        let p = set.prompt_with(
            prompt.to_string(),
            categories
                .as_ref()
                .and_then(|c| c.get(row))
                .map(str::to_string),
            ids.as_ref().and_then(|c| c.get(row)).map(str::to_string),
            input_tokens,
        );
        let model = set.model(model);
        set.push(Outcome {
            prompt: p,
            model,
            score,
            raw_score: raws
                .as_ref()
                .and_then(|r| r.get(row).copied().flatten())
                .unwrap_or(score),
            output_tokens,
            cost_usd,
        });
    }
    if sets.is_empty() {
        return Err(LoadError::EmptySet {
            path: path.to_path_buf(),
            detail: "the file has no rows".to_string(),
        });
    }
    Ok(sets.into_values().collect())
}
