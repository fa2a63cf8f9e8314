//! Shared test helpers: the fixture folder, copies of it in a temp dir, column access.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers shared by test files

use std::path::{Path, PathBuf};

use polars::prelude::*;

pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/data"))
}

/// A writable copy of the fixture data folder.
pub fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    copy_dir(&fixtures(), &root);
    (tmp, root)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Rows of one dataset.
pub fn rows_of(frame: &DataFrame, dataset: &str) -> DataFrame {
    let mask = frame
        .column(datasets::schema::DATASET)
        .unwrap()
        .str()
        .unwrap()
        .equal(dataset);
    frame.filter(&mask).unwrap()
}

pub fn strs(frame: &DataFrame, column: &str) -> Vec<Option<String>> {
    frame
        .column(column)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

pub fn f64s(frame: &DataFrame, column: &str) -> Vec<Option<f64>> {
    frame
        .column(column)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect()
}

pub fn u32s(frame: &DataFrame, column: &str) -> Vec<u32> {
    frame
        .column(column)
        .unwrap()
        .u32()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect()
}

/// The single row of `dataset` for (prompt starting with `prefix`, model).
pub fn row(frame: &DataFrame, dataset: &str, prefix: &str, model: &str) -> usize {
    let prompts = strs(frame, datasets::schema::PROMPT);
    let models = strs(frame, datasets::schema::MODEL);
    let sets = strs(frame, datasets::schema::DATASET);
    let hits: Vec<usize> = (0..frame.height())
        .filter(|&i| {
            sets[i].as_deref() == Some(dataset)
                && prompts[i].as_deref().is_some_and(|p| p.starts_with(prefix))
                && models[i].as_deref() == Some(model)
        })
        .collect();
    assert_eq!(hits.len(), 1, "{dataset} / {prefix:?} / {model}: {hits:?}");
    hits[0]
}
