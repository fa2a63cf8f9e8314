//! Prompt text → model inputs: hashed sparse n-gram features and a few dense features.
//!
//! Sparse part (the `ids`/`weights` inputs of the ONNX graph):
//! 1. Normalise: lowercase (if `lowercase`), every digit → `0` (if `collapse_digits`);
//!    tokens are runs of letters/digits/`_` ("words") and single punctuation or symbol
//!    characters (kept as tokens: `{`, `;`, `=` tell code and math apart). Whitespace separates.
//! 2. Word n-grams (`word_ngrams`, default 1–2) over all tokens, and character n-grams
//!    (`char_ngrams`, default 3–5) inside each word wrapped in boundary markers (`<word>`).
//! 3. Each n-gram's bytes are hashed with xxh3-64 (seeded per n-gram family) and mapped to a
//!    bucket id in `1..buckets` by `1 + ((h as u128 * (buckets - 1)) >> 64)`; id 0 is padding.
//! 4. Weight per id = `1 + ln(count)` (sublinear tf); at most `max_features` ids are kept (the
//!    heaviest, ties to the smaller id); the kept weights are L2-normalised.
//!
//! Dense part: [`DenseFeature`]s, each already scaled to roughly `[0, 1]`.
//!
//! No allocation per n-gram: n-grams are byte slices of one normalised buffer, counted in a
//! reusable open-addressing table; per-thread scratch buffers are reused across calls.

use std::borrow::Borrow;
use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

use crate::semantic::{SemanticConfig, SemanticError, StaticEmbedder};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// How prompts become features; stored in the artifact manifest so that serving featurizes
/// exactly as training did. Tagged by `kind` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeaturizerConfig {
    /// Hashed word and character n-grams plus dense features.
    HashedNgrams(HashedNgramsConfig),
}

impl Default for FeaturizerConfig {
    fn default() -> Self {
        FeaturizerConfig::HashedNgrams(HashedNgramsConfig::default())
    }
}

impl FeaturizerConfig {
    /// Number of dense features per prompt (the width of the `dense` input): the
    /// [`DenseFeature`]s, then the semantic vector's values when there is one.
    pub fn dense_dim(&self) -> usize {
        match self {
            FeaturizerConfig::HashedNgrams(c) => {
                c.dense.len() + c.semantic.as_ref().map_or(0, |s| s.dim)
            }
        }
    }

    /// The semantic featurizer's settings, when the router has one.
    pub fn semantic(&self) -> Option<&SemanticConfig> {
        match self {
            FeaturizerConfig::HashedNgrams(c) => c.semantic.as_ref(),
        }
    }

    /// The featurizer kinds this configuration uses, for people and reports: always the
    /// hashed n-grams and the dense text statistics, plus the static semantic table.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = vec!["hashed_ngrams", "dense_stats"];
        if self.semantic().is_some() {
            kinds.push("static_semantic");
        }
        kinds
    }

    /// Size of the hashed id space (ids are `1..buckets`); the embedding table needs this many rows.
    pub fn buckets(&self) -> u32 {
        match self {
            FeaturizerConfig::HashedNgrams(c) => c.buckets,
        }
    }

    /// Most sparse features per prompt.
    pub fn max_features(&self) -> usize {
        match self {
            FeaturizerConfig::HashedNgrams(c) => c.max_features,
        }
    }

    /// Checks the values; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            FeaturizerConfig::HashedNgrams(c) => c.validate(),
        }
    }
}

/// An inclusive range of n-gram lengths; `max = 0` disables the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgramRange {
    pub min: usize,
    pub max: usize,
}

/// Configuration of the hashed n-gram featurizer. Every field has a default; the defaults are
/// the shipped router's (`models/default`, what `train` uses without flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HashedNgramsConfig {
    /// Size of the id space; ids are `1..buckets`, id 0 is padding. Default 2^15.
    pub buckets: u32,
    /// Most sparse features kept per prompt. Default 256.
    pub max_features: usize,
    /// Word (token) n-gram lengths. Default 1–2.
    pub word_ngrams: NgramRange,
    /// Character n-gram lengths inside `<word>`. Default 3–5.
    pub char_ngrams: NgramRange,
    /// Lowercase before hashing. Default true.
    pub lowercase: bool,
    /// Replace every digit by `0` before hashing (numbers vary, their shape matters). Default true.
    pub collapse_digits: bool,
    /// Hash seed; changing it changes every id. Default 0.
    pub seed: u64,
    /// Dense features, in input order. Default: all of [`DenseFeature::ALL`].
    pub dense: Vec<DenseFeature>,
    /// The distilled sentence encoder's prompt vector ([`crate::semantic`]), appended to
    /// the dense features; none by default (a router trained with `--semantic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic: Option<SemanticConfig>,
}

