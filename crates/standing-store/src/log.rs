//! The segmented log: framing, appending with group commit, recovery and scanning.

use crate::{Backend, Result, SharedBytes, StoreError};
use std::io::{self, Write};

/// Each segment starts with this magic and the sequence number of its first record. Version 2
/// frames carry the record's origin; segments of version 1 (no origin) are still read.
const SEGMENT_MAGIC: &[u8; 8] = b"STNDLOG2";
const SEGMENT_MAGIC_V1: &[u8; 8] = b"STNDLOG1";
const SEGMENT_HEADER: usize = 16;
/// `[payload length: u32][crc32 of payload: u32]`.
const FRAME_HEADER: usize = 8;
/// `[seq: u64][recorded_at: i64]` before the origin (version 2) and the body.
const PAYLOAD_HEADER: usize = 16;
/// The largest record body.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// The longest origin: who sent a record (an API key's id), opaque to the store.
pub const MAX_ORIGIN_BYTES: usize = 255;

/// A segment's frame layout, from its magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// `[seq][recorded_at][body]`.
    V1,
    /// `[seq][recorded_at][origin length: u8][origin][body]`.
    V2,
}

fn segment_version(header: &[u8]) -> Option<Version> {
    match header.get(..8) {
        Some(magic) if magic == SEGMENT_MAGIC => Some(Version::V2),
        Some(magic) if magic == SEGMENT_MAGIC_V1 => Some(Version::V1),
        _ => None,
    }
}
const SNAPSHOT_MAGIC: &[u8; 8] = b"STNDSNP2";

#[derive(Clone, Copy, Debug)]
pub struct LogOptions {
    /// A segment is sealed and a new one started past this size.
    pub segment_bytes: u64,
    /// Snapshots kept; older ones are removed.
    pub keep_snapshots: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 * 1024 * 1024,
            keep_snapshots: 2,
        }
    }
}

/// One record as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub recorded_at: i64,
    /// Who sent the record (empty in segments of version 1).
    pub origin: &'a [u8],
    pub body: &'a [u8],
}

/// One record read back: see [`Log::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub recorded_at: i64,
    pub origin: Vec<u8>,
    pub body: Vec<u8>,
}

/// What opening the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub records: u64,
    /// Bytes cut from the end of the last segment: a write torn by a crash, never acknowledged.
    pub torn_bytes: u64,
    /// Snapshots removed because they covered records the log no longer holds.
    pub stale_snapshots: usize,
}

/// What a compaction removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    pub segments_rewritten: usize,
    pub records_removed: u64,
}

/// Every this many records of a segment, the read index keeps a frame offset.
const INDEX_STRIDE: usize = 64;

/// `(seq, frame offset)` of every [`INDEX_STRIDE`]th frame of a segment, and its end.
type SparseIndex = Vec<(u64, usize)>;

/// An append-only log of records over a [`Backend`].
#[derive(Debug)]
pub struct Log<B: Backend> {
    /// Sealed segments' sparse indexes, `(seq, frame offset)`, built on first read.
    read_index: std::sync::Mutex<std::collections::HashMap<u64, (Version, SparseIndex)>>,
    backend: B,
    options: LogOptions,
    /// The segment appended to, its durable length and its version (one of version 1 is
    /// sealed at the first commit: new frames are of version 2).
    active: u64,
    active_len: u64,
    active_version: Version,
    next_seq: u64,
    /// Frames appended since the last commit.
    pending: Vec<u8>,
    pending_records: u64,
    /// Set when a commit failed: the log refuses further work until it is reopened.
    failed: Option<String>,
}

