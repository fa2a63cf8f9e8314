//! BERT's uncased WordPiece tokenizer, as Hugging Face `tokenizers` defines it for
//! all-MiniLM-L6-v2 (`BertNormalizer` with lowercasing and accent stripping,
//! `BertPreTokenizer`, `WordPiece` with the `##` prefix and 100 characters per word).
//!
//! Our own, not the `tokenizers` crate: the request path needs only this one model, without
//! the crate's regex engines and C++ suffix-array build, and it must not allocate per token.
//! `train/tests/encoder.rs` checks it against the Python `tokenizers` package's ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// The longest word WordPiece splits; a longer one is one unknown token.
const MAX_CHARS_PER_WORD: usize = 100;
/// What a piece inside a word starts with in the vocabulary.
const CONTINUATION: &str = "##";

/// Why a vocabulary cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VocabError {
    /// The special token is not in the vocabulary.
    #[error("the vocabulary has no `{0}` token")]
    MissingSpecial(&'static str),
    /// The same token on two lines.
    #[error("the vocabulary lists `{token}` twice (lines {first} and {second})")]
    Duplicate {
        /// The token.
        token: String,
        /// 1-based line of its first occurrence.
        first: usize,
        /// 1-based line of the second.
        second: usize,
    },
}

/// FNV-1a: the vocabulary is fixed and its keys are a few bytes long, where SipHash's
/// setup dominates a lookup (a 500-character prompt makes hundreds of lookups).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Vocab = HashMap<String, u32, BuildHasherDefault<Fnv>>;

/// A WordPiece vocabulary and the uncased BERT rules that split text before it.
#[derive(Clone, Debug)]
pub struct WordPiece {
    ids: Vocab,
    /// Longest token in bytes (`##` included): no longer piece is looked up.
    longest: usize,
    unk: u32,
    cls: u32,
    sep: u32,
    len: usize,
}