impl Default for HashedNgramsConfig {
    fn default() -> Self {
        HashedNgramsConfig {
            buckets: 1 << 15,
            max_features: 256,
            word_ngrams: NgramRange { min: 1, max: 2 },
            char_ngrams: NgramRange { min: 3, max: 5 },
            lowercase: true,
            collapse_digits: true,
            seed: 0,
            dense: DenseFeature::ALL.to_vec(),
            semantic: None,
        }
    }
}

impl HashedNgramsConfig {
    fn validate(&self) -> Result<(), String> {
        if self.buckets < 2 {
            return Err(format!(
                "featurizer.buckets must be at least 2 (id 0 is padding), got {}",
                self.buckets
            ));
        }
        if self.max_features == 0 {
            return Err("featurizer.max_features must be at least 1".into());
        }
        for (field, r) in [
            ("featurizer.word_ngrams", self.word_ngrams),
            ("featurizer.char_ngrams", self.char_ngrams),
        ] {
            if r.max != 0 && (r.min == 0 || r.min > r.max) {
                return Err(format!(
                    "{field} must satisfy 1 <= min <= max (or max = 0 to disable), got min {} max {}",
                    r.min, r.max
                ));
            }
        }
        if self.word_ngrams.max == 0 && self.char_ngrams.max == 0 {
            return Err("featurizer: word_ngrams and char_ngrams are both disabled".into());
        }
        Ok(())
    }
}

/// Dense features, each scaled to roughly `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenseFeature {
    /// `ln(1 + chars) / 10`.
    LogChars,
    /// `ln(1 + words) / 8`.
    LogWords,
    /// Digits / chars.
    DigitRatio,
    /// Uppercase letters / letters.
    UpperRatio,
    /// Punctuation and symbols / chars.
    PunctRatio,
    /// `ln(1 + newlines) / 5`.
    LogNewlines,
    /// Code markers (braces, `;`, `def`, `return`, ``` fences, …): `min(1, hits / 10)`.
    CodeMarkers,
    /// Math markers (`+ - * / ^ = %`, "solve", "equation", …): `min(1, hits / 10)`.
    MathMarkers,
    /// `ln(1 + blank-line-separated paragraphs − 1) / 3` (turns are joined by blank lines).
    LogParagraphs,
    /// Question marks: `min(1, n / 3)`.
    QuestionMarks,
    /// 1 when lines start with option letters `A.`/`A)`/`(A)` and `B…` (multiple choice), else 0.
    MultipleChoice,
    /// Mean word length / 10, at most 1.
    MeanWordLen,
}

impl DenseFeature {
    /// Every dense feature, in the default order.
    pub const ALL: [DenseFeature; 12] = [
        DenseFeature::LogChars,
        DenseFeature::LogWords,
        DenseFeature::DigitRatio,
        DenseFeature::UpperRatio,
        DenseFeature::PunctRatio,
        DenseFeature::LogNewlines,
        DenseFeature::CodeMarkers,
        DenseFeature::MathMarkers,
        DenseFeature::LogParagraphs,
        DenseFeature::QuestionMarks,
        DenseFeature::MultipleChoice,
        DenseFeature::MeanWordLen,
    ];
}

/// Features of one prompt. `ids` and `weights` have the same length (≤ `max_features`),
/// `dense` has `dense_dim` values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Features {
    pub ids: Vec<i64>,
    pub weights: Vec<f32>,
    pub dense: Vec<f32>,
}

/// A batch of features, row-major and padded to the widest row (id 0, weight 0),
/// laid out exactly as the ONNX inputs `ids [batch, width]`, `weights [batch, width]`,
/// `dense [batch, dense_dim]`. `width` is at least 1 so that no tensor has a zero dimension.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureBatch {
    pub batch: usize,
    pub width: usize,
    pub ids: Vec<i64>,
    pub weights: Vec<f32>,
    pub dense: Vec<f32>,
    pub dense_dim: usize,
}

