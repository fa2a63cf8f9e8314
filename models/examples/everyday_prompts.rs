//! What a router decides for a dozen everyday prompts, under the `quality` and `cost`
//! objectives, with the task its task head saw: the table in the README's "Everyday
//! prompts" section. Each prompt goes through `models::routing` and `models::policy` as a
//! one-message request to the gateway would (the artifact's own catalog and prices).
//!
//!   cargo run --release -p models --example everyday_prompts [-- ROUTER_DIR]
//!
//! ROUTER_DIR defaults to `models/default`. Prints a Markdown table.
// A report tool: its output is stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use models::routing::catalog_inputs;
use models::{Catalog, Constraints, Decision, Objective, OnnxScorer, RequestFacts, Scorer, decide};

const PROMPTS: [&str; 12] = [
    "What is 17 * 23?",
    "Translate 'Where is the train station?' into German.",
    "Write a haiku about autumn leaves.",
    "Prove that there are infinitely many prime numbers.",
    "Write a SQL query that returns the ten customers with the highest total order value.",
    "Write a Python function that reverses a linked list.",
    "My landlord kept my security deposit, citing normal wear and tear as damage, and the lease \
     says disputes go to arbitration in another state. Which arguments do I have under typical US \
     state tenant law, and is the arbitration clause likely enforceable?",
    "What is the capital of Australia?",
    "Summarize the causes of the French Revolution in three sentences.",
    "Fix the bug: `for i in range(len(xs)): if xs[i] == x: return i` returns None for the last element.",
    "Solve for x: 2x^2 - 8x + 6 = 0.",
    "Hi! How are you today?",
];

fn winner(d: &Decision) -> String {
    match d.winner {
        Some(w) => {
            let c = &d.candidates[w];
            let cost = c
                .est_cost_usd
                .map_or_else(|| "unknown".into(), models::policy::usd);
            format!("{} ({:.2}, {cost})", c.model, c.predicted_quality)
        }
        None => "none".into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(models::artifact::default_dir, PathBuf::from);
    let scorer = OnnxScorer::load(&dir)?;
    let manifest = scorer.manifest().clone();
    let catalog = Catalog::from_manifest(&manifest);
    println!("router `{}` ({}):\n", manifest.name, dir.display());
    println!(
        "| prompt | task (p) | `quality`: model (predicted quality, est. cost) | `cost`: model (predicted quality, est. cost) |"
    );
    println!("|---|---|---|---|");
    for prompt in PROMPTS {
        let p = scorer.score(prompt)?;
        let task = p.top_task().map_or_else(
            || "-".to_string(),
            |i| {
                let name = manifest.tasks.get(i).map_or("?", String::as_str);
                format!("{name} ({:.2})", p.task_probs[i])
            },
        );
        let inputs = catalog_inputs(&catalog, &p.quality, &RequestFacts::user_prompt(prompt));
        let open = Constraints::default();
        let quality = decide(&inputs, &Objective::Quality, &open);
        let cost = decide(&inputs, &Objective::Cost, &open);
        let shown: String = prompt.chars().take(70).collect();
        let shown = if shown.len() < prompt.len() {
            format!("{shown}…")
        } else {
            shown
        };
        println!(
            "| {} | {task} | {} | {} |",
            shown.replace('|', "\\|"),
            winner(&quality),
            winner(&cost)
        );
    }
    Ok(())
}
