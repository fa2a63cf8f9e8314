//! Simulated users for the closed loop: sends a benchmark set's prompts through a running
//! gateway (`model: "auto"`) and answers each response with feedback = the benchmark outcome
//! of the model that answered (the stub upstream's text is not judged: the set's published
//! outcome for that (prompt, model) is what a perfect judge would say). Prints one JSON
//! object: the on-policy value (mean feedback) with a bootstrap 95% interval, the mean
//! realised cost, the model mix and what could not be judged.
//!
//! ```text
//! simulate_traffic --gateway http://127.0.0.1:18480 --data ../shared/data \
//!     --dataset zeroeval_gsm --split train [--limit 500] [--objective cost] \
//!     [--worsen MODEL --after N]   # from request N on, MODEL's answers score 0 (drift)
//!     [--outcomes FILE]            # one JSON line per judged request, for paired comparisons
//! ```
//!
//! Each request offers only the models with an outcome for its prompt (`route.candidates`):
//! a model the set never graded on it could not be judged, and a missing outcome is
//! missing, never a 0. Plain HTTP/1.1 over a TCP stream, one request at a
//! time: the point is the loop, not load.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use datasets::split::{Split, SplitRatios, split_of};
use serde_json::{Value, json};
use train::eval::bootstrap;

#[derive(Debug, Parser)]
struct Cli {
    /// The gateway, e.g. `http://127.0.0.1:18480`.
    #[arg(long)]
    gateway: String,
    /// Benchmark data directory.
    #[arg(long, env = "ROUTER_DATA_DIR")]
    data: PathBuf,
    /// The set whose prompts and outcomes are used.
    #[arg(long, default_value = "zeroeval_gsm")]
    dataset: String,
    /// Which of its prompts: train, validation, test.
    #[arg(long, default_value = "train")]
    split: String,
    /// At most this many prompts (in prompt-id order) ...
    #[arg(long)]
    limit: Option<usize>,
    /// ... after skipping this many.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// `route.objective` of every request.
    #[arg(long, default_value = "quality")]
    objective: String,
    /// Offer only these candidates (comma-separated); default: every model graded on the set
    /// that the gateway routes to.
    #[arg(long, value_delimiter = ',')]
    candidates: Option<Vec<String>>,
    /// From request `--after` on, this model's answers score 0.
    #[arg(long)]
    worsen: Option<String>,
    /// See `--worsen`.
    #[arg(long, default_value_t = 0)]
    after: usize,
    /// The `source` of the feedback.
    #[arg(long, default_value = "simulated")]
    source: String,
    /// Bearer key, when the gateway wants one.
    #[arg(long)]
    key: Option<String>,
    /// Write one JSON line per judged request (`prompt_id`, `model`, `score`, `cost_usd`,
    /// `explored`) here: two runs on the same prompts can then be compared prompt by prompt
    /// (`bench/paired_gain.py`).
    #[arg(long)]
    outcomes: Option<PathBuf>,
}

struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// One request with `Connection: close`; `body` makes it a JSON POST, else a GET.
fn request(
    base: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> anyhow::Result<Response> {
    let host = base
        .strip_prefix("http://")
        .context("--gateway must be an http:// URL")?
        .trim_end_matches('/');
    let auth = key.map_or_else(String::new, |k| format!("Authorization: Bearer {k}\r\n"));
    let request = match body {
        Some(body) => {
            let payload = body.to_string();
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{payload}",
                payload.len()
            )
        }
        None => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
    };
    let mut stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("a response without a header block")?;
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("a response without a status")?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(Response {
        status,
        headers,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    })
}

fn post(base: &str, path: &str, body: &Value, key: Option<&str>) -> anyhow::Result<Response> {
    request(base, path, Some(body), key)
}

