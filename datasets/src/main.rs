//! `datasets describe <path>`: load a folder or file of benchmark outcomes and print,
//! per dataset, its prompts, models, mean score and mean cost per model, and what was
//! skipped and why.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use datasets::summary::{DatasetSummary, summarize};
use datasets::{LoadOptions, load_with};

#[derive(Parser)]
#[command(name = "datasets", about = "Inspect LLM benchmark outcome data")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise every supported set under PATH (default: $ROUTER_DATA_DIR).
    Describe {
        #[arg(env = "ROUTER_DATA_DIR")]
        path: PathBuf,
        /// Load only these dataset keys (comma separated), e.g. mmlu,gsm8k.
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
        /// Price table CSV (default: prices.csv at or above PATH).
        #[arg(long)]
        prices: Option<PathBuf>,
        /// Print how long loading took.
        #[arg(long)]
        timing: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Describe {
            path,
            only,
            prices,
            timing,
        } => {
            let options = LoadOptions { only, prices };
            let start = Instant::now();
            let loaded = load_with(&path, &options)
                .with_context(|| format!("loading {}", path.display()))?;
            let elapsed = start.elapsed();
            let summaries =
                summarize(&loaded.frame, &loaded.report).context("summarising the loaded table")?;
            print_overview(&summaries);
            for summary in &summaries {
                print_dataset(summary);
                for set in loaded.report.for_dataset(&summary.dataset) {
                    for r in &set.renamed {
                        println!(
                            "renamed: {} outcome rows of `{}` loaded as `{}` (same model)",
                            r.rows, r.from, r.to
                        );
                    }
                }
            }
            for ignored in &loaded.report.ignored {
                println!("ignored (not a recognised format): {}", ignored.display());
            }
            if timing {
                println!(
                    "loaded {} rows in {:.3} s",
                    loaded.frame.height(),
                    elapsed.as_secs_f64()
                );
            }
        }
    }
    Ok(())
}

/// Render rows as a table whose columns are padded to their widest cell; columns listed
/// in `right` are right-aligned (numbers).
fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if right.contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

fn print_overview(summaries: &[DatasetSummary]) {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                s.dataset.clone(),
                s.prompts.to_string(),
                s.models.len().to_string(),
                s.rows.to_string(),
                s.skipped.iter().map(|k| k.count).sum::<usize>().to_string(),
            ]
        })
        .collect();
    println!(
        "{}\n",
        table(
            &["dataset", "prompts", "models", "outcomes", "skipped"],
            &rows,
            &[1, 2, 3, 4]
        )
    );
}

fn print_dataset(s: &DatasetSummary) {
    println!(
        "== {} — {} prompts, {} models, {} outcomes",
        s.dataset,
        s.prompts,
        s.models.len(),
        s.rows
    );
    for source in &s.sources {
        println!("   source: {}", source.display());
    }
    let rows: Vec<Vec<String>> = s
        .models
        .iter()
        .map(|m| {
            vec![
                m.model.clone(),
                m.outcomes.to_string(),
                format!("{:.4}", m.mean_score),
                m.mean_cost_usd
                    .map_or_else(|| "-".to_string(), |c| format!("{c:.6}")),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["model", "outcomes", "mean score", "mean cost (USD)"],
            &rows,
            &[1, 2, 3]
        )
    );
    if s.skipped.is_empty() {
        println!("skipped: none\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .skipped
            .iter()
            .map(|k| vec![k.reason.clone(), k.count.to_string()])
            .collect();
        println!(
            "skipped outcome rows:\n{}\n",
            table(&["reason", "count"], &rows, &[1])
        );
    }
}
