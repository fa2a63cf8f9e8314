//! Drift: per model, the router's predicted quality against the realised quality that
//! feedback reports, as exponentially weighted moving averages. A model whose answers get
//! worse (a provider swapped the weights, a prompt template broke) shows as realised quality
//! falling below predicted, before any offline evaluation would see it.
//!
//! Each decision counts once per source: its first feedback (revision 1); replacements
//! correct the stored record but would count one answer twice here. The averages weigh the
//! last [`HALF_LIFE`] judgements half, so a change shows within a few hundred requests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// How many judgements back a judgement's weight halves.
pub const HALF_LIFE: f64 = 200.0;

/// One model's drift figures.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ModelDrift {
    /// Judgements with a prediction to compare (since start).
    pub count: u64,
    /// Moving average of the predicted quality of the judged answers.
    pub predicted_quality: f64,
    /// Moving average of their realised quality (feedback scores).
    pub realised_quality: f64,
    /// `|predicted − realised|` of the two averages: the calibration error now.
    pub calibration_error: f64,
    /// Mean realised quality over every judgement since start.
    pub realised_quality_all: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Running {
    count: u64,
    predicted: f64,
    realised: f64,
    realised_sum: f64,
}

/// Per-model drift, updated by each accepted feedback.
#[derive(Debug, Default)]
pub struct Drift {
    models: Mutex<BTreeMap<String, Running>>,
}

impl Drift {
    /// Adds one judgement of `model`'s answer: predicted `predicted`, realised `score`.
    pub fn observe(&self, model: &str, predicted: f64, score: f64) {
        let alpha = 1.0 - 0.5f64.powf(1.0 / HALF_LIFE);
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        let r = models.entry(model.to_string()).or_default();
        if r.count == 0 {
            (r.predicted, r.realised) = (predicted, score);
        } else {
            // Until HALF_LIFE judgements have arrived, a plain mean: an EWMA started from
            // the first value would weigh it far more than the others.
            let w = alpha.max(1.0 / (r.count as f64 + 1.0));
            r.predicted += w * (predicted - r.predicted);
            r.realised += w * (score - r.realised);
        }
        r.count += 1;
        r.realised_sum += score;
    }

    /// Every model with a judgement, by name.
    pub fn snapshot(&self) -> BTreeMap<String, ModelDrift> {
        let models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        models
            .iter()
            .map(|(m, r)| {
                (
                    m.clone(),
                    ModelDrift {
                        count: r.count,
                        predicted_quality: r.predicted,
                        realised_quality: r.realised,
                        calibration_error: (r.predicted - r.realised).abs(),
                        realised_quality_all: r.realised_sum / r.count.max(1) as f64,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_that_gets_worse_shows_within_a_half_life() {
        let drift = Drift::default();
        for _ in 0..1000 {
            drift.observe("m", 0.8, 0.8);
        }
        let before = drift.snapshot()["m"];
        assert!(before.calibration_error < 1e-9);
        for _ in 0..200 {
            drift.observe("m", 0.8, 0.0);
        }
        let after = drift.snapshot()["m"];
        assert_eq!(after.count, 1200);
        // One half-life of zeros halves the realised average.
        assert!((after.realised_quality - 0.4).abs() < 0.01, "{after:?}");
        assert!((after.calibration_error - 0.4).abs() < 0.01);
    }

    #[test]
    fn the_first_judgements_are_a_plain_mean() {
        let drift = Drift::default();
        drift.observe("m", 0.5, 1.0);
        drift.observe("m", 0.7, 0.0);
        let d = drift.snapshot()["m"];
        assert!((d.realised_quality - 0.5).abs() < 1e-12);
        assert!((d.predicted_quality - 0.6).abs() < 1e-12);
    }
}
