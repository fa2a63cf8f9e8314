//! The router network: a hashed-feature embedding bag, an MLP, and its heads (quality, task,
//! and the optional category head that feeds the predicted-category prior).
//!
//! ```text
//! ids [B,W] ─► Embedding ─► [B,W,E] ─┐
//! weights [B,W] ─────────────────────×─► Σ_W ─► bag [B,E] ─┐
//! dense [B,D] ───────────────────────────────────────────── concat ─► [B,E+D]
//!   ─► Linear ─► ReLU ─► Dropout ─► h [B,H]
//!        h ─► Linear ─► prompt vector p [B,F]
//!             p · Mᵀ + b (+ d(h), optional per-prompt difficulty)
//!               (+ softmax(category logits / T) · P, optional predicted-category prior)
//!               ─► sigmoid ─► q
//!               (optional stacked rule: q + a(x) · (r(x) − q), r(x) = softmax(category / T) · R,
//!                a(x) = softmax(category / T) · A, fitted on the validation split:
//!                crate::stacking) ─► quality [B,C]
//!             (M: one learned vector per candidate; P: one prior logit per (category, candidate))
//!        h ─► Linear ─► category logits [B,K] (training target: the prompt's (dataset, category))
//!        h ─► Linear ─► softmax ─► task_probs [B,T]
//! ```
//!
//! The predicted-category prior gives the network, for free, what the per-category prior
//! baseline knows from the label: when the category head recognises a prompt's subject
//! (p(c|x) close to one-hot), the candidate's prior logit for that subject (initialised from
//! the train split's means, then learned) is added to its quality logit, and the
//! matrix-factorisation term only has to model what differs from that prompt to the next.
//!
//! The quality head is matrix-factorisation style (as RouteLLM's best router): every
//! candidate model is a learned vector in the same space as the prompt vector, so a
//! model with few labels still shares the prompt representation learned from all others.
//! The ONNX exporter ([`crate::onnx`]) writes exactly this graph; keep them in step.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Hyper-parameters of the network; stored in the manifest's training summary.
///
/// The defaults are the shipped router's settings (what `train` uses without flags, and what
/// `models/default/manifest.json` records); only the data's shape is required: `buckets`
/// (the featurizer's), `dense_dim`, `n_candidates` and `n_tasks`, plus `n_categories` when
/// the category head is trained.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Number of hash buckets of the featurizer (rows of the embedding table).
    pub buckets: usize,
    /// Number of dense features the featurizer emits.
    pub dense_dim: usize,
    /// Number of candidate models (outputs of the quality head).
    pub n_candidates: usize,
    /// Number of task classes (outputs of the auxiliary task head).
    pub n_tasks: usize,
    /// Width of the embedding bag.
    #[config(default = 16)]
    pub embed_dim: usize,
    /// Width of the hidden layer.
    #[config(default = 128)]
    pub hidden: usize,
    /// Width of the prompt vector and of each model's learned vector.
    #[config(default = 32)]
    pub factor_dim: usize,
    /// Dropout probability on the hidden layer during training.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Standard deviation of the embedding table's initial values.
    #[config(default = 0.1)]
    pub embed_init_std: f64,
    /// Fine-grained (dataset, category) classes of the category head (0: no head), which
    /// learns to recognise a prompt's (dataset, category) from its text (MMLU's subject,
    /// MMLU-Pro's category are training targets, never network inputs). Without
    /// `category_prior` it only shapes the hidden layer and is not exported; with it, it is
    /// part of the exported graph. Set from the data (`train` uses the train split's classes).
    #[config(default = 0)]
    pub n_categories: usize,
    /// Add a per-prompt difficulty to every candidate's quality logit (one scalar from the
    /// hidden layer, shared by all models): easy or hard prompts move all models together.
    /// On by default since training covers the 43–51-model ZeroEval sets, where a prompt's
    /// difficulty is well measured (validation split: GSM8K APGR 0.536 → 0.646, MMLU 0.662
    /// → 0.669, MMLU-Pro level; docs/benchmarks.md).
    #[config(default = true)]
    pub difficulty: bool,
    /// Add the predicted-category prior `softmax(category logits / T) · P` to the quality
    /// logits (needs `n_categories > 0`, else it is off; the category head and `P` are then
    /// exported).
    #[config(default = true)]
    pub category_prior: bool,
    /// Temperature `T` of the category softmax in the prior (1: the head's own probabilities;
    /// above 1 spreads the prior over similar categories).
    #[config(default = 1.0)]
    pub category_temperature: f64,
    /// Train the category head on its own cross-entropy only: the quality loss reaches the
    /// prior table but not, through the softmax, the category head.
    #[config(default = false)]
    pub category_prior_detach: bool,
}

