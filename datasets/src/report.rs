//! What a load did: per set, how many outcomes, prompts and models it produced and what
//! it skipped, with the reason. Nothing is dropped without being counted here.

use std::path::PathBuf;

/// Rows of one reason that a set did not turn into outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub reason: String,
    pub count: usize,
}

/// One loaded set (a dataset key from one source file or folder).
#[derive(Debug, Clone, PartialEq)]
pub struct SetReport {
    /// Dataset key, as in the `dataset` column.
    pub dataset: String,
    /// The file or folder it was read from.
    pub source: PathBuf,
    /// Outcome rows produced.
    pub rows: usize,
    /// Distinct prompt ids.
    pub prompts: usize,
    /// Distinct models.
    pub models: usize,
    /// Outcome rows (prompt × model, or answers for arena) that were not loaded, by reason.
    pub skipped: Vec<Skipped>,
    /// Models loaded under their canonical name ([`crate::aliases::MODEL_ALIASES`]).
    pub renamed: Vec<Renamed>,
}

/// Outcome rows of a model published under an alias and loaded under its canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The name as published in the file.
    pub from: String,
    /// The canonical name in the `model` column.
    pub to: String,
    /// Outcome rows renamed (after duplicates were dropped).
    pub rows: usize,
}

impl SetReport {
    /// Total of skipped rows across reasons.
    pub fn skipped_total(&self) -> usize {
        self.skipped.iter().map(|s| s.count).sum()
    }

    /// Count for one reason (0 when absent).
    pub fn skipped_for(&self, reason: &str) -> usize {
        self.skipped
            .iter()
            .filter(|s| s.reason == reason)
            .map(|s| s.count)
            .sum()
    }
}

/// Everything a load produced, in a deterministic order (discovery order of the sets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub sets: Vec<SetReport>,
    /// Files under the loaded folder that no loader recognised (left alone, listed so that
    /// a misnamed file is noticed).
    pub ignored: Vec<PathBuf>,
}

impl LoadReport {
    /// Reports of one dataset key.
    pub fn for_dataset(&self, dataset: &str) -> Vec<&SetReport> {
        self.sets.iter().filter(|s| s.dataset == dataset).collect()
    }

    pub fn total_rows(&self) -> usize {
        self.sets.iter().map(|s| s.rows).sum()
    }
}

/// Skip reasons used by the loaders (constants so tests and callers can look them up).
pub mod reasons {
    pub const CONTAMINATED: &str = "contaminated prompt (listed in contaminated_prompts.jsonl)";
    pub const MISSING_OUTCOME: &str = "missing outcome (empty cell)";
    pub const JUDGE_FAILED: &str = "judge failed (score -1)";
    pub const MISSING_SCORE: &str = "missing score";
    pub const NULL_PREFERENCE: &str = "null preference";
    pub const UNKNOWN_QUESTION: &str = "judgement for a question not in question.jsonl";
    pub const ANSWER_WITHOUT_JUDGEMENT: &str = "answer without a judgement (no outcome)";
    pub const DUPLICATE: &str = "duplicate (prompt, model) outcome; first kept";
    pub const EMPTY_PROMPT: &str = "empty prompt";
}
