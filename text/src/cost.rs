//! The cost of a model call: `input_tokens × input price + output_tokens × output price`,
//! prices in USD per million tokens (the convention of `prices.csv` and the manifest).
//!
//! Written once, here, below every crate that prices a call: the data loader's realised
//! costs, training labels, the gateway's estimates and realised costs, and every offline
//! report.

use serde::{Deserialize, Serialize};

/// List price of a model in USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

impl ModelPrice {
    /// Cost in USD of `input_tokens` in and `output_tokens` out; see [`estimate_cost`].
    pub fn cost(&self, input_tokens: impl Into<f64>, output_tokens: impl Into<f64>) -> f64 {
        estimate_cost(input_tokens, output_tokens, self)
    }
}

/// Cost in USD of `input_tokens` in and `output_tokens` out at `price`. Tokens may be
/// counts (`u32`) or expectations (`f64`).
pub fn estimate_cost(
    input_tokens: impl Into<f64>,
    output_tokens: impl Into<f64>,
    price: &ModelPrice,
) -> f64 {
    (input_tokens.into() * price.input_usd_per_mtok
        + output_tokens.into() * price.output_usd_per_mtok)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_per_million_tokens() {
        let gpt4 = ModelPrice {
            input_usd_per_mtok: 10.0,
            output_usd_per_mtok: 30.0,
        };
        assert!((estimate_cost(1_000_000u32, 0u32, &gpt4) - 10.0).abs() < 1e-12);
        assert!((gpt4.cost(1000u32, 500u32) - 0.025).abs() < 1e-12);
        assert!((estimate_cost(100.0, 33.5, &gpt4) - (0.001 + 0.001005)).abs() < 1e-12);
        assert_eq!(estimate_cost(0u32, 0u32, &gpt4), 0.0);
    }
}
