//! The ONNX graph of the router network.
//!
//! ```text
//! Gather(embedding, ids) ─► MatMul(Unsqueeze(weights, [1]), ·) ─► Squeeze([1]) ─► bag
//! Concat(bag, dense) ─► MatMul+Add ─► Relu ─► h
//! h ─► MatMul+Add ─► prompt ─► MatMul(model_vectorsᵀ)+Add(model_bias) ─► quality_mf
//! [optional] h ─► MatMul+Add ─► difficulty; quality_mf + difficulty
//! [optional] h ─► MatMul+Add ─► (Mul 1/T) ─► Softmax(axis 1) ─► MatMul(prior_table) ─► + quality
//! [optional, with the prior] q + MatMul(category probs, rule_weights)
//!            · (MatMul(category probs, rule_means) − q), the stacked category-mean rule
//! quality logits ─► Sigmoid ─► quality
//! h ─► MatMul+Add ─► Softmax(axis 1) ─► task_probs
//! ```
//!
//! An ensemble repeats that graph once per member (values prefixed `m<i>/`) and averages the
//! members' `quality` and `task_probs` with `Mean` nodes, as [`crate::model::forward_mean`] does.
//!
//! Linear layers are written as `MatMul` + `Add` rather than `Gemm`: the same two operations
//! burn runs, in the same order, so the exported scores match the trained network's.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use models::OnnxIo;
use models::onnx_proto::{self, Dim, GraphProto, ModelProto, NodeProto, TensorProto, data_type};

use crate::model::{Members, RouterModel};

/// The ONNX opset the exporter targets (`Unsqueeze` and `Squeeze` take axes as inputs).
pub const OPSET: i64 = 17;

/// Name of the dynamic batch dimension.
const BATCH: &str = "batch";
/// Name of the dynamic sparse-feature dimension.
const WIDTH: &str = "width";

/// Why a network could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A parameter had an unexpected shape (a bug, or a model built for another config).
    #[error("parameter `{name}` has shape {found:?}, expected {expected}")]
    Shape {
        name: &'static str,
        found: Vec<usize>,
        expected: String,
    },
    /// An ensemble member's sizes differ from the first member's.
    #[error("ensemble member {member} has sizes {found}, the first member {expected}")]
    Members {
        member: usize,
        found: String,
        expected: String,
    },
    /// An ensemble without members.
    #[error("nothing to export: the ensemble has no members")]
    Empty,
}

