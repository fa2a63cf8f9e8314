//! One append-only log of one record kind: the writer thread and its queue, the shared file
//! for handlers that write their own record, and the durability mode. The decision log
//! ([`super::AuditLog`]) and the feedback log ([`crate::feedback::FeedbackLog`]) are each
//! a `Journal` plus their own lookup.

use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::SubmitError;
use super::writer::{
    self, LogCounters, LogFile, LogHealth, LogLine, LogSettings, Retention, SharedFile, Writer,
    WriterMsg,
};
use crate::config::{AuditConfig, Durability};

/// An open log of records `R`.
pub struct Journal<R> {
    tx: SyncSender<WriterMsg<R>>,
    /// The open file, for handlers that write their own record (`written`, `synced`).
    file: SharedFile,
    durability: Durability,
    thread: Mutex<Option<JoinHandle<bool>>>,
    health: Arc<LogHealth>,
    /// The answer of `shutdown_blocking`, once it has run.
    closed: Mutex<Option<bool>>,
}

impl<R: LogLine> Journal<R> {
    /// Opens the files named `<prefix>…` in `cfg.dir` (applying the retention limits) and
    /// starts the writer thread `thread_name`, which counts what it fails to write and
    /// deletes in `counters`.
    pub fn open(
        cfg: &AuditConfig,
        prefix: &'static str,
        thread_name: &str,
        counters: LogCounters,
    ) -> std::io::Result<Journal<R>> {
        let health = Arc::new(LogHealth::default());
        let settings = LogSettings {
            dir: cfg.dir.clone(),
            prefix,
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
            .name(thread_name.into())
            .spawn(move || writer.run::<R>(rx))?;
        Ok(Journal {
            tx,
            file,
            durability: cfg.durability,
            thread: Mutex::new(Some(thread)),
            health,
            closed: Mutex::new(None),
        })
    }

    /// Why the log is not writing: the last write's (or fsync's) error, until a write
    /// succeeds again.
    pub fn write_failure(&self) -> Option<String> {
        self.health.failure()
    }

    /// Continues the log in `path` (see [`LogFile::continue_in`]); for tests.
    pub fn continue_in(&self, path: &Path) -> std::io::Result<()> {
        writer::lock(&self.file).continue_in(path)
    }

    /// The configured `audit.durability`.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Queues a record for the file without waiting.
    pub fn submit(&self, record: Arc<R>) -> Result<(), SubmitError> {
        match self.tx.try_send(WriterMsg::Record(record)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SubmitError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Closed),
        }
    }

    /// Stores a record under `audit.durability`: queued (`queued`), or appended by the
    /// calling thread and handed to the OS (`written`: one `write`, tens of microseconds)
    /// or also fsynced (`synced`: on tokio's blocking pool, as an fsync can take
    /// milliseconds) before this returns.
    pub async fn commit(&self, record: Arc<R>) -> Result<(), SubmitError> {
        let result = match self.durability {
            Durability::Queued => return self.submit(record),
            Durability::Synced => {
                let (file, record) = (Arc::clone(&self.file), Arc::clone(&record));
                tokio::task::spawn_blocking(move || {
                    let mut line = Vec::with_capacity(16 * 1024);
                    append_now(&file, record.as_ref(), &mut line)?;
                    writer::lock(&file).sync()
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            }
            Durability::Written => {
                LINE.with_borrow_mut(|line| append_now(&self.file, record.as_ref(), line))
            }
        };
        result.map_err(|e| {
            tracing::error!(error = %e, id = %record.log_id(), "log write failed");
            SubmitError::WriteFailed
        })
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
                tracing::error!("log writer thread panicked");
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
}

thread_local! {
    /// The line a handler serialises its record into (`written`), reused between requests.
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(16 * 1024));
}

/// Serialises `record` into `line` (outside the lock), then appends it to the shared file
/// and hands it to the OS.
fn append_now<R: LogLine>(
    file: &SharedFile,
    record: &R,
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    line.clear();
    writer::push_line(record, line)?;
    let mut file = writer::lock(file);
    file.append(line)?;
    file.flush_to_os()
}
