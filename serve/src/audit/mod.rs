//! The decision log: records ([`record`]) and their ids ([`id`]), the writer thread
//! ([`writer`]) and lookup by id (recent records in memory, older ones read from the one
//! or two files that can hold them, [`lookup`], so a record is found after a restart too).

pub mod id;
pub mod lookup;
pub mod record;
pub mod writer;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub use lookup::find_on_disk;
pub use record::{
    Attempt, AttemptOutcome, CandidateRecord, ConstraintsRecord, DecisionRecord, RequestOutcome,
    Scores, TaskGuess, Usage,
};
use writer::{
    LogCounters, LogFile, LogHealth, LogSettings, Retention, SharedFile, Writer, WriterMsg,
};

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
    tx: SyncSender<WriterMsg>,
    /// The open file, for handlers that write their own record (`written`, `synced`).
    file: SharedFile,
    durability: Durability,
    recent: Mutex<Recent>,
    thread: Mutex<Option<JoinHandle<bool>>>,
    health: Arc<LogHealth>,
    /// One lookup reads the files at a time.
    disk_lookups: Arc<tokio::sync::Semaphore>,
    /// The answer of `shutdown_blocking`, once it has run.
    closed: Mutex<Option<bool>>,
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
        let health = Arc::new(LogHealth::default());
        let settings = LogSettings {
            dir: cfg.dir.clone(),
            max_file_bytes: cfg.max_file_bytes,
            fsync_interval: Duration::from_millis(cfg.fsync_interval_ms.max(1)),
            retention: Retention {
                max_total_bytes: cfg.max_total_bytes,
                max_age: (cfg.max_age_days > 0)
                    .then(|| Duration::from_secs(u64::from(cfg.max_age_days) * 86_400)),
            },
        };
        let file = Arc::new(Mutex::new(LogFile::open(
            settings,
            Arc::clone(&health),
            counters,
        )?));
        let writer = Writer::new(Arc::clone(&file));
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("arbiter-audit".into())
            .spawn(move || writer.run(rx))?;
        Ok(AuditLog {
            dir: cfg.dir.clone(),
            tx,
            file,
            durability: cfg.durability,
            recent: Mutex::new(Recent::with_capacity(cfg.recent_in_memory.max(1))),
            thread: Mutex::new(Some(thread)),
            health,
            disk_lookups: Arc::new(tokio::sync::Semaphore::new(1)),
            closed: Mutex::new(None),
        })
    }

    /// Why the log is not writing: the last write's (or fsync's) error, until a write
    /// succeeds again.
    pub fn write_failure(&self) -> Option<String> {
        self.health.failure()
    }

    /// Takes the one disk-lookup permit and holds it until the guard is dropped; for
    /// tests of what a lookup meets while another one reads the files.
    #[doc(hidden)]
    pub fn hold_disk_lookup(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.disk_lookups).try_acquire_owned().ok()
    }

    /// Continues the log in `path` (see [`LogFile::continue_in`]); for tests that need
    /// writes to fail (`/dev/full`).
    #[doc(hidden)]
    pub fn continue_in(&self, path: &Path) -> std::io::Result<()> {
        writer::lock(&self.file).continue_in(path)
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
        match self.tx.try_send(WriterMsg::Record(record)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SubmitError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Closed),
        }
    }

    /// The configured `audit.durability`.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Stores a record that a response is about to reveal (its id goes out in
    /// `x-arbiter-decision-id`): as [`submit`](Self::submit) under `durability = "queued"`;
    /// otherwise the calling thread appends the record itself and returns once it is
    /// written to the OS (`written`: one `write` on this thread, tens of microseconds) or
    /// also fsynced (`synced`: on tokio's blocking pool, as an fsync can take milliseconds).
    pub async fn commit(&self, record: DecisionRecord) -> Result<(), SubmitError> {
        let record = match self.durability {
            Durability::Queued => return self.submit(record),
            Durability::Written | Durability::Synced => Arc::new(record),
        };
        self.recent().put(Arc::clone(&record));
        let result = if self.durability == Durability::Synced {
            let (file, record) = (Arc::clone(&self.file), Arc::clone(&record));
            tokio::task::spawn_blocking(move || {
                let mut line = Vec::with_capacity(16 * 1024);
                append_now(&file, &record, &mut line)?;
                writer::lock(&file).sync()
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        } else {
            LINE.with_borrow_mut(|line| append_now(&self.file, &record, line))
        };
        result.map_err(|e| {
            tracing::error!(error = %e, id = %record.id, "decision log write failed");
            SubmitError::WriteFailed
        })
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
        let (ack, done) = tokio::sync::oneshot::channel();
        let tx = self.tx.clone();
        // `send` may block while the queue is full: keep it off the executor.
        let sent = tokio::task::spawn_blocking(move || tx.send(WriterMsg::Flush(ack)).is_ok())
            .await
            .unwrap_or(false);
        if sent {
            let _ = done.await;
        }
    }

    /// Writes what is queued, fsyncs and stops the writer (blocking; call once, at
    /// shutdown). False when the log did not end whole: the final flush failed, the last
    /// write had failed (records were lost), or the writer thread was gone; the reason is
    /// logged.
    pub fn shutdown_blocking(&self) -> bool {
        let _ = self.tx.send(WriterMsg::Shutdown);
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let whole = match thread.take().map(JoinHandle::join) {
            Some(Ok(whole)) => whole,
            Some(Err(_)) => {
                tracing::error!("decision log writer thread panicked");
                false
            }
            // Shut down before: the first call's answer.
            None => return self.closed_whole().unwrap_or(false),
        };
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(whole);
        whole
    }

    /// What [`shutdown_blocking`](Self::shutdown_blocking) answered, once it has run.
    pub fn closed_whole(&self) -> Option<bool> {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

thread_local! {
    /// The line a handler serialises its record into (`written`), reused between requests.
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(16 * 1024));
}

/// Serialises `record` into `line` (outside the lock), then appends it to the shared file
/// and hands it to the OS.
fn append_now(
    file: &SharedFile,
    record: &DecisionRecord,
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    line.clear();
    writer::push_line(record, line)?;
    let mut file = writer::lock(file);
    file.append(line)?;
    file.flush_to_os()
}
