//! The audit log: every read of a subject's data, every decision and every refused request,
//! as a hash chain. Each line of `audit/audit.jsonl` is a JSON record carrying the SHA-256 of
//! the line before it (`prev`) and its own (`hash`, over `prev` and the record without `hash`),
//! so an edited, dropped or reordered line breaks the chain. `audit/HEAD` holds the count and
//! the last hash as of the last sync, so a cut tail is found too; publish the head elsewhere to
//! anchor it against someone who can rewrite both files.
//!
//! Records are written as requests are answered and synced in groups (every 5 ms while
//! serving, and at shutdown; the head at most once a second): a crash can lose the last
//! moments' records, never reorder or alter the ones before.

use serde::Serialize;
use sha2::{Digest, Sha256};
use standing_core::Timestamp;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file, when the head was last written and how many records it names, and the file's
/// length (the head names it too).
type Written = (File, Option<(std::time::Instant, u64)>, u64);

/// The hash before the first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a request was about, for its audit record.
#[derive(Clone, Copy, Debug)]
pub struct Asked<'r> {
    /// What was asked for: `score`, `decision`, `report`, `dispute.open`, …
    pub action: &'static str,
    pub subject: Option<&'r str>,
    pub purpose: Option<&'r str>,
}

impl Asked<'_> {
    /// A request about no subject and for no purpose.
    pub fn action(action: &'static str) -> Asked<'static> {
        Asked {
            action,
            subject: None,
            purpose: None,
        }
    }
}

/// What one audit record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When (the clock of the node that answered; RFC 3339 in the file).
    #[serde(with = "crate::instant")]
    pub at: Timestamp,
    /// The key id, or `-` when the request carried no known key.
    pub key: String,
    pub role: String,
    pub purpose: Option<String>,
    /// `score`, `decision`, `explanation`, or `refused:<code>`.
    pub action: String,
    pub subject: Option<String>,
    /// What was returned, in short (a score and grade, a verdict and decision id, …).
    pub answer: String,
}

/// An audit record as the file holds it, read back: what was recorded, its place in the chain
/// (`seq`), and the hashes that chain it (`prev`, `hash`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev: String,
    pub hash: String,
}

/// A record as written, before its hash: the same fields in the same order as [`AuditRecord`].
#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    #[serde(flatten)]
    entry: &'a AuditEntry,
    prev: &'a str,
}

fn chain(prev: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    crate::keys::hex(&hasher.finalize())
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The chain is broken: the first line where it does not hold, and how.
    #[error("audit/audit.jsonl:{line}: {reason}")]
    Broken { line: u64, reason: String },
}

/// The chain's end and the records not yet written: what a request touches, briefly.
struct Inner {
    /// Records since the last sync: a request costs no system call, and a sync writes and
    /// flushes them outside this lock, so requests never wait for the disk.
    pending: Vec<u8>,
    /// The buffer the last sync wrote, emptied, to become `pending` at the next: a request
    /// never pays for regrowing the buffer.
    spare: Vec<u8>,
    count: u64,
    last: String,
    /// Set when a sync failed: records taken for it may be lost, so nothing more is recorded
    /// (and so nothing more is answered) until the server is restarted.
    failed: Option<String>,
    /// The latest records about a subject, as written, in a ring: for subject pages. The file
    /// is the record; this keeps the last [`RECENT`] at a constant cost per request (one copy
    /// of the line), and is searched by the subject's hash.
    recent: Vec<(u64, Box<[u8]>)>,
    /// Where the next record goes in `recent`.
    next_recent: usize,
}

/// Records about subjects kept in memory for [`Audit::recent`].
const RECENT: usize = 100_000;

fn subject_hash(subject: &str) -> u64 {
    standing_core::StableHasher::new()
        .write_str(subject)
        .finish()
}

/// Whether a record's action gave something away: everything but intake and refusals.
pub fn is_answer(action: &str) -> bool {
    action != "intake" && !action.starts_with("refused:")
}

