//! `train ingest`: the gateway's decision records and their feedback → training rows in the
//! generic long format (JSON lines), which `train --traffic DIR` (or any `--data` folder)
//! loads like benchmark outcomes.
//!
//! One row per (prompt, model): the mean of the judged answers' scores, with their mean
//! realised tokens, cost and latency. A decision gives a row only when it has feedback, an
//! answering model and its prompt text (`audit.log_prompts`); every other one is skipped and
//! counted by reason. With several sources judging one decision, `--source` picks which
//! count (default: all, averaged per decision).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::log::{LoggedDecision, Traffic, read_dir};

/// `train ingest`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// The gateway's decision log directory (`audit.dir`).
    #[arg(long)]
    pub decisions: PathBuf,
    /// Where to write the rows (JSON lines; its folder is what `train --traffic` reads).
    #[arg(long, default_value = "traffic/traffic.jsonl")]
    pub out: PathBuf,
    /// The rows' `dataset` name.
    #[arg(long, default_value = "traffic")]
    pub dataset: String,
    /// Only feedback from these sources (comma-separated); default: every source.
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
}

/// One output row (the generic long format's columns, plus `judgements` and `latency_ms`,
/// which loaders ignore and people read).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrafficRow {
    /// The routed prompt.
    pub prompt: String,
    /// The model that answered.
    pub model: String,
    /// Mean feedback score in [0, 1].
    pub score: f64,
    /// `--dataset`.
    pub dataset: String,
    /// Mean realised input tokens.
    pub input_tokens: Option<f64>,
    /// Mean realised output tokens.
    pub output_tokens: Option<f64>,
    /// Mean realised cost in USD.
    pub cost_usd: Option<f64>,
    /// Mean latency from arrival to last byte.
    pub latency_ms: Option<f64>,
    /// Judged answers behind the row.
    pub judgements: usize,
}

/// What ingest did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// Decision records read.
    pub decisions: usize,
    /// Decisions that became part of a row.
    pub used: usize,
    /// Rows written.
    pub rows: usize,
    /// Skipped decisions by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Lines that did not parse (decisions, feedback).
    pub unreadable_lines: (usize, usize),
}

/// Reasons a decision gives no row.
pub mod reasons {
    /// No feedback at all (or none from `--source`).
    pub const NO_FEEDBACK: &str = "no feedback";
    /// `audit.log_prompts` was off: the record has only the prompt's hash.
    pub const NO_PROMPT: &str = "no prompt text (audit.log_prompts was off)";
    /// Nothing answered (every upstream failed, or no candidate).
    pub const NO_MODEL: &str = "no model answered";
}

#[derive(Default)]
struct Sums {
    score: f64,
    n: usize,
    input: (f64, usize),
    output: (f64, usize),
    cost: (f64, usize),
    latency: (f64, usize),
}

fn add(acc: &mut (f64, usize), v: Option<f64>) {
    if let Some(v) = v.filter(|v| v.is_finite()) {
        acc.0 += v;
        acc.1 += 1;
    }
}

fn mean(acc: (f64, usize)) -> Option<f64> {
    (acc.1 > 0).then(|| acc.0 / acc.1 as f64)
}

/// The rows of `traffic` (see the module docs), in (prompt, model) order.
pub fn rows(traffic: &Traffic, args: &IngestArgs) -> (Vec<TrafficRow>, IngestReport) {
    let mut report = IngestReport {
        decisions: traffic.decisions.len(),
        unreadable_lines: (
            traffic.unreadable_decisions.total(),
            traffic.unreadable_feedback.total(),
        ),
        ..IngestReport::default()
    };
    let mut groups: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for d in &traffic.decisions {
        let Some(score) = decision_score(d, traffic, &args.source) else {
            *report.skipped.entry(reasons::NO_FEEDBACK).or_default() += 1;
            continue;
        };
        let Some(model) = d.model.clone() else {
            *report.skipped.entry(reasons::NO_MODEL).or_default() += 1;
            continue;
        };
        let Some(prompt) = d.prompt.clone() else {
            *report.skipped.entry(reasons::NO_PROMPT).or_default() += 1;
            continue;
        };
        report.used += 1;
        let s = groups.entry((prompt, model)).or_default();
        s.score += score;
        s.n += 1;
        let input = d
            .usage
            .map(|u| u.prompt_tokens as f64)
            .or(d.est_prompt_tokens.map(|t| t as f64));
        add(&mut s.input, input);
        add(&mut s.output, d.usage.map(|u| u.completion_tokens as f64));
        add(&mut s.cost, d.cost_usd);
        add(&mut s.latency, d.latency_ms);
    }
    let rows: Vec<TrafficRow> = groups
        .into_iter()
        .map(|((prompt, model), s)| TrafficRow {
            prompt,
            model,
            score: s.score / s.n as f64,
            dataset: args.dataset.clone(),
            input_tokens: mean(s.input),
            output_tokens: mean(s.output),
            cost_usd: mean(s.cost),
            latency_ms: mean(s.latency),
            judgements: s.n,
        })
        .collect();
    report.rows = rows.len();
    (rows, report)
}