/// The router network (see the module docs for the graph).
#[derive(Module, Debug)]
pub struct RouterModel<B: Backend> {
    /// Hashed-feature embedding table `[buckets, embed_dim]`.
    pub embedding: Embedding<B>,
    /// First layer of the MLP `[embed_dim + dense_dim, hidden]`.
    pub hidden: Linear<B>,
    /// Projection of the hidden layer to the prompt vector `[hidden, factor_dim]`.
    pub prompt_proj: Linear<B>,
    /// One learned vector per candidate model `[n_candidates, factor_dim]`.
    pub model_vectors: Param<Tensor<B, 2>>,
    /// Per-candidate bias `[n_candidates]` (the model's base rate, in logits).
    pub model_bias: Param<Tensor<B, 1>>,
    /// Auxiliary task classifier `[hidden, n_tasks]`.
    pub task_head: Linear<B>,
    /// (dataset, category) classifier `[hidden, n_categories]`; exported with the prior
    /// table, training-only without it.
    pub category_head: Option<Linear<B>>,
    /// Per-prompt difficulty `[hidden, 1]`, added to all quality logits (exported).
    pub difficulty: Option<Linear<B>>,
    /// Prior logit of every candidate in every category `[n_categories, n_candidates]`,
    /// weighted by the category head's softmax and added to the quality logits (exported).
    pub prior_table: Option<Param<Tensor<B, 2>>>,
    /// The category-mean rule stacked onto the network's output (fitted after training on the
    /// validation split, never learned; see [`crate::stacking`]): `quality = q + a(x) ·
    /// (r(x) − q)` with `r(x) = softmax(category / T) · R` (R: each candidate's train-split mean
    /// per category, probabilities) and `a(x) = softmax(category / T) · A` (A: one weight per
    /// category, that of its dataset). `None`: the network's `q` as trained.
    pub rule: Option<CategoryRule<B>>,
    /// `1 / category_temperature` (a constant, not learned).
    pub prior_inv_temperature: f64,
    /// See [`ModelConfig::category_prior_detach`].
    pub prior_detach: bool,
    /// Dropout on the hidden layer (active only on an autodiff backend).
    pub dropout: Dropout,
}

/// The network's outputs before the final non-linearities (used by the loss).
#[derive(Debug, Clone)]
pub struct RouterLogits<B: Backend> {
    /// Quality logits `[batch, n_candidates]`.
    pub quality: Tensor<B, 2>,
    /// Task logits `[batch, n_tasks]`.
    pub task: Tensor<B, 2>,
    /// Category logits `[batch, n_categories]` when the model has the head.
    pub category: Option<Tensor<B, 2>>,
}

/// The network's outputs as the ONNX graph emits them.
#[derive(Debug, Clone)]
pub struct RouterOutput<B: Backend> {
    /// Sigmoid of the quality logits `[batch, n_candidates]`.
    pub quality: Tensor<B, 2>,
    /// Softmax of the task logits `[batch, n_tasks]`.
    pub task_probs: Tensor<B, 2>,
}