/// When the last answer among the first `length` bytes of the audit file was given: read from
/// the file's last 64 KiB; when they hold no answer but the file is longer, the last record's
/// time (an answer may lie before it).
fn last_answer_at(path: &Path, length: u64) -> Option<Timestamp> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let tail = length.min(64 * 1024);
    file.seek(SeekFrom::Start(length - tail)).ok()?;
    let mut bytes = vec![0; tail as usize];
    file.read_exact(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.trim_end_matches('\n').rsplit('\n');
    let at = |line: &str| -> Option<(String, Timestamp)> {
        let record: serde_json::Value = serde_json::from_str(line).ok()?;
        let at = Timestamp::parse(record["at"].as_str()?).ok()?;
        Some((record["action"].as_str()?.to_owned(), at))
    };
    let last = lines.next().and_then(at)?;
    if is_answer(&last.0) {
        return Some(last.1);
    }
    for line in lines {
        if let Some((action, time)) = at(line)
            && is_answer(&action)
        {
            return Some(time);
        }
    }
    (length > tail).then_some(last.1)
}

/// The audit log of a data directory, open for appending.
pub struct Audit {
    /// When the latest answer was recorded (Unix seconds): the latest instant at which this data
    /// directory answered anything, since every answer is recorded first.
    latest: std::sync::atomic::AtomicI64,
    inner: Mutex<Inner>,
    /// The file, held by one sync at a time (which keeps the writes in chain order), and when
    /// the head was last written and how many records it names.
    file: Mutex<Written>,
    directory: PathBuf,
}

/// How often the head is rewritten while records keep coming (it is also written at the first
/// sync and by [`Audit::sync_head`]).
const HEAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads and checks the chain; `cut_torn` drops an incomplete last line (a write cut by a
/// crash) instead of reporting it. Returns the count, the last hash and the length of the good
/// part of the file.
fn check(path: &Path, cut_torn: bool) -> Result<(u64, String, u64), AuditError> {
    check_from(path, cut_torn, (0, GENESIS.to_owned(), 0))
}

/// [`check`] of the records after a point known good: `(count, last hash, byte offset)`.
fn check_from(
    path: &Path,
    cut_torn: bool,
    from: (u64, String, u64),
) -> Result<(u64, String, u64), AuditError> {
    use std::io::{Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((0, GENESIS.to_owned(), 0));
        }
        Err(error) => return Err(io(path)(error)),
    };
    file.seek(SeekFrom::Start(from.2)).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let (mut count, mut last, mut good) = from;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if read == 0 {
            break;
        }
        let number = count + 1;
        let torn = !line.ends_with(b"\n");
        let broken = |reason: String| AuditError::Broken {
            line: number,
            reason,
        };
        let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
            serde_json::from_slice(line.trim_ascii_end());
        let mut record = match parsed {
            Ok(record) => record,
            Err(_) if torn && cut_torn => break,
            Err(error) => return Err(broken(format!("not a record: {error}"))),
        };
        let Some(serde_json::Value::String(hash)) = record.remove("hash") else {
            return Err(broken("no hash".into()));
        };
        if record.get("seq").and_then(|s| s.as_u64()) != Some(number) {
            return Err(broken(format!(
                "record {number} expected here; a record was dropped, added or moved"
            )));
        }
        if record.get("prev").and_then(|p| p.as_str()) != Some(last.as_str()) {
            return Err(broken(
                "does not follow the record before it (dropped or reordered)".into(),
            ));
        }
        let body = serde_json::to_vec(&record)
            .map_err(|error| broken(format!("cannot be written again to check it: {error}")))?;
        if chain(&last, &body) != hash {
            return Err(broken(
                "its hash does not match its content (edited)".into(),
            ));
        }
        count = number;
        last = hash;
        good += read as u64;
    }
    Ok((count, last, good))
}

