//! What training and serving share: the featurizer, the artifact manifest, the ONNX
//! scorer, the decision policy and the LLM catalog. `serve` links only this crate, and
//! `train eval` calls the same scorer and policy, so offline numbers and the gateway's
//! decisions come from one code path.
//!
//! Module map:
//! - [`tokens`] — token estimates (`ceil(chars / 4)`) for prompts and chat messages.
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
//! - [`policy`] — [`policy::decide`]: which candidate wins for an objective under constraints,
//!   the fallback order, and a human-readable reason.
//! - [`catalog`] — LLM prices, context lengths and expected output lengths; cost estimates.
//! - `onnx_proto` (feature `onnx-proto`) — hand-written ONNX protobuf messages for exporters.

pub mod artifact;
pub mod catalog;
pub mod featurizer;
pub mod manifest;
#[cfg(feature = "onnx-proto")]
pub mod onnx_proto;
pub mod policy;
pub mod runtime;
pub mod scorer;
pub mod taxonomy;
pub mod tokens;

pub use artifact::{Artifact, ArtifactError};
pub use catalog::{Catalog, CatalogEntry, ModelPrice, estimate_cost};
pub use featurizer::{FeatureBatch, Features, Featurizer, FeaturizerConfig, HashedNgramsConfig};
pub use manifest::{CandidateModel, LabelSemantics, Manifest, OnnxIo, TaskMapping};
pub use policy::{
    CandidateInput, CandidateOutcome, Constraints, Decision, Objective, decide, decide_owned,
};
pub use scorer::{OnnxScorer, Prediction, Scorer, ScorerError, ScorerOptions};

/// Stable identifier of a prompt: xxh3-64 of its UTF-8 bytes as 16 lowercase hex digits.
///
/// Used as the `prompt_id` column of the canonical outcome table and for the
/// deterministic train/validation/test split, so it must never change.
pub fn prompt_id(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// Joins the user turns of a multi-turn conversation into one prompt text, in order,
/// separated by a blank line (`"\n\n"`). Accepts `&[&str]` and `&[String]`.
pub fn join_turns<S: AsRef<str>>(turns: &[S]) -> String {
    let mut out = String::with_capacity(turns.iter().map(|t| t.as_ref().len() + 2).sum());
    for (i, turn) in turns.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(turn.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_id_is_16_hex_digits_of_xxh3() {
        let id = prompt_id("What is 2+2?");
        assert_eq!(id.len(), 16);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(id, prompt_id("What is 2+2?"));
        assert_ne!(id, prompt_id("What is 2+3?"));
        // xxh3-64 of the empty input is a published constant.
        assert_eq!(prompt_id(""), "2d06800538d394c2");
    }

    #[test]
    fn join_turns_uses_blank_lines() {
        assert_eq!(join_turns(&["a", "b", "c"]), "a\n\nb\n\nc");
        assert_eq!(join_turns(&["only"]), "only");
        assert_eq!(join_turns::<&str>(&[]), "");
        assert_eq!(
            join_turns(&[String::from("x"), String::from("y")]),
            "x\n\ny"
        );
    }
}
