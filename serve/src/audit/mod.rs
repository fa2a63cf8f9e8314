//! The decision log: records ([`record`]) and their ids ([`id`]), the writer thread
//! ([`writer`]) and lookup by id (recent records in memory, older ones found by scanning
//! the files, newest first, so a record is found after a restart too).

pub mod id;
pub mod record;
pub mod writer;

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use record::{
    Attempt, CandidateRecord, ConstraintsRecord, DecisionRecord, Scores, TaskGuess, Usage,
};
use writer::{LogFile, SharedFile, Writer, WriterMsg};

use crate::config::{AuditConfig, Durability};

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
    thread: Mutex<Option<JoinHandle<()>>>,
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
    /// Opens the log directory and starts the writer thread.
    pub fn open(cfg: &AuditConfig) -> std::io::Result<AuditLog> {
        let file = Arc::new(Mutex::new(LogFile::open(
            &cfg.dir,
            cfg.max_file_bytes,
            Duration::from_millis(cfg.fsync_interval_ms.max(1)),
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
        })
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

    /// Finds a record: memory first, then the files, newest first.
    pub async fn get(&self, id: &str) -> Option<DecisionRecord> {
        if let Some(r) = self.recent().by_id.get(id) {
            return Some(DecisionRecord::clone(r));
        }
        let dir = self.dir.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || find_on_disk(&dir, &id))
            .await
            .ok()
            .flatten()
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

    /// Writes what is queued, fsyncs and stops the writer (blocking; call once, at shutdown).
    pub fn shutdown_blocking(&self) {
        let _ = self.tx.send(WriterMsg::Shutdown);
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("decision log writer thread panicked");
        }
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

/// Scans the log files newest first for the record with this id. Lines that do not
/// parse (a line torn by a crash) are skipped.
pub fn find_on_disk(dir: &Path, id: &str) -> Option<DecisionRecord> {
    // Ids are UUIDs; anything else cannot be in the log, and must not become a pattern.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return None;
    }
    let needle = format!("\"id\":\"{id}\"");
    for path in writer::log_files(dir) {
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut found = None;
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if line.contains(&needle)
                && let Ok(record) = serde_json::from_str::<DecisionRecord>(&line)
                && record.id == id
            {
                // Keep scanning the file: a later line for the same id is newer.
                found = Some(record);
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}
