//! RouteLLM's wide CSVs: MMLU (`responses/mmlu_<subject>.csv`, one per subject) and GSM8K
//! (`gsm8k_responses.csv`).
//!
//! Layout: `prompt,<model A>,<model B>[,<model>_response ...]`; model columns hold
//! `True`/`False` (correct or not → score 1/0, raw score 1/0). Prompts listed in the
//! `contaminated_prompts.jsonl` next to the data (field `eval_prompt`) are dropped and
//! counted, as RouteLLM's own evaluation does.
//!
//! Output tokens: from the `<model>_response` text where the file has it (GSM8K).
//! MMLU publishes no response text; its prompts end in `Answer:` and the graded output
//! is the answer letter, so an MMLU outcome counts [`MMLU_OUTPUT_TOKENS`] output token.
//! A null response cell counts [`MISSING_RESPONSE_OUTPUT_TOKENS`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::LoadError;
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::table;
use crate::text;

/// Output tokens of one MMLU answer (a single letter), documented estimate.
pub const MMLU_OUTPUT_TOKENS: u32 = 1;
/// Output tokens counted when a response column exists but the cell is empty.
pub const MISSING_RESPONSE_OUTPUT_TOKENS: u32 = 0;

const PROMPT: &str = "prompt";
const RESPONSE_SUFFIX: &str = "_response";

/// One parsed wide file.
struct WideFile {
    category: Option<String>,
    prompts: Vec<Option<String>>,
    models: Vec<ModelColumn>,
}

/// One model's column of a wide file.
struct ModelColumn {
    name: String,
    outcomes: Vec<Option<bool>>,
    /// Output tokens per row, when the file has the model's response text.
    tokens: Option<Vec<u32>>,
}

fn read_wide(path: &Path, category: Option<String>) -> Result<WideFile, LoadError> {
    let df = table::read_csv_strings(path)?;
    let names = table::column_names(&df);
    let prompts: Vec<Option<String>> = table::str_column(&df, path, PROMPT)?
        .iter()
        .map(|p| p.map(str::to_string))
        .collect();
    let model_names: Vec<&String> = names
        .iter()
        .filter(|n| n.as_str() != PROMPT && !n.ends_with(RESPONSE_SUFFIX))
        .collect();
    if model_names.is_empty() {
        return Err(LoadError::MissingColumn {
            path: path.to_path_buf(),
            column: "<model> (a True/False column per model)".to_string(),
            found: names.clone(),
        });
    }
    let mut models = Vec::with_capacity(model_names.len());
    for model in model_names {
        let outcomes = table::bool_column(&df, path, model)?;
        let response = format!("{model}{RESPONSE_SUFFIX}");
        let tokens = if names.contains(&response) {
            let ca = table::str_column(&df, path, &response)?;
            Some(
                ca.iter()
                    .map(|r| r.map_or(MISSING_RESPONSE_OUTPUT_TOKENS, text::estimate_tokens))
                    .collect(),
            )
        } else {
            None
        };
        models.push(ModelColumn {
            name: model.clone(),
            outcomes,
            tokens,
        });
    }
    Ok(WideFile {
        category,
        prompts,
        models,
    })
}

/// Subject of an MMLU file: the stem after `mmlu_`.
pub fn mmlu_subject(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    stem.strip_prefix("mmlu_").map(str::to_string)
}

/// Load a RouteLLM wide set from `files` (read in parallel, merged in the given order).
pub(crate) fn load(
    dataset: &str,
    source: &Path,
    files: &[PathBuf],
    contamination: Option<&Path>,
) -> Result<SetBuilder, LoadError> {
    let contaminated: HashSet<String> = match contamination {
        Some(path) => crate::json::contaminated_prompts(path)?,
        None => HashSet::new(),
    };
    let is_mmlu = dataset == "mmlu";
    let parsed: Vec<WideFile> = files
        .par_iter()
        .map(|path| {
            let category = if is_mmlu { mmlu_subject(path) } else { None };
            read_wide(path, category)
        })
        .collect::<Result<_, _>>()?;

    let mut set = SetBuilder::new(dataset, source);
    for file in parsed {
        let model_ids: Vec<u32> = file.models.iter().map(|m| set.model(&m.name)).collect();
        let n_models = file.models.len();
        for (row, prompt) in file.prompts.into_iter().enumerate() {
            let Some(prompt) = prompt.filter(|p| !p.is_empty()) else {
                set.skip(reasons::EMPTY_PROMPT, n_models);
                continue;
            };
            if contaminated.contains(&prompt) {
                set.skip(reasons::CONTAMINATED, n_models);
                continue;
            }
            let mut prompt_index = None;
            for (column, &model) in file.models.iter().zip(&model_ids) {
                let Some(correct) = column.outcomes.get(row).copied().flatten() else {
                    set.skip(reasons::MISSING_OUTCOME, 1);
                    continue;
                };
                let p = *prompt_index
                    .get_or_insert_with(|| set.prompt(prompt.clone(), file.category.clone()));
                let output_tokens = column
                    .tokens
                    .as_ref()
                    .and_then(|t| t.get(row).copied())
                    .unwrap_or(if is_mmlu {
                        MMLU_OUTPUT_TOKENS
                    } else {
                        MISSING_RESPONSE_OUTPUT_TOKENS
                    });
                let value = if correct { 1.0 } else { 0.0 };
                set.push(Outcome {
                    prompt: p,
                    model,
                    score: value,
                    raw_score: value,
                    output_tokens,
                    cost_usd: None,
                });
            }
        }
    }
    Ok(set)
}
