//! Reading a decision's feedback from the files: every `feedback-*.jsonl` last written at
//! or after the decision's time (feedback is given after its decision, so older files
//! cannot hold any), line by line, parsing only lines that contain the id.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::record::{FILE_PREFIX, FeedbackRecord};
use crate::audit::writer::files_with_prefix;

/// The decision's feedback in the files of `dir`, in time order. Lines that do not parse
/// (a line torn by a crash) are skipped and logged.
pub fn scan(dir: &Path, decision_id: &str, decision_ms: u64) -> Vec<Arc<FeedbackRecord>> {
    let since = UNIX_EPOCH + Duration::from_millis(decision_ms);
    let mut found = Vec::new();
    let mut unreadable = 0usize;
    for path in files_with_prefix(dir, FILE_PREFIX) {
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_or(true, |m| m >= since);
        if !fresh {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        for line in BufReader::new(file).split(b'\n') {
            let Ok(line) = line else {
                unreadable += 1;
                break;
            };
            if !contains(&line, decision_id.as_bytes()) {
                continue;
            }
            match serde_json::from_slice::<FeedbackRecord>(&line) {
                Ok(f) if f.decision_id == decision_id => found.push(Arc::new(f)),
                Ok(_) => {}
                Err(_) => unreadable += 1,
            }
        }
    }
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            decision_id,
            "feedback lines that could not be read were skipped"
        );
    }
    found.sort_by_key(|f| f.time);
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
