//! The loaded router: a scorer plus what the manifest says about its outputs (candidate
//! order, prices, expected output lengths, task names). Held in an `ArcSwap` by the app
//! state so that a reload swaps it atomically: requests in flight finish with the router
//! they started with, new ones get the new one, none fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use models::{CandidateModel, Manifest, Prediction, Scorer};

/// A scorer with its manifest facts.
pub struct LoadedRouter {
    /// Manifest name.
    pub name: String,
    /// Where it was loaded from (`None` for routers built in code, e.g. test doubles).
    pub dir: Option<PathBuf>,
    /// Candidates in output order.
    pub candidates: Vec<CandidateModel>,
    /// Task names in output order.
    pub tasks: Vec<String>,
    /// When this router was loaded.
    pub loaded_at: DateTime<Utc>,
    /// SHA-256 of the artifact's files ([`crate::fingerprint::artifact_sha256`]); `None`
    /// for routers built in code.
    pub content_sha256: Option<String>,
    scorer: Box<dyn Scorer>,
}

impl std::fmt::Debug for LoadedRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRouter")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("candidates", &self.candidates.len())
            .finish_non_exhaustive()
    }
}

/// Why a router could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RouterLoadError {
    /// The artifact is missing or invalid, ONNX Runtime could not load the graph, or the graph does not match the manifest.
    #[error("router artifact {dir}: {source}")]
    Scorer {
        /// The directory.
        dir: PathBuf,
        /// The scorer's error.
        source: models::ScorerError,
    },
    /// The graph and the manifest disagree in a way ONNX Runtime does not check at load
    /// time (e.g. `featurizer.buckets` against the rows of the embedding table).
    #[error("router artifact {dir}: {message}")]
    Mismatch {
        /// The directory.
        dir: PathBuf,
        /// What disagrees.
        message: String,
    },
    /// The router loaded but failed its self-test (a scoring pass over fixed prompts).
    #[error("the router failed its self-test: {0}")]
    SelfTest(String),
    /// The loader in use cannot load (test doubles with a scripted failure).
    #[error("{0}")]
    Other(String),
}

/// Builds the self-test's prompts: plain, empty, code, long and non-Latin text, so that
/// between them their hashed n-grams land all over the id space, high buckets included
/// (an embedding table shorter than `featurizer.buckets` fails only on those).
fn probe_prompts() -> Vec<String> {
    let mut prompts = vec![
        String::new(),
        "What is 2+2?".to_string(),
        "Write a Python function that merges two sorted lists.\n```python\ndef merge(a, b):\n```"
            .to_string(),
        "日本語で短い詩を書いてください。Пожалуйста, переведите: «ζῷον λόγον ἔχον» — 🦀🚀✨ عربى हिन्दी"
            .to_string(),
    ];
    let long: String = (0..2_000)
        .map(|i| format!("token{i} Wörter{} ", i % 97))
        .collect();
    prompts.push(long);
    prompts.push("\u{10FFFF}\u{1F600}\u{0301}a\u{200D}".repeat(500));
    prompts
}

/// The prompt `/readyz` scores on every call: short, so the check costs what one routing
/// decision costs.
pub const READINESS_PROMPT: &str = "Is the router able to score this prompt? 1+1=2 ✓";

impl LoadedRouter {
    /// A router from a manifest and any scorer (the ONNX one, or a test double).
    pub fn new(manifest: &Manifest, scorer: Box<dyn Scorer>, dir: Option<PathBuf>) -> LoadedRouter {
        LoadedRouter {
            name: manifest.name.clone(),
            dir,
            candidates: manifest.candidates.clone(),
            tasks: manifest.tasks.clone(),
            loaded_at: Utc::now(),
            content_sha256: None,
            scorer,
        }
    }

