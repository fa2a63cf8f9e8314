//! The decision-log writer: a dedicated thread that owns the files, fed through a
//! bounded queue so the request path never waits on the disk.
//!
//! Files are `decisions-<UTC start time>-<seq>.jsonl` in the log directory, one JSON
//! object per line. Each start of the gateway opens a new file (an old file whose last
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

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::record::DecisionRecord;

/// A message to the writer thread.
#[derive(Debug)]
pub enum WriterMsg {
    /// Append a record.
    Record(Arc<DecisionRecord>),
    /// Flush and fsync, then signal.
    Flush(tokio::sync::oneshot::Sender<()>),
    /// Flush, fsync and stop.
    Shutdown,
}

/// How long the writer lets records gather after writing a batch (see the module docs).
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Prefix and suffix of log files.
pub const FILE_PREFIX: &str = "decisions-";
/// Suffix of log files.
pub const FILE_SUFFIX: &str = ".jsonl";

/// Appends `record` to `out` as one JSON line, newline included; on error `out` is left
/// as it was.
pub fn push_line(record: &DecisionRecord, out: &mut Vec<u8>) -> std::io::Result<()> {
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
    bytes: u64,
}

/// The open log file: appends whole lines (rotating by size), flushes to the OS, fsyncs.
pub struct LogFile {
    dir: PathBuf,
    max_file_bytes: u64,
    fsync_interval: Duration,
    seq: u32,
    current: Option<Current>,
    dirty: bool,
    last_sync: Instant,
    /// Runs the periodic fsyncs.
    syncer: Syncer,
}

impl LogFile {
    /// Prepares the directory (created if missing) and opens the first file.
    pub fn open(
        dir: &Path,
        max_file_bytes: u64,
        fsync_interval: Duration,
    ) -> std::io::Result<LogFile> {
        std::fs::create_dir_all(dir)?;
        let mut f = LogFile {
            dir: dir.to_path_buf(),
            max_file_bytes,
            fsync_interval,
            seq: 0,
            current: None,
            dirty: false,
            last_sync: Instant::now(),
            syncer: Syncer::start()?,
        };
        f.rotate()?;
        Ok(f)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.sync()?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        loop {
            let path = self
                .dir
                .join(format!("{FILE_PREFIX}{stamp}-{:04}{FILE_SUFFIX}", self.seq));
            self.seq += 1;
            match OpenOptions::new().create_new(true).append(true).open(&path) {
                Ok(file) => {
                    self.current = Some(Current {
                        path,
                        out: BufWriter::with_capacity(64 * 1024, file),
                        bytes: 0,
                    });
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends one line (from [`push_line`]) to the buffer, rotating first when the
    /// file would pass `max_file_bytes`.
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.bytes > 0 && c.bytes + len > self.max_file_bytes)
        {
            self.rotate()?;
        }
        if let Some(c) = self.current.as_mut() {
            c.out.write_all(line)?;
            c.bytes += len;
            self.dirty = true;
        }
        Ok(())
    }

    /// Hands the buffered lines to the OS (a process crash no longer loses them).
    pub fn flush_to_os(&mut self) -> std::io::Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.out.flush()?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the current file (a machine crash no longer loses its lines).
    pub fn sync(&mut self) -> std::io::Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.out.flush()?;
            if self.dirty {
                c.out.get_ref().sync_data()?;
            }
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
        if self.dirty && self.last_sync.elapsed() >= self.fsync_interval {
            self.sync_in_background();
        }
    }

    /// Hands the periodic fsync of what has been written so far to the [`Syncer`]; if it
    /// is still busy with the previous one, the file stays dirty and the next tick retries.
    fn sync_in_background(&mut self) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        if let Err(e) = c.out.flush() {
            tracing::error!(error = %e, "decision log write failed");
            return;
        }
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

    fn finish(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "decision log final flush failed");
        }
        self.syncer.stop();
    }
}

/// The writer thread's state; `run` is the thread's body.
pub struct Writer {
    file: SharedFile,
    /// The file's fsync interval: the longest the thread sleeps without looking at it.
    fsync_interval: Duration,
    /// The batch's lines, serialised before the file is locked.
    batch: Vec<u8>,
    /// Where each line of `batch` ends.
    ends: Vec<usize>,
}

impl Writer {
    /// A writer appending to `file`, waking at least once per the file's fsync interval.
    pub fn new(file: SharedFile) -> Writer {
        let fsync_interval = lock(&file).fsync_interval;
        Writer {
            file,
            fsync_interval,
            batch: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
        }
    }

    /// Serialises a record onto the batch; one that cannot be serialised is reported
    /// and left out (the others are still written).
    fn take(&mut self, record: &DecisionRecord) {
        match push_line(record, &mut self.batch) {
            Ok(()) => self.ends.push(self.batch.len()),
            Err(e) => {
                tracing::error!(error = %e, id = %record.id, "decision record could not be serialised");
            }
        }
    }

    /// Appends the batch and hands it to the OS.
    fn write_batch(&mut self, file: &mut LogFile) -> std::io::Result<()> {
        let mut res = Ok(());
        let mut start = 0;
        for &end in &self.ends {
            res = res.and(file.append(&self.batch[start..end]));
            start = end;
        }
        self.batch.clear();
        self.ends.clear();
        res.and(file.flush_to_os())
    }

    /// The thread body: runs until `Shutdown` or until every sender is gone.
    pub fn run(mut self, rx: Receiver<WriterMsg>) {
        loop {
            let msg = rx.recv_timeout(self.fsync_interval);
            let file = Arc::clone(&self.file);
            match msg {
                Ok(WriterMsg::Record(record)) => {
                    self.take(&record);
                    // Drain what is already queued before one flush to the OS.
                    let mut flushes = Vec::new();
                    let mut stop = false;
                    loop {
                        match rx.try_recv() {
                            Ok(WriterMsg::Record(r)) => self.take(&r),
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
                        file.finish();
                        return;
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
                    lock(&file).finish();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => lock(&file).sync_if_due(),
            }
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
    fn start() -> std::io::Result<Syncer> {
        // Room for one fsync waiting besides the one running; more are refused (and retried
        // on a later tick): there is no point in queueing fsyncs of the same file.
        let (tx, rx) = std::sync::mpsc::sync_channel::<File>(1);
        let thread = std::thread::Builder::new()
            .name("arbiter-audit-sync".into())
            .spawn(move || {
                for file in rx {
                    if let Err(e) = file.sync_data() {
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

/// Log files in a directory, newest first (names sort by start time).
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX) && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    files.sort();
    files.reverse();
    files
}
