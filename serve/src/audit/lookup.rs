//! Finding a record in the log files by its id, with bounded work.
//!
//! Ids are UUID v7: their first 48 bits are the Unix milliseconds at which the request
//! arrived, and file names carry the time the file was opened. A record is written when
//! its request ends, so a record with id time `T` was written at some `w` with
//! `T <= w <= T + LOOKUP_SLACK` (a request that outlives the slack is still found in
//! memory, not on disk once it has left the in-memory index). That picks the files:
//! the one being written at `T` and, when it started before `T + LOOKUP_SLACK`, the next one
//! (a rotation during the request) — at most two, however many files the directory holds.
//!
//! Inside a file, lines are in write order, and a line's id time is at most
//! `LOOKUP_SLACK` before its write time. So a line whose id time is before `T - LOOKUP_SLACK`
//! was written before `T`, as was every line before it: a binary search over byte
//! offsets, reading one line per probe, finds such a line near the window, and the scan
//! starts there. It stops at the first line whose id time is after `T + LOOKUP_SLACK`: that
//! line, and every later one, was written after the record could have been. The work is
//! ~20 probes plus the lines written during about three slacks, and never more than the
//! two files (each at most `audit.max_file_bytes`).
//!
//! Chosen over an index (in memory or on disk): nothing to build at startup from old
//! files, nothing to keep consistent with a crash, and the files stay plain JSON lines.
//!
//! Ids that cannot be in any file are answered at once, without reading: not a UUID v7,
//! a time in the future, or a time whose write window ends before the oldest file began
//! (deleted by retention, or from before the log existed).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::DecisionRecord;
use super::writer::{FILE_PREFIX, FILE_SUFFIX, log_files};

/// How long after its request arrived a record can be written and still be found on
/// disk: longer than the default upstream timeout (120 s) with fallbacks.
pub const LOOKUP_SLACK: Duration = Duration::from_secs(5 * 60);

/// How far an id's time may be ahead of this machine's clock (ids from another
/// gateway's clock, a little ahead) before it is refused as "in the future".
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Below this many bytes between the bounds the binary search stops and the scan begins.
const SEARCH_GRANULE: u64 = 64 * 1024;

/// The longest line prefix read to learn a line's id.
const PREFIX_BYTES: usize = 128;

/// What a lookup will read, decided without reading any file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The id cannot be in the log; the reason, for the 404's message.
    Absent(&'static str),
    /// Read these files (oldest first), for a record whose id time is `millis`.
    Read {
        /// The id's Unix milliseconds.
        millis: u64,
        /// One or two files.
        files: Vec<PathBuf>,
    },
}