    /// Loads `router.onnx` + `manifest.json` from a directory with ONNX Runtime, and
    /// checks what the scorer's own load does not: that the embedding table has exactly
    /// `featurizer.buckets` rows, and that the highest id the featurizer can produce
    /// scores (a manifest with more buckets than the table loads fine, then fails every
    /// prompt with a high n-gram: `Gather … indices out of bounds`).
    pub fn load_dir(dir: &Path) -> Result<LoadedRouter, RouterLoadError> {
        let scorer = models::OnnxScorer::load(dir).map_err(|source| RouterLoadError::Scorer {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mismatch = |message: String| RouterLoadError::Mismatch {
            dir: dir.to_path_buf(),
            message,
        };
        check_embedding_rows(&scorer).map_err(mismatch)?;
        probe_highest_bucket(&scorer).map_err(mismatch)?;
        let content_sha256 = crate::fingerprint::artifact_sha256(dir).map_err(|e| {
            mismatch(format!(
                "cannot read the artifact's files to hash them ({}): {e}",
                crate::fingerprint::ARTIFACT_FILES.join(", ")
            ))
        })?;
        let manifest = scorer.manifest().clone();
        let mut router = LoadedRouter::new(&manifest, Box::new(scorer), Some(dir.to_path_buf()));
        router.content_sha256 = Some(content_sha256);
        Ok(router)
    }

    /// Candidate names in output order.
    pub fn candidate_names(&self) -> Vec<String> {
        self.candidates.iter().map(|c| c.name.clone()).collect()
    }

    /// Scores one prompt and checks the output widths against the manifest.
    pub fn score(&self, prompt: &str) -> Result<Prediction, String> {
        let p = self.scorer.score(prompt).map_err(|e| e.to_string())?;
        if p.quality.len() != self.candidates.len() {
            return Err(format!(
                "the scorer returned {} quality scores for {} candidates",
                p.quality.len(),
                self.candidates.len()
            ));
        }
        Ok(p)
    }

    /// Scores a few fixed prompts (empty, long, non-Latin: see [`probe_prompts`]) and
    /// checks every output's width and that every number is finite: what a router must
    /// pass before it replaces the one in service, whatever scorer it wraps.
    pub fn self_test(&self) -> Result<(), String> {
        for prompt in probe_prompts() {
            self.check_prediction(&prompt).map_err(|e| {
                let shown: String = prompt.chars().take(40).collect();
                format!("probe prompt {shown:?} ({} bytes): {e}", prompt.len())
            })?;
        }
        Ok(())
    }

    /// One scoring pass of [`READINESS_PROMPT`] with the checks of [`Self::self_test`]:
    /// whether this router can serve `auto` right now.
    pub fn check_readiness(&self) -> Result<(), String> {
        self.check_prediction(READINESS_PROMPT)
    }

    fn check_prediction(&self, prompt: &str) -> Result<(), String> {
        let p = self.score(prompt)?;
        if p.task_probs.len() != self.tasks.len() {
            return Err(format!(
                "the scorer returned {} task probabilities for {} tasks",
                p.task_probs.len(),
                self.tasks.len()
            ));
        }
        if let Some(bad) = p
            .quality
            .iter()
            .chain(&p.task_probs)
            .find(|v| !v.is_finite())
        {
            return Err(format!("the scorer returned a non-finite value ({bad})"));
        }
        Ok(())
    }
}

/// Reads the graph's initializers and checks the embedding table (the initializer that a
/// `Gather` node indexes with the `ids` input) against `featurizer.buckets`. A graph of
/// another shape (no such `Gather`) is left to [`probe_highest_bucket`].
fn check_embedding_rows(scorer: &models::OnnxScorer) -> Result<(), String> {
    use prost::Message as _;
    let artifact = scorer.artifact();
    let bytes = std::fs::read(&artifact.onnx_path)
        .map_err(|e| format!("cannot read {}: {e}", artifact.onnx_path.display()))?;
    let model = models::onnx_proto::ModelProto::decode(&bytes[..])
        .map_err(|e| format!("{} is not an ONNX model: {e}", artifact.onnx_path.display()))?;
    let Some(graph) = model.graph else {
        return Err(format!("{} has no graph", artifact.onnx_path.display()));
    };
    let ids = &artifact.manifest.onnx.ids;
    let buckets = i64::from(artifact.manifest.featurizer.buckets());
    let tables = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Gather" && n.input.get(1) == Some(ids))
        .filter_map(|n| n.input.first())
        .filter_map(|name| graph.initializer.iter().find(|t| &t.name == name));
    for table in tables {
        if table.dims.first() != Some(&buckets) {
            return Err(format!(
                "manifest.json says featurizer.buckets = {buckets}, but the embedding table `{}` of router.onnx has shape {:?} ({} rows): the manifest does not belong to this graph",
                table.name,
                table.dims,
                table.dims.first().copied().unwrap_or(0)
            ));
        }
    }
    Ok(())
}

/// Scores one row holding the lowest and the highest id the featurizer can produce
/// (`1` and `buckets - 1`): an out-of-range id fails here, at load time, rather than on
/// the first prompt that hashes into it.
fn probe_highest_bucket(scorer: &models::OnnxScorer) -> Result<(), String> {
    let featurizer = scorer.featurizer();
    let top = i64::from(featurizer.config().buckets())
        .saturating_sub(1)
        .max(1);
    let dense_dim = featurizer.dense_dim();
    let batch = models::FeatureBatch {
        batch: 1,
        width: 2,
        ids: vec![1, top],
        weights: vec![0.5, 0.5],
        dense: vec![0.0; dense_dim],
        dense_dim,
    };
    scorer.score_features(&batch).map(|_| ()).map_err(|e| {
        format!("scoring the highest feature id ({top}, from featurizer.buckets) failed: {e}")
    })
}

/// Produces a fresh router: from the configured directory in production, scripted in
/// tests. Called at startup, on SIGHUP and on `POST /admin/reload`.
pub type RouterLoader = Arc<dyn Fn() -> Result<LoadedRouter, RouterLoadError> + Send + Sync>;

/// The production loader: `LoadedRouter::load_dir(dir)`.
pub fn dir_loader(dir: PathBuf) -> RouterLoader {
    Arc::new(move || LoadedRouter::load_dir(&dir))
}
