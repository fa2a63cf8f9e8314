//! From a prediction to the policy's inputs: the one place where a candidate's predicted
//! quality, its price and limits ([`ModelTerms`]), the request's facts ([`RequestFacts`])
//! and what the gateway observes live ([`Live`]) become the [`CandidateInput`] that
//! [`crate::policy::decide`] weighs.
//!
//! The gateway calls it per request and candidate; `train eval`'s sweeps and the summary
//! printed after training call it per prompt and labelled candidate. A rule added here
//! (a context check, an output cap) therefore changes the offline figures and the
//! gateway's decisions together.

use crate::catalog::{Catalog, ModelTerms};
use crate::policy::{CandidateInput, Unavailable};

/// What the request itself tells routing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RequestFacts {
    /// Estimated prompt tokens of the whole chat request ([`crate::tokens::estimate_messages`]).
    pub prompt_tokens: u32,
    /// The caller's output cap (`max_completion_tokens` / `max_tokens`), if any.
    pub max_output_tokens: Option<u32>,
}

impl RequestFacts {
    /// A request that sends `prompt` as its one user message, without an output cap: how
    /// offline evaluation sees each benchmark prompt, counted exactly as the gateway counts
    /// such a request (message overhead included), so estimated costs agree.
    pub fn user_prompt(prompt: &str) -> RequestFacts {
        RequestFacts {
            prompt_tokens: crate::tokens::estimate_messages(&[("user", prompt)]),
            max_output_tokens: None,
        }
    }
}

/// What the gateway knows about a candidate right now; offline, nothing ([`Live::default`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// Moving average of the provider that would be tried first.
    pub est_latency_ms: Option<f64>,
    /// Why it cannot be used now (no provider, every breaker open). A prompt longer than the
    /// context window is checked here, from the terms, and takes precedence.
    pub unavailable: Option<Unavailable>,
}

/// The policy's input for one candidate.
pub fn candidate_input(
    model: String,
    predicted_quality: f64,
    terms: &ModelTerms,
    request: &RequestFacts,
    live: Live,
) -> CandidateInput {
    let too_long = match terms.context_length {
        Some(context_length) if !terms.fits_context(request.prompt_tokens) => {
            Some(Unavailable::ContextTooLong {
                prompt_tokens: request.prompt_tokens,
                context_length,
            })
        }
        _ => None,
    };
    CandidateInput {
        model,
        predicted_quality,
        est_cost_usd: terms.estimate_cost(request.prompt_tokens, request.max_output_tokens),
        est_latency_ms: live.est_latency_ms,
        unavailable: too_long.or(live.unavailable),
    }
}

/// Inputs for every entry of `catalog` (in its order) with `quality[i]` its prediction:
/// an artifact's own candidates, with nothing known live (offline use, tests).
pub fn catalog_inputs(
    catalog: &Catalog,
    quality: &[f32],
    request: &RequestFacts,
) -> Vec<CandidateInput> {
    catalog
        .iter()
        .zip(quality)
        .map(|(entry, &q)| {
            candidate_input(
                entry.name.clone(),
                f64::from(q),
                &entry.terms,
                request,
                Live::default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ModelPrice;

    fn terms(context_length: Option<u32>) -> ModelTerms {
        ModelTerms {
            price: Some(ModelPrice {
                input_usd_per_mtok: 10.0,
                output_usd_per_mtok: 30.0,
            }),
            context_length,
            expected_output_tokens: 400.0,
        }
    }

    #[test]
    fn a_user_prompt_is_counted_as_the_gateway_counts_one_message() {
        let prompt = "What is 17 * 23?";
        assert_eq!(
            RequestFacts::user_prompt(prompt).prompt_tokens,
            crate::tokens::estimate_messages(&[("user", prompt)])
        );
        assert!(RequestFacts::user_prompt(prompt).prompt_tokens > crate::tokens::estimate(prompt));
    }

    #[test]
    fn cost_uses_prompt_tokens_and_the_output_cap() {
        let request = RequestFacts {
            prompt_tokens: 1000,
            max_output_tokens: Some(100),
        };
        let input = candidate_input("m".into(), 0.5, &terms(None), &request, Live::default());
        assert!((input.est_cost_usd.unwrap() - (0.01 + 0.003)).abs() < 1e-12);
        assert_eq!(input.unavailable, None);
        let open = RequestFacts {
            max_output_tokens: None,
            ..request
        };
        let input = candidate_input("m".into(), 0.5, &terms(None), &open, Live::default());
        assert!((input.est_cost_usd.unwrap() - (0.01 + 0.012)).abs() < 1e-12);
    }

    #[test]
    fn a_prompt_longer_than_the_context_takes_precedence() {
        let request = RequestFacts {
            prompt_tokens: 9000,
            max_output_tokens: None,
        };
        let live = Live {
            est_latency_ms: Some(120.0),
            unavailable: Some(Unavailable::BreakersOpen {
                providers: vec!["a".into()],
            }),
        };
        let input = candidate_input("m".into(), 0.5, &terms(Some(8192)), &request, live.clone());
        assert_eq!(
            input.unavailable,
            Some(Unavailable::ContextTooLong {
                prompt_tokens: 9000,
                context_length: 8192
            })
        );
        assert_eq!(input.est_latency_ms, Some(120.0));
        let fits = candidate_input("m".into(), 0.5, &terms(Some(10_000)), &request, live);
        assert!(matches!(
            fits.unavailable,
            Some(Unavailable::BreakersOpen { .. })
        ));
    }
}
