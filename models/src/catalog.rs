//! LLM prices, context lengths and expected output lengths; cost estimates.
//!
//! Cost of a request = `input_tokens × input price + output_tokens × output price`, with
//! prices in USD per million tokens (the convention of `prices.csv` and the manifest).
//! [`estimate_cost`] (from the `text` crate, which `datasets` shares) is the only place
//! that formula is written: the gateway's estimates and realised costs, training labels,
//! the data loader and every offline report call it.

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;

pub use text::cost::{ModelPrice, estimate_cost};

/// What a model costs and what it can take: the facts routing needs besides its name.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelTerms {
    /// `None` when the price is unknown (a cost cap then excludes the model).
    pub price: Option<ModelPrice>,
    /// Context window in tokens, when known.
    pub context_length: Option<u32>,
    /// Expected answer length in tokens, for cost estimates made before the answer exists.
    pub expected_output_tokens: f64,
}

impl ModelTerms {
    /// Estimated cost of a request with `input_tokens` in; output tokens are `max_output_tokens`
    /// when the caller capped them below the expectation, else `expected_output_tokens`.
    /// `None` when the price is unknown.
    pub fn estimate_cost(&self, input_tokens: u32, max_output_tokens: Option<u32>) -> Option<f64> {
        let output = match max_output_tokens {
            Some(cap) => self.expected_output_tokens.min(f64::from(cap)),
            None => self.expected_output_tokens,
        };
        self.price
            .as_ref()
            .map(|p| estimate_cost(input_tokens, output, p))
    }

    /// Whether a prompt of `input_tokens` fits the context window (always true when the
    /// window is unknown). Only the prompt is checked: the answer can be cut short by the
    /// upstream, the prompt cannot.
    pub fn fits_context(&self, input_tokens: u32) -> bool {
        self.context_length.is_none_or(|ctx| input_tokens <= ctx)
    }
}

/// One LLM the gateway can route to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub name: String,
    #[serde(flatten)]
    pub terms: ModelTerms,
}

impl CatalogEntry {
    /// See [`ModelTerms::estimate_cost`].
    pub fn estimate_cost(&self, input_tokens: u32, max_output_tokens: Option<u32>) -> Option<f64> {
        self.terms.estimate_cost(input_tokens, max_output_tokens)
    }

    /// See [`ModelTerms::fits_context`].
    pub fn fits_context(&self, input_tokens: u32) -> bool {
        self.terms.fits_context(input_tokens)
    }
}

/// A small ordered collection of [`CatalogEntry`]s, looked up by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The manifest's candidates, in manifest order (see [`CandidateModel::terms`]).
    ///
    /// [`CandidateModel::terms`]: crate::manifest::CandidateModel::terms
    pub fn from_manifest(manifest: &Manifest) -> Catalog {
        let entries = manifest
            .candidates
            .iter()
            .map(|c| CatalogEntry {
                name: c.name.clone(),
                terms: c.terms(),
            })
            .collect();
        Catalog { entries }
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Mutable entry named `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut CatalogEntry> {
        self.entries.iter_mut().find(|e| e.name == name)
    }

    /// Adds `entry`, replacing an entry of the same name in place.
    pub fn upsert(&mut self, entry: CatalogEntry) {
        match self.get_mut(&entry.name) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Estimated cost of a request to `name` (see [`CatalogEntry::estimate_cost`]);
    /// `None` when the model is unknown or has no price.
    pub fn estimate_cost(
        &self,
        name: &str,
        input_tokens: u32,
        max_output_tokens: Option<u32>,
    ) -> Option<f64> {
        self.get(name)?
            .estimate_cost(input_tokens, max_output_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CandidateModel;

    const GPT4: ModelPrice = ModelPrice {
        input_usd_per_mtok: 10.0,
        output_usd_per_mtok: 30.0,
    };

    fn manifest() -> Manifest {
        Manifest::new(
            "t",
            vec![
                CandidateModel {
                    name: "gpt-4".into(),
                    input_usd_per_mtok: Some(10.0),
                    output_usd_per_mtok: Some(30.0),
                    expected_output_tokens: 400.0,
                },
                CandidateModel {
                    name: "mystery".into(),
                    input_usd_per_mtok: Some(1.0),
                    output_usd_per_mtok: None,
                    expected_output_tokens: 200.0,
                },
            ],
        )
    }

    #[test]
    fn catalog_from_manifest() {
        let catalog = Catalog::from_manifest(&manifest());
        assert_eq!(catalog.len(), 2);
        assert_eq!(catalog.get("gpt-4").unwrap().terms.price, Some(GPT4));
        assert_eq!(catalog.get("mystery").unwrap().terms.price, None);
        let cost = catalog.estimate_cost("gpt-4", 1000, None).unwrap();
        assert!((cost - (0.01 + 0.012)).abs() < 1e-12);
        // A max_tokens below the expectation caps the output estimate.
        let capped = catalog.estimate_cost("gpt-4", 1000, Some(100)).unwrap();
        assert!((capped - (0.01 + 0.003)).abs() < 1e-12);
        assert_eq!(catalog.estimate_cost("mystery", 1000, None), None);
        assert_eq!(catalog.estimate_cost("nope", 1000, None), None);
    }

    #[test]
    fn upsert_replaces_by_name() {
        let mut catalog = Catalog::from_manifest(&manifest());
        catalog.upsert(CatalogEntry {
            name: "mystery".into(),
            terms: ModelTerms {
                price: Some(GPT4),
                context_length: Some(8192),
                expected_output_tokens: 10.0,
            },
        });
        catalog.upsert(CatalogEntry {
            name: "new".into(),
            terms: ModelTerms {
                price: None,
                context_length: None,
                expected_output_tokens: 1.0,
            },
        });
        assert_eq!(catalog.len(), 3);
        assert_eq!(
            catalog.get("mystery").unwrap().terms.context_length,
            Some(8192)
        );
        assert_eq!(catalog.iter().last().unwrap().name, "new");
    }

    #[test]
    fn context_fit() {
        let mut e = Catalog::from_manifest(&manifest()).entries.remove(0);
        assert!(e.fits_context(1_000_000));
        e.terms.context_length = Some(8192);
        assert!(e.fits_context(8000));
        assert!(!e.fits_context(9000));
    }
}
