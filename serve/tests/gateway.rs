//! The gateway end to end, in-process: stub upstreams on loopback, the test-double
//! router, real HTTP between them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use serve::config::Config;
use support::{
    Behavior, Gateway, Harness, assert_openai_error, candidate, chat, client, get_json, get_text,
    sse_data,
};

async fn post(h: &Harness, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client().post(h.url(path)).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let value = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, value)
}

async fn route(h: &Harness, body: Value) -> Value {
    let (status, _, v) = post(h, "/v1/route", &body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn with_route(mut body: Value, route: Value) -> Value {
    body["route"] = route;
    body
}

#[tokio::test]
async fn the_objective_steers_the_choice() {
    let h = Harness::start().await;
    let q = route(&h, chat("auto", "prove the theorem")).await;
    assert_eq!(q["model"], "big", "{q}");
    let c = route(
        &h,
        with_route(
            chat("auto", "prove the theorem"),
            json!({"objective": "cost"}),
        ),
    )
    .await;
    assert_eq!(
        c["model"], "mid",
        "cost objective trades 0.1 quality for a 15x cheaper model: {c}"
    );
    let e = route(
        &h,
        with_route(chat("auto", "an easy one"), json!({"objective": "cost"})),
    )
    .await;
    assert_eq!(e["model"], "small", "{e}");
    let w = route(
        &h,
        with_route(
            chat("auto", "prove it"),
            json!({"objective": {"quality": 1.0, "cost_per_usd": 0.0}}),
        ),
    )
    .await;
    assert_eq!(w["model"], "big");
    h.gateway.stop().await;
}

#[tokio::test]
async fn constraints_exclude_candidates_and_say_why() {
    let h = Harness::start().await;
    let r = route(
        &h,
        with_route(chat("auto", "prove it"), json!({"max_cost_usd": 0.001})),
    )
    .await;
    assert_eq!(r["model"], "mid", "{r}");
    let big = candidate(&r, "big");
    assert!(
        big["excluded"].as_str().unwrap().contains("exceeds cap"),
        "{big}"
    );

    let r = route(
        &h,
        with_route(chat("auto", "prove it"), json!({"exclude": ["big"]})),
    )
    .await;
    assert_eq!(r["model"], "mid");
    let r = route(
        &h,
        with_route(chat("auto", "prove it"), json!({"candidates": ["small"]})),
    )
    .await;
    assert_eq!(r["model"], "small");
    let r = route(
        &h,
        with_route(chat("auto", "prove it"), json!({"min_quality": 0.95})),
    )
    .await;
    assert!(r["model"].is_null(), "nothing reaches 0.95: {r}");
    assert!(
        r["reason"].as_str().unwrap().contains("no candidate"),
        "{r}"
    );

    // Context length: `small` takes 100 tokens.
    let long = "word ".repeat(200);
    let r = route(
        &h,
        with_route(
            chat("auto", &long),
            json!({"candidates": ["small", "mid"], "objective": "cost"}),
        ),
    )
    .await;
    let small = candidate(&r, "small");
    assert!(
        small["excluded"]
            .as_str()
            .unwrap()
            .contains("context length"),
        "{small}"
    );
    assert_eq!(r["model"], "mid");

    // With every candidate excluded, chat answers 422 in OpenAI's shape.
    let (status, headers, v) = post(
        &h,
        "/v1/chat/completions",
        &with_route(chat("auto", "x"), json!({"min_quality": 0.99})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_openai_error(&v);
    assert!(headers.contains_key("x-arbiter-decision-id"));
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_models_list_restricts_and_orders_fallbacks() {
    let h = Harness::start().await;
    let mut body = chat("auto", "prove it");
    body["models"] = json!(["small", "mid"]);
    let r = route(&h, body.clone()).await;
    assert_eq!(r["model"], "mid");
    assert_eq!(r["fallback_order"], json!(["mid", "small"]));

    h.mid.set(Behavior::Fail(500));
    let (status, headers, v) = post(&h, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "small");
    assert_eq!(headers["x-arbiter-model"], "small");
    assert_eq!(h.big.calls(), 0, "big is not in the list");
    h.gateway.stop().await;
}

#[tokio::test]
async fn auto_forwards_the_body_unchanged_except_model_and_route() {
    let h = Harness::start().await;
    let mut body = chat("auto", "prove it");
    body["temperature"] = json!(0.3);
    body["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    body["response_format"] = json!({"type": "json_object"});
    body["route"] = json!({"objective": "quality"});
    let (status, headers, v) = post(&h, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "big", "the catalog name, not the upstream's");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from big");
    assert_eq!(headers["x-arbiter-model"], "big");
    let id = headers["x-arbiter-decision-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36);

    let sent = &h.big.requests()[0];
    assert_eq!(
        sent["model"], "big-upstream",
        "the provider's own model name"
    );
    assert!(sent.get("route").is_none());
    assert_eq!(sent["temperature"], json!(0.3));
    assert_eq!(sent["tools"], body["tools"]);
    assert_eq!(sent["response_format"], body["response_format"]);
    assert_eq!(sent["messages"], body["messages"]);
    h.gateway.stop().await;
}

#[tokio::test]
async fn named_models_are_forwarded_and_unknown_ones_get_404() {
    let h = Harness::start().await;
    let (status, headers, v) = post(&h, "/v1/chat/completions", &chat("small", "hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "small");
    assert_eq!(headers["x-arbiter-model"], "small");
    assert_eq!(h.small.calls(), 1);

    let (status, _, v) = post(&h, "/v1/chat/completions", &chat("gpt-9", "hi")).await;
    assert_eq!(status, 404);
    let err = assert_openai_error(&v);
    assert_eq!(err["code"], "model_not_found");
    assert_eq!(err["param"], "model");
    assert!(err["message"].as_str().unwrap().contains("gpt-9"));
    h.gateway.stop().await;
}

async fn stream(h: &Harness, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = client()
        .post(h.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn streams_pass_through_and_honour_include_usage() {
    let h = Harness::start().await;
    let mut body = chat("auto", "prove it");
    body["stream"] = json!(true);
    let (status, headers, text) = stream(&h, &body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-arbiter-model"], "big");
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from big");
    assert!(chunks.iter().all(|c| c["model"] == "big"));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "usage not asked for: {text}"
    );
    // The gateway asked upstream for usage anyway, for the record.
    assert_eq!(h.big.requests()[0]["stream_options"]["include_usage"], true);

    body["stream_options"] = json!({"include_usage": true});
    let (_, headers, text) = stream(&h, &body).await;
    let data = sse_data(&text);
    let usage_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage_chunk["usage"]["total_tokens"], 16, "{text}");

    // The record has the usage and its cost, once the stream is over.
    let id = headers["x-arbiter-decision-id"].to_str().unwrap();
    let rec = decision_when_settled(&h, id).await;
    assert_eq!(rec["usage"]["completion_tokens"], 4);
    assert_eq!(rec["outcome"], "ok");
    let cost = rec["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (12.0 * 10.0 + 4.0 * 30.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    h.gateway.stop().await;
}

async fn decision_when_settled(h: &Harness, id: &str) -> Value {
    for _ in 0..100 {
        let v: Value = get_json(h.url(&format!("/v1/decisions/{id}"))).await;
        if v["outcome"] != "pending" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("decision {id} never settled");
}

#[tokio::test]
async fn each_failure_kind_before_the_first_byte_falls_back() {
    let h = Harness::start_with(|c| {
        c.replace("timeout_secs = 2", "timeout_secs = 0.3")
            .replace("failure_threshold = 3", "failure_threshold = 100")
    })
    .await;
    let refused = support::closed_port_url().await;
    let cases: Vec<(&str, Behavior, bool)> = vec![
        ("http_error", Behavior::Fail(500), false),
        ("http_error", Behavior::Fail(429), false),
        ("http_error", Behavior::Fail(503), true),
        ("timeout", Behavior::Stall(Duration::from_secs(2)), false),
        ("timeout", Behavior::Stall(Duration::from_secs(2)), true),
        ("stream_error", Behavior::Hangup, true),
    ];
    for (kind, behavior, streaming) in cases {
        h.big.script([behavior.clone()]);
        let mut body = chat("big", "prove it");
        body["stream"] = json!(streaming);
        let resp = client()
            .post(h.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{kind} {behavior:?}");
        assert_eq!(resp.headers()["x-arbiter-model"], "big");
        let id = resp.headers()["x-arbiter-decision-id"]
            .to_str()
            .unwrap()
            .to_string();
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("Hello") || text.contains("big-backup"),
            "{text}"
        );
        if streaming {
            assert!(sse_data(&text).last().unwrap() == "[DONE]", "{text}");
        }
        let rec = decision_when_settled(&h, &id).await;
        let attempts = rec["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{kind} {behavior:?}: {rec}");
        assert_eq!(attempts[0]["provider"], "stub-big");
        assert!(
            attempts[0]["outcome"] == kind
                || (kind == "stream_error" && attempts[0]["outcome"] == "connect_error"),
            "{kind}: {}",
            attempts[0]
        );
        assert_eq!(attempts[1]["provider"], "stub-big-backup");
        assert_eq!(attempts[1]["outcome"], "ok");
        assert_eq!(rec["model"], "big");
    }

    // A provider that refuses connections: configure one in front of `mid`.
    let h2 = Harness::start_with(|c| {
        c.replace(
            "[[models.mid.providers]]\nname = \"stub-mid\"",
            &format!("[[models.mid.providers]]\nname = \"dead\"\nbase_url = \"{refused}\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n[[models.mid.providers]]\nname = \"stub-mid\""),
        )
    })
    .await;
    let (status, headers, v) = post(&h2, "/v1/chat/completions", &chat("mid", "hi")).await;
    assert_eq!(status, 200, "{v}");
    let rec = decision_when_settled(&h2, headers["x-arbiter-decision-id"].to_str().unwrap()).await;
    assert_eq!(rec["attempts"][0]["outcome"], "connect_error", "{rec}");
    assert_eq!(rec["attempts"][1]["outcome"], "ok");
    h2.gateway.stop().await;
    h.gateway.stop().await;
}

#[tokio::test]
async fn falling_back_across_models_and_all_failing() {
    let h = Harness::start().await;
    h.big.set(Behavior::Fail(500));
    h.big_backup.set(Behavior::Fail(502));
    let (status, headers, v) = post(&h, "/v1/chat/completions", &chat("auto", "prove it")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["model"], "mid",
        "the next model in the decision's fallback order"
    );
    assert_eq!(headers["x-arbiter-model"], "mid");

    h.mid.set(Behavior::Fail(500));
    h.small.set(Behavior::Fail(429));
    let (status, headers, v) = post(&h, "/v1/chat/completions", &chat("auto", "prove it")).await;
    assert_eq!(status, 502, "{v}");
    let err = assert_openai_error(&v);
    assert!(err["message"].as_str().unwrap().contains("stub-mid"), "{v}");
    let rec = decision_when_settled(&h, headers["x-arbiter-decision-id"].to_str().unwrap()).await;
    assert_eq!(rec["outcome"], "upstream_error");
    assert!(rec["model"].is_null());

    // A 400 from the upstream is about the request: passed through, no fallback.
    h.big.set(Behavior::Fail(400));
    let calls = h.big_backup.calls();
    let (status, _, v) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    assert_eq!(status, 400);
    assert_openai_error(&v);
    assert_eq!(h.big_backup.calls(), calls);
    h.gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_dying_mid_stream_ends_with_an_sse_error_event() {
    let h = Harness::start().await;
    h.big.script([Behavior::DieMidStream]);
    let mut body = chat("big", "prove it");
    body["stream"] = json!(true);
    let (status, headers, text) = stream(&h, &body).await;
    assert_eq!(status, 200, "the head was already sent");
    let data = sse_data(&text);
    let last: Value =
        serde_json::from_str(data.last().unwrap()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_openai_error(&last);
    assert!(!text.contains("[DONE]"));
    let rec = decision_when_settled(&h, headers["x-arbiter-decision-id"].to_str().unwrap()).await;
    assert_eq!(rec["outcome"], "stream_error", "{rec}");
    assert_eq!(
        h.big_backup.calls(),
        0,
        "no fallback after bytes reached the client"
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn breakers_open_after_consecutive_failures_and_close_after_a_probe() {
    let h = Harness::start_with(|c| c.replace("cooldown_secs = 30", "cooldown_secs = 0.4")).await;
    h.big.set(Behavior::Fail(500));
    for _ in 0..3 {
        let (status, _, _) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(h.big.calls(), 3);
    // Open: skipped without a call, and reported.
    let (_, headers, _) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    assert_eq!(h.big.calls(), 3);
    let rec = decision_when_settled(&h, headers["x-arbiter-decision-id"].to_str().unwrap()).await;
    assert_eq!(rec["attempts"][0]["outcome"], "skipped");
    assert_eq!(rec["attempts"][0]["error"], "circuit breaker open");
    let metrics = get_text(h.url("/metrics")).await;
    assert!(
        metrics.contains("arbiter_breaker_state{provider=\"big@stub-big\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("arbiter_breaker_opened_total{provider=\"big@stub-big\"} 1"));

    // After the cool-down one probe goes; it succeeds and the breaker closes.
    h.big.set(Behavior::Ok);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (_, _, v) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from big");
    assert_eq!(h.big.calls(), 4);
    let (_, _, v) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from big");

    // When every provider of a model is open, the router excludes it and says so.
    h.big.set(Behavior::Fail(500));
    h.big_backup.set(Behavior::Fail(500));
    for _ in 0..3 {
        post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    }
    let r = route(&h, chat("auto", "prove it")).await;
    assert_eq!(r["model"], "mid", "{r}");
    let big = candidate(&r, "big");
    assert!(
        big["excluded"]
            .as_str()
            .unwrap()
            .contains("circuit breaker open"),
        "{big}"
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn the_audit_record_is_complete_and_survives_a_restart() {
    let h = Harness::start().await;
    let (status, headers, _) = post(
        &h,
        "/v1/chat/completions",
        &with_route(
            chat("auto", "What is 2+2?"),
            json!({"objective": "cost", "max_cost_usd": 0.01}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let id = headers["x-arbiter-decision-id"]
        .to_str()
        .unwrap()
        .to_string();
    let rec = decision_when_settled(&h, &id).await;
    // The sample record in serve/README.md is this output.
    println!("{}", serde_json::to_string_pretty(&rec).unwrap());
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(rec["model"], "mid");
    assert_eq!(rec["task"]["name"], "math");
    assert!((rec["task"]["probability"].as_f64().unwrap() - 0.5).abs() < 1e-6);
    assert_eq!(rec["objective"], "cost");
    assert_eq!(rec["constraints"]["max_cost_usd"], 0.01);
    let cands = rec["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 3);
    for c in cands {
        for k in [
            "model",
            "predicted_quality",
            "est_cost_usd",
            "est_latency_ms",
            "utility",
            "excluded",
        ] {
            assert!(c.get(k).is_some(), "{k} missing in {c}");
        }
    }
    assert!(rec["reason"].as_str().unwrap().starts_with("mid"), "{rec}");
    assert_eq!(rec["attempts"][0]["provider"], "stub-mid");
    assert_eq!(rec["attempts"][0]["status"], 200);
    assert_eq!(rec["usage"]["total_tokens"], 16);
    assert!(rec["cost_usd"].as_f64().unwrap() > 0.0);
    let big = candidate(&rec, "big");
    assert_eq!(big["predicted_quality"].as_f64().unwrap() as f32, 0.9);
    assert!(rec["scores"].get("quality").is_none(), "not repeated");
    assert_eq!(rec["scores"]["task_probs"].as_object().unwrap().len(), 12);
    assert_eq!(rec["prompt_id"], models::prompt_id("What is 2+2?"));
    assert!(rec.get("prompt").is_none(), "log_prompts is off");
    assert!(rec["router_us"].as_f64().unwrap() > 0.0);
    assert!(rec["time"].is_string());

    // The route endpoint returns the same object shape.
    let r = route(&h, chat("auto", "What is 2+2?")).await;
    assert_eq!(r["outcome"], "routed");
    let mut stored: Value = client()
        .get(h.url(&format!("/v1/decisions/{}", r["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The lookup adds the decision's feedback (none yet) to the record.
    assert_eq!(
        stored.as_object_mut().unwrap().remove("feedback"),
        Some(json!([]))
    );
    assert_eq!(stored, r);

    // Unknown ids are a 404 in OpenAI's shape.
    let resp = client()
        .get(h.url("/v1/decisions/0192a7d0-0000-7000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_openai_error(&resp.json().await.unwrap());

    // Shutdown flushes; a new gateway on the same log directory finds the record on disk.
    let Harness {
        gateway,
        log_dir,
        tasks: _tasks,
        ..
    } = h;
    gateway.stop().await;
    // One decision file (and the feedback log's, beside it).
    assert_eq!(serve::audit::writer::log_files(log_dir.path()).len(), 1);
    assert_eq!(std::fs::read_dir(log_dir.path()).unwrap().count(), 2);
    let toml = support::test_config_toml(
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        log_dir.path(),
    );
    let g2 = Gateway::start(
        Config::from_toml_str(&toml, "t").unwrap(),
        support::test_loader(),
    )
    .await;
    let again: Value = get_json(format!("{}/v1/decisions/{id}", g2.url)).await;
    assert_eq!(again, rec);
    g2.stop().await;
}

#[tokio::test]
async fn prompts_are_logged_only_when_asked() {
    let h = Harness::start_with(|c| {
        c.replace(
            "fsync_interval_ms = 50",
            "fsync_interval_ms = 50\nlog_prompts = true",
        )
    })
    .await;
    let r = route(&h, chat("auto", "secret question")).await;
    assert_eq!(r["prompt"], "secret question");
    h.gateway.stop().await;
}

#[tokio::test]
async fn client_keys_are_required_when_configured() {
    let h = Harness::start_with(|c| format!("{c}\n[auth]\napi_keys = [\"sk-test-1\"]\n")).await;
    let resp = client()
        .post(h.url("/v1/route"))
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(assert_openai_error(&v)["type"], "authentication_error");
    let resp = client()
        .post(h.url("/v1/route"))
        .bearer_auth("sk-wrong")
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client()
        .post(h.url("/v1/route"))
        .bearer_auth("sk-test-1")
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client().get(h.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // Probes stay open.
    assert_eq!(
        client()
            .get(h.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(h.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_right_status_in_openai_shape() {
    let h = Harness::start_with(|c| format!("{c}\n[limits]\nmax_body_bytes = 2048\n")).await;
    let raw = |body: &'static str| {
        let url = h.url("/v1/chat/completions");
        async move {
            let resp = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    for body in [
        "{not json",
        "",
        "[1,2]",
        "null",
        "{\"model\": \"auto\"}",
        "{\"model\": 5, \"messages\": []}",
    ] {
        let (status, v) = raw(body).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_openai_error(&v);
    }
    let (status, v) = raw("{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"route\": {\"objective\": \"fast\"}}").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "route.objective");
    let (status, v) = raw("{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"route\": {\"exclude\": [\"nope\"]}}").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "route.exclude[0]");

    let big = json!({"model": "auto", "messages": [{"role": "user", "content": "x".repeat(5000)}]});
    let (status, _, v) = post(&h, "/v1/chat/completions", &big).await;
    assert_eq!(status, 413, "{v}");
    assert_openai_error(&v);

    let resp = client().get(h.url("/v1/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_openai_error(&resp.json().await.unwrap());
    let resp = client()
        .get(h.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_openai_error(&resp.json().await.unwrap());
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_full_gateway_answers_429() {
    let h = Harness::start_with(|c| format!("{c}\n[limits]\nmax_concurrency = 1\n")).await;
    h.big.script([Behavior::Stall(Duration::from_millis(600))]);
    let url = h.url("/v1/chat/completions");
    let mut slow = tokio::task::JoinSet::new();
    slow.spawn(async move {
        client()
            .post(url)
            .json(&chat("big", "x"))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, _, v) = post(&h, "/v1/route", &chat("auto", "x")).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(assert_openai_error(&v)["type"], "rate_limit_error");
    assert_eq!(slow.join_next().await.unwrap().unwrap(), 200);
    let (status, _, _) = post(&h, "/v1/route", &chat("auto", "x")).await;
    assert_eq!(status, 200, "the permit came back");
    h.gateway.stop().await;
}

#[tokio::test]
async fn reload_swaps_the_router_without_failing_requests() {
    let mut tasks = tokio::task::JoinSet::new();
    let stub = support::StubUpstream::start("any", &mut tasks).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = support::test_config_toml(
        &stub.base_url,
        &stub.base_url.replace("/v1", "/v1/"),
        &stub.base_url,
        &stub.base_url,
        dir.path(),
    );
    let generation = Arc::new(AtomicUsize::new(0));
    let g = Arc::clone(&generation);
    let loader: serve::router_artifact::RouterLoader = Arc::new(move || {
        let n = g.fetch_add(1, Ordering::SeqCst);
        match n {
            // Second load fails: the current router must stay.
            1 => Err(serve::router_artifact::RouterLoadError::Other(
                "scripted failure".into(),
            )),
            _ => {
                let mut scorer = support::test_scorer();
                if n >= 2 {
                    scorer.base = vec![0.1, 0.2, 0.9];
                }
                Ok(support::test_router(&format!("router-v{n}"), scorer))
            }
        }
    });
    let gw = Gateway::start(Config::from_toml_str(&toml, "t").unwrap(), loader).await;
    let c = client();
    let ask = |c: reqwest::Client, url: String| async move {
        let v: Value = c
            .post(format!("{url}/v1/route"))
            .json(&chat("auto", "q"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    assert_eq!(ask(c.clone(), gw.url.clone()).await["router"], "router-v0");

    let resp = c
        .post(format!("{}/admin/reload", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(
        assert_openai_error(&resp.json().await.unwrap())["message"]
            .as_str()
            .unwrap()
            .contains("scripted failure")
    );
    assert_eq!(
        ask(c.clone(), gw.url.clone()).await["router"],
        "router-v0",
        "a failed reload keeps the old router"
    );

    // Requests in flight during the reload all succeed, with one router or the other.
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (c, url) = (c.clone(), gw.url.clone());
        load.spawn(async move {
            c.post(format!("{url}/v1/route"))
                .json(&chat("auto", "q"))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let resp = c
        .post(format!("{}/admin/reload", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["router"], "router-v2");
    while let Some(status) = load.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let after = ask(c.clone(), gw.url.clone()).await;
    assert_eq!(after["router"], "router-v2");
    assert_eq!(after["model"], "small", "the new scores decide");
    let ready: Value = c
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["router"], "router-v2");
    let metrics = c
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("arbiter_router_reloads_total{result=\"ok\"} 1"));
    assert!(metrics.contains("arbiter_router_reloads_total{result=\"error\"} 1"));
    gw.stop().await;
}

#[tokio::test]
async fn models_health_and_metrics_endpoints() {
    let h = Harness::start().await;
    let v: Value = get_json(h.url("/v1/models")).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["auto", "big", "mid", "small"]);
    assert_eq!(v["object"], "list");
    let ready = client().get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    route(&h, chat("auto", "x")).await;
    post(&h, "/v1/chat/completions", &chat("auto", "x")).await;
    let m = get_text(h.url("/metrics")).await;
    assert!(
        m.contains("arbiter_requests_total{endpoint=\"/v1/route\",status=\"200\"} 1"),
        "{m}"
    );
    assert!(m.contains("arbiter_router_duration_seconds_count 2"), "{m}");
    assert!(
        m.contains("arbiter_decisions_total{model=\"big\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("arbiter_upstream_requests_total{provider=\"big@stub-big\",outcome=\"ok\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("arbiter_provider_latency_ewma_seconds{provider=\"big@stub-big\"}"),
        "{m}"
    );

    // Draining: readiness goes down.
    let state = Arc::clone(&h.gateway.state);
    h.gateway.stop().await;
    let resp = serve::routes::health::readyz(axum::extract::State(state)).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn upstream_keys_are_sent_but_never_recorded() {
    // CARGO_MANIFEST_DIR is set for every test process: it stands in for a real key.
    let key = env!("CARGO_MANIFEST_DIR");
    let h = Harness::start_with(|c| {
        c.replace(
            "name = \"stub-big\"",
            "name = \"stub-big\"\napi_key_env = \"CARGO_MANIFEST_DIR\"",
        )
    })
    .await;
    h.big.script([Behavior::Fail(500)]);
    let (status, headers, _) = post(&h, "/v1/chat/completions", &chat("big", "x")).await;
    assert_eq!(status, 200);
    let rec = decision_when_settled(&h, headers["x-arbiter-decision-id"].to_str().unwrap()).await;
    let err = rec["attempts"][0]["error"].as_str().unwrap();
    assert!(err.contains("[redacted]"), "{err}");
    assert!(
        !rec.to_string().contains(key),
        "the key leaked into the record: {rec}"
    );
    let sent = &h.big.requests()[0];
    assert!(
        sent.to_string().find(key).is_none(),
        "the key is a header, not in the body"
    );
    h.gateway.stop().await;
    for path in serve::audit::writer::log_files(h.log_dir.path()) {
        assert!(!std::fs::read_to_string(path).unwrap().contains(key));
    }
}

#[tokio::test]
async fn the_log_rotates_by_size_and_old_files_are_searched() {
    let h = Harness::start_with(|c| {
        c.replace(
            "fsync_interval_ms = 50",
            "fsync_interval_ms = 50\nmax_file_bytes = 2048\nrecent_in_memory = 2",
        )
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let r = route(&h, chat("auto", &format!("question {i}"))).await;
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    h.gateway.state.audit.flush().await;
    let files = serve::audit::writer::log_files(h.log_dir.path());
    assert!(
        files.len() >= 3,
        "records of ~1.5 KB rotate at 2 KB: {files:?}"
    );
    // Only two are in memory; the first comes from the oldest file.
    let first: Value = get_json(h.url(&format!("/v1/decisions/{}", ids[0]))).await;
    assert_eq!(first["id"], ids[0].as_str());
    assert_eq!(first["prompt_id"], models::prompt_id("question 0"));
    let lines: usize = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 8, "every record written exactly once");
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_recorded_and_frees_its_permit() {
    let h = Harness::start_with(|c| format!("{c}\n[limits]\nmax_concurrency = 1\n")).await;
    h.big
        .script([Behavior::StallMidStream(Duration::from_millis(1500))]);
    let mut body = chat("big", "x");
    body["stream"] = json!(true);
    let (mut resp, id) = open_stream(&h, &body).await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(resp);
    let rec = decision_when_settled(&h, &id).await;
    assert_eq!(rec["outcome"], "client_disconnected", "{rec}");
    let (status, _, _) = post(&h, "/v1/route", &chat("auto", "x")).await;
    assert_eq!(status, 200, "the stream's permit was released");
    h.gateway.stop().await;
}

/// Starts a streamed chat request; returns the response (head read) and its decision id.
async fn open_stream(h: &Harness, body: &Value) -> (reqwest::Response, String) {
    let resp = client()
        .post(h.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-arbiter-decision-id"]
        .to_str()
        .unwrap()
        .to_string();
    (resp, id)
}

/// The lines of the decision log that belong to `id`, oldest first, without waiting for
/// the writer (whose append may be in progress: the text after the last newline is not a
/// line yet).
fn logged_lines(h: &Harness, id: &str) -> Vec<Value> {
    let mut files = serve::audit::writer::log_files(h.log_dir.path());
    files.reverse();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            whole
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|r| r["id"] == id)
        .collect()
}

#[tokio::test]
async fn written_durability_puts_the_record_on_disk_before_the_answer() {
    records_precede_answers("written").await;
}

#[tokio::test]
async fn synced_durability_puts_the_record_on_disk_before_the_answer() {
    records_precede_answers("synced").await;
}

/// Under a strict `audit.durability`, every answer's record is in the file when the
/// answer's head arrives.
async fn records_precede_answers(durability: &str) {
    let h = Harness::start_with(|c| {
        c.replace(
            "fsync_interval_ms = 50",
            &format!("fsync_interval_ms = 50\ndurability = \"{durability}\""),
        )
    })
    .await;
    // Chat, route and no-candidate answers: the record is in the file when the head arrives.
    for i in 0..10 {
        let body = chat("auto", &format!("question {i}"));
        let (status, headers, _) = post(&h, "/v1/chat/completions", &body).await;
        assert_eq!(status, 200);
        let id = headers["x-arbiter-decision-id"].to_str().unwrap();
        let lines = logged_lines(&h, id);
        assert_eq!(lines.len(), 1, "chat {i}: one final line, already written");
        assert_eq!(lines[0]["outcome"], "ok");
    }
    let (_, headers, _) = post(&h, "/v1/route", &chat("auto", "route me")).await;
    let id = headers["x-arbiter-decision-id"].to_str().unwrap();
    assert_eq!(logged_lines(&h, id)[0]["outcome"], "routed");
    let none = with_route(chat("auto", "x"), json!({"min_quality": 0.99}));
    let (status, headers, _) = post(&h, "/v1/chat/completions", &none).await;
    assert_eq!(status, 422, "every candidate excluded");
    let id = headers["x-arbiter-decision-id"].to_str().unwrap();
    assert_eq!(logged_lines(&h, id)[0]["outcome"], "no_candidate");

    // A stream: a `pending` line before its first byte, the final line when it ends.
    let mut body = chat("auto", "prove it");
    body["stream"] = json!(true);
    let (resp, id) = open_stream(&h, &body).await;
    // (The stub's stream is short: its final line may already follow.)
    let at_head = logged_lines(&h, &id);
    assert!(!at_head.is_empty(), "written before the head");
    assert_eq!(at_head[0]["outcome"], "pending");
    assert_eq!(at_head[0]["model"], "big");
    assert!(resp.text().await.unwrap().contains("[DONE]"));
    h.gateway.state.audit.flush().await;
    let lines = logged_lines(&h, &id);
    assert_eq!(lines.len(), 2, "pending, then final: {lines:?}");
    assert_eq!(lines[1]["outcome"], "ok");
    let looked_up: Value = get_json(h.url(&format!("/v1/decisions/{id}"))).await;
    assert_eq!(looked_up["outcome"], "ok", "the later line wins");

    let metrics = get_text(h.url("/metrics")).await;
    assert!(
        metrics.contains(&format!(
            "arbiter_audit_records_total{{result=\"{durability}\"}} 13"
        )),
        "10 chats, 1 route, 1 no-candidate and 1 pending stream line: {metrics}"
    );
    h.gateway.stop().await;
}
