//! Config parsing and validation: the shipped example is valid, and one edit of a
//! known-good sample triggers each error, which names the TOML path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use models::Objective;
use serve::config::{Config, ConfigError, Durability, ServerMode};

const GOOD: &str = r#"
listen = "127.0.0.1:9000"
router_dir = "models/default"

[routing]
default_objective = { quality = 1.0, cost_per_usd = 50.0 }

[auth]
api_keys = ["k1"]

[audit]
dir = "/tmp/arbiter-test-decisions"

[limits]
max_body_bytes = 65536
max_concurrency = 8

[models.big]
context_length = 8000
[[models.big.providers]]
name = "a"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "BIG_KEY"
input_usd_per_mtok = 10.0
output_usd_per_mtok = 30.0
timeout_secs = 5

[models.small]
context_length = 4000
[[models.small.providers]]
base_url = "https://api.example.com/v1"
input_usd_per_mtok = 0.2
output_usd_per_mtok = 0.2
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "sample.toml")
}

fn parse_error(text: &str) -> (String, String) {
    match parse(text) {
        Err(ConfigError::Parse { path, message, .. }) => (path, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn problems(text: &str) -> Vec<(String, String)> {
    match parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.path, p.message)).collect()
        }
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn the_good_sample_and_the_shipped_example_are_valid() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.models.len(), 2);
    assert_eq!(
        c.models["small"].providers[0].display_name(),
        "api.example.com"
    );
    assert_eq!(
        c.models["small"].providers[0].timeout_secs, 120.0,
        "default timeout"
    );
    assert!(
        matches!(c.routing.default_objective, Objective::Weighted { cost_per_usd, latency_per_s, .. } if cost_per_usd == 50.0 && latency_per_s == 0.0)
    );

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/arbiter.example.toml");
    let c = Config::load(std::path::Path::new(example)).unwrap();
    assert_eq!(c.routing.default_objective, Objective::Quality);
    assert!(
        c.models
            .contains_key("mistralai/Mixtral-8x7B-Instruct-v0.1")
    );
    assert_eq!(
        c.models["mistralai/Mixtral-8x7B-Instruct-v0.1"]
            .providers
            .len(),
        2
    );
}

#[test]
fn unknown_keys_name_their_path() {
    let (path, msg) =
        parse_error(&GOOD.replace("max_concurrency = 8", "max_concurrency = 8\nmax_conns = 3"));
    assert_eq!(path, "limits.max_conns");
    assert!(msg.contains("max_conns"), "{msg}");
    assert!(msg.contains("line 17"), "the line is named: {msg}");

    let (path, msg) =
        parse_error(&GOOD.replace("timeout_secs = 5", "timeout_secs = 5\ntimeout_ms = 3"));
    assert_eq!(path, "models.big.providers[0].timeout_ms");
    assert!(msg.contains("timeout_ms"), "{msg}");

    let (path, _) = parse_error(&GOOD.replace("[auth]", "[authentication]"));
    assert_eq!(path, "authentication");
}

#[test]
fn wrong_types_name_their_path() {
    let (path, msg) =
        parse_error(&GOOD.replace("input_usd_per_mtok = 10.0", "input_usd_per_mtok = \"ten\""));
    assert_eq!(path, "models.big.providers[0].input_usd_per_mtok");
    assert!(msg.contains("invalid type"), "{msg}");

    let (path, _) =
        parse_error(&GOOD.replace("listen = \"127.0.0.1:9000\"", "listen = \"localhost\""));
    assert_eq!(path, "listen");

    let (path, _) = parse_error(&GOOD.replace(
        "default_objective = { quality = 1.0, cost_per_usd = 50.0 }",
        "default_objective = \"speed\"",
    ));
    assert_eq!(path, "routing.default_objective");

    let (path, _) = parse_error(&GOOD.replace("context_length = 4000", "context_length = -5"));
    assert_eq!(path, "models.small.context_length");

    let (path, _) = parse_error(&GOOD.replace(
        "[[models.big.providers]]\nname = \"a\"",
        "[[models.big.providers]]\nname = \"a\"\n[",
    ));
    assert_eq!(
        path, ".",
        "broken TOML syntax is reported with its position"
    );
}

