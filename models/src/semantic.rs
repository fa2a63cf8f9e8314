//! The semantic part of the featurizer: a static token table distilled from a sentence
//! encoder (all-MiniLM-L6-v2, by `train distill`, Model2Vec's recipe), read in the request
//! path without the encoder's cost. A prompt's vector is the unit-length sum of its
//! WordPiece tokens' rows (each row already carries its token's frequency weight); it is
//! appended to the dense features, so the exported graph reads it like any dense input.
//!
//! The table is a safetensors file in the artifact (`embeddings`: I8 `[vocab, dim]`, one
//! f32 scale per row in `scales`), next to the tokenizer's `vocab.txt`; the manifest names
//! both and pins the table's sha256, checked when the artifact loads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use text::wordpiece::WordPiece;

/// Word pieces read per prompt: the cost stays bounded for long prompts (the hashed part
/// has `max_features` for the same reason); the opening of a prompt says what it is about.
pub const MAX_TOKENS: usize = 512;

/// Bytes of a prompt tokenized: more than [`MAX_TOKENS`] word pieces need (about four
/// bytes each in English), so a 1 MB prompt costs what an 8 KB one does.
const MAX_BYTES: usize = 8 * 1024;

/// The semantic featurizer's entry in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticConfig {
    /// Table file in the artifact directory.
    pub table: String,
    /// WordPiece vocabulary (one token per line, line = id) in the artifact directory.
    pub vocab: String,
    /// Width of the prompt vector (the table's columns).
    pub dim: usize,
    /// sha256 of the table file, lowercase hex.
    pub table_sha256: String,
    /// Where the table came from (encoder, version, recipe), for people reading the manifest.
    pub source: String,
}

/// Why the table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The table's sha256 is not the manifest's.
    #[error("{path}: sha256 {got}, but the manifest's featurizer.semantic.table_sha256 is {want}")]
    Checksum {
        /// The table.
        path: PathBuf,
        /// What the file hashes to.
        got: String,
        /// What the manifest says.
        want: String,
    },
    /// The file is not a table of the stated shape.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The vocabulary is not usable.
    #[error("{path}: {source}")]
    Vocab {
        /// The file.
        path: PathBuf,
        /// Why.
        source: text::wordpiece::VocabError,
    },
}

/// The loaded table and its tokenizer.
#[derive(Clone)]
pub struct StaticEmbedder {
    tokenizer: WordPiece,
    /// `[vocab, dim]`, row-major.
    table: Vec<i8>,
    scales: Vec<f32>,
    dim: usize,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("vocab", &self.scales.len())
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

const EMBEDDINGS: &str = "embeddings";
const SCALES: &str = "scales";

impl StaticEmbedder {
    /// Loads the table and vocabulary `config` names from `dir`, checking the sha256 and
    /// that the vocabulary and the table have the same number of rows.
    pub fn load(dir: &Path, config: &SemanticConfig) -> Result<StaticEmbedder, SemanticError> {
        let table_path = dir.join(&config.table);
        let bytes = read(&table_path)?;
        let got = sha256_hex(&bytes);
        if got != config.table_sha256 {
            return Err(SemanticError::Checksum {
                path: table_path,
                got,
                want: config.table_sha256.clone(),
            });
        }
        let vocab_path = dir.join(&config.vocab);
        let vocab = read(&vocab_path)?;
        let tokenizer = WordPiece::from_vocab_lines(String::from_utf8_lossy(&vocab).lines())
            .map_err(|source| SemanticError::Vocab {
                path: vocab_path.clone(),
                source,
            })?;
        let format = |message: String| SemanticError::Format {
            path: table_path.clone(),
            message,
        };
        let tensors =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
        let embeddings = tensors
            .tensor(EMBEDDINGS)
            .map_err(|e| format(format!("tensor `{EMBEDDINGS}`: {e}")))?;
        let scales = tensors
            .tensor(SCALES)
            .map_err(|e| format(format!("tensor `{SCALES}`: {e}")))?;
        let rows = tokenizer.len();
        if embeddings.dtype() != safetensors::Dtype::I8 || embeddings.shape() != [rows, config.dim]
        {
            return Err(format(format!(
                "`{EMBEDDINGS}` is {:?} {:?}; expected I8 [{rows}, {}] (vocab {} has {rows} tokens, manifest dim {})",
                embeddings.dtype(),
                embeddings.shape(),
                config.dim,
                vocab_path.display(),
                config.dim
            )));
        }
        if scales.dtype() != safetensors::Dtype::F32 || scales.shape() != [rows] {
            return Err(format(format!(
                "`{SCALES}` is {:?} {:?}; expected F32 [{rows}]",
                scales.dtype(),
                scales.shape()
            )));
        }
        Ok(StaticEmbedder {
            table: embeddings.data().iter().map(|&b| b as i8).collect(),
            scales: scales
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            tokenizer,
            dim: config.dim,
        })
    }

