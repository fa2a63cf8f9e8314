//! JSON and JSON-lines reading with errors that name the line (or array record) and the
//! field (`serde_path_to_error` gives the field path, e.g. `choices[0].turns`).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{LoadError, Location};

/// Read a whole file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Parse one JSON value, mapping syntax errors to `InvalidJson` and shape errors to
/// `BadField` (with the field path).
pub fn parse<T: DeserializeOwned>(
    path: &Path,
    location: Location,
    text: &str,
) -> Result<T, LoadError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                LoadError::bad_field(path, location, field_or_record(&field), inner.to_string())
            }
            _ => invalid_json(path, location, &inner),
        }
    })?;
    // Trailing characters after the value are a syntax error too.
    de.end().map_err(|e| invalid_json(path, location, &e))?;
    Ok(value)
}

fn invalid_json(path: &Path, location: Location, err: &serde_json::Error) -> LoadError {
    LoadError::InvalidJson {
        path: path.to_path_buf(),
        // One JSON document per line: the caller's line; a whole-file document: the
        // parser's line.
        location: match location {
            Location::Line(_) => location,
            _ => Location::Line(err.line()),
        },
        message: err.to_string(),
    }
}

fn field_or_record(field: &str) -> String {
    if field.is_empty() || field == "." {
        "(record)".to_string()
    } else {
        field.to_string()
    }
}

/// Parse every non-blank line of a JSON-lines text; `f` receives the 1-based line number.
pub fn for_each_line<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    mut f: impl FnMut(usize, T) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::Line(i + 1);
        let record: T = parse(path, location, line)?;
        f(i + 1, record)?;
    }
    Ok(())
}

/// A number that publishers write either as a JSON number or as a string (`"7"`, `"1.5"`).
/// Empty strings and nulls are absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LooseNumber(pub Option<f64>);

impl<'de> Deserialize<'de> for LooseNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
            Null(()),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a number or a numeric string"))?
        {
            Raw::Num(v) => Ok(LooseNumber(Some(v))),
            Raw::Null(()) => Ok(LooseNumber(None)),
            Raw::Text(s) if s.trim().is_empty() => Ok(LooseNumber(None)),
            Raw::Text(s) => s
                .trim()
                .parse::<f64>()
                .map(|v| LooseNumber(Some(v).filter(|v| !v.is_nan())))
                .map_err(|_| serde::de::Error::custom(format!("expected a number, found {s:?}"))),
        }
    }
}

/// A question id that is a number in some sets and a string in others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuestionId(pub String);

/// A row of `question.jsonl`, the layout MT-Bench and Arena-bench share.
#[derive(Deserialize)]
pub struct Question {
    pub question_id: QuestionId,
    #[serde(default)]
    pub category: Option<String>,
    pub turns: Vec<String>,
}

impl<'de> Deserialize<'de> for QuestionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a question id (number or string)"))?
        {
            Raw::Int(v) => Ok(QuestionId(v.to_string())),
            Raw::Text(s) => Ok(QuestionId(s)),
        }
    }
}

/// Contaminated prompts (`contaminated_prompts.jsonl`, field `eval_prompt`): prompts of
/// the evaluation set that appear in RouteLLM's training data and are to be dropped.
pub fn contaminated_prompts(path: &Path) -> Result<std::collections::HashSet<String>, LoadError> {
    #[derive(Deserialize)]
    struct Row {
        eval_prompt: String,
    }
    let text = read_text(path)?;
    let mut set = std::collections::HashSet::new();
    for_each_line(path, &text, |_, row: Row| {
        set.insert(row.eval_prompt);
        Ok(())
    })?;
    Ok(set)
}