/// The Unix milliseconds of a UUID v7, or `None` for anything else.
pub fn id_millis(id: &str) -> Option<u64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.get_version_num() != 7 || id.len() != 36 {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// When a log file was opened, in Unix milliseconds, from its name
/// (`decisions-20261202T065031.123456Z-0000.jsonl`).
pub fn file_start_millis(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    let (stamp, _seq) = rest.rsplit_once('-')?;
    let time = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.fZ").ok()?;
    u64::try_from(time.and_utc().timestamp_millis()).ok()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Which files can hold `id` (see the module docs), listing the directory only.
pub fn plan(dir: &Path, id: &str, now: SystemTime) -> Plan {
    let Some(t) = id_millis(id) else {
        return Plan::Absent("not a decision id (a UUID v7)");
    };
    let now_ms = millis(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    if t > now_ms.saturating_add(millis(CLOCK_SKEW)) {
        return Plan::Absent("its time is in the future");
    }
    let mut files: Vec<(u64, PathBuf)> = log_files(dir)
        .into_iter()
        .filter_map(|p| file_start_millis(&p).map(|s| (s, p)))
        .collect();
    files.sort();
    let slack = millis(LOOKUP_SLACK);
    let Some(&(oldest, _)) = files.first() else {
        return Plan::Absent("the decision log has no files");
    };
    if t.saturating_add(slack) < oldest {
        return Plan::Absent("its time is older than every file of the decision log");
    }
    // The file being written at `t` (or the oldest, for a record written after it began).
    let first = files
        .iter()
        .rposition(|(start, _)| *start <= t)
        .unwrap_or(0);
    let mut chosen = vec![files[first].1.clone()];
    if let Some((start, path)) = files.get(first + 1)
        && *start <= t.saturating_add(slack)
    {
        chosen.push(path.clone());
    }
    Plan::Read {
        millis: t,
        files: chosen,
    }
}

/// Reads the planned files for `id`; the last line with that id wins (a stream's final
/// record follows its `pending` one). Lines that do not parse (a torn tail) are skipped.
pub fn read_planned(id: &str, millis_of_id: u64, files: &[PathBuf]) -> Option<DecisionRecord> {
    let needle = format!("{{\"id\":\"{id}\"");
    let mut found = None;
    for path in files {
        match scan_file(path, &needle, millis_of_id) {
            Ok(Some(record)) => found = Some(record),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot read a decision log file");
            }
        }
    }
    found.filter(|r: &DecisionRecord| r.id == id)
}

/// Finds the record with this id on disk, with the bounded work of [`plan`] and
/// [`read_planned`].
pub fn find_on_disk(dir: &Path, id: &str) -> Option<DecisionRecord> {
    match plan(dir, id, SystemTime::now()) {
        Plan::Absent(_) => None,
        Plan::Read { millis, files } => read_planned(id, millis, &files),
    }
}

/// The window of one file for a record whose id time is `t`.
fn scan_file(path: &Path, needle: &str, t: u64) -> std::io::Result<Option<DecisionRecord>> {
    let slack = millis(LOOKUP_SLACK);
    let mut file = File::open(path)?;
    let start = search_start(&mut file, t.saturating_sub(slack))?;
    file.seek(SeekFrom::Start(start))?;
    let stop_after = t.saturating_add(slack);
    let mut found = None;
    let mut line = String::new();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        if line.starts_with(needle) {
            if let Ok(record) = serde_json::from_str::<DecisionRecord>(line.trim_end()) {
                found = Some(record);
            }
        } else if line_millis(line.as_bytes()).is_some_and(|m| m > stop_after) {
            break;
        }
    }
    Ok(found)
}

/// A byte offset at a line start such that every line before it has an id time before
/// `before` (and so was written before the record sought): a binary search over the file,
/// one line read per probe. Ids are not strictly ordered in the file, so this is the
/// boundary of *some* such line near the window, which is all the scan needs.
fn search_start(file: &mut File, before: u64) -> std::io::Result<u64> {
    let (mut lo, mut hi) = (0u64, file.metadata()?.len());
    while hi - lo > SEARCH_GRANULE {
        let mid = lo + (hi - lo) / 2;
        match line_after(file, mid)? {
            Some((start, m)) if m < before && start < hi => lo = start,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The first whole line starting after `offset`: its start and its id time. Lines whose
/// id cannot be read (torn) are passed over, a few at most.
fn line_after(file: &mut File, offset: u64) -> std::io::Result<Option<(u64, u64)>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::with_capacity(16 * 1024, file.by_ref());
    let mut skipped = Vec::new();
    let mut pos = offset + reader.read_until(b'\n', &mut skipped)? as u64;
    for _ in 0..8 {
        let mut prefix = Vec::with_capacity(PREFIX_BYTES);
        let n = reader
            .by_ref()
            .take(PREFIX_BYTES as u64)
            .read_until(b'\n', &mut prefix)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(m) = line_millis(&prefix) {
            return Ok(Some((pos, m)));
        }
        // Not an id: go to the end of this line and try the next.
        let mut rest = Vec::new();
        let more = if prefix.ends_with(b"\n") {
            0
        } else {
            reader.read_until(b'\n', &mut rest)?
        };
        pos += (n + more) as u64;
    }
    Ok(None)
}

/// The id time of a log line from its first bytes (`{"id":"<uuid>"`: the record's first
/// field), without parsing the JSON.
fn line_millis(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"id\":\"")?;
    let id = std::str::from_utf8(rest.get(..36)?).ok()?;
    id_millis(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_time_of_ids_and_file_names() {
        let id = uuid::Builder::from_unix_timestamp_millis(1_700_000_000_123, &[7; 10])
            .into_uuid()
            .to_string();
        assert_eq!(id_millis(&id), Some(1_700_000_000_123));
        assert_eq!(id_millis("not-an-id"), None);
        assert_eq!(id_millis(&uuid::Uuid::nil().to_string()), None);
        let name = Path::new("/x/decisions-20231114T221320.123456Z-0003.jsonl");
        assert_eq!(file_start_millis(name), Some(1_700_000_000_123));
        assert_eq!(file_start_millis(Path::new("/x/other.jsonl")), None);
    }
}
