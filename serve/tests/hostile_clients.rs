//! Hostile clients (issue 13): what a client may hold (slow heads, idle connections,
//! stalled bodies, connection floods) and the secure defaults (content type, CORS, admin
//! keys, exposure without keys, OpenAI-shaped errors). Raw sockets where an HTTP library
//! would not misbehave; timeouts of 1–2 s so the file stays fast.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use serve::AppState;
use serve::config::Config;
use serve::per_core::PerCoreServer;
use support::{
    Harness, RawResponse, assert_openai_error, chat, client, raw_connect, raw_get,
    read_raw_response, test_config_toml, test_loader, time_until_closed,
};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A harness whose config gets `extra` appended (whole `[section]`s).
async fn harness(extra: &str) -> Harness {
    let extra = extra.to_string();
    Harness::start_with(move |c| format!("{c}\n{extra}\n")).await
}

/// Sends `request` on a fresh connection and reads one response.
async fn exchange(h: &Harness, request: &[u8]) -> (tokio::net::TcpStream, RawResponse) {
    let mut s = raw_connect(&h.gateway.url).await;
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let resp = read_raw_response(&mut s, &mut buf, Duration::from_secs(5)).await;
    (s, resp)
}

fn route_request_head(content_length: usize, content_type: &str) -> String {
    format!(
        "POST /v1/route HTTP/1.1\r\nhost: gateway\r\ncontent-type: {content_type}\r\ncontent-length: {content_length}\r\n\r\n"
    )
}

fn route_body() -> String {
    chat("auto", "hello").to_string()
}

// ---- 1. Bounds on what a client holds ----

