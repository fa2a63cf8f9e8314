//! Each candidate's expected answer length (`expected_output_tokens` in the manifest), on
//! one scale for every candidate.
//!
//! A plain mean over a model's rows measures the datasets it was labelled on, not the
//! model: GPT-4's mean over RouteLLM's MMLU (one-letter answers) and MT-Bench is about 30
//! tokens, while a model labelled only on chat sets averages 500, so a per-request cost
//! estimate built on those means makes GPT-4 look as cheap as a 7B model. Instead the log
//! length is fitted as model verbosity plus dataset level, `log(1 + tokens) ≈ a_model +
//! b_dataset`, on the datasets whose lengths were measured (a dataset where every row has
//! the same length carries a loader's constant — a letter, a default — and says nothing
//! about verbosity), and a model's expectation is `exp(a_model + b̄) − 1`, with `b̄` the
//! mean level of those datasets: the typical measured answer, at the model's verbosity.
//! Models without a measured row get the mean verbosity; ratios are capped at
//! [`MAX_VERBOSITY_RATIO`] either way.

use std::collections::{BTreeMap, HashMap};

/// Pseudo-rows of the mean verbosity in each model's estimate (a model with a handful of
/// measured answers stays near the mean).
pub const VERBOSITY_PRIOR_ROWS: f64 = 20.0;

/// Largest verbosity ratio to the mean model (either way). Ratios fitted on one set do not
/// transfer whole: on MMLU-Pro, where most models answer in a few tokens, a model that
/// reasons at length measures 30–100× the mean, which at a chat set's level would be
/// thousands of tokens per answer.
pub const MAX_VERBOSITY_RATIO: f64 = 4.0;

/// Rounds of alternating means (the fit converges in a few).
const ROUNDS: usize = 20;

/// Expected output tokens per model from train-split rows `(model, dataset, output_tokens)`.
/// Models absent from `rows` are absent from the map; without any measured dataset every
/// model gets the plain mean of its rows.
pub fn expected_output_tokens<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, u32)>,
) -> HashMap<&'a str, f64> {
    let raw: Vec<(&str, &str, u32)> = rows.into_iter().collect();
    let rows: Vec<(&str, &str, f64)> = raw
        .iter()
        .map(|&(m, d, t)| (m, d, (1.0 + f64::from(t)).ln()))
        .collect();
    let mut span: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for &(_, d, y) in &rows {
        let s = span.entry(d).or_insert((y, y));
        s.0 = s.0.min(y);
        s.1 = s.1.max(y);
    }
    let measured = |d: &str| span.get(d).is_some_and(|(lo, hi)| hi > lo);
    let fit: Vec<(&str, &str, f64)> = rows.iter().copied().filter(|r| measured(r.1)).collect();
    if fit.is_empty() {
        let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
        for &(m, _, t) in &raw {
            let s = sums.entry(m).or_default();
            s.0 += f64::from(t);
            s.1 += 1.0;
        }
        return sums.into_iter().map(|(m, (s, n))| (m, s / n)).collect();
    }

    let mut a: HashMap<&str, f64> = fit.iter().map(|r| (r.0, 0.0)).collect();
    let mut b: HashMap<&str, f64> = HashMap::new();
    let mut mean_a = 0.0;
    for _ in 0..ROUNDS {
        let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
        for &(m, d, y) in &fit {
            let s = sums.entry(d).or_default();
            s.0 += y - a[m];
            s.1 += 1.0;
        }
        b = sums.into_iter().map(|(d, (s, n))| (d, s / n)).collect();
        let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
        for &(m, d, y) in &fit {
            let s = sums.entry(m).or_default();
            s.0 += y - b[d];
            s.1 += 1.0;
        }
        mean_a = sums.values().map(|(s, n)| s / n).sum::<f64>() / sums.len() as f64;
        a = sums
            .into_iter()
            .map(|(m, (s, n))| {
                (
                    m,
                    (s + VERBOSITY_PRIOR_ROWS * mean_a) / (n + VERBOSITY_PRIOR_ROWS),
                )
            })
            .collect();
    }
    let level = b.values().sum::<f64>() / b.len() as f64;
    rows.iter()
        .map(|&(m, _, _)| {
            let bound = MAX_VERBOSITY_RATIO.ln();
            let verbosity = a
                .get(m)
                .copied()
                .unwrap_or(mean_a)
                .clamp(mean_a - bound, mean_a + bound);
            (m, ((verbosity + level).exp() - 1.0).max(0.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_is_measured_where_lengths_vary_and_levels_are_shared() {
        let mut rows = Vec::new();
        // A chat set with measured lengths: `a` answers 400 tokens, `b` 100 (two prompts
        // each, so the set's lengths vary).
        for _ in 0..200 {
            rows.push(("a", "chat", 400));
            rows.push(("b", "chat", 100));
        }
        // A multiple-choice set where every answer is one letter: `a` and `c` labelled.
        for _ in 0..500 {
            rows.push(("a", "mc", 1));
            rows.push(("c", "mc", 1));
        }
        let got = expected_output_tokens(rows);
        // `a` keeps its chat length, a little shrunk toward the mean verbosity (a plain
        // mean over its rows would give ~115, below `b`).
        assert!((got["a"] - 400.0).abs() < 30.0, "{got:?}");
        assert!((got["b"] - 100.0).abs() < 10.0, "{got:?}");
        assert!(got["a"] > 3.0 * got["b"], "{got:?}");
        // `c` has no measured answer: the mean verbosity, between a and b (≈ √(401·101)).
        assert!((got["c"] - 200.0).abs() < 15.0, "{got:?}");
    }

    #[test]
    fn verbosity_ratios_are_capped() {
        let mut rows = Vec::new();
        for _ in 0..500 {
            rows.extend([("terse", "x", 2), ("plain", "x", 2), ("wordy", "x", 2000)]);
        }
        let got = expected_output_tokens(rows);
        // The mean model answers exp(mean log length) − 1 = (3·3·2001)^(1/3) − 1 ≈ 25.2
        // tokens; `wordy` is capped at 4× that (in 1 + tokens).
        let typical = (3.0f64 * 3.0 * 2001.0).cbrt();
        let capped = MAX_VERBOSITY_RATIO * typical - 1.0;
        assert!((got["wordy"] - capped).abs() < 0.5, "{got:?} vs {capped}");
        assert!(
            got["terse"] < got["plain"] + 1e-9 && got["plain"] < 10.0,
            "{got:?}"
        );
    }

    #[test]
    fn without_measured_lengths_the_plain_mean_is_kept() {
        let got = expected_output_tokens([("a", "mc", 1), ("a", "mc", 1), ("b", "x", 50)]);
        assert!((got["a"] - 1.0).abs() < 1e-9);
        assert!((got["b"] - 50.0).abs() < 1e-9);
    }
}
