//! The engine's state as bytes and back, so a restart does not replay the whole log.
//!
//! Little-endian, length-prefixed sections in a fixed order, written and read as a stream so a
//! snapshot never sits whole in memory beside the engine. Every read is checked; a snapshot that
//! does not decode whole is refused (the caller then replays the log instead).

use crate::intern::Interner;
use crate::network::is_relation;
use crate::state::{Engine, Entry, EntryKind};
use standing_core::Timestamp;
use standing_rules::Model;
use std::io::{self, Read, Write};
use std::sync::Arc;
use thin_vec::ThinVec;

const MAGIC: &[u8; 8] = b"STENG004";

/// Why a snapshot could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not an engine snapshot, or one of another format version.
    Format,
    /// Taken under another model version.
    ModelMismatch { snapshot: String, model: String },
    /// Ends early or holds an impossible value.
    Damaged(&'static str),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Format => f.write_str("not an engine snapshot of this format"),
            SnapshotError::ModelMismatch { snapshot, model } => {
                write!(f, "snapshot taken under model {snapshot}, not {model}")
            }
            SnapshotError::Damaged(what) => write!(f, "snapshot damaged: {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// Bytes of one encoded entry.
const ENTRY_BYTES: usize = 47;
/// Upper bound on what a count may make us allocate before the bytes behind it are read.
const PREALLOCATE_AT_MOST: usize = 1 << 20;

impl From<io::Error> for SnapshotError {
    fn from(_: io::Error) -> Self {
        SnapshotError::Damaged("ends early or cannot be read")
    }
}

/// Buffers small writes into large ones for the stream.
struct Writer<'w> {
    out: &'w mut dyn Write,
    buffer: Vec<u8>,
}

impl Writer<'_> {
    fn reserve(&mut self, count: usize) -> io::Result<()> {
        if self.buffer.len() + count > self.buffer.capacity() {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > 1 << 16 {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
            return self.out.write_all(bytes);
        }
        self.reserve(bytes.len())?;
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }
    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.put(&value.to_le_bytes())
    }
    fn u32(&mut self, value: u32) -> io::Result<()> {
        self.put(&value.to_le_bytes())
    }
    fn bytes(&mut self, value: &[u8]) -> io::Result<()> {
        self.u64(value.len() as u64)?;
        self.put(value)
    }
    fn names(&mut self, interner: &Interner) -> io::Result<()> {
        let (arena, starts) = interner.parts();
        self.bytes(arena)?;
        self.u64(starts.len() as u64)?;
        for start in starts {
            self.u32(*start)?;
        }
        Ok(())
    }
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.out.flush()
    }
}

/// Reads the stream in large blocks and hands out checked pieces.
struct Reader<'r> {
    input: &'r mut (dyn Read + Send),
    buffer: Vec<u8>,
}

impl Reader<'_> {
    /// The next `count` bytes. Reads exactly what is asked, never ahead: the stream goes on past
    /// the state (the store's trailer follows).
    fn take(&mut self, count: usize) -> Result<&[u8], SnapshotError> {
        self.buffer.resize(count, 0);
        self.input.read_exact(&mut self.buffer[..count])?;
        Ok(&self.buffer[..count])
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    /// A length-prefixed byte string, read in pieces so a damaged length cannot make us
    /// allocate more than the stream holds.
    fn bytes(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let length = self.u64()? as usize;
        let mut bytes = Vec::with_capacity(length.min(PREALLOCATE_AT_MOST));
        let mut left = length;
        while left > 0 {
            let piece = left.min(1 << 20);
            bytes.extend_from_slice(self.take(piece)?);
            left -= piece;
        }
        Ok(bytes)
    }
    fn u32s(&mut self) -> Result<Vec<u32>, SnapshotError> {
        let count = self.u64()? as usize;
        let mut values = Vec::with_capacity(count.min(PREALLOCATE_AT_MOST));
        let mut left = count;
        while left > 0 {
            let piece = left.min(1 << 18);
            values.extend(
                self.take(piece * 4)?
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            left -= piece;
        }
        Ok(values)
    }
}

fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Contribution => 0,
        EntryKind::Close => 1,
        EntryKind::ListEnter => 2,
        EntryKind::ListLeave => 3,
        EntryKind::RelationAdd => 4,
        EntryKind::RelationRemove => 5,
    }
}