impl FeatureBatch {
    /// Packs rows (`&[Features]` or `&[&Features]`) into a batch, padding sparse rows to the
    /// widest one. Rows whose `dense` length differs from `dense_dim` are padded with 0 or truncated.
    pub fn from_features<F: Borrow<Features>>(rows: &[F], dense_dim: usize) -> FeatureBatch {
        let width = rows
            .iter()
            .map(|r| r.borrow().ids.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let batch = rows.len();
        let mut ids = vec![0i64; batch * width];
        let mut weights = vec![0f32; batch * width];
        let mut dense = vec![0f32; batch * dense_dim];
        for (r, row) in rows.iter().enumerate() {
            let row = row.borrow();
            let n = row.ids.len().min(row.weights.len());
            ids[r * width..r * width + n].copy_from_slice(&row.ids[..n]);
            weights[r * width..r * width + n].copy_from_slice(&row.weights[..n]);
            let d = row.dense.len().min(dense_dim);
            dense[r * dense_dim..r * dense_dim + d].copy_from_slice(&row.dense[..d]);
        }
        FeatureBatch {
            batch,
            width,
            ids,
            weights,
            dense,
            dense_dim,
        }
    }

    /// Row `i` as `(ids, weights, dense)`, padding included; `None` past the end.
    pub fn row(&self, i: usize) -> Option<(&[i64], &[f32], &[f32])> {
        if i >= self.batch {
            return None;
        }
        Some((
            &self.ids[i * self.width..(i + 1) * self.width],
            &self.weights[i * self.width..(i + 1) * self.width],
            &self.dense[i * self.dense_dim..(i + 1) * self.dense_dim],
        ))
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.batch == 0
    }
}

/// Turns prompts into [`Features`]. Cheap to clone; deterministic across runs and machines.
#[derive(Clone, Debug)]
pub struct Featurizer {
    config: FeaturizerConfig,
    params: HashedNgramsConfig,
    /// The loaded table when the configuration has a semantic part ([`Featurizer::load`]).
    semantic: Option<Arc<StaticEmbedder>>,
}

// Seeds that keep the n-gram families in separate hash spaces (a word `cat` and the
// character trigram `cat` of `<cats>` must not share an id by construction).
const WORD_SEED: u64 = 0x776f_7264_5f6e_6772; // "word_ngr"
const CHAR_SEED: u64 = 0x6368_6172_5f6e_6772; // "char_ngr"

impl Featurizer {
    /// A featurizer for `config`. Out-of-range values are clamped (buckets ≥ 2,
    /// max_features ≥ 1); use [`FeaturizerConfig::validate`] to reject them instead.
    pub fn new(config: FeaturizerConfig) -> Featurizer {
        let FeaturizerConfig::HashedNgrams(mut params) = config.clone();
        params.buckets = params.buckets.max(2);
        params.max_features = params.max_features.max(1);
        Featurizer {
            config,
            params,
            semantic: None,
        }
    }

    /// A featurizer for `config` with its semantic table loaded from `dir` (an artifact
    /// directory) when the configuration has one. A featurizer built by [`Featurizer::new`]
    /// from such a configuration emits zeros for the semantic values.
    pub fn load(config: FeaturizerConfig, dir: &Path) -> Result<Featurizer, SemanticError> {
        let semantic = match config.semantic() {
            Some(s) => Some(Arc::new(StaticEmbedder::load(dir, s)?)),
            None => None,
        };
        Ok(Featurizer::new(config).with_semantic(semantic))
    }

    /// This featurizer with a semantic table already loaded (shared, not copied).
    pub fn with_semantic(mut self, semantic: Option<Arc<StaticEmbedder>>) -> Featurizer {
        self.semantic = semantic;
        self
    }

    /// The configuration this featurizer was built from.
    pub fn config(&self) -> &FeaturizerConfig {
        &self.config
    }

    /// Number of dense features per prompt, the semantic values included.
    pub fn dense_dim(&self) -> usize {
        self.config.dense_dim()
    }

    /// Features of one prompt.
    pub fn featurize(&self, text: &str) -> Features {
        let mut out = Features::default();
        self.featurize_into(text, &mut out);
        out
    }

