//! Obtains ONNX Runtime for `models::runtime` without a manual step.
//!
//! `ort` is built with `load-dynamic`: the shared library is loaded at run time. This script
//! finds or fetches the pinned PyPI wheel `onnxruntime==1.31.1`, extracts
//! `onnxruntime/capi/libonnxruntime.so.1.31.1` into `<target dir>/onnxruntime-1.31.1/`, and
//! passes its absolute path to the crate as `ARBITER_ORT_DYLIB`.
//!
//! Order: `ORT_DYLIB_PATH` set at build time → nothing to do (the runtime honours it);
//! the extracted library already in the target dir → reuse; else `pip download` the wheel
//! and extract it with python3's zipfile. Failure never fails the build: it prints a
//! `cargo:warning`, and `models::runtime::init()` explains how to provide the library.

#![allow(clippy::print_stdout)] // cargo reads a build script's instructions from stdout

use std::path::{Path, PathBuf};
use std::process::Command;

const ORT_VERSION: &str = "1.31.1";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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

fn obtain() -> Result<PathBuf, String> {
    let target = target_dir()?;
    let dir = target.join(format!("onnxruntime-{ORT_VERSION}"));
    let lib_name = format!("libonnxruntime.so.{ORT_VERSION}");
    let lib = dir.join(&lib_name);
    if lib.is_file() {
        return Ok(lib);
    }
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("automatic download supports linux x86_64 only".into());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let wheel_dir = dir.join("wheel");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            &format!("onnxruntime=={ORT_VERSION}"),
        ])
        .args(["--no-deps", "--only-binary=:all:", "--quiet"])
        .args([
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
        ])
        .arg("-d")
        .arg(&wheel_dir)
        .status()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{python} -m pip download onnxruntime=={ORT_VERSION}` failed ({status})"
        ));
    }
    let wheel = std::fs::read_dir(&wheel_dir)
        .map_err(|e| format!("cannot list {}: {e}", wheel_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("onnxruntime-{ORT_VERSION}-")) && n.ends_with(".whl")
            })
        })
        .ok_or_else(|| {
            format!(
                "no onnxruntime {ORT_VERSION} wheel in {}",
                wheel_dir.display()
            )
        })?;
    // Extract to a temporary name and rename, so a half-written library is never reused.
    let partial = dir.join(format!("{lib_name}.partial"));
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    \
        dst.write(src.read())\n";
    let status = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&wheel)
        .arg(format!("onnxruntime/capi/{lib_name}"))
        .arg(&partial)
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "extracting {lib_name} from {} failed",
            wheel.display()
        ));
    }
    std::fs::rename(&partial, &lib)
        .map_err(|e| format!("cannot move {}: {e}", partial.display()))?;
    // The wheel is 24 MB; the library is all we need.
    let _ = std::fs::remove_dir_all(&wheel_dir);
    Ok(lib)
}

/// The cargo target dir: `CARGO_TARGET_DIR`, else the ancestor of `OUT_DIR` that contains
/// `build/` (`<target>/<profile>/build/models-*/out` → `<target>`).
fn target_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
            // Relative target dirs are relative to the invoking cwd; the workspace root is our best guess.
            manifest
                .and_then(|m| m.parent().map(Path::to_path_buf))
                .unwrap_or_default()
                .join(dir)
        };
        return Ok(dir);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let profile_dir = out
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .ok_or_else(|| format!("cannot find the target dir above {}", out.display()))?;
    // `<target>/<profile>` (or `<target>/<triple>/<profile>`): go to the dir holding CACHEDIR.TAG
    // when there is one, else one level up.
    let target = profile_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .or_else(|| profile_dir.parent())
        .ok_or_else(|| format!("cannot find the target dir above {}", out.display()))?;
    Ok(target.to_path_buf())
}
