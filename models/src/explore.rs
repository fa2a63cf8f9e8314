//! Exploration with logged propensities (the gateway's `[routing.explore]`): after the
//! policy has ranked the *eligible* candidates (every caller constraint already applied by
//! [`crate::policy::decide`]), serve one of them at random instead of always the winner, and
//! record the probability with which it was chosen. Logged propensities are what lets replay
//! evaluation (inverse propensity scoring) estimate another policy's value from this traffic.
//!
//! Only candidates whose utility is within `band` of the winner's can be explored: a band keeps
//! exploration away from candidates the policy is sure are much worse. Within the band:
//! - `epsilon`: with probability ε a uniformly random band member, else the winner, so the
//!   winner's probability is `1 − ε + ε/k` and every other member's `ε/k` (`k` band members);
//! - `temperature`: a softmax over the band's utilities, `exp((u − u_max)/T)` normalised;
//! - both: the ε-mixture of the softmax and the uniform distribution.
//!
//! The draw is seeded by the decision id (an xxh3 hash of it into [`SplitMix64`]), so the
//! choice is reproducible from the record alone: the same id, utilities and settings give
//! the same pick. Works on the policy's ranked list and leaves the policy itself unchanged;
//! the fallback order after the explored pick keeps the policy's ranking for the rest.

use serde::{Deserialize, Serialize};

use crate::policy::Decision;

/// `[routing.explore]`: off unless `epsilon` or `temperature` is set.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExploreConfig {
    /// Probability of a uniform pick within the band, in [0, 1].
    #[serde(default)]
    pub epsilon: Option<f64>,
    /// Softmax temperature over the band's utilities (> 0); `None`: no softmax.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// How far below the winner's utility a candidate may be and still be explored (≥ 0);
    /// `None`: every eligible candidate.
    #[serde(default)]
    pub band: Option<f64>,
}

/// Why an `[routing.explore]` setting is refused: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`routing.explore.{field}` {problem}")]
pub struct ExploreConfigError {
    /// `epsilon`, `temperature` or `band`.
    pub field: &'static str,
    /// What is wrong, in words.
    pub problem: String,
}

impl ExploreConfig {
    /// Whether the settings explore at all (ε > 0 or a temperature).
    pub fn is_on(&self) -> bool {
        self.epsilon.is_some_and(|e| e > 0.0) || self.temperature.is_some()
    }

    /// Checks the ranges: ε in [0, 1], temperature > 0, band ≥ 0, all finite.
    pub fn validate(&self) -> Result<(), ExploreConfigError> {
        let bad = |field, problem: &str, v: f64| ExploreConfigError {
            field,
            problem: format!("{problem}, got {v}"),
        };
        if let Some(e) = self.epsilon
            && !(e.is_finite() && (0.0..=1.0).contains(&e))
        {
            return Err(bad("epsilon", "must be between 0 and 1", e));
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && t > 0.0)
        {
            return Err(bad("temperature", "must be a finite number above 0", t));
        }
        if let Some(b) = self.band
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(bad("band", "must be a finite non-negative number", b));
        }
        Ok(())
    }
}

/// The pick for one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Index into the ranked list of the candidate served first.
    pub index: usize,
    /// The probability with which it was chosen (1.0 when not exploring).
    pub propensity: f64,
    /// The ranked list reordered: the pick, then the others in the policy's ranking.
    pub order: Vec<usize>,
}

/// The probability of each candidate of `ranked_utilities` (the policy's eligible
/// candidates, best first) under `cfg`; candidates outside the band get 0. Sums to 1 for a
/// non-empty list; with exploration off the winner gets 1.
pub fn probabilities(ranked_utilities: &[f64], cfg: &ExploreConfig) -> Vec<f64> {
    let mut probs = vec![0.0; ranked_utilities.len()];
    let Some(&best) = ranked_utilities.first() else {
        return probs;
    };
    if !cfg.is_on() {
        probs[0] = 1.0;
        return probs;
    }
    let band = cfg.band.unwrap_or(f64::INFINITY);
    // The ranked list is best first, so the band is a prefix; a utility that is not a number
    // (never eligible in practice) ends it.
    let k = ranked_utilities
        .iter()
        .take_while(|u| u.is_finite() && best - **u <= band)
        .count()
        .max(1);
    let base: Vec<f64> = match cfg.temperature {
        Some(t) => {
            let weights: Vec<f64> = ranked_utilities[..k]
                .iter()
                .map(|u| ((u - best) / t).exp())
                .collect();
            let total: f64 = weights.iter().sum();
            weights.iter().map(|w| w / total).collect()
        }
        None => {
            let mut greedy = vec![0.0; k];
            greedy[0] = 1.0;
            greedy
        }
    };
    let eps = cfg.epsilon.unwrap_or(0.0);
    let uniform = 1.0 / k as f64;
    for (p, b) in probs.iter_mut().zip(base) {
        *p = (1.0 - eps) * b + eps * uniform;
    }
    probs
}

/// Picks the candidate to serve from the policy's ranked eligible list (their utilities,
/// best first), seeded by `decision_id`; `None` for an empty list. With exploration off (or
/// `explore = false` on the request: pass [`ExploreConfig::default`]) the winner, with
/// propensity 1.0.
pub fn pick(ranked_utilities: &[f64], cfg: &ExploreConfig, decision_id: &str) -> Option<Pick> {
    let probs = probabilities(ranked_utilities, cfg);
    if probs.is_empty() {
        return None;
    }
    let index = if probs[0] >= 1.0 {
        0
    } else {
        let u = SplitMix64::from_id(decision_id).next_f64();
        sample(&probs, u)
    };
    let order = std::iter::once(index)
        .chain((0..probs.len()).filter(|&i| i != index))
        .collect();
    Some(Pick {
        index,
        propensity: probs[index],
        order,
    })
}

