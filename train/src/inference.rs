//! Running a trained network on examples or feature batches (no autodiff).

use burn::tensor::backend::Backend;
use models::FeatureBatch;

use crate::data::{Example, feature_tensors};
use crate::model::{Members, forward_mean};

/// Outputs for a list of prompts, row-major.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    pub n_candidates: usize,
    pub n_tasks: usize,
    /// `[rows, n_candidates]` sigmoid outputs.
    pub quality: Vec<f32>,
    /// `[rows, n_tasks]` softmax outputs.
    pub task_probs: Vec<f32>,
}

impl Predictions {
    /// Predicted quality per candidate of row `i`.
    pub fn quality(&self, i: usize) -> &[f32] {
        &self.quality[i * self.n_candidates..(i + 1) * self.n_candidates]
    }

    /// Task probabilities of row `i`.
    pub fn task_probs(&self, i: usize) -> &[f32] {
        &self.task_probs[i * self.n_tasks..(i + 1) * self.n_tasks]
    }

    pub fn len(&self) -> usize {
        self.quality
            .len()
            .checked_div(self.n_candidates)
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend(&mut self, other: Predictions) {
        self.n_candidates = other.n_candidates;
        self.n_tasks = other.n_tasks;
        self.quality.extend(other.quality);
        self.task_probs.extend(other.task_probs);
    }
}

/// Scores `examples` in batches of `batch_size`.
pub fn predict<B: Backend, M: Members<B> + ?Sized>(
    model: &M,
    examples: &[&Example],
    batch_size: usize,
    device: &B::Device,
) -> Predictions {
    let Some(first) = model.members().first() else {
        return Predictions::default();
    };
    let dense_dim = first.dense_dim();
    let mut out = Predictions::default();
    for chunk in examples.chunks(batch_size.max(1)) {
        let rows: Vec<&models::Features> = chunk.iter().map(|e| &e.features).collect();
        out.extend(predict_features(
            model,
            &FeatureBatch::from_features(&rows, dense_dim),
            device,
        ));
    }
    out
}

/// Scores one feature batch (as `models::OnnxScorer::score_features` does with ONNX Runtime).
pub fn predict_features<B: Backend, M: Members<B> + ?Sized>(
    model: &M,
    batch: &FeatureBatch,
    device: &B::Device,
) -> Predictions {
    let (ids, weights, dense) = feature_tensors::<B>(batch, device);
    let Some(out) = forward_mean(model.members(), ids, weights, dense) else {
        return Predictions::default();
    };
    let [_, n_candidates] = out.quality.dims();
    let [_, n_tasks] = out.task_probs.dims();
    Predictions {
        n_candidates,
        n_tasks,
        quality: out.quality.into_data().iter::<f32>().collect(),
        task_probs: out.task_probs.into_data().iter::<f32>().collect(),
    }
}
