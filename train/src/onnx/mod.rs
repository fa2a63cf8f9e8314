//! ONNX export of [`RouterModel`](crate::model::RouterModel): burn has no exporter, so the
//! graph is written here node by node (opset 17) with the weights as initializers.
//!
//! - [`graph`]: the graph itself (names of inputs/outputs from [`models::OnnxIo`]).
//! - [`artifact`]: the artifact directory (`router.onnx` + `manifest.json`).
//! - [`import`]: an artifact's weights read back, to fine-tune it (`train --init-from`).
//!
//! The graph computes exactly [`RouterModel::forward`](crate::model::RouterModel::forward);
//! `tests/onnx_parity.rs` checks burn against ONNX Runtime on real prompts.

pub mod artifact;
pub mod graph;
pub mod import;

pub use artifact::{ArtifactInfo, WriteError, WrittenArtifact, write_artifact};
pub use graph::{ExportError, OPSET, export_model};