#[test]
fn each_validation_rule_names_its_path() {
    let cases: Vec<(String, &str, &str)> = vec![
        (GOOD.replace("http://127.0.0.1:1/v1", "ftp://x"), "models.big.providers[0].base_url", "http"),
        (GOOD.replace("output_usd_per_mtok = 30.0", "output_usd_per_mtok = -1.0"), "models.big.providers[0].output_usd_per_mtok", "price"),
        (GOOD.replace("input_usd_per_mtok = 0.2", "input_usd_per_mtok = nan"), "models.small.providers[0].input_usd_per_mtok", "price"),
        (GOOD.replace("timeout_secs = 5", "timeout_secs = 0"), "models.big.providers[0].timeout_secs", "positive"),
        (GOOD.replace("api_key_env = \"BIG_KEY\"", "api_key_env = \"sk-abc=1\""), "models.big.providers[0].api_key_env", "environment variable"),
        (GOOD.replace("context_length = 8000", "context_length = 0"), "models.big.context_length", "at least 1"),
        (GOOD.replace("max_concurrency = 8", "max_concurrency = 0"), "limits.max_concurrency", "at least 1"),
        (GOOD.replace("max_body_bytes = 65536", "max_body_bytes = 10"), "limits.max_body_bytes", "at least"),
        (GOOD.replace("api_keys = [\"k1\"]", "api_keys = [\"\"]"), "auth.api_keys[0]", "empty"),
        (format!("{GOOD}\n[server]\nthreads = 5000\n"), "server.threads", "at most 1024"),
        (GOOD.replace("cost_per_usd = 50.0", "cost_per_usd = -50.0"), "routing.default_objective.cost_per_usd", "non-negative"),
        (GOOD.replace("[models.small]", "[models.auto]").replace("[[models.small.providers]]", "[[models.auto.providers]]"), "models.auto", "reserved"),
        (
            GOOD.replace("[[models.small.providers]]\nbase_url = \"https://api.example.com/v1\"\ninput_usd_per_mtok = 0.2\noutput_usd_per_mtok = 0.2\n", ""),
            "models.small.providers",
            "no provider",
        ),
        (
            format!("{GOOD}\n[[models.big.providers]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:2/v1\"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n"),
            "models.big.providers[1].name",
            "also defined",
        ),
    ];
    for (text, path, needle) in cases {
        let found = problems(&text);
        assert!(
            found.iter().any(|(p, m)| p == path && m.contains(needle)),
            "expected a problem at `{path}` mentioning `{needle}`, got {found:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once_and_the_message_lists_them() {
    let text = GOOD
        .replace("timeout_secs = 5", "timeout_secs = 0")
        .replace("max_concurrency = 8", "max_concurrency = 0");
    let err = parse(&text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("sample.toml"), "{shown}");
    assert!(
        shown.contains("models.big.providers[0].timeout_secs"),
        "{shown}"
    );
    assert!(shown.contains("limits.max_concurrency"), "{shown}");
}

#[test]
fn an_empty_catalog_is_an_error() {
    let found = problems("listen = \"127.0.0.1:1\"\n");
    assert!(
        found
            .iter()
            .any(|(p, m)| p == "models" && m.contains("empty")),
        "{found:?}"
    );
}

#[test]
fn coverage_lists_unroutable_candidates_and_rejects_none_covered() {
    let c = parse(GOOD).unwrap();
    assert_eq!(
        c.check_router_coverage(&["big".into(), "gpt-x".into()])
            .unwrap(),
        vec!["gpt-x".to_string()]
    );
    let err = c
        .check_router_coverage(&["gpt-x".into(), "gpt-y".into()])
        .unwrap_err();
    assert_eq!(err.path, "models");
    assert!(err.message.contains("gpt-x, gpt-y"), "{}", err.message);
}

#[test]
fn a_missing_file_says_which() {
    let err = Config::load(std::path::Path::new("/nonexistent/arbiter.toml")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/arbiter.toml"),
        "{err}"
    );
}

#[test]
fn the_server_section_picks_the_threading() {
    let default = parse(GOOD).unwrap();
    assert_eq!(default.server.threads, 0);
    assert!(default.server.thread_count() >= 1, "0 means one per core");
    if cfg!(target_os = "linux") {
        assert_eq!(default.server.mode, ServerMode::PerCore);
    }
    let shared = parse(&format!(
        "{GOOD}\n[server]\nmode = \"shared\"\nthreads = 3\n"
    ))
    .unwrap();
    assert_eq!(shared.server.mode, ServerMode::Shared);
    assert_eq!(shared.server.thread_count(), 3);
    let (path, message) = parse_error(&format!("{GOOD}\n[server]\nmode = \"fast\"\n"));
    assert_eq!(path, "server.mode", "{message}");
    assert!(
        message.contains("per_core") && message.contains("shared"),
        "{message}"
    );
}

#[test]
fn audit_durability_defaults_to_queued_and_names_its_choices() {
    assert_eq!(parse(GOOD).unwrap().audit.durability, Durability::Queued);
    for (text, want) in [
        ("written", Durability::Written),
        ("synced", Durability::Synced),
    ] {
        let cfg = parse(&GOOD.replace("[audit]\n", &format!("[audit]\ndurability = \"{text}\"\n")))
            .unwrap();
        assert_eq!(cfg.audit.durability, want);
    }
    let (path, message) =
        parse_error(&GOOD.replace("[audit]\n", "[audit]\ndurability = \"ack\"\n"));
    assert_eq!(path, "audit.durability", "{message}");
    assert!(
        message.contains("queued") && message.contains("written") && message.contains("synced"),
        "{message}"
    );
}
