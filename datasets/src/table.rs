//! Reading tables (CSV, Parquet) and pulling typed columns out of them with errors that
//! name the file, the column and the row.
//!
//! CSV files are read with every column as text, and values are parsed here: that is
//! what lets a bad cell be reported with its row and column instead of a generic
//! schema-inference failure.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::error::{LoadError, Location};

/// Read a CSV with a header, every column as String (empty cells are null).
pub fn read_csv_strings(path: &Path) -> Result<DataFrame, LoadError> {
    guard(path, || {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|reader| reader.finish())
            .map_err(|e| LoadError::table(path, e))
    })
}

/// Read a whole Parquet file.
pub fn read_parquet(path: &Path) -> Result<DataFrame, LoadError> {
    let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
    guard(path, || {
        ParquetReader::new(file)
            .finish()
            .map_err(|e| LoadError::table(path, e))
    })
}

/// Column names of a Parquet file, read from its footer only.
pub fn parquet_columns(path: &Path) -> Result<Vec<String>, LoadError> {
    let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
    guard(path, || {
        let schema = ParquetReader::new(file)
            .schema()
            .map_err(|e| LoadError::table(path, e))?;
        Ok(schema.iter_names().map(|n| n.to_string()).collect())
    })
}

/// Third-party parsers must not take the process down on hostile bytes: a panic inside
/// one becomes an error naming the file.
fn guard<T>(path: &Path, f: impl FnOnce() -> Result<T, LoadError>) -> Result<T, LoadError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "parser panicked".to_string());
            Err(LoadError::table(path, message))
        }
    }
}

pub fn column_names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect()
}

fn require<'a>(df: &'a DataFrame, path: &Path, name: &str) -> Result<&'a Column, LoadError> {
    df.column(name).map_err(|_| LoadError::MissingColumn {
        path: path.to_path_buf(),
        column: name.to_string(),
        found: column_names(df),
    })
}

/// A column as text (non-string columns are cast).
pub fn str_column(df: &DataFrame, path: &Path, name: &str) -> Result<StringChunked, LoadError> {
    let column = require(df, path, name)?;
    let series = column
        .as_materialized_series()
        .cast(&DataType::String)
        .map_err(|e| LoadError::table(path, format!("column `{name}`: {e}")))?;
    series
        .str()
        .cloned()
        .map_err(|e| LoadError::table(path, format!("column `{name}`: {e}")))
}

/// A column as numbers: text cells are parsed (empty and `NaN` are missing), numeric
/// and boolean columns are cast.
pub fn f64_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<Option<f64>>, LoadError> {
    let column = require(df, path, name)?;
    let series = column.as_materialized_series();
    if series.dtype() == &DataType::String {
        let ca = series
            .str()
            .map_err(|e| LoadError::table(path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, cell)| match cell.map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => parse_number(text)
                    .map(|v| v.filter(|v| !v.is_nan()))
                    .ok_or_else(|| {
                        LoadError::bad_field(
                            path,
                            Location::Row(i + 1),
                            name,
                            format!("expected a number, found {text:?}"),
                        )
                    }),
            })
            .collect()
    } else {
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|e| LoadError::table(path, format!("column `{name}`: {e}")))?;
        let ca = cast
            .f64()
            .map_err(|e| LoadError::table(path, format!("column `{name}`: {e}")))?;
        Ok(ca.iter().map(|v| v.filter(|v| !v.is_nan())).collect())
    }
}

/// `Some(Some(v))` for a number, `Some(None)` never; `None` when the text is not a number.
fn parse_number(text: &str) -> Option<Option<f64>> {
    match text {
        "True" | "true" | "TRUE" => Some(Some(1.0)),
        "False" | "false" | "FALSE" => Some(Some(0.0)),
        _ => text.parse::<f64>().ok().map(Some),
    }
}

/// A column of correct/incorrect outcomes: `True`/`False` (any case), `1`/`0`, `1.0`/`0.0`.
/// Null cells are missing outcomes; anything else is an error naming row and column.
pub fn bool_column(
    df: &DataFrame,
    path: &Path,
    name: &str,
) -> Result<Vec<Option<bool>>, LoadError> {
    let column = require(df, path, name)?;
    let series = column.as_materialized_series();
    if let Ok(ca) = series.bool() {
        return Ok(ca.iter().collect());
    }
    let ca = str_column(df, path, name)?;
    ca.iter()
        .enumerate()
        .map(|(i, cell)| match cell.map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => parse_bool(text)
                .map(Some)
                .ok_or_else(|| LoadError::NotBoolean {
                    path: path.to_path_buf(),
                    location: Location::Row(i + 1),
                    column: name.to_string(),
                    value: text.chars().take(80).collect(),
                }),
        })
        .collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") || text == "1" || text == "1.0" {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") || text == "0" || text == "0.0" {
        Some(false)
    } else {
        None
    }
}

/// The first line of a CSV file split into column names (enough to recognise a layout
/// without parsing the file).
pub fn csv_header(path: &Path) -> Result<Vec<String>, LoadError> {
    use std::io::{BufRead, BufReader};
    let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
    let mut line = Vec::new();
    BufReader::new(file)
        .take(1 << 20)
        .read_until(b'\n', &mut line)
        .map_err(|e| LoadError::io(path, e))?;
    let line = String::from_utf8_lossy(&line);
    let line = line
        .trim_end_matches(['\r', '\n'])
        .trim_start_matches('\u{feff}');
    Ok(split_csv_line(line))
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

use std::io::Read as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_header_split_handles_quotes() {
        assert_eq!(
            split_csv_line(r#"prompt,"a,b",c"#),
            vec!["prompt".to_string(), "a,b".to_string(), "c".to_string()]
        );
    }

    #[test]
    fn bool_parsing_is_strict() {
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
