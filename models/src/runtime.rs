//! Finding and initialising ONNX Runtime (ort is built with `load-dynamic`).
//!
//! The library is taken from, in order:
//! 1. `ORT_DYLIB_PATH` at run time;
//! 2. `ORT_DYLIB_PATH` as it was at build time;
//! 3. the copy `build.rs` extracted from the pinned `onnxruntime==1.31.1` wheel into the
//!    target dir (`ARBITER_ORT_DYLIB`, baked in at build time).
//!
//! [`init`] loads it once per process; later calls return the first result.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::scorer::ScorerError;

/// The ONNX Runtime version the build script fetches and the code is tested with.
pub const ORT_VERSION: &str = "1.31.1";

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Where ONNX Runtime will be loaded from, and which setting chose it.
pub fn dylib_path() -> Result<(PathBuf, &'static str), ScorerError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok((PathBuf::from(path), "ORT_DYLIB_PATH"));
    }
    if let Some(path) = option_env!("ORT_DYLIB_PATH") {
        return Ok((PathBuf::from(path), "ORT_DYLIB_PATH at build time"));
    }
    if let Some(path) = option_env!("ARBITER_ORT_DYLIB") {
        return Ok((
            PathBuf::from(path),
            "the copy fetched by the models build script",
        ));
    }
    Err(ScorerError::Runtime(not_found(
        "the models build script could not fetch it (see the cargo warning of the build)",
    )))
}

fn not_found(why: &str) -> String {
    format!(
        "ONNX Runtime not found: {why}. Set ORT_DYLIB_PATH to a libonnxruntime.so {ORT_VERSION} \
         (for example `pip install onnxruntime=={ORT_VERSION}` and point it at \
         site-packages/onnxruntime/capi/libonnxruntime.so.{ORT_VERSION})"
    )
}

/// Loads ONNX Runtime and creates the process-wide environment, once.
pub fn init() -> Result<(), ScorerError> {
    environment().map(|_| ())
}

/// The process-wide ONNX Runtime environment (initialising it on first use).
pub fn environment() -> Result<&'static Environment, ScorerError> {
    ENVIRONMENT
        .get_or_init(|| {
            let (path, source) = dylib_path().map_err(|e| e.to_string())?;
            if !path.is_file() {
                return Err(not_found(&format!(
                    "{} (from {source}) does not exist",
                    path.display()
                )));
            }
            let builder = ort::init_from(&path).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {} (from {source}): {e}. {}",
                    path.display(),
                    not_found("the library did not load")
                )
            })?;
            let env = builder
                .with_name("arbiter")
                .with_telemetry(false)
                .build()
                .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))?;
            tracing::debug!(path = %path.display(), source, "ONNX Runtime loaded");
            Ok(env)
        })
        .as_ref()
        .map_err(|message| ScorerError::Runtime(message.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_loads_the_runtime_once() {
        init().unwrap();
        init().unwrap();
        let a = environment().unwrap() as *const Environment;
        let b = environment().unwrap() as *const Environment;
        assert_eq!(a, b);
    }

    #[test]
    fn not_found_message_says_how_to_fix() {
        let m = not_found("because");
        assert!(m.contains("ORT_DYLIB_PATH"));
        assert!(m.contains("pip install onnxruntime==1.31.1"));
    }
}
