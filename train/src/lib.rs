//! Training the router: burn network, training loop, ONNX export.
//!
//! - [`model`]: the burn network (embedding bag → MLP → quality, category and task heads; the
//!   predicted-category prior added to the quality logits).
//! - [`encoder`]: the pre-trained sentence encoder and its distillation into the static
//!   token table of the semantic featurizer.
//! - [`data`]: canonical outcome table → labelled, featurized examples → burn batches.
//! - [`holdout`]: `--hold-out-labels MODEL@DATASET`, labels kept from training for the
//!   cross-dataset check.
//! - [`training`]: the training loop (masked BCE + task and category CE, Adam, early stopping)
//!   and [`training::TrainingConfig`], whose defaults are the shipped settings.
//! - [`inference`]: running a trained network on examples or feature batches.
//! - [`validation`]: the heads' validation metrics (BCE, AUC, MAE, task accuracy) used for
//!   early stopping.
//! - [`output_length`]: each candidate's expected answer length, comparable across the
//!   datasets candidates were labelled on.
//! - [`onnx`]: the ONNX graph of that network and the artifact directory writer.
//! - [`stacking`]: the simple rules (category means, the dataset's best single model) stacked
//!   onto the network with per-dataset weights fitted on the validation split, in the graph.
//! - [`summary`]: the short test-split summary printed after training (router vs per-category
//!   prior).
//! - [`run`]: the `train` command: data → examples → training → artifact → summary.
//! - [`eval`]: `train eval`, the offline evaluation (same scorer and policy as `serve`) with
//!   its own routing metrics and report.
//! - [`traffic`]: the gateway's logs as training rows (`train ingest`) and as off-policy
//!   estimates of another router's value (`train eval --replay`).
pub mod data;
pub mod encoder;
pub mod eval;
pub mod holdout;
pub mod inference;
pub mod model;
pub mod onnx;
pub mod output_length;
pub mod run;
pub mod stacking;
pub mod summary;
pub mod traffic;
pub mod training;
pub mod validation;
