//! The log writer: a dedicated thread that owns the files, fed through a bounded queue so
//! the request path never waits on the disk. Used for each record kind ([`LogLine`]): the
//! decision log and the feedback log share every guarantee below.
//!
//! Files are `<prefix><UTC start time>-<seq>.jsonl` in the log directory (`decisions-`,
//! `feedback-`), one JSON object per line. Each start of the gateway opens a new file (an old file whose last
//! line was torn by a crash is never appended to); a file that reaches
//! `max_file_bytes` is closed and the next one opened.
//!
//! Flush policy: after each batch of queued records the buffer is written to the OS
//! (`write` + `flush`), so a crash of the process loses only records still in the queue
//! (at most [`BATCH_WINDOW`] worth of them, besides the batch being written). Between
//! batches the thread waits [`BATCH_WINDOW`], so that under load the request path finds
//! it busy rather than parked: queueing a record then costs no wake-up (a futex call and
//! a context switch per record, measurable at thousands of requests per second);
//! the file is fsynced every `fsync_interval_ms` while dirty, on rotation and on
//! shutdown, so a crash of the machine loses at most that interval. The periodic fsync
//! runs on a second thread ([`Syncer`]) on a duplicate of the file's descriptor: an fsync
//! of a second's records can take milliseconds, and the writer must not stop meanwhile.
//!
//! The open file is a [`LogFile`] behind a mutex, so that with `audit.durability =
//! "written"` or `"synced"` a request handler can append its own record before it
//! answers (`AuditLog::commit`): a handler waiting for the writer thread would pay two
//! cross-thread wake-ups, milliseconds at the tail on a busy machine. The writer thread
//! serialises its batch before taking the lock, so a handler waits at most for one
//! batch's `write`.
//!
//! Failures are loud ([`LogHealth`]): a failed write (disk full, I/O error) drops the
//! whole batch (every record of it counted as `write_failed`), cuts the file back to its
//! last whole line (so a torn line is never followed by more records) and marks the log
//! failing until a later write succeeds (a record's, or the writer's own probe when idle:
//! `LogFile::probe_if_failing`); `/readyz` reports it.
//!
//! Retention: each rotation (and each start) deletes the oldest files beyond
//! `audit.max_total_bytes` and those last written more than `audit.max_age_days` ago,
//! never the file being written ([`apply_retention`]).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::record::DecisionRecord;
use crate::metrics::Counter;

/// A record kind written one JSON object per line.
pub trait LogLine: Serialize + Send + Sync + 'static {
    /// What names the record in error messages (its id).
    fn log_id(&self) -> &str;
}

impl LogLine for DecisionRecord {
    fn log_id(&self) -> &str {
        &self.id
    }
}

/// The write buffer of a log file.
const BUFFER_BYTES: usize = 64 * 1024;

/// Whether the decision log is writing: the error of the last failed write, until a
/// later write succeeds. Shared by the writer thread, the handlers that write their own
/// record, the fsync thread and `/readyz`.
#[derive(Debug, Default)]
pub struct LogHealth {
    /// Set with `failure`; read without the lock on every successful write.
    failing: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl LogHealth {
    fn failure_slot(&self) -> MutexGuard<'_, Option<String>> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a failed write or fsync.
    pub fn failed(&self, what: &str, e: &std::io::Error) {
        *self.failure_slot() = Some(format!("{what}: {e}"));
        self.failing.store(true, Ordering::Release);
    }

    /// Records a successful write: the log is healthy again.
    pub fn succeeded(&self) {
        if self.failing.load(Ordering::Acquire) {
            *self.failure_slot() = None;
            self.failing.store(false, Ordering::Release);
            tracing::info!("decision log writes succeed again");
        }
    }

    /// The last failure, while no write has succeeded since.
    pub fn failure(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.failure_slot().clone()
    }
}

/// Handles into the gateway's metrics, so that the writer thread counts what it loses
/// and deletes (`arbiter_audit_records_total{result="write_failed"}`,
/// `arbiter_audit_files_deleted_total{reason}`).
#[derive(Debug, Clone, Default)]
pub struct LogCounters {
    /// Records that could not be written.
    pub write_failed: Arc<Counter>,
    /// Files deleted by `audit.max_total_bytes`.
    pub deleted_for_size: Arc<Counter>,
    /// Files deleted by `audit.max_age_days`.
    pub deleted_for_age: Arc<Counter>,
}

/// How much of the log is kept (see [`apply_retention`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Most bytes of log files in the directory, the current file included; 0: no limit.
    pub max_total_bytes: u64,
    /// Files last written longer ago are deleted; `None`: no limit.
    pub max_age: Option<Duration>,
}

