//! Fixed prompts and pinned-output fixtures for the golden tests.
//!
//! A golden test compares what the code produces now with a JSON fixture under
//! `models/tests/fixtures/`. The fixtures change only deliberately: run the tests with
//! `ARBITER_REGENERATE_GOLDEN=1` to rewrite them from the current code, then review the
//! diff (`git diff models/tests/fixtures/`) before committing it. A diff there means every
//! shipped artifact trained before the change featurizes or scores differently.

// Each golden test binary includes this file and uses part of it.
#![allow(dead_code)]
// Test support: failing loudly, and saying so on stderr, is the point.
#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

use std::path::PathBuf;

/// Set to `1` to rewrite the fixtures instead of comparing against them.
pub const REGENERATE_ENV: &str = "ARBITER_REGENERATE_GOLDEN";

/// `models/tests/fixtures/<name>`, from any crate of the workspace that includes this file
/// (`serve` and `train` hold their paths to the same decisions fixture).
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures"
    ))
    .join(name)
}

/// The decisions of `models/default` on [`scorer_prompts`].
pub const DECISIONS_FIXTURE: &str = "default_artifact_golden.json";

/// A request with limits, so that exclusions are pinned too.
/// Marks the candidates without a price "not in catalog", as the gateway's built-in catalog
/// has them (`serve::builtin` serves priced candidates only), so the models-level, eval and
/// gateway sides pin the same decisions.
pub fn unpriced_not_in_catalog(inputs: &mut [models::CandidateInput], catalog: &models::Catalog) {
    for input in inputs {
        if catalog
            .get(&input.model)
            .is_none_or(|e| e.terms.price.is_none())
        {
            input.unavailable = Some(models::policy::Unavailable::NotInCatalog);
        }
    }
}

pub fn constrained() -> models::Constraints {
    models::Constraints {
        max_cost_usd: Some(0.000_2),
        min_quality: Some(0.3),
        candidates: None,
        exclude: vec!["gpt-4-1106-preview".into()],
    }
}

/// One decision: what any path (policy, gateway, offline sweep) must agree on.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Routed {
    pub winner: Option<String>,
    pub fallback_order: Vec<String>,
    /// `(model, reason)` for every excluded candidate, in input order.
    pub excluded: Vec<(String, String)>,
}

impl Routed {
    pub fn of(d: &models::Decision) -> Routed {
        Routed {
            winner: d.winner_model().map(str::to_string),
            fallback_order: d
                .fallback_order
                .iter()
                .map(|&i| d.candidates[i].model.clone())
                .collect(),
            excluded: d
                .candidates
                .iter()
                .filter_map(|c| {
                    c.excluded
                        .as_ref()
                        .map(|why| (c.model.clone(), why.to_string()))
                })
                .collect(),
        }
    }
}

/// One golden prompt: predicted qualities (manifest order) and four decisions.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub prompt_id: String,
    pub quality: Vec<f32>,
    pub quality_objective: Routed,
    pub cost_objective: Routed,
    pub latency_objective: Routed,
    pub constrained_cost_objective: Routed,
}

/// Asserts that `now` (from the path named `path`) matches the pinned rows: prompt ids,
/// qualities to 1e-5, and every decision exactly.
pub fn assert_same_decisions(now: &[Row], pinned: &[Row], path: &str) {
    assert_eq!(
        pinned.len(),
        now.len(),
        "{path}: number of golden prompts changed"
    );
    for (i, (now, then)) in now.iter().zip(pinned).enumerate() {
        assert_eq!(
            now.prompt_id, then.prompt_id,
            "{path}, prompt {i}: prompt_id changed"
        );
        assert_eq!(
            now.quality.len(),
            then.quality.len(),
            "{path}, prompt {i}: candidate count changed"
        );
        for (c, (a, b)) in now.quality.iter().zip(&then.quality).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5,
                "{path}, prompt {i}, candidate {c}: predicted quality {a} vs pinned {b}"
            );
        }
        for (name, a, b) in [
            ("quality", &now.quality_objective, &then.quality_objective),
            ("cost", &now.cost_objective, &then.cost_objective),
            ("latency", &now.latency_objective, &then.latency_objective),
            (
                "constrained cost",
                &now.constrained_cost_objective,
                &then.constrained_cost_objective,
            ),
        ] {
            assert_eq!(
                a, b,
                "{path}, prompt {i}, {name} objective: decision changed"
            );
        }
    }
}

