//! AlpacaEval annotations: `results/<model>/<annotator>/annotations.json`, a JSON array of
//! `{instruction, dataset, generator_1, generator_2, output_2, annotator, preference}`.
//!
//! - `preference` (a string or number in [1, 2]) is how much the judge prefers
//!   `generator_2` over the reference `generator_1` (gpt4_1106_preview): score = p − 1;
//!   null → skipped and counted.
//! - The reference model's own rows come from its own file
//!   (`results/gpt4_1106_preview/...`, where `generator_2 == generator_1`): the score is
//!   0.5 by definition (a model ties with itself) whatever the file says, the raw score is
//!   as published, and output tokens come from its `output_2`.
//! - category = the row's `dataset` field (`helpful_base`, `koala`, `oasst`, …).
//! - Output tokens: the estimate of `output_2`.
//!
//! Non-commercial data: use for evaluation only (see `LoadOptions::only`).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use crate::error::{LoadError, Location};
use crate::json::{self, LooseNumber};
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::text;

pub const ANNOTATIONS: &str = "annotations.json";
/// The reference every other model is compared with.
pub const REFERENCE_MODEL: &str = "gpt4_1106_preview";

#[derive(Deserialize)]
struct Annotation {
    instruction: String,
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    generator_1: Option<String>,
    generator_2: String,
    #[serde(default)]
    output_2: Option<String>,
    #[serde(default = "absent")]
    preference: LooseNumber,
}

fn absent() -> LooseNumber {
    LooseNumber(None)
}

/// Load every annotations file of one AlpacaEval results folder, merged in path order.
pub(crate) fn load(source: &Path, files: &[PathBuf]) -> Result<SetBuilder, LoadError> {
    let parsed: Vec<Vec<Annotation>> = files
        .par_iter()
        .map(|path| {
            let text = json::read_text(path)?;
            let rows: Vec<Annotation> = json::parse(path, Location::Record(0), &text)
                .map_err(|e| relocate_array_error(e, path))?;
            Ok(rows)
        })
        .collect::<Result<_, LoadError>>()?;

    let mut set = SetBuilder::new("alpaca_eval", source);
    // Prompt entries are shared across models through the instruction text.
    let mut prompt_of: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for (path, rows) in files.iter().zip(parsed) {
        for (i, row) in rows.into_iter().enumerate() {
            let Some(raw) = row.preference.0 else {
                set.skip(reasons::NULL_PREFERENCE, 1);
                continue;
            };
            if !(1.0..=2.0).contains(&raw) {
                return Err(LoadError::ScoreOutOfRange {
                    path: path.clone(),
                    location: Location::Record(i),
                    field: "preference".to_string(),
                    value: raw,
                    min: 1.0,
                    max: 2.0,
                });
            }
            let reference = row.generator_1.as_deref().unwrap_or(REFERENCE_MODEL);
            let score = if row.generator_2 == reference {
                0.5
            } else {
                raw - 1.0
            };
            let prompt = match prompt_of.get(&row.instruction) {
                Some(&p) => p,
                None => {
                    let p = set.prompt(row.instruction.clone(), row.dataset.clone());
                    prompt_of.insert(row.instruction, p);
                    p
                }
            };
            let model = set.model(&row.generator_2);
            set.push(Outcome {
                prompt,
                model,
                score,
                raw_score: raw,
                output_tokens: row.output_2.as_deref().map_or(0, text::estimate_tokens),
                cost_usd: None,
            });
        }
    }
    Ok(set)
}

/// Errors inside the array carry the record index in the field path (`[12].preference`):
/// move it into the location so the message reads `record [12], field preference`.
fn relocate_array_error(err: LoadError, path: &Path) -> LoadError {
    match err {
        LoadError::BadField { field, message, .. } => {
            let (location, field) = split_record_path(&field);
            LoadError::bad_field(path, location, field, message)
        }
        other => other,
    }
}

fn split_record_path(field: &str) -> (Location, String) {
    if let Some(rest) = field.strip_prefix('[')
        && let Some((index, tail)) = rest.split_once(']')
        && let Ok(i) = index.parse::<usize>()
    {
        let tail = tail.trim_start_matches('.');
        let tail = if tail.is_empty() { "(record)" } else { tail };
        return (Location::Record(i), tail.to_string());
    }
    (Location::Record(0), field.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_split_into_index_and_field() {
        assert_eq!(
            split_record_path("[12].preference"),
            (Location::Record(12), "preference".to_string())
        );
        assert_eq!(
            split_record_path("[3]"),
            (Location::Record(3), "(record)".to_string())
        );
    }
}