    /// Features of one prompt written into `out` (its buffers are reused).
    pub fn featurize_into(&self, text: &str, out: &mut Features) {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.sparse_into(text, &mut scratch, out);
            self.dense_into(text, &mut out.dense);
            if let Some(semantic) = &self.semantic {
                semantic.embed_into(text, &mut scratch.pieces, &mut out.dense);
            } else if let Some(s) = &self.params.semantic {
                out.dense.resize(out.dense.len() + s.dim, 0.0);
            }
        });
    }

    /// Features of several prompts, padded into one batch.
    pub fn featurize_batch<S: AsRef<str>>(&self, texts: &[S]) -> FeatureBatch {
        let rows: Vec<Features> = texts.iter().map(|t| self.featurize(t.as_ref())).collect();
        FeatureBatch::from_features(&rows, self.dense_dim())
    }

    fn sparse_into(&self, text: &str, scratch: &mut Scratch, out: &mut Features) {
        let p = &self.params;
        scratch.normalise(text, p.lowercase, p.collapse_digits);
        scratch.table.clear();
        let range = u128::from(p.buckets - 1);
        let bucket = |h: u64| -> u32 { 1 + ((u128::from(h) * range) >> 64) as u32 };

        let Scratch {
            norm,
            tokens,
            table,
            marked,
            offsets,
            ..
        } = scratch;

        // Word n-grams: tokens are separated by exactly one space in `norm`, so an n-gram
        // is the contiguous slice from its first token's start to its last token's end.
        if p.word_ngrams.max > 0 {
            let word_seed = p.seed ^ WORD_SEED;
            for i in 0..tokens.len() {
                for n in p.word_ngrams.min..=p.word_ngrams.max {
                    let Some(last) = tokens.get(i + n - 1) else {
                        break;
                    };
                    let slice = &norm[tokens[i].start as usize..last.end as usize];
                    table.add(bucket(xxh3_64_with_seed(slice, word_seed)));
                }
            }
        }

        // Character n-grams inside `<word>` (words only, not punctuation tokens).
        if p.char_ngrams.max > 0 {
            let char_seed = p.seed ^ CHAR_SEED;
            for t in tokens.iter().filter(|t| t.is_word) {
                marked.clear();
                marked.push(b'<');
                marked.extend_from_slice(&norm[t.start as usize..t.end as usize]);
                marked.push(b'>');
                offsets.clear();
                if marked.is_ascii() {
                    offsets.extend(0..=marked.len() as u32);
                } else {
                    // Char boundaries of the UTF-8 bytes, plus the end.
                    offsets.extend(
                        marked
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| (**b as i8) >= -0x40)
                            .map(|(i, _)| i as u32),
                    );
                    offsets.push(marked.len() as u32);
                }
                let chars = offsets.len() - 1;
                for n in p.char_ngrams.min..=p.char_ngrams.max.min(chars) {
                    for s in 0..=chars - n {
                        let slice = &marked[offsets[s] as usize..offsets[s + n] as usize];
                        table.add(bucket(xxh3_64_with_seed(slice, char_seed)));
                    }
                }
            }
        }

        // Sublinear tf, truncation to the heaviest `max_features`, L2 normalisation.
        let entries = &mut table.entries;
        for e in entries.iter_mut() {
            // Most n-grams occur once; skip the ln for them.
            if e.1 > 1.0 {
                e.1 = 1.0 + e.1.ln();
            }
        }
        if entries.len() > p.max_features {
            entries.select_nth_unstable_by(p.max_features - 1, |a, b| {
                b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
            });
            entries.truncate(p.max_features);
        }
        let norm2: f32 = entries.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
        out.ids.clear();
        out.weights.clear();
        out.ids.extend(entries.iter().map(|e| i64::from(e.0)));
        if norm2 > 0.0 {
            out.weights.extend(entries.iter().map(|e| e.1 / norm2));
        }
    }

    fn dense_into(&self, text: &str, dense: &mut Vec<f32>) {
        let stats = TextStats::of(text);
        dense.clear();
        dense.extend(self.params.dense.iter().map(|f| stats.feature(*f)));
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Clone, Copy, Debug)]
struct Token {
    start: u32,
    end: u32,
    is_word: bool,
}

/// Per-thread buffers reused across calls.
#[derive(Default)]
struct Scratch {
    /// Normalised tokens separated by single spaces.
    norm: Vec<u8>,
    tokens: Vec<Token>,
    table: CountTable,
    /// `<word>` being cut into character n-grams.
    marked: Vec<u8>,
    /// Char boundaries in `marked`.
    offsets: Vec<u32>,
    /// Word-piece ids of the semantic part.
    pieces: Vec<u32>,
}