/// Parses the frames of one segment; stops at the first bad frame and says where and why.
fn frames(
    bytes: &[u8],
    version: Version,
    each: impl FnMut(Record<'_>, usize),
) -> (usize, Option<&'static str>) {
    frames_from(bytes, SEGMENT_HEADER, version, each)
}

/// Parses frames starting at `offset` (a frame boundary).
fn frames_from(
    bytes: &[u8],
    mut offset: usize,
    version: Version,
    mut each: impl FnMut(Record<'_>, usize),
) -> (usize, Option<&'static str>) {
    while offset < bytes.len() {
        if bytes.len() - offset < FRAME_HEADER {
            return (offset, Some("truncated frame header"));
        }
        let length =
            u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap_or_default()) as usize;
        let checksum =
            u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().unwrap_or_default());
        let possible = match version {
            Version::V1 => PAYLOAD_HEADER..=PAYLOAD_HEADER + MAX_RECORD_BYTES,
            Version::V2 => {
                PAYLOAD_HEADER + 1..=PAYLOAD_HEADER + 1 + MAX_ORIGIN_BYTES + MAX_RECORD_BYTES
            }
        };
        if !possible.contains(&length) {
            return (offset, Some("impossible frame length"));
        }
        let end = offset + FRAME_HEADER + length;
        if end > bytes.len() {
            return (offset, Some("truncated frame"));
        }
        let payload = &bytes[offset + FRAME_HEADER..end];
        if crc32fast::hash(payload) != checksum {
            return (offset, Some("checksum mismatch"));
        }
        let seq = u64::from_le_bytes(payload[0..8].try_into().unwrap_or_default());
        let recorded_at = i64::from_le_bytes(payload[8..16].try_into().unwrap_or_default());
        let (origin, body) = match version {
            Version::V1 => (&payload[..0], &payload[PAYLOAD_HEADER..]),
            Version::V2 => {
                let rest = &payload[PAYLOAD_HEADER..];
                let Some((&length, rest)) = rest.split_first() else {
                    return (offset, Some("truncated origin"));
                };
                if rest.len() < usize::from(length) {
                    return (offset, Some("truncated origin"));
                }
                rest.split_at(usize::from(length))
            }
        };
        each(
            Record {
                seq,
                recorded_at,
                origin,
                body,
            },
            offset,
        );
        offset = end;
    }
    (offset, None)
}

fn segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER] {
    let mut header = [0u8; SEGMENT_HEADER];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..].copy_from_slice(&first_seq.to_le_bytes());
    header
}