/// How a [`LogFile`] writes.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The log directory.
    pub dir: PathBuf,
    /// The file names' prefix ([`FILE_PREFIX`] for decisions): the kind of record.
    pub prefix: &'static str,
    /// A file that reaches this size is closed and the next one opened.
    pub max_file_bytes: u64,
    /// How often a dirty file is fsynced.
    pub fsync_interval: Duration,
    /// What is deleted at each rotation.
    pub retention: Retention,
}

/// A message to the writer thread.
#[derive(Debug)]
pub enum WriterMsg<R> {
    /// Append a record.
    Record(Arc<R>),
    /// Flush and fsync, then signal.
    Flush(tokio::sync::oneshot::Sender<()>),
    /// Flush, fsync and stop.
    Shutdown,
}

/// How long the writer lets records gather after writing a batch (see the module docs).
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Prefix of decision log files.
pub const FILE_PREFIX: &str = "decisions-";
/// Suffix of log files.
pub const FILE_SUFFIX: &str = ".jsonl";

/// Appends `record` to `out` as one JSON line, newline included; on error `out` is left
/// as it was.
pub fn push_line<R: Serialize>(record: &R, out: &mut Vec<u8>) -> std::io::Result<()> {
    let start = out.len();
    match serde_json::to_writer(&mut *out, record) {
        Ok(()) => {
            out.push(b'\n');
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(std::io::Error::other(e))
        }
    }
}

/// The log file shared by the writer thread and, under `written`/`synced`, the handlers.
pub type SharedFile = Arc<Mutex<LogFile>>;

/// Locks the shared file; a panic while it was held leaves whole lines behind (each
/// append is one buffered `write_all`), so the file is used as it is.
pub fn lock(file: &SharedFile) -> MutexGuard<'_, LogFile> {
    file.lock().unwrap_or_else(|e| e.into_inner())
}

struct Current {
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes appended (handed to the OS or still buffered).
    bytes: u64,
    /// The file's length after the last successful flush: whole lines only.
    flushed: u64,
    /// A write failed since: the file may end in part of a line, cut before the next append.
    torn: bool,
}

impl Current {
    fn new(path: PathBuf, file: File, len: u64) -> Current {
        Current {
            path,
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
            bytes: len,
            flushed: len,
            torn: false,
        }
    }
}

/// The open log file: appends whole lines (rotating by size), flushes to the OS, fsyncs.
pub struct LogFile {
    settings: LogSettings,
    seq: u32,
    current: Option<Current>,
    dirty: bool,
    last_sync: Instant,
    /// Runs the periodic fsyncs.
    syncer: Syncer,
    health: Arc<LogHealth>,
    counters: LogCounters,
}

