//! What training and serving share: the featurizer, the artifact manifest, the ONNX
//! scorer, the decision policy and the LLM catalog. `serve` links only this crate, and
//! `train eval` calls the same scorer and policy, so offline numbers and the gateway's
//! decisions come from one code path.
//!
//! Module map:
//! - [`tokens`] — token estimates (`ceil(chars / 4)`) for prompts and chat messages
//!   (re-exported from the `text` crate, with [`prompt_id`] and [`join_turns`]).
//! - [`taxonomy`] — the coarse task taxonomy ([`taxonomy::TASKS`]) and the mapping from
//!   a benchmark's dataset/category to a task.
//! - [`featurizer`] — prompt text → hashed sparse n-gram features + dense features
//!   ([`featurizer::Featurizer`], [`featurizer::FeatureBatch`]).
//! - [`manifest`] — `manifest.json`: candidates, prices, featurizer config, tasks, ONNX I/O names.
//! - [`artifact`] — a router directory (`router.onnx` + `manifest.json`) loaded and checked.
//! - [`runtime`] — finding and initialising ONNX Runtime (`ORT_DYLIB_PATH` or the copy
//!   the build script fetched).
//! - [`scorer`] — the [`scorer::Scorer`] trait and [`scorer::OnnxScorer`]: prompt → predicted
//!   quality per candidate and task probabilities.
//! - [`routing`] — prediction + a candidate's price and limits + the request's facts + what
//!   is known live → the policy's input: the one builder `serve` and `train eval` share.
//! - [`policy`] — [`policy::decide`]: which candidate wins for an objective under constraints,
//!   the fallback order, and a human-readable reason.
//! - [`catalog`] — LLM prices, context lengths and expected output lengths; cost estimates.
//! - `onnx_proto` (feature `onnx-proto`) — hand-written ONNX protobuf messages for exporters.

pub mod artifact;
pub mod catalog;
pub mod digest;
pub mod explore;
pub mod featurizer;
pub mod manifest;
#[cfg(feature = "onnx-proto")]
pub mod onnx_proto;
pub mod policy;
pub mod routing;
pub mod runtime;
pub mod scorer;
pub mod semantic;
pub mod taxonomy;

pub use artifact::{Artifact, ArtifactError};
pub use catalog::{Catalog, CatalogEntry, ModelPrice, ModelTerms, estimate_cost};
pub use explore::{ExploreConfig, ExploreConfigError, ExploredRoute, explore_route};
pub use featurizer::{FeatureBatch, Features, Featurizer, FeaturizerConfig, HashedNgramsConfig};
pub use manifest::{CandidateModel, LabelSemantics, Manifest, OnnxIo, TaskMapping};
pub use policy::{
    CandidateInput, CandidateOutcome, Constraints, Decision, Exclusion, Objective, Unavailable,
    decide, decide_owned,
};
pub use routing::{Live, RequestFacts};
pub use scorer::{OnnxScorer, Prediction, Scorer, ScorerError, ScorerOptions};
/// Prompt identity and turn joining live in the workspace `text` crate (shared with
/// `datasets`, which must build without ONNX Runtime); these paths stay the public ones.
pub use text::{join_turns, prompt_id, tokens};
