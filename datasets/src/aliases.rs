//! One model, one name: the published sets spell some models differently (RouteLLM and
//! Arena use the Hugging Face id `mistralai/Mixtral-8x7B-Instruct-v0.1`, the MMLU-Pro outputs
//! `Mixtral-8x7B-Instruct-v0.1`). Without a merge the same model would be two candidates
//! with half the labels each, and a gateway would list it twice.
//!
//! [`MODEL_ALIASES`] is the single table of such spellings. Loaders rename while building a
//! set; every rename is counted in [`crate::SetReport::renamed`]. The canonical name is the
//! Hugging Face id where the model has one (what providers and `serve`'s catalog call it).

/// `(published spelling, canonical name)`: the same weights under two names.
pub const MODEL_ALIASES: [(&str, &str); 2] = [
    (
        "Mixtral-8x7B-Instruct-v0.1",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    ),
    (
        "Mistral-7B-Instruct-v0.1",
        "mistralai/Mistral-7B-Instruct-v0.1",
    ),
];

/// The canonical name of `model` (itself when it has no alias).
pub fn canonical_model(model: &str) -> &str {
    MODEL_ALIASES
        .iter()
        .find(|(alias, _)| *alias == model)
        .map_or(model, |(_, canonical)| canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_canonical_names_and_others_pass_through() {
        assert_eq!(
            canonical_model("Mixtral-8x7B-Instruct-v0.1"),
            "mistralai/Mixtral-8x7B-Instruct-v0.1"
        );
        assert_eq!(
            canonical_model("mistralai/Mixtral-8x7B-Instruct-v0.1"),
            "mistralai/Mixtral-8x7B-Instruct-v0.1"
        );
        assert_eq!(
            canonical_model("Mistral-7B-Instruct-v0.2"),
            "Mistral-7B-Instruct-v0.2"
        );
        // A canonical name is never itself an alias (no chains).
        for (_, canonical) in MODEL_ALIASES {
            assert_eq!(canonical_model(canonical), canonical);
        }
    }
}