/// The decision's realised quality: the mean of its current feedback from `sources`
/// (every source when empty); `None` without any.
pub fn decision_score(d: &LoggedDecision, traffic: &Traffic, sources: &[String]) -> Option<f64> {
    let items = traffic.feedback.get(&d.id)?;
    let scores: Vec<f64> = items
        .iter()
        .filter(|f| sources.is_empty() || sources.contains(&f.source))
        .map(|f| f.score)
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

/// Runs `train ingest`: reads, writes the rows, and returns what it did.
pub fn run(args: &IngestArgs) -> anyhow::Result<IngestReport> {
    let traffic = read_dir(&args.decisions)?;
    let (rows, report) = rows(&traffic, args);
    if rows.is_empty() {
        let skipped: Vec<String> = report
            .skipped
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        anyhow::bail!(
            "{}: none of the {} decision records can become a training row (skipped: {})",
            args.decisions.display(),
            report.decisions,
            if skipped.is_empty() {
                "none".to_string()
            } else {
                skipped.join("; ")
            }
        );
    }
    write_jsonl(&args.out, &rows)?;
    Ok(report)
}

fn write_jsonl(path: &Path, rows: &[TrafficRow]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The report for people.
pub fn render(report: &IngestReport, args: &IngestArgs) -> String {
    let mut s = format!(
        "ingested {}: {} decision records, {} used, {} rows of `{}` written to {}\n",
        args.decisions.display(),
        report.decisions,
        report.used,
        report.rows,
        args.dataset,
        args.out.display()
    );
    for (reason, n) in &report.skipped {
        s.push_str(&format!("  skipped {n}: {reason}\n"));
    }
    let (d, f) = report.unreadable_lines;
    if d + f > 0 {
        s.push_str(&format!(
            "  unreadable lines skipped: {d} decision, {f} feedback\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{decision, feedback, write};
    use super::*;

    fn args(dir: &Path, out: &Path) -> IngestArgs {
        IngestArgs {
            decisions: dir.to_path_buf(),
            out: out.to_path_buf(),
            dataset: "traffic".into(),
            source: Vec::new(),
        }
    }

    #[test]
    fn rows_average_judgements_per_prompt_and_model_and_count_what_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        write(
            &logs,
            "decisions-20261202T100000.000000Z-0000.jsonl",
            &[
                decision(
                    "d1",
                    Some("What is 2+2?"),
                    "a",
                    Some(1.0),
                    (0.9, 0.5),
                    false,
                ),
                decision(
                    "d2",
                    Some("What is 2+2?"),
                    "a",
                    Some(1.0),
                    (0.9, 0.5),
                    false,
                ),
                decision("d3", None, "b", Some(1.0), (0.4, 0.5), false),
                decision("d4", Some("unjudged"), "b", Some(1.0), (0.4, 0.5), false),
            ],
            "{\"id\": \"torn",
        );
        write(
            &logs,
            "feedback-20261202T100000.000000Z-0000.jsonl",
            &[
                feedback("d1", "user", 0.0, 1),
                // The replacement wins.
                feedback("d1", "user", 1.0, 2),
                feedback("d2", "user", 0.5, 1),
                feedback("d3", "user", 1.0, 1),
            ],
            "",
        );
        let out = dir.path().join("traffic").join("traffic.jsonl");
        let report = run(&args(&logs, &out)).unwrap();
        assert_eq!(report.decisions, 4);
        assert_eq!(report.used, 2);
        assert_eq!(report.rows, 1);
        assert_eq!(report.skipped[reasons::NO_PROMPT], 1);
        assert_eq!(report.skipped[reasons::NO_FEEDBACK], 1);
        assert_eq!(report.unreadable_lines, (1, 0));
        let text = std::fs::read_to_string(&out).unwrap();
        let row: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(row["model"], "a");
        assert_eq!(row["score"], 0.75, "mean of 1.0 (d1's latest) and 0.5");
        assert_eq!(row["judgements"], 2);
        assert_eq!(row["output_tokens"], 20.0);

        // The folder loads as a generic-format set.
        let loaded = datasets::load(out.parent().unwrap()).unwrap();
        assert_eq!(loaded.frame.height(), 1);
        assert_eq!(loaded.report.sets[0].dataset, "traffic");
    }

    #[test]
    fn a_source_filter_keeps_only_its_judgements() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "decisions-20261202T100000.000000Z-0000.jsonl",
            &[decision("d1", Some("q"), "a", Some(1.0), (0.9, 0.5), false)],
            "",
        );
        write(
            dir.path(),
            "feedback-20261202T100000.000000Z-0000.jsonl",
            &[
                feedback("d1", "user", 0.0, 1),
                feedback("d1", "judge", 1.0, 1),
            ],
            "",
        );
        let traffic = read_dir(dir.path()).unwrap();
        let mut a = args(dir.path(), &dir.path().join("o.jsonl"));
        assert_eq!(rows(&traffic, &a).0[0].score, 0.5, "both sources, averaged");
        a.source = vec!["judge".into()];
        assert_eq!(rows(&traffic, &a).0[0].score, 1.0);
    }

    #[test]
    fn a_folder_without_decision_files_is_an_error_that_says_where_to_point() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("audit.dir"), "{err}");
    }
}