/// The head written at each sync: `count hash`, and the byte length of the log up to that
/// record (absent in heads written before it was kept).
fn read_head(directory: &Path) -> Result<Option<(u64, String, Option<u64>)>, AuditError> {
    let path = directory.join("HEAD");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut parts = text.split_whitespace();
            let count = parts.next().and_then(|c| c.parse().ok());
            let hash = parts.next().map(str::to_owned);
            let offset = parts.next().and_then(|o| o.parse().ok());
            Ok(count.zip(hash).map(|(count, hash)| (count, hash, offset)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io(&path)(error)),
    }
}

/// Checks the audit log of `data_directory` whole: the chain, then the head. Returns the
/// number of records and the last hash.
pub fn verify(data_directory: &Path) -> Result<(u64, String), AuditError> {
    let directory = data_directory.join("audit");
    let (count, last, _) = check(&directory.join("audit.jsonl"), false)?;
    if let Some((head_count, head_hash, _)) = read_head(&directory)? {
        if count < head_count {
            return Err(AuditError::Broken {
                line: count + 1,
                reason: format!(
                    "the log ends after {count} records but {head_count} were synced (cut)"
                ),
            });
        }
        if count == head_count && last != head_hash {
            return Err(AuditError::Broken {
                line: count,
                reason: "the last synced record is not the one the head names".into(),
            });
        }
    }
    Ok((count, last))
}