impl Scratch {
    fn normalise(&mut self, text: &str, lowercase: bool, collapse_digits: bool) {
        self.norm.clear();
        self.tokens.clear();
        let mut word_start: Option<usize> = None;
        let mut utf8 = [0u8; 4];
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' {
                if word_start.is_none() {
                    if !self.norm.is_empty() {
                        self.norm.push(b' ');
                    }
                    word_start = Some(self.norm.len());
                }
                if collapse_digits && c.is_numeric() {
                    self.norm.push(b'0');
                } else if c.is_ascii() {
                    let b = c as u8;
                    self.norm
                        .push(if lowercase { b.to_ascii_lowercase() } else { b });
                } else if lowercase {
                    for l in c.to_lowercase() {
                        self.norm
                            .extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
                    }
                } else {
                    self.norm
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            } else {
                if let Some(start) = word_start.take() {
                    self.push_token(start, true);
                }
                if !c.is_whitespace() && !c.is_control() {
                    if !self.norm.is_empty() {
                        self.norm.push(b' ');
                    }
                    let start = self.norm.len();
                    self.norm
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    self.push_token(start, false);
                }
            }
        }
        if let Some(start) = word_start {
            self.push_token(start, true);
        }
    }

    fn push_token(&mut self, start: usize, is_word: bool) {
        // Prompts beyond 4 GiB are not a use case; saturate rather than wrap.
        let to_u32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        self.tokens.push(Token {
            start: to_u32(start),
            end: to_u32(self.norm.len()),
            is_word,
        });
    }
}

/// Counts per bucket id in insertion order, with an open-addressing index
/// (ids are ≥ 1, so 0 marks an empty slot). Clearing costs O(entries), not O(capacity):
/// the occupied slots are listed in `used`, so `entries` may be reordered or truncated freely.
#[derive(Default)]
struct CountTable {
    /// `(id, count)` in first-seen order; counts become weights in place.
    entries: Vec<(u32, f32)>,
    /// Slot → (id, index into `entries`); id 0 = empty.
    slots: Vec<(u32, u32)>,
    /// Occupied slot indices.
    used: Vec<u32>,
}

impl CountTable {
    fn clear(&mut self) {
        for &s in &self.used {
            self.slots[s as usize].0 = 0;
        }
        self.used.clear();
        self.entries.clear();
    }

    fn slot_of(&self, id: u32) -> usize {
        // Fibonacci hashing of the (already uniform) id into the table.
        let mask = self.slots.len() - 1;
        (id.wrapping_mul(0x9E37_79B1) as usize) & mask
    }

