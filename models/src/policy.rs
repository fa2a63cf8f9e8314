//! The decision policy: which candidate answers, in which order the others are tried when it
//! fails, and why. Shared by `serve` (per request) and `train eval` (offline sweeps), so that
//! offline numbers describe exactly what the gateway does.
//!
//! Its inputs come from [`crate::routing`], the one place where a prediction, the
//! candidates' prices and limits and the request's facts become [`CandidateInput`]s.
//!
//! Rules, in order:
//! 1. Exclusions ([`Exclusion`]; the first that applies is recorded, in this order): `not in
//!    requested candidates`, `excluded by caller`, `unavailable: <reason>`, `predicted quality
//!    is not a number`, under a cost cap `estimated cost unknown; cannot check the $Y cap` or
//!    `estimated cost $X exceeds cap $Y`, `predicted quality X below minimum Y`.
//! 2. Utility = `quality·q − cost_per_usd·cost_usd − latency_per_s·latency_s`, with weights from
//!    the [`Objective`]. When a weight is non-zero and a candidate's estimate is missing, the
//!    worst (highest) estimate among the candidates stands in for it — unknown is never
//!    rewarded; with no estimate at all the term is 0 for everyone.
//! 3. The winner is the eligible candidate with the highest utility; ties go to the cheaper,
//!    then the faster, then the earlier candidate. `fallback_order` is the other eligible
//!    candidates in the same order.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// `Objective::Cost`'s willingness to pay: 100 utility per USD, i.e. one full point of
/// quality (the 0–1 scale) is worth $0.01 per request, and a 0.1 quality gain is worth
/// $0.001 — about GPT-4-class versus Mixtral-class cost for a short prompt.
pub const DEFAULT_COST_PER_USD: f64 = 100.0;

/// `Objective::Latency`'s penalty: 0.1 quality per second of expected latency.
pub const DEFAULT_LATENCY_PER_S: f64 = 0.1;

/// What the policy knows about one candidate for one prompt (built by [`crate::routing`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateInput {
    pub model: String,
    /// The scorer's predicted normalised quality in [0, 1].
    pub predicted_quality: f64,
    /// Estimated cost of this request in USD; `None` when the price is unknown.
    pub est_cost_usd: Option<f64>,
    /// Estimated latency in milliseconds; `None` when unknown.
    pub est_latency_ms: Option<f64>,
    /// Why the model cannot be used now (open circuit breakers, context too long, …).
    pub unavailable: Option<Unavailable>,
}

/// Why a candidate cannot serve this request, whatever the caller asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// The router scores it but the gateway has no provider for it.
    NotInCatalog,
    /// The prompt alone is longer than the model's context window.
    ContextTooLong {
        prompt_tokens: u32,
        context_length: u32,
    },
    /// Every provider of the model has an open circuit breaker.
    BreakersOpen { providers: Vec<String> },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotInCatalog => f.write_str("not in the gateway's catalog"),
            Unavailable::ContextTooLong {
                prompt_tokens,
                context_length,
            } => write!(
                f,
                "prompt of ~{prompt_tokens} tokens exceeds the context length {context_length}"
            ),
            Unavailable::BreakersOpen { providers } => write!(
                f,
                "circuit breaker open for every provider ({})",
                providers.join(", ")
            ),
        }
    }
}

/// Why a candidate could not win. Serialised as its sentence (the decision record's JSON).
#[derive(Clone, Debug, PartialEq)]
pub enum Exclusion {
    /// `route.candidates` (or `models`) does not list it.
    NotRequested,
    /// `route.exclude` lists it.
    ExcludedByCaller,
    Unavailable(Unavailable),
    /// The scorer gave NaN or an infinity.
    QualityNotANumber,
    /// Under a cost cap, a candidate without a price cannot be checked, so it is out.
    CostUnknownUnderCap {
        cap_usd: f64,
    },
    CostOverCap {
        cost_usd: f64,
        cap_usd: f64,
    },
    BelowMinQuality {
        quality: f64,
        min: f64,
    },
}

