//! The official `openai` Python SDK against the gateway (stubs + gateway in-process).
//! Requires `pip install openai`; without it the test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

use std::process::Command;

use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_works_against_the_gateway() {
    let probe = Command::new("python3")
        .args(["-c", "import openai"])
        .output();
    match probe {
        Err(e) => panic!(
            "python3 is needed for this test ({e}); install Python 3 and `pip install openai`"
        ),
        Ok(out) if !out.status.success() => panic!(
            "the `openai` Python package is not importable: pip install openai\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
    let h = Harness::start().await;
    let base_url = h.url("/v1");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk_client.py");
    // The SDK blocks; run it off the runtime that serves the gateway.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").args([script, &base_url]).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK client failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["streamed"], "Hello from small");
    // The decision the SDK saw is in the log.
    let id = seen["decision_id"].as_str().unwrap();
    let rec = h.gateway.state.audit.get(id).await.unwrap();
    assert_eq!(rec.model.as_deref(), Some("big"));
    h.gateway.stop().await;
}