impl LogFile {
    /// Prepares the directory (created if missing) and opens the first file (applying
    /// the retention limits).
    pub fn open(
        settings: LogSettings,
        health: Arc<LogHealth>,
        counters: LogCounters,
    ) -> std::io::Result<LogFile> {
        std::fs::create_dir_all(&settings.dir)?;
        let mut f = LogFile {
            settings,
            seq: 0,
            current: None,
            dirty: false,
            last_sync: Instant::now(),
            syncer: Syncer::start(Arc::clone(&health))?,
            health,
            counters,
        };
        f.rotate()?;
        Ok(f)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.close_current();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        loop {
            let path = self.settings.dir.join(format!(
                "{}{stamp}-{:04}{FILE_SUFFIX}",
                self.settings.prefix, self.seq
            ));
            self.seq += 1;
            match OpenOptions::new().create_new(true).append(true).open(&path) {
                Ok(file) => {
                    self.current = Some(Current::new(path, file, 0));
                    self.apply_retention();
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Flushes and fsyncs the file being left. A failure is reported (and marks the log
    /// failing) but does not stop the switch: a file that cannot be written must not keep
    /// the log from moving to a new one.
    fn close_current(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, file = ?self.path(), "decision log: the file being closed could not be flushed");
        }
    }

    /// Deletes what the retention limits no longer keep. Runs at rotation, on the writer
    /// thread (or the handler whose append rotated), under the file's lock: a directory
    /// listing and a few unlinks, once per `max_file_bytes` of records.
    fn apply_retention(&self) {
        let Some(current) = self.path() else { return };
        let deleted = apply_retention(
            &self.settings.dir,
            self.settings.prefix,
            current,
            &self.settings.retention,
            SystemTime::now(),
        );
        for (path, reason) in deleted {
            let counter = match reason {
                DeleteReason::Size => &self.counters.deleted_for_size,
                DeleteReason::Age => &self.counters.deleted_for_age,
            };
            counter.inc();
            tracing::info!(file = %path.display(), reason = reason.as_str(), "decision log file deleted by retention");
        }
    }

    /// Continues the log in `path` (opened for appending, created if missing) instead of
    /// the current file. For tests: `/dev/full` makes every write fail with ENOSPC, the
    /// way a full disk does, without a mount.
    #[doc(hidden)]
    pub fn continue_in(&mut self, path: &Path) -> std::io::Result<()> {
        self.close_current();
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata().map_or(0, |m| m.len());
        self.current = Some(Current::new(path.to_path_buf(), file, len));
        Ok(())
    }

    /// Appends one line (from [`push_line`]) to the buffer, rotating first when the
    /// file would pass `max_file_bytes`.
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.repair();
        let len = line.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.bytes > 0 && c.bytes + len > self.settings.max_file_bytes)
        {
            self.rotate()?;
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        match c.out.write_all(line) {
            Ok(()) => {
                c.bytes += len;
                self.dirty = true;
                Ok(())
            }
            Err(e) => Err(self.write_failed("write", e)),
        }
    }

    /// After a failed write: cuts the file back to its last whole line, so that the next
    /// record does not continue a torn one. Where the file cannot be cut (not a regular
    /// file), a newline ends the torn part, which readers skip as an unparseable line.
    fn repair(&mut self) {
        let Some(c) = self.current.as_mut().filter(|c| c.torn) else {
            return;
        };
        c.torn = false;
        if let Err(e) = c.out.get_ref().set_len(c.flushed) {
            tracing::warn!(error = %e, file = %c.path.display(), "cannot cut the decision log back to its last whole line; ending the torn line instead");
            if c.out.write_all(b"\n").is_ok() {
                c.bytes += 1;
            }
        }
    }

    /// While the log is failing, and no record comes to try it: writes, fsyncs and cuts
    /// off one empty line, clearing the failure when that works. Without it a gateway
    /// taken out of rotation by `/readyz` would get no traffic, so no write, so never be
    /// ready again once the disk has room.
    fn probe_if_failing(&mut self) {
        if self.health.failure().is_none() {
            return;
        }
        self.repair();
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let probed = c
            .out
            .write_all(b"\n")
            .and_then(|()| c.out.flush())
            .and_then(|()| c.out.get_ref().sync_data());
        match probed {
            Ok(()) => {
                if c.out.get_ref().set_len(c.flushed).is_err() {
                    // The empty line stays; readers skip it.
                    c.bytes += 1;
                    c.flushed = c.bytes;
                }
                self.health.succeeded();
            }
            Err(e) => {
                let _ = self.write_failed("write (probe)", e);
            }
        }
    }

    /// Marks the log failing and drops what is buffered (the batch it belonged to is lost
    /// whole: see [`Writer`]); returns the error.
    fn write_failed(&mut self, what: &str, e: std::io::Error) -> std::io::Error {
        self.health.failed(what, &e);
        if let Some(c) = self.current.take() {
            // `into_parts` hands back the file without writing the buffer.
            let (file, _dropped) = c.out.into_parts();
            let mut fresh = Current::new(c.path, file, c.flushed);
            fresh.torn = true;
            self.current = Some(fresh);
        }
        e
    }

    /// Hands the buffered lines to the OS (a process crash no longer loses them).
    pub fn flush_to_os(&mut self) -> std::io::Result<()> {
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        let pending = c.bytes > c.flushed;
        match c.out.flush() {
            Ok(()) => {
                c.flushed = c.bytes;
                if pending {
                    self.health.succeeded();
                }
                Ok(())
            }
            Err(e) => Err(self.write_failed("write", e)),
        }
    }

    /// Flushes and fsyncs the current file (a machine crash no longer loses its lines).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.flush_to_os()?;
        if let Some(c) = self.current.as_mut()
            && self.dirty
            && let Err(e) = c.out.get_ref().sync_data()
        {
            self.health.failed("fsync", &e);
            return Err(e);
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The file being written.
    pub fn path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Starts the periodic fsync when one is due.
    fn sync_if_due(&mut self) {
        if self.dirty && self.last_sync.elapsed() >= self.settings.fsync_interval {
            self.sync_in_background();
        }
    }

    /// Hands the periodic fsync of what has been written so far to the [`Syncer`]; if it
    /// is still busy with the previous one, the file stays dirty and the next tick retries.
    fn sync_in_background(&mut self) {
        if let Err(e) = self.flush_to_os() {
            tracing::error!(error = %e, "decision log write failed");
            return;
        }
        let Some(c) = self.current.as_ref() else {
            return;
        };
        match c.out.get_ref().try_clone() {
            Ok(file) => {
                if self.syncer.submit(file) {
                    self.dirty = false;
                    self.last_sync = Instant::now();
                }
            }
            Err(e) => tracing::error!(error = %e, "decision log fsync failed"),
        }
    }

    /// The final flush and fsync; stops the fsync thread. An error when they failed, or
    /// when the last write had failed and none succeeded since (records were lost).
    fn finish(&mut self) -> Result<(), String> {
        let synced = self.sync();
        self.syncer.stop();
        match (synced, self.health.failure()) {
            (Err(e), _) => Err(format!("the final flush failed: {e}")),
            (Ok(()), Some(failure)) => Err(format!(
                "the last write had failed and none succeeded since ({failure})"
            )),
            (Ok(()), None) => Ok(()),
        }
    }
}

/// Why retention deleted a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Beyond `audit.max_total_bytes`.
    Size,
    /// Older than `audit.max_age_days`.
    Age,
}

impl DeleteReason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Size => "size",
            DeleteReason::Age => "age",
        }
    }
}

