//! Training the router: burn network, training loop, ONNX export.
//!
//! - [`model`]: the burn network (embedding bag → MLP → quality, category and task heads; the
//!   predicted-category prior added to the quality logits).
//! - [`data`]: canonical outcome table → labelled, featurized examples → burn batches.
//! - [`training`]: the training loop (masked BCE + task and category CE, Adam, early stopping).
//! - [`inference`]: running a trained network on examples or feature batches.
//! - [`metrics`]: validation metrics (BCE, AUC, task accuracy).
//! - [`onnx`]: the ONNX graph of that network and the artifact directory writer.
//! - [`report`]: the short test-split evaluation printed after training (router vs per-category prior).
//! - [`run`]: the `train` command: data → examples → training → artifact → report.
//! - [`eval`]: `train eval`, the offline evaluation (same scorer and policy as `serve`).
pub mod data;
pub mod eval;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod report;
pub mod run;
pub mod training;
