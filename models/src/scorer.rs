//! Prompt → predicted quality per candidate and task probabilities.
//!
//! [`OnnxScorer`] runs the artifact's `router.onnx` with ONNX Runtime. ort's `Session::run`
//! takes `&mut self` (ONNX Runtime allocators are not thread-safe), so the scorer keeps a
//! small pool of sessions: a call takes an idle session or builds one, runs, and returns it.
//! The pool grows to the peak number of concurrent callers and keeps at most
//! `ScorerOptions::max_idle_sessions` idle. Each session uses `intra_threads` threads
//! (default 1: the graph is a tiny MLP, and per-request latency is best single-threaded).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::artifact::{Artifact, ArtifactError};
use crate::featurizer::{FeatureBatch, Features, Featurizer};
use crate::manifest::Manifest;
use crate::runtime;

/// The scorer's output for one prompt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Expected normalised score per candidate, in manifest order, in [0, 1].
    pub quality: Vec<f32>,
    /// Probability per task, in `manifest.tasks` order; sums to 1.
    pub task_probs: Vec<f32>,
}

impl Prediction {
    /// Index of the most probable task.
    pub fn top_task(&self) -> Option<usize> {
        self.task_probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    }
}

/// Anything that predicts per-candidate quality for prompts (the ONNX scorer, or a test double).
pub trait Scorer: Send + Sync {
    /// Predictions for several prompts, in order.
    fn score_batch(&self, prompts: &[&str]) -> Result<Vec<Prediction>, ScorerError>;

    /// Prediction for one prompt.
    fn score(&self, prompt: &str) -> Result<Prediction, ScorerError> {
        self.score_batch(&[prompt])?
            .pop()
            .ok_or_else(|| ScorerError::Inference("the scorer returned no prediction".into()))
    }
}

/// Why scoring failed. Messages name the file or the tensor involved.
#[derive(Debug, thiserror::Error)]
pub enum ScorerError {
    /// ONNX Runtime could not be found or loaded (the message says how to provide it).
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: ONNX Runtime cannot load the model: {message}")]
    Load { path: PathBuf, message: String },
    #[error("{path} does not match manifest.json: {message}")]
    Mismatch { path: PathBuf, message: String },
    /// The semantic featurizer's table or vocabulary (named in the manifest) is unusable.
    #[error("router artifact: {0}")]
    Semantic(#[from] crate::semantic::SemanticError),
    #[error("invalid scorer input: {0}")]
    Input(String),
    #[error("ONNX inference failed: {0}")]
    Inference(String),
}

/// Tuning of [`OnnxScorer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScorerOptions {
    /// Threads per ONNX Runtime session (intra-op). Default 1.
    pub intra_threads: usize,
    /// Idle sessions kept for reuse. Default: the machine's parallelism.
    pub max_idle_sessions: usize,
}

impl Default for ScorerOptions {
    fn default() -> Self {
        ScorerOptions {
            intra_threads: 1,
            max_idle_sessions: std::thread::available_parallelism().map_or(4, |n| n.get()),
        }
    }
}

