//! Finding supported sets under a path, by layout.
//!
//! Under a folder (walked recursively, in name order):
//! - `…/mmlu_<subject>.csv` files, grouped by folder → one `mmlu` set (contamination list:
//!   `contaminated_prompts.jsonl` in that folder or its parent);
//! - `gsm8k_responses.csv` → `gsm8k` (contamination list next to it);
//! - a folder with `question.jsonl` + `judgements.jsonl` → `mt_bench`;
//! - a folder with `question.jsonl` + `model_judgment/` → `arena_bench`;
//! - `<results>/<model>/<annotator>/annotations.json` files, grouped by `<results>` →
//!   `alpaca_eval`;
//! - any other `.csv`/`.parquet`/`.jsonl`/`.ndjson` whose columns are RouterBench's
//!   (`prompt`, `eval_name`, `sample_id`) → `mmlu_pro`/`routerbench`, or the generic long
//!   format's (`prompt`, `model`, `score`) → generic. Other data files are listed as
//!   ignored; `prices.csv` and `contaminated_prompts.jsonl` are inputs, not sets.
//!
//! A single named file is classified the same way, and an unrecognised one is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::formats::{alpaca, arena, generic, mt_bench, routerbench};
use crate::table;

pub(crate) const PRICES_FILE: &str = "prices.csv";
const CONTAMINATED: &str = "contaminated_prompts.jsonl";
const GSM8K_FILE: &str = "gsm8k_responses.csv";

/// A set found on disk, not loaded yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetSource {
    RouteLlmWide {
        dataset: &'static str,
        source: PathBuf,
        files: Vec<PathBuf>,
        contamination: Option<PathBuf>,
    },
    MtBench {
        dir: PathBuf,
    },
    Arena {
        dir: PathBuf,
    },
    Alpaca {
        source: PathBuf,
        files: Vec<PathBuf>,
    },
    RouterBench {
        file: PathBuf,
    },
    Generic {
        file: PathBuf,
    },
}

impl SetSource {
    /// The dataset key when it is known before loading (RouterBench and generic files
    /// decide theirs from the content).
    pub fn known_dataset(&self) -> Option<&str> {
        match self {
            SetSource::RouteLlmWide { dataset, .. } => Some(dataset),
            SetSource::MtBench { .. } => Some("mt_bench"),
            SetSource::Arena { .. } => Some("arena_bench"),
            SetSource::Alpaca { .. } => Some("alpaca_eval"),
            SetSource::RouterBench { .. } | SetSource::Generic { .. } => None,
        }
    }
}

/// What discovery found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub sets: Vec<SetSource>,
    pub ignored: Vec<PathBuf>,
}

pub(crate) fn discover(path: &Path) -> Result<Found, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if meta.is_dir() {
        discover_dir(path)
    } else {
        let set = classify_file(path)?.ok_or_else(|| LoadError::Unrecognised {
            path: path.to_path_buf(),
            why: "not a known layout (RouteLLM mmlu_<subject>.csv / gsm8k_responses.csv, \
                  MT-Bench or arena question.jsonl, AlpacaEval annotations.json) and its \
                  columns are neither RouterBench's (prompt, eval_name, sample_id) nor the \
                  generic format's (prompt, model, score)"
                .to_string(),
        })?;
        Ok(Found {
            sets: vec![set],
            ignored: Vec::new(),
        })
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    dirs.push(dir.to_path_buf());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, files, dirs)?;
        } else if entry.is_file() {
            files.push(entry);
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// `mmlu_<subject>.csv` in RouteLLM's layout (a RouterBench-format CSV that happens to be
/// named `mmlu_…`, like `mmlu_pro_routerbench.csv`, is not one).
fn is_mmlu_file(path: &Path) -> bool {
    let name = file_name(path);
    name.starts_with("mmlu_")
        && has_ext(path, &["csv"])
        && !table::csv_header(path).is_ok_and(|columns| routerbench::recognises(&columns))
}

fn contamination_near(dir: &Path) -> Option<PathBuf> {
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join(CONTAMINATED))
        .find(|p| p.is_file())
}

fn mmlu_source(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(parent) if file_name(dir) == "responses" => parent.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

fn is_mt_bench_dir(dir: &Path) -> bool {
    dir.join(mt_bench::QUESTIONS).is_file() && dir.join(mt_bench::JUDGEMENTS).is_file()
}

fn is_arena_dir(dir: &Path) -> bool {
    dir.join(arena::QUESTIONS).is_file() && dir.join(arena::JUDGMENTS_DIR).is_dir()
}

/// `<results>/<model>/<annotator>/annotations.json` → `<results>`.
fn alpaca_root(file: &Path) -> PathBuf {
    file.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.to_path_buf())
}

