//! The feedback record: one line of `feedback-*.jsonl` per `POST /v1/feedback`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::writer::LogLine;

/// Prefix of feedback log files (beside the decision log's `decisions-`).
pub const FILE_PREFIX: &str = "feedback-";

/// `"up"` or `"down"`: a thumbs rating, stored as score 1 or 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// Score 1.
    Up,
    /// Score 0.
    Down,
}

impl Rating {
    /// The score it stands for.
    pub fn score(self) -> f64 {
        match self {
            Rating::Up => 1.0,
            Rating::Down => 0.0,
        }
    }
}

/// One judgement of one decision's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeedbackRecord {
    /// The decision judged (`x-arbiter-decision-id`).
    pub decision_id: String,
    /// When the feedback arrived.
    pub time: DateTime<Utc>,
    /// Who judged: `user` unless the client says (`judge`, `test`, …). A later feedback
    /// from the same source replaces this one.
    pub source: String,
    /// Realised quality in [0, 1] (a rating's 1 or 0).
    pub score: f64,
    /// The rating, when the client sent one instead of a score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    /// Free text from the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A JSON object from the client, stored as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// 1 for the first feedback from this source on this decision, 2 for the first
    /// replacement, …: readers keep the highest.
    pub revision: u32,
    /// The model whose answer was judged (the decision's `model`), if one answered.
    pub model: Option<String>,
    /// The router's predicted quality for that model, when the router chose it.
    pub predicted_quality: Option<f32>,
}

impl LogLine for FeedbackRecord {
    fn log_id(&self) -> &str {
        &self.decision_id
    }
}

/// The current feedback of a decision: the highest revision per source, in the order the
/// sources first judged it.
pub fn current(items: &[std::sync::Arc<FeedbackRecord>]) -> Vec<std::sync::Arc<FeedbackRecord>> {
    let mut out: Vec<std::sync::Arc<FeedbackRecord>> = Vec::new();
    for item in items {
        match out.iter_mut().find(|f| f.source == item.source) {
            Some(slot) if item.revision >= slot.revision => *slot = std::sync::Arc::clone(item),
            Some(_) => {}
            None => out.push(std::sync::Arc::clone(item)),
        }
    }
    out
}