fn kind_from(code: u8) -> Result<EntryKind, SnapshotError> {
    Ok(match code {
        0 => EntryKind::Contribution,
        1 => EntryKind::Close,
        2 => EntryKind::ListEnter,
        3 => EntryKind::ListLeave,
        4 => EntryKind::RelationAdd,
        5 => EntryKind::RelationRemove,
        _ => return Err(SnapshotError::Damaged("unknown entry kind")),
    })
}

fn encode_entry(entry: &Entry, out: &mut [u8]) {
    out[0..8].copy_from_slice(&entry.occurred_at.to_le_bytes());
    out[8..16].copy_from_slice(&entry.recorded_at.to_le_bytes());
    out[16..24].copy_from_slice(&entry.retracted_at.to_le_bytes());
    out[24..32].copy_from_slice(&entry.points.to_bits().to_le_bytes());
    out[32..40].copy_from_slice(&entry.key.to_le_bytes());
    out[40..44].copy_from_slice(&entry.event.to_le_bytes());
    out[44..46].copy_from_slice(&entry.index.to_le_bytes());
    out[46] = kind_code(entry.kind);
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, SnapshotError> {
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    Ok(Entry {
        occurred_at: u64_at(0) as i64,
        recorded_at: u64_at(8) as i64,
        retracted_at: u64_at(16) as i64,
        points: f64::from_bits(u64_at(24)),
        key: u64_at(32),
        event: u32::from_le_bytes(bytes[40..44].try_into().unwrap_or_default()),
        index: u16::from_le_bytes([bytes[44], bytes[45]]),
        kind: kind_from(bytes[46])?,
    })
}

/// Entries decoded per read: bounds what a damaged count can make us allocate up front.
const ENTRIES_PER_PIECE: usize = 4096;

type SubjectState = (Vec<f64>, Vec<ThinVec<Entry>>);

/// Decodes the scores and entries of `subjects` subjects from the stream.
fn decode_entries(
    model: &Model,
    reader: &mut Reader<'_>,
    subjects: usize,
    events: usize,
) -> Result<SubjectState, SnapshotError> {
    let mut scores = Vec::with_capacity(subjects.min(PREALLOCATE_AT_MOST * 16));
    let mut all = Vec::with_capacity(subjects.min(PREALLOCATE_AT_MOST * 16));
    for _ in 0..subjects {
        let score = f64::from_bits(reader.u64()?);
        if !score.is_finite() {
            return Err(SnapshotError::Damaged("a score is not a number"));
        }
        scores.push(score);
        let length = reader.u32()? as usize;
        // The count is not trusted before the bytes behind it have been read: a damaged count
        // must end in an error at the end of the stream, not in a giant allocation.
        let mut entries = ThinVec::with_capacity(length.min(ENTRIES_PER_PIECE));
        let mut left = length;
        while left > 0 {
            let piece = left.min(ENTRIES_PER_PIECE);
            for encoded in reader.take(piece * ENTRY_BYTES)?.chunks_exact(ENTRY_BYTES) {
                let entry = decode_entry(encoded)?;
                let limit = match entry.kind {
                    EntryKind::Contribution | EntryKind::Close => model.rules.len(),
                    EntryKind::ListEnter | EntryKind::ListLeave => model.lists.len(),
                    EntryKind::RelationAdd | EntryKind::RelationRemove => model.network.kinds.len(),
                };
                let relation = is_relation(&entry);
                let weight_ok = !relation
                    || (entry.points.fract() == 0.0
                        && entry.points >= 0.0
                        && entry.points <= f64::from(u16::MAX)
                        && standing_graph::Weight::from_units(entry.points as u16).is_some());
                if entry.index as usize >= limit
                    || entry.event as usize >= events
                    || (relation && entry.key >= subjects as u64)
                    || !weight_ok
                {
                    return Err(SnapshotError::Damaged("an entry refers to nothing"));
                }
                entries.push(entry);
            }
            left -= piece;
        }
        all.push(entries);
    }
    Ok((scores, all))
}

impl Engine {
    /// The whole state as bytes: decoding them under the same model gives an engine equal to
    /// this one in every answer.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a vector cannot fail.
        let _ = self.write_snapshot(&mut bytes);
        bytes
    }

    /// Streams the state to `out` (see [`Engine::encode_snapshot`]).
    pub fn write_snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = Writer {
            out,
            buffer: Vec::with_capacity(1 << 20),
        };
        writer.put(MAGIC)?;
        writer.bytes(self.version_label.as_bytes())?;
        writer.u64(self.clock.0 as u64)?;
        writer.names(&self.sources)?;
        writer.names(&self.subjects)?;
        writer.names(&self.events)?;
        writer.u64(self.event_subjects.len() as u64)?;
        for subject in &self.event_subjects {
            writer.u32(*subject)?;
        }
        writer.u64(self.entries.len() as u64)?;
        let mut encoded = vec![0u8; ENTRY_BYTES];
        for (entries, score) in self.entries.iter().zip(&self.scores) {
            writer.u64(score.to_bits())?;
            writer.u32(entries.len() as u32)?;
            for entry in entries.iter() {
                encode_entry(entry, &mut encoded);
                writer.put(&encoded)?;
            }
        }
        writer.finish()
    }

    /// Rebuilds an engine from [`Engine::encode_snapshot`]'s bytes, under `model`.
    pub fn decode_snapshot(model: Arc<Model>, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let mut input = bytes;
        let engine = Engine::read_snapshot(model, &mut input)?;
        if !input.is_empty() {
            return Err(SnapshotError::Damaged("trailing bytes"));
        }
        Ok(engine)
    }

    /// Reads a snapshot from a stream, consuming exactly its bytes. The subject index is built
    /// on one core while the entries are decoded on the other.
    pub fn read_snapshot(
        model: Arc<Model>,
        input: &mut (dyn Read + Send),
    ) -> Result<Engine, SnapshotError> {
        // Read the fixed part byte-exact, so nothing past the state's end is consumed.
        let mut magic = [0u8; 8];
        input
            .read_exact(&mut magic)
            .map_err(|_| SnapshotError::Format)?;
        if &magic != MAGIC {
            return Err(SnapshotError::Format);
        }
        let mut reader = Reader {
            input,
            buffer: Vec::new(),
        };
        let label = String::from_utf8_lossy(&reader.bytes()?).into_owned();
        if label != model.version_label() {
            return Err(SnapshotError::ModelMismatch {
                snapshot: label,
                model: model.version_label(),
            });
        }
        let mut engine = Engine::new(model.clone(), Timestamp(reader.u64()? as i64));
        let names = |reader: &mut Reader<'_>, index_now: bool| -> Result<Interner, SnapshotError> {
            let arena = reader.bytes()?;
            let starts = reader.u32s()?;
            Interner::from_parts(arena, starts, index_now)
                .ok_or(SnapshotError::Damaged("names laid out wrong"))
        };
        engine.sources = names(&mut reader, true)?;
        let subject_arena = reader.bytes()?;
        let subject_starts = reader.u32s()?;
        // Event ids are needed only for intake: their index is built on the first apply.
        engine.events = names(&mut reader, false)?;
        engine.event_subjects = reader.u32s()?;
        let subjects = reader.u64()? as usize;
        let events = engine.events.len();
        let (index, entries) = rayon::join(
            || {
                Interner::from_parts(subject_arena, subject_starts, true)
                    .ok_or(SnapshotError::Damaged("names laid out wrong"))
            },
            || decode_entries(&model, &mut reader, subjects, events),
        );
        engine.subjects = index?;
        (engine.scores, engine.entries) = entries?;
        if engine.entries.len() != engine.subjects.len()
            || engine.event_subjects.len() != engine.events.len()
        {
            return Err(SnapshotError::Damaged("section sizes disagree"));
        }
        let subject_count = engine.subjects.len();
        if engine
            .event_subjects
            .iter()
            .any(|&subject| subject as usize >= subject_count)
        {
            return Err(SnapshotError::Damaged("an event belongs to no subject"));
        }
        // The network is derived state: rebuilt from the relation entries and solved.
        engine.rebuild_network();
        Ok(engine)
    }
}

