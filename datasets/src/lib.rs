//! Loaders for published LLM benchmark outcome formats into one canonical polars table:
//! one row per (prompt × model) outcome, columns in [`schema`].
//!
//! Module map:
//! - [`schema`]: column names and dtypes of the canonical table.
//! - [`load`] / [`load_with`] (this file): find every supported set under a path, load
//!   them in parallel, return the union and a [`LoadReport`].
//! - `discover`: which files form which set, by layout.
//! - [`formats`]: one loader per format — [`formats::routellm_wide`] (RouteLLM MMLU,
//!   GSM8K), [`formats::mt_bench`], [`formats::arena`] (arena-bench), [`formats::alpaca`]
//!   (AlpacaEval), [`formats::routerbench`] (RouterBench wide, incl. MMLU-Pro),
//!   [`formats::generic`] (users' own long-format data).
//! - `outcomes`: the per-set builder that turns loader rows into a canonical frame.
//! - [`aliases`]: one canonical name per model (published spellings merged, counted).
//! - [`prices`]: the price table that fills `cost_usd`.
//! - [`report`]: what was loaded and what was skipped, with reasons.
//! - [`split`]: deterministic train/validation/test split by prompt hash.
//! - [`summary`]: per-dataset summaries (the `describe` command).
//! - [`text`]: prompt ids, turn joining, token estimates (same as `models`').
//! - `table`, `json`: reading CSV/Parquet/JSON with located errors.
//! - [`error`]: [`LoadError`], naming file, line/row and field.

pub mod aliases;
pub mod error;
pub mod formats;
pub mod prices;
pub mod report;
pub mod schema;
pub mod split;
pub mod summary;
pub mod text;

mod discover;
mod json;
mod outcomes;
mod table;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

pub use aliases::{MODEL_ALIASES, canonical_model};
pub use error::{LoadError, Location};
pub use prices::{Price, PriceTable};
pub use report::{LoadReport, Renamed, SetReport, Skipped};

use discover::SetSource;
use outcomes::{BuiltSet, SetBuilder};

/// Dataset keys of the built-in formats.
pub const DATASET_KEYS: [&str; 7] = [
    "mmlu",
    "gsm8k",
    "mt_bench",
    "arena_bench",
    "alpaca_eval",
    "mmlu_pro",
    "routerbench",
];

/// Dataset keys of the shared data (`../shared/data`, its README) whose licenses allow
/// training a model that is shipped: RouteLLM, Arena, MMLU-Pro and ZeroEval (Apache-2.0),
/// LLMRouter (MIT; its questions under their benchmarks' licenses). The generic-format sets
/// are named by their `dataset` column. `train` uses these by default.
pub const PERMISSIVE_DATASETS: [&str; 9] = [
    "mmlu",
    "gsm8k",
    "mt_bench",
    "arena_bench",
    "mmlu_pro",
    "zeroeval_gsm",
    "zeroeval_math_l5",
    "zeroeval_crux",
    "llmrouter",
];

/// Dataset keys whose license forbids training a model that is shipped (AlpacaEval's data is
/// CC BY-NC 4.0): evaluation and experiments only.
pub const NONCOMMERCIAL_DATASETS: [&str; 1] = ["alpaca_eval"];

/// Options of [`load_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// Load only these dataset keys (e.g. everything but `alpaca_eval` for training).
    pub only: Option<Vec<String>>,
    /// Price table to use instead of the `prices.csv` found next to the data.
    pub prices: Option<PathBuf>,
}

/// The union of the loaded sets and what the load did.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub frame: DataFrame,
    pub report: LoadReport,
}

/// Load every supported set under `path` (a folder, or one file) with default options.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
    load_with(path, &LoadOptions::default())
}

/// How many folders up from the loaded path to look for `prices.csv`.
const PRICES_SEARCH_DEPTH: usize = 3;

/// The price table: `options.prices` when given, else the first `prices.csv` in the loaded
/// folder or up to three folders above it, else none (costs only where published).
fn price_table(path: &Path, options: &LoadOptions) -> Result<PriceTable, LoadError> {
    if let Some(prices) = &options.prices {
        return PriceTable::from_csv(prices);
    }
    let start = if path.is_dir() {
        Some(path)
    } else {
        path.parent()
    };
    let found = start
        .into_iter()
        .flat_map(Path::ancestors)
        .take(PRICES_SEARCH_DEPTH + 1)
        .map(|dir| dir.join(discover::PRICES_FILE))
        .find(|p| p.is_file());
    match found {
        Some(file) => PriceTable::from_csv(&file),
        None => Ok(PriceTable::empty()),
    }
}

fn wanted(only: &Option<Vec<String>>, dataset: &str) -> bool {
    only.as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k == dataset))
}

fn load_source(source: &SetSource) -> Result<Vec<SetBuilder>, LoadError> {
    use formats::*;
    Ok(match source {
        SetSource::RouteLlmWide {
            dataset,
            source,
            files,
            contamination,
        } => vec![routellm_wide::load(
            dataset,
            source,
            files,
            contamination.as_deref(),
        )?],
        SetSource::MtBench { dir } => vec![mt_bench::load(dir)?],
        SetSource::Arena { dir } => vec![arena::load(dir)?],
        SetSource::Alpaca { source, files } => vec![alpaca::load(source, files)?],
        SetSource::RouterBench { file } => vec![routerbench::load(file)?],
        SetSource::Generic { file } => generic::load(file)?,
    })
}

/// Load with options. Sets are loaded in parallel; the frame's row order is deterministic
/// (sets in discovery order, rows in file order).
pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let prices = price_table(path, options)?;
    let found = discover::discover(path)?;
    let sources: Vec<&SetSource> = found
        .sets
        .iter()
        .filter(|s| s.known_dataset().is_none_or(|d| wanted(&options.only, d)))
        .collect();
    let built: Vec<Vec<BuiltSet>> = sources
        .par_iter()
        .map(|source| {
            load_source(source)?
                .into_iter()
                .filter(|b| wanted(&options.only, b.dataset()))
                .map(|b| b.finish(&prices))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;

    let mut report = LoadReport {
        sets: Vec::new(),
        ignored: found.ignored,
    };
    let mut frames = Vec::new();
    for set in built.into_iter().flatten() {
        report.sets.push(set.report);
        frames.push(set.frame);
    }
    let frame = union(path, frames)?;
    Ok(Loaded { frame, report })
}

fn union(path: &Path, frames: Vec<DataFrame>) -> Result<DataFrame, LoadError> {
    let mut frames = frames.into_iter();
    let Some(mut frame) = frames.next() else {
        return Ok(outcomes::empty_frame());
    };
    for other in frames {
        frame
            .vstack_mut_owned(other)
            .map_err(|e| LoadError::Internal {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    }
    frame.rechunk_mut_par();
    Ok(frame)
}
