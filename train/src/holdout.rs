//! `--hold-out-labels MODEL@DATASET`: one model's outcomes on one dataset never reach
//! training, while its outcomes elsewhere and the dataset's other models do. `train eval`
//! then compares the router's mean predicted quality for that model on that dataset with
//! the real mean ([`crate::eval::calibration`]): can the router compare models that never
//! answered the same prompts?

use datasets::schema;
use polars::prelude::{BooleanChunked, DataFrame, NewChunkedArray};
use thiserror::Error;

/// A (model, dataset) pair whose labels are held out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldOut {
    pub model: String,
    pub dataset: String,
}

impl HeldOut {
    /// The manifest's and the flag's spelling, `MODEL@DATASET`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.model, self.dataset)
    }
}

#[derive(Debug, Error)]
pub enum HoldOutError {
    #[error(
        "--hold-out-labels: `{0}` is not MODEL@DATASET (the last `@` separates them; model names may contain `@`)"
    )]
    Malformed(String),
    #[error(
        "--hold-out-labels: `{0}` matches no outcome row (model names as after loading, e.g. canonical aliases; dataset keys as in --datasets)"
    )]
    NoRows(String),
    #[error("--hold-out-labels: reading the outcome table: {0}")]
    Frame(#[from] polars::error::PolarsError),
}

/// Parses `MODEL@DATASET` (split at the last `@`: dataset keys never contain one).
pub fn parse(spec: &str) -> Result<HeldOut, HoldOutError> {
    match spec.trim().rsplit_once('@') {
        Some((m, d)) if !m.trim().is_empty() && !d.trim().is_empty() => Ok(HeldOut {
            model: m.trim().to_string(),
            dataset: d.trim().to_string(),
        }),
        _ => Err(HoldOutError::Malformed(spec.to_string())),
    }
}

/// The frame without the held-out pairs' rows, and how many rows each pair removed. A pair
/// that matches no row is an error: a misspelt model would otherwise hold out nothing.
pub fn remove(
    frame: &DataFrame,
    held: &[HeldOut],
) -> Result<(DataFrame, Vec<(String, usize)>), HoldOutError> {
    if held.is_empty() {
        return Ok((frame.clone(), Vec::new()));
    }
    let model = frame.column(schema::MODEL)?.str()?;
    let dataset = frame.column(schema::DATASET)?.str()?;
    let mut removed = vec![0usize; held.len()];
    let keep: Vec<bool> = model
        .iter()
        .zip(dataset.iter())
        .map(|(m, d)| {
            let hit = held
                .iter()
                .position(|h| Some(h.model.as_str()) == m && Some(h.dataset.as_str()) == d);
            if let Some(i) = hit {
                removed[i] += 1;
            }
            hit.is_none()
        })
        .collect();
    if let Some(i) = removed.iter().position(|&n| n == 0) {
        return Err(HoldOutError::NoRows(held[i].key()));
    }
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let kept = frame.filter(&mask)?;
    Ok((kept, held.iter().map(HeldOut::key).zip(removed).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, IntoColumn, NamedFrom, Series};

    fn frame() -> DataFrame {
        let col = |name: &str, v: &[&str]| Series::new(name.into(), v).into_column();
        DataFrame::new(
            4,
            vec![
                col(schema::MODEL, &["a", "a@p", "b", "a"]),
                col(schema::DATASET, &["x", "x", "x", "y"]),
                Column::new("score".into(), &[1.0, 0.0, 1.0, 0.0]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn parses_at_the_last_at_sign() {
        assert_eq!(
            parse("Llama-3.1-405B-Inst@hyperbolic@zeroeval_math_l5").unwrap(),
            HeldOut {
                model: "Llama-3.1-405B-Inst@hyperbolic".into(),
                dataset: "zeroeval_math_l5".into()
            }
        );
        for bad in ["gpt-4o", "@x", "m@", ""] {
            assert!(
                matches!(parse(bad), Err(HoldOutError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn removes_only_the_pair_and_counts_it() {
        let held = [parse("a@x").unwrap()];
        let (kept, removed) = remove(&frame(), &held).unwrap();
        assert_eq!(removed, vec![("a@x".to_string(), 1)]);
        assert_eq!(kept.height(), 3);
        let models: Vec<Option<&str>> = kept
            .column(schema::MODEL)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        // `a@p` on x and `a` on y stay.
        assert_eq!(models, [Some("a@p"), Some("b"), Some("a")]);
    }

    #[test]
    fn a_pair_without_rows_is_an_error() {
        let held = [parse("a@x").unwrap(), parse("c@x").unwrap()];
        let err = remove(&frame(), &held).unwrap_err();
        assert!(
            err.to_string().contains("`c@x` matches no outcome row"),
            "{err}"
        );
    }
}