impl Engine {
    /// The first way in which two engines differ, described; `None` when they hold the same
    /// state (as replay verification needs).
    pub fn first_difference(&self, other: &Engine) -> Option<String> {
        if self.version_label != other.version_label {
            return Some(format!(
                "model {} vs {}",
                self.version_label, other.version_label
            ));
        }
        if self.clock != other.clock {
            return Some(format!("clock {} vs {}", self.clock, other.clock));
        }
        if self.events.len() != other.events.len() {
            return Some(format!(
                "{} events vs {}",
                self.events.len(),
                other.events.len()
            ));
        }
        if self.subjects.len() != other.subjects.len() {
            return Some(format!(
                "{} subjects vs {}",
                self.subjects.len(),
                other.subjects.len()
            ));
        }
        for index in 0..self.events.len() as u32 {
            if self.events.get_bytes(index) != other.events.get_bytes(index) {
                return Some(format!(
                    "event #{index} is {:?} vs {:?}",
                    self.event_name(index),
                    other.event_name(index)
                ));
            }
        }
        for index in 0..self.subjects.len() {
            let subject = self.subjects.get(index as u32);
            if subject != other.subjects.get(index as u32) {
                return Some(format!(
                    "subject #{index} is {subject} vs {}",
                    other.subjects.get(index as u32)
                ));
            }
            if self.scores[index].to_bits() != other.scores[index].to_bits() {
                return Some(format!(
                    "{subject}: score {} vs {}",
                    self.scores[index], other.scores[index]
                ));
            }
            let (mine, theirs) = (&self.entries[index], &other.entries[index]);
            if mine.len() != theirs.len() {
                return Some(format!(
                    "{subject}: {} entries vs {}",
                    mine.len(),
                    theirs.len()
                ));
            }
            for (a, b) in mine.iter().zip(theirs.iter()) {
                let same = a.occurred_at == b.occurred_at
                    && a.recorded_at == b.recorded_at
                    && a.retracted_at == b.retracted_at
                    && a.points.to_bits() == b.points.to_bits()
                    && a.key == b.key
                    && a.event == b.event
                    && a.index == b.index
                    && a.kind == b.kind;
                if !same {
                    let (source, id) = self.event_name(a.event);
                    return Some(format!(
                        "{subject}: entry of event {source}/{id} differs: {a:?} vs {b:?}"
                    ));
                }
            }
        }
        // Network scores are within ε of the same fixed point on both sides, reached by other
        // sequences of pushes: they are compared within 2ε, not bit for bit.
        if let (Some(mine), Some(theirs)) = (&self.network, &other.network) {
            if mine.present != theirs.present {
                return Some(format!(
                    "the relations differ: {} vs {} present",
                    mine.present.len(),
                    theirs.present.len()
                ));
            }
            let tolerance = 2.0 * self.model.network.epsilon + 1e-9;
            for index in 0..self.subjects.len() {
                let (a, b) = (self.served(index), other.served(index));
                if (a - b).abs() > tolerance {
                    return Some(format!(
                        "{}: network score {a} vs {b} (more than 2ε apart)",
                        self.subjects.get(index as u32)
                    ));
                }
            }
        }
        None
    }
}
