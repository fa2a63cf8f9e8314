//! Obtains ONNX Runtime for `models::runtime` without a manual step.
//!
//! `ort` is built with `load-dynamic`: the shared library is loaded at run time. This script
//! finds or fetches the pinned PyPI wheel `onnxruntime==1.31.1`, extracts
//! `onnxruntime/capi/libonnxruntime.so.1.31.1` into `<target dir>/onnxruntime-1.31.1/`, and
//! passes its absolute path to the crate as `ARBITER_ORT_DYLIB`.
//!
//! Order: `ORT_DYLIB_PATH` set at build time → nothing to do (the runtime honours it);
//! the extracted library already in the target dir → reuse; else `pip download` the wheel
//! and extract it (`build_support/wheel.rs`). Failure never fails the build: it prints a
//! `cargo:warning`, and `models::runtime::init()` explains how to provide the library.

#![allow(clippy::print_stdout)] // cargo reads a build script's instructions from stdout

#[path = "../build_support/wheel.rs"]
mod wheel;

const ORT_VERSION: &str = "1.31.1";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build_support/wheel.rs");
    println!("cargo:rerun-if-env-changed=ORT_DYLIB_PATH");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        return;
    }
    match obtain() {
        Ok(path) => {
            println!("cargo:rustc-env=ARBITER_ORT_DYLIB={}", path.display());
            println!("cargo:rerun-if-changed={}", path.display());
        }
        Err(why) => println!(
            "cargo:warning=ONNX Runtime {ORT_VERSION} was not obtained ({why}); scoring will fail at run time \
             until ORT_DYLIB_PATH points to libonnxruntime.so {ORT_VERSION} (e.g. from `pip install onnxruntime=={ORT_VERSION}`)"
        ),
    }
}

fn obtain() -> Result<std::path::PathBuf, String> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("automatic download supports linux x86_64 only".into());
    }
    let lib_name = format!("libonnxruntime.so.{ORT_VERSION}");
    let member = format!("onnxruntime/capi/{lib_name}");
    let dir = wheel::obtain(&wheel::Wheel {
        project: "onnxruntime",
        version: ORT_VERSION,
        file_prefix: &format!("onnxruntime-{ORT_VERSION}-"),
        // A binary wheel per platform: pinned by version (one sha256 would not fit all).
        sha256: None,
        platform: Some("manylinux_2_28_x86_64"),
        members: &[(&member, &lib_name)],
        cache_dir: &format!("onnxruntime-{ORT_VERSION}"),
    })?;
    Ok(dir.join(lib_name))
}
