//! Reading a router artifact's weights back, to fine-tune it (`train --init-from DIR`):
//! the initializers that [`super::graph`] wrote, by name, into a freshly initialised
//! [`RouterModel`] of the new run.
//!
//! Weights are matched by name and shape. Candidate-indexed weights (`model_vectors_t`,
//! `model_bias`, the columns of `prior_table`) are matched by candidate *name*, so a run whose
//! candidate list gained or reordered models keeps what the artifact learnt for the others
//! (new ones start fresh). A weight whose shape changed (another `--hidden`, more categories)
//! starts fresh and is reported. The featurizer must be the artifact's: embeddings of other
//! hashes mean nothing. Of an ensemble, member 0 (`m0/…`) is read.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;
use models::Manifest;
use prost::Message;

use crate::model::RouterModel;

/// The weights of an artifact, by initializer name (without the member prefix).
#[derive(Debug, Clone)]
pub struct InitialWeights {
    /// The artifact's directory.
    pub dir: std::path::PathBuf,
    /// Its candidates, in output order.
    pub candidates: Vec<String>,
    /// Its featurizer, as in the manifest (compared with the new run's).
    pub featurizer: serde_json::Value,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Why an artifact's weights cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The manifest or graph could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportReport {
    /// The artifact read.
    pub from: String,
    /// Weights taken over whole.
    pub loaded: Vec<String>,
    /// Candidates whose weights were taken over (by name).
    pub candidates_kept: usize,
    /// Candidates new to this run (fresh weights).
    pub candidates_new: Vec<String>,
    /// Weights left fresh, with why.
    pub fresh: Vec<(String, String)>,
}

impl InitialWeights {
    /// Reads `manifest.json` and `router.onnx` of `dir`.
    pub fn read(dir: &Path) -> Result<InitialWeights, ImportError> {
        let manifest = Manifest::load(dir).map_err(|e| ImportError::Read {
            path: dir.join("manifest.json"),
            message: e.to_string(),
        })?;
        let onnx = dir.join("router.onnx");
        let bytes = std::fs::read(&onnx).map_err(|e| ImportError::Read {
            path: onnx.clone(),
            message: e.to_string(),
        })?;
        let model =
            models::onnx_proto::ModelProto::decode(&bytes[..]).map_err(|e| ImportError::Read {
                path: onnx.clone(),
                message: format!("not an ONNX model: {e}"),
            })?;
        let graph = model.graph.ok_or_else(|| ImportError::Read {
            path: onnx.clone(),
            message: "the model has no graph".into(),
        })?;
        let members = graph.initializer.iter().any(|t| t.name.starts_with("m0/"));
        let mut tensors = HashMap::new();
        for t in graph.initializer {
            let name = if members {
                match t.name.strip_prefix("m0/") {
                    Some(n) => n.to_string(),
                    None => continue,
                }
            } else {
                t.name.clone()
            };
            if t.data_type != models::onnx_proto::data_type::FLOAT {
                continue;
            }
            let values: Vec<f32> = if t.raw_data.is_empty() {
                t.float_data.clone()
            } else {
                t.raw_data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            };
            let dims: Vec<usize> = t
                .dims
                .iter()
                .map(|d| usize::try_from(*d).unwrap_or(0))
                .collect();
            if dims.iter().product::<usize>() == values.len() {
                tensors.insert(name, (dims, values));
            }
        }
        Ok(InitialWeights {
            dir: dir.to_path_buf(),
            candidates: manifest.candidates.iter().map(|c| c.name.clone()).collect(),
            featurizer: serde_json::to_value(&manifest.featurizer).unwrap_or_default(),
            tensors,
        })
    }

    fn get(&self, name: &str, dims: &[usize]) -> Result<&[f32], String> {
        match self.tensors.get(name) {
            None => Err("not in the artifact".into()),
            Some((d, v)) if d.as_slice() == dims => Ok(v),
            Some((d, _)) => Err(format!("shape {d:?} in the artifact, {dims:?} here")),
        }
    }
}

fn param2<B: Backend>(values: &[f32], dims: [usize; 2], device: &B::Device) -> Param<Tensor<B, 2>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values.to_vec(), dims),
        device,
    ))
}