fn discover_dir(root: &Path) -> Result<Found, LoadError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    walk(root, &mut files, &mut dirs)?;
    let mut claimed: Vec<PathBuf> = Vec::new();
    let mut found = Found::default();

    // RouteLLM MMLU: one set per folder of subject files.
    let mut mmlu: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files.iter().filter(|f| is_mmlu_file(f)) {
        if let Some(dir) = f.parent() {
            mmlu.entry(dir.to_path_buf()).or_default().push(f.clone());
        }
    }
    for (dir, group) in mmlu {
        let contamination = contamination_near(&dir);
        claimed.extend(group.iter().cloned());
        claimed.extend(contamination.iter().cloned());
        found.sets.push(SetSource::RouteLlmWide {
            dataset: "mmlu",
            source: mmlu_source(&dir),
            files: group,
            contamination,
        });
    }
    for f in files.iter().filter(|f| file_name(f) == GSM8K_FILE) {
        let dir = f.parent().unwrap_or(root);
        let contamination = contamination_near(dir).filter(|c| c.parent() == Some(dir));
        claimed.push(f.clone());
        claimed.extend(contamination.iter().cloned());
        found.sets.push(SetSource::RouteLlmWide {
            dataset: "gsm8k",
            source: f.clone(),
            files: vec![f.clone()],
            contamination,
        });
    }
    for dir in dirs.iter().filter(|d| is_mt_bench_dir(d)) {
        claimed.push(dir.join(mt_bench::QUESTIONS));
        claimed.push(dir.join(mt_bench::JUDGEMENTS));
        claimed.push(dir.join(CONTAMINATED));
        found.sets.push(SetSource::MtBench { dir: dir.clone() });
    }
    for dir in dirs
        .iter()
        .filter(|d| is_arena_dir(d) && !is_mt_bench_dir(d))
    {
        claimed.extend(files.iter().filter(|f| f.starts_with(dir)).cloned());
        found.sets.push(SetSource::Arena { dir: dir.clone() });
    }
    let mut alpaca_sets: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files.iter().filter(|f| file_name(f) == alpaca::ANNOTATIONS) {
        alpaca_sets
            .entry(alpaca_root(f))
            .or_default()
            .push(f.clone());
    }
    for (source, group) in alpaca_sets {
        claimed.extend(group.iter().cloned());
        found.sets.push(SetSource::Alpaca {
            source,
            files: group,
        });
    }

    let claimed: std::collections::HashSet<PathBuf> = claimed.into_iter().collect();
    for f in &files {
        if claimed.contains(f)
            || !has_ext(f, &["csv", "parquet", "jsonl", "ndjson"])
            || file_name(f) == PRICES_FILE
            || file_name(f) == CONTAMINATED
        {
            continue;
        }
        match sniff(f) {
            Some(set) => found.sets.push(set),
            None => found.ignored.push(f.clone()),
        }
    }
    if found.sets.is_empty() {
        return Err(LoadError::NothingFound {
            path: root.to_path_buf(),
        });
    }
    Ok(found)
}

/// RouterBench or generic, by columns; `None` when neither (or unreadable: a file we do
/// not recognise is listed, not fatal, when a folder is loaded).
fn sniff(file: &Path) -> Option<SetSource> {
    let columns = columns_of(file).ok()?;
    if routerbench::recognises(&columns) {
        Some(SetSource::RouterBench {
            file: file.to_path_buf(),
        })
    } else if generic::recognises(&columns) {
        Some(SetSource::Generic {
            file: file.to_path_buf(),
        })
    } else {
        None
    }
}

fn columns_of(file: &Path) -> Result<Vec<String>, LoadError> {
    if routerbench::is_parquet(file) {
        table::parquet_columns(file)
    } else if generic::is_jsonl(file) {
        use std::io::{BufRead, BufReader};
        let reader = BufReader::new(std::fs::File::open(file).map_err(|e| LoadError::io(file, e))?);
        for line in reader.lines() {
            let line = line.map_err(|e| LoadError::io(file, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: serde_json::Map<String, serde_json::Value> =
                crate::json::parse(file, crate::error::Location::Line(1), &line)?;
            return Ok(record.keys().cloned().collect());
        }
        Ok(Vec::new())
    } else {
        table::csv_header(file)
    }
}

/// Classify one named file.
fn classify_file(file: &Path) -> Result<Option<SetSource>, LoadError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let name = file_name(file);
    if is_mmlu_file(file) {
        return Ok(Some(SetSource::RouteLlmWide {
            dataset: "mmlu",
            source: file.to_path_buf(),
            files: vec![file.to_path_buf()],
            contamination: contamination_near(dir),
        }));
    }
    if name == GSM8K_FILE {
        return Ok(Some(SetSource::RouteLlmWide {
            dataset: "gsm8k",
            source: file.to_path_buf(),
            files: vec![file.to_path_buf()],
            contamination: Some(dir.join(CONTAMINATED)).filter(|c| c.is_file()),
        }));
    }
    if name == alpaca::ANNOTATIONS {
        return Ok(Some(SetSource::Alpaca {
            source: file.to_path_buf(),
            files: vec![file.to_path_buf()],
        }));
    }
    if name == mt_bench::QUESTIONS || name == mt_bench::JUDGEMENTS {
        if is_mt_bench_dir(dir) {
            return Ok(Some(SetSource::MtBench {
                dir: dir.to_path_buf(),
            }));
        }
        if is_arena_dir(dir) {
            return Ok(Some(SetSource::Arena {
                dir: dir.to_path_buf(),
            }));
        }
    }
    let columns = columns_of(file)?;
    if routerbench::recognises(&columns) {
        Ok(Some(SetSource::RouterBench {
            file: file.to_path_buf(),
        }))
    } else if generic::recognises(&columns) {
        Ok(Some(SetSource::Generic {
            file: file.to_path_buf(),
        }))
    } else {
        Ok(None)
    }
}
