//! Properties of the featurizer and the policy over arbitrary inputs.

use models::policy::{CandidateInput, Constraints, Objective, decide};
use models::{Featurizer, FeaturizerConfig, HashedNgramsConfig};
use proptest::prelude::*;

fn small_featurizer() -> Featurizer {
    Featurizer::new(FeaturizerConfig::HashedNgrams(HashedNgramsConfig {
        buckets: 1 << 12,
        max_features: 64,
        ..HashedNgramsConfig::default()
    }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn featurizer_output_is_well_formed(text in "\\PC{0,300}") {
        let f = small_featurizer();
        let x = f.featurize(&text);
        prop_assert_eq!(x.ids.len(), x.weights.len());
        prop_assert!(x.ids.len() <= 64);
        prop_assert!(x.ids.iter().all(|&id| (1..1 << 12).contains(&id)));
        let mut ids = x.ids.clone();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), x.ids.len());
        if !x.weights.is_empty() {
            let norm: f32 = x.weights.iter().map(|w| w * w).sum::<f32>().sqrt();
            prop_assert!((norm - 1.0).abs() < 1e-4);
        }
        prop_assert_eq!(x.dense.len(), f.dense_dim());
        prop_assert!(x.dense.iter().all(|v| v.is_finite() && *v >= 0.0));
        prop_assert_eq!(&f.featurize(&text), &x);
    }

    #[test]
    fn winner_is_eligible_and_best(
        qualities in prop::collection::vec(0.0f64..1.0, 1..6),
        costs in prop::collection::vec(prop::option::of(0.0f64..0.05), 6),
        cap in prop::option::of(0.0f64..0.05),
        lambda in 0.0f64..500.0,
    ) {
        let candidates: Vec<CandidateInput> = qualities
            .iter()
            .enumerate()
            .map(|(i, &q)| CandidateInput {
                model: format!("m{i}"),
                predicted_quality: q,
                est_cost_usd: costs[i],
                est_latency_ms: None,
                unavailable: None,
            })
            .collect();
        let objective = Objective::Weighted { quality: 1.0, cost_per_usd: lambda, latency_per_s: 0.0 };
        let constraints = Constraints { max_cost_usd: cap, ..Constraints::default() };
        let d = decide(&candidates, &objective, &constraints);
        let eligible: Vec<usize> = (0..candidates.len())
            .filter(|&i| d.candidates[i].excluded.is_none())
            .collect();
        // Every candidate is either the winner, a fallback, or excluded with a reason.
        let mut routed: Vec<usize> = d.winner.iter().chain(&d.fallback_order).copied().collect();
        routed.sort_unstable();
        prop_assert_eq!(&routed, &eligible);
        match d.winner {
            None => prop_assert!(eligible.is_empty()),
            Some(w) => {
                for &i in &eligible {
                    prop_assert!(d.candidates[w].utility >= d.candidates[i].utility);
                }
                if let Some(cap) = cap {
                    prop_assert!(d.candidates[w].est_cost_usd.is_some_and(|c| c <= cap));
                }
                prop_assert!(d.reason.starts_with(&d.candidates[w].model));
            }
        }
        // Fallbacks are in non-increasing utility.
        for pair in d.fallback_order.windows(2) {
            prop_assert!(d.candidates[pair[0]].utility >= d.candidates[pair[1]].utility);
        }
    }
}
