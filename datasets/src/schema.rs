//! Column names and dtypes of the canonical outcome table (one row per prompt × model).
//! Other crates refer to columns through these constants, never through string literals.

use polars::prelude::DataType;

pub const DATASET: &str = "dataset";
pub const PROMPT_ID: &str = "prompt_id";
pub const PROMPT: &str = "prompt";
pub const CATEGORY: &str = "category";
pub const MODEL: &str = "model";
pub const SCORE: &str = "score";
pub const RAW_SCORE: &str = "raw_score";
pub const INPUT_TOKENS: &str = "input_tokens";
pub const OUTPUT_TOKENS: &str = "output_tokens";
pub const COST_USD: &str = "cost_usd";

/// The added column of [`crate::split::with_split_column`].
pub const SPLIT: &str = "split";

/// The canonical columns in table order.
pub const COLUMNS: [&str; 10] = [
    DATASET,
    PROMPT_ID,
    PROMPT,
    CATEGORY,
    MODEL,
    SCORE,
    RAW_SCORE,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    COST_USD,
];

/// Dtype of each canonical column (`category` and `cost_usd` may hold nulls).
pub fn dtype(column: &str) -> Option<DataType> {
    match column {
        DATASET | PROMPT_ID | PROMPT | CATEGORY | MODEL => Some(DataType::String),
        SCORE | RAW_SCORE | COST_USD => Some(DataType::Float64),
        INPUT_TOKENS | OUTPUT_TOKENS => Some(DataType::UInt32),
        _ => None,
    }
}

/// Columns that may contain nulls.
pub const NULLABLE: [&str; 2] = [CATEGORY, COST_USD];