/// A GET's JSON body (`/v1/models`, `/v1/decisions/{id}`).
fn get(base: &str, path: &str, key: Option<&str>) -> anyhow::Result<Value> {
    Ok(request(base, path, None, key)?.body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let split = match cli.split.as_str() {
        "train" => Split::Train,
        "validation" => Split::Validation,
        "test" => Split::Test,
        other => bail!("--split must be train, validation or test, got `{other}`"),
    };
    let loaded = datasets::load_with(
        &cli.data,
        &datasets::LoadOptions {
            only: Some(vec![cli.dataset.clone()]),
            prices: None,
        },
    )
    .with_context(|| format!("loading {} from {}", cli.dataset, cli.data.display()))?;
    let frame = &loaded.frame;
    let ids = frame.column("prompt_id")?.str()?;
    let prompts = frame.column("prompt")?.str()?;
    let models = frame.column("model")?.str()?;
    let scores = frame.column("score")?.f64()?;
    // prompt id → (prompt, model → outcome)
    let mut outcomes: BTreeMap<String, (String, BTreeMap<String, f64>)> = BTreeMap::new();
    let ratios = SplitRatios::default();
    for (((id, p), m), s) in ids
        .iter()
        .zip(prompts.iter())
        .zip(models.iter())
        .zip(scores.iter())
    {
        let (Some(id), Some(p), Some(m), Some(s)) = (id, p, m, s) else {
            continue;
        };
        if split_of(id, &ratios) != split {
            continue;
        }
        outcomes
            .entry(id.to_string())
            .or_insert_with(|| (p.to_string(), BTreeMap::new()))
            .1
            .insert(m.to_string(), s);
    }
    if outcomes.is_empty() {
        bail!(
            "no {} prompt of {} in {}",
            cli.split,
            cli.dataset,
            cli.data.display()
        );
    }
    let graded: BTreeSet<&str> = outcomes
        .values()
        .flat_map(|(_, o)| o.keys().map(String::as_str))
        .collect();
    // What the gateway can route: `auto`'s candidates that are in its catalog.
    let listed = get(&cli.gateway, "/v1/models", cli.key.as_deref())?;
    let data = listed["data"].as_array().cloned().unwrap_or_default();
    let routable: BTreeSet<String> = data
        .iter()
        .filter(|m| m["routable"] == true)
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    let offered: Vec<String> = match &cli.candidates {
        Some(list) => list.clone(),
        None => graded
            .iter()
            .filter(|m| routable.contains(**m))
            .map(|s| s.to_string())
            .collect(),
    };
    if offered.is_empty() {
        bail!(
            "none of the {} models graded on {} is routable by the gateway",
            graded.len(),
            cli.dataset
        );
    }

    let mut rewards = Vec::new();
    let mut costs = Vec::new();
    let mut lines = String::new();
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    let (mut unjudged, mut failed, mut explored) = (0usize, 0usize, 0usize);
    for (i, (prompt_id, (prompt, outcome))) in outcomes
        .iter()
        .skip(cli.offset)
        .take(cli.limit.unwrap_or(usize::MAX))
        .enumerate()
    {
        // A model without an outcome for this prompt is not a candidate for it (a missing
        // outcome is missing, never a 0).
        let here: Vec<&String> = offered
            .iter()
            .filter(|m| outcome.contains_key(*m))
            .collect();
        let body = json!({
            "model": "auto",
            "messages": [{"role": "user", "content": prompt}],
            "route": {"objective": cli.objective, "candidates": here},
        });
        let r = post(
            &cli.gateway,
            "/v1/chat/completions",
            &body,
            cli.key.as_deref(),
        )?;
        let (Some(id), Some(model)) = (
            r.headers.get("x-arbiter-decision-id"),
            r.headers.get("x-arbiter-model"),
        ) else {
            failed += 1;
            continue;
        };
        if r.status != 200 {
            if failed == 0 {
                eprintln!("the gateway answered {}: {}", r.status, r.body);
            }
            failed += 1;
            continue;
        }
        *mix.entry(model.clone()).or_default() += 1;
        let Some(&truth) = outcome.get(model) else {
            unjudged += 1;
            continue;
        };
        let score = if cli.worsen.as_deref() == Some(model.as_str()) && i >= cli.after {
            0.0
        } else {
            truth
        };
        let f = post(
            &cli.gateway,
            "/v1/feedback",
            &json!({"decision_id": id, "score": score, "source": cli.source}),
            cli.key.as_deref(),
        )?;
        if f.status != 200 {
            bail!("feedback for {id} was refused ({}): {}", f.status, f.body);
        }
        rewards.push(score);
        // The record's realised cost (the stub's usage at the catalog's prices).
        let record = get(
            &cli.gateway,
            &format!("/v1/decisions/{id}"),
            cli.key.as_deref(),
        )?;
        let cost = record["cost_usd"].as_f64().unwrap_or(0.0);
        costs.push(cost);
        let was_explored = record["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("explored"));
        explored += usize::from(was_explored);
        lines.push_str(&format!(
            "{}\n",
            json!({"prompt_id": prompt_id, "model": model, "score": score, "cost_usd": cost, "explored": was_explored})
        ));
    }
    if let Some(path) = &cli.outcomes {
        std::fs::write(path, &lines).with_context(|| format!("writing {}", path.display()))?;
    }
    let (lo, hi) = bootstrap_mean(&rewards);
    let n = rewards.len().max(1) as f64;
    let summary = json!({
        "dataset": cli.dataset, "split": cli.split, "objective": cli.objective,
        "requests": rewards.len() + unjudged + failed, "judged": rewards.len(),
        "unjudged": unjudged, "failed": failed, "explored": explored,
        "value": rewards.iter().sum::<f64>() / n, "value_ci": [lo, hi],
        "mean_cost_usd": costs.iter().sum::<f64>() / n,
        "mix": mix,
    });
    println!("{summary}");
    Ok(())
}

/// 95% percentile interval of the mean: the evaluation's own bootstrap (resample counts and
/// percentile interval of `train::eval::bootstrap`, default resamples and seed).
fn bootstrap_mean(v: &[f64]) -> (f64, f64) {
    let settings = bootstrap::Settings::default();
    let means: Vec<Option<f64>> = (0..settings.resamples)
        .map(|b| {
            let counts = bootstrap::resample_counts(settings.seed, "simulate", b, v.len());
            let (sum, n) = v
                .iter()
                .zip(&counts)
                .fold((0.0, 0u32), |(s, n), (x, &c)| (s + x * f64::from(c), n + c));
            (n > 0).then(|| sum / f64::from(n))
        })
        .collect();
    let iv = bootstrap::percentile_interval(&means, bootstrap::Missing::Undefined);
    (iv.lo.unwrap_or(f64::NAN), iv.hi.unwrap_or(f64::NAN))
}