/// Builds the ONNX model of `model` (one network, or an ensemble whose members' outputs are
/// averaged with `Mean` nodes) with the I/O names of `io`.
pub fn export_model<B: Backend, M: Members<B> + ?Sized>(
    model: &M,
    io: &OnnxIo,
) -> Result<ModelProto, ExportError> {
    let members = model.members();
    let k = members.len();
    if k == 0 {
        return Err(ExportError::Empty);
    }
    let mut initializer = Vec::new();
    let mut nodes = Vec::new();
    let mut shape: Option<MemberShape> = None;
    let (mut qualities, mut tasks) = (Vec::new(), Vec::new());
    for (i, member) in members.iter().enumerate() {
        // One network keeps the plain names; ensemble members get a `m<i>/` prefix.
        let prefix = if k == 1 {
            String::new()
        } else {
            format!("m{i}/")
        };
        let (quality, task) = if k == 1 {
            (io.quality.clone(), io.task_probs.clone())
        } else {
            (format!("{prefix}quality"), format!("{prefix}task_probs"))
        };
        let part = member_graph(member, &prefix, io, &quality, &task)?;
        if let Some(expected) = &shape
            && *expected != part.shape
        {
            return Err(ExportError::Members {
                member: i,
                found: format!("{:?}", part.shape),
                expected: format!("{expected:?}"),
            });
        }
        shape = Some(part.shape);
        initializer.extend(part.initializer);
        nodes.extend(part.nodes);
        qualities.push(quality);
        tasks.push(task);
    }
    if k > 1 {
        let q_refs: Vec<&str> = qualities.iter().map(String::as_str).collect();
        let t_refs: Vec<&str> = tasks.iter().map(String::as_str).collect();
        nodes.push(onnx_proto::node(
            "Mean",
            "quality_mean",
            &q_refs,
            &[&io.quality],
            vec![],
        ));
        nodes.push(onnx_proto::node(
            "Mean",
            "task_probs_mean",
            &t_refs,
            &[&io.task_probs],
            vec![],
        ));
    }
    let MemberShape {
        dense_dim,
        n_candidates,
        n_tasks,
        ..
    } = shape.ok_or(ExportError::Empty)?;

    let graph = GraphProto {
        node: nodes,
        name: "arbiter_router".into(),
        initializer,
        doc_string: format!(
            "Arbiter router: hashed n-gram embedding bag + MLP; quality = sigmoid(prompt · model vectors + bias [+ difficulty] [+ softmax(category logits / T) · prior table]), task_probs = softmax{}",
            if k > 1 {
                format!("; mean of {k} ensemble members")
            } else {
                String::new()
            }
        ),
        input: vec![
            onnx_proto::value_info(&io.ids, data_type::INT64, &[BATCH.into(), WIDTH.into()]),
            onnx_proto::value_info(&io.weights, data_type::FLOAT, &[BATCH.into(), WIDTH.into()]),
            onnx_proto::value_info(
                &io.dense,
                data_type::FLOAT,
                &[BATCH.into(), Dim::Fixed(dense_dim as i64)],
            ),
        ],
        output: vec![
            onnx_proto::value_info(
                &io.quality,
                data_type::FLOAT,
                &[BATCH.into(), Dim::Fixed(n_candidates as i64)],
            ),
            onnx_proto::value_info(
                &io.task_probs,
                data_type::FLOAT,
                &[BATCH.into(), Dim::Fixed(n_tasks as i64)],
            ),
        ],
        ..GraphProto::default()
    };
    Ok(onnx_proto::model(graph, OPSET, "arbiter-train"))
}

/// The sizes that every ensemble member must share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemberShape {
    dense_dim: usize,
    n_candidates: usize,
    n_tasks: usize,
}

/// One network's initializers and nodes.
struct MemberGraph {
    initializer: Vec<TensorProto>,
    nodes: Vec<NodeProto>,
    shape: MemberShape,
}

