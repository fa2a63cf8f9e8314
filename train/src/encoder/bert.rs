//! BERT's forward pass as sentence-transformers runs all-MiniLM-L6-v2: embeddings (word +
//! position + token type 0, LayerNorm), post-LayerNorm encoder layers (12-head attention,
//! GELU feed-forward), mean pooling over the real tokens, unit length. f32 on ndarray; rows
//! of a batch are independent, so batches run in parallel with rayon.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use text::wordpiece::WordPiece;

/// Why the encoder cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` is not a BERT configuration.
    #[error("{path}: {source}")]
    Config {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The safetensors file is malformed.
    #[error("{path}: {message}")]
    Weights {
        /// The file.
        path: String,
        /// What is wrong (a missing tensor, a shape, a dtype).
        message: String,
    },
    /// `vocab.txt` is not a usable WordPiece vocabulary.
    #[error("{path}: {source}")]
    Vocab {
        /// The file.
        path: String,
        /// Why.
        source: text::wordpiece::VocabError,
    },
}

/// The parts of `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest input, special tokens included.
    pub max_position_embeddings: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// Vocabulary size.
    pub vocab_size: usize,
}

/// A linear layer stored as `x · W + b` (PyTorch keeps `W` transposed: `[out, in]`).
struct Linear {
    weight: Array2<f32>,
    bias: Array1<f32>,
}

impl Linear {
    fn apply(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        x.dot(&self.weight) + &self.bias
    }
}

struct LayerNorm {
    gamma: Array1<f32>,
    beta: Array1<f32>,
    eps: f32,
}

