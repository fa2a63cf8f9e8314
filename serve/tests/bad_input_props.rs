//! Bad input never panics the gateway and never gets a 5xx — what
//! `proptest_requests.rs` does not already cover: bodies with random values in every field
//! the gateway reads (`model`, `messages`, `route`, `models`, `stream`, `stream_options`)
//! sent to `/v1/chat/completions` and `/v1/route` with *reachable* stub upstreams (so a body
//! that happens to be valid is forwarded and streamed too), invalid UTF-8 inside a JSON
//! string, bodies over the size limit (413), deep nesting inside the `route` object, and a
//! table of wrong types, empty values and unknown models, each of which must name the
//! offending field in OpenAI's error body (`{"error": {"message", "type", "param", "code"}}`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use serve::config::Config;
use support::StubUpstream;
use tower::ServiceExt;

/// Largest body the test gateway accepts (the default is 4 MiB; smaller keeps it quick).
const MAX_BODY: usize = 64 * 1024;

struct Env {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    _stubs: Mutex<tokio::task::JoinSet<()>>,
    _log: tempfile::TempDir,
}

/// One gateway app (and its stubs) shared by every case of every property.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log = tempfile::tempdir().unwrap();
        let (app, stubs) = rt.block_on(async {
            let mut stubs = tokio::task::JoinSet::new();
            let big = StubUpstream::start("big", &mut stubs).await;
            let backup = StubUpstream::start("big-backup", &mut stubs).await;
            let mid = StubUpstream::start("mid", &mut stubs).await;
            let small = StubUpstream::start("small", &mut stubs).await;
            let mut toml = support::test_config_toml(
                &big.base_url,
                &backup.base_url,
                &mid.base_url,
                &small.base_url,
                log.path(),
            );
            toml.push_str(&format!("\n[limits]\nmax_body_bytes = {MAX_BODY}\n"));
            let config = Config::from_toml_str(&toml, "bad_input.toml").unwrap();
            let state = serve::AppState::new(
                config,
                support::test_loader(),
                tokio_util::sync::CancellationToken::new(),
            )
            .unwrap();
            (serve::app(state), stubs)
        });
        Env {
            rt,
            app,
            _stubs: Mutex::new(stubs),
            _log: log,
        }
    })
}

/// POSTs raw bytes; returns the status and the body as JSON (`Null` when it is not JSON,
/// e.g. a stream).
fn post(path: &str, body: Vec<u8>) -> (u16, Value) {
    let env = env();
    env.rt.block_on(async {
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = env.app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    })
}

const PATHS: [&str; 2] = ["/v1/chat/completions", "/v1/route"];

/// A 4xx with OpenAI's error body; returns `error.param`.
fn assert_client_error(status: u16, body: &Value, what: &str) -> Option<String> {
    assert!(
        (400..500).contains(&status),
        "{what}: expected a 4xx, got {status}: {body}"
    );
    let err = support::assert_openai_error(body);
    err["param"].as_str().map(str::to_string)
}

/// Never a 5xx; any error has OpenAI's shape.
fn assert_no_server_error(status: u16, body: &Value, what: &str) {
    assert!(status < 500, "{what}: server error {status}: {body}");
    if status >= 400 {
        support::assert_openai_error(body);
    } else {
        assert_eq!(status, 200, "{what}: {body}");
    }
}

/// Any JSON value, nested a few levels.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("auto".into())),
        Just(Value::String("user".into())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field value that is sometimes valid, sometimes nearly valid, sometimes anything.
fn arb_model() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(Some(json!("auto"))),
        Just(Some(json!("big"))),
        Just(Some(json!("no-such-model"))),
        Just(Some(json!(""))),
        Just(None),
        arb_json().prop_map(Some),
    ]
}

fn arb_message() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,40}".prop_map(|t| json!({"role": "user", "content": t})),
        Just(json!({"role": "system", "content": "be brief"})),
        Just(json!({"role": "assistant", "content": null})),
        Just(
            json!({"role": "user", "content": [{"type": "text", "text": "parts"}, {"type": "image_url", "image_url": {"url": "u"}}]})
        ),
        (arb_json(), arb_json()).prop_map(|(r, c)| json!({"role": r, "content": c})),
        arb_json(),
    ]
}