/// The graph of one network: value names start with `prefix`; it reads the graph inputs of
/// `io` and writes its outputs to `quality_out` and `task_out`.
fn member_graph<B: Backend>(
    model: &RouterModel<B>,
    prefix: &str,
    io: &OnnxIo,
    quality_out: &str,
    task_out: &str,
) -> Result<MemberGraph, ExportError> {
    let embedding = param2("embedding.weight", &model.embedding.weight)?;
    let [buckets, embed_dim] = embedding.dims;
    let hidden = linear("hidden", &model.hidden)?;
    let prompt = linear("prompt_proj", &model.prompt_proj)?;
    let task = linear("task_head", &model.task_head)?;
    let vectors = param2("model_vectors", &model.model_vectors)?;
    let [n_candidates, factor_dim] = vectors.dims;
    let bias = model
        .model_bias
        .val()
        .into_data()
        .iter::<f32>()
        .collect::<Vec<_>>();

    let dense_dim = hidden.weight.dims[0]
        .checked_sub(embed_dim)
        .ok_or_else(|| ExportError::Shape {
            name: "hidden.weight",
            found: hidden.weight.dims.to_vec(),
            expected: format!("[embed_dim ({embed_dim}) + dense_dim, hidden]"),
        })?;
    if prompt.weight.dims[1] != factor_dim || bias.len() != n_candidates {
        return Err(ExportError::Shape {
            name: "model_vectors",
            found: vectors.dims.to_vec(),
            expected: format!("[n_candidates, {}]", prompt.weight.dims[1]),
        });
    }
    let n_tasks = task.weight.dims[1];

    // The model vectors are stored [n_candidates, factor]; the graph multiplies by their transpose.
    let mut vectors_t = vec![0f32; factor_dim * n_candidates];
    for c in 0..n_candidates {
        for f in 0..factor_dim {
            vectors_t[f * n_candidates + c] = vectors.values[c * factor_dim + f];
        }
    }

    let difficulty = model
        .difficulty
        .as_ref()
        .map(|l| linear("difficulty", l))
        .transpose()?;
    let prior = match (&model.prior_table, &model.category_head) {
        (Some(table), Some(head)) => {
            let head = linear("category_head", head)?;
            let table = param2("prior_table", table)?;
            if table.dims != [head.weight.dims[1], n_candidates] {
                return Err(ExportError::Shape {
                    name: "prior_table",
                    found: table.dims.to_vec(),
                    expected: format!("[{}, {n_candidates}]", head.weight.dims[1]),
                });
            }
            Some(CategoryPrior {
                head,
                table,
                inv_temperature: model.prior_inv_temperature,
            })
        }
        _ => None,
    };
    let rule = model
        .rule
        .as_ref()
        .map(|r| {
            Ok::<_, ExportError>((
                param2("rule_means", &r.means)?,
                param2("rule_weights", &r.weights)?,
            ))
        })
        .transpose()?;
    if let (Some((means, weights)), Some(prior)) = (&rule, &prior)
        && (means.dims != prior.table.dims || weights.dims != [prior.table.dims[0], 1])
    {
        return Err(ExportError::Shape {
            name: "rule_means",
            found: [means.dims.to_vec(), weights.dims.to_vec()].concat(),
            expected: format!("{:?} and [{}, 1]", prior.table.dims, prior.table.dims[0]),
        });
    }
    let v = |name: &str| format!("{prefix}{name}");
    let initializer: Vec<TensorProto> = vec![
        onnx_proto::tensor_f32(
            &v("embedding"),
            &dims(&[buckets, embed_dim]),
            &embedding.values,
        ),
        onnx_proto::tensor_i64(&v("axes_width"), &[1], &[1]),
        onnx_proto::tensor_f32(
            &v("hidden.weight"),
            &dims(&hidden.weight.dims),
            &hidden.weight.values,
        ),
        onnx_proto::tensor_f32(&v("hidden.bias"), &dims(&[hidden.bias.len()]), &hidden.bias),
        onnx_proto::tensor_f32(
            &v("prompt.weight"),
            &dims(&prompt.weight.dims),
            &prompt.weight.values,
        ),
        onnx_proto::tensor_f32(&v("prompt.bias"), &dims(&[prompt.bias.len()]), &prompt.bias),
        onnx_proto::tensor_f32(
            &v("model_vectors_t"),
            &dims(&[factor_dim, n_candidates]),
            &vectors_t,
        ),
        onnx_proto::tensor_f32(&v("model_bias"), &dims(&[n_candidates]), &bias),
        onnx_proto::tensor_f32(
            &v("task.weight"),
            &dims(&task.weight.dims),
            &task.weight.values,
        ),
        onnx_proto::tensor_f32(&v("task.bias"), &dims(&[task.bias.len()]), &task.bias),
    ];

    let mut initializer = initializer;
    // (op, node name, inputs, outputs, attributes); names without a prefix are graph I/O.
    type Spec<'a> = (
        &'a str,
        &'a str,
        Vec<String>,
        Vec<String>,
        Vec<onnx_proto::AttributeProto>,
    );
    let mut specs: Vec<Spec<'_>> = vec![
        (
            "Gather",
            "embed",
            vec![v("embedding"), io.ids.clone()],
            vec![v("embedded")],
            vec![onnx_proto::attr_int("axis", 0)],
        ),
        // The weighted bag sum as one batched MatMul, [batch, 1, width] × [batch, width,
        // embed] → [batch, 1, embed], rather than a broadcast Mul and a ReduceSum over the
        // width: ONNX Runtime runs the MatMul through its GEMM kernels, and the per-call
        // cost stops growing with the prompt's feature count (measured: 21 → 13 µs per
        // call at width 256, docs/benchmarks.md).
        (
            "Unsqueeze",
            "weights_row",
            vec![io.weights.clone(), v("axes_width")],
            vec![v("weights_row")],
            vec![],
        ),
        (
            "MatMul",
            "bag_mm",
            vec![v("weights_row"), v("embedded")],
            vec![v("bag_row")],
            vec![],
        ),
        (
            "Squeeze",
            "bag",
            vec![v("bag_row"), v("axes_width")],
            vec![v("bag")],
            vec![],
        ),
        (
            "Concat",
            "features",
            vec![v("bag"), io.dense.clone()],
            vec![v("features")],
            vec![onnx_proto::attr_int("axis", 1)],
        ),
        (
            "MatMul",
            "hidden_mm",
            vec![v("features"), v("hidden.weight")],
            vec![v("hidden_mm")],
            vec![],
        ),
        (
            "Add",
            "hidden_add",
            vec![v("hidden_mm"), v("hidden.bias")],
            vec![v("hidden_pre")],
            vec![],
        ),
        (
            "Relu",
            "hidden_relu",
            vec![v("hidden_pre")],
            vec![v("hidden")],
            vec![],
        ),
        (
            "MatMul",
            "prompt_mm",
            vec![v("hidden"), v("prompt.weight")],
            vec![v("prompt_mm")],
            vec![],
        ),
        (
            "Add",
            "prompt_add",
            vec![v("prompt_mm"), v("prompt.bias")],
            vec![v("prompt")],
            vec![],
        ),
        (
            "MatMul",
            "quality_mm",
            vec![v("prompt"), v("model_vectors_t")],
            vec![v("quality_mm")],
            vec![],
        ),
    ];
    // The category softmax first: both the prior and the stacked rule read it.
    if let Some(prior) = &prior {
        initializer.push(onnx_proto::tensor_f32(
            &v("category.weight"),
            &dims(&prior.head.weight.dims),
            &prior.head.weight.values,
        ));
        initializer.push(onnx_proto::tensor_f32(
            &v("category.bias"),
            &dims(&[prior.head.bias.len()]),
            &prior.head.bias,
        ));
        initializer.push(onnx_proto::tensor_f32(
            &v("prior_table"),
            &dims(&prior.table.dims),
            &prior.table.values,
        ));
        specs.extend([
            (
                "MatMul",
                "category_mm",
                vec![v("hidden"), v("category.weight")],
                vec![v("category_mm")],
                vec![],
            ),
            (
                "Add",
                "category_add",
                vec![v("category_mm"), v("category.bias")],
                vec![v("category_logits")],
                vec![],
            ),
        ]);
        let mut softmax_in = v("category_logits");
        if prior.inv_temperature != 1.0 {
            initializer.push(onnx_proto::tensor_f32(
                &v("category_inv_temperature"),
                &[],
                &[prior.inv_temperature as f32],
            ));
            specs.push((
                "Mul",
                "category_temperature",
                vec![softmax_in, v("category_inv_temperature")],
                vec![v("category_scaled")],
                vec![],
            ));
            softmax_in = v("category_scaled");
        }
        specs.push((
            "Softmax",
            "category_probs",
            vec![softmax_in],
            vec![v("category_probs")],
            vec![onnx_proto::attr_int("axis", 1)],
        ));
    }
    if let Some(d) = &difficulty {
        initializer.push(onnx_proto::tensor_f32(
            &v("difficulty.weight"),
            &dims(&d.weight.dims),
            &d.weight.values,
        ));
        initializer.push(onnx_proto::tensor_f32(
            &v("difficulty.bias"),
            &dims(&[d.bias.len()]),
            &d.bias,
        ));
        specs.extend([
            (
                "MatMul",
                "difficulty_mm",
                vec![v("hidden"), v("difficulty.weight")],
                vec![v("difficulty_mm")],
                vec![],
            ),
            (
                "Add",
                "difficulty_add",
                vec![v("difficulty_mm"), v("difficulty.bias")],
                vec![v("difficulty")],
                vec![],
            ),
        ]);
    }
    // Quality logits before the sigmoid, summed in the order burn adds them
    // (crate::model::RouterModel::forward_logits).
    specs.push((
        "Add",
        "quality_add",
        vec![v("quality_mm"), v("model_bias")],
        vec![v("quality_mf")],
        vec![],
    ));
    let mut logits = v("quality_mf");
    if difficulty.is_some() {
        // [batch, 1] broadcast over the candidates.
        specs.push((
            "Add",
            "quality_difficulty",
            vec![logits, v("difficulty")],
            vec![v("quality_with_difficulty")],
            vec![],
        ));
        logits = v("quality_with_difficulty");
    }
    if prior.is_some() {
        specs.extend([
            (
                "MatMul",
                "prior_mm",
                vec![v("category_probs"), v("prior_table")],
                vec![v("prior_logits")],
                vec![],
            ),
            (
                "Add",
                "quality_prior",
                vec![logits, v("prior_logits")],
                vec![v("quality_with_prior")],
                vec![],
            ),
        ]);
        logits = v("quality_with_prior");
    }
    match rule.as_ref().filter(|_| prior.is_some()) {
        None => specs.push((
            "Sigmoid",
            "quality",
            vec![logits],
            vec![quality_out.to_string()],
            vec![],
        )),
        // quality = q + a(x) · (r(x) − q), in the order burn computes it.
        Some((means, weights)) => {
            initializer.push(onnx_proto::tensor_f32(
                &v("rule_means"),
                &dims(&means.dims),
                &means.values,
            ));
            initializer.push(onnx_proto::tensor_f32(
                &v("rule_weights"),
                &dims(&weights.dims),
                &weights.values,
            ));
            specs.extend([
                (
                    "Sigmoid",
                    "quality_net",
                    vec![logits],
                    vec![v("quality_net")],
                    vec![],
                ),
                (
                    "MatMul",
                    "rule_quality",
                    vec![v("category_probs"), v("rule_means")],
                    vec![v("rule_quality")],
                    vec![],
                ),
                (
                    "Sub",
                    "rule_gap",
                    vec![v("rule_quality"), v("quality_net")],
                    vec![v("rule_gap")],
                    vec![],
                ),
                (
                    "MatMul",
                    "rule_weight",
                    vec![v("category_probs"), v("rule_weights")],
                    vec![v("rule_weight")],
                    vec![],
                ),
                (
                    "Mul",
                    "rule_step",
                    vec![v("rule_gap"), v("rule_weight")],
                    vec![v("rule_step")],
                    vec![],
                ),
                (
                    "Add",
                    "quality",
                    vec![v("quality_net"), v("rule_step")],
                    vec![quality_out.to_string()],
                    vec![],
                ),
            ]);
        }
    }
    specs.extend([
        (
            "MatMul",
            "task_mm",
            vec![v("hidden"), v("task.weight")],
            vec![v("task_mm")],
            vec![],
        ),
        (
            "Add",
            "task_add",
            vec![v("task_mm"), v("task.bias")],
            vec![v("task_logits")],
            vec![],
        ),
        (
            "Softmax",
            "task_probs",
            vec![v("task_logits")],
            vec![task_out.to_string()],
            vec![onnx_proto::attr_int("axis", 1)],
        ),
    ]);
    let nodes = specs
        .into_iter()
        .map(|(op, name, inputs, outputs, attrs)| {
            let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let outs: Vec<&str> = outputs.iter().map(String::as_str).collect();
            onnx_proto::node(op, &v(name), &ins, &outs, attrs)
        })
        .collect();
    Ok(MemberGraph {
        initializer,
        nodes,
        shape: MemberShape {
            dense_dim,
            n_candidates,
            n_tasks,
        },
    })
}