impl ModelConfig {
    /// Builds the network with freshly initialised parameters on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RouterModel<B> {
        let embedding = EmbeddingConfig::new(self.buckets, self.embed_dim)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: self.embed_init_std,
            })
            .init(device);
        let model_vectors = Initializer::Normal {
            mean: 0.0,
            std: 1.0 / (self.factor_dim as f64).sqrt(),
        }
        .init([self.n_candidates, self.factor_dim], device);
        let model_bias = Initializer::Zeros.init([self.n_candidates], device);
        RouterModel {
            embedding,
            hidden: LinearConfig::new(self.embed_dim + self.dense_dim, self.hidden).init(device),
            prompt_proj: LinearConfig::new(self.hidden, self.factor_dim).init(device),
            model_vectors,
            model_bias,
            task_head: LinearConfig::new(self.hidden, self.n_tasks).init(device),
            difficulty: self
                .difficulty
                .then(|| LinearConfig::new(self.hidden, 1).init(device)),
            category_head: (self.n_categories > 0)
                .then(|| LinearConfig::new(self.hidden, self.n_categories).init(device)),
            prior_table: (self.category_prior && self.n_categories > 0)
                .then(|| Initializer::Zeros.init([self.n_categories, self.n_candidates], device)),
            rule: None,
            prior_inv_temperature: 1.0 / self.category_temperature,
            prior_detach: self.category_prior_detach,
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl<B: Backend> RouterModel<B> {
    /// Sets the predicted-category prior table (row-major `[n_categories, n_candidates]`,
    /// logits), e.g. to the train split's per-category means; a no-op without the prior.
    pub fn with_prior_table(mut self, logits: &[f32], device: &B::Device) -> Self {
        if let Some(table) = &self.prior_table {
            let [k, c] = table.dims();
            if logits.len() == k * c {
                let values = Tensor::<B, 2>::from_data(
                    burn::tensor::TensorData::new(logits.to_vec(), [k, c]),
                    device,
                );
                self.prior_table = Some(Param::from_tensor(values));
            }
        }
        self
    }

    /// Stacks the category-mean rule onto the network (see [`RouterModel::rule`]): `means`
    /// row-major `[n_categories, n_candidates]` (probabilities), `weights` one per category.
    /// `None`, a model without the category head, or other lengths: the network as trained.
    pub fn with_rule(mut self, rule: Option<(&[f32], &[f32])>, device: &B::Device) -> Self {
        let shape = self.prior_table.as_ref().map(|t| t.dims());
        self.rule = match (rule, shape) {
            (Some((means, weights)), Some([k, c]))
                if means.len() == k * c && weights.len() == k =>
            {
                let tensor = |values: &[f32], dims: [usize; 2]| {
                    Param::from_tensor(Tensor::from_data(
                        burn::tensor::TensorData::new(values.to_vec(), dims),
                        device,
                    ))
                };
                Some(CategoryRule {
                    means: tensor(means, [k, c]),
                    weights: tensor(weights, [k, 1]),
                })
            }
            _ => None,
        };
        self
    }
}

/// The stacked category-mean rule (see [`RouterModel::rule`]).
#[derive(Module, Debug)]
pub struct CategoryRule<B: Backend> {
    /// Each candidate's mean label per category `[n_categories, n_candidates]`.
    pub means: Param<Tensor<B, 2>>,
    /// The rule's weight per category `[n_categories, 1]`.
    pub weights: Param<Tensor<B, 2>>,
}

impl<B: Backend> RouterModel<B> {
    /// Width of the `dense` input (the first layer's inputs beyond the embedding bag).
    pub fn dense_dim(&self) -> usize {
        self.hidden.weight.dims()[0] - self.embedding.weight.dims()[1]
    }

    /// Runs the network up to the logits of its heads.
    ///
    /// Shapes: `ids` `[batch, width]`, `weights` `[batch, width]`, `dense` `[batch, dense_dim]`.
    pub fn forward_logits(
        &self,
        ids: Tensor<B, 2, Int>,
        weights: Tensor<B, 2>,
        dense: Tensor<B, 2>,
    ) -> RouterLogits<B> {
        let embedded = self.embedding.forward(ids); // [B, W, E]
        let bag: Tensor<B, 2> = (embedded * weights.unsqueeze_dim::<3>(2))
            .sum_dim(1)
            .squeeze_dim(1);
        let x = Tensor::cat(vec![bag, dense], 1);
        let h = self.dropout.forward(relu(self.hidden.forward(x)));
        let prompt = self.prompt_proj.forward(h.clone()); // [B, F]
        let mf = prompt.matmul(self.model_vectors.val().transpose());
        let bias = self.model_bias.val().unsqueeze_dim::<2>(0);
        let difficulty = self.difficulty.as_ref().map(|d| d.forward(h.clone())); // [B, 1]
        let category = self.category_head.as_ref().map(|l| l.forward(h.clone()));
        let prior_probs = match (&self.prior_table, &category) {
            (Some(_), Some(category)) => {
                let scaled = if self.prior_inv_temperature == 1.0 {
                    category.clone()
                } else {
                    category.clone() * self.prior_inv_temperature
                };
                let probs = softmax(scaled, 1);
                Some(if self.prior_detach {
                    probs.detach()
                } else {
                    probs
                })
            }
            _ => None,
        };
        // The sums run in the order the ONNX graph adds them (crate::onnx::graph).
        let mut quality = mf + bias;
        if let Some(d) = difficulty {
            quality = quality + d; // [B, 1] broadcast over candidates
        }
        if let (Some(table), Some(probs)) = (&self.prior_table, prior_probs) {
            quality = quality + probs.matmul(table.val()); // [B,K]·[K,C]
        }
        let task = self.task_head.forward(h);
        RouterLogits {
            quality,
            task,
            category,
        }
    }

    /// Runs the network and applies the heads' output functions, as the ONNX graph does.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        weights: Tensor<B, 2>,
        dense: Tensor<B, 2>,
    ) -> RouterOutput<B> {
        let logits = self.forward_logits(ids, weights, dense);
        let mut quality = sigmoid(logits.quality);
        if let (Some(rule), Some(category)) = (&self.rule, logits.category) {
            let probs = softmax(category * self.prior_inv_temperature, 1);
            let rule_quality = probs.clone().matmul(rule.means.val()); // [B,K]·[K,C]
            let weight = probs.matmul(rule.weights.val()); // [B,K]·[K,1]
            quality = quality.clone() + (rule_quality - quality) * weight;
        }
        RouterOutput {
            quality,
            task_probs: softmax(logits.task, 1),
        }
    }
}

