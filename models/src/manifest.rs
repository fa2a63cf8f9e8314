//! `manifest.json`: everything about a router artifact except the ONNX weights.
//!
//! `format_version` is checked first on load; an unknown version is rejected with a message
//! that says which versions this build reads. Parse errors name the file and the JSON path of
//! the field (`candidates[2].input_usd_per_mtok: invalid type: string "x", expected f64`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::featurizer::FeaturizerConfig;
use crate::taxonomy;

/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// File name of the manifest inside an artifact directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The artifact's description; see `docs/architecture.md` ("The artifact").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Human name of the router, e.g. `mmlu-pro-29`.
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Candidate LLMs, in the order of the `quality` output's columns.
    pub candidates: Vec<CandidateModel>,
    pub featurizer: FeaturizerConfig,
    /// Task names, in the order of the `task_probs` output's columns (normally [`taxonomy::TASKS`]).
    pub tasks: Vec<String>,
    pub task_mapping: TaskMapping,
    pub labels: LabelSemantics,
    /// Free-form training record (data, hyper-parameters, epochs, seed, …).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Free-form validation metrics.
    #[serde(default)]
    pub validation: serde_json::Value,
    #[serde(default)]
    pub onnx: OnnxIo,
}

/// One candidate LLM the router scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateModel {
    /// Model name as upstreams know it (and as the training data names it).
    pub name: String,
    /// List price in USD per million input tokens; `None` when unknown.
    pub input_usd_per_mtok: Option<f64>,
    /// List price in USD per million output tokens; `None` when unknown.
    pub output_usd_per_mtok: Option<f64>,
    /// Mean output length in tokens seen in training data, for cost estimates before the answer exists.
    pub expected_output_tokens: f64,
}

impl CandidateModel {
    /// The list price, known only when both the input and the output price are.
    pub fn price(&self) -> Option<crate::catalog::ModelPrice> {
        Some(crate::catalog::ModelPrice {
            input_usd_per_mtok: self.input_usd_per_mtok?,
            output_usd_per_mtok: self.output_usd_per_mtok?,
        })
    }

    /// Price and expected answer length; the manifest does not know context windows.
    pub fn terms(&self) -> crate::catalog::ModelTerms {
        crate::catalog::ModelTerms {
            price: self.price(),
            context_length: None,
            expected_output_tokens: self.expected_output_tokens,
        }
    }
}

/// How dataset categories were mapped to `tasks` when the artifact was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMapping {
    /// Taxonomy version, e.g. [`taxonomy::TAXONOMY_VERSION`].
    pub taxonomy: String,
    /// `"<dataset>/<category>"` → task, for the categories seen in training (informational).
    #[serde(default)]
    pub categories: BTreeMap<String, String>,
}

impl Default for TaskMapping {
    fn default() -> Self {
        TaskMapping {
            taxonomy: taxonomy::TAXONOMY_VERSION.to_string(),
            categories: BTreeMap::new(),
        }
    }
}

impl TaskMapping {
    /// Records the task of `dataset`/`category` as [`taxonomy::task_for`] maps it; returns the task.
    pub fn record(&mut self, dataset: &str, category: Option<&str>) -> &'static str {
        let task = taxonomy::task_for(dataset, category);
        let key = format!("{dataset}/{}", category.unwrap_or(""));
        self.categories.insert(key, task.to_string());
        task
    }
}

/// What the `quality` output means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelSemantics {
    /// Short name of the target, e.g. `normalised_score`.
    pub target: String,
    /// Range of the target.
    pub min: f64,
    pub max: f64,
    /// How each source's outcomes were normalised to the target.
    pub description: String,
    /// Datasets the labels come from.
    #[serde(default)]
    pub datasets: Vec<String>,
}

impl Default for LabelSemantics {
    fn default() -> Self {
        LabelSemantics {
            target: "normalised_score".into(),
            min: 0.0,
            max: 1.0,
            description:
                "expected normalised score of the candidate's answer: correct=1/incorrect=0; \
                judge 1-10 -> (s-1)/9; AlpacaEval preference p in [1,2] -> p-1"
                    .into(),
            datasets: Vec::new(),
        }
    }
}

