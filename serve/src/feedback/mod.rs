//! Feedback on decisions (`POST /v1/feedback`): stored append-only beside the decision log
//! (`feedback-*.jsonl`, written by a [`Journal`] under the same `audit.durability` and
//! crash guarantees), indexed in memory by decision ([`index`]), read back from the files
//! for decisions judged before the index can vouch for ([`scan`]), and folded into
//! per-model drift figures ([`drift`]).

pub mod drift;
pub mod index;
pub mod parse;
pub mod record;
pub mod scan;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use drift::{Drift, ModelDrift};
pub use parse::{FeedbackInput, parse_feedback};
pub use record::{FeedbackRecord, Rating};

use crate::audit::writer::LogCounters;
use crate::audit::{DecisionRecord, Journal, LookupError, SubmitError};
use crate::config::AuditConfig;

/// How long a request that must read the files waits for the one reading them.
const DISK_WAIT: Duration = Duration::from_millis(250);

/// A stored feedback.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record as written.
    pub record: Arc<FeedbackRecord>,
    /// It replaced an earlier feedback from the same source.
    pub replaced: bool,
}

/// The feedback log.
pub struct FeedbackLog {
    dir: PathBuf,
    journal: Journal<FeedbackRecord>,
    index: Mutex<index::Index>,
    disk: Arc<tokio::sync::Semaphore>,
    /// Per-model predicted vs realised quality.
    pub drift: Drift,
}

impl std::fmt::Debug for FeedbackLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedbackLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FeedbackLog {
    /// Opens the feedback files in the decision log's directory and starts their writer.
    pub fn open(cfg: &AuditConfig, counters: LogCounters) -> std::io::Result<FeedbackLog> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(FeedbackLog {
            dir: cfg.dir.clone(),
            journal: Journal::open(cfg, record::FILE_PREFIX, "arbiter-feedback", counters)?,
            index: Mutex::new(index::Index::new(cfg.recent_in_memory, now_ms)),
            disk: Arc::new(tokio::sync::Semaphore::new(1)),
            drift: Drift::default(),
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, index::Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current feedback of a decision (the latest per source): from memory, or read
    /// from the files once (one reader at a time; others wait briefly, then get `Busy`).
    pub async fn current_for(
        &self,
        decision: &DecisionRecord,
    ) -> Result<Vec<Arc<FeedbackRecord>>, LookupError> {
        let ms = decision_ms(decision);
        if let Some(items) = self.index().get(&decision.id, ms) {
            return Ok(items.to_vec());
        }
        let permit = tokio::time::timeout(DISK_WAIT, Arc::clone(&self.disk).acquire_owned())
            .await
            .map_err(|_| LookupError::Busy)?
            .map_err(|_| LookupError::Busy)?;
        // Another request may have read them while this one waited.
        if let Some(items) = self.index().get(&decision.id, ms) {
            return Ok(items.to_vec());
        }
        let (dir, id) = (self.dir.clone(), decision.id.clone());
        let items = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            scan::scan(&dir, &id, ms)
        })
        .await
        .map_err(|_| LookupError::NotFound(None))?;
        let mut index = self.index();
        index.install(&decision.id, items);
        Ok(index
            .get(&decision.id, ms)
            .map(<[_]>::to_vec)
            .unwrap_or_default())
    }

    /// Stores a feedback on `decision` under `audit.durability`; its revision follows the
    /// source's last one. The first feedback per source feeds the drift figures.
    pub async fn store(
        &self,
        input: FeedbackInput,
        decision: &DecisionRecord,
    ) -> Result<Stored, StoreError> {
        // Makes the index complete for this decision (reads the files if it must).
        self.current_for(decision)
            .await
            .map_err(StoreError::Lookup)?;
        let model = decision.model.clone();
        let predicted_quality = model.as_deref().and_then(|m| {
            decision
                .candidates
                .iter()
                .find(|c| c.model == m)
                .map(|c| c.predicted_quality)
        });
        let time = chrono::Utc::now();
        let (record, previous) = self.index().push(
            |revision| FeedbackRecord {
                decision_id: decision.id.clone(),
                time,
                source: input.source.clone(),
                score: input.score,
                rating: input.rating,
                comment: input.comment.clone(),
                metadata: input.metadata.clone(),
                revision,
                model: model.clone(),
                predicted_quality,
            },
            &decision.id,
            &input.source,
        );
        if let Err(e) = self.journal.commit(Arc::clone(&record)).await {
            self.index().retract(&record, previous);
            return Err(StoreError::Write(e));
        }
        if record.revision == 1
            && let (Some(m), Some(p)) = (&record.model, record.predicted_quality)
        {
            self.drift.observe(m, f64::from(p), record.score);
        }
        Ok(Stored {
            replaced: record.revision > 1,
            record,
        })
    }

    /// Why the log is not writing, until a write succeeds again.
    pub fn write_failure(&self) -> Option<String> {
        self.journal.write_failure()
    }

    /// Waits until everything queued so far is written and fsynced.
    pub async fn flush(&self) {
        self.journal.flush().await;
    }

    /// Writes what is queued, fsyncs and stops the writer (blocking; once, at shutdown).
    pub fn shutdown_blocking(&self) -> bool {
        self.journal.shutdown_blocking()
    }

    /// What [`shutdown_blocking`](Self::shutdown_blocking) answered, once it has run.
    pub fn closed_whole(&self) -> Option<bool> {
        self.journal.closed_whole()
    }
}

/// Why a feedback was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The earlier feedback of the decision could not be read.
    #[error("{0}")]
    Lookup(LookupError),
    /// The record did not reach the file.
    #[error("the feedback could not be stored ({0:?})")]
    Write(SubmitError),
}

/// The decision's arrival in Unix milliseconds: its id's time, else its record's time.
fn decision_ms(decision: &DecisionRecord) -> u64 {
    crate::audit::lookup::id_millis(&decision.id)
        .unwrap_or_else(|| u64::try_from(decision.time.timestamp_millis()).unwrap_or(0))
}
