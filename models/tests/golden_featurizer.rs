//! Golden test: the featurizer's output for fixed prompts, under the shipped artifact's
//! featurizer configuration, is pinned in `tests/fixtures/featurizer_golden.json`.
//!
//! The featurizer's other tests compare it with itself; this one fails when hashing,
//! tokenisation, weighting or a dense feature changes, which would silently break every
//! shipped artifact (`models/default` included). If the change is deliberate, regenerate
//! with `ARBITER_REGENERATE_GOLDEN=1 cargo test -p models --test golden_featurizer`, review
//! the fixture diff, and retrain the shipped router.

#[path = "support/golden.rs"]
mod golden;

use golden::{featurizer_prompts, pinned};
use models::{Featurizer, Manifest};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Row {
    prompt_id: String,
    ids: Vec<i64>,
    weights: Vec<f32>,
    dense: Vec<f32>,
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
}

#[test]
fn featurizer_output_is_pinned() {
    let manifest = Manifest::load(models::artifact::default_dir()).unwrap();
    let featurizer = Featurizer::new(manifest.featurizer.clone());
    let prompts = featurizer_prompts();
    let rows: Vec<Row> = prompts
        .iter()
        .map(|p| {
            let f = featurizer.featurize(p);
            Row {
                prompt_id: models::prompt_id(p),
                ids: f.ids,
                weights: f.weights,
                dense: f.dense,
            }
        })
        .collect();
    let golden = pinned("featurizer_golden.json", &rows);
    assert_eq!(golden.len(), rows.len(), "number of golden prompts changed");
    for (i, (now, then)) in rows.iter().zip(&golden).enumerate() {
        assert_eq!(
            now.prompt_id, then.prompt_id,
            "prompt {i}: prompt_id changed"
        );
        assert_eq!(
            now.ids,
            then.ids,
            "prompt {i} ({:?}…): hashed ids changed",
            prompts[i].chars().take(40).collect::<String>()
        );
        assert!(
            close(&now.weights, &then.weights),
            "prompt {i}: weights changed"
        );
        assert!(
            close(&now.dense, &then.dense),
            "prompt {i}: dense features changed: {:?} vs {:?}",
            now.dense,
            then.dense
        );
    }
}
