//! A router artifact directory: `router.onnx` + `manifest.json`, loaded and checked together.

use std::path::{Path, PathBuf};

use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};

/// File name of the ONNX graph inside an artifact directory.
pub const ONNX_FILE: &str = "router.onnx";

/// The router shipped with this crate (`models/default/`), as a path in the source tree.
/// Binaries installed elsewhere should take the artifact directory as a flag.
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/default"))
}

/// A loaded artifact directory.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// `<dir>/router.onnx`, known to exist.
    pub onnx_path: PathBuf,
}

/// Why an artifact directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("router artifact {dir} is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "router artifact {dir}: missing {file} (an artifact holds {ONNX_FILE} and {MANIFEST_FILE})"
    )]
    MissingOnnx { dir: PathBuf, file: PathBuf },
}

impl Artifact {
    /// Reads `<dir>/manifest.json` (version-checked and validated) and checks that
    /// `<dir>/router.onnx` exists. The ONNX graph itself is checked by the scorer.
    pub fn load(dir: impl AsRef<Path>) -> Result<Artifact, ArtifactError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(ArtifactError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        let manifest = Manifest::load(dir)?;
        let onnx_path = dir.join(ONNX_FILE);
        if !onnx_path.is_file() {
            return Err(ArtifactError::MissingOnnx {
                dir: dir.to_path_buf(),
                file: onnx_path,
            });
        }
        Ok(Artifact {
            dir: dir.to_path_buf(),
            manifest,
            onnx_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CandidateModel;

    fn manifest() -> Manifest {
        Manifest::new(
            "t",
            vec![CandidateModel {
                name: "a".into(),
                input_usd_per_mtok: None,
                output_usd_per_mtok: None,
                expected_output_tokens: 100.0,
            }],
        )
    }

    #[test]
    fn loads_when_both_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        manifest().write(dir.path()).unwrap();
        std::fs::write(dir.path().join(ONNX_FILE), b"onnx bytes").unwrap();
        let a = Artifact::load(dir.path()).unwrap();
        assert_eq!(a.manifest.name, "t");
        assert_eq!(a.onnx_path, dir.path().join(ONNX_FILE));
    }

    #[test]
    fn missing_onnx_is_named() {
        let dir = tempfile::tempdir().unwrap();
        manifest().write(dir.path()).unwrap();
        let err = Artifact::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("router.onnx"), "{err}");
    }

    #[test]
    fn missing_dir_and_manifest_are_named() {
        let err = Artifact::load("/definitely/not/here")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/definitely/not/here"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ONNX_FILE), b"x").unwrap();
        let err = Artifact::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
    }
}
