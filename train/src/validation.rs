//! Validation metrics of the quality and task heads (BCE, AUC, MAE, task accuracy), computed
//! every epoch for early stopping and recorded in the manifest. The offline evaluation's
//! routing metrics are [`crate::eval::metrics`].

use crate::data::Example;
use crate::inference::Predictions;

/// Figures on the validation split, pooled over labelled (prompt, model) pairs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValidationMetrics {
    /// Mean binary cross-entropy of the predicted quality against the normalised score.
    pub bce: f64,
    /// ROC AUC over the pairs with a binary (0/1) outcome; `None` without both classes.
    pub auc: Option<f64>,
    /// Mean absolute error of the predicted quality.
    pub mae: f64,
    /// Share of prompts whose most probable task is their labelled task.
    pub task_accuracy: f64,
    /// Labelled pairs evaluated.
    pub pairs: usize,
    pub prompts: usize,
}

/// Computes [`ValidationMetrics`] for `examples` and their predictions (same order).
pub fn metrics(examples: &[&Example], predictions: &Predictions) -> ValidationMetrics {
    let (mut bce, mut mae, mut pairs) = (0.0, 0.0, 0usize);
    let mut binary: Vec<(f64, bool)> = Vec::new();
    let mut task_hits = 0usize;
    for (i, e) in examples.iter().enumerate() {
        let q = predictions.quality(i);
        for m in e.labelled() {
            let p = f64::from(q[m]).clamp(1e-7, 1.0 - 1e-7);
            let y = f64::from(e.labels[m]);
            bce -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
            mae += (p - y).abs();
            pairs += 1;
            if y == 0.0 || y == 1.0 {
                binary.push((p, y == 1.0));
            }
        }
        if argmax(predictions.task_probs(i)) == Some(e.task) {
            task_hits += 1;
        }
    }
    let denom = pairs.max(1) as f64;
    ValidationMetrics {
        bce: bce / denom,
        auc: auc(&mut binary),
        mae: mae / denom,
        task_accuracy: task_hits as f64 / examples.len().max(1) as f64,
        pairs,
        prompts: examples.len(),
    }
}

/// Index of the largest value (first on ties); `None` for an empty slice.
pub fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// ROC AUC by the rank-sum (Mann–Whitney) formula, ties sharing their mean rank.
pub fn auc(scored: &mut [(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|(_, y)| *y).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j + 1 < scored.len() && scored[j + 1].0 == scored[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mean_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mean_rank * scored[i..=j].iter().filter(|(_, y)| *y).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_rankings() {
        let mut perfect = vec![(0.1, false), (0.2, false), (0.8, true), (0.9, true)];
        assert_eq!(auc(&mut perfect), Some(1.0));
        let mut inverted = vec![(0.9, false), (0.1, true)];
        assert_eq!(auc(&mut inverted), Some(0.0));
        let mut tied = vec![(0.5, false), (0.5, true)];
        assert_eq!(auc(&mut tied), Some(0.5));
        let mut one_class = vec![(0.5, true)];
        assert_eq!(auc(&mut one_class), None);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