/// The exported parts of the predicted-category prior.
struct CategoryPrior {
    head: LinearWeights,
    table: Matrix,
    inv_temperature: f64,
}

/// A 2-D parameter's values (row-major) and shape.
struct Matrix {
    dims: [usize; 2],
    values: Vec<f32>,
}

/// A linear layer's weight `[in, out]` and bias `[out]` (zeros when the layer has none).
struct LinearWeights {
    weight: Matrix,
    bias: Vec<f32>,
}

fn param2<B: Backend>(
    name: &'static str,
    param: &Param<Tensor<B, 2>>,
) -> Result<Matrix, ExportError> {
    let tensor = param.val();
    let dims = tensor.dims();
    let values: Vec<f32> = tensor.into_data().iter::<f32>().collect();
    if values.len() != dims[0] * dims[1] {
        return Err(ExportError::Shape {
            name,
            found: dims.to_vec(),
            expected: format!("{} values", values.len()),
        });
    }
    Ok(Matrix { dims, values })
}

fn linear<B: Backend>(name: &'static str, layer: &Linear<B>) -> Result<LinearWeights, ExportError> {
    let weight = param2(name, &layer.weight)?;
    let bias = match &layer.bias {
        Some(b) => b.val().into_data().iter::<f32>().collect(),
        None => vec![0.0; weight.dims[1]],
    };
    if bias.len() != weight.dims[1] {
        return Err(ExportError::Shape {
            name,
            found: vec![bias.len()],
            expected: format!("bias of {} values", weight.dims[1]),
        });
    }
    Ok(LinearWeights { weight, bias })
}

