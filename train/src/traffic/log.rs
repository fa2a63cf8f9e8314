//! Reading the gateway's logs: `decisions-*.jsonl` (one decision record per line) and
//! `feedback-*.jsonl` (one feedback per line) from one directory, as `serve` writes them.
//! Only the fields the closed loop needs are read, so the records can grow without
//! breaking this reader. Lines that do not parse (a tail torn by a crash, a foreign file)
//! are skipped and counted, per file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Prefix of the decision log's files.
pub const DECISIONS_PREFIX: &str = "decisions-";
/// Prefix of the feedback log's files.
pub const FEEDBACK_PREFIX: &str = "feedback-";

/// One candidate as the logged policy saw it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LoggedCandidate {
    /// Catalog name.
    pub model: String,
    /// The logging router's predicted quality.
    pub predicted_quality: f64,
    /// Its estimated cost of this request.
    #[serde(default)]
    pub est_cost_usd: Option<f64>,
    /// Its estimated latency.
    #[serde(default)]
    pub est_latency_ms: Option<f64>,
    /// Its utility under the logged objective.
    #[serde(default)]
    pub utility: Option<f64>,
    /// Why it could not win, when it could not.
    #[serde(default)]
    pub excluded: Option<String>,
}

/// Token usage of the answer.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
pub struct LoggedUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
}

/// The `policy` block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LoggedPolicy {
    /// Router artifact hash.
    #[serde(default)]
    pub router_sha256: Option<String>,
    /// Gateway configuration hash.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// The exploration applied.
    #[serde(default)]
    pub explore: Option<models::ExploreConfig>,
}

/// The fields of a decision record the loop reads.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LoggedDecision {
    /// Decision id.
    pub id: String,
    /// `chat` or `route`.
    #[serde(default)]
    pub endpoint: String,
    /// `auto` or a model name.
    #[serde(default)]
    pub requested_model: String,
    /// The model that answered (chat) or was chosen (route).
    #[serde(default)]
    pub model: Option<String>,
    /// The router's first choice.
    #[serde(default)]
    pub routed_model: Option<String>,
    /// The router artifact's name.
    #[serde(default)]
    pub router: Option<String>,
    /// The prompt, when `audit.log_prompts` was on.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Estimated prompt tokens.
    #[serde(default)]
    pub est_prompt_tokens: Option<u64>,
    /// The candidates with their predictions.
    #[serde(default)]
    pub candidates: Vec<LoggedCandidate>,
    /// The probability with which `routed_model` was chosen.
    #[serde(default)]
    pub propensity: Option<f64>,
    /// Hashes of what decided.
    #[serde(default)]
    pub policy: Option<LoggedPolicy>,
    /// The objective, as in the record (a name or weights).
    #[serde(default)]
    pub objective: Option<serde_json::Value>,
    /// The caller's constraints, as in the record.
    #[serde(default)]
    pub constraints: Option<serde_json::Value>,
    /// Token usage of the answer.
    #[serde(default)]
    pub usage: Option<LoggedUsage>,
    /// Realised cost.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Arrival to last byte.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// How the request ended.
    #[serde(default)]
    pub outcome: Option<String>,
}

impl LoggedDecision {
    /// The logged candidate entry of `model`.
    pub fn candidate(&self, model: &str) -> Option<&LoggedCandidate> {
        self.candidates.iter().find(|c| c.model == model)
    }
}

/// One feedback line.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LoggedFeedback {
    /// The decision judged.
    pub decision_id: String,
    /// Who judged.
    pub source: String,
    /// Realised quality in [0, 1].
    pub score: f64,
    /// Readers keep the highest per (decision, source).
    pub revision: u32,
}

/// Lines of one kind that could not be used, per file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unreadable {
    /// File → lines that did not parse.
    pub by_file: BTreeMap<PathBuf, usize>,
}

impl Unreadable {
    /// Every unreadable line.
    pub fn total(&self) -> usize {
        self.by_file.values().sum()
    }
}

/// A log directory's decisions and current feedback.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Every decision, in file order (oldest file first).
    pub decisions: Vec<LoggedDecision>,
    /// Per decision id, the latest feedback per source.
    pub feedback: BTreeMap<String, Vec<LoggedFeedback>>,
    /// Decision lines that did not parse.
    pub unreadable_decisions: Unreadable,
    /// Feedback lines that did not parse.
    pub unreadable_feedback: Unreadable,
}

/// Why a log directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No decision file in the directory.
    #[error(
        "{0}: no decision log files (`{DECISIONS_PREFIX}*.jsonl`); point --decisions at the gateway's `audit.dir`"
    )]
    NoDecisions(PathBuf),
}

/// Reads a gateway log directory.
pub fn read_dir(dir: &Path) -> Result<Traffic, LogError> {
    let decision_files = files(dir, DECISIONS_PREFIX)?;
    if decision_files.is_empty() {
        return Err(LogError::NoDecisions(dir.to_path_buf()));
    }
    let mut traffic = Traffic::default();
    for file in &decision_files {
        read_lines(
            file,
            &mut traffic.unreadable_decisions,
            |d: LoggedDecision| {
                traffic.decisions.push(d);
            },
        )?;
    }
    let mut latest: BTreeMap<(String, String), LoggedFeedback> = BTreeMap::new();
    for file in files(dir, FEEDBACK_PREFIX)? {
        read_lines(
            &file,
            &mut traffic.unreadable_feedback,
            |f: LoggedFeedback| {
                let key = (f.decision_id.clone(), f.source.clone());
                match latest.get(&key) {
                    Some(old) if old.revision >= f.revision => {}
                    _ => {
                        latest.insert(key, f);
                    }
                }
            },
        )?;
    }
    for ((id, _), f) in latest {
        traffic.feedback.entry(id).or_default().push(f);
    }
    Ok(traffic)
}

/// The files `<prefix>*.jsonl` of `dir`, oldest first (names carry the start time).
fn files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, LogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LogError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".jsonl"))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    unreadable: &mut Unreadable,
    mut each: impl FnMut(T),
) -> Result<(), LogError> {
    let file = std::fs::File::open(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(&line) {
            Ok(v) => each(v),
            Err(_) => *unreadable.by_file.entry(path.to_path_buf()).or_default() += 1,
        }
    }
    Ok(())
}
