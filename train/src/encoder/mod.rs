//! The pre-trained sentence encoder (all-MiniLM-L6-v2) whose knowledge the router's static
//! token table carries into the request path without its cost.
//!
//! - [`files`]: where its weights are (fetched at build time, `ARBITER_ENCODER_DIR` overrides).
//! - [`bert`]: its forward pass (BERT, 6 layers, mean pooling, unit length) on ndarray, for
//!   distillation and for the test that pins it against fixed sentences.
//! - [`distill`]: every vocabulary token through the encoder, PCA, frequency weighting:
//!   the table `models::semantic` reads (Model2Vec's recipe).

pub mod bert;
pub mod distill;
pub mod files;

use std::collections::HashSet;

use anyhow::Context;
use datasets::split::{Split, SplitRatios, split_of};
use datasets::{LoadOptions, PERMISSIVE_DATASETS, schema};

/// `train distill`: the static table from the encoder, with token frequencies from the
/// train-split prompts of every permissive set (never the validation or test prompts).
pub fn run(args: &distill::DistillArgs) -> anyhow::Result<distill::Written> {
    let encoder_dir = files::encoder_dir()?;
    let data_dir = crate::run::resolve_data_dir(args.data.as_deref())?;
    let options = LoadOptions {
        only: Some(PERMISSIVE_DATASETS.iter().map(|s| s.to_string()).collect()),
        prices: None,
    };
    let loaded = datasets::load_with(&data_dir, &options)
        .with_context(|| format!("loading benchmark data from {}", data_dir.display()))?;
    let ids = loaded.frame.column(schema::PROMPT_ID)?.str()?;
    let prompts = loaded.frame.column(schema::PROMPT)?.str()?;
    let ratios = SplitRatios::default();
    let mut seen: HashSet<&str> = HashSet::new();
    let corpus: Vec<&str> = ids
        .iter()
        .zip(prompts.iter())
        .filter_map(|(id, prompt)| Some((id?, prompt?)))
        .filter(|(id, _)| split_of(id, &ratios) == Split::Train && seen.insert(id))
        .map(|(_, prompt)| prompt)
        .collect();
    distill::write(&encoder_dir, corpus, &args.out, args.dim, args.sif)
}