/// Appends a version 2 frame (`origin` is at most [`MAX_ORIGIN_BYTES`], checked by the caller).
fn frame(buffer: &mut Vec<u8>, seq: u64, recorded_at: i64, origin: &[u8], body: &[u8]) {
    let length = (PAYLOAD_HEADER + 1 + origin.len() + body.len()) as u32;
    let start = buffer.len();
    buffer.extend_from_slice(&length.to_le_bytes());
    buffer.extend_from_slice(&[0; 4]);
    buffer.extend_from_slice(&seq.to_le_bytes());
    buffer.extend_from_slice(&recorded_at.to_le_bytes());
    buffer.push(origin.len() as u8);
    buffer.extend_from_slice(origin);
    buffer.extend_from_slice(body);
    let checksum = crc32fast::hash(&buffer[start + FRAME_HEADER..]);
    buffer[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
}

impl<B: Backend> Log<B> {
    /// Opens the log. The last segment is read whole and a torn tail is cut; sealed segments
    /// were synced before the next one began, so opening checks only their headers (their
    /// frames are checked whenever they are scanned, as replay and verification do).
    pub fn open(mut backend: B, options: LogOptions) -> Result<(Self, Recovery)> {
        let segments = backend.segments()?;
        let mut recovery = Recovery {
            segments: segments.len(),
            ..Recovery::default()
        };
        let (active, active_len, next_seq, active_version) = match segments.last() {
            None => {
                backend.create_segment(0)?;
                backend.append(0, &segment_header(0))?;
                backend.sync(0)?;
                (0, SEGMENT_HEADER as u64, 0, Version::V2)
            }
            Some(&segment) => {
                let bytes = backend.read_segment(segment)?;
                let version = segment_version(&bytes);
                let header_ok = bytes.len() >= SEGMENT_HEADER
                    && version.is_some()
                    && bytes[8..16] == segment.to_le_bytes();
                // A header is synced before any record is written behind it, so a last segment
                // whose header is missing or unreadable and that holds no valid frame was cut
                // by a crash while it was being started, and acknowledged nothing. An empty
                // segment of version 1 is started again as version 2.
                let never_started = (!header_ok
                    && (bytes.len() < SEGMENT_HEADER
                        || frames(&bytes, Version::V2, |_, _| ()).0 == SEGMENT_HEADER))
                    || (header_ok && version == Some(Version::V1) && bytes.len() == SEGMENT_HEADER);
                if never_started {
                    // Created, but its header never made it: start it again.
                    backend.truncate(segment, 0)?;
                    backend.append(segment, &segment_header(segment))?;
                    backend.sync(segment)?;
                    recovery.torn_bytes += bytes.len() as u64;
                    (segment, SEGMENT_HEADER as u64, segment, Version::V2)
                } else if !header_ok {
                    return Err(StoreError::Corrupt {
                        segment,
                        offset: 0,
                        reason: "bad segment header",
                    });
                } else {
                    let mut previous: Option<u64> = None;
                    let mut out_of_order = None;
                    let version = version.unwrap_or(Version::V2);
                    let (end, problem) = frames(&bytes, version, |record, offset| {
                        if previous.is_some_and(|p| record.seq <= p) || record.seq < segment {
                            out_of_order.get_or_insert(offset);
                        }
                        previous = Some(record.seq);
                        recovery.records += 1;
                    });
                    if let Some(offset) = out_of_order {
                        return Err(StoreError::Corrupt {
                            segment,
                            offset: offset as u64,
                            reason: "sequence numbers out of order",
                        });
                    }
                    if problem.is_some() {
                        backend.truncate(segment, end as u64)?;
                        recovery.torn_bytes += (bytes.len() - end) as u64;
                    }
                    (
                        segment,
                        end as u64,
                        previous.map_or(segment, |p| p + 1),
                        version,
                    )
                }
            }
        };
        // A snapshot can only cover records the log holds. One that covers more was taken
        // before a damaged tail was cut; were it kept, it would be restored over different
        // records once the log grew past it again.
        for name in backend.snapshots()? {
            if name > next_seq {
                backend.remove_snapshot(name)?;
                recovery.stale_snapshots += 1;
            }
        }
        for &segment in segments.iter().rev().skip(1) {
            let header = backend.read_segment_header(segment)?;
            if header.len() < SEGMENT_HEADER
                || segment_version(&header).is_none()
                || header[8..16] != segment.to_le_bytes()
            {
                return Err(StoreError::Corrupt {
                    segment,
                    offset: 0,
                    reason: "bad segment header",
                });
            }
        }
        let log = Log {
            read_index: Default::default(),
            backend,
            options,
            active,
            active_len,
            active_version,
            next_seq,
            pending: Vec::new(),
            pending_records: 0,
            failed: None,
        };
        Ok((log, recovery))
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Adds a record to the pending group; nothing is durable until [`Log::commit`].
    /// `origin` says who sent it (at most [`MAX_ORIGIN_BYTES`]); the store does not read it.
    pub fn append(&mut self, recorded_at: i64, origin: &[u8], body: &[u8]) -> Result<u64> {
        if let Some(reason) = &self.failed {
            return Err(StoreError::Failed(reason.clone()));
        }
        if body.len() > MAX_RECORD_BYTES {
            return Err(StoreError::RecordTooLarge(body.len()));
        }
        if origin.len() > MAX_ORIGIN_BYTES {
            return Err(StoreError::OriginTooLong(origin.len()));
        }
        let seq = self.next_seq;
        frame(&mut self.pending, seq, recorded_at, origin, body);
        self.next_seq += 1;
        self.pending_records += 1;
        Ok(seq)
    }

    /// Writes the pending group and makes it durable with one sync: when this returns, every
    /// record appended so far survives a crash. Seals the segment and starts a new one when it
    /// is full.
    pub fn commit(&mut self) -> Result<()> {
        if let Some(reason) = &self.failed {
            return Err(StoreError::Failed(reason.clone()));
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.write_pending() {
            Ok(()) => {
                self.pending.clear();
                self.pending_records = 0;
                Ok(())
            }
            Err(error) => {
                // After a failed write or sync the file's state is unknown: take back what may
                // have reached it (best effort), and refuse all further work. Reopening the
                // log finds what is really durable.
                let _ = self.backend.truncate(self.active, self.active_len);
                self.next_seq -= self.pending_records;
                self.pending.clear();
                self.pending_records = 0;
                self.failed = Some(error.to_string());
                Err(error)
            }
        }
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.active_len > SEGMENT_HEADER as u64
            && (self.active_len + self.pending.len() as u64 > self.options.segment_bytes
                || self.active_version == Version::V1)
        {
            // The header is synced on its own, before any record: a segment whose header is
            // not on disk holds nothing that was acknowledged (see `open`).
            let first_pending = self.next_seq - self.pending_records;
            self.backend.create_segment(first_pending)?;
            self.backend
                .append(first_pending, &segment_header(first_pending))?;
            self.backend.sync(first_pending)?;
            self.active = first_pending;
            self.active_len = SEGMENT_HEADER as u64;
            self.active_version = Version::V2;
        }
        self.backend.append(self.active, &self.pending)?;
        self.backend.sync(self.active)?;
        self.active_len += self.pending.len() as u64;
        Ok(())
    }

    /// Calls `each` for every durable record with `seq >= from`, in order.
    pub fn scan<E: From<StoreError>>(
        &self,
        from: u64,
        mut each: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let segments = self.backend.segments().map_err(StoreError::from)?;
        for (position, &segment) in segments.iter().enumerate() {
            // Skip segments that end before `from`.
            if segments.get(position + 1).is_some_and(|next| *next <= from) {
                continue;
            }
            let bytes = self
                .backend
                .read_segment(segment)
                .map_err(StoreError::from)?;
            let version = segment_version(&bytes).ok_or(StoreError::Corrupt {
                segment,
                offset: 0,
                reason: "bad segment header",
            })?;
            let mut failure = None;
            let (end, problem) = frames(&bytes, version, |record, _| {
                if failure.is_none()
                    && record.seq >= from
                    && let Err(error) = each(record)
                {
                    failure = Some(error);
                }
            });
            if let Some(error) = failure {
                return Err(error);
            }
            if let Some(reason) = problem {
                return Err(StoreError::Corrupt {
                    segment,
                    offset: end as u64,
                    reason,
                }
                .into());
            }
        }
        Ok(())
    }

    /// The durable record with sequence number `seq`: its recorded time, origin and body. Finds
    /// the segment by name, then the frame through a sparse index of the segment built on first
    /// use (the active segment is searched afresh, as it grows).
    pub fn read(&self, seq: u64) -> Result<Option<StoredRecord>> {
        let segments = self.backend.segments()?;
        let Some(&segment) = segments.iter().rev().find(|first| **first <= seq) else {
            return Ok(None);
        };
        let bad_header = StoreError::Corrupt {
            segment,
            offset: 0,
            reason: "bad segment header",
        };
        let (bytes, base, version) = if segment == self.active {
            let bytes = self.backend.read_segment(segment)?;
            let version = segment_version(&bytes).ok_or(bad_header)?;
            (bytes, 0, version)
        } else {
            let mut indexes = self
                .read_index
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let std::collections::hash_map::Entry::Vacant(vacant) = indexes.entry(segment) {
                let bytes = self.backend.read_segment(segment)?;
                let version = segment_version(&bytes).ok_or(bad_header)?;
                let mut index = Vec::new();
                let mut count = 0;
                let (end, problem) = frames(&bytes, version, |record, offset| {
                    if count % INDEX_STRIDE == 0 {
                        index.push((record.seq, offset));
                    }
                    count += 1;
                });
                if let Some(reason) = problem {
                    return Err(StoreError::Corrupt {
                        segment,
                        offset: end as u64,
                        reason,
                    });
                }
                index.push((u64::MAX, end));
                vacant.insert((version, index));
            }
            let (version, index) = &indexes[&segment];
            let position = index.partition_point(|(first, _)| *first <= seq);
            if position == 0 {
                return Ok(None);
            }
            let (start, end) = (
                index[position - 1].1,
                index[position.min(index.len() - 1)].1,
            );
            let window =
                self.backend
                    .read_range(segment, start as u64, end.saturating_sub(start))?;
            // Frame offsets below are relative to the window; pad so they parse from 0.
            let mut padded = vec![0u8; SEGMENT_HEADER];
            padded.extend_from_slice(&window);
            (padded, start, *version)
        };
        let mut found = None;
        let (end, problem) = frames(&bytes, version, |record, _| {
            if record.seq == seq {
                found = Some(StoredRecord {
                    recorded_at: record.recorded_at,
                    origin: record.origin.to_vec(),
                    body: record.body.to_vec(),
                });
            }
        });
        if let (None, Some(reason)) = (&found, problem) {
            return Err(StoreError::Corrupt {
                segment,
                offset: (base + end) as u64,
                reason,
            });
        }
        Ok(found)
    }

    /// Rewrites sealed segments without the records `keep` refuses (retention and purge). The
    /// active segment is left alone; sequence numbers of kept records do not change.
    pub fn compact(&mut self, mut keep: impl FnMut(&Record<'_>) -> bool) -> Result<Compaction> {
        let mut report = Compaction::default();
        for segment in self.backend.segments()? {
            if segment == self.active {
                continue;
            }
            let bytes = self.backend.read_segment(segment)?;
            let version = segment_version(&bytes).ok_or(StoreError::Corrupt {
                segment,
                offset: 0,
                reason: "bad segment header",
            })?;
            // Rewritten segments are of version 2 (an origin of version 1 is empty).
            let mut rewritten = segment_header(segment).to_vec();
            let mut removed = 0;
            let (end, problem) = frames(&bytes, version, |record, _| {
                if keep(&record) {
                    frame(
                        &mut rewritten,
                        record.seq,
                        record.recorded_at,
                        record.origin,
                        record.body,
                    );
                } else {
                    removed += 1;
                }
            });
            if let Some(reason) = problem {
                return Err(StoreError::Corrupt {
                    segment,
                    offset: end as u64,
                    reason,
                });
            }
            if removed > 0 {
                self.backend.replace_segment(segment, &rewritten)?;
                self.read_index
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(&segment);
                report.segments_rewritten += 1;
                report.records_removed += removed;
            }
        }
        Ok(report)
    }

    /// Stores a snapshot of state covering every record with `seq < covers`; `state` streams the
    /// state's bytes. Layout: magic, `covers`, the state, then its CRC-32 and length.
    pub fn put_snapshot(
        &mut self,
        covers: u64,
        state: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        let mut state = Some(state);
        self.backend
            .put_snapshot(covers, &mut |out: &mut dyn Write| {
                out.write_all(SNAPSHOT_MAGIC)?;
                out.write_all(&covers.to_le_bytes())?;
                let mut counted = Checksummed {
                    inner: out,
                    hasher: crc32fast::Hasher::new(),
                    bytes: 0,
                };
                if let Some(state) = state.take() {
                    state(&mut counted)?;
                }
                let (checksum, length) = (counted.hasher.finalize(), counted.bytes);
                out.write_all(&checksum.to_le_bytes())?;
                out.write_all(&length.to_le_bytes())
            })?;
        let snapshots = self.backend.snapshots()?;
        let excess = snapshots
            .len()
            .saturating_sub(self.options.keep_snapshots.max(1));
        for old in &snapshots[..excess] {
            self.backend.remove_snapshot(*old)?;
        }
        Ok(())
    }

    /// Restores from the newest snapshot whose checksum holds and that decodes: `decode` gets
    /// the state in place (mapped, not read) and returns `None` to refuse it. Returns what the
    /// snapshot covers and the decoded value; older snapshots are tried when one fails.
    pub fn latest_snapshot<T>(
        &self,
        mut decode: impl FnMut(u64, &SnapshotState) -> Option<T>,
    ) -> Result<Option<(u64, T)>> {
        for name in self.backend.snapshots()?.into_iter().rev() {
            let bytes = self.backend.map_snapshot(name)?;
            let all = (*bytes).as_ref();
            // magic, covers, state, then the state's CRC-32 and length.
            if all.len() < 28 || &all[..8] != SNAPSHOT_MAGIC {
                continue;
            }
            let covers = u64::from_le_bytes(all[8..16].try_into().unwrap_or_default());
            let length = u64::from_le_bytes(all[all.len() - 8..].try_into().unwrap_or_default());
            let stored = u32::from_le_bytes(
                all[all.len() - 12..all.len() - 8]
                    .try_into()
                    .unwrap_or_default(),
            );
            if covers > self.next_seq || length != (all.len() - 28) as u64 {
                continue;
            }
            let range = 16..all.len() - 12;
            if parallel_crc(&all[range.clone()]) != stored {
                continue;
            }
            let state = SnapshotState { bytes, range };
            if let Some(value) = decode(covers, &state) {
                return Ok(Some((covers, value)));
            }
        }
        Ok(None)
    }
}

/// A snapshot's state in place: the snapshot's bytes and where the state lies in them.
pub struct SnapshotState {
    pub bytes: SharedBytes,
    pub range: std::ops::Range<usize>,
}

impl SnapshotState {
    pub fn as_slice(&self) -> &[u8] {
        &(*self.bytes).as_ref()[self.range.clone()]
    }
}

impl std::fmt::Debug for SnapshotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotState")
            .field("range", &self.range)
            .finish()
    }
}

/// The CRC-32 of `bytes`, computed in pieces on every core and combined.
fn parallel_crc(bytes: &[u8]) -> u32 {
    const PIECE_AT_LEAST: usize = 64 << 20;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces = threads.min(bytes.len() / PIECE_AT_LEAST).max(1);
    if pieces == 1 {
        return crc32fast::hash(bytes);
    }
    let size = bytes.len().div_ceil(pieces);
    let hashers: Vec<crc32fast::Hasher> = std::thread::scope(|scope| {
        let handles: Vec<_> = bytes
            .chunks(size)
            .map(|piece| {
                scope.spawn(move || {
                    let mut hasher = crc32fast::Hasher::new();
                    hasher.update(piece);
                    hasher
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| crc32fast::Hasher::new()))
            .collect()
    });
    let mut hashers = hashers.into_iter();
    let mut total = hashers.next().unwrap_or_default();
    for hasher in hashers {
        total.combine(&hasher);
    }
    total.finalize()
}

/// Counts and checksums what passes through to `inner`.
struct Checksummed<'a> {
    inner: &'a mut dyn Write,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl Write for Checksummed<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.hasher.update(&buffer[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checksum_computed_in_pieces_equals_the_checksum_in_one_go() {
        // Large enough to be split (two pieces of at least 64 MiB), odd-sized on purpose.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let bytes: Vec<u8> = (0..(130 << 20) + 7)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(super::parallel_crc(&bytes), crc32fast::hash(&bytes));
        assert_eq!(
            super::parallel_crc(&bytes[..1000]),
            crc32fast::hash(&bytes[..1000])
        );
    }
}