/// Whether this run rewrites fixtures.
pub fn regenerating() -> bool {
    std::env::var(REGENERATE_ENV).is_ok_and(|v| v == "1")
}

/// Writes `rows` as a JSON array, one compact row per line (diffs stay readable), or
/// reads the fixture back. Returns the pinned rows.
pub fn pinned<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str, rows: &[T]) -> Vec<T> {
    let path = fixture_path(name);
    if regenerating() {
        let lines: Vec<String> = rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("[\n{}\n]\n", lines.join(",\n"))).unwrap();
        eprintln!("regenerated {}", path.display());
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the golden fixture {} ({e}); create it with {REGENERATE_ENV}=1",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// A long prompt, built deterministically (about 12k characters).
pub fn long_prompt() -> String {
    let paragraph = "The committee reviewed the quarterly figures, noted that revenue grew 12% \
        while costs rose 7%, and asked the finance team to explain the variance in section 3.2. ";
    let mut out = String::new();
    for i in 0..80 {
        out.push_str(paragraph);
        if i % 10 == 9 {
            out.push_str("\n\n");
        }
    }
    out.push_str("Summarise the discussion in three bullet points.");
    out
}

/// The featurizer's golden prompts: ASCII, unicode, empty, very long, code, math,
/// multiple choice, multi-turn and odd whitespace.
pub fn featurizer_prompts() -> Vec<String> {
    let mut prompts: Vec<String> = [
        "",
        " ",
        "What is the capital of France?",
        "hello",
        "HELLO WORLD!!!",
        "Solve for x: 3x + 7 = 22. Show each step.",
        "Write a Rust function that reverses a linked list.\n\nfn reverse(head: Option<Box<Node>>) -> Option<Box<Node>> {\n    let mut prev = None;\n    todo!()\n}",
        "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```\nWhy is this slow?",
        "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth",
        "日本の首都はどこですか？",
        "Ünïcödé façade naïve café — “quotes” and emoji 🚀🔥 mixed in.",
        "Привет, как дела? Расскажи о себе.",
        "مرحبا بالعالم",
        "tab\tseparated\tvalues\r\nand CRLF lines\r\n",
        "1234567890 3.14159 2026-12-02 +1 (555) 010-9999",
        "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name ORDER BY 2 DESC;",
        "a",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prompts.push(long_prompt());
    prompts.push(models::join_turns(&[
        "I need a haiku about autumn.",
        "Make it about rain instead.",
        "Now translate it into French.",
    ]));
    prompts.push("word ".repeat(2000));
    prompts
}

/// The scorer's golden prompts: the featurizer's plus thirty more across tasks.
pub fn scorer_prompts() -> Vec<String> {
    let mut prompts = featurizer_prompts();
    prompts.extend(
        [
            "Explain the difference between TCP and UDP.",
            "Write a haiku about the sea.",
            "What is 17 * 23?",
            "Prove that the square root of 2 is irrational.",
            "Translate 'good morning' into Spanish, German and Italian.",
            "Summarize the plot of Hamlet in two sentences.",
            "Give me a SQL query that finds duplicate emails in a users table.",
            "Implement quicksort in C++ and explain its complexity.",
            "What are the side effects of ibuprofen?",
            "Draft a polite email declining a meeting invitation.",
            "If a train leaves at 3pm going 60 mph, when does it cover 150 miles?",
            "List five prime numbers greater than 100.",
            "Why is the sky blue?",
            "Write a regular expression that matches IPv4 addresses.",
            "Who wrote 'Pride and Prejudice'?",
            "Compute the derivative of x^3 * sin(x).",
            "Refactor this JavaScript: var a = []; for (var i = 0; i < 10; i++) { a.push(i * 2); }",
            "What is the time complexity of binary search? A) O(n) B) O(log n) C) O(1) D) O(n log n)",
            "Tell me a joke about programmers.",
            "Describe the water cycle for a ten-year-old.",
            "How do I center a div in CSS?",
            "Integrate 1/(1+x^2) from 0 to 1.",
            "Write a short story opening set on Mars in 2150.",
            "What's the difference between a list and a tuple in Python?",
            "Is it safe to mix bleach and ammonia?",
            "Convert 72 degrees Fahrenheit to Celsius.",
            "Explain transformers (the neural network architecture) in plain words.",
            "Write a bash one-liner that counts lines in all .rs files.",
            "What causes inflation?",
            "Give three arguments for and against nuclear power.",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    prompts
}