/// Deletes the log files of `dir` that `retention` does not keep and returns them: keeping
/// the newest first, a file goes once the files kept so far (`current` included) and it
/// pass `max_total_bytes`, or when it was last written (its mtime) more than `max_age`
/// before `now`. `current`, the file being written, is never deleted; a file that cannot
/// be deleted is logged and left.
pub fn apply_retention(
    dir: &Path,
    prefix: &str,
    current: &Path,
    retention: &Retention,
    now: SystemTime,
) -> Vec<(PathBuf, DeleteReason)> {
    if retention.max_total_bytes == 0 && retention.max_age.is_none() {
        return Vec::new();
    }
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut kept = size(current);
    // Once a file is beyond the budget, so is every older one.
    let mut over_budget = false;
    let mut deleted = Vec::new();
    for path in files_with_prefix(dir, prefix) {
        if path == current {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        kept += meta.len();
        let too_old = retention.max_age.is_some_and(|max| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > max)
        });
        over_budget |= retention.max_total_bytes > 0 && kept > retention.max_total_bytes;
        let reason = if over_budget {
            DeleteReason::Size
        } else if too_old {
            DeleteReason::Age
        } else {
            continue;
        };
        kept -= meta.len();
        match std::fs::remove_file(&path) {
            Ok(()) => deleted.push((path, reason)),
            Err(e) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot delete an old decision log file");
            }
        }
    }
    deleted
}