#[tokio::test]
async fn a_slowloris_head_is_cut_off_at_the_header_read_timeout() {
    let h = harness("[server]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 30").await;
    let mut s = raw_connect(&h.gateway.url).await;
    s.write_all(b"POST /v1/route HTTP/1.1\r\nhost: gateway\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // One header line every 300 ms: each keeps the socket busy, none finishes the head.
    let mut closed_at = None;
    for i in 0..12 {
        if s.write_all(format!("x-drip-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed_at = Some(started.elapsed());
            break;
        }
        if let Some(_t) = time_until_closed(&mut s, Duration::from_millis(300)).await {
            closed_at = Some(started.elapsed());
            break;
        }
    }
    let closed_at = closed_at.expect("a head dripping for 3.6 s was never cut off");
    assert!(
        closed_at >= Duration::from_millis(800) && closed_at < Duration::from_millis(2500),
        "closed after {closed_at:?}, expected ~1 s"
    );
    // The gateway still serves everyone else.
    let (_, ok) = exchange(&h, raw_get("/healthz").as_bytes()).await;
    assert_eq!(ok.status, 200);
    h.gateway.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let h = harness("[server]\nheader_read_timeout_secs = 30\nidle_timeout_secs = 1").await;
    let mut s = raw_connect(&h.gateway.url).await;
    let mut buf = Vec::new();
    // Requests 400 ms apart keep it open past the timeout: idle counts from the last one.
    for _ in 0..4 {
        s.write_all(raw_get("/healthz").as_bytes()).await.unwrap();
        let resp = read_raw_response(&mut s, &mut buf, Duration::from_secs(2)).await;
        assert_eq!(resp.status, 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let closed = time_until_closed(&mut s, Duration::from_secs(4))
        .await
        .expect("an idle connection stayed open past idle_timeout_secs");
    assert!(
        closed < Duration::from_millis(2000),
        "closed {closed:?} after the last request's idle wait began (~0.6 s left)"
    );

    // A connection that never sends a byte is idle too.
    let mut silent = raw_connect(&h.gateway.url).await;
    let closed = time_until_closed(&mut silent, Duration::from_secs(4))
        .await
        .expect("a silent connection stayed open");
    assert!(closed >= Duration::from_millis(800), "{closed:?}");
    h.gateway.stop().await;
}

/// hyper 1.12 starts the header-read clock as soon as a keep-alive connection waits for
/// its next head, so `header_read_timeout_secs` also bounds idle keep-alive waits.
#[tokio::test]
async fn the_header_read_timeout_also_bounds_idle_keep_alive_waits() {
    let h = harness("[server]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 30").await;
    let (mut s, resp) = exchange(&h, raw_get("/healthz").as_bytes()).await;
    assert_eq!(resp.status, 200);
    let closed = time_until_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("still open 5 s after the answer");
    assert!(
        closed >= Duration::from_millis(700) && closed < Duration::from_millis(2500),
        "{closed:?}"
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_closes() {
    // The declared length is under the size limit, so only the timeout can end the wait.
    let h = harness(
        "[limits]\nbody_read_timeout_secs = 1\nmax_body_bytes = 100000000\nmax_concurrency = 1",
    )
    .await;
    let mut s = raw_connect(&h.gateway.url).await;
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n{\"";
    s.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let resp = read_raw_response(&mut s, &mut buf, Duration::from_secs(4)).await;
    let took = started.elapsed();
    assert_eq!(resp.status, 408, "{resp:?}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let err = resp.json();
    assert_eq!(assert_openai_error(&err)["code"], "request_timeout");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        time_until_closed(&mut s, Duration::from_secs(2))
            .await
            .is_some(),
        "the connection is closed after the 408"
    );
    assert_eq!(h.big.calls(), 0, "nothing was forwarded");
    // The permit the stalled body held is back.
    let resp = client()
        .post(h.url("/v1/route"))
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_without_waiting_for_it() {
    let h = harness("[limits]\nbody_read_timeout_secs = 30").await;
    let started = std::time::Instant::now();
    let head = route_request_head(99_999_999, "application/json");
    let (mut s, resp) = exchange(&h, format!("{head}{{\"").as_bytes()).await;
    assert_eq!(resp.status, 413, "{resp:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        assert_openai_error(&resp.json())["code"],
        "payload_too_large"
    );
    assert!(
        time_until_closed(&mut s, Duration::from_secs(2))
            .await
            .is_some()
    );
    h.gateway.stop().await;
}

/// The routing endpoints take their permit before reading the body: a stalled upload holds
/// one of `max_concurrency` permits, and the next request is told 429 at once.
#[tokio::test]
async fn the_body_is_read_inside_the_concurrency_permit() {
    let h = harness("[limits]\nmax_concurrency = 1\nbody_read_timeout_secs = 2").await;
    let mut staller = raw_connect(&h.gateway.url).await;
    let head = route_request_head(500, "application/json");
    staller
        .write_all(format!("{head}{{\"model\"").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = client()
        .post(h.url("/v1/chat/completions"))
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "the stalled body holds the only permit");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(assert_openai_error(&v)["type"], "rate_limit_error");
    // A body that arrives in time still routes, holding the permit while it trickles in.
    drop(staller);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = route_body();
    let mut s = raw_connect(&h.gateway.url).await;
    s.write_all(route_request_head(body.len(), "application/json").as_bytes())
        .await
        .unwrap();
    let (a, b) = body.split_at(body.len() / 2);
    s.write_all(a.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(b.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let resp = read_raw_response(&mut s, &mut buf, Duration::from_secs(3)).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    h.gateway.stop().await;
}

/// A client that sends requests but never reads the answers stalls the gateway's writes;
/// neither the header-read nor the idle clock runs then, so only the stall timeout frees the
/// connection.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_stall_timeout() {
    let h = harness(
        "[server]\nwrite_stall_timeout_secs = 1\nidle_timeout_secs = 30\nheader_read_timeout_secs = 30",
    )
    .await;
    let max = h.gateway.state.config.server.max_connections;
    let open = || max - h.gateway.state.connections.available_permits();
    let s = raw_connect(&h.gateway.url).await;
    let (_never_read, mut wr) = s.into_split();
    // ~20 MB of pipelined answers: far more than the socket buffers hold.
    let requests = raw_get("/v1/models").repeat(20_000);
    let mut writer = JoinSet::new();
    writer.spawn(async move {
        let _ = wr.write_all(requests.as_bytes()).await;
        wr
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(open(), 1, "the connection is open and stalled");
    let started = std::time::Instant::now();
    while open() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a stalled connection was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "dropped after {took:?}: too early"
    );
    writer.abort_all();
    h.gateway.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_are_closed() {
    let h = harness("[server]\nmax_connections = 2").await;
    let (held_a, ok) = exchange(&h, raw_get("/healthz").as_bytes()).await;
    assert_eq!(ok.status, 200);
    let (_held_b, ok) = exchange(&h, raw_get("/healthz").as_bytes()).await;
    assert_eq!(ok.status, 200);
    let (mut refused, resp) = exchange(&h, raw_get("/healthz").as_bytes()).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.header("connection"), Some("close"));
    let err = resp.json();
    assert_eq!(assert_openai_error(&err)["code"], "too_many_connections");
    assert!(
        time_until_closed(&mut refused, Duration::from_secs(2))
            .await
            .is_some(),
        "the refused connection is closed, not left waiting"
    );
    // A freed slot is reused (once the gateway has seen the close).
    drop(held_a);
    let mut status = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = exchange(&h, raw_get("/healthz").as_bytes()).await.1.status;
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200, "the closed connection's slot was not freed");
    h.gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_counts_every_per_core_thread() {
    let mut tasks = JoinSet::new();
    let stub = support::StubUpstream::start("any", &mut tasks).await;
    let log_dir = tempfile::tempdir().unwrap();
    let toml = test_config_toml(
        &stub.base_url,
        &stub.base_url,
        &stub.base_url.replace("/v1", "/v1/"),
        &stub.base_url,
        log_dir.path(),
    );
    let config =
        Config::from_toml_str(&format!("{toml}\n[server]\nmax_connections = 3\n"), "t").unwrap();
    let shutdown = CancellationToken::new();
    let state = AppState::new(config, test_loader(), shutdown.clone()).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = PerCoreServer::start(&state, any, 3, Duration::from_secs(2)).unwrap();
    let url = format!("http://{}", server.local_addr());
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    // Whichever threads the kernel hands them to, only three are served.
    for _ in 0..6 {
        let mut s = raw_connect(&url).await;
        s.write_all(raw_get("/healthz").as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        statuses.push(
            read_raw_response(&mut s, &mut buf, Duration::from_secs(3))
                .await
                .status,
        );
        held.push(s);
    }
    assert_eq!(statuses, vec![200, 200, 200, 503, 503, 503]);
    drop(held);
    shutdown.cancel();
    tokio::task::spawn_blocking(move || server.join())
        .await
        .unwrap()
        .unwrap();
    state.audit.shutdown_blocking();
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let h = harness("").await;
    let body = route_body();
    let pipelined = format!(
        "{}{}{body}{}",
        raw_get("/healthz"),
        route_request_head(body.len(), "application/json"),
        raw_get("/v1/nowhere")
    );
    let mut s = raw_connect(&h.gateway.url).await;
    s.write_all(pipelined.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            read_raw_response(&mut s, &mut buf, Duration::from_secs(3))
                .await
                .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 404]);
    h.gateway.stop().await;
}

// ---- 3. Secure by default ----

#[tokio::test]
async fn posts_must_be_declared_json() {
    let h = harness("").await;
    let body = route_body();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let (_, resp) = exchange(
            &h,
            format!("{}{body}", route_request_head(body.len(), content_type)).as_bytes(),
        )
        .await;
        assert_eq!(resp.status, 415, "{content_type}");
        let err = resp.json();
        assert_eq!(assert_openai_error(&err)["code"], "unsupported_media_type");
    }
    let no_type = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let (_, resp) = exchange(&h, no_type.as_bytes()).await;
    assert_eq!(resp.status, 415);
    assert_openai_error(&resp.json());
    for content_type in ["application/json", "Application/JSON; charset=utf-8"] {
        let (_, resp) = exchange(
            &h,
            format!("{}{body}", route_request_head(body.len(), content_type)).as_bytes(),
        )
        .await;
        assert_eq!(resp.status, 200, "{content_type}");
    }
    // A form post to /admin/reload (a browser's preflight-free request) is refused too.
    let resp = client()
        .post(h.url("/admin/reload"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    h.gateway.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let h = harness("[auth]\napi_keys = [\"sk-client\"]").await;
    for value in [
        "Bearer sk-client",
        "bearer sk-client",
        "BEARER sk-client",
        "BeArEr   sk-client",
    ] {
        let resp = client()
            .post(h.url("/v1/route"))
            .header("authorization", value)
            .json(&chat("auto", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{value}");
    }
    for value in ["Basic sk-client", "Bearersk-client", "Bearer ", "sk-client"] {
        let resp = client()
            .post(h.url("/v1/route"))
            .header("authorization", value)
            .json(&chat("auto", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{value}");
    }
    h.gateway.stop().await;
}

#[tokio::test]
async fn a_network_address_without_client_keys_is_refused() {
    let log = tempfile::tempdir().unwrap();
    let base = test_config_toml(
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1/",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        log.path(),
    );
    let exposed = base.replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    let err = Config::from_toml_str(&exposed, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`listen`"), "{err}");
    assert!(err.contains("auth.allow_unauthenticated = true"), "{err}");
    assert!(err.contains("auth.api_keys"), "{err}");
    assert!(
        Config::from_toml_str(
            &format!("{exposed}\n[auth]\nallow_unauthenticated = true\n"),
            "t"
        )
        .is_ok()
    );
    assert!(
        Config::from_toml_str(&format!("{exposed}\n[auth]\napi_keys = [\"k\"]\n"), "t").is_ok()
    );
    assert!(
        Config::from_toml_str(
            &format!("{exposed}\n[auth]\napi_keys_env = \"ARBITER_TEST_UNSET_KEYS_VAR\"\n"),
            "t"
        )
        .is_err(),
        "an unset key variable is no key"
    );
    // `--listen` changes the address after validation: startup checks again.
    let mut config = Config::from_toml_str(&base, "t").unwrap();
    config.listen = "0.0.0.0:0".parse().unwrap();
    let err = AppState::new(config, test_loader(), CancellationToken::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("allow_unauthenticated"), "{err}");
}

async fn status_with_key(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = client().request(method, h.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn admin_endpoints_need_an_admin_key() {
    let h = harness(
        "[auth]\napi_keys = [\"sk-client\"]\nadmin_keys = [\"sk-admin\"]\nprotect_metrics = true",
    )
    .await;
    let post = reqwest::Method::POST;
    let (status, v) = status_with_key(&h, post.clone(), "/admin/reload", Some("sk-client")).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(assert_openai_error(&v)["code"], "permission_denied");
    let (status, v) = status_with_key(&h, post.clone(), "/admin/reload", None).await;
    assert_eq!(status, 401, "{v}");
    let (status, v) = status_with_key(&h, post.clone(), "/admin/reload", Some("sk-admin")).await;
    assert_eq!(status, 200, "{v}");
    // The admin key is not a client key.
    let (status, _) =
        status_with_key(&h, reqwest::Method::GET, "/v1/models", Some("sk-admin")).await;
    assert_eq!(status, 401);
    // protect_metrics: /metrics takes the admin key only.
    let (status, _) = status_with_key(&h, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(status, 401);
    let (status, v) =
        status_with_key(&h, reqwest::Method::GET, "/metrics", Some("sk-client")).await;
    assert_eq!(status, 403, "{v}");
    let (status, _) = status_with_key(&h, reqwest::Method::GET, "/metrics", Some("sk-admin")).await;
    assert_eq!(status, 200);
    h.gateway.stop().await;

    // Client keys but no admin key: /admin/reload says how to configure one.
    let h = harness("[auth]\napi_keys = [\"sk-client\"]").await;
    let (status, v) = status_with_key(&h, post.clone(), "/admin/reload", Some("sk-client")).await;
    assert_eq!(status, 403, "{v}");
    let message = assert_openai_error(&v)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("auth.admin_keys"), "{message}");
    let (status, _) = status_with_key(&h, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(status, 200, "metrics stay open unless protect_metrics");
    h.gateway.stop().await;

    // No key at all, on loopback: local use keeps working.
    let h = harness("").await;
    let (status, v) = status_with_key(&h, post, "/admin/reload", None).await;
    assert_eq!(status, 200, "{v}");
    h.gateway.stop().await;

    // Keys must be distinct, and protect_metrics needs an admin key.
    let log = tempfile::tempdir().unwrap();
    let base = test_config_toml(
        "http://a/v1",
        "http://b/v1",
        "http://c/v1",
        "http://d/v1",
        log.path(),
    );
    let err = Config::from_toml_str(
        &format!("{base}\n[auth]\napi_keys = [\"same\"]\nadmin_keys = [\"same\"]\n"),
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("auth.admin_keys") && !err.contains("same\""),
        "{err}"
    );
    let err = Config::from_toml_str(&format!("{base}\n[auth]\nprotect_metrics = true\n"), "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth.protect_metrics"), "{err}");
}

fn preflight(h: &Harness, origin: &str) -> reqwest::RequestBuilder {
    client()
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
}

fn cors_headers(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-allow"))
        .collect()
}

#[tokio::test]
async fn cross_origin_requests_are_denied_unless_the_origin_is_listed() {
    let h = harness("").await;
    let resp = preflight(&h, "https://evil.example").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(cors_headers(&resp).is_empty());
    assert_openai_error(&resp.json().await.unwrap());
    let resp = client()
        .post(h.url("/v1/route"))
        .header("origin", "https://evil.example")
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert!(
        cors_headers(&resp).is_empty(),
        "no Access-Control-Allow-* by default"
    );
    h.gateway.stop().await;

    let h = harness("[server]\ncors_allowed_origins = [\"https://app.example\"]").await;
    let resp = preflight(&h, "https://app.example").send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(methods.contains("POST"), "{methods}");
    let resp = client()
        .post(h.url("/v1/route"))
        .header("origin", "https://app.example")
        .json(&chat("auto", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(exposed.contains("x-arbiter-decision-id"), "{exposed}");
    let resp = preflight(&h, "https://evil.example").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(cors_headers(&resp).is_empty());
    h.gateway.stop().await;

    // An origin with a path is a config error.
    let log = tempfile::tempdir().unwrap();
    let base = test_config_toml(
        "http://a/v1",
        "http://b/v1",
        "http://c/v1",
        "http://d/v1",
        log.path(),
    );
    let err = Config::from_toml_str(
        &format!("{base}\n[server]\ncors_allowed_origins = [\"https://app.example/\"]\n"),
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("server.cors_allowed_origins[0]"), "{err}");
}

#[tokio::test]
async fn every_status_the_gateway_returns_has_openai_shape() {
    let h = harness("[limits]\nmax_body_bytes = 2048").await;
    let mut cases: Vec<(u16, RawResponse)> = Vec::new();
    // An undecodable path segment (axum's Path rejection).
    let (_, r) = exchange(&h, raw_get("/v1/decisions/%ff%fe").as_bytes()).await;
    cases.push((400, r));
    let (_, r) = exchange(&h, raw_get("/v1/chat/completions").as_bytes()).await;
    cases.push((405, r));
    let big = "x".repeat(5000);
    let (_, r) = exchange(
        &h,
        format!("{}{big}", route_request_head(big.len(), "application/json")).as_bytes(),
    )
    .await;
    cases.push((413, r));
    let (_, r) = exchange(
        &h,
        raw_get(&format!("/v1/models?q={}", "a".repeat(9000))).as_bytes(),
    )
    .await;
    cases.push((414, r));
    let fat = format!(
        "GET /healthz HTTP/1.1\r\nhost: g\r\nx-fat: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let (_, r) = exchange(&h, fat.as_bytes()).await;
    cases.push((431, r));
    for (status, resp) in &cases {
        assert_eq!(resp.status, *status, "{resp:?}");
        let body = resp.json();
        let err = assert_openai_error(&body);
        assert!(
            err["message"].as_str().unwrap().len() < 300,
            "{status}: the message does not echo the request: {body}"
        );
    }
    // The 405 names the method and path.
    assert!(
        cases[1].1.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("GET")
    );
    h.gateway.stop().await;
}

#[tokio::test]
async fn route_errors_use_the_api_s_words_and_cut_echoed_text() {
    let h = harness("").await;
    let send = |route: Value| {
        let mut body = chat("auto", "x");
        body["route"] = route;
        let url = h.url("/v1/route");
        async move {
            let resp = client().post(url).json(&body).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let long = "k".repeat(5000);
    for route in [
        json!({"objective": "speed"}),
        json!({"objective": {"quality": "high"}}),
        Value::Object([(long.clone(), json!(1))].into_iter().collect()),
        json!({"max_cost_usd": "cheap"}),
        json!({"candidates": 5}),
        json!({"exclude": [long.clone()]}),
        json!({"objective": long.clone()}),
        json!({"max_cost_usd": long.clone()}),
    ] {
        let (status, v) = send(route.clone()).await;
        assert_eq!(status, 400, "{route}");
        let err = assert_openai_error(&v);
        let message = err["message"].as_str().unwrap();
        for rust in [
            "untagged",
            "ObjectiveSpec",
            "RouteOptions",
            "f64",
            "variant",
            "struct ",
        ] {
            assert!(!message.contains(rust), "`{rust}` in: {message}");
        }
        assert!(message.len() < 400, "{} chars: {message}", message.len());
        assert!(err["param"].as_str().unwrap().len() < 150);
    }
    let mut body = chat("auto", "x");
    body["messages"][0]["role"] = json!(long);
    let resp = client()
        .post(h.url("/v1/route"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().len() < 300, "{v}");
    h.gateway.stop().await;
}