fn param1<B: Backend>(values: &[f32], device: &B::Device) -> Param<Tensor<B, 1>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        device,
    ))
}

fn values<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> Vec<f32> {
    p.val().into_data().iter::<f32>().collect()
}

/// Copies the artifact's weights into `model` (see the module docs); `candidates` are this
/// run's, in output order.
pub fn apply<B: Backend>(
    mut model: RouterModel<B>,
    init: &InitialWeights,
    candidates: &[String],
    device: &B::Device,
) -> (RouterModel<B>, ImportReport) {
    let mut report = ImportReport {
        from: init.dir.display().to_string(),
        ..ImportReport::default()
    };
    let mut note = |name: &str, result: Result<(), String>| match result {
        Ok(()) => report.loaded.push(name.to_string()),
        Err(why) => report.fresh.push((name.to_string(), why)),
    };

    let dims = model.embedding.weight.dims();
    note(
        "embedding",
        init.get("embedding", &dims)
            .map(|v| model.embedding.weight = param2(v, dims, device)),
    );
    for (name, layer) in [
        ("hidden", &mut model.hidden),
        ("prompt", &mut model.prompt_proj),
        ("task", &mut model.task_head),
    ] {
        note(name, load_linear(layer, init, name, device));
    }
    if let Some(layer) = model.difficulty.as_mut() {
        note("difficulty", load_linear(layer, init, "difficulty", device));
    }
    if let Some(layer) = model.category_head.as_mut() {
        note("category", load_linear(layer, init, "category", device));
    }

    // Candidate-indexed weights, by name.
    let old_index: HashMap<&str, usize> = init
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mapping: Vec<Option<usize>> = candidates
        .iter()
        .map(|c| old_index.get(c.as_str()).copied())
        .collect();
    report.candidates_kept = mapping.iter().filter(|m| m.is_some()).count();
    report.candidates_new = candidates
        .iter()
        .zip(&mapping)
        .filter(|(_, m)| m.is_none())
        .map(|(c, _)| c.clone())
        .collect();
    let n_old = init.candidates.len();
    let [n, factor] = model.model_vectors.dims();
    match init.get("model_vectors_t", &[factor, n_old]) {
        Ok(old_t) => {
            let mut v = values(&model.model_vectors);
            for (j, m) in mapping.iter().enumerate() {
                if let Some(i) = m {
                    for f in 0..factor {
                        v[j * factor + f] = old_t[f * n_old + i];
                    }
                }
            }
            model.model_vectors = param2(&v, [n, factor], device);
            note("model_vectors", Ok(()));
        }
        Err(why) => note("model_vectors", Err(why)),
    }
    match init.get("model_bias", &[n_old]) {
        Ok(old) => {
            let mut v = values(&model.model_bias);
            for (j, m) in mapping.iter().enumerate() {
                if let Some(i) = m {
                    v[j] = old[*i];
                }
            }
            model.model_bias = param1(&v, device);
            note("model_bias", Ok(()));
        }
        Err(why) => note("model_bias", Err(why)),
    }
    if let Some(table) = &model.prior_table {
        let [k, c] = table.dims();
        match init.get("prior_table", &[k, n_old]) {
            Ok(old) => {
                let mut v = values(table);
                for row in 0..k {
                    for (j, m) in mapping.iter().enumerate() {
                        if let Some(i) = m {
                            v[row * c + j] = old[row * n_old + i];
                        }
                    }
                }
                model.prior_table = Some(param2(&v, [k, c], device));
                note("prior_table", Ok(()));
            }
            Err(why) => note("prior_table", Err(why)),
        }
    }
    (model, report)
}

fn load_linear<B: Backend>(
    layer: &mut Linear<B>,
    init: &InitialWeights,
    name: &str,
    device: &B::Device,
) -> Result<(), String> {
    let dims = layer.weight.dims();
    let w = init.get(&format!("{name}.weight"), &dims)?;
    let b = match &layer.bias {
        Some(bias) => Some(init.get(&format!("{name}.bias"), &bias.dims())?),
        None => None,
    };
    layer.weight = param2(w, dims, device);
    if let Some(b) = b {
        layer.bias = Some(param1(b, device));
    }
    Ok(())
}