    /// Width of the prompt vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Appends the prompt's `dim` values: the unit-length sum of the rows of its first
    /// [`MAX_TOKENS`] word pieces (all zeros when it has none).
    pub fn embed_into(&self, text: &str, ids: &mut Vec<u32>, out: &mut Vec<f32>) {
        ids.clear();
        let mut cut = text.len().min(MAX_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.tokenizer.encode_into(&text[..cut], ids);
        ids.truncate(MAX_TOKENS);
        let start = out.len();
        out.resize(start + self.dim, 0.0);
        let acc = &mut out[start..];
        for &id in ids.iter() {
            let row = id as usize;
            let (Some(scale), Some(values)) = (
                self.scales.get(row),
                self.table.get(row * self.dim..(row + 1) * self.dim),
            ) else {
                continue;
            };
            for (a, &q) in acc.iter_mut().zip(values) {
                *a += scale * f32::from(q);
            }
        }
        let norm = acc.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            acc.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// The manifest entry for a table written by [`write_table`] in `dir` (as
/// `table_file`, next to `vocab_file`): its width, sha256 and recorded source.
pub fn describe(
    dir: &Path,
    table_file: &str,
    vocab_file: &str,
) -> Result<SemanticConfig, SemanticError> {
    let path = dir.join(table_file);
    let bytes = read(&path)?;
    let format = |message: String| SemanticError::Format {
        path: path.clone(),
        message,
    };
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| format(e.to_string()))?;
    let dim = header
        .tensors()
        .get(EMBEDDINGS)
        .and_then(|info| info.shape.get(1).copied())
        .ok_or_else(|| format(format!("no 2-D `{EMBEDDINGS}` tensor")))?;
    let source = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("source").cloned())
        .unwrap_or_else(|| "unknown".into());
    let config = SemanticConfig {
        table: table_file.into(),
        vocab: vocab_file.into(),
        dim,
        table_sha256: sha256_hex(&bytes),
        source,
    };
    // Load once: the vocabulary and the shapes must agree before a router is built on it.
    StaticEmbedder::load(dir, &config)?;
    Ok(config)
}

/// Writes a table (`rows`: `[vocab, dim]`, row-major f32) as the int8 file
/// [`StaticEmbedder::load`] reads, with one scale per row (its largest magnitude / 127);
/// returns the file's sha256.
pub fn write_table(
    path: &Path,
    rows: &[f32],
    dim: usize,
    metadata: std::collections::HashMap<String, String>,
) -> Result<String, SemanticError> {
    let vocab = rows.len() / dim.max(1);
    let mut quantized = Vec::with_capacity(rows.len());
    let mut scales = Vec::with_capacity(vocab * 4);
    for row in rows.chunks_exact(dim.max(1)) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        quantized.extend(
            row.iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8),
        );
        scales.extend_from_slice(&scale.to_le_bytes());
    }
    let io = |source| SemanticError::Io {
        path: path.to_path_buf(),
        source,
    };
    let format = |e: safetensors::SafeTensorError| SemanticError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let embeddings =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I8, vec![vocab, dim], &quantized)
            .map_err(format)?;
    let scales =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![vocab], &scales)
            .map_err(format)?;
    let bytes =
        safetensors::serialize([(EMBEDDINGS, embeddings), (SCALES, scales)], Some(metadata))
            .map_err(format)?;
    std::fs::write(path, &bytes).map_err(io)?;
    Ok(sha256_hex(&bytes))
}

fn read(path: &Path) -> Result<Vec<u8>, SemanticError> {
    std::fs::read(path).map_err(|source| SemanticError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::digest::sha256_hex(&[bytes])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_fixture(dir: &Path) -> SemanticConfig {
        std::fs::write(
            dir.join("vocab.txt"),
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\ncat\ndog\n",
        )
        .unwrap();
        // cat = (1, 0), dog = (0, 2): unit sums are easy to check.
        let rows = [0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0];
        let sha = write_table(&dir.join("t.safetensors"), &rows, 2, Default::default()).unwrap();
        SemanticConfig {
            table: "t.safetensors".into(),
            vocab: "vocab.txt".into(),
            dim: 2,
            table_sha256: sha,
            source: "test".into(),
        }
    }

    #[test]
    fn a_prompt_is_the_unit_sum_of_its_token_rows() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_fixture(dir.path());
        let e = StaticEmbedder::load(dir.path(), &config).unwrap();
        let (mut ids, mut out) = (Vec::new(), vec![9.0]);
        e.embed_into("Cat dog", &mut ids, &mut out);
        let s = 1.0 / 5f32.sqrt();
        assert_eq!(out.len(), 3, "appended after what was there");
        assert!(
            (out[1] - s).abs() < 1e-2 && (out[2] - 2.0 * s).abs() < 1e-2,
            "{out:?}"
        );
        out.clear();
        e.embed_into("", &mut ids, &mut out);
        assert_eq!(out, vec![0.0, 0.0]);
    }

    #[test]
    fn a_changed_table_or_a_wrong_shape_is_refused_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = write_fixture(dir.path());
        config.table_sha256 = "00".into();
        let err = StaticEmbedder::load(dir.path(), &config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.safetensors") && err.contains("table_sha256"),
            "{err}"
        );
        let mut config = write_fixture(dir.path());
        config.dim = 3;
        let err = StaticEmbedder::load(dir.path(), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected I8 [6, 3]"), "{err}");
        std::fs::write(dir.path().join("vocab.txt"), "[UNK]\n[CLS]\n[SEP]\n").unwrap();
        let config = write_fixture(dir.path());
        std::fs::write(dir.path().join("vocab.txt"), "[UNK]\n[CLS]\n[SEP]\n").unwrap();
        let err = StaticEmbedder::load(dir.path(), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("vocab"), "{err}");
    }
}
