//! The decision policy: which candidate answers, in which order the others are tried when it
//! fails, and why. Shared by `serve` (per request) and `train eval` (offline sweeps), so that
//! offline numbers describe exactly what the gateway does.
//!
//! Rules, in order:
//! 1. Exclusions (the first that applies is recorded, in this order): `not in requested
//!    candidates`, `excluded by caller`, `unavailable: <reason>`, `predicted quality is not a
//!    number`, under a cost cap `estimated cost unknown; cannot check the $Y cap` or `estimated
//!    cost $X exceeds cap $Y`, `predicted quality X below minimum Y`.
//! 2. Utility = `quality·q − cost_per_usd·cost_usd − latency_per_s·latency_s`, with weights from
//!    the [`Objective`]. When a weight is non-zero and a candidate's estimate is missing, the
//!    worst (highest) estimate among the candidates stands in for it — unknown is never
//!    rewarded; with no estimate at all the term is 0 for everyone.
//! 3. The winner is the eligible candidate with the highest utility; ties go to the cheaper,
//!    then the faster, then the earlier candidate. `fallback_order` is the other eligible
//!    candidates in the same order.

use serde::{Deserialize, Serialize};

/// `Objective::Cost`'s willingness to pay: 100 utility per USD, i.e. one full point of
/// quality (the 0–1 scale) is worth $0.01 per request, and a 0.1 quality gain is worth
/// $0.001 — about GPT-4-class versus Mixtral-class cost for a short prompt.
pub const DEFAULT_COST_PER_USD: f64 = 100.0;

/// `Objective::Latency`'s penalty: 0.1 quality per second of expected latency.
pub const DEFAULT_LATENCY_PER_S: f64 = 0.1;

/// What the policy knows about one candidate for one prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateInput {
    pub model: String,
    /// The scorer's predicted normalised quality in [0, 1].
    pub predicted_quality: f64,
    /// Estimated cost of this request in USD; `None` when the price is unknown.
    pub est_cost_usd: Option<f64>,
    /// Estimated latency in milliseconds; `None` when unknown.
    pub est_latency_ms: Option<f64>,
    /// Why the model cannot be used now (open circuit breaker, context too long, …).
    pub unavailable: Option<String>,
}

/// What the caller optimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Objective {
    /// Highest predicted quality; ties go to the cheaper.
    #[default]
    Quality,
    /// Quality minus [`DEFAULT_COST_PER_USD`] × cost.
    Cost,
    /// Quality minus [`DEFAULT_LATENCY_PER_S`] × latency in seconds.
    Latency,
    /// Explicit weights: `quality·q − cost_per_usd·cost − latency_per_s·latency_s`.
    Weighted {
        quality: f64,
        cost_per_usd: f64,
        latency_per_s: f64,
    },
}

impl Objective {
    /// The objective's weights as `(quality, cost_per_usd, latency_per_s)`.
    pub fn weights(&self) -> (f64, f64, f64) {
        match *self {
            Objective::Quality => (1.0, 0.0, 0.0),
            Objective::Cost => (1.0, DEFAULT_COST_PER_USD, 0.0),
            Objective::Latency => (1.0, 0.0, DEFAULT_LATENCY_PER_S),
            Objective::Weighted {
                quality,
                cost_per_usd,
                latency_per_s,
            } => (quality, cost_per_usd, latency_per_s),
        }
    }
}

/// Hard limits set by the caller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraints {
    /// Most a request may cost (estimated); candidates with unknown cost are excluded under a cap.
    pub max_cost_usd: Option<f64>,
    /// Least predicted quality.
    pub min_quality: Option<f64>,
    /// Only these models may be used (`None`: all).
    pub candidates: Option<Vec<String>>,
    /// These models may not be used.
    pub exclude: Vec<String>,
}

