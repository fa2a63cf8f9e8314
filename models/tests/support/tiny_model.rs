//! A tiny router MLP written as ONNX with `models::onnx_proto`, plus the same computation in
//! plain Rust, so tests can check ONNX Runtime's scores against a reference.
//!
//! Graph: MatMul(Unsqueeze(weights), Gather(embedding, ids)) → Squeeze → Concat(dense)
//! → Gemm → Sigmoid (`quality`), and → Gemm → Softmax (`task_probs`).
#![allow(dead_code)] // each test target uses a different part
#![allow(clippy::unwrap_used)] // test support: failing loudly is the point

use std::path::Path;

use models::FeatureBatch;
use models::manifest::{CandidateModel, Manifest};
use models::onnx_proto::{
    GraphProto, attr_int, data_type, encode, model, node, tensor_f32, tensor_i64, value_info,
};

pub struct TinyModel {
    pub buckets: usize,
    pub hidden: usize,
    pub dense_dim: usize,
    pub n_candidates: usize,
    pub n_tasks: usize,
    pub embedding: Vec<f32>,
    pub w_quality: Vec<f32>,
    pub b_quality: Vec<f32>,
    pub w_task: Vec<f32>,
    pub b_task: Vec<f32>,
}

/// Deterministic pseudo-random weights in [-scale, scale].
fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            (unit * 2.0 - 1.0) * scale
        })
        .collect()
}

impl TinyModel {
    pub fn new(
        buckets: usize,
        hidden: usize,
        dense_dim: usize,
        n_candidates: usize,
        n_tasks: usize,
        seed: u64,
    ) -> TinyModel {
        let input = hidden + dense_dim;
        TinyModel {
            buckets,
            hidden,
            dense_dim,
            n_candidates,
            n_tasks,
            embedding: weights(buckets * hidden, seed, 1.0),
            w_quality: weights(input * n_candidates, seed + 1, 0.5),
            b_quality: weights(n_candidates, seed + 2, 0.1),
            w_task: weights(input * n_tasks, seed + 3, 0.5),
            b_task: weights(n_tasks, seed + 4, 0.1),
        }
    }

    pub fn onnx_bytes(&self) -> Vec<u8> {
        let (h, d) = (self.hidden as i64, self.dense_dim as i64);
        let (n, t) = (self.n_candidates as i64, self.n_tasks as i64);
        let graph = GraphProto {
            name: "tiny_router".into(),
            node: vec![
                node(
                    "Gather",
                    "gather",
                    &["embedding", "ids"],
                    &["gathered"],
                    vec![attr_int("axis", 0)],
                ),
                node(
                    "Unsqueeze",
                    "unsqueeze",
                    &["weights", "axis1"],
                    &["weights_row"],
                    vec![],
                ),
                node(
                    "MatMul",
                    "bag",
                    &["weights_row", "gathered"],
                    &["pooled_row"],
                    vec![],
                ),
                node(
                    "Squeeze",
                    "squeeze",
                    &["pooled_row", "axis1"],
                    &["pooled"],
                    vec![],
                ),
                node(
                    "Concat",
                    "concat",
                    &["pooled", "dense"],
                    &["hidden"],
                    vec![attr_int("axis", 1)],
                ),
                node(
                    "Gemm",
                    "gemm_q",
                    &["hidden", "w_quality", "b_quality"],
                    &["logits_q"],
                    vec![],
                ),
                node("Sigmoid", "sigmoid", &["logits_q"], &["quality"], vec![]),
                node(
                    "Gemm",
                    "gemm_t",
                    &["hidden", "w_task", "b_task"],
                    &["logits_t"],
                    vec![],
                ),
                node(
                    "Softmax",
                    "softmax",
                    &["logits_t"],
                    &["task_probs"],
                    vec![attr_int("axis", 1)],
                ),
            ],
            initializer: vec![
                tensor_f32("embedding", &[self.buckets as i64, h], &self.embedding),
                tensor_i64("axis1", &[1], &[1]),
                tensor_f32("w_quality", &[h + d, n], &self.w_quality),
                tensor_f32("b_quality", &[n], &self.b_quality),
                tensor_f32("w_task", &[h + d, t], &self.w_task),
                tensor_f32("b_task", &[t], &self.b_task),
            ],
            input: vec![
                value_info("ids", data_type::INT64, &["batch".into(), "width".into()]),
                value_info(
                    "weights",
                    data_type::FLOAT,
                    &["batch".into(), "width".into()],
                ),
                value_info("dense", data_type::FLOAT, &["batch".into(), d.into()]),
            ],
            output: vec![
                value_info("quality", data_type::FLOAT, &["batch".into(), n.into()]),
                value_info("task_probs", data_type::FLOAT, &["batch".into(), t.into()]),
            ],
            ..GraphProto::default()
        };
        encode(&model(graph, 17, "models-tests"))
    }