/// Scores prompts with an artifact's ONNX graph. `Send + Sync`; share it behind an `Arc`.
pub struct OnnxScorer {
    artifact: Artifact,
    featurizer: Featurizer,
    options: ScorerOptions,
    /// The graph, kept to build more sessions when callers run concurrently.
    model_bytes: Vec<u8>,
    idle: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for OnnxScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxScorer")
            .field("dir", &self.artifact.dir)
            .field("name", &self.artifact.manifest.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl OnnxScorer {
    /// Loads the artifact in `dir` with default options. See [`OnnxScorer::from_artifact`].
    pub fn load(dir: impl AsRef<Path>) -> Result<OnnxScorer, ScorerError> {
        OnnxScorer::load_with(dir, ScorerOptions::default())
    }

    /// Loads the artifact in `dir` with `options`.
    pub fn load_with(
        dir: impl AsRef<Path>,
        options: ScorerOptions,
    ) -> Result<OnnxScorer, ScorerError> {
        OnnxScorer::from_artifact(Artifact::load(dir)?, options)
    }

    /// Initialises ONNX Runtime, builds a session, checks the graph's input and output names
    /// and types against `manifest.onnx`, and runs one probe prompt to check that the output
    /// widths equal the number of candidates and tasks.
    pub fn from_artifact(
        artifact: Artifact,
        options: ScorerOptions,
    ) -> Result<OnnxScorer, ScorerError> {
        runtime::init()?;
        let path = &artifact.onnx_path;
        let model_bytes = std::fs::read(path).map_err(|source| ScorerError::Read {
            path: path.clone(),
            source,
        })?;
        let featurizer = Featurizer::load(artifact.manifest.featurizer.clone(), &artifact.dir)?;
        let scorer = OnnxScorer {
            featurizer,
            options,
            model_bytes,
            idle: Mutex::new(Vec::new()),
            artifact,
        };
        let session = scorer.new_session()?;
        scorer.check_io(&session)?;
        scorer.release(session);
        scorer.probe()?;
        Ok(scorer)
    }

    /// The artifact's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.artifact.manifest
    }

    /// The loaded artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The featurizer built from the manifest.
    pub fn featurizer(&self) -> &Featurizer {
        &self.featurizer
    }

    /// Runs the graph on already featurized prompts.
    pub fn score_features(&self, batch: &FeatureBatch) -> Result<Vec<Prediction>, ScorerError> {
        if batch.batch == 0 {
            return Ok(Vec::new());
        }
        let expected_dense = self.featurizer.dense_dim();
        if batch.dense_dim != expected_dense
            || batch.ids.len() != batch.batch * batch.width
            || batch.weights.len() != batch.batch * batch.width
            || batch.dense.len() != batch.batch * batch.dense_dim
            || batch.width == 0
        {
            return Err(ScorerError::Input(format!(
                "feature batch of {} rows × width {} (ids {}, weights {}, dense {} with dense_dim {}) \
                 does not fit the model (dense_dim {expected_dense}, width ≥ 1)",
                batch.batch,
                batch.width,
                batch.ids.len(),
                batch.weights.len(),
                batch.dense.len(),
                batch.dense_dim
            )));
        }
        let mut session = self.acquire()?;
        let result = self.run(&mut session, batch);
        self.release(session);
        result
    }

    fn run(
        &self,
        session: &mut Session,
        batch: &FeatureBatch,
    ) -> Result<Vec<Prediction>, ScorerError> {
        let io = &self.artifact.manifest.onnx;
        let input_err = |what: &str, e: ort::Error| {
            ScorerError::Input(format!("cannot build the `{what}` tensor: {e}"))
        };
        let ids = TensorRef::from_array_view(([batch.batch, batch.width], &batch.ids[..]))
            .map_err(|e| input_err(&io.ids, e))?;
        let weights = TensorRef::from_array_view(([batch.batch, batch.width], &batch.weights[..]))
            .map_err(|e| input_err(&io.weights, e))?;
        let dense = TensorRef::from_array_view(([batch.batch, batch.dense_dim], &batch.dense[..]))
            .map_err(|e| input_err(&io.dense, e))?;
        let outputs = session
            .run(ort::inputs![
                io.ids.as_str() => ids,
                io.weights.as_str() => weights,
                io.dense.as_str() => dense,
            ])
            .map_err(|e| ScorerError::Inference(e.to_string()))?;
        let n_candidates = self.artifact.manifest.candidates.len();
        let n_tasks = self.artifact.manifest.tasks.len();
        let extract = |name: &str, width: usize| -> Result<Vec<f32>, ScorerError> {
            let value = outputs.get(name).ok_or_else(|| {
                ScorerError::Inference(format!("the graph produced no `{name}` output"))
            })?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
                ScorerError::Inference(format!("output `{name}` is not a float32 tensor: {e}"))
            })?;
            let expected = [batch.batch as i64, width as i64];
            if shape[..] != expected[..] {
                return Err(ScorerError::Mismatch {
                    path: self.artifact.onnx_path.clone(),
                    message: format!(
                        "output `{name}` has shape {:?}, expected {expected:?} ({} per row from the manifest)",
                        &shape[..],
                        if name == io.quality {
                            "one column per candidate"
                        } else {
                            "one column per task"
                        }
                    ),
                });
            }
            Ok(data.to_vec())
        };
        let quality = extract(&io.quality, n_candidates)?;
        let task_probs = extract(&io.task_probs, n_tasks)?;
        Ok((0..batch.batch)
            .map(|r| Prediction {
                quality: quality[r * n_candidates..(r + 1) * n_candidates].to_vec(),
                task_probs: task_probs[r * n_tasks..(r + 1) * n_tasks].to_vec(),
            })
            .collect())
    }

    fn new_session(&self) -> Result<Session, ScorerError> {
        let env = runtime::environment()?;
        let path = &self.artifact.onnx_path;
        let load_err = |e: ort::Error| ScorerError::Load {
            path: path.clone(),
            message: e.to_string(),
        };
        Session::builder(env)
            .map_err(load_err)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_err(e.into()))?
            .with_intra_threads(self.options.intra_threads.max(1))
            .map_err(|e| load_err(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| load_err(e.into()))?
            .commit_from_memory(&self.model_bytes)
            .map_err(load_err)
    }

    fn acquire(&self) -> Result<Session, ScorerError> {
        let idle = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            // A panic while holding the lock cannot corrupt a Vec of sessions; keep going.
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match idle {
            Some(session) => Ok(session),
            None => self.new_session(),
        }
    }

    fn release(&self, session: Session) {
        let mut idle = match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < self.options.max_idle_sessions.max(1) {
            idle.push(session);
        }
    }

    fn check_io(&self, session: &Session) -> Result<(), ScorerError> {
        let io = &self.artifact.manifest.onnx;
        let mismatch = |message: String| ScorerError::Mismatch {
            path: self.artifact.onnx_path.clone(),
            message,
        };
        let describe = |outlets: &[ort::value::Outlet]| {
            outlets
                .iter()
                .map(|o| o.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inputs = session.inputs();
        let outputs = session.outputs();
        let expected_inputs = [
            (&io.ids, TensorElementType::Int64, None),
            (&io.weights, TensorElementType::Float32, None),
            (
                &io.dense,
                TensorElementType::Float32,
                Some(self.featurizer.dense_dim()),
            ),
        ];
        for (name, ty, last_dim) in expected_inputs {
            let Some(outlet) = inputs.iter().find(|o| o.name() == name.as_str()) else {
                return Err(mismatch(format!(
                    "the graph has no input `{name}` (its inputs: {})",
                    describe(inputs)
                )));
            };
            check_tensor(outlet.dtype(), name, ty, 2, last_dim).map_err(&mismatch)?;
        }
        if inputs.len() != 3 {
            return Err(mismatch(format!(
                "the graph has {} inputs ({}), expected exactly `{}`, `{}`, `{}`",
                inputs.len(),
                describe(inputs),
                io.ids,
                io.weights,
                io.dense
            )));
        }
        let expected_outputs = [
            (
                &io.quality,
                self.artifact.manifest.candidates.len(),
                "candidates",
            ),
            (&io.task_probs, self.artifact.manifest.tasks.len(), "tasks"),
        ];
        for (name, width, what) in expected_outputs {
            let Some(outlet) = outputs.iter().find(|o| o.name() == name.as_str()) else {
                return Err(mismatch(format!(
                    "the graph has no output `{name}` (its outputs: {})",
                    describe(outputs)
                )));
            };
            check_tensor(
                outlet.dtype(),
                name,
                TensorElementType::Float32,
                2,
                Some(width),
            )
            .map_err(|m| mismatch(format!("{m} (the manifest lists {width} {what})")))?;
        }
        Ok(())
    }

    /// Runs the empty prompt once: catches shape errors inside the graph at load time.
    fn probe(&self) -> Result<(), ScorerError> {
        self.score_features(&self.featurizer.featurize_batch(&[""]))
            .map(|_| ())
            .map_err(|e| match e {
                ScorerError::Inference(message) => ScorerError::Mismatch {
                    path: self.artifact.onnx_path.clone(),
                    message: format!("a probe inference failed: {message}"),
                },
                other => other,
            })
    }

    fn featurize_one(&self, prompt: &str) -> FeatureBatch {
        let mut features = Features::default();
        self.featurizer.featurize_into(prompt, &mut features);
        if features.ids.is_empty() {
            features.ids.push(0);
            features.weights.push(0.0);
        }
        FeatureBatch {
            batch: 1,
            width: features.ids.len(),
            ids: features.ids,
            weights: features.weights,
            dense_dim: features.dense.len(),
            dense: features.dense,
        }
    }
}

/// Checks an outlet's element type, rank and (static) last dimension.
fn check_tensor(
    dtype: &ValueType,
    name: &str,
    ty: TensorElementType,
    rank: usize,
    last_dim: Option<usize>,
) -> Result<(), String> {
    let ValueType::Tensor {
        ty: found, shape, ..
    } = dtype
    else {
        return Err(format!("`{name}` is not a tensor ({dtype:?})"));
    };
    if *found != ty {
        return Err(format!(
            "`{name}` has element type {found:?}, expected {ty:?}"
        ));
    }
    if shape.len() != rank {
        return Err(format!(
            "`{name}` has rank {} ({:?}), expected {rank}",
            shape.len(),
            &shape[..]
        ));
    }
    if let (Some(expected), Some(&dim)) = (last_dim, shape.last())
        && dim >= 0
        && dim as usize != expected
    {
        return Err(format!(
            "`{name}` has last dimension {dim}, expected {expected}"
        ));
    }
    Ok(())
}

impl Scorer for OnnxScorer {
    fn score_batch(&self, prompts: &[&str]) -> Result<Vec<Prediction>, ScorerError> {
        if let [prompt] = prompts {
            return self.score_features(&self.featurize_one(prompt));
        }
        self.score_features(&self.featurizer.featurize_batch(prompts))
    }

    fn score(&self, prompt: &str) -> Result<Prediction, ScorerError> {
        self.score_features(&self.featurize_one(prompt))?
            .pop()
            .ok_or_else(|| ScorerError::Inference("the graph returned no row".into()))
    }
}
