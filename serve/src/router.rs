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
    /// The loader in use cannot load (test doubles with a scripted failure).
    #[error("{0}")]
    Other(String),
}

impl LoadedRouter {
    /// A router from a manifest and any scorer (the ONNX one, or a test double).
    pub fn new(manifest: &Manifest, scorer: Box<dyn Scorer>, dir: Option<PathBuf>) -> LoadedRouter {
        LoadedRouter {
            name: manifest.name.clone(),
            dir,
            candidates: manifest.candidates.clone(),
            tasks: manifest.tasks.clone(),
            loaded_at: Utc::now(),
            scorer,
        }
    }

    /// Loads `router.onnx` + `manifest.json` from a directory with ONNX Runtime.
    pub fn load_dir(dir: &Path) -> Result<LoadedRouter, RouterLoadError> {
        let scorer = models::OnnxScorer::load(dir).map_err(|source| RouterLoadError::Scorer {
            dir: dir.to_path_buf(),
            source,
        })?;
        let manifest = scorer.manifest().clone();
        Ok(LoadedRouter::new(
            &manifest,
            Box::new(scorer),
            Some(dir.to_path_buf()),
        ))
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
}

/// Produces a fresh router: from the configured directory in production, scripted in
/// tests. Called at startup, on SIGHUP and on `POST /admin/reload`.
pub type RouterLoader = Arc<dyn Fn() -> Result<LoadedRouter, RouterLoadError> + Send + Sync>;

/// The production loader: `LoadedRouter::load_dir(dir)`.
pub fn dir_loader(dir: PathBuf) -> RouterLoader {
    Arc::new(move || LoadedRouter::load_dir(&dir))
}