impl Exclusion {
    /// The caller ruled the candidate out by name (and knows why).
    pub fn is_by_name(&self) -> bool {
        matches!(self, Exclusion::NotRequested | Exclusion::ExcludedByCaller)
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::NotRequested => f.write_str("not in requested candidates"),
            Exclusion::ExcludedByCaller => f.write_str("excluded by caller"),
            Exclusion::Unavailable(why) => write!(f, "unavailable: {why}"),
            Exclusion::QualityNotANumber => f.write_str("predicted quality is not a number"),
            Exclusion::CostUnknownUnderCap { cap_usd } => write!(
                f,
                "estimated cost unknown; cannot check the {} cap",
                usd(*cap_usd)
            ),
            Exclusion::CostOverCap { cost_usd, cap_usd } => write!(
                f,
                "estimated cost {} exceeds cap {}",
                usd(*cost_usd),
                usd(*cap_usd)
            ),
            Exclusion::BelowMinQuality { quality, min } => {
                write!(f, "predicted quality {quality:.2} below minimum {min:.2}")
            }
        }
    }
}

impl Serialize for Exclusion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What the caller optimises: in config, requests and records either a name
/// (`"quality"`, `"cost"`, `"latency"`) or explicit weights
/// (`{"quality": 1, "cost_per_usd": 50, "latency_per_s": 0}`, missing weights default to
/// quality 1 and 0 for the others).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ObjectiveSpec", into = "ObjectiveSpec")]
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