impl WordPiece {
    /// From `vocab.txt`'s lines: the token on line `i` (0-based) has id `i`.
    pub fn from_vocab_lines<'a, I>(lines: I) -> Result<WordPiece, VocabError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut ids = Vocab::default();
        let mut len = 0;
        let mut longest = 0;
        for (i, token) in lines.into_iter().enumerate() {
            let token = token.strip_suffix('\r').unwrap_or(token);
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            longest = longest.max(token.len());
            if let Some(first) = ids.insert(token.to_string(), id) {
                return Err(VocabError::Duplicate {
                    token: token.to_string(),
                    first: first as usize + 1,
                    second: i + 1,
                });
            }
            len = i + 1;
        }
        let special = |name: &'static str| {
            ids.get(name)
                .copied()
                .ok_or(VocabError::MissingSpecial(name))
        };
        Ok(WordPiece {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            ids,
            longest,
            len,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vocabulary is empty (never, once built: it has the special tokens).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Id of `[CLS]`.
    pub fn cls(&self) -> u32 {
        self.cls
    }

    /// Id of `[SEP]`.
    pub fn sep(&self) -> u32 {
        self.sep
    }

    /// Id of `[UNK]`.
    pub fn unk(&self) -> u32 {
        self.unk
    }

    /// The id of a vocabulary token, if it is one.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The ids of `text`'s word pieces, without `[CLS]` and `[SEP]`, appended to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let normalized = normalize(text);
        let mut piece = String::with_capacity(self.longest + 4);
        for word in pre_tokenize(&normalized) {
            self.word_pieces(word, &mut piece, out);
        }
    }

    /// The ids of `text`'s word pieces, without `[CLS]` and `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// Greedy longest-match-first split of one word; the whole word is `[UNK]` when a part
    /// of it matches nothing (as in BERT).
    fn word_pieces(&self, word: &str, piece: &mut String, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let start_len = out.len();
        let mut start = 0;
        while start < word.len() {
            let prefix = if start > 0 { CONTINUATION.len() } else { 0 };
            // No vocabulary token is longer than `longest`: start there, on a char boundary.
            let mut end = word
                .len()
                .min(start + self.longest.saturating_sub(prefix).max(1));
            while !word.is_char_boundary(end) {
                end -= 1;
            }
            let mut found = None;
            while start < end {
                let id = if start == 0 {
                    self.ids.get(&word[..end])
                } else {
                    piece.clear();
                    piece.push_str(CONTINUATION);
                    piece.push_str(&word[start..end]);
                    self.ids.get(piece.as_str())
                };
                if let Some(&id) = id {
                    found = Some(id);
                    break;
                }
                // Back off by one character, never inside one.
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(start_len);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// `BertNormalizer` (clean text, pad CJK ideographs, strip accents, lowercase).
fn normalize(text: &str) -> String {
    if text.is_ascii() {
        // No accents, ideographs or Unicode spaces: only controls and case to handle.
        return text
            .bytes()
            .filter_map(|b| match b {
                b'\t' | b'\n' | b'\r' => Some(' '),
                0..=0x1f | 0x7f => None,
                _ => Some(char::from(b.to_ascii_lowercase())),
            })
            .collect();
    }
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_chinese_char(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    // Accents go before lowercasing, as in `tokenizers` (NFD, then no nonspacing marks).
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned.nfd().filter(|c| !c.is_mark_nonspacing()) {
        out.extend(c.to_lowercase());
    }
    out
}

/// `BertPreTokenizer`: words split at whitespace, every punctuation character a word.
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(split_punctuation)
}

fn split_punctuation(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = match rest.char_indices().find(|&(_, c)| is_punctuation(c)) {
            Some((0, c)) => c.len_utf8(),
            Some((i, _)) => i,
            None => rest.len(),
        };
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' ') || c.is_separator_space()
}

fn is_control(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.is_other()
}

fn is_punctuation(c: char) -> bool {
    // The Unicode table is a binary search: ASCII (nearly every character) skips it.
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        c.is_punctuation()
    }
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> WordPiece {
        let lines = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", ",", "world", "!", "un", "##aff",
            "##able", "cafe", "的", "a", "##b", "x", "##x",
        ];
        WordPiece::from_vocab_lines(lines).unwrap()
    }

    #[test]
    fn splits_words_punctuation_and_pieces() {
        let wp = vocab();
        assert_eq!(wp.encode("Hello, WORLD!"), vec![4, 5, 6, 7]);
        assert_eq!(wp.encode("unaffable"), vec![8, 9, 10]);
        // One piece that matches nothing makes the whole word unknown.
        assert_eq!(wp.encode("unaffablez"), vec![1]);
        assert_eq!(wp.encode("  \t\n "), Vec::<u32>::new());
    }

    #[test]
    fn strips_accents_pads_ideographs_and_drops_controls() {
        let wp = vocab();
        assert_eq!(wp.encode("Café"), vec![11]);
        assert_eq!(wp.encode("x的x"), vec![15, 12, 15]);
        assert_eq!(wp.encode("ca\u{0}fe\u{200b}"), vec![11]);
    }

    #[test]
    fn a_word_over_100_characters_is_one_unknown() {
        let wp = vocab();
        let mut expected = vec![15];
        expected.extend([16; 99]);
        assert_eq!(wp.encode(&"x".repeat(100)), expected);
        assert_eq!(wp.encode(&"x".repeat(101)), vec![1]);
    }

    #[test]
    fn refuses_a_vocabulary_without_specials_or_with_duplicates() {
        let err = WordPiece::from_vocab_lines(["[UNK]", "[CLS]"]).unwrap_err();
        assert_eq!(err, VocabError::MissingSpecial("[SEP]"));
        let err = WordPiece::from_vocab_lines(["[UNK]", "a", "a"]).unwrap_err();
        assert!(
            matches!(
                err,
                VocabError::Duplicate {
                    first: 2,
                    second: 3,
                    ..
                }
            ),
            "{err}"
        );
    }
}