impl LayerNorm {
    fn apply(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// all-MiniLM-L6-v2 (or any BERT encoder of this layout) with its tokenizer.
pub struct Encoder {
    config: BertConfig,
    tokenizer: WordPiece,
    word: Array2<f32>,
    position: Array2<f32>,
    token_type: Array1<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Encoder {
    /// Loads `model.safetensors`, `config.json` and `vocab.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Encoder, LoadError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| LoadError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let config_path = dir.join("config.json").display().to_string();
        let config: BertConfig =
            serde_json::from_slice(&read("config.json")?).map_err(|source| LoadError::Config {
                path: config_path,
                source,
            })?;
        let vocab_bytes = read("vocab.txt")?;
        let vocab_path = dir.join("vocab.txt").display().to_string();
        let tokenizer = WordPiece::from_vocab_lines(String::from_utf8_lossy(&vocab_bytes).lines())
            .map_err(|source| LoadError::Vocab {
                path: vocab_path,
                source,
            })?;
        let bytes = read("model.safetensors")?;
        let weights_path = dir.join("model.safetensors").display().to_string();
        let weights = Weights::parse(&bytes, &weights_path)?;
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let norm = |prefix: &str| -> Result<LayerNorm, LoadError> {
            Ok(LayerNorm {
                gamma: weights.vector(&format!("{prefix}.weight"), h)?,
                beta: weights.vector(&format!("{prefix}.bias"), h)?,
                eps,
            })
        };
        let linear = |prefix: &str, inp: usize, out: usize| -> Result<Linear, LoadError> {
            Ok(Linear {
                weight: weights
                    .matrix(&format!("{prefix}.weight"), out, inp)?
                    .reversed_axes()
                    .as_standard_layout()
                    .to_owned(),
                bias: weights.vector(&format!("{prefix}.bias"), out)?,
            })
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let i = config.intermediate_size;
            layers.push(Layer {
                query: linear(&format!("{p}.attention.self.query"), h, h)?,
                key: linear(&format!("{p}.attention.self.key"), h, h)?,
                value: linear(&format!("{p}.attention.self.value"), h, h)?,
                attention_out: linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: linear(&format!("{p}.intermediate.dense"), h, i)?,
                output: linear(&format!("{p}.output.dense"), i, h)?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let token_types = weights.matrix("embeddings.token_type_embeddings.weight", 2, h)?;
        Ok(Encoder {
            word: weights.matrix("embeddings.word_embeddings.weight", config.vocab_size, h)?,
            position: weights.matrix(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings,
                h,
            )?,
            token_type: token_types.row(0).to_owned(),
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            tokenizer,
            config,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Width of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// `[CLS] pieces [SEP]`, truncated as sentence-transformers does (256 word pieces for
    /// this model, at most the position table).
    pub fn input_ids(&self, text: &str) -> Vec<u32> {
        let max = MAX_SEQ_LEN.min(self.config.max_position_embeddings);
        let mut ids = vec![self.tokenizer.cls()];
        self.tokenizer.encode_into(text, &mut ids);
        ids.truncate(max - 1);
        ids.push(self.tokenizer.sep());
        ids
    }

    /// Unit-length sentence vectors of `texts`, one row each.
    pub fn embed(&self, texts: &[&str]) -> Array2<f32> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.input_ids(t)).collect();
        self.embed_ids(&ids)
    }

    /// Unit-length vectors of already tokenized inputs (`[CLS] … [SEP]` each), one row each.
    pub fn embed_ids(&self, inputs: &[Vec<u32>]) -> Array2<f32> {
        let rows: Vec<Array1<f32>> = inputs.par_iter().map(|ids| self.embed_one(ids)).collect();
        let mut out = Array2::zeros((inputs.len(), self.dim()));
        for (mut dst, row) in out.rows_mut().into_iter().zip(rows) {
            dst.assign(&row);
        }
        out
    }

    fn embed_one(&self, ids: &[u32]) -> Array1<f32> {
        let len = ids.len().min(self.config.max_position_embeddings);
        let h = self.dim();
        let mut x = Array2::zeros((len, h));
        for (t, (mut row, &id)) in x.rows_mut().into_iter().zip(ids).enumerate() {
            let id = (id as usize).min(self.config.vocab_size - 1);
            row.assign(&(&self.word.row(id) + &self.position.row(t) + &self.token_type));
        }
        self.embedding_norm.apply(&mut x);
        for layer in &self.layers {
            x = self.layer(layer, x);
        }
        let mut pooled = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(h));
        let norm = pooled.dot(&pooled).sqrt().max(1e-12);
        pooled /= norm;
        pooled
    }

    fn layer(&self, layer: &Layer, x: Array2<f32>) -> Array2<f32> {
        let heads = self.config.num_attention_heads;
        let d = self.dim() / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let q = layer.query.apply(x.view());
        let k = layer.key.apply(x.view());
        let v = layer.value.apply(x.view());
        let mut context = Array2::zeros(x.raw_dim());
        for head in 0..heads {
            // ndarray's `s!` macro expands to unsafe code, which the workspace forbids.
            let cols = Slice::from(head * d..(head + 1) * d);
            let mut scores = q
                .slice_axis(Axis(1), cols)
                .dot(&k.slice_axis(Axis(1), cols).t())
                * scale;
            for mut row in scores.rows_mut() {
                let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row /= sum;
            }
            context
                .slice_axis_mut(Axis(1), cols)
                .assign(&scores.dot(&v.slice_axis(Axis(1), cols)));
        }
        let mut x = layer.attention_out.apply(context.view()) + &x;
        layer.attention_norm.apply(&mut x);
        let mut inner = layer.intermediate.apply(x.view());
        inner.mapv_inplace(gelu);
        let mut out = layer.output.apply(inner.view()) + &x;
        layer.output_norm.apply(&mut out);
        out
    }
}

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
const MAX_SEQ_LEN: usize = 256;

/// BERT's exact GELU, `x · Φ(x)`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2))
}

/// The tensors of a safetensors file, as f32 arrays.
struct Weights<'a> {
    tensors: SafeTensors<'a>,
    path: &'a str,
}

impl<'a> Weights<'a> {
    fn parse(bytes: &'a [u8], path: &'a str) -> Result<Weights<'a>, LoadError> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| LoadError::Weights {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        Ok(Weights { tensors, path })
    }

    fn error(&self, message: String) -> LoadError {
        LoadError::Weights {
            path: self.path.to_string(),
            message,
        }
    }

    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|e| self.error(format!("tensor `{name}`: {e}")))?;
        if view.dtype() != Dtype::F32 {
            return Err(self.error(format!("tensor `{name}` is {:?}, not F32", view.dtype())));
        }
        if view.shape() != shape {
            return Err(self.error(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn vector(&self, name: &str, len: usize) -> Result<Array1<f32>, LoadError> {
        Ok(Array1::from_vec(self.values(name, &[len])?))
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>, LoadError> {
        let values = self.values(name, &[rows, cols])?;
        Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| self.error(format!("tensor `{name}`: {e}")))
    }
}
