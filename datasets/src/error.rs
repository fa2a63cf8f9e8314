//! The loader error type: every variant names the file and, where it applies,
//! the line/row/record and the field, so a user can go straight to the problem.

use std::fmt;
use std::path::PathBuf;

/// Where inside a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a text file (JSON lines).
    Line(usize),
    /// 1-based data row of a table (CSV/Parquet), the header not counted.
    Row(usize),
    /// 0-based index of a record in a JSON array.
    Record(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
            Location::Record(n) => write!(f, "record [{n}]"),
        }
    }
}

/// Everything that can go wrong while loading outcome data.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: missing column `{column}` (found: {})", path.display(), found.join(", "))]
    MissingColumn {
        path: PathBuf,
        column: String,
        found: Vec<String>,
    },
    #[error("{}: {location}, column `{column}`: expected True or False, found {value:?}", path.display())]
    NotBoolean {
        path: PathBuf,
        location: Location,
        column: String,
        value: String,
    },
    #[error("{}: {location}, field `{field}`: score {value} is out of range [{min}, {max}]", path.display())]
    ScoreOutOfRange {
        path: PathBuf,
        location: Location,
        field: String,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("{}: {location}: invalid JSON: {message}", path.display())]
    InvalidJson {
        path: PathBuf,
        location: Location,
        message: String,
    },
    #[error("{}: {location}, field `{field}`: {message}", path.display())]
    BadField {
        path: PathBuf,
        location: Location,
        field: String,
        message: String,
    },
    #[error("{}: invalid table: {message}", path.display())]
    Table { path: PathBuf, message: String },
    #[error("{}: empty set: no outcomes to load{}", path.display(), detail_suffix(detail))]
    EmptySet { path: PathBuf, detail: String },
    #[error("{}: unrecognised format: {why}", path.display())]
    Unrecognised { path: PathBuf, why: String },
    #[error("{}: no supported dataset found (looked for RouteLLM, arena-bench, AlpacaEval, RouterBench and generic long-format files)", path.display())]
    NothingFound { path: PathBuf },
    #[error("internal error while loading {}: {message}", path.display())]
    Internal { path: PathBuf, message: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            LoadError::Io { path, .. }
            | LoadError::NotUtf8 { path }
            | LoadError::MissingColumn { path, .. }
            | LoadError::NotBoolean { path, .. }
            | LoadError::ScoreOutOfRange { path, .. }
            | LoadError::InvalidJson { path, .. }
            | LoadError::BadField { path, .. }
            | LoadError::Table { path, .. }
            | LoadError::EmptySet { path, .. }
            | LoadError::Unrecognised { path, .. }
            | LoadError::NothingFound { path }
            | LoadError::Internal { path, .. } => path,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn table(path: impl Into<PathBuf>, err: impl fmt::Display) -> Self {
        LoadError::Table {
            path: path.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn bad_field(
        path: impl Into<PathBuf>,
        location: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        LoadError::BadField {
            path: path.into(),
            location,
            field: field.into(),
            message: message.into(),
        }
    }
}
