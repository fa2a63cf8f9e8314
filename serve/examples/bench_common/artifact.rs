//! A synthetic router artifact and a gateway config for benchmarks and crash tests.
//!
//! The gateway binary loads its router from a directory (`router.onnx` + `manifest.json`).
//! When the shipped router (`models/default`) is not there, the benchmark and the
//! crash-consistency test write this one instead: the same graph shape as the trained
//! router (embedding bag over the hashed features → linear quality head with a sigmoid,
//! linear task head with a softmax), the default featurizer with a smaller id space, and
//! deterministic pseudo-random weights. The ONNX protobuf is encoded by hand (a few
//! fields of `onnx.proto`) so that `serve`'s dev-dependencies need no `models` feature.
//!
//! Shared by `bench_artifact` (example) and `tests/crash_consistency.rs` through `#[path]`.
#![allow(dead_code)]

use std::path::Path;

use models::{CandidateModel, FeaturizerConfig, Manifest};

/// Hashed id space of the synthetic router (the default featurizer uses 2^18).
pub const BUCKETS: u32 = 1 << 14;
/// Width of the embedding bag.
pub const HIDDEN: usize = 32;

/// The synthetic router's candidates: names and prices of the usual benchmark models.
pub fn candidates() -> Vec<CandidateModel> {
    let c = |name: &str, i: f64, o: f64| CandidateModel {
        name: name.to_string(),
        input_usd_per_mtok: Some(i),
        output_usd_per_mtok: Some(o),
        expected_output_tokens: 250.0,
    };
    vec![
        c("gpt-4-1106-preview", 10.0, 30.0),
        c("claude-2", 8.0, 24.0),
        c("gpt-3.5-turbo-1106", 1.0, 2.0),
        c("mistralai/Mixtral-8x7B-Instruct-v0.1", 0.6, 0.6),
        c("meta/llama-2-70b-chat", 0.9, 0.9),
    ]
}

/// Writes `router.onnx` and `manifest.json` of the synthetic router into `dir`.
pub fn write_synthetic_router(dir: &Path) -> Result<Manifest, String> {
    let mut manifest = Manifest::new("synthetic-bench-router", candidates());
    let FeaturizerConfig::HashedNgrams(config) = &mut manifest.featurizer;
    config.buckets = BUCKETS;
    manifest
        .write(dir)
        .map_err(|e| format!("writing the manifest: {e}"))?;
    let onnx = onnx_bytes(
        BUCKETS as usize,
        HIDDEN,
        manifest.featurizer.dense_dim(),
        manifest.candidates.len(),
        manifest.tasks.len(),
    );
    std::fs::write(dir.join("router.onnx"), onnx)
        .map_err(|e| format!("writing {}: {e}", dir.join("router.onnx").display()))?;
    Ok(manifest)
}

/// A gateway config whose every catalog model (the router's priced candidates) is served by
/// the one upstream at `upstream` (`http://127.0.0.1:port/v1`); no client keys; the decision
/// log in `log_dir`. `extra` is appended verbatim (more sections, e.g. `[breaker]`).
/// Candidates without a price are left out, as the built-in catalog leaves them out: a price
/// is never guessed (the router sees them as not in the catalog).
pub fn gateway_config_toml(
    manifest: &Manifest,
    router_dir: &Path,
    upstream: &str,
    log_dir: &Path,
    listen: &str,
    audit_extra: &str,
) -> String {
    let path = |p: &Path| p.display().to_string().replace('\\', "/");
    let mut out = format!(
        "# Generated for a benchmark: every model is served by the stub at {upstream}.\n\
         listen = \"{listen}\"\n\
         router_dir = \"{router}\"\n\n\
         [audit]\n\
         dir = \"{log}\"\n\
         {audit_extra}\n\n\
         [limits]\n\
         max_concurrency = 4096\n",
        router = path(router_dir),
        log = path(log_dir),
    );
    for c in &manifest.candidates {
        let (Some(input), Some(output)) = (c.input_usd_per_mtok, c.output_usd_per_mtok) else {
            continue;
        };
        let key = c.name.replace('"', "\\\"");
        out.push_str(&format!(
            "\n[models.\"{key}\"]\n\
             context_length = 128000\n\
             [[models.\"{key}\".providers]]\n\
             name = \"stub\"\n\
             base_url = \"{upstream}\"\n\
             input_usd_per_mtok = {:?}\n\
             output_usd_per_mtok = {:?}\n\
             timeout_secs = 10\n",
            input, output,
        ));
    }
    out
}