/// The policy's view of one candidate, in input order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateOutcome {
    pub model: String,
    pub predicted_quality: f64,
    pub est_cost_usd: Option<f64>,
    pub est_latency_ms: Option<f64>,
    /// Utility under the objective (computed for excluded candidates too, for the audit).
    pub utility: f64,
    /// Why the candidate could not win; `None` when eligible.
    pub excluded: Option<String>,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Index into `candidates` (= the input order) of the winner; `None` when all are excluded.
    pub winner: Option<usize>,
    /// The other eligible candidates, best first: who to try when the winner fails.
    pub fallback_order: Vec<usize>,
    pub candidates: Vec<CandidateOutcome>,
    /// One line for humans: why the winner won.
    pub reason: String,
}

impl Decision {
    /// The winner's model name.
    pub fn winner_model(&self) -> Option<&str> {
        self.winner.map(|i| self.candidates[i].model.as_str())
    }

    /// Winner then fallbacks: the order in which to try models.
    pub fn route(&self) -> impl Iterator<Item = &CandidateOutcome> {
        self.winner
            .iter()
            .chain(&self.fallback_order)
            .map(|&i| &self.candidates[i])
    }
}

/// Picks the winner and fallback order for `candidates` under `objective` and `constraints`.
/// See the module docs for the rules. Never panics; empty input gives no winner.
pub fn decide(
    candidates: &[CandidateInput],
    objective: &Objective,
    constraints: &Constraints,
) -> Decision {
    decide_owned(candidates.to_vec(), objective, constraints)
}

/// [`decide`] for callers that build the inputs per decision and do not need them after:
/// each outcome takes its input's model name instead of a copy. The gateway calls this
/// once per request with ~40 candidates, where the copies were a measurable share of the
/// allocations on the request path (docs/benchmarks.md).
pub fn decide_owned(
    candidates: Vec<CandidateInput>,
    objective: &Objective,
    constraints: &Constraints,
) -> Decision {
    let (w_quality, w_cost, w_latency) = objective.weights();
    let worst = |f: fn(&CandidateInput) -> Option<f64>| {
        candidates
            .iter()
            .filter_map(f)
            .filter(|v| v.is_finite())
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            })
            .unwrap_or(0.0)
    };
    let worst_cost = worst(|c| c.est_cost_usd);
    let worst_latency_ms = worst(|c| c.est_latency_ms);

    let outcomes: Vec<CandidateOutcome> = candidates
        .into_iter()
        .map(|c| {
            let cost = c
                .est_cost_usd
                .filter(|v| v.is_finite())
                .unwrap_or(worst_cost);
            let latency_ms = c
                .est_latency_ms
                .filter(|v| v.is_finite())
                .unwrap_or(worst_latency_ms);
            let mut utility = w_quality * c.predicted_quality;
            if w_cost != 0.0 {
                utility -= w_cost * cost;
            }
            if w_latency != 0.0 {
                utility -= w_latency * latency_ms / 1000.0;
            }
            let excluded = exclusion(&c, constraints);
            CandidateOutcome {
                model: c.model,
                predicted_quality: c.predicted_quality,
                est_cost_usd: c.est_cost_usd,
                est_latency_ms: c.est_latency_ms,
                utility,
                excluded,
            }
        })
        .collect();

    let mut eligible: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].excluded.is_none())
        .collect();
    eligible.sort_by(|&a, &b| {
        let (x, y) = (&outcomes[a], &outcomes[b]);
        y.utility
            .total_cmp(&x.utility)
            .then(or_inf(x.est_cost_usd).total_cmp(&or_inf(y.est_cost_usd)))
            .then(or_inf(x.est_latency_ms).total_cmp(&or_inf(y.est_latency_ms)))
            .then(a.cmp(&b))
    });
    let winner = eligible.first().copied();
    let fallback_order = eligible.iter().skip(1).copied().collect();
    let reason = explain(&outcomes, winner, objective, constraints);
    Decision {
        winner,
        fallback_order,
        candidates: outcomes,
        reason,
    }
}

