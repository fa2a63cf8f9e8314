//! The price table (`model,input_usd_per_mtok,output_usd_per_mtok[,note]`) and the cost
//! of one response.
//!
//! Model names are matched exactly first. When there is no exact entry, the name is
//! normalised (the part after the last `/`, lower-cased, only letters and digits kept:
//! `mistralai/Mixtral-8x7B-Instruct-v0.1` → `mixtral8x7binstructv01`,
//! `gpt4_1106_preview` → `gpt41106preview`) and matched against the normalised table
//! names; a normalised name that two entries with different prices share is ambiguous and
//! never matched. A model that matches nothing has no cost (null), never a guessed one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{LoadError, Location};
use crate::table;

/// List price of one model, USD per million tokens; `cost` is the one cost formula.
pub use text::cost::ModelPrice as Price;

/// Prices by model name, with the matching rules of the module docs.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    exact: HashMap<String, Price>,
    /// `None` marks a normalised name shared by entries with different prices.
    normalised: HashMap<String, Option<Price>>,
    source: Option<PathBuf>,
}

impl PriceTable {
    /// An empty table: every cost is null unless the data publishes one.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Build a table from `(model, price)` pairs.
    pub fn from_entries<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = (S, Price)>,
        S: Into<String>,
    {
        let mut table = Self::default();
        for (name, price) in entries {
            table.insert(name.into(), price);
        }
        table
    }

    fn insert(&mut self, name: String, price: Price) {
        let key = normalise(&name);
        self.normalised
            .entry(key)
            .and_modify(|slot| {
                if *slot != Some(price) {
                    *slot = None;
                }
            })
            .or_insert(Some(price));
        self.exact.insert(name, price);
    }

    /// Read a price CSV (`model,input_usd_per_mtok,output_usd_per_mtok[,note]`).
    pub fn from_csv(path: &Path) -> Result<Self, LoadError> {
        let df = table::read_csv_strings(path)?;
        let models = table::str_column(&df, path, "model")?;
        let input = table::f64_column(&df, path, "input_usd_per_mtok")?;
        let output = table::f64_column(&df, path, "output_usd_per_mtok")?;
        let mut prices = Self {
            source: Some(path.to_path_buf()),
            ..Self::default()
        };
        for (row, ((model, input), output)) in models.iter().zip(&input).zip(&output).enumerate() {
            let location = Location::Row(row + 1);
            let Some(model) = model else {
                return Err(LoadError::bad_field(
                    path,
                    location,
                    "model",
                    "empty model name",
                ));
            };
            let field_price = |value: &Option<f64>, field: &str| match value {
                Some(v) if v.is_finite() && *v >= 0.0 => Ok(*v),
                Some(v) => Err(LoadError::bad_field(
                    path,
                    location,
                    field,
                    format!("price {v} is not a non-negative number"),
                )),
                None => Err(LoadError::bad_field(path, location, field, "missing price")),
            };
            let price = Price {
                input_usd_per_mtok: field_price(input, "input_usd_per_mtok")?,
                output_usd_per_mtok: field_price(output, "output_usd_per_mtok")?,
            };
            prices.insert(model.to_string(), price);
        }
        Ok(prices)
    }

    /// The price of `model`: exact name first, then the normalised name.
    pub fn get(&self, model: &str) -> Option<Price> {
        self.exact
            .get(model)
            .copied()
            .or_else(|| self.normalised.get(&normalise(model)).copied().flatten())
    }

    /// Cost of one call, or `None` when the model has no price.
    pub fn cost(&self, model: &str, input_tokens: u32, output_tokens: u32) -> Option<f64> {
        self.get(model).map(|p| p.cost(input_tokens, output_tokens))
    }

    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// The file the table was read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }
}

/// The fallback matching key: last path segment, lower case, letters and digits only.
pub fn normalise(model: &str) -> String {
    let last = model.rsplit('/').next().unwrap_or(model);
    last.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: f64, o: f64) -> Price {
        Price {
            input_usd_per_mtok: i,
            output_usd_per_mtok: o,
        }
    }

    #[test]
    fn exact_then_normalised_matching() {
        let t = PriceTable::from_entries([
            ("gpt-4-1106-preview", p(10.0, 30.0)),
            ("Mixtral-8x7B-Instruct-v0.1", p(0.6, 0.6)),
        ]);
        assert_eq!(t.get("gpt-4-1106-preview"), Some(p(10.0, 30.0)));
        assert_eq!(t.get("gpt4_1106_preview"), Some(p(10.0, 30.0)));
        assert_eq!(
            t.get("mistralai/Mixtral-8x7B-Instruct-v0.1"),
            Some(p(0.6, 0.6))
        );
        assert_eq!(t.get("llama"), None);
    }

    #[test]
    fn ambiguous_normalised_names_never_match() {
        let t = PriceTable::from_entries([("a-b", p(1.0, 1.0)), ("a_b", p(2.0, 2.0))]);
        assert_eq!(t.get("a-b"), Some(p(1.0, 1.0)));
        assert_eq!(t.get("A.B"), None);
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = p(10.0, 30.0);
        let cost = price.cost(1000, 500);
        assert!((cost - (0.01 + 0.015)).abs() < 1e-12);
    }
}
