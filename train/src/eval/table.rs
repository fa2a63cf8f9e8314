//! The canonical outcome table reshaped for evaluation: one dense prompt × model matrix
//! of realised scores and costs per dataset, with missing outcomes kept as `None`.
//!
//! Rows that repeat a (dataset, prompt, model) outcome (MMLU repeats a few prompts across
//! subjects) are averaged into one cell and counted, never dropped silently.

use std::collections::HashMap;

use polars::prelude::DataFrame;

/// One row of the canonical table, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeRow<'a> {
    pub dataset: &'a str,
    pub prompt_id: &'a str,
    pub prompt: &'a str,
    pub category: Option<&'a str>,
    pub model: &'a str,
    pub score: Option<f64>,
    pub input_tokens: u32,
    pub cost_usd: Option<f64>,
}

/// A prompt of one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    pub id: String,
    pub text: String,
    pub category: Option<String>,
    pub input_tokens: u32,
}

/// All outcomes of one dataset as a prompt × model matrix.
#[derive(Debug, Clone, Default)]
pub struct EvalTable {
    pub dataset: String,
    pub models: Vec<String>,
    pub prompts: Vec<PromptRecord>,
    /// `scores[p][m]`: realised normalised score, `None` where that outcome is missing.
    pub scores: Vec<Vec<Option<f64>>>,
    /// `costs[p][m]`: realised cost in USD, `None` where missing or unpriced.
    pub costs: Vec<Vec<Option<f64>>>,
    /// Outcome rows merged into an already filled cell (repeated prompts).
    pub merged_rows: usize,
    /// Rows without a score (skipped).
    pub unscored_rows: usize,
}

impl EvalTable {
    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m == name)
    }

    /// Mean realised score and cost of model `m` over the prompts in `rows` where it has
    /// a label; `None` when it has none there.
    pub fn single_model_point(&self, m: usize, rows: &[usize]) -> Option<(f64, Option<f64>)> {
        let (mut q, mut c, mut n, mut nc) = (0.0, 0.0, 0usize, 0usize);
        for &p in rows {
            if let Some(s) = self.scores[p][m] {
                q += s;
                n += 1;
                if let Some(cost) = self.costs[p][m] {
                    c += cost;
                    nc += 1;
                }
            }
        }
        (n > 0).then(|| (q / n as f64, (nc == n).then(|| c / nc as f64)))
    }
}

#[derive(Default)]
struct Cell {
    score_sum: f64,
    cost_sum: f64,
    rows: usize,
    costed_rows: usize,
}

#[derive(Default)]
struct Builder {
    prompts: Vec<PromptRecord>,
    prompt_index: HashMap<String, usize>,
    models: Vec<String>,
    model_index: HashMap<String, usize>,
    cells: HashMap<(usize, usize), Cell>,
    unscored_rows: usize,
}

