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
//! of a second's records can take milliseconds, and the writer must not stop writing (and,
//! under `written`, acknowledging) meanwhile.
//!
//! With `audit.durability = "written"` or `"synced"` a record may carry an
//! acknowledgement: the writer answers it once the batch holding the record has been
//! handed to the OS (and, for `synced`, fsynced), and the handler sends its response only
//! then. The writer does not wait [`BATCH_WINDOW`] between batches in those modes, since
//! every waiting response would pay for it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::record::DecisionRecord;
use crate::config::Durability;

/// Answers a record's acknowledgement: `Ok` once it is written (and fsynced, for
/// `synced`), or the error that kept it from the file.
pub type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// A message to the writer thread.
#[derive(Debug)]
pub enum WriterMsg {
    /// Append a record; answer the acknowledgement, if any, once it is durable.
    Record(std::sync::Arc<DecisionRecord>, Option<Ack>),
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

struct Current {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
}

/// The writer's state; `run` is the thread's body.
pub struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    fsync_interval: Duration,
    seq: u32,
    current: Option<Current>,
    dirty: bool,
    last_sync: Instant,
    /// Runs the periodic fsyncs.
    syncer: Syncer,
    /// The line being serialised, reused between records.
    line: Vec<u8>,
    /// Wait [`BATCH_WINDOW`] between batches (only when no response waits for the writer).
    batch_window: Option<Duration>,
    /// fsync a batch that holds an acknowledged record before answering it.
    sync_acked: bool,
    /// Acknowledgements of the batch being written.
    acks: Vec<Ack>,
}

impl Writer {
    /// Prepares the directory (created if missing) and opens the first file.
    pub fn open(
        dir: &Path,
        max_file_bytes: u64,
        fsync_interval: Duration,
        durability: Durability,
    ) -> std::io::Result<Writer> {
        std::fs::create_dir_all(dir)?;
        let mut w = Writer {
            dir: dir.to_path_buf(),
            max_file_bytes,
            fsync_interval,
            seq: 0,
            current: None,
            dirty: false,
            last_sync: Instant::now(),
            syncer: Syncer::start()?,
            line: Vec::with_capacity(16 * 1024),
            batch_window: (durability == Durability::Queued).then_some(BATCH_WINDOW),
            sync_acked: durability == Durability::Synced,
            acks: Vec::new(),
        };
        w.rotate()?;
        Ok(w)
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

    fn write(&mut self, record: &DecisionRecord) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        let len = self.line.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.bytes > 0 && c.bytes + len > self.max_file_bytes)
        {
            self.rotate()?;
        }
        if let Some(c) = self.current.as_mut() {
            c.out.write_all(&self.line)?;
            c.bytes += len;
            self.dirty = true;
        }
        Ok(())
    }

    fn flush_to_os(&mut self) -> std::io::Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.out.flush()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
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

    /// The thread body: runs until `Shutdown` or until every sender is gone.
    pub fn run(mut self, rx: Receiver<WriterMsg>) {
        loop {
            let msg = rx.recv_timeout(self.fsync_interval);
            let result = match msg {
                Ok(WriterMsg::Record(record, ack)) => {
                    let mut res = self.write(&record);
                    self.acks.extend(ack);
                    // Drain what is already queued before one flush to the OS.
                    let mut stop = false;
                    loop {
                        match rx.try_recv() {
                            Ok(WriterMsg::Record(r, ack)) => {
                                res = res.and(self.write(&r));
                                self.acks.extend(ack);
                            }
                            Ok(WriterMsg::Flush(ack)) => {
                                res = res.and(self.sync());
                                let _ = ack.send(());
                            }
                            Ok(WriterMsg::Shutdown) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    res = res.and(self.flush_to_os());
                    if self.sync_acked && !self.acks.is_empty() {
                        res = res.and(self.sync());
                    }
                    for ack in self.acks.drain(..) {
                        let _ = ack.send(res.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                    }
                    if stop {
                        self.finish();
                        return;
                    }
                    if let Some(window) = self.batch_window {
                        std::thread::sleep(window);
                    }
                    res
                }
                Ok(WriterMsg::Flush(ack)) => {
                    let res = self.sync();
                    let _ = ack.send(());
                    res
                }
                Ok(WriterMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => Ok(()),
            };
            if let Err(e) = result {
                let path = self.current.as_ref().map(|c| c.path.display().to_string());
                tracing::error!(error = %e, file = ?path, "decision log write failed");
            }
            if self.dirty && self.last_sync.elapsed() >= self.fsync_interval {
                self.sync_in_background();
            }
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