fn dims(d: &[usize]) -> Vec<i64> {
    d.iter().map(|&x| x as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use burn::backend::NdArray;

    #[test]
    fn graph_declares_the_contract_io_and_all_weights() {
        let model = ModelConfig::new(100, 12, 3, 5)
            .with_embed_dim(32)
            .init::<NdArray<f32>>(&Default::default());
        let io = OnnxIo::default();
        let proto = export_model(&model, &io).unwrap();
        assert_eq!(proto.opset_import[0].version, OPSET);
        let graph = proto.graph.unwrap();
        let inputs: Vec<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
        let outputs: Vec<&str> = graph.output.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(inputs, ["ids", "weights", "dense"]);
        assert_eq!(outputs, ["quality", "task_probs"]);
        let emb = graph
            .initializer
            .iter()
            .find(|t| t.name == "embedding")
            .unwrap();
        assert_eq!(emb.dims, [100, 32]);
        assert_eq!(emb.raw_data.len(), 100 * 32 * 4);
        let mv = graph
            .initializer
            .iter()
            .find(|t| t.name == "model_vectors_t")
            .unwrap();
        assert_eq!(mv.dims, [32, 3]);
        // Every node input is a graph input, an initializer or an earlier node's output.
        let mut known: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        known.extend(graph.initializer.iter().map(|t| t.name.clone()));
        for node in &graph.node {
            for i in &node.input {
                assert!(
                    known.contains(i),
                    "node {} reads unknown value {i}",
                    node.name
                );
            }
            known.extend(node.output.iter().cloned());
        }
        for o in outputs {
            assert!(known.iter().any(|k| k == o));
        }
    }

    #[test]
    fn the_category_prior_is_exported_only_when_configured() {
        let device = Default::default();
        let io = OnnxIo::default();
        let names = |config: ModelConfig| {
            let model = config.init::<NdArray<f32>>(&device);
            let graph = export_model(&model, &io).unwrap().graph.unwrap();
            let nodes: Vec<String> = graph.node.iter().map(|n| n.name.clone()).collect();
            let inits: Vec<(String, Vec<i64>)> = graph
                .initializer
                .iter()
                .map(|t| (t.name.clone(), t.dims.clone()))
                .collect();
            (nodes, inits)
        };
        // A training-only category head adds nothing to the graph.
        let (nodes, inits) = names(
            ModelConfig::new(100, 12, 3, 5)
                .with_n_categories(7)
                .with_category_prior(false),
        );
        assert!(!nodes.iter().any(|n| n.contains("category")));
        assert!(
            !inits
                .iter()
                .any(|(n, _)| n.contains("category") || n == "prior_table")
        );
        // With the prior: head, softmax at a temperature, table, and the sum before Sigmoid.
        let (nodes, inits) = names(
            ModelConfig::new(100, 12, 3, 5)
                .with_n_categories(7)
                .with_category_prior(true)
                .with_category_temperature(2.0),
        );
        for n in [
            "category_mm",
            "category_temperature",
            "category_probs",
            "prior_mm",
            "quality_prior",
        ] {
            assert!(nodes.iter().any(|x| x == n), "missing node {n}: {nodes:?}");
        }
        assert!(inits.contains(&("prior_table".to_string(), vec![7, 3])));
        assert!(inits.contains(&("category.weight".to_string(), vec![128, 7])));
        let sigmoid = nodes.iter().position(|n| n == "quality").unwrap();
        let prior = nodes.iter().position(|n| n == "quality_prior").unwrap();
        assert!(prior < sigmoid);
    }
}
