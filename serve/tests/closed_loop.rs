//! The closed loop's gateway side: feedback on decisions (`POST /v1/feedback`, stored beside
//! the decision log, shown by `GET /v1/decisions/{id}`, read back after a restart, folded
//! into per-model drift in `/metrics` and `/v1/models`), and exploration with logged
//! propensities (`[routing.explore]`, `route.explore`, the record's `policy` block).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use serve::config::Config;
use support::{Gateway, Harness, assert_openai_error, chat, client, get_json, get_text};

async fn post(h: &Harness, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    post_to(&h.gateway.url, path, body).await
}

async fn post_to(base: &str, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let value = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, value)
}

/// A chat through the gateway; returns its decision id.
async fn answered(base: &str, body: &Value) -> String {
    let (status, headers, v) = post_to(base, "/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{v}");
    headers["x-arbiter-decision-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The record once the request has settled (its final record replaces the pending one).
async fn settled(base: &str, id: &str) -> Value {
    for _ in 0..100 {
        let r = get_json(format!("{base}/v1/decisions/{id}")).await;
        if r["outcome"] != "pending" {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("decision {id} never settled");
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` in metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn feedback_is_stored_replaced_per_source_and_shown_with_the_decision() {
    let h = Harness::start().await;
    let base = h.gateway.url.clone();
    let id = answered(&base, &chat("auto", "prove the theorem")).await;
    settled(&base, &id).await;

    let (status, _, first) = post(
        &h,
        "/v1/feedback",
        &json!({"decision_id": id, "score": 0.7}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["revision"], 1);
    assert_eq!(first["replaced"], false);
    assert_eq!(first["source"], "user");
    assert_eq!(first["model"], "big");
    assert!((first["predicted_quality"].as_f64().unwrap() - 0.9).abs() < 1e-6);

    let (status, _, again) = post(
        &h,
        "/v1/feedback",
        &json!({"decision_id": id, "rating": "down", "comment": "wrong unit"}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["revision"].as_u64(), again["replaced"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(again["score"], 0.0);

    let (status, _, judge) = post(
        &h,
        "/v1/feedback",
        &json!({"decision_id": id, "score": 1, "source": "judge", "metadata": {"judge": "gpt-4o"}}),
    )
    .await;
    assert_eq!(status, 200, "{judge}");
    assert_eq!(judge["revision"], 1);

    let record = get_json(h.url(&format!("/v1/decisions/{id}"))).await;
    let feedback = record["feedback"].as_array().unwrap();
    assert_eq!(feedback.len(), 2, "the latest per source: {record}");
    assert_eq!(feedback[0]["source"], "user");
    assert_eq!(feedback[0]["score"], 0.0);
    assert_eq!(feedback[0]["rating"], "down");
    assert_eq!(feedback[0]["comment"], "wrong unit");
    assert_eq!(feedback[0]["revision"], 2);
    assert_eq!(feedback[1]["source"], "judge");
    assert_eq!(feedback[1]["metadata"], json!({"judge": "gpt-4o"}));

    let text = get_text(h.url("/metrics")).await;
    assert_eq!(
        metric(&text, "arbiter_feedback_total{result=\"accepted\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "arbiter_feedback_total{result=\"replaced\"}"),
        1.0
    );
    // Drift counts each source's first judgement: 0.7 (user) and 1.0 (judge).
    assert_eq!(
        metric(&text, "arbiter_model_feedback_count{model=\"big\"}"),
        2.0
    );
    let realised = metric(&text, "arbiter_model_realised_quality_ewma{model=\"big\"}");
    assert!((realised - 0.85).abs() < 1e-9, "{realised}");
    let models = get_json(h.url("/v1/models")).await;
    let big = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "big")
        .unwrap();
    assert_eq!(big["feedback"]["count"], 2, "{big}");
    assert!((big["feedback"]["predicted_quality"].as_f64().unwrap() - 0.9).abs() < 1e-6);

    // The file holds every revision, one JSON line each.
    h.gateway.state.audit.flush().await;
    let lines = feedback_lines(h.log_dir.path());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| l["decision_id"] == id.as_str()));
    h.gateway.stop().await;
}

fn feedback_lines(dir: &std::path::Path) -> Vec<Value> {
    let mut files = serve::audit::writer::files_with_prefix(dir, "feedback-");
    files.reverse();
    files
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn drift_moves_when_a_model_gets_worse() {
    let h = Harness::start().await;
    let base = h.gateway.url.clone();
    let only_mid = json!({"model": "auto", "messages": [{"role": "user", "content": "hello"}],
        "route": {"candidates": ["mid"]}});
    let judge = |score: f64, n: usize| {
        let (base, body) = (base.clone(), only_mid.clone());
        async move {
            for _ in 0..n {
                let id = answered(&base, &body).await;
                settled(&base, &id).await;
                let (status, _, v) = post_to(
                    &base,
                    "/v1/feedback",
                    &json!({"decision_id": id, "score": score, "source": "test"}),
                )
                .await;
                assert_eq!(status, 200, "{v}");
            }
        }
    };
    judge(0.8, 20).await;
    let text = get_text(h.url("/metrics")).await;
    let before = metric(&text, "arbiter_model_calibration_error{model=\"mid\"}");
    assert!(before < 1e-6, "calibrated at first: {before}");
    judge(0.0, 20).await;
    let text = get_text(h.url("/metrics")).await;
    let after = metric(&text, "arbiter_model_calibration_error{model=\"mid\"}");
    let realised = metric(&text, "arbiter_model_realised_quality_ewma{model=\"mid\"}");
    assert!(after > 0.3, "the gap shows: {after}");
    assert!(realised < 0.5, "{realised}");
    h.gateway.stop().await;
}

#[tokio::test]
async fn bad_feedback_gets_openai_errors() {
    let h = Harness::start().await;
    let base = h.gateway.url.clone();
    let id = answered(&base, &chat("auto", "hi")).await;
    settled(&base, &id).await;
    for (body, status, param) in [
        (json!({"score": 1}), 400, "decision_id"),
        (json!({"decision_id": id, "score": 2}), 400, "score"),
        (json!({"decision_id": id}), 400, "score"),
        (
            json!({"decision_id": id, "rating": "sideways"}),
            400,
            "rating",
        ),
        (
            json!({"decision_id": id, "score": 1, "extra": true}),
            400,
            "extra",
        ),
    ] {
        let (s, _, v) = post(&h, "/v1/feedback", &body).await;
        assert_eq!(s, status, "{body} → {v}");
        assert_eq!(assert_openai_error(&v)["param"], param, "{v}");
    }
    let unknown = "0190b3c4-0000-7000-8000-000000000000";
    let (s, _, v) = post(
        &h,
        "/v1/feedback",
        &json!({"decision_id": unknown, "score": 1}),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(assert_openai_error(&v)["code"], "decision_not_found");
    let resp = client()
        .post(h.url("/v1/feedback"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let text = get_text(h.url("/metrics")).await;
    assert_eq!(
        metric(&text, "arbiter_feedback_total{result=\"invalid\"}"),
        5.0
    );
    assert_eq!(
        metric(&text, "arbiter_feedback_total{result=\"not_found\"}"),
        1.0
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn feedback_needs_a_client_key_when_keys_are_set() {
    let h = Harness::start_with(|c| format!("{c}\n[auth]\napi_keys = [\"sk-test-1\"]\n")).await;
    let resp = client()
        .post(h.url("/v1/feedback"))
        .json(&json!({"decision_id": "x", "score": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client()
        .post(h.url("/v1/feedback"))
        .bearer_auth("sk-test-1")
        .json(&json!({"decision_id": "x", "score": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "with the key it gets as far as the lookup"
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn feedback_is_read_back_from_the_files_after_a_restart() {
    let h = Harness::start().await;
    let base = h.gateway.url.clone();
    let id = answered(&base, &chat("auto", "prove the theorem")).await;
    settled(&base, &id).await;
    let (status, _, v) = post(
        &h,
        "/v1/feedback",
        &json!({"decision_id": id, "score": 0.25}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let toml = support::test_config_toml(
        &h.big.base_url,
        &h.big_backup.base_url,
        &h.mid.base_url,
        &h.small.base_url,
        h.log_dir.path(),
    );
    let Harness {
        gateway, log_dir, ..
    } = h;
    gateway.stop().await;

    let config = Config::from_toml_str(&toml, "test.toml").unwrap();
    let again = Gateway::start(config, support::test_loader()).await;
    let record = get_json(format!("{}/v1/decisions/{id}", again.url)).await;
    assert_eq!(record["id"], id.as_str(), "{record}");
    assert_eq!(record["feedback"][0]["score"], 0.25, "{record}");
    let (status, _, v) = post_to(
        &again.url,
        "/v1/feedback",
        &json!({"decision_id": id, "score": 0.5}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["revision"], 2,
        "the earlier feedback was found on disk: {v}"
    );
    again.stop().await;
    assert_eq!(feedback_lines(log_dir.path()).len(), 2);
}

/// The eligible candidates of a record, best utility first, as the policy ranked them.
fn ranked_utilities(record: &Value) -> Vec<(String, f64)> {
    let mut eligible: Vec<(String, f64)> = record["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["excluded"].is_null())
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_string(),
                c["utility"].as_f64().unwrap(),
            )
        })
        .collect();
    eligible.sort_by(|a, b| b.1.total_cmp(&a.1));
    eligible
}

#[tokio::test]
async fn exploration_serves_near_winners_with_logged_propensities_and_keeps_constraints() {
    let h =
        Harness::start_with(|c| format!("{c}\n[routing.explore]\nepsilon = 0.6\nband = 0.25\n"))
            .await;
    let base = h.gateway.url.clone();
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    let n = 300;
    for i in 0..n {
        let (status, _, r) = post(
            &h,
            "/v1/route",
            &chat("auto", &format!("prove theorem {i}")),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let model = r["model"].as_str().unwrap().to_string();
        let propensity = r["propensity"].as_f64().unwrap();
        // big 0.9, mid 0.8 within the 0.25 band; small 0.6 is not: k = 2.
        let expected = if model == "big" { 0.4 + 0.3 } else { 0.3 };
        assert!(
            (propensity - expected).abs() < 1e-12,
            "{model} {propensity}"
        );
        assert_ne!(model, "small", "outside the band: {r}");
        assert_eq!(r["policy"]["explore"]["epsilon"], 0.6);
        assert_eq!(r["policy"]["config_sha256"].as_str().unwrap().len(), 64);
        assert!(
            r["policy"]["router_sha256"].is_null(),
            "a router built in code"
        );
        // Reproducible from the record alone: the same draw from its id and utilities.
        let ranked = ranked_utilities(&r);
        let utils: Vec<f64> = ranked.iter().map(|(_, u)| *u).collect();
        let cfg: models::ExploreConfig =
            serde_json::from_value(r["policy"]["explore"].clone()).unwrap();
        let pick = models::explore::pick(&utils, &cfg, r["id"].as_str().unwrap()).unwrap();
        assert_eq!(ranked[pick.index].0, model);
        assert_eq!(
            r["fallback_order"][0],
            model.as_str(),
            "the pick is tried first"
        );
        *served.entry(model).or_default() += 1;
    }
    let mid = served.get("mid").copied().unwrap_or(0) as f64 / f64::from(n);
    // 0.3 ± 4 standard errors of a binomial proportion over 300 draws.
    assert!(
        (mid - 0.3).abs() < 4.0 * (0.3f64 * 0.7 / 300.0).sqrt(),
        "{served:?}"
    );

    // `route.explore = false`: the policy's winner, propensity 1, no exploration recorded.
    for _ in 0..20 {
        let mut body = chat("auto", "prove it");
        body["route"] = json!({"explore": false});
        let (_, _, r) = post(&h, "/v1/route", &body).await;
        assert_eq!(r["model"], "big", "{r}");
        assert_eq!(r["propensity"], 1.0);
        assert!(r["policy"]["explore"].is_null());
    }
    // Constraints first: an excluded model is never explored into.
    for _ in 0..30 {
        let mut body = chat("auto", "prove it");
        body["route"] = json!({"exclude": ["mid"]});
        let (_, _, r) = post(&h, "/v1/route", &body).await;
        assert_eq!(
            r["model"], "big",
            "mid is excluded and small outside the band: {r}"
        );
        assert_eq!(r["propensity"], 1.0);
    }
    // Chat too: the explored pick is the model that is called.
    let id = answered(&base, &chat("auto", "prove the theorem")).await;
    let record = settled(&base, &id).await;
    assert_eq!(record["model"], record["routed_model"]);
    assert!(record["propensity"].as_f64().unwrap() < 1.0);
    h.gateway.stop().await;
}

#[tokio::test]
async fn without_exploration_every_record_has_propensity_one_and_named_models_too() {
    let h = Harness::start().await;
    let (_, _, r) = post(&h, "/v1/route", &chat("auto", "prove it")).await;
    assert_eq!(
        (r["model"].as_str(), r["propensity"].as_f64()),
        (Some("big"), Some(1.0))
    );
    assert!(r["policy"]["explore"].is_null(), "{r}");
    let (_, _, r) = post(&h, "/v1/route", &chat("small", "hi")).await;
    assert_eq!(r["propensity"], 1.0, "{r}");
    assert!(
        r["policy"].is_null(),
        "no routing policy for a named model: {r}"
    );
    h.gateway.stop().await;
}

#[test]
fn exploration_settings_out_of_range_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let base = support::test_config_toml(
        "http://a/v1",
        "http://b/v1",
        "http://c/v1",
        "http://d/v1",
        dir.path(),
    );
    for (setting, path) in [
        ("epsilon = 1.5", "routing.explore.epsilon"),
        ("temperature = 0", "routing.explore.temperature"),
        ("epsilon = 0.1\nband = -1", "routing.explore.band"),
    ] {
        let err =
            Config::from_toml_str(&format!("{base}\n[routing.explore]\n{setting}\n"), "t.toml")
                .unwrap_err()
                .to_string();
        assert!(err.contains(path), "{setting}: {err}");
    }
    let err = Config::from_toml_str(
        &format!("{base}\n[routing.explore]\nepsilno = 0.1\n"),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("epsilno"), "{err}");
}
