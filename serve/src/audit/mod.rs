//! The decision log: records ([`record`]) and their ids ([`id`]), the writer thread
//! ([`writer`]) and lookup by id (recent records in memory, older ones read from the one
//! or two files that can hold them, [`lookup`], so a record is found after a restart too).

pub mod id;
pub mod journal;
pub mod lookup;
pub mod record;
pub mod writer;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use journal::Journal;
pub use lookup::find_on_disk;
pub use record::{
    Attempt, AttemptOutcome, CandidateRecord, ConstraintsRecord, DecisionRecord, PolicyRecord,
    RequestOutcome, Scores, TaskGuess, Usage,
};
use writer::LogCounters;

use crate::config::{AuditConfig, Durability};

/// How long a lookup that needs the disk waits for the one running before it is refused.
const DISK_LOOKUP_WAIT: Duration = Duration::from_millis(250);

/// Why a lookup by id has no record to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No record with this id (the reason, when known without reading the files).
    #[error("not found{}", .0.map(|r| format!(": {r}")).unwrap_or_default())]
    NotFound(Option<&'static str>),
    /// Another lookup is reading the files: only one at a time, so lookups never take
    /// the disk and the CPU from routing.
    #[error("another decision lookup is reading the log; retry shortly")]
    Busy,
}

/// Why a record did not reach the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full (the writer cannot keep up with the disk).
    QueueFull,
    /// The log has been shut down.
    Closed,
    /// The record could not be written to the file (the I/O error is logged).
    WriteFailed,
}

/// The decision log handle shared by the request handlers.
pub struct AuditLog {
    dir: PathBuf,
    journal: Journal<DecisionRecord>,
    /// Feedback on the decisions, in the same directory.
    pub feedback: crate::feedback::FeedbackLog,
    recent: Mutex<Recent>,
    /// One lookup reads the files at a time.
    disk_lookups: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The most entries of the in-memory index allocated up front (a larger
/// `audit.recent_in_memory` grows past it as records arrive).
const RECENT_PREALLOCATED: usize = 100_000;

struct Recent {
    capacity: usize,
    by_id: HashMap<String, Arc<DecisionRecord>>,
    order: VecDeque<String>,
}

impl Recent {
    /// Allocated at startup (up to [`RECENT_PREALLOCATED`] entries): growing the index under
    /// load rehashes every entry while holding the lock, a millisecond-long stall on the
    /// request path at 10,000 entries.
    fn with_capacity(capacity: usize) -> Recent {
        let prealloc = capacity.saturating_add(1).min(RECENT_PREALLOCATED);
        Recent {
            capacity,
            by_id: HashMap::with_capacity(prealloc),
            order: VecDeque::with_capacity(prealloc),
        }
    }

    fn put(&mut self, record: Arc<DecisionRecord>) {
        let id = record.id.clone();
        if self.by_id.insert(id.clone(), record).is_none() {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.by_id.remove(&old);
                }
            }
        }
    }
}

