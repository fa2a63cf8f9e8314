//! Writing a router artifact directory: `router.onnx` and `manifest.json`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use models::artifact::ONNX_FILE;
use models::manifest::{ManifestError, TaskMapping};
use models::{CandidateModel, FeaturizerConfig, LabelSemantics, Manifest, OnnxIo};

use super::graph::{ExportError, OPSET, export_model};
use crate::model::Members;

/// Everything the manifest says besides what the network itself defines.
#[derive(Debug, Clone)]
pub struct ArtifactInfo {
    /// Human name of the router.
    pub name: String,
    /// Candidates in the order of the `quality` output.
    pub candidates: Vec<CandidateModel>,
    /// The featurizer the network was trained on.
    pub featurizer: FeaturizerConfig,
    /// Task names in the order of the `task_probs` output.
    pub tasks: Vec<String>,
    /// The dataset/category → task mapping seen in training.
    pub task_mapping: TaskMapping,
    /// What the quality output means and where labels came from.
    pub labels: LabelSemantics,
    /// Training record (command, data, seed, hyper-parameters, epochs, …).
    pub training: serde_json::Value,
    /// Validation metrics.
    pub validation: serde_json::Value,
}

/// Paths written by [`write_artifact`].
#[derive(Debug, Clone)]
pub struct WrittenArtifact {
    /// `<dir>/router.onnx`.
    pub onnx: PathBuf,
    /// `<dir>/manifest.json`.
    pub manifest: PathBuf,
    /// Size of `router.onnx` in bytes.
    pub onnx_bytes: u64,
}

/// Why an artifact could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("exporting the network to ONNX: {0}")]
    Export(#[from] ExportError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the network has {network} {what} outputs but the manifest lists {manifest}")]
    Mismatch {
        what: &'static str,
        network: usize,
        manifest: usize,
    },
}

/// Exports `model` to `<dir>/router.onnx` and writes `<dir>/manifest.json`.
///
/// The manifest is validated before anything is written, and the ONNX file is written to a
/// temporary name first, so a failed export never leaves a half-written artifact behind.
pub fn write_artifact<B: Backend, M: Members<B> + ?Sized>(
    dir: &Path,
    model: &M,
    info: ArtifactInfo,
) -> Result<WrittenArtifact, WriteError> {
    let first = model.members().first().ok_or(ExportError::Empty)?;
    let n_candidates = first.model_bias.dims()[0];
    if n_candidates != info.candidates.len() {
        return Err(WriteError::Mismatch {
            what: "quality",
            network: n_candidates,
            manifest: info.candidates.len(),
        });
    }
    let n_tasks = first.task_head.weight.dims()[1];
    if n_tasks != info.tasks.len() {
        return Err(WriteError::Mismatch {
            what: "task",
            network: n_tasks,
            manifest: info.tasks.len(),
        });
    }

    let mut manifest = Manifest::new(info.name, info.candidates);
    manifest.featurizer = info.featurizer;
    manifest.tasks = info.tasks;
    manifest.task_mapping = info.task_mapping;
    manifest.labels = info.labels;
    manifest.training = info.training;
    manifest.validation = info.validation;
    manifest.onnx = OnnxIo {
        opset: OPSET,
        ..OnnxIo::default()
    };
    let manifest_path = dir.join(models::manifest::MANIFEST_FILE);
    manifest.validate(&manifest_path)?;

    let bytes = models::onnx_proto::encode(&export_model(model, &manifest.onnx)?);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let onnx = dir.join(ONNX_FILE);
    let partial = dir.join(format!("{ONNX_FILE}.partial"));
    std::fs::write(&partial, &bytes).map_err(io_err(&partial))?;
    std::fs::rename(&partial, &onnx).map_err(io_err(&onnx))?;
    let manifest = manifest.write(dir)?;
    Ok(WrittenArtifact {
        onnx,
        manifest,
        onnx_bytes: bytes.len() as u64,
    })
}