/// Names of the ONNX graph's inputs and outputs (checked when the scorer loads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnnxIo {
    /// int64 `[batch, width]`.
    pub ids: String,
    /// float32 `[batch, width]`.
    pub weights: String,
    /// float32 `[batch, dense_dim]`.
    pub dense: String,
    /// float32 `[batch, n_candidates]`, sigmoid.
    pub quality: String,
    /// float32 `[batch, n_tasks]`, softmax.
    pub task_probs: String,
    /// ONNX opset the graph was exported with (informational).
    pub opset: i64,
}

impl Default for OnnxIo {
    fn default() -> Self {
        OnnxIo {
            ids: "ids".into(),
            weights: "weights".into(),
            dense: "dense".into(),
            quality: "quality".into(),
            task_probs: "task_probs".into(),
            opset: 17,
        }
    }
}

/// Why a manifest could not be read, written or accepted. Messages name the file and field.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON at `{field}`: {message}")]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error(
        "{path}: unsupported format_version {found} (this build reads format_version {FORMAT_VERSION}); \
         re-export the router with a matching `train`"
    )]
    UnsupportedVersion { path: PathBuf, found: String },
    #[error("{path}: invalid `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

impl Manifest {
    /// A manifest with the current format version, `created_at` = now, the default
    /// featurizer, [`taxonomy::TASKS`], default label semantics and ONNX names.
    pub fn new(name: impl Into<String>, candidates: Vec<CandidateModel>) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            name: name.into(),
            created_at: chrono::Utc::now(),
            candidates,
            featurizer: FeaturizerConfig::default(),
            tasks: taxonomy::TASKS.iter().map(|t| t.to_string()).collect(),
            task_mapping: TaskMapping::default(),
            labels: LabelSemantics::default(),
            training: serde_json::Value::Null,
            validation: serde_json::Value::Null,
            onnx: OnnxIo::default(),
        }
    }

    /// Reads and checks `<dir>/manifest.json`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        Manifest::load_file(dir.as_ref().join(MANIFEST_FILE))
    }

    /// Reads and checks a manifest file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::from_json_str(&text, path)
    }

    /// Parses and checks manifest JSON; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        // Check the version before the rest so that a future format fails with the
        // version message, not with a confusing missing-field error.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ManifestError::Parse {
                path: path.to_path_buf(),
                field: "(document)".into(),
                message: e.to_string(),
            })?;
        match value.get("format_version") {
            None => {
                return Err(ManifestError::Invalid {
                    path: path.to_path_buf(),
                    field: "format_version".into(),
                    message: "missing".into(),
                });
            }
            Some(v) if v.as_u64() != Some(u64::from(FORMAT_VERSION)) => {
                return Err(ManifestError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found: v.to_string(),
                });
            }
            Some(_) => {}
        }
        let manifest: Manifest =
            serde_path_to_error::deserialize(value).map_err(|e| ManifestError::Parse {
                path: path.to_path_buf(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks the values that serde cannot: non-empty and unique candidates and tasks,
    /// finite non-negative prices, a sane featurizer.
    pub fn validate(&self, path: &Path) -> Result<(), ManifestError> {
        let invalid = |field: String, message: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        if self.candidates.is_empty() {
            return Err(invalid("candidates".into(), "no candidate models".into()));
        }
        for (i, c) in self.candidates.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(invalid(format!("candidates[{i}].name"), "empty".into()));
            }
            if self.candidates[..i].iter().any(|o| o.name == c.name) {
                return Err(invalid(
                    format!("candidates[{i}].name"),
                    format!("duplicate candidate {:?}", c.name),
                ));
            }
            for (field, price) in [
                ("input_usd_per_mtok", c.input_usd_per_mtok),
                ("output_usd_per_mtok", c.output_usd_per_mtok),
            ] {
                if let Some(p) = price
                    && !(p.is_finite() && p >= 0.0)
                {
                    return Err(invalid(
                        format!("candidates[{i}].{field}"),
                        format!("must be a finite non-negative price, got {p}"),
                    ));
                }
            }
            if !(c.expected_output_tokens.is_finite() && c.expected_output_tokens >= 0.0) {
                return Err(invalid(
                    format!("candidates[{i}].expected_output_tokens"),
                    format!("must be finite and >= 0, got {}", c.expected_output_tokens),
                ));
            }
        }
        if self.tasks.is_empty() {
            return Err(invalid("tasks".into(), "no tasks".into()));
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if self.tasks[..i].contains(t) {
                return Err(invalid(
                    format!("tasks[{i}]"),
                    format!("duplicate task {t:?}"),
                ));
            }
        }
        self.featurizer
            .validate()
            .map_err(|message| invalid("featurizer".into(), message))?;
        Ok(())
    }

    /// Writes `<dir>/manifest.json` (pretty JSON), creating `dir` if needed; returns the file path.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<PathBuf, ManifestError> {
        let dir = dir.as_ref();
        let path = dir.join(MANIFEST_FILE);
        let write_err = |source| ManifestError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut text = serde_json::to_string_pretty(self).map_err(|e| ManifestError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        std::fs::write(&path, text).map_err(write_err)?;
        Ok(path)
    }

    /// Index of the candidate named `name`.
    pub fn candidate_index(&self, name: &str) -> Option<usize> {
        self.candidates.iter().position(|c| c.name == name)
    }

    /// Candidate names in output order.
    pub fn candidate_names(&self) -> Vec<&str> {
        self.candidates.iter().map(|c| c.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new(
            "test-router",
            vec![
                CandidateModel {
                    name: "gpt-4-1106-preview".into(),
                    input_usd_per_mtok: Some(10.0),
                    output_usd_per_mtok: Some(30.0),
                    expected_output_tokens: 350.0,
                },
                CandidateModel {
                    name: "mixtral-8x7b".into(),
                    input_usd_per_mtok: Some(0.6),
                    output_usd_per_mtok: Some(0.6),
                    expected_output_tokens: 300.0,
                },
            ],
        );
        m.task_mapping.record("mmlu", Some("abstract_algebra"));
        m.training = serde_json::json!({"epochs": 3});
        m
    }

    #[test]
    fn write_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        let path = m.write(dir.path()).unwrap();
        assert_eq!(path, dir.path().join(MANIFEST_FILE));
        let back = Manifest::load(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.task_mapping.categories["mmlu/abstract_algebra"],
            "math"
        );
        assert_eq!(back.candidate_index("mixtral-8x7b"), Some(1));
    }

    fn parse(value: serde_json::Value) -> Result<Manifest, ManifestError> {
        Manifest::from_json_str(&value.to_string(), Path::new("/x/manifest.json"))
    }

    #[test]
    fn unknown_version_is_a_clear_error() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["format_version"] = 99.into();
        let err = parse(v).unwrap_err().to_string();
        assert!(err.contains("/x/manifest.json"), "{err}");
        assert!(err.contains("unsupported format_version 99"), "{err}");
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("format_version");
        let err = parse(v).unwrap_err().to_string();
        assert!(err.contains("format_version"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["candidates"][1]["input_usd_per_mtok"] = "cheap".into();
        let err = parse(v).unwrap_err().to_string();
        assert!(err.contains("candidates[1].input_usd_per_mtok"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["candidates"][1]["name"] = "gpt-4-1106-preview".into();
        let err = parse(v).unwrap_err().to_string();
        assert!(
            err.contains("candidates[1].name") && err.contains("duplicate"),
            "{err}"
        );

        let mut v = serde_json::to_value(sample()).unwrap();
        v["candidates"] = serde_json::json!([]);
        assert!(parse(v).unwrap_err().to_string().contains("`candidates`"));

        let mut v = serde_json::to_value(sample()).unwrap();
        v["featurizer"]["buckets"] = 1.into();
        let err = parse(v).unwrap_err().to_string();
        assert!(err.contains("featurizer.buckets"), "{err}");

        let err = Manifest::from_json_str("{not json", Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("m.json") && err.contains("invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
    }
}