fn or_inf(v: Option<f64>) -> f64 {
    v.filter(|v| !v.is_nan()).unwrap_or(f64::INFINITY)
}

fn exclusion(c: &CandidateInput, constraints: &Constraints) -> Option<String> {
    if let Some(allowed) = &constraints.candidates
        && !allowed.contains(&c.model)
    {
        return Some("not in requested candidates".into());
    }
    if constraints.exclude.contains(&c.model) {
        return Some("excluded by caller".into());
    }
    if let Some(why) = &c.unavailable {
        return Some(format!("unavailable: {why}"));
    }
    if !c.predicted_quality.is_finite() {
        return Some("predicted quality is not a number".into());
    }
    if let Some(cap) = constraints.max_cost_usd {
        match c.est_cost_usd {
            None => {
                return Some(format!(
                    "estimated cost unknown; cannot check the {} cap",
                    usd(cap)
                ));
            }
            // A NaN cost is not within the cap either.
            Some(cost) if cost.is_nan() || cost > cap => {
                return Some(format!(
                    "estimated cost {} exceeds cap {}",
                    usd(cost),
                    usd(cap)
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(min) = constraints.min_quality
        && c.predicted_quality < min
    {
        return Some(format!(
            "predicted quality {:.2} below minimum {:.2}",
            c.predicted_quality, min
        ));
    }
    None
}

/// `$0.006`, `$0.0023`, `$1.50`: two significant digits below a dollar, cents above.
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return format!("${v}");
    }
    if v == 0.0 {
        return "$0".into();
    }
    if v.abs() >= 1.0 {
        return format!("${v:.2}");
    }
    let decimals = ((-v.abs().log10()).ceil() as usize + 1).clamp(2, 12);
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("${s}")
}

fn explain(
    outcomes: &[CandidateOutcome],
    winner: Option<usize>,
    objective: &Objective,
    constraints: &Constraints,
) -> String {
    let Some(w) = winner else {
        if outcomes.is_empty() {
            return "no candidates".into();
        }
        let listed: Vec<String> = outcomes
            .iter()
            .take(6)
            .map(|o| format!("{} {}", o.model, o.excluded.as_deref().unwrap_or("")))
            .collect();
        let more = outcomes.len().saturating_sub(6);
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        return format!("no candidate left: {}{tail}", listed.join("; "));
    };
    let win = &outcomes[w];
    let q = win.predicted_quality;
    let cost = win.est_cost_usd.map_or_else(|| "unknown".into(), usd);
    let mut reason = match objective {
        Objective::Quality => format!("{}: highest predicted quality {q:.2}", win.model),
        Objective::Cost => format!(
            "{}: best quality for the cost (predicted quality {q:.2}, estimated {cost})",
            win.model
        ),
        Objective::Latency => format!(
            "{}: best quality for the latency (predicted quality {q:.2}, estimated {})",
            win.model,
            win.est_latency_ms
                .map_or_else(|| "unknown latency".into(), |ms| format!("{ms:.0} ms"))
        ),
        Objective::Weighted { .. } => format!(
            "{}: highest utility {:.3} (predicted quality {q:.2}, estimated {cost})",
            win.model, win.utility
        ),
    };
    if let Some(cap) = constraints.max_cost_usd {
        reason.push_str(&format!(" within the {} cap", usd(cap)));
    }
    if let Some(min) = constraints.min_quality {
        reason.push_str(&format!(" (minimum quality {min:.2})"));
    }
    // The most notable loser: the best-predicted candidate that beat the winner on quality
    // but lost, unless the caller ruled it out by name (they know why).
    let rival = outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| {
            *i != w
                && o.predicted_quality > q
                && !matches!(
                    o.excluded.as_deref(),
                    Some("not in requested candidates" | "excluded by caller")
                )
        })
        .max_by(|a, b| a.1.predicted_quality.total_cmp(&b.1.predicted_quality));
    if let Some((_, r)) = rival {
        let but = match r.excluded.as_deref() {
            Some(why) if why.starts_with("estimated cost ") && r.est_cost_usd.is_some() => {
                format!("costs {}", r.est_cost_usd.map_or_else(String::new, usd))
            }
            Some(why) if why.starts_with("unavailable: ") => {
                format!("is {why}")
            }
            Some(why) => format!("was excluded ({why})"),
            None => match objective {
                Objective::Cost => {
                    format!(
                        "costs {}",
                        r.est_cost_usd
                            .map_or_else(|| "an unknown amount".into(), usd)
                    )
                }
                Objective::Latency => format!(
                    "takes {}",
                    r.est_latency_ms
                        .map_or_else(|| "an unknown time".into(), |ms| format!("{ms:.0} ms"))
                ),
                _ => format!("has lower utility {:.3}", r.utility),
            },
        };
        reason.push_str(&format!(
            "; {} scored {:.2} but {but}",
            r.model, r.predicted_quality
        ));
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(model: &str, q: f64, cost: Option<f64>, latency: Option<f64>) -> CandidateInput {
        CandidateInput {
            model: model.into(),
            predicted_quality: q,
            est_cost_usd: cost,
            est_latency_ms: latency,
            unavailable: None,
        }
    }

    #[test]
    fn decide_owned_gives_the_same_decision_as_decide() {
        let mut inputs = vec![
            cand("big", 0.9, Some(0.01), Some(900.0)),
            cand("small", 0.6, Some(0.001), Some(200.0)),
            cand("pricey", 0.95, Some(0.5), None),
        ];
        inputs[1].unavailable = Some("breaker open".into());
        let constraints = Constraints {
            max_cost_usd: Some(0.05),
            ..Constraints::default()
        };
        for objective in [
            Objective::Quality,
            Objective::Cost,
            Objective::Latency,
            Objective::Weighted {
                quality: 1.0,
                cost_per_usd: 50.0,
                latency_per_s: 0.0,
            },
        ] {
            assert_eq!(
                decide_owned(inputs.clone(), &objective, &constraints),
                decide(&inputs, &objective, &constraints)
            );
        }
    }

    fn three() -> Vec<CandidateInput> {
        vec![
            cand("gpt-4-1106-preview", 0.84, Some(0.006), Some(4000.0)),
            cand("claude-2.1", 0.81, Some(0.002), Some(3000.0)),
            cand("mixtral-8x7b", 0.70, Some(0.0003), Some(1000.0)),
        ]
    }

    fn excluded(d: &Decision, i: usize) -> &str {
        d.candidates[i].excluded.as_deref().unwrap_or("")
    }

    #[test]
    fn quality_picks_highest_and_orders_fallbacks() {
        let d = decide(&three(), &Objective::Quality, &Constraints::default());
        assert_eq!(d.winner, Some(0));
        assert_eq!(d.fallback_order, vec![1, 2]);
        assert_eq!(d.winner_model(), Some("gpt-4-1106-preview"));
        assert_eq!(
            d.route().map(|c| c.model.as_str()).collect::<Vec<_>>(),
            ["gpt-4-1106-preview", "claude-2.1", "mixtral-8x7b"]
        );
        assert_eq!(
            d.reason,
            "gpt-4-1106-preview: highest predicted quality 0.84"
        );
        assert!(d.candidates.iter().all(|c| c.excluded.is_none()));
    }

    #[test]
    fn quality_ties_go_to_the_cheaper() {
        let cands = vec![
            cand("pricey", 0.8, Some(0.01), None),
            cand("cheap", 0.8, Some(0.001), None),
            cand("unknown", 0.8, None, None),
        ];
        let d = decide(&cands, &Objective::Quality, &Constraints::default());
        assert_eq!(d.winner, Some(1));
        assert_eq!(d.fallback_order, vec![0, 2]);
    }

    #[test]
    fn cost_cap_excludes_and_explains() {
        let constraints = Constraints {
            max_cost_usd: Some(0.002),
            ..Constraints::default()
        };
        let d = decide(&three(), &Objective::Quality, &constraints);
        assert_eq!(d.winner, Some(1));
        assert_eq!(d.fallback_order, vec![2]);
        assert_eq!(excluded(&d, 0), "estimated cost $0.006 exceeds cap $0.002");
        assert_eq!(
            d.reason,
            "claude-2.1: highest predicted quality 0.81 within the $0.002 cap; \
             gpt-4-1106-preview scored 0.84 but costs $0.006"
        );
    }

    #[test]
    fn unknown_cost_under_a_cap_is_excluded() {
        let mut cands = three();
        cands[1].est_cost_usd = None;
        let constraints = Constraints {
            max_cost_usd: Some(1.0),
            ..Constraints::default()
        };
        let d = decide(&cands, &Objective::Quality, &constraints);
        assert_eq!(
            excluded(&d, 1),
            "estimated cost unknown; cannot check the $1.00 cap"
        );
        assert_eq!(d.winner, Some(0));
        assert_eq!(d.fallback_order, vec![2]);
    }

    #[test]
    fn min_quality_excludes() {
        let constraints = Constraints {
            min_quality: Some(0.75),
            ..Constraints::default()
        };
        let d = decide(&three(), &Objective::Cost, &constraints);
        assert_eq!(excluded(&d, 2), "predicted quality 0.70 below minimum 0.75");
        // Cost objective among the two left: 0.84 − 0.6 vs 0.81 − 0.2.
        assert_eq!(d.winner, Some(1));
        assert_eq!(d.fallback_order, vec![0]);
    }

    #[test]
    fn requested_candidates_and_caller_exclusions() {
        let constraints = Constraints {
            candidates: Some(vec!["claude-2.1".into(), "mixtral-8x7b".into()]),
            exclude: vec!["claude-2.1".into()],
            ..Constraints::default()
        };
        let d = decide(&three(), &Objective::Quality, &constraints);
        assert_eq!(excluded(&d, 0), "not in requested candidates");
        assert_eq!(excluded(&d, 1), "excluded by caller");
        assert_eq!(d.winner, Some(2));
        assert!(d.fallback_order.is_empty());
        // Candidates the caller ruled out by name are not held up as rivals.
        assert_eq!(d.reason, "mixtral-8x7b: highest predicted quality 0.70");
    }

    #[test]
    fn unavailable_is_excluded_with_its_reason() {
        let mut cands = three();
        cands[0].unavailable = Some("circuit breaker open".into());
        let d = decide(&cands, &Objective::Quality, &Constraints::default());
        assert_eq!(excluded(&d, 0), "unavailable: circuit breaker open");
        assert_eq!(d.winner, Some(1));
        assert!(
            d.reason.ends_with(
                "gpt-4-1106-preview scored 0.84 but is unavailable: circuit breaker open"
            ),
            "{}",
            d.reason
        );
    }

    #[test]
    fn cost_objective_trades_quality_for_money() {
        let d = decide(&three(), &Objective::Cost, &Constraints::default());
        // 0.84 − 0.6 = 0.24, 0.81 − 0.2 = 0.61, 0.70 − 0.03 = 0.67.
        assert_eq!(d.winner, Some(2));
        assert_eq!(d.fallback_order, vec![1, 0]);
        assert!((d.candidates[2].utility - 0.67).abs() < 1e-9);
        assert!(
            d.reason
                .starts_with("mixtral-8x7b: best quality for the cost")
        );
        assert!(
            d.reason
                .contains("gpt-4-1106-preview scored 0.84 but costs $0.006")
        );
    }

    #[test]
    fn latency_objective_prefers_fast() {
        let d = decide(&three(), &Objective::Latency, &Constraints::default());
        // 0.84 − 0.4, 0.81 − 0.3, 0.70 − 0.1.
        assert_eq!(d.winner, Some(2));
        assert!(d.reason.contains("1000 ms"), "{}", d.reason);
    }

    #[test]
    fn weighted_utility_is_exact() {
        let objective = Objective::Weighted {
            quality: 2.0,
            cost_per_usd: 10.0,
            latency_per_s: 0.5,
        };
        let d = decide(&three(), &objective, &Constraints::default());
        let expect = |q: f64, c: f64, ms: f64| 2.0 * q - 10.0 * c - 0.5 * ms / 1000.0;
        assert!((d.candidates[0].utility - expect(0.84, 0.006, 4000.0)).abs() < 1e-12);
        assert!((d.candidates[2].utility - expect(0.70, 0.0003, 1000.0)).abs() < 1e-12);
        // 1.40 − 0.003 − 0.5 = 0.897 beats 1.62 − 0.02 − 1.5 = 0.1 and −0.38.
        assert_eq!(d.winner, Some(2));
        assert_eq!(d.fallback_order, vec![1, 0]);
    }

    #[test]
    fn lambda_zero_equals_quality() {
        let weighted = Objective::Weighted {
            quality: 1.0,
            cost_per_usd: 0.0,
            latency_per_s: 0.0,
        };
        let a = decide(&three(), &weighted, &Constraints::default());
        let b = decide(&three(), &Objective::Quality, &Constraints::default());
        assert_eq!(a.winner, b.winner);
        assert_eq!(a.fallback_order, b.fallback_order);
    }

    #[test]
    fn missing_estimates_take_the_worst_known() {
        let cands = vec![
            cand("known", 0.80, Some(0.004), None),
            cand("unknown", 0.81, None, None),
        ];
        let d = decide(&cands, &Objective::Cost, &Constraints::default());
        // Unknown cost is charged 0.004 too: 0.81 − 0.4 beats 0.80 − 0.4.
        assert_eq!(d.winner, Some(1));
        assert!((d.candidates[1].utility - (0.81 - 0.4)).abs() < 1e-12);
        let cands = vec![
            cand("known", 0.80, Some(0.001), None),
            cand("pricey", 0.50, Some(0.01), None),
            cand("unknown", 0.81, None, None),
        ];
        let d = decide(&cands, &Objective::Cost, &Constraints::default());
        // Unknown is charged the worst known cost, 0.01: 0.81 − 1.0 loses to 0.80 − 0.1.
        assert_eq!(d.winner, Some(0));
        assert_eq!(d.fallback_order, vec![2, 1]);
    }

    #[test]
    fn nan_quality_is_excluded_and_nothing_panics() {
        let cands = vec![cand("broken", f64::NAN, Some(0.001), None)];
        let d = decide(&cands, &Objective::Quality, &Constraints::default());
        assert_eq!(d.winner, None);
        assert_eq!(excluded(&d, 0), "predicted quality is not a number");
        assert!(
            d.reason.starts_with("no candidate left: broken"),
            "{}",
            d.reason
        );
        let empty = decide(&[], &Objective::Cost, &Constraints::default());
        assert_eq!(empty.winner, None);
        assert!(empty.fallback_order.is_empty());
        assert_eq!(empty.reason, "no candidates");
    }

    #[test]
    fn usd_formatting() {
        assert_eq!(usd(0.006), "$0.006");
        assert_eq!(usd(0.002), "$0.002");
        assert_eq!(usd(0.00234), "$0.0023");
        assert_eq!(usd(0.0234), "$0.023");
        assert_eq!(usd(0.5), "$0.5");
        assert_eq!(usd(1.5), "$1.50");
        assert_eq!(usd(0.0), "$0");
    }

    #[test]
    fn objective_serde_is_tagged() {
        let json = serde_json::to_string(&Objective::Cost).unwrap();
        assert_eq!(json, r#"{"kind":"cost"}"#);
        let w: Objective = serde_json::from_str(
            r#"{"kind":"weighted","quality":1.0,"cost_per_usd":50.0,"latency_per_s":0.0}"#,
        )
        .unwrap();
        assert_eq!(w.weights(), (1.0, 50.0, 0.0));
    }
}