/// A decision's route after exploration, in indices into `Decision::candidates`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExploredRoute {
    /// The candidate served first.
    pub served: usize,
    /// The probability with which it was chosen (1.0 when not exploring).
    pub propensity: f64,
    /// The served candidate, then the other eligible ones in the policy's ranking.
    pub order: Vec<usize>,
}

/// Applies [`pick`] to a policy decision's ranking (winner, then fallbacks); `None` when the
/// decision has no winner.
pub fn explore_route(
    decision: &Decision,
    cfg: &ExploreConfig,
    decision_id: &str,
) -> Option<ExploredRoute> {
    let ranked: Vec<usize> = decision
        .winner
        .iter()
        .chain(&decision.fallback_order)
        .copied()
        .collect();
    let utilities: Vec<f64> = ranked
        .iter()
        .map(|&i| decision.candidates[i].utility)
        .collect();
    let p = pick(&utilities, cfg, decision_id)?;
    Some(ExploredRoute {
        served: ranked[p.index],
        propensity: p.propensity,
        order: p.order.iter().map(|&j| ranked[j]).collect(),
    })
}

/// The index whose cumulative probability first exceeds `u` (in [0, 1)); rounding that
/// leaves `u` past the last cumulative sum picks the last candidate with probability > 0.
fn sample(probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc && *p > 0.0 {
            return i;
        }
    }
    probs.iter().rposition(|p| *p > 0.0).unwrap_or(0)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator, enough for one draw
/// per decision; seeded from the decision id so a draw can be recomputed from the record.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// A generator seeded with the xxh3 hash of a decision id.
    pub fn from_id(id: &str) -> SplitMix64 {
        SplitMix64::new(xxhash_rust::xxh3::xxh3_64(id.as_bytes()))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(e: f64) -> ExploreConfig {
        ExploreConfig {
            epsilon: Some(e),
            ..ExploreConfig::default()
        }
    }

    #[test]
    fn off_serves_the_winner_with_propensity_one() {
        let p = pick(&[0.9, 0.8, 0.1], &ExploreConfig::default(), "any").unwrap();
        assert_eq!(p.index, 0);
        assert_eq!(p.propensity, 1.0);
        assert_eq!(p.order, vec![0, 1, 2]);
        assert_eq!(pick(&[], &eps(0.5), "any"), None);
    }

    #[test]
    fn epsilon_within_a_band_gives_the_textbook_probabilities() {
        let cfg = ExploreConfig {
            band: Some(0.15),
            ..eps(0.3)
        };
        let probs = probabilities(&[0.9, 0.8, 0.76, 0.1], &cfg);
        let k = 3.0;
        assert!((probs[0] - (0.7 + 0.3 / k)).abs() < 1e-12);
        assert!((probs[1] - 0.3 / k).abs() < 1e-12);
        assert!((probs[2] - 0.3 / k).abs() < 1e-12);
        assert_eq!(probs[3], 0.0, "outside the band");
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn softmax_follows_utilities_and_mixes_with_epsilon() {
        let cfg = ExploreConfig {
            temperature: Some(0.1),
            epsilon: Some(0.2),
            band: None,
        };
        let probs = probabilities(&[0.5, 0.4], &cfg);
        let w = (-1.0f64).exp();
        let soft = [1.0 / (1.0 + w), w / (1.0 + w)];
        assert!((probs[0] - (0.8 * soft[0] + 0.1)).abs() < 1e-12);
        assert!((probs[1] - (0.8 * soft[1] + 0.1)).abs() < 1e-12);
        assert!(probs[0] > probs[1]);
    }

    #[test]
    fn the_same_id_gives_the_same_pick_and_frequencies_match_propensities() {
        let utils = [0.9, 0.85, 0.8];
        let cfg = eps(0.6);
        let probs = probabilities(&utils, &cfg);
        let n = 20_000;
        let mut counts = [0usize; 3];
        for i in 0..n {
            let id = format!("id-{i}");
            let a = pick(&utils, &cfg, &id).unwrap();
            assert_eq!(a, pick(&utils, &cfg, &id).unwrap(), "reproducible");
            assert_eq!(a.propensity, probs[a.index]);
            assert_eq!(a.order[0], a.index);
            counts[a.index] += 1;
        }
        for (c, p) in counts.iter().zip(&probs) {
            let freq = *c as f64 / f64::from(n);
            // 4 standard errors of a binomial proportion.
            let tol = 4.0 * (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!((freq - p).abs() < tol, "{freq} vs {p}");
        }
    }

    #[test]
    fn the_fallback_order_keeps_the_policy_ranking_after_the_pick() {
        let utils = [0.9, 0.9, 0.9, 0.9];
        let cfg = eps(1.0);
        let explored = (0..200)
            .map(|i| pick(&utils, &cfg, &format!("x{i}")).unwrap())
            .find(|p| p.index == 2)
            .unwrap();
        assert_eq!(explored.order, vec![2, 0, 1, 3]);
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_the_field() {
        assert_eq!(eps(1.5).validate().unwrap_err().field, "epsilon");
        let t = ExploreConfig {
            temperature: Some(0.0),
            ..ExploreConfig::default()
        };
        assert_eq!(t.validate().unwrap_err().field, "temperature");
        let b = ExploreConfig {
            band: Some(-1.0),
            ..eps(0.1)
        };
        assert_eq!(b.validate().unwrap_err().field, "band");
        assert!(eps(0.1).validate().is_ok());
        assert!(!eps(0.0).is_on() && eps(0.1).is_on());
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Reference values for seed 0 (the published SplitMix64 test vector).
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let u = SplitMix64::from_id("a").next_f64();
        assert!((0.0..1.0).contains(&u));
    }
}