/// Deterministic pseudo-random weights in [-scale, scale] (an LCG: no `rand` needed).
fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            (unit * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The graph (the bag as `train` exports it): Gather(embedding, ids) → MatMul(weights) → Concat(dense) → Gemm →
/// Sigmoid (`quality`) and → Gemm → Softmax (`task_probs`).
pub fn onnx_bytes(
    buckets: usize,
    hidden: usize,
    dense: usize,
    n_cand: usize,
    n_tasks: usize,
) -> Vec<u8> {
    let (h, d, n, t) = (hidden as i64, dense as i64, n_cand as i64, n_tasks as i64);
    let input = hidden + dense;
    let mut graph = Vec::new();
    let nodes: [NodeSpec; 9] = [
        (
            "Gather",
            &["embedding", "ids"],
            "gathered",
            Some(("axis", 0)),
        ),
        ("Unsqueeze", &["weights", "axis1"], "weights_row", None),
        ("MatMul", &["weights_row", "gathered"], "pooled_row", None),
        ("Squeeze", &["pooled_row", "axis1"], "pooled", None),
        ("Concat", &["pooled", "dense"], "hidden", Some(("axis", 1))),
        (
            "Gemm",
            &["hidden", "w_quality", "b_quality"],
            "logits_q",
            None,
        ),
        ("Sigmoid", &["logits_q"], "quality", None),
        ("Gemm", &["hidden", "w_task", "b_task"], "logits_t", None),
        ("Softmax", &["logits_t"], "task_probs", Some(("axis", 1))),
    ];
    for (i, (op, inputs, output, attr)) in nodes.iter().enumerate() {
        let mut node = Vec::new();
        for inp in *inputs {
            pb::string(&mut node, 1, inp);
        }
        pb::string(&mut node, 2, output);
        pb::string(&mut node, 3, &format!("n{i}_{op}"));
        pb::string(&mut node, 4, op);
        if let Some((name, value)) = attr {
            let mut a = Vec::new();
            pb::string(&mut a, 1, name);
            pb::int(&mut a, 3, *value);
            pb::int(&mut a, 20, 2); // AttributeType INT
            pb::message(&mut node, 5, &a);
        }
        pb::message(&mut graph, 1, &node);
    }
    pb::string(&mut graph, 2, "synthetic_router");
    let inits: [(&str, Vec<i64>, Tensor); 6] = [
        (
            "embedding",
            vec![buckets as i64, h],
            Tensor::F32(weights(buckets * hidden, 42, 1.0)),
        ),
        ("axis1", vec![1], Tensor::I64(vec![1])),
        (
            "w_quality",
            vec![h + d, n],
            Tensor::F32(weights(input * n_cand, 43, 0.5)),
        ),
        ("b_quality", vec![n], Tensor::F32(weights(n_cand, 44, 0.1))),
        (
            "w_task",
            vec![h + d, t],
            Tensor::F32(weights(input * n_tasks, 45, 0.5)),
        ),
        ("b_task", vec![t], Tensor::F32(weights(n_tasks, 46, 0.1))),
    ];
    for (name, dims, data) in &inits {
        let mut tensor = Vec::new();
        for dim in dims {
            pb::int(&mut tensor, 1, *dim);
        }
        let (dtype, raw): (i64, Vec<u8>) = match data {
            Tensor::F32(v) => (1, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Tensor::I64(v) => (7, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        pb::int(&mut tensor, 2, dtype);
        pb::string(&mut tensor, 8, name);
        pb::bytes(&mut tensor, 9, &raw);
        pb::message(&mut graph, 5, &tensor);
    }
    let io = |name: &str, elem: i64, dims: &[Dim]| {
        let mut shape = Vec::new();
        for dim in dims {
            let mut dm = Vec::new();
            match dim {
                Dim::Fixed(v) => pb::int(&mut dm, 1, *v),
                Dim::Named(s) => pb::string(&mut dm, 2, s),
            }
            pb::message(&mut shape, 1, &dm);
        }
        let mut tensor_type = Vec::new();
        pb::int(&mut tensor_type, 1, elem);
        pb::message(&mut tensor_type, 2, &shape);
        let mut type_proto = Vec::new();
        pb::message(&mut type_proto, 1, &tensor_type);
        let mut vi = Vec::new();
        pb::string(&mut vi, 1, name);
        pb::message(&mut vi, 2, &type_proto);
        vi
    };
    let batch = Dim::Named("batch");
    let width = Dim::Named("width");
    pb::message(&mut graph, 11, &io("ids", 7, &[batch, width]));
    pb::message(&mut graph, 11, &io("weights", 1, &[batch, width]));
    pb::message(&mut graph, 11, &io("dense", 1, &[batch, Dim::Fixed(d)]));
    pb::message(&mut graph, 12, &io("quality", 1, &[batch, Dim::Fixed(n)]));
    pb::message(
        &mut graph,
        12,
        &io("task_probs", 1, &[batch, Dim::Fixed(t)]),
    );

    let mut model = Vec::new();
    pb::int(&mut model, 1, 8); // ir_version
    pb::string(&mut model, 2, "serve-bench");
    pb::message(&mut model, 7, &graph);
    let mut opset = Vec::new();
    pb::string(&mut opset, 1, "");
    pb::int(&mut opset, 2, 17);
    pb::message(&mut model, 8, &opset);
    model
}

/// One graph node: op type, inputs, output, and an optional INT attribute.
type NodeSpec = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Option<(&'static str, i64)>,
);

enum Tensor {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

#[derive(Clone, Copy)]
enum Dim {
    Fixed(i64),
    Named(&'static str),
}

/// The protobuf wire format, as much as the graph needs.
mod pb {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An int32/int64/enum field (negative values as 10-byte varints, as protobuf does).
    pub fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        key(out, field, 0);
        varint(out, v as u64);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn string(out: &mut Vec<u8>, field: u32, s: &str) {
        bytes(out, field, s.as_bytes());
    }

    pub fn message(out: &mut Vec<u8>, field: u32, m: &[u8]) {
        bytes(out, field, m);
    }
}