    /// The graph's computation in plain Rust: `(quality, task_probs)` per row.
    pub fn reference(&self, batch: &FeatureBatch) -> Vec<(Vec<f32>, Vec<f32>)> {
        (0..batch.batch)
            .map(|r| {
                let (ids, ws, dense) = batch.row(r).unwrap();
                let mut x = vec![0f32; self.hidden + self.dense_dim];
                for (&id, &w) in ids.iter().zip(ws) {
                    let row = &self.embedding[id as usize * self.hidden..][..self.hidden];
                    for (acc, e) in x.iter_mut().zip(row) {
                        *acc += e * w;
                    }
                }
                x[self.hidden..].copy_from_slice(dense);
                let affine = |w: &[f32], b: &[f32], n: usize| -> Vec<f32> {
                    (0..n)
                        .map(|j| {
                            b[j] + x
                                .iter()
                                .enumerate()
                                .map(|(i, xi)| xi * w[i * n + j])
                                .sum::<f32>()
                        })
                        .collect()
                };
                let quality = affine(&self.w_quality, &self.b_quality, self.n_candidates)
                    .into_iter()
                    .map(|z| 1.0 / (1.0 + (-z).exp()))
                    .collect();
                let logits = affine(&self.w_task, &self.b_task, self.n_tasks);
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = logits.iter().map(|z| (z - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                (quality, exp.into_iter().map(|e| e / sum).collect())
            })
            .collect()
    }
}

/// A manifest for `n` candidates `model-0..n` with the default featurizer and tasks,
/// but `buckets` hashed ids.
pub fn manifest(n_candidates: usize, buckets: u32) -> Manifest {
    let candidates = (0..n_candidates)
        .map(|i| CandidateModel {
            name: format!("model-{i}"),
            input_usd_per_mtok: Some(1.0 + i as f64),
            output_usd_per_mtok: Some(2.0 + i as f64),
            expected_output_tokens: 300.0,
        })
        .collect();
    let mut m = Manifest::new("tiny", candidates);
    let models::FeaturizerConfig::HashedNgrams(config) = &mut m.featurizer;
    config.buckets = buckets;
    m
}

/// Writes `router.onnx` and `manifest.json` into `dir`.
pub fn write_artifact(dir: &Path, manifest: &Manifest, model: &TinyModel) {
    manifest.write(dir).unwrap();
    std::fs::write(dir.join("router.onnx"), model.onnx_bytes()).unwrap();
}

/// A matching manifest + model in `dir`.
pub fn tiny_artifact(
    dir: &Path,
    n_candidates: usize,
    buckets: u32,
    hidden: usize,
) -> (Manifest, TinyModel) {
    let m = manifest(n_candidates, buckets);
    let model = TinyModel::new(
        buckets as usize,
        hidden,
        m.featurizer.dense_dim(),
        n_candidates,
        m.tasks.len(),
        42,
    );
    write_artifact(dir, &m, &model);
    (m, model)
}
