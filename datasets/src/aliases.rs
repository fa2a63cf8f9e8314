//! One model, one name: the published sets spell some models differently (RouteLLM and
//! Arena use the Hugging Face id `mistralai/Mixtral-8x7B-Instruct-v0.1`, the MMLU-Pro outputs
//! `Mixtral-8x7B-Instruct-v0.1`). Without a merge the same model would be two candidates
//! with half the labels each, and a gateway would list it twice.
//!
//! [`MODEL_ALIASES`] is the single table of such spellings. Loaders rename while building a
//! set; every rename is counted in [`crate::SetReport::renamed`] (the `datasets describe`
//! command and `train` print them). The canonical name is the Hugging Face id where the
//! model has open weights, spelled as a set and the shipped manifest already spell it
//! (`mistralai/…` for the RouteLLM models, MMLU-Pro's repository names otherwise), else the
//! provider's API name. `prices.csv` prices every canonical name (exactly, or by the
//! normalised name of [`crate::prices`]), so a renamed model keeps its price.
//!
//! A row is added only when the evidence says both spellings are the same weights or the
//! same API snapshot (vendor, size, instruct or base, version or date). Checked and *not*
//! merged (different models, or the version cannot be established):
//! - `deepseek-v2-coder-0614` (ZeroEval: DeepSeek's `deepseek-coder` API in June–July
//!   2024, named by ZeroEval's leaderboard script) vs `DeepSeek-Coder-V2` (MMLU-Pro): the
//!   MMLU-Pro file names neither size nor version (its maintainers answer "we have included
//!   both" 16B and 236B, TIGER-AI-Lab/MMLU-Pro issue 39), and the API moved to 0724 on
//!   2024-07-24 (ZeroEval scores 0614 and 0724 apart: GSM8K 93.7% vs 90.9%).
//! - `…@provider` (ZeroEval, e.g. `Meta-Llama-3.1-70B-Instruct@hyperbolic`,
//!   `Llama-3.1-405B-Inst@sambanova`): the same weights served by another provider at
//!   another price and precision, evaluated separately (both are in `zeroeval_math_l5`).
//! - `gemini-1.5-pro` / `gemini-1.5-flash` (ZeroEval, mid-2024: the `-001` models) vs
//!   `gemini-1.5-pro-002` / `gemini-1.5-flash-002` (MMLU-Pro, Sept 2024); the `-exp-…`
//!   snapshots are experiments of their own.
//! - Dated snapshots stay apart: `gpt-4o-2024-05-13` / `-08-06` / `chatgpt-4o-latest-24-09-07`,
//!   `claude-3-5-sonnet-20240620` / `-20241022`, `gpt-3.5-turbo` (0613, Arena) /
//!   `gpt-3.5-turbo-0301` (AlpacaEval) / `-0125` (ZeroEval) / `-1106` (both Arena and
//!   AlpacaEval, one spelling already).
//! - Base vs instruct: `Meta-Llama-3-70B` (MMLU-Pro, base) vs `Meta-Llama-3-70B-Instruct`
//!   (ZeroEval), `Llama-2-70b-hf` vs `Llama-2-70b-chat`, `Yi-34B` vs `Yi-1.5-34B-Chat`,
//!   `Qwen1.5-72B-Chat` vs `Qwen2-72B-Instruct` (another generation); `FuseChat-Llama-3.1-8B-
//!   Instruct` (AlpacaEval) is a fine-tune, not Llama-3.1-8B-Instruct.
//! - Moving API aliases evaluated at different times: AlpacaEval's `claude` (its config asks
//!   Anthropic for `claude-v1`, 2023) vs Arena's `claude-1`; AlpacaEval's
//!   `claude-instant-1.2` vs Arena's `claude-instant-1`.
//!
//! Already one spelling across sets (no row needed): `mistralai/Mixtral-8x7B-Instruct-v0.1`,
//! `Meta-Llama-3_1-70B-Instruct` and `Meta-Llama-3_1-8B-Instruct` (the shared copy of
//! ZeroEval and LLMRouter respells them as MMLU-Pro does), `gpt-4-0314`, `gemma-2-9b-it`,
//! `Qwen2.5-7B-Instruct`, `Phi-3-mini-4k-instruct`, `claude-2.1`, `gpt-3.5-turbo-1106`.