fn arb_messages() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        prop::collection::vec(arb_message(), 0..4).prop_map(|v| Some(Value::Array(v))),
        Just(Some(json!([]))),
        Just(None),
        arb_json().prop_map(Some),
    ]
}

fn arb_route() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!({"objective": "cost"}))),
        Just(Some(
            json!({"objective": {"quality": 1.0, "cost_per_usd": 10.0}})
        )),
        Just(Some(json!({"max_cost_usd": 0.0}))),
        Just(Some(json!({"min_quality": 2.0}))),
        Just(Some(json!({"candidates": []}))),
        Just(Some(json!({"candidates": ["nope"]}))),
        Just(Some(json!({"exclude": ["big", "mid", "small"]}))),
        Just(Some(json!({"objective": "fastest"}))),
        Just(Some(json!({"surprise": 1}))),
        arb_json().prop_map(Some),
    ]
}

fn arb_flag() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!(true))),
        Just(Some(json!(false))),
        arb_json().prop_map(Some)
    ]
}

/// A chat body assembled from the field strategies, plus unknown fields.
fn arb_body() -> impl Strategy<Value = Value> {
    (
        arb_model(),
        arb_messages(),
        arb_route(),
        prop_oneof![
            Just(None),
            Just(Some(json!(["big", "mid"]))),
            Just(Some(json!(["nope"]))),
            arb_json().prop_map(Some)
        ],
        arb_flag(),
        prop_oneof![
            Just(None),
            Just(Some(json!({"include_usage": true}))),
            arb_json().prop_map(Some)
        ],
        prop::collection::btree_map("x_[a-z]{1,6}", arb_json(), 0..3),
    )
        .prop_map(
            |(model, messages, route, models, stream, stream_options, extra)| {
                let mut body = Map::new();
                for (k, v) in [
                    ("model", model),
                    ("messages", messages),
                    ("route", route),
                    ("models", models),
                    ("stream", stream),
                    ("stream_options", stream_options),
                ] {
                    if let Some(v) = v {
                        body.insert(k.to_string(), v);
                    }
                }
                body.extend(extra);
                Value::Object(body)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn chat_bodies_never_get_a_5xx(v in arb_body(), p in 0..2usize) {
        let (status, body) = post(PATHS[p], serde_json::to_vec(&v).unwrap());
        assert_no_server_error(status, &body, &v.to_string());
        // A few things the parser must always refuse, whatever else is in the body.
        let model = v.get("model");
        if !matches!(model, Some(Value::String(s)) if !s.trim().is_empty()) {
            prop_assert_eq!(status, 400, "bad `model` {:?}: {}", model, body);
            prop_assert_eq!(body["error"]["param"].as_str(), Some("model"));
        }
        if !matches!(v.get("messages"), Some(Value::Array(items)) if !items.is_empty()) {
            prop_assert!((400..500).contains(&status), "bad `messages`: {}", body);
        }
        if let Some(Value::String(m)) = model
            && m == "no-such-model" && status != 400
        {
            prop_assert_eq!(status, 404, "{}", body);
            prop_assert_eq!(body["error"]["code"].as_str(), Some("model_not_found"));
        }
    }

    #[test]
    fn invalid_utf8_inside_a_string_gets_a_400(prefix in ".{0,20}", junk in prop::collection::vec(0x80u8..=0xff, 1..6), p in 0..2usize) {
        let mut bytes = format!("{{\"model\":\"auto\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}", prefix.replace(['"', '\\'], "")).into_bytes();
        bytes.extend(&junk);
        bytes.extend_from_slice(b"\"}]}");
        prop_assume!(std::str::from_utf8(&bytes).is_err());
        let (status, body) = post(PATHS[p], bytes);
        prop_assert_eq!(status, 400, "{}", body);
        assert_client_error(status, &body, "invalid UTF-8");
    }
}

#[test]
fn deep_nesting_gets_a_400_not_a_stack_overflow() {
    for depth in [200, 10_000, 100_000] {
        for (field, open, close) in [("messages", "[", "]"), ("route", "{\"a\":", "}")] {
            let body = format!(
                "{{\"model\":\"auto\",\"{field}\":{}1{}}}",
                open.repeat(depth),
                close.repeat(depth)
            );
            if body.len() > MAX_BODY {
                continue; // covered by the size limit below
            }
            for path in PATHS {
                let (status, err) = post(path, body.clone().into_bytes());
                assert_eq!(status, 400, "{field} nested {depth} deep: {err}");
                support::assert_openai_error(&err);
            }
        }
    }
    // Nesting below the parser's limit in a pass-through field is not the gateway's business.
    let body = format!(
        "{{\"model\":\"auto\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"x\":{}1{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let (status, err) = post("/v1/route", body.into_bytes());
    assert_eq!(status, 200, "{err}");
}

#[test]
fn huge_bodies_get_a_413() {
    let content = "a".repeat(MAX_BODY + 1);
    let body = serde_json::to_vec(
        &json!({"model": "auto", "messages": [{"role": "user", "content": content}]}),
    )
    .unwrap();
    for path in PATHS {
        let (status, err) = post(path, body.clone());
        assert_eq!(status, 413, "{err}");
        assert_eq!(err["error"]["code"], json!("payload_too_large"));
    }
    // Just under the limit is accepted (and, for a prompt this long, some models are
    // excluded by their context window rather than failing).
    let content = "word ".repeat((MAX_BODY - 200) / 5);
    let body = serde_json::to_vec(
        &json!({"model": "auto", "messages": [{"role": "user", "content": content}]}),
    )
    .unwrap();
    assert!(body.len() < MAX_BODY);
    let (status, resp) = post("/v1/route", body);
    assert_no_server_error(status, &resp, "a body just under the limit");
}

#[test]
fn wrong_types_and_empty_values_name_the_field() {
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"model": 42, "messages": [{"role": "user", "content": "x"}]}),
            400,
            "model",
        ),
        (
            json!({"model": "", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "model",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            400,
            "model",
        ),
        (json!({"model": "auto"}), 400, "messages"),
        (json!({"model": "auto", "messages": "hi"}), 400, "messages"),
        (json!({"model": "auto", "messages": []}), 400, "messages"),
        (
            json!({"model": "auto", "messages": [{"role": "system", "content": "only a system prompt"}]}),
            400,
            "messages",
        ),
        (
            json!({"model": "auto", "messages": [42]}),
            400,
            "messages[0]",
        ),
        (
            json!({"model": "auto", "messages": [{"content": "x"}]}),
            400,
            "messages[0].role",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}),
            400,
            "messages[0].role",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": 5}]}),
            400,
            "messages[0].content",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            400,
            "messages[0].content[0].text",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            400,
            "stream",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream_options": 1}),
            400,
            "stream_options",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "route": []}),
            400,
            "route",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "route": {"max_cost_usd": -1}}),
            400,
            "route.max_cost_usd",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "route": {"min_quality": 7}}),
            400,
            "route.min_quality",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "models": "big"}),
            400,
            "models",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "models": []}),
            400,
            "models",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}], "models": ["nope"]}),
            400,
            "models[0]",
        ),
        (
            json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
            404,
            "model",
        ),
    ];
    for (body, want, param) in cases {
        for path in PATHS {
            let (status, err) = post(path, serde_json::to_vec(&body).unwrap());
            assert_eq!(status, want, "{path} {body}: {err}");
            let got = assert_client_error(status, &err, &body.to_string());
            assert_eq!(got.as_deref(), Some(param), "{path} {body}: {err}");
        }
    }
    // The same gateway answers a valid request (so the 4xx above are about the input).
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}]}),
        ),
        (
            "/v1/route",
            json!({"model": "auto", "messages": [{"role": "user", "content": "x"}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "mid", "messages": [{"role": "user", "content": "x"}]}),
        ),
    ] {
        let (status, resp) = post(path, serde_json::to_vec(&body).unwrap());
        assert_eq!(status, 200, "{path} {body}: {resp}");
    }
    // Empty, whitespace and non-object bodies.
    for raw in [
        "",
        "   \n",
        "null",
        "[]",
        "\"auto\"",
        "{",
        "{\"model\":\"auto\",}",
    ] {
        for path in PATHS {
            let (status, err) = post(path, raw.as_bytes().to_vec());
            assert_eq!(status, 400, "{raw:?}: {err}");
            support::assert_openai_error(&err);
        }
    }
}