    fn add(&mut self, id: u32) {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(id);
        loop {
            let (slot_id, index) = self.slots[s];
            if slot_id == id {
                self.entries[index as usize].1 += 1.0;
                return;
            }
            if slot_id == 0 {
                self.slots[s] = (id, self.entries.len() as u32);
                self.used.push(s as u32);
                self.entries.push((id, 1.0));
                return;
            }
            s = (s + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(1024);
        self.slots.clear();
        self.slots.resize(capacity, (0, 0));
        self.used.clear();
        let mask = capacity - 1;
        for (index, &(id, _)) in self.entries.iter().enumerate() {
            let mut s = self.slot_of(id);
            while self.slots[s].0 != 0 {
                s = (s + 1) & mask;
            }
            self.slots[s] = (id, index as u32);
            self.used.push(s as u32);
        }
    }
}

/// Character and word statistics for the dense features, from one pass over the text.
#[derive(Default)]
struct TextStats {
    chars: usize,
    words: usize,
    word_chars: usize,
    digits: usize,
    letters: usize,
    upper: usize,
    punct: usize,
    newlines: usize,
    paragraphs: usize,
    questions: usize,
    code_hits: usize,
    math_hits: usize,
    multiple_choice: bool,
}

const CODE_WORDS: [&str; 16] = [
    "def", "return", "function", "import", "class", "void", "const", "let", "var", "public",
    "include", "print", "printf", "elif", "lambda", "struct",
];
const MATH_WORDS: [&str; 12] = [
    "solve",
    "equation",
    "calculate",
    "compute",
    "integral",
    "derivative",
    "probability",
    "sum",
    "prove",
    "evaluate",
    "matrix",
    "polynomial",
];

impl TextStats {
    fn of(text: &str) -> TextStats {
        let mut s = TextStats::default();
        let mut in_word = false;
        let mut word_start = 0usize;
        let mut prev_newline = false;
        let bytes = text.as_bytes();
        for (i, c) in text.char_indices() {
            s.chars += 1;
            let wordy = c.is_alphanumeric() || c == '_';
            if wordy {
                if !in_word {
                    in_word = true;
                    word_start = i;
                }
            } else if in_word {
                in_word = false;
                s.end_word(&text[word_start..i]);
            }
            if c.is_numeric() {
                s.digits += 1;
            } else if c.is_alphabetic() {
                s.letters += 1;
                if c.is_uppercase() {
                    s.upper += 1;
                }
            } else if c == '\n' {
                s.newlines += 1;
                if prev_newline {
                    s.paragraphs += 1;
                }
            } else if !c.is_whitespace() && c != '_' {
                s.punct += 1;
                match c {
                    '{' | '}' | ';' | '[' | ']' | '<' | '>' | '#' => s.code_hits += 1,
                    '+' | '*' | '/' | '^' | '=' | '%' | '√' | '∑' | '∫' | '±' => {
                        s.math_hits += 1
                    }
                    '?' => s.questions += 1,
                    '`' if bytes.get(i..i + 3) == Some(b"```") => s.code_hits += 3,
                    _ => {}
                }
            }
            if c == '\n' {
                prev_newline = true;
            } else if !c.is_whitespace() {
                prev_newline = false;
            }
        }
        if in_word {
            s.end_word(&text[word_start..]);
        }
        s.multiple_choice = has_options(text);
        s
    }

    fn end_word(&mut self, word: &str) {
        self.words += 1;
        self.word_chars += word.chars().count();
        if word.len() <= 11 {
            let mut lower = [0u8; 11];
            for (dst, src) in lower.iter_mut().zip(word.bytes()) {
                *dst = src.to_ascii_lowercase();
            }
            let lower = &lower[..word.len()];
            if CODE_WORDS.iter().any(|w| w.as_bytes() == lower) {
                self.code_hits += 1;
            }
            if MATH_WORDS.iter().any(|w| w.as_bytes() == lower) {
                self.math_hits += 1;
            }
        }
    }

    fn feature(&self, f: DenseFeature) -> f32 {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
        let ln1p = |v: usize| (v as f32).ln_1p();
        match f {
            DenseFeature::LogChars => ln1p(self.chars) / 10.0,
            DenseFeature::LogWords => ln1p(self.words) / 8.0,
            DenseFeature::DigitRatio => ratio(self.digits, self.chars),
            DenseFeature::UpperRatio => ratio(self.upper, self.letters),
            DenseFeature::PunctRatio => ratio(self.punct, self.chars),
            DenseFeature::LogNewlines => ln1p(self.newlines) / 5.0,
            DenseFeature::CodeMarkers => (self.code_hits as f32 / 10.0).min(1.0),
            DenseFeature::MathMarkers => (self.math_hits as f32 / 10.0).min(1.0),
            DenseFeature::LogParagraphs => ln1p(self.paragraphs) / 3.0,
            DenseFeature::QuestionMarks => (self.questions as f32 / 3.0).min(1.0),
            DenseFeature::MultipleChoice => f32::from(u8::from(self.multiple_choice)),
            DenseFeature::MeanWordLen => (ratio(self.word_chars, self.words) / 10.0).min(1.0),
        }
    }
}

/// Lines starting with `A.`/`A)`/`A:`/`(A)` and likewise `B` mark a multiple-choice question.
fn has_options(text: &str) -> bool {
    let mut seen = [false; 2];
    for line in text.lines() {
        let line = line.trim_start().as_bytes();
        let (letter, rest) = match line {
            [b'(', l, b')', rest @ ..] => (*l, rest),
            [l, b'.' | b')' | b':', rest @ ..] => (*l, rest),
            _ => continue,
        };
        if rest.first().is_some_and(|b| !b.is_ascii_whitespace()) {
            continue; // "A.B." or "B)x" is not an option line
        }
        match letter {
            b'A' | b'a' => seen[0] = true,
            b'B' | b'b' => seen[1] = true,
            _ => {}
        }
    }
    seen[0] && seen[1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn featurizer() -> Featurizer {
        Featurizer::new(FeaturizerConfig::default())
    }

    const PROMPT: &str = "Write a Python function `fib(n)` that returns the n-th Fibonacci \
        number.\n\ndef fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)";

    #[test]
    fn deterministic_and_stable_across_instances() {
        let a = featurizer().featurize(PROMPT);
        let b = featurizer().featurize(PROMPT);
        assert_eq!(a, b);
        // Same result when the thread's scratch buffers were used for another text first.
        let f = featurizer();
        let _ = f.featurize("something else entirely, longer than the first one ...");
        assert_eq!(f.featurize(PROMPT), a);
        // And from another thread (fresh scratch).
        let c = std::thread::spawn(|| featurizer().featurize(PROMPT))
            .join()
            .unwrap();
        assert_eq!(c, a);
    }

    #[test]
    fn ids_in_range_and_unique_weights_l2_normalised() {
        let f = featurizer();
        let x = f.featurize(PROMPT);
        assert!(!x.ids.is_empty());
        assert_eq!(x.ids.len(), x.weights.len());
        let buckets = i64::from(f.config().buckets());
        assert!(x.ids.iter().all(|&id| id >= 1 && id < buckets));
        let mut sorted = x.ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), x.ids.len(), "ids must be unique per prompt");
        let norm: f32 = x.weights.iter().map(|w| w * w).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert!(x.weights.iter().all(|w| *w > 0.0));
        assert_eq!(x.dense.len(), f.dense_dim());
        assert_eq!(f.dense_dim(), DenseFeature::ALL.len());
    }

    #[test]
    fn repeated_ngrams_weigh_more() {
        let f = featurizer();
        let x = f.featurize("apple apple apple banana");
        let weight_of = |word: &str| {
            let single = f.featurize(word);
            // The word unigram is the first id hashed for a one-word text.
            let id = single.ids[0];
            x.ids
                .iter()
                .position(|&i| i == id)
                .map(|p| x.weights[p])
                .unwrap()
        };
        assert!(weight_of("apple") > weight_of("banana"));
    }

    #[test]
    fn truncates_to_max_features_keeping_the_heaviest() {
        let config = FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
            max_features: 8,
            ..HashedNgramsConfig::default()
        });
        let f = Featurizer::new(config);
        let text = "zebra zebra zebra zebra ".repeat(3) + PROMPT;
        let x = f.featurize(&text);
        assert_eq!(x.ids.len(), 8);
        assert_eq!(x.weights.len(), 8);
        let norm: f32 = x.weights.iter().map(|w| w * w).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        // "zebra" (12 occurrences) must survive the cut.
        let zebra = f.featurize("zebra").ids[0];
        assert!(x.ids.contains(&zebra));
        // The full featurizer keeps more.
        assert!(featurizer().featurize(&text).ids.len() > 8);
    }

    #[test]
    fn empty_and_whitespace_text() {
        let f = featurizer();
        for text in ["", "   \n\t "] {
            let x = f.featurize(text);
            assert!(x.ids.is_empty());
            assert!(x.weights.is_empty());
            assert_eq!(x.dense.len(), f.dense_dim());
            assert!(x.dense.iter().all(|v| v.is_finite()));
        }
        let batch = f.featurize_batch(&[""]);
        assert_eq!((batch.batch, batch.width), (1, 1));
        assert_eq!(batch.ids, vec![0]);
        assert_eq!(batch.weights, vec![0.0]);
    }

    #[test]
    fn batch_pads_to_widest_row() {
        let f = featurizer();
        let texts = ["hi", PROMPT, "what is 2 + 2?"];
        let batch = f.featurize_batch(&texts);
        let rows: Vec<Features> = texts.iter().map(|t| f.featurize(t)).collect();
        let widest = rows.iter().map(|r| r.ids.len()).max().unwrap();
        assert_eq!(batch.batch, 3);
        assert_eq!(batch.width, widest);
        assert_eq!(batch.ids.len(), 3 * widest);
        assert_eq!(batch.weights.len(), 3 * widest);
        assert_eq!(batch.dense.len(), 3 * f.dense_dim());
        assert_eq!(batch.dense_dim, f.dense_dim());
        for (i, row) in rows.iter().enumerate() {
            let (ids, weights, dense) = batch.row(i).unwrap();
            let n = row.ids.len();
            assert_eq!(&ids[..n], &row.ids[..]);
            assert_eq!(&weights[..n], &row.weights[..]);
            assert!(ids[n..].iter().all(|&id| id == 0));
            assert!(weights[n..].iter().all(|&w| w == 0.0));
            assert_eq!(dense, &row.dense[..]);
        }
        assert!(batch.row(3).is_none());
        let refs: Vec<&Features> = rows.iter().collect();
        assert_eq!(FeatureBatch::from_features(&refs, f.dense_dim()), batch);
        let empty = f.featurize_batch::<&str>(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.ids.len(), 0);
    }

    #[test]
    fn normalisation_lowercases_and_collapses_digits() {
        let f = featurizer();
        assert_eq!(
            f.featurize("Hello World").ids,
            f.featurize("hello world").ids
        );
        assert_eq!(
            f.featurize("pay 1234 now").ids,
            f.featurize("pay 9876 now").ids
        );
        assert_ne!(
            f.featurize("pay 12 now").ids,
            f.featurize("pay 1234 now").ids
        );
        let cased = Featurizer::new(FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
            lowercase: false,
            ..HashedNgramsConfig::default()
        }));
        assert_ne!(cased.featurize("Hello").ids, cased.featurize("hello").ids);
    }

    #[test]
    fn unicode_text_is_featurized_by_characters() {
        let f = featurizer();
        let x = f.featurize("Ünïcödé straße 日本語のテキスト");
        assert!(!x.ids.is_empty());
        // Lowercasing applies to non-ASCII letters too.
        assert_eq!(x.ids, f.featurize("üNÏCÖDÉ STRAßE 日本語のテキスト").ids);
        // Character n-grams never split a character: changing one CJK character changes ids.
        assert_ne!(x.ids, f.featurize("Ünïcödé straße 日本語のテキスhト").ids);
    }

    #[test]
    fn dense_features_see_code_math_and_options() {
        let f = featurizer();
        let idx = |feat: DenseFeature| DenseFeature::ALL.iter().position(|d| *d == feat).unwrap();
        let code = f.featurize(PROMPT).dense;
        let prose = f
            .featurize("Tell me a story about a brave little fox.")
            .dense;
        assert!(code[idx(DenseFeature::CodeMarkers)] > prose[idx(DenseFeature::CodeMarkers)]);
        let mc = f.featurize("Which is prime?\nA. 4\nB. 6\nC. 7\nD. 9").dense;
        assert_eq!(mc[idx(DenseFeature::MultipleChoice)], 1.0);
        assert_eq!(prose[idx(DenseFeature::MultipleChoice)], 0.0);
        let math = f.featurize("Solve the equation 3x + 5 = 20 for x.").dense;
        assert!(math[idx(DenseFeature::MathMarkers)] > prose[idx(DenseFeature::MathMarkers)]);
        assert!(math[idx(DenseFeature::DigitRatio)] > 0.0);
        for v in code.iter().chain(&prose).chain(&mc).chain(&math) {
            assert!((0.0..=2.0).contains(v), "dense value {v} out of range");
        }
    }

    #[test]
    fn config_round_trips_through_json_with_kind_tag() {
        let config = FeaturizerConfig::default();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["kind"], "hashed_ngrams");
        assert_eq!(json["buckets"], 1 << 15);
        let back: FeaturizerConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
        // Missing fields take defaults.
        let partial: FeaturizerConfig =
            serde_json::from_str(r#"{"kind":"hashed_ngrams","buckets":1024}"#).unwrap();
        assert_eq!(partial.buckets(), 1024);
        assert_eq!(partial.max_features(), 256);
        assert!(serde_json::from_str::<FeaturizerConfig>(r#"{"kind":"bag_of_vibes"}"#).is_err());
    }

    #[test]
    fn validate_names_the_field() {
        let bad = FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
            buckets: 1,
            ..HashedNgramsConfig::default()
        });
        assert!(bad.validate().unwrap_err().contains("featurizer.buckets"));
        let bad = FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
            char_ngrams: NgramRange { min: 5, max: 3 },
            ..HashedNgramsConfig::default()
        });
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("featurizer.char_ngrams")
        );
        assert!(FeaturizerConfig::default().validate().is_ok());
    }
}