/// Several independently trained networks (different seeds) whose outputs are averaged:
/// `quality` is the mean of the members' sigmoid outputs, `task_probs` the mean of their
/// softmax outputs. Averaging cancels much of each member's seed-specific noise, which the
/// argmax of the routing policy is sensitive to. The ONNX graph averages the same way.
#[derive(Debug, Clone)]
pub struct RouterEnsemble<B: Backend> {
    pub members: Vec<RouterModel<B>>,
}

/// The networks a scorer averages: one for a [`RouterModel`], all for a [`RouterEnsemble`].
pub trait Members<B: Backend> {
    fn members(&self) -> &[RouterModel<B>];
}

impl<B: Backend> Members<B> for RouterModel<B> {
    fn members(&self) -> &[RouterModel<B>] {
        std::slice::from_ref(self)
    }
}

impl<B: Backend> Members<B> for RouterEnsemble<B> {
    fn members(&self) -> &[RouterModel<B>] {
        &self.members
    }
}

/// The averaged outputs of `members` (see [`RouterEnsemble`]); `None` when there are none.
pub fn forward_mean<B: Backend>(
    members: &[RouterModel<B>],
    ids: Tensor<B, 2, Int>,
    weights: Tensor<B, 2>,
    dense: Tensor<B, 2>,
) -> Option<RouterOutput<B>> {
    let k = members.len();
    let mut sum: Option<RouterOutput<B>> = None;
    for m in members {
        let out = m.forward(ids.clone(), weights.clone(), dense.clone());
        sum = Some(match sum {
            None => out,
            Some(acc) => RouterOutput {
                quality: acc.quality + out.quality,
                task_probs: acc.task_probs + out.task_probs,
            },
        });
    }
    sum.map(|s| {
        if k == 1 {
            return s;
        }
        RouterOutput {
            quality: s.quality / k as f64,
            task_probs: s.task_probs / k as f64,
        }
    })
}

/// Log-probabilities of the task head (used by the cross-entropy term).
pub fn task_log_probs<B: Backend>(task_logits: Tensor<B, 2>) -> Tensor<B, 2> {
    log_softmax(task_logits, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;

    #[test]
    fn shapes_follow_the_contract() {
        let device = Default::default();
        let model = ModelConfig::new(64, 3, 5, 4).init::<B>(&device);
        let ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(vec![1i64, 2, 0, 3, 4, 5], [2, 3]),
            &device,
        );
        let weights = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.5f32, 0.5, 0.0, 0.3, 0.3, 0.4], [2, 3]),
            &device,
        );
        let dense = Tensor::<B, 2>::from_data(TensorData::new(vec![0.1f32; 6], [2, 3]), &device);
        let out = model.forward(ids, weights, dense);
        assert_eq!(out.quality.dims(), [2, 5]);
        assert_eq!(out.task_probs.dims(), [2, 4]);
        let probs = out
            .task_probs
            .sum_dim(1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for p in probs {
            assert!((p - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn padding_with_zero_weight_changes_nothing() {
        let device = Default::default();
        let model = ModelConfig::new(64, 2, 3, 2).init::<B>(&device);
        let run = |ids: Vec<i64>, w: Vec<f32>, width: usize| {
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, width]), &device);
            let w = Tensor::<B, 2>::from_data(TensorData::new(w, [1, width]), &device);
            let dense =
                Tensor::<B, 2>::from_data(TensorData::new(vec![0.2f32, -0.1], [1, 2]), &device);
            model
                .forward(ids, w, dense)
                .quality
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let a = run(vec![7, 9], vec![0.6, 0.8], 2);
        let b = run(vec![7, 9, 0, 0], vec![0.6, 0.8, 0.0, 0.0], 4);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}
