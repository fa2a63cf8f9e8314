//! Deterministic train/validation/test split by prompt.
//!
//! A prompt's split is a pure function of its `prompt_id` and the ratios: the id is
//! hashed with xxh3-64 under a fixed seed (independent of how the id was made) and the
//! hash, mapped to [0, 1), is compared with the cumulative ratios. Every outcome of a
//! prompt lands in the same split (no leakage across models), and the split is identical
//! across runs, machines and thread counts.

use polars::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::schema;

/// Seed of the split hash; changing it reshuffles every split, so it is fixed.
pub const SPLIT_SEED: u64 = 0x005E_ED0F_5B11;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// Name in the `split` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shares of prompts per split (non-negative, summing to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRatios {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

impl Default for SplitRatios {
    /// 80/10/10.
    fn default() -> Self {
        Self {
            train: 0.8,
            validation: 0.1,
            test: 0.1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "invalid split ratios {train}/{validation}/{test}: each must be in [0, 1] and they must sum to 1"
)]
pub struct SplitRatiosError {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

impl SplitRatios {
    /// Checked constructor.
    pub fn new(train: f64, validation: f64, test: f64) -> Result<Self, SplitRatiosError> {
        let ok = [train, validation, test]
            .iter()
            .all(|r| r.is_finite() && (0.0..=1.0).contains(r))
            && ((train + validation + test) - 1.0).abs() < 1e-9;
        if ok {
            Ok(Self {
                train,
                validation,
                test,
            })
        } else {
            Err(SplitRatiosError {
                train,
                validation,
                test,
            })
        }
    }
}

/// A prompt's position in [0, 1) under the split hash.
fn unit_of(prompt_id: &str) -> f64 {
    let hash = xxh3_64_with_seed(prompt_id.as_bytes(), SPLIT_SEED);
    // top 53 bits → uniform in [0, 1)
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Number of validation folds [`split_of_fold`] accepts for `ratios`: how many blocks of the
/// validation share fit in the train + validation range.
pub fn fold_count(ratios: &SplitRatios) -> usize {
    if ratios.validation <= 0.0 {
        return 0;
    }
    ((ratios.train + ratios.validation) / ratios.validation + 1e-9).floor() as usize
}

/// The split of one prompt under cross-validation fold `fold`: the test split is exactly
/// [`split_of`]'s, and validation is the `fold`-th block of `ratios.validation` width in the
/// rest (the last fold, `fold_count − 1`, is [`split_of`]'s validation split when the ratios
/// divide evenly). For choosing settings on more than one validation split without ever
/// touching the test split. A fold out of range leaves no validation prompts.
pub fn split_of_fold(prompt_id: &str, ratios: &SplitRatios, fold: usize) -> Split {
    let u = unit_of(prompt_id);
    if u >= ratios.train + ratios.validation {
        return Split::Test;
    }
    let block = (u / ratios.validation).floor() as usize;
    if ratios.validation > 0.0 && block == fold {
        Split::Validation
    } else {
        Split::Train
    }
}

/// The split of one prompt.
pub fn split_of(prompt_id: &str, ratios: &SplitRatios) -> Split {
    let u = unit_of(prompt_id);
    if u < ratios.train {
        Split::Train
    } else if u < ratios.train + ratios.validation {
        Split::Validation
    } else {
        Split::Test
    }
}

/// The frame with a `split` column (`train`/`validation`/`test`) computed from `prompt_id`.
pub fn with_split_column(mut df: DataFrame, ratios: &SplitRatios) -> PolarsResult<DataFrame> {
    let ids = df.column(schema::PROMPT_ID)?.str()?.clone();
    let split: StringChunked = ids
        .iter()
        .map(|id| id.map(|id| split_of(id, ratios).as_str()))
        .collect();
    df.with_column(split.with_name(schema::SPLIT.into()).into_column())?;
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_the_test_split_and_move_validation() {
        let ratios = SplitRatios::default();
        assert_eq!(fold_count(&ratios), 9);
        let ids: Vec<String> = (0..5_000)
            .map(|i| crate::text::prompt_id(&format!("prompt {i}")))
            .collect();
        let mut in_some_validation = 0;
        for id in &ids {
            let plain = split_of(id, &ratios);
            // The last fold is the plain split.
            assert_eq!(split_of_fold(id, &ratios, 8), plain);
            let folds: Vec<Split> = (0..9).map(|k| split_of_fold(id, &ratios, k)).collect();
            if plain == Split::Test {
                assert!(folds.iter().all(|s| *s == Split::Test));
            } else {
                // Exactly one fold validates on each non-test prompt.
                let v = folds.iter().filter(|s| **s == Split::Validation).count();
                assert_eq!(v, 1);
                in_some_validation += 1;
            }
        }
        assert!(in_some_validation > 4_000);
    }

    #[test]
    fn split_is_deterministic_and_follows_ratios() {
        let ratios = SplitRatios::default();
        let mut counts = [0usize; 3];
        for i in 0..20_000 {
            let id = crate::text::prompt_id(&format!("prompt {i}"));
            let s = split_of(&id, &ratios);
            assert_eq!(s, split_of(&id, &ratios));
            counts[s as usize] += 1;
        }
        let share = |n: usize| n as f64 / 20_000.0;
        assert!((share(counts[0]) - 0.8).abs() < 0.02, "{counts:?}");
        assert!((share(counts[1]) - 0.1).abs() < 0.02, "{counts:?}");
        assert!((share(counts[2]) - 0.1).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn split_of_known_ids_is_pinned() {
        // Pinned so that a change of hash or seed (which would reshuffle every user's
        // splits) fails loudly.
        let pinned: String = (0..24)
            .map(
                |i| match split_of(&format!("{i:016x}"), &SplitRatios::default()) {
                    Split::Train => 'r',
                    Split::Validation => 'v',
                    Split::Test => 't',
                },
            )
            .collect();
        assert_eq!(pinned, "rrvrrrrrrtrrvrrrrrtrrrrr");
    }

    #[test]
    fn ratios_are_validated() {
        assert!(SplitRatios::new(0.7, 0.2, 0.1).is_ok());
        assert!(SplitRatios::new(0.7, 0.2, 0.2).is_err());
        assert!(SplitRatios::new(-0.1, 0.6, 0.5).is_err());
        let all_train = SplitRatios::new(1.0, 0.0, 0.0).unwrap();
        assert_eq!(split_of("abc", &all_train), Split::Train);
    }

    #[test]
    fn split_column_is_added() {
        let df = df!(schema::PROMPT_ID => ["a", "b", "a"]).unwrap();
        let df = with_split_column(df, &SplitRatios::default()).unwrap();
        let split = df.column(schema::SPLIT).unwrap().str().unwrap().clone();
        assert_eq!(split.get(0), split.get(2));
        assert_eq!(
            split.get(0),
            Some(split_of("a", &SplitRatios::default()).as_str())
        );
    }
}