/// The writer thread's state; `run` is the thread's body.
pub struct Writer {
    file: SharedFile,
    /// The file's fsync interval: the longest the thread sleeps without looking at it.
    fsync_interval: Duration,
    /// Counts the records of batches that could not be written.
    write_failed: Arc<Counter>,
    /// The batch's lines, serialised before the file is locked.
    batch: Vec<u8>,
    /// Where each line of `batch` ends.
    ends: Vec<usize>,
}

impl Writer {
    /// A writer appending to `file`, waking at least once per the file's fsync interval.
    pub fn new(file: SharedFile) -> Writer {
        let (fsync_interval, write_failed) = {
            let f = lock(&file);
            (
                f.settings.fsync_interval,
                Arc::clone(&f.counters.write_failed),
            )
        };
        Writer {
            file,
            fsync_interval,
            write_failed,
            batch: Vec::with_capacity(BUFFER_BYTES),
            ends: Vec::new(),
        }
    }

    /// Serialises a record onto the batch; one that cannot be serialised is reported
    /// and left out (the others are still written).
    fn take<R: LogLine>(&mut self, record: &R) {
        match push_line(record, &mut self.batch) {
            Ok(()) => self.ends.push(self.batch.len()),
            Err(e) => {
                tracing::error!(error = %e, id = %record.log_id(), "log record could not be serialised");
            }
        }
    }

    /// Appends the batch and hands it to the OS. On a failure the batch is lost whole
    /// (the file is cut back to the line before it: [`LogFile`]): its records are counted
    /// as `write_failed`.
    fn write_batch(&mut self, file: &mut LogFile) -> std::io::Result<()> {
        let mut res = Ok(());
        let mut start = 0;
        for &end in &self.ends {
            res = file.append(&self.batch[start..end]);
            if res.is_err() {
                break;
            }
            start = end;
        }
        let res = res.and_then(|()| file.flush_to_os());
        if res.is_err() {
            for _ in 0..self.ends.len() {
                self.write_failed.inc();
            }
        }
        self.batch.clear();
        self.ends.clear();
        res
    }

    /// The thread body: runs until `Shutdown` or until every sender is gone; returns
    /// whether the log ended whole (the final flush worked and no write was failing).
    pub fn run<R: LogLine>(mut self, rx: Receiver<WriterMsg<R>>) -> bool {
        loop {
            let msg = rx.recv_timeout(self.fsync_interval);
            let file = Arc::clone(&self.file);
            match msg {
                Ok(WriterMsg::Record(record)) => {
                    self.take(record.as_ref());
                    // Drain what is already queued before one flush to the OS.
                    let mut flushes = Vec::new();
                    let mut stop = false;
                    loop {
                        match rx.try_recv() {
                            Ok(WriterMsg::Record(r)) => self.take(r.as_ref()),
                            Ok(WriterMsg::Flush(ack)) => flushes.push(ack),
                            Ok(WriterMsg::Shutdown) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let mut file = lock(&file);
                    let mut res = self.write_batch(&mut file);
                    if !flushes.is_empty() {
                        res = res.and(file.sync());
                        for ack in flushes {
                            let _ = ack.send(());
                        }
                    }
                    report(res, &file);
                    if stop {
                        return finish(&mut file);
                    }
                    file.sync_if_due();
                    drop(file);
                    std::thread::sleep(BATCH_WINDOW);
                }
                Ok(WriterMsg::Flush(ack)) => {
                    let mut file = lock(&file);
                    let res = file.sync();
                    let _ = ack.send(());
                    report(res, &file);
                }
                Ok(WriterMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    return finish(&mut lock(&file));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut file = lock(&file);
                    file.sync_if_due();
                    file.probe_if_failing();
                }
            }
        }
    }
}

/// The log's last flush; logs why it did not end whole.
fn finish(file: &mut LogFile) -> bool {
    match file.finish() {
        Ok(()) => true,
        Err(why) => {
            tracing::error!(file = ?file.path(), "decision log not flushed: {why}");
            false
        }
    }
}

fn report(result: std::io::Result<()>, file: &LogFile) {
    if let Err(e) = result {
        tracing::error!(error = %e, file = ?file.path(), "decision log write failed");
    }
}

/// The thread that runs the periodic fsyncs, one at a time, on duplicated descriptors.
struct Syncer {
    tx: Option<std::sync::mpsc::SyncSender<File>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(health: Arc<LogHealth>) -> std::io::Result<Syncer> {
        // Room for one fsync waiting besides the one running; more are refused (and retried
        // on a later tick): there is no point in queueing fsyncs of the same file.
        let (tx, rx) = std::sync::mpsc::sync_channel::<File>(1);
        let thread = std::thread::Builder::new()
            .name("arbiter-audit-sync".into())
            .spawn(move || {
                for file in rx {
                    if let Err(e) = file.sync_data() {
                        health.failed("fsync", &e);
                        tracing::error!(error = %e, "decision log fsync failed");
                    }
                }
            })?;
        Ok(Syncer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues an fsync of `file`; false when one is already waiting.
    fn submit(&self, file: File) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.try_send(file).is_ok())
    }

    /// Waits for the fsync in progress, if any, and stops the thread.
    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("decision log fsync thread panicked");
        }
    }
}