impl AuditLog {
    /// Opens the log directory (applying the retention limits) and starts the writer
    /// thread, which counts what it fails to write and deletes in `counters`.
    pub fn open(cfg: &AuditConfig, counters: LogCounters) -> std::io::Result<AuditLog> {
        Ok(AuditLog {
            dir: cfg.dir.clone(),
            journal: Journal::open(cfg, writer::FILE_PREFIX, "arbiter-audit", counters.clone())?,
            feedback: crate::feedback::FeedbackLog::open(cfg, counters)?,
            recent: Mutex::new(Recent::with_capacity(cfg.recent_in_memory.max(1))),
            disk_lookups: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// Why the log is not writing: the last write's (or fsync's) error, until a write
    /// succeeds again.
    pub fn write_failure(&self) -> Option<String> {
        self.journal.write_failure().or_else(|| {
            self.feedback
                .write_failure()
                .map(|e| format!("feedback log: {e}"))
        })
    }

    /// Takes the one disk-lookup permit and holds it until the guard is dropped; for
    /// tests of what a lookup meets while another one reads the files.
    #[doc(hidden)]
    pub fn hold_disk_lookup(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.disk_lookups).try_acquire_owned().ok()
    }

    /// Continues the log in `path` (see [`writer::LogFile::continue_in`]); for tests that
    /// need writes to fail (`/dev/full`).
    #[doc(hidden)]
    pub fn continue_in(&self, path: &Path) -> std::io::Result<()> {
        self.journal.continue_in(path)
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a record in memory only (a request still in flight: `outcome: "pending"`).
    pub fn remember(&self, record: DecisionRecord) {
        self.recent().put(Arc::new(record));
    }

    /// Stores the final record: in memory, and queued for the file without waiting.
    pub fn submit(&self, record: DecisionRecord) -> Result<(), SubmitError> {
        let record = Arc::new(record);
        self.recent().put(Arc::clone(&record));
        self.journal.submit(record)
    }

    /// The configured `audit.durability`.
    pub fn durability(&self) -> Durability {
        self.journal.durability()
    }

    /// Stores a record that a response is about to reveal (its id goes out in
    /// `x-arbiter-decision-id`): in memory, and in the file under `audit.durability`
    /// ([`Journal::commit`]).
    pub async fn commit(&self, record: DecisionRecord) -> Result<(), SubmitError> {
        let record = Arc::new(record);
        self.recent().put(Arc::clone(&record));
        self.journal.commit(record).await
    }

    /// The record with this id if it is in memory (no disk read).
    pub fn get_recent(&self, id: &str) -> Option<Arc<DecisionRecord>> {
        self.recent().by_id.get(id).cloned()
    }

    /// Finds a record: memory first, then the one or two files that can hold it
    /// ([`lookup`]), one lookup on disk at a time (others wait [`DISK_LOOKUP_WAIT`],
    /// then get [`LookupError::Busy`]). Ids that no file can hold are answered without
    /// waiting or reading.
    pub async fn get(&self, id: &str) -> Result<DecisionRecord, LookupError> {
        if let Some(r) = self.recent().by_id.get(id) {
            return Ok(DecisionRecord::clone(r));
        }
        let (dir, owned_id) = (self.dir.clone(), id.to_string());
        // Listing the directory: no file is read yet, so no permit is needed.
        let plan =
            tokio::task::spawn_blocking(move || lookup::plan(&dir, &owned_id, SystemTime::now()))
                .await
                .map_err(|_| LookupError::NotFound(None))?;
        let (millis, files) = match plan {
            lookup::Plan::Absent(why) => return Err(LookupError::NotFound(Some(why))),
            lookup::Plan::Read { millis, files } => (millis, files),
        };
        let permit = tokio::time::timeout(
            DISK_LOOKUP_WAIT,
            Arc::clone(&self.disk_lookups).acquire_owned(),
        )
        .await
        .map_err(|_| LookupError::Busy)?
        .map_err(|_| LookupError::Busy)?;
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            lookup::read_planned(&id, millis, &files)
        })
        .await
        .ok()
        .flatten()
        .ok_or(LookupError::NotFound(None))
    }

    /// Waits until everything queued so far is written and fsynced.
    pub async fn flush(&self) {
        self.journal.flush().await;
        self.feedback.flush().await;
    }

    /// Writes what is queued, fsyncs and stops the writer (blocking; call once, at
    /// shutdown), the feedback log's too. False when either did not end whole
    /// ([`Journal::shutdown_blocking`]).
    pub fn shutdown_blocking(&self) -> bool {
        let decisions = self.journal.shutdown_blocking();
        self.feedback.shutdown_blocking() && decisions
    }

    /// What [`shutdown_blocking`](Self::shutdown_blocking) answered, once it has run.
    pub fn closed_whole(&self) -> Option<bool> {
        let decisions = self.journal.closed_whole()?;
        Some(decisions && self.feedback.closed_whole().unwrap_or(false))
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