/// [`Objective`]'s JSON/TOML form. Named after what callers write, since serde's "did not
/// match any variant" error names it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ObjectiveSpec {
    Named(NamedObjective),
    Weighted(ObjectiveWeights),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NamedObjective {
    Quality,
    Cost,
    Latency,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectiveWeights {
    #[serde(default = "one")]
    quality: f64,
    #[serde(default)]
    cost_per_usd: f64,
    #[serde(default)]
    latency_per_s: f64,
}

fn one() -> f64 {
    1.0
}

impl From<ObjectiveSpec> for Objective {
    fn from(spec: ObjectiveSpec) -> Objective {
        match spec {
            ObjectiveSpec::Named(NamedObjective::Quality) => Objective::Quality,
            ObjectiveSpec::Named(NamedObjective::Cost) => Objective::Cost,
            ObjectiveSpec::Named(NamedObjective::Latency) => Objective::Latency,
            ObjectiveSpec::Weighted(w) => Objective::Weighted {
                quality: w.quality,
                cost_per_usd: w.cost_per_usd,
                latency_per_s: w.latency_per_s,
            },
        }
    }
}

impl From<Objective> for ObjectiveSpec {
    fn from(objective: Objective) -> ObjectiveSpec {
        match objective {
            Objective::Quality => ObjectiveSpec::Named(NamedObjective::Quality),
            Objective::Cost => ObjectiveSpec::Named(NamedObjective::Cost),
            Objective::Latency => ObjectiveSpec::Named(NamedObjective::Latency),
            Objective::Weighted {
                quality,
                cost_per_usd,
                latency_per_s,
            } => ObjectiveSpec::Weighted(ObjectiveWeights {
                quality,
                cost_per_usd,
                latency_per_s,
            }),
        }
    }
}

impl Objective {
    /// The first explicit weight that is not a finite non-negative number, as
    /// `(field, value)`; `None` for named objectives and valid weights.
    pub fn invalid_weight(&self) -> Option<(&'static str, f64)> {
        let Objective::Weighted {
            quality,
            cost_per_usd,
            latency_per_s,
        } = *self
        else {
            return None;
        };
        [
            ("quality", quality),
            ("cost_per_usd", cost_per_usd),
            ("latency_per_s", latency_per_s),
        ]
        .into_iter()
        .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
    }

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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CandidateOutcome {
    pub model: String,
    pub predicted_quality: f64,
    pub est_cost_usd: Option<f64>,
    pub est_latency_ms: Option<f64>,
    /// Utility under the objective (computed for excluded candidates too, for the audit).
    pub utility: f64,
    /// Why the candidate could not win; `None` when eligible.
    pub excluded: Option<Exclusion>,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Serialize)]
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

fn exclusion(c: &CandidateInput, constraints: &Constraints) -> Option<Exclusion> {
    if let Some(allowed) = &constraints.candidates
        && !allowed.contains(&c.model)
    {
        return Some(Exclusion::NotRequested);
    }
    if constraints.exclude.contains(&c.model) {
        return Some(Exclusion::ExcludedByCaller);
    }
    if let Some(why) = &c.unavailable {
        return Some(Exclusion::Unavailable(why.clone()));
    }
    if !c.predicted_quality.is_finite() {
        return Some(Exclusion::QualityNotANumber);
    }
    if let Some(cap_usd) = constraints.max_cost_usd {
        match c.est_cost_usd {
            None => return Some(Exclusion::CostUnknownUnderCap { cap_usd }),
            // A NaN cost is not within the cap either.
            Some(cost_usd) if cost_usd.is_nan() || cost_usd > cap_usd => {
                return Some(Exclusion::CostOverCap { cost_usd, cap_usd });
            }
            Some(_) => {}
        }
    }
    if let Some(min) = constraints.min_quality
        && c.predicted_quality < min
    {
        return Some(Exclusion::BelowMinQuality {
            quality: c.predicted_quality,
            min,
        });
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
            .map(|o| match &o.excluded {
                Some(why) => format!("{} {why}", o.model),
                None => format!("{} ", o.model),
            })
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
                && !o.excluded.as_ref().is_some_and(Exclusion::is_by_name)
        })
        .max_by(|a, b| a.1.predicted_quality.total_cmp(&b.1.predicted_quality));
    if let Some((_, r)) = rival {
        let but = match &r.excluded {
            Some(Exclusion::CostOverCap { cost_usd, .. }) => format!("costs {}", usd(*cost_usd)),
            Some(why @ Exclusion::Unavailable(_)) => format!("is {why}"),
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
        inputs[1].unavailable = Some(Unavailable::NotInCatalog);
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

    fn excluded(d: &Decision, i: usize) -> String {
        d.candidates[i]
            .excluded
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
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
        cands[0].unavailable = Some(Unavailable::BreakersOpen {
            providers: vec!["openai".into()],
        });
        let d = decide(&cands, &Objective::Quality, &Constraints::default());
        assert_eq!(
            excluded(&d, 0),
            "unavailable: circuit breaker open for every provider (openai)"
        );
        assert_eq!(d.winner, Some(1));
        assert!(
            d.reason.ends_with(
                "gpt-4-1106-preview scored 0.84 but is unavailable: circuit breaker open for every provider (openai)"
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
    fn objective_serde_takes_names_and_weights() {
        assert_eq!(
            serde_json::to_string(&Objective::Cost).unwrap(),
            r#""cost""#
        );
        let named: Objective = serde_json::from_str(r#""latency""#).unwrap();
        assert_eq!(named, Objective::Latency);
        let w: Objective =
            serde_json::from_str(r#"{"quality":1.0,"cost_per_usd":50.0,"latency_per_s":0.0}"#)
                .unwrap();
        assert_eq!(w.weights(), (1.0, 50.0, 0.0));
        let defaults: Objective = serde_json::from_str(r#"{"cost_per_usd":5.0}"#).unwrap();
        assert_eq!(defaults.weights(), (1.0, 5.0, 0.0));
        assert_eq!(
            serde_json::to_value(defaults).unwrap(),
            serde_json::json!({"quality": 1.0, "cost_per_usd": 5.0, "latency_per_s": 0.0})
        );
        assert!(serde_json::from_str::<Objective>(r#""cheapest""#).is_err());
        assert!(serde_json::from_str::<Objective>(r#"{"cost_per_usd":1,"speed":2}"#).is_err());
    }

    #[test]
    fn exclusions_serialise_as_their_sentence() {
        let e = Exclusion::CostOverCap {
            cost_usd: 0.006,
            cap_usd: 0.002,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!("estimated cost $0.006 exceeds cap $0.002")
        );
        let ctx = Exclusion::Unavailable(Unavailable::ContextTooLong {
            prompt_tokens: 9000,
            context_length: 8192,
        });
        assert_eq!(
            ctx.to_string(),
            "unavailable: prompt of ~9000 tokens exceeds the context length 8192"
        );
    }
}