/// Decision log files in a directory, newest first (names sort by start time).
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    files_with_prefix(dir, FILE_PREFIX)
}

/// Log files of one kind (`prefix`) in a directory, newest first.
pub fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    files.sort();
    files.reverse();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> (LogFile, Arc<LogHealth>) {
        let health = Arc::new(LogHealth::default());
        let settings = LogSettings {
            dir: dir.to_path_buf(),
            prefix: FILE_PREFIX,
            max_file_bytes: 1 << 20,
            fsync_interval: Duration::from_secs(1),
            retention: Retention::default(),
        };
        let file = LogFile::open(settings, Arc::clone(&health), LogCounters::default()).unwrap();
        (file, health)
    }

    /// A short write leaves part of a line in the file; the next append cuts it off, so
    /// the file stays whole lines and the next record is readable.
    #[test]
    fn a_failed_write_is_cut_back_to_the_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, health) = open(dir.path());
        let path = file.path().unwrap().to_path_buf();
        file.append(b"{\"a\":1}\n").unwrap();
        file.flush_to_os().unwrap();
        file.append(b"{\"b\":2}\n").unwrap();
        // What a full disk leaves: part of the batch reached the file, then ENOSPC.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"b\":")
            .unwrap();
        let _ = file.write_failed("write", std::io::Error::other("no space"));
        assert!(health.failure().unwrap().contains("no space"));
        file.append(b"{\"c\":3}\n").unwrap();
        file.flush_to_os().unwrap();
        assert_eq!(
            health.failure(),
            None,
            "a successful write clears the failure"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"c\":3}\n"
        );
    }

    #[test]
    fn retention_keeps_the_newest_files_within_the_budget_and_never_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<PathBuf> = (0..5)
            .map(|i| {
                dir.path().join(format!(
                    "{FILE_PREFIX}2026010{i}T000000.000000Z-0000{FILE_SUFFIX}"
                ))
            })
            .collect();
        for (i, p) in names.iter().enumerate() {
            // The oldest file is the smallest: it would fit, but older files go first.
            std::fs::write(p, vec![b'x'; if i == 0 { 10 } else { 100 }]).unwrap();
        }
        let retention = Retention {
            max_total_bytes: 300,
            max_age: None,
        };
        // The current file is the oldest name here: it must survive anyway.
        let deleted = apply_retention(
            dir.path(),
            FILE_PREFIX,
            &names[1],
            &retention,
            SystemTime::now(),
        );
        let deleted: Vec<&PathBuf> = deleted.iter().map(|(p, _)| p).collect();
        assert_eq!(deleted, vec![&names[2], &names[0]]);
        assert!(names[1].exists() && names[3].exists() && names[4].exists());
    }
}
