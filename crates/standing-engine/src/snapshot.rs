//! The engine's state as bytes and back, so a restart does not replay the whole log.
//!
//! Little-endian, length-prefixed sections in a fixed order; every read is bounds-checked and a
//! snapshot that does not decode whole is refused (the caller then replays the log instead).

use crate::intern::Interner;
use crate::state::{Engine, Entry, EntryKind};
use standing_core::Timestamp;
use standing_rules::Model;
use std::sync::Arc;
use thin_vec::ThinVec;

const MAGIC: &[u8; 8] = b"STENG003";

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

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn u16(&mut self, value: u16) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.0.extend_from_slice(value);
    }
    fn names(&mut self, interner: &Interner) {
        let (arena, starts) = interner.parts();
        self.bytes(arena);
        self.u64(starts.len() as u64);
        for start in starts {
            self.u32(*start);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .at
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(SnapshotError::Damaged("ends early"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn count(&mut self, each_at_least: usize) -> Result<usize, SnapshotError> {
        let count = self.u64()? as usize;
        if count.saturating_mul(each_at_least) > self.bytes.len() - self.at {
            return Err(SnapshotError::Damaged("impossible count"));
        }
        Ok(count)
    }
    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let length = self.count(1)?;
        self.take(length)
    }
    fn names(&mut self, index_now: bool) -> Result<Interner, SnapshotError> {
        let arena = self.bytes()?.to_vec();
        let count = self.count(4)?;
        let starts = self
            .take(count * 4)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Interner::from_parts(arena, starts, index_now)
            .ok_or(SnapshotError::Damaged("names laid out wrong"))
    }
}

fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Contribution => 0,
        EntryKind::Close => 1,
        EntryKind::ListEnter => 2,
        EntryKind::ListLeave => 3,
    }
}

fn kind_from(code: u8) -> Result<EntryKind, SnapshotError> {
    Ok(match code {
        0 => EntryKind::Contribution,
        1 => EntryKind::Close,
        2 => EntryKind::ListEnter,
        3 => EntryKind::ListLeave,
        _ => return Err(SnapshotError::Damaged("unknown entry kind")),
    })
}

type SubjectState = (Vec<f64>, Vec<ThinVec<Entry>>);

/// Decodes the scores-and-entries section.
fn decode_entries(
    model: &Model,
    section: &[u8],
    events: usize,
) -> Result<SubjectState, SnapshotError> {
    let mut reader = Reader {
        bytes: section,
        at: 0,
    };
    let subjects = reader.count(12)?;
    let mut scores = Vec::with_capacity(subjects);
    let mut all = Vec::with_capacity(subjects);
    for _ in 0..subjects {
        scores.push(f64::from_bits(reader.u64()?));
        let length = reader.u32()? as usize;
        let mut entries = ThinVec::with_capacity(length);
        for _ in 0..length {
            let entry = Entry {
                occurred_at: reader.u64()? as i64,
                recorded_at: reader.u64()? as i64,
                retracted_at: reader.u64()? as i64,
                points: f64::from_bits(reader.u64()?),
                key: reader.u64()?,
                event: reader.u32()?,
                index: reader.u16()?,
                kind: kind_from(reader.u8()?)?,
            };
            let limit = match entry.kind {
                EntryKind::Contribution | EntryKind::Close => model.rules.len(),
                EntryKind::ListEnter | EntryKind::ListLeave => model.lists.len(),
            };
            if entry.index as usize >= limit || entry.event as usize >= events {
                return Err(SnapshotError::Damaged("an entry refers to nothing"));
            }
            entries.push(entry);
        }
        all.push(entries);
    }
    if reader.at != section.len() {
        return Err(SnapshotError::Damaged("trailing bytes in the entries"));
    }
    Ok((scores, all))
}

impl Engine {
    /// The whole state as bytes: decoding them under the same model gives an engine equal to
    /// this one in every answer.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let entries: usize = self.entries.iter().map(|e| e.len()).sum();
        let mut writer = Writer(Vec::with_capacity(
            1024 + entries * 47 + self.entries.len() * 12 + self.events.len() * 24,
        ));
        writer.0.extend_from_slice(MAGIC);
        writer.bytes(self.version_label.as_bytes());
        writer.u64(self.clock.0 as u64);
        writer.names(&self.sources);
        writer.names(&self.subjects);
        writer.names(&self.events);
        writer.u64(self.event_subjects.len() as u64);
        for subject in &self.event_subjects {
            writer.u32(*subject);
        }
        // Scores and entries as one section, so decoding can run beside the subject index. Its
        // length is patched in afterwards: no second buffer for what is most of the snapshot.
        let length_at = writer.0.len();
        writer.u64(0);
        let section_start = writer.0.len();
        writer.u64(self.entries.len() as u64);
        for (entries, score) in self.entries.iter().zip(&self.scores) {
            writer.u64(score.to_bits());
            writer.u32(entries.len() as u32);
            for entry in entries.iter() {
                writer.u64(entry.occurred_at as u64);
                writer.u64(entry.recorded_at as u64);
                writer.u64(entry.retracted_at as u64);
                writer.u64(entry.points.to_bits());
                writer.u64(entry.key);
                writer.u32(entry.event);
                writer.u16(entry.index);
                writer.u8(kind_code(entry.kind));
            }
        }
        let section_length = (writer.0.len() - section_start) as u64;
        writer.0[length_at..section_start].copy_from_slice(&section_length.to_le_bytes());
        writer.0
    }

    /// Rebuilds an engine from [`Engine::encode_snapshot`]'s bytes, under `model`.
    pub fn decode_snapshot(model: Arc<Model>, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(8).map_err(|_| SnapshotError::Format)? != MAGIC {
            return Err(SnapshotError::Format);
        }
        let label = String::from_utf8_lossy(reader.bytes()?).into_owned();
        if label != model.version_label() {
            return Err(SnapshotError::ModelMismatch {
                snapshot: label,
                model: model.version_label(),
            });
        }
        let mut engine = Engine::new(model.clone(), Timestamp(reader.u64()? as i64));
        engine.sources = reader.names(true)?;
        let subject_arena = reader.bytes()?;
        let subject_count = reader.count(4)?;
        let subject_starts = reader.take(subject_count * 4)?;
        // Event ids are needed only for intake: their index is built on the first apply.
        engine.events = reader.names(false)?;
        let count = reader.count(4)?;
        engine.event_subjects = (0..count).map(|_| reader.u32()).collect::<Result<_, _>>()?;
        let section = reader.bytes()?;
        let events = engine.events.len();
        let (subjects, entries) = rayon::join(
            || {
                let starts = subject_starts
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Interner::from_parts(subject_arena.to_vec(), starts, true)
                    .ok_or(SnapshotError::Damaged("names laid out wrong"))
            },
            || decode_entries(&model, section, events),
        );
        engine.subjects = subjects?;
        (engine.scores, engine.entries) = entries?;
        if engine.entries.len() != engine.subjects.len()
            || engine.event_subjects.len() != engine.events.len()
        {
            return Err(SnapshotError::Damaged("section sizes disagree"));
        }
        if reader.at != bytes.len() {
            return Err(SnapshotError::Damaged("trailing bytes"));
        }
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
        None
    }
}
