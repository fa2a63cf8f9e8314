//! Whatever the body, the gateway answers a 4xx in OpenAI's error shape (or 200 for a
//! valid request): never a panic, never a 5xx. Driven in-process with `oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Value, json};
use serve::config::Config;
use tower::ServiceExt;

/// One state for every case (building one per case would open a log file each time).
fn shared() -> Arc<serve::AppState> {
    static STATE: std::sync::OnceLock<(Arc<serve::AppState>, tempfile::TempDir)> =
        std::sync::OnceLock::new();
    Arc::clone(&STATE.get_or_init(state).0)
}

fn state() -> (Arc<serve::AppState>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // Upstreams are never reached: only `/v1/route` and parse errors are exercised.
    let toml = support::test_config_toml(
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        dir.path(),
    );
    let config = Config::from_toml_str(&toml, "t").unwrap();
    let state = serve::AppState::new(
        config,
        support::test_loader(),
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap();
    (state, dir)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z0-9 ]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("auto"),
            Just("big"),
            Just("user"),
            Just("system"),
            Just("cost"),
            Just("nope")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_string()),
                    Just("messages".to_string()),
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("route".to_string()),
                    Just("objective".to_string()),
                    Just("models".to_string()),
                    Just("stream".to_string()),
                    Just("candidates".to_string()),
                    Just("exclude".to_string()),
                    Just("max_cost_usd".to_string()),
                    Just("min_quality".to_string()),
                    Just("stream_options".to_string()),
                    Just("type".to_string()),
                    Just("text".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like chat requests with random parts swapped in.
fn chatty_body() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        0..6usize,
    )
        .prop_map(|(model, content, route, extra, pick)| {
            let mut body =
                json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]});
            match pick {
                0 => body["model"] = model,
                1 => body["messages"][0]["content"] = content,
                2 => body["route"] = route,
                3 => body["messages"] = extra,
                4 => body["models"] = extra,
                _ => {
                    body["route"] = json!({"objective": route, "candidates": extra});
                }
            }
            body
        })
}

async fn send(app: axum::Router, bytes: Vec<u8>) -> (u16, Value) {
    let req = Request::post("/v1/route")
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn check(status: u16, v: &Value, input: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        status == 200 || (400..500).contains(&status),
        "status {status} for {input}: {v}"
    );
    if status != 200 {
        let err = &v["error"];
        prop_assert!(
            err["message"].is_string() && err["type"].is_string(),
            "not OpenAI-shaped for {input}: {v}"
        );
        prop_assert!(
            err.get("param").is_some() && err.get("code").is_some(),
            "{v}"
        );
    } else {
        prop_assert!(v["id"].is_string(), "{v}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_json_never_panics_or_5xx(body in json_value()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = shared();
        let text = body.to_string();
        let (status, v) = rt.block_on(send(serve::app(state), text.clone().into_bytes()));
        check(status, &v, &text)?;
    }

    #[test]
    fn chat_shaped_bodies_never_panic_or_5xx(body in chatty_body()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = shared();
        let text = body.to_string();
        let (status, v) = rt.block_on(send(serve::app(state), text.clone().into_bytes()));
        check(status, &v, &text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_5xx(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = shared();
        let shown = String::from_utf8_lossy(&bytes).to_string();
        let (status, v) = rt.block_on(send(serve::app(state), bytes));
        check(status, &v, &shown)?;
    }
}

#[tokio::test]
async fn deep_nesting_and_empty_messages_are_400() {
    let (state, _dir) = state();
    let deep = format!(
        "{{\"model\":\"auto\",\"messages\":{}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (status, v) = send(serve::app(Arc::clone(&state)), deep.into_bytes()).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recursion"),
        "{v}"
    );
    let (status, v) = send(
        serve::app(Arc::clone(&state)),
        br#"{"model":"auto","messages":[]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "messages");
    let (status, v) = send(
        serve::app(state),
        br#"{"model":"gpt-x","messages":[{"role":"user","content":"a"}]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");
}