impl Audit {
    /// Opens the audit log of `data_directory` for appending, after checking the chain from
    /// the head on (a torn last line from a crash is cut): the records up to the head were
    /// checked when they were written, and `standing audit verify` checks them all. Without a
    /// head that names its place, the whole chain is checked.
    pub fn open(data_directory: &Path) -> Result<Audit, AuditError> {
        let directory = data_directory.join("audit");
        std::fs::create_dir_all(&directory).map_err(io(&directory))?;
        let path = directory.join("audit.jsonl");
        let length = std::fs::metadata(&path).map_or(0, |m| m.len());
        let (count, last, good) = match read_head(&directory)? {
            Some((count, hash, Some(offset))) if offset <= length => {
                check_from(&path, true, (count, hash, offset))?
            }
            _ => check(&path, true)?,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(good).map_err(io(&path))?;
        let latest = last_answer_at(&path, good).map_or(i64::MIN, |at| at.0);
        Ok(Audit {
            latest: std::sync::atomic::AtomicI64::new(latest),
            inner: Mutex::new(Inner {
                pending: Vec::new(),
                spare: Vec::new(),
                count,
                last,
                failed: None,
                recent: Vec::new(),
                next_recent: 0,
            }),
            file: Mutex::new((file, None, good)),
            directory,
        })
    }

    /// The latest instant at which an answer was recorded (every answer is): an import of
    /// history may not record anything before it, or answers already given would change.
    pub fn latest(&self) -> Option<Timestamp> {
        let at = self.latest.load(std::sync::atomic::Ordering::Relaxed);
        (at != i64::MIN).then_some(Timestamp(at))
    }

    /// Notes that an answer was recorded at `at` (see [`Audit::latest`]).
    pub fn note(&self, at: Timestamp) {
        self.latest
            .fetch_max(at.0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Appends a record (durable at the next [`Audit::sync`]).
    pub fn record(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = &inner.failed {
            return Err(AuditError::Io {
                path: self.directory.join("audit.jsonl").display().to_string(),
                source: std::io::Error::other(format!("an earlier sync failed: {reason}")),
            });
        }
        let inner = &mut *inner;
        let seq = inner.count + 1;
        let line = Line {
            seq,
            entry,
            prev: &inner.last,
        };
        // Written straight into the pending buffer; the hash covers the record as written.
        let pending = &mut inner.pending;
        let start = pending.len();
        if let Err(error) = serde_json::to_writer(&mut *pending, &line) {
            pending.truncate(start);
            return Err(AuditError::Io {
                path: self.directory.join("audit.jsonl").display().to_string(),
                source: std::io::Error::other(error),
            });
        }
        let hash = chain(&inner.last, &pending[start..]);
        pending.pop(); // the closing brace: the hash goes last
        pending.extend_from_slice(b",\"hash\":\"");
        pending.extend_from_slice(hash.as_bytes());
        pending.extend_from_slice(b"\"}\n");
        let written = start..pending.len();
        inner.count = seq;
        inner.last = hash;
        if let Some(subject) = &entry.subject {
            let record = (subject_hash(subject), inner.pending[written].into());
            let slot = inner.next_recent;
            if slot == inner.recent.len() {
                inner.recent.push(record);
            } else {
                inner.recent[slot] = record;
            }
            inner.next_recent = (slot + 1) % RECENT;
        }
        Ok(())
    }

    /// Makes every record so far durable and writes the head. A failure stops all further
    /// recording.
    pub fn sync(&self) -> Result<(), AuditError> {
        self.sync_with(false)
    }

    /// [`Audit::sync`], and the head written whatever its age (at shutdown).
    pub fn sync_head(&self) -> Result<(), AuditError> {
        self.sync_with(true)
    }

    fn sync_with(&self, head: bool) -> Result<(), AuditError> {
        let result = self.write_pending(head);
        if let Err(error) = &result {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.failed.get_or_insert_with(|| error.to_string());
        }
        result
    }

    fn write_pending(&self, force_head: bool) -> Result<(), AuditError> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let (file, head, length) = &mut *guard;
        let (pending, count, last) = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let spare = std::mem::take(&mut inner.spare);
            (
                std::mem::replace(&mut inner.pending, spare),
                inner.count,
                inner.last.clone(),
            )
        };
        let path = self.directory.join("audit.jsonl");
        if !pending.is_empty() {
            file.write_all(&pending).map_err(io(&path))?;
            file.sync_data().map_err(io(&path))?;
            *length += pending.len() as u64;
        }
        let mut emptied = pending;
        emptied.clear();
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).spare = emptied;
        // The head: at the first sync, when asked, and at most every HEAD_EVERY otherwise.
        let stale = head.as_ref().is_none_or(|(_, named)| *named < count);
        let due = force_head
            || head
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= HEAD_EVERY);
        if !(stale && due) || count == 0 {
            return Ok(());
        }
        *head = Some((std::time::Instant::now(), count));
        let head_path = self.directory.join("HEAD");
        let temporary = self.directory.join("HEAD.tmp");
        std::fs::write(&temporary, format!("{count} {last} {length}\n")).map_err(io(&temporary))?;
        File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(io(&temporary))?;
        std::fs::rename(&temporary, &head_path).map_err(io(&head_path))?;
        Ok(())
    }

    /// The latest records (at most `limit`) about `subject` since the server started, newest
    /// first, each with its sequence number.
    pub fn recent(&self, subject: &str, limit: usize) -> Vec<AuditRecord> {
        let hash = subject_hash(subject);
        let lines: Vec<Box<[u8]>> = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let (newer, older) = inner.recent.split_at(inner.next_recent);
            newer
                .iter()
                .rev()
                .chain(older.iter().rev())
                .filter(|(h, _)| *h == hash)
                .map(|(_, line)| line.clone())
                .take(limit * 2)
                .collect()
        };
        lines
            .iter()
            .filter_map(|line| serde_json::from_slice::<AuditRecord>(line).ok())
            .filter(|record| record.entry.subject.as_deref() == Some(subject))
            .take(limit)
            .collect()
    }

    /// Every record about `subject` at or after `since` (RFC 3339, compared as text), oldest
    /// first, read from the file after a sync: for access reports. Reads the whole file.
    pub fn about(&self, subject: &str, since: Timestamp) -> Result<Vec<AuditRecord>, AuditError> {
        self.sync()?;
        let path = self.directory.join("audit.jsonl");
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(&path)(error)),
        };
        let needle = format!("\"subject\":{}", serde_json::Value::from(subject));
        let mut found = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(io(&path))?;
            if !line.contains(&needle) {
                continue;
            }
            let Ok(record) = serde_json::from_str::<AuditRecord>(&line) else {
                continue;
            };
            if record.entry.subject.as_deref() == Some(subject) && record.entry.at >= since {
                found.push(record);
            }
        }
        Ok(found)
    }

    /// Records so far.
    pub fn count(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).count
    }
}