/// Groups outcome rows into one [`EvalTable`] per dataset (in order of first appearance).
pub fn build_tables<'a>(rows: impl IntoIterator<Item = OutcomeRow<'a>>) -> Vec<EvalTable> {
    let mut order: Vec<String> = Vec::new();
    let mut builders: HashMap<String, Builder> = HashMap::new();
    for row in rows {
        let b = builders.entry(row.dataset.to_string()).or_insert_with(|| {
            order.push(row.dataset.to_string());
            Builder::default()
        });
        let Some(score) = row.score else {
            b.unscored_rows += 1;
            continue;
        };
        let p = match b.prompt_index.get(row.prompt_id) {
            Some(&p) => p,
            None => {
                b.prompts.push(PromptRecord {
                    id: row.prompt_id.to_string(),
                    text: row.prompt.to_string(),
                    category: row.category.map(str::to_string),
                    input_tokens: row.input_tokens,
                });
                b.prompt_index
                    .insert(row.prompt_id.to_string(), b.prompts.len() - 1);
                b.prompts.len() - 1
            }
        };
        let m = match b.model_index.get(row.model) {
            Some(&m) => m,
            None => {
                b.models.push(row.model.to_string());
                b.model_index
                    .insert(row.model.to_string(), b.models.len() - 1);
                b.models.len() - 1
            }
        };
        let cell = b.cells.entry((p, m)).or_default();
        cell.score_sum += score;
        cell.rows += 1;
        if let Some(c) = row.cost_usd {
            cell.cost_sum += c;
            cell.costed_rows += 1;
        }
    }

    order
        .into_iter()
        .filter_map(|name| builders.remove(&name).map(|b| (name, b)))
        .map(|(dataset, b)| {
            let (np, nm) = (b.prompts.len(), b.models.len());
            let mut scores = vec![vec![None; nm]; np];
            let mut costs = vec![vec![None; nm]; np];
            let mut merged_rows = 0;
            for ((p, m), cell) in b.cells {
                let n = cell.rows as f64;
                scores[p][m] = Some(cell.score_sum / n);
                if cell.costed_rows == cell.rows {
                    costs[p][m] = Some(cell.cost_sum / n);
                }
                merged_rows += cell.rows - 1;
            }
            EvalTable {
                dataset,
                models: b.models,
                prompts: b.prompts,
                scores,
                costs,
                merged_rows,
                unscored_rows: b.unscored_rows,
            }
        })
        .collect()
}

/// Errors reading the canonical table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The frame is not a canonical outcome table (a missing or mistyped column, a null
    /// where a value is required).
    #[error(transparent)]
    Rows(#[from] crate::data::DataError),
}

/// Reshapes a canonical outcome frame (columns of `datasets::schema`) into tables.
pub fn tables_from_frame(df: &DataFrame) -> Result<Vec<EvalTable>, TableError> {
    let rows = crate::data::frame_rows(df)?;
    Ok(build_tables(rows.into_iter().map(|r| OutcomeRow {
        dataset: r.dataset,
        prompt_id: r.prompt_id,
        prompt: r.prompt,
        category: r.category,
        model: r.model,
        score: r.score,
        input_tokens: r.input_tokens,
        cost_usd: r.cost,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        d: &'a str,
        id: &'a str,
        m: &'a str,
        s: Option<f64>,
        c: Option<f64>,
    ) -> OutcomeRow<'a> {
        OutcomeRow {
            dataset: d,
            prompt_id: id,
            prompt: id,
            category: Some("cat"),
            model: m,
            score: s,
            input_tokens: 10,
            cost_usd: c,
        }
    }

    #[test]
    fn builds_matrix_with_gaps_and_merges_repeats() {
        let tables = build_tables([
            row("a", "p1", "x", Some(1.0), Some(0.1)),
            row("a", "p1", "y", Some(0.0), None),
            row("a", "p2", "x", Some(0.0), Some(0.3)),
            row("a", "p2", "x", Some(1.0), Some(0.1)),
            row("b", "p1", "z", None, None),
        ]);
        assert_eq!(tables.len(), 2);
        let a = &tables[0];
        assert_eq!(a.dataset, "a");
        assert_eq!(a.models, vec!["x", "y"]);
        assert_eq!(a.scores[0], vec![Some(1.0), Some(0.0)]);
        // p2 has no label for y, and two rows for x averaged.
        assert_eq!(a.scores[1], vec![Some(0.5), None]);
        assert!((a.costs[1][0].unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(a.costs[0][1], None);
        assert_eq!(a.merged_rows, 1);
        assert_eq!(tables[1].unscored_rows, 1);
        assert!(tables[1].prompts.is_empty());

        let (q, c) = a.single_model_point(0, &[0, 1]).unwrap();
        assert!((q - 0.75).abs() < 1e-12 && (c.unwrap() - 0.15).abs() < 1e-12);
        // y is labelled only on p1 and has no cost there.
        assert_eq!(a.single_model_point(1, &[0, 1]), Some((0.0, None)));
        assert_eq!(a.single_model_point(1, &[1]), None);
    }
}
