//! Reading a decision's feedback from the files: every `feedback-*.jsonl` last written at
//! or after the decision's time (feedback is given after its decision, so older files
//! cannot hold any), line by line, parsing only lines that contain the id.
//!
//! A file's modification time comes from the kernel's coarse clock (one tick, up to 10 ms,
//! behind the clock that stamped the decision id), so a feedback written a millisecond
//! after its decision can carry an mtime before it: the comparison allows [`MTIME_SLACK`].

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::record::{FILE_PREFIX, FeedbackRecord};
use crate::audit::writer::files_with_prefix;

/// How far before the decision a file's mtime may be and the file still be read: well
/// above a kernel tick, far below the age of the files this check exists to skip.
pub const MTIME_SLACK: Duration = Duration::from_secs(2);

/// The decision's feedback in the files of `dir`, in time order. Lines that do not parse
/// (a line torn by a crash) are skipped and logged.
pub fn scan(dir: &Path, decision_id: &str, decision_ms: u64) -> Vec<Arc<FeedbackRecord>> {
    let since = (UNIX_EPOCH + Duration::from_millis(decision_ms))
        .checked_sub(MTIME_SLACK)
        .unwrap_or(UNIX_EPOCH);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(decision_id: &str) -> FeedbackRecord {
        FeedbackRecord {
            decision_id: decision_id.to_string(),
            time: chrono::Utc::now(),
            source: "user".to_string(),
            score: 0.25,
            rating: None,
            comment: None,
            metadata: None,
            revision: 1,
            model: Some("big".to_string()),
            predicted_quality: Some(0.9),
        }
    }

    /// What `scan` finds for a decision whose one feedback file was last written `before`
    /// the decision's time.
    fn found_in_a_file_written(before: Duration) -> Vec<Arc<FeedbackRecord>> {
        let dir = tempfile::tempdir().unwrap();
        let decision_ms = 1_796_000_000_000u64;
        let id = "01a245ac-c72f-7518-86b9-199f44c224c6";
        let path = dir
            .path()
            .join("feedback-20261205T100800.000000Z-0000.jsonl");
        let mut file = std::fs::File::create(path).unwrap();
        writeln!(file, "{}", serde_json::to_string(&record(id)).unwrap()).unwrap();
        let decision = UNIX_EPOCH + Duration::from_millis(decision_ms);
        file.set_modified(decision - before).unwrap();
        scan(dir.path(), id, decision_ms)
    }

    #[test]
    fn a_file_stamped_a_tick_before_its_decision_is_still_read() {
        // The coarse clock lags the fine one by up to a tick.
        let found = found_in_a_file_written(Duration::from_millis(4));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].score, 0.25);
    }

    #[test]
    fn files_last_written_long_before_the_decision_are_skipped() {
        assert!(
            found_in_a_file_written(Duration::from_secs(3600)).is_empty(),
            "an hour-old file cannot hold feedback on this decision, so it is not read"
        );
    }
}