/// `(published spelling, canonical name)`: the same weights under two names.
pub const MODEL_ALIASES: [(&str, &str); 8] = [
    // MMLU-Pro's file names vs the Hugging Face id RouteLLM (mmlu, gsm8k, mt_bench), Arena
    // and ZeroEval use: the same open weights.
    (
        "Mixtral-8x7B-Instruct-v0.1",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    ),
    // MMLU-Pro vs Arena's Hugging Face id.
    (
        "Mistral-7B-Instruct-v0.1",
        "mistralai/Mistral-7B-Instruct-v0.1",
    ),
    // ZeroEval (zeroeval_gsm) ran Cohere's API model `command-r` (its script
    // `cohere-command-r.sh`, `--model_name cohere/command-r`, mid-2024, before
    // command-r-08-2024 existed), Command R of 03-2024, whose weights Cohere published as
    // CohereForAI/c4ai-command-r-v01 (35B), the model MMLU-Pro evaluated. Canonical: that
    // repository name, as MMLU-Pro, the shipped manifest and prices.csv spell it (both
    // entries list 0.5 / 1.5 USD per Mtok).
    ("command-r", "c4ai-command-r-v01"),
    // AlpacaEval's configuration names vs OpenAI's API names (its `gpt4_1106_preview`
    // config asks OpenAI for `gpt-4-1106-preview`, the model RouteLLM, Arena and MT-Bench
    // label; `text_davinci_003` asks for `text-davinci-003`; `gpt35_turbo_instruct` is
    // `gpt-3.5-turbo-instruct`, as `serve`'s catalog already maps it). AlpacaEval is for
    // evaluation only; the merge lets its results meet the other sets' candidates.
    ("gpt4_1106_preview", "gpt-4-1106-preview"),
    ("gpt35_turbo_instruct", "gpt-3.5-turbo-instruct"),
    ("text_davinci_003", "text-davinci-003"),
    // ZeroEval's own file names for Llama 3.1 Instruct (`result_dirs/gsm/Meta-Llama-3.1-
    // 70B-Instruct.json`; meta-llama/Meta-Llama-3.1-{8B,70B}-Instruct), respelled in the
    // shared copy already; kept so that ZeroEval files as published merge too.
    ("Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3_1-8B-Instruct"),
    ("Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3_1-70B-Instruct"),
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
    use std::collections::HashSet;

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
    }

    #[test]
    fn aliases_each_map_as_intended() {
        let cases = [
            ("command-r", "c4ai-command-r-v01"),
            ("gpt4_1106_preview", "gpt-4-1106-preview"),
            ("gpt35_turbo_instruct", "gpt-3.5-turbo-instruct"),
            ("text_davinci_003", "text-davinci-003"),
            ("Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3_1-8B-Instruct"),
            ("Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3_1-70B-Instruct"),
            (
                "Mistral-7B-Instruct-v0.1",
                "mistralai/Mistral-7B-Instruct-v0.1",
            ),
        ];
        for (alias, canonical) in cases {
            assert_eq!(canonical_model(alias), canonical, "{alias}");
        }
    }

    #[test]
    fn checked_and_kept_apart() {
        // Different versions, sizes, base vs instruct, or another provider's serving.
        for name in [
            "deepseek-v2-coder-0614",
            "deepseek-v2-coder-0724",
            "DeepSeek-Coder-V2",
            "command-r-plus",
            "Meta-Llama-3.1-70B-Instruct@hyperbolic",
            "Llama-3.1-405B-Inst@sambanova",
            "gemini-1.5-pro",
            "gemini-1.5-pro-002",
            "gemini-1.5-flash",
            "gpt-4o-2024-05-13",
            "gpt-4o-2024-08-06",
            "claude-3-5-sonnet-20240620",
            "claude",
            "claude-instant-1.2",
            "Meta-Llama-3-70B",
            "Meta-Llama-3_1-70B",
            "Llama-2-70b-hf",
            "FuseChat-Llama-3.1-8B-Instruct",
        ] {
            assert_eq!(canonical_model(name), name);
        }
    }

    #[test]
    fn no_chains_no_duplicates_no_self_aliases() {
        let aliases: HashSet<&str> = MODEL_ALIASES.iter().map(|(a, _)| *a).collect();
        assert_eq!(aliases.len(), MODEL_ALIASES.len(), "an alias listed twice");
        for (alias, canonical) in MODEL_ALIASES {
            assert_ne!(alias, canonical);
            // A canonical name is never itself an alias (no chains).
            assert!(!aliases.contains(canonical), "{canonical} is also an alias");
            assert_eq!(canonical_model(canonical), canonical);
        }
    }
}
