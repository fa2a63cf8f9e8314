//! `POST /v1/feedback`'s body: checked field by field, each error naming its field.

use serde_json::{Map, Value};

use super::record::Rating;
use crate::error::{ApiError, truncate_echo};
use crate::request::type_name;

/// The longest `source` accepted: a label, not a text.
pub const MAX_SOURCE_CHARS: usize = 64;
/// The longest `comment` accepted.
pub const MAX_COMMENT_CHARS: usize = 4096;
/// `source` when the client gives none.
pub const DEFAULT_SOURCE: &str = "user";

/// A parsed feedback request.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackInput {
    /// The decision judged.
    pub decision_id: String,
    /// Realised quality in [0, 1].
    pub score: f64,
    /// The rating, when given instead of a score.
    pub rating: Option<Rating>,
    /// Who judged.
    pub source: String,
    /// Free text.
    pub comment: Option<String>,
    /// A JSON object.
    pub metadata: Option<Value>,
}

const FIELDS: [&str; 6] = [
    "decision_id",
    "score",
    "rating",
    "source",
    "comment",
    "metadata",
];

/// Reads the body: `decision_id` (string), exactly one of `score` (number in [0, 1]) and
/// `rating` (`"up"`/`"down"`), optional `source` (letters, digits, `_-.:`, at most
/// [`MAX_SOURCE_CHARS`]), `comment` (string, at most [`MAX_COMMENT_CHARS`]) and `metadata`
/// (object); any other field is refused (a misspelt `scroe` must not pass silently).
pub fn parse_feedback(body: Map<String, Value>) -> Result<FeedbackInput, ApiError> {
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_param(
            truncate_echo(unknown),
            format!(
                "unknown field `{}`; expected one of {}",
                truncate_echo(unknown),
                FIELDS.join(", ")
            ),
        ));
    }
    let decision_id = match body.get("decision_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(bad("decision_id", "`decision_id` is empty")),
        Some(other) => {
            return Err(bad(
                "decision_id",
                &format!("`decision_id` must be a string, got {}", type_name(other)),
            ));
        }
        None => {
            return Err(bad(
                "decision_id",
                "`decision_id` is required (the `x-arbiter-decision-id` of the response judged)",
            ));
        }
    };
    let (score, rating) = match (body.get("score"), body.get("rating")) {
        (Some(_), Some(_)) => {
            return Err(bad("score", "give `score` or `rating`, not both"));
        }
        (None, None) => {
            return Err(bad(
                "score",
                "`score` (a number in [0, 1]) or `rating` (\"up\" or \"down\") is required",
            ));
        }
        (Some(v), None) => match v.as_f64() {
            Some(s) if (0.0..=1.0).contains(&s) => (s, None),
            Some(s) => {
                return Err(bad(
                    "score",
                    &format!("`score` must be between 0 and 1, got {s}"),
                ));
            }
            None => {
                return Err(bad(
                    "score",
                    &format!("`score` must be a number, got {}", type_name(v)),
                ));
            }
        },
        (None, Some(v)) => match v.as_str() {
            Some("up") => (1.0, Some(Rating::Up)),
            Some("down") => (0.0, Some(Rating::Down)),
            _ => {
                return Err(bad(
                    "rating",
                    &format!(
                        "`rating` must be \"up\" or \"down\", got {}",
                        truncate_echo(&v.to_string())
                    ),
                ));
            }
        },
    };
    let source = match body.get("source") {
        None | Some(Value::Null) => DEFAULT_SOURCE.to_string(),
        Some(Value::String(s)) if is_label(s) => s.clone(),
        Some(Value::String(s)) => {
            return Err(bad(
                "source",
                &format!(
                    "`source` must be 1 to {MAX_SOURCE_CHARS} letters, digits or `_-.:`, got \"{}\"",
                    truncate_echo(s)
                ),
            ));
        }
        Some(other) => {
            return Err(bad(
                "source",
                &format!("`source` must be a string, got {}", type_name(other)),
            ));
        }
    };
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_COMMENT_CHARS => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(bad(
                "comment",
                &format!("`comment` is longer than {MAX_COMMENT_CHARS} characters"),
            ));
        }
        Some(other) => {
            return Err(bad(
                "comment",
                &format!("`comment` must be a string, got {}", type_name(other)),
            ));
        }
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            return Err(bad(
                "metadata",
                &format!("`metadata` must be an object, got {}", type_name(other)),
            ));
        }
    };
    Ok(FeedbackInput {
        decision_id,
        score,
        rating,
        source,
        comment,
        metadata,
    })
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_SOURCE_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn bad(param: &str, message: &str) -> ApiError {
    ApiError::bad_param(param, message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<FeedbackInput, ApiError> {
        parse_feedback(v.as_object().unwrap().clone())
    }

    fn param(v: Value) -> String {
        match parse(v).unwrap_err() {
            ApiError::BadRequest { param, .. } => param.unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_score_or_a_rating_with_the_defaults() {
        let f = parse(json!({"decision_id": "d", "score": 0.25})).unwrap();
        assert_eq!((f.score, f.rating, f.source.as_str()), (0.25, None, "user"));
        let f = parse(
            json!({"decision_id": "d", "rating": "down", "source": "judge:gpt-4o",
            "comment": "wrong", "metadata": {"k": 1}}),
        )
        .unwrap();
        assert_eq!((f.score, f.rating), (0.0, Some(Rating::Down)));
        assert_eq!(f.source, "judge:gpt-4o");
        assert_eq!(f.metadata, Some(json!({"k": 1})));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(param(json!({"score": 1})), "decision_id");
        assert_eq!(param(json!({"decision_id": 5, "score": 1})), "decision_id");
        assert_eq!(param(json!({"decision_id": "d"})), "score");
        assert_eq!(param(json!({"decision_id": "d", "score": 1.5})), "score");
        assert_eq!(param(json!({"decision_id": "d", "score": "1"})), "score");
        assert_eq!(
            param(json!({"decision_id": "d", "score": 1, "rating": "up"})),
            "score"
        );
        assert_eq!(
            param(json!({"decision_id": "d", "rating": "meh"})),
            "rating"
        );
        assert_eq!(
            param(json!({"decision_id": "d", "score": 1, "source": "a b"})),
            "source"
        );
        assert_eq!(
            param(json!({"decision_id": "d", "score": 1, "comment": "x".repeat(5000)})),
            "comment"
        );
        assert_eq!(
            param(json!({"decision_id": "d", "score": 1, "metadata": [1]})),
            "metadata"
        );
        assert_eq!(param(json!({"decision_id": "d", "scroe": 1})), "scroe");
    }
}
