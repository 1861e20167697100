//! The engine's state as bytes and back, so a restart does not replay the whole log.
//!
//! Little-endian, counted sections in a fixed order, each starting 8-aligned. Written as a
//! stream, so a snapshot never sits whole in memory beside the engine; read in place from the
//! mapped file, so a restore neither copies nor decodes the entries and event ids, it checks
//! them (see `column`). Every value is checked; a snapshot that does not check whole is refused
//! (the caller then replays the log instead).

use crate::column::{Column, Region};
use crate::entries::SubjectEntries;
use crate::entry::{Entry, EntryKind};
use crate::intern::Interner;
use crate::live::is_relation;
use crate::state::{Engine, NO_SUBJECT};
use bytemuck::Pod;
use rayon::prelude::*;
use standing_core::{Aligned, SharedBytes, Timestamp};
use standing_rules::Model;
use std::io::{self, Write};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"STENG006";
/// The state before streams' positions were kept: read as one that has taken no stream.
const MAGIC_5: &[u8; 8] = b"STENG005";

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

/// Writes the stream with every section starting 8-aligned from the state's start.
struct Writer<'w> {
    out: &'w mut dyn Write,
    buffer: Vec<u8>,
    written: u64,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        if self.buffer.len() + bytes.len() > self.buffer.capacity() {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        if bytes.len() > self.buffer.capacity() {
            return self.out.write_all(bytes);
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }
    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.put(&value.to_le_bytes())
    }
    fn pad(&mut self) -> io::Result<()> {
        let padding = (8 - self.written % 8) % 8;
        self.put(&[0u8; 8][..padding as usize])
    }
    /// A count, then the values of both parts, then padding.
    fn section<T: Pod>(&mut self, parts: [&[T]; 2]) -> io::Result<()> {
        self.u64((parts[0].len() + parts[1].len()) as u64)?;
        for part in parts {
            self.put(bytemuck::cast_slice(part))?;
        }
        self.pad()
    }
    fn names(&mut self, interner: &Interner) -> io::Result<()> {
        let (arena, starts) = interner.parts();
        self.section(arena)?;
        self.section(starts)
    }
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.out.flush()
    }
}

/// Walks the state's sections in place.
struct Reader<'b> {
    bytes: &'b SharedBytes,
    /// Where the state starts and ends in `bytes`.
    end: usize,
    at: usize,
}

impl Reader<'_> {
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let all = (**self.bytes).as_ref();
        let value = all
            .get(self.at..self.at + 8)
            .filter(|_| self.at + 8 <= self.end)
            .ok_or(SnapshotError::Damaged("ends early"))?;
        self.at += 8;
        Ok(u64::from_le_bytes(value.try_into().unwrap_or_default()))
    }
    /// `count` values of `T` in place, then padding to 8.
    fn region<T: Pod>(&mut self, count: u64) -> Result<Region, SnapshotError> {
        let length = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(std::mem::size_of::<T>()))
            .filter(|&length| length <= self.end - self.at)
            .ok_or(SnapshotError::Damaged(
                "a section is longer than the snapshot",
            ))?;
        let region = Region::new::<T>(self.bytes, self.at..self.at + length)
            .ok_or(SnapshotError::Damaged("a section is misaligned"))?;
        self.at = (self.at + length).next_multiple_of(8).min(self.end);
        Ok(region)
    }
    /// A counted section (see [`Writer::section`]).
    fn section<T: Pod>(&mut self) -> Result<Column<T>, SnapshotError> {
        let count = self.u64()?;
        Ok(Column::mapped(self.region::<T>(count)?))
    }
    fn names(&mut self, index_now: bool) -> Result<Interner, SnapshotError> {
        let arena = self.section::<u8>()?;
        let starts = self.section::<u32>()?;
        Interner::from_parts(arena, starts, index_now)
            .ok_or(SnapshotError::Damaged("names laid out wrong"))
    }
}

/// Streams' positions from their lines (see [`Engine::write_snapshot`]).
fn read_positions(text: &[u8]) -> Option<std::collections::BTreeMap<(Box<str>, u32), u64>> {
    let text = std::str::from_utf8(text).ok()?;
    text.lines()
        .map(|line| {
            let mut words = line.split(' ');
            let (stream, partition, next) = (words.next()?, words.next()?, words.next()?);
            if stream.is_empty() || words.next().is_some() {
                return None;
            }
            Some(((stream.into(), partition.parse().ok()?), next.parse().ok()?))
        })
        .collect()
}

/// Whether an entry refers only to what there is.
fn entry_valid(model: &Model, entry: &Entry, subjects: u64, events: u32) -> bool {
    let Some(kind) = EntryKind::from_code(entry.code) else {
        return false;
    };
    let limit = match kind {
        EntryKind::Contribution | EntryKind::Close => model.rules.len(),
        EntryKind::ListEnter | EntryKind::ListLeave => model.lists.len(),
        EntryKind::RelationAdd | EntryKind::RelationRemove => model.network.kinds.len(),
    };
    let relation = is_relation(entry);
    let weight_ok = !relation
        || (entry.points.fract() == 0.0
            && entry.points >= 0.0
            && entry.points <= f64::from(u16::MAX)
            && standing_graph::Weight::from_units(entry.points as u16).is_some());
    (entry.index as usize) < limit
        && entry.event < events
        && entry.pad == 0
        && (!relation || entry.key < subjects)
        && weight_ok
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

    /// Streams the state to `out` (see [`Engine::encode_snapshot`]). Every section starts
    /// 8-aligned from the start of the stream, so that a reader whose copy of the stream starts
    /// 8-aligned reads the sections in place ([`Engine::map_snapshot`]).
    pub fn write_snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = Writer {
            out,
            buffer: Vec::with_capacity(1 << 20),
            written: 0,
        };
        writer.put(MAGIC)?;
        writer.section([self.version_label.as_bytes(), &[]])?;
        writer.u64(self.clock.0 as u64)?;
        writer.names(&self.sources)?;
        writer.names(&self.subjects)?;
        writer.names(&self.events)?;
        writer.section(self.event_subjects.parts())?;
        writer.section([&self.scores[..], &[]])?;
        // Where each subject's entries start, then all entries back to back.
        let mut offsets = Vec::with_capacity(self.entries.len() + 1);
        let mut total = 0u64;
        offsets.push(0u64);
        for entries in self.entries.iter() {
            total += entries.len() as u64;
            offsets.push(total);
        }
        writer.section([&offsets[..], &[]])?;
        drop(offsets);
        writer.u64(total)?;
        for entries in self.entries.iter() {
            writer.put(bytemuck::cast_slice(entries))?;
        }
        writer.pad()?;
        // Streams' positions: a line `stream partition next` each (stream names hold no space).
        let mut positions = String::new();
        for (stream, partition, next) in self.stream_positions() {
            positions.push_str(&format!("{stream} {partition} {next}\n"));
        }
        writer.section([positions.as_bytes(), &[]])?;
        writer.finish()
    }

    /// Rebuilds an engine from [`Engine::encode_snapshot`]'s bytes, under `model` (from a copy
    /// of them; see [`Engine::map_snapshot`] for reading them in place).
    pub fn decode_snapshot(model: Arc<Model>, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let shared = Aligned::shared(bytes);
        Engine::map_snapshot(model, &shared, 0..bytes.len())
    }

    /// Restores an engine from the snapshot in `range` of `bytes`, reading its large sections
    /// (entries, event ids) in place rather than copying them: the caller maps the snapshot
    /// file and the engine keeps the mapping. `range` must start 8-aligned. Every value is
    /// checked (on all cores) before it is used; a snapshot that does not check is refused.
    pub fn map_snapshot(
        model: Arc<Model>,
        bytes: &SharedBytes,
        range: std::ops::Range<usize>,
    ) -> Result<Engine, SnapshotError> {
        let all = (**bytes).as_ref();
        if range.end > all.len() || range.start > range.end {
            return Err(SnapshotError::Damaged("ends early"));
        }
        let with_positions = match all.get(range.start..range.start + 8) {
            Some(magic) if magic == &MAGIC[..] => true,
            Some(magic) if magic == &MAGIC_5[..] => false,
            _ => return Err(SnapshotError::Format),
        };
        let mut reader = Reader {
            bytes,
            end: range.end,
            at: range.start + 8,
        };
        let label = reader.section::<u8>()?;
        let label = String::from_utf8_lossy(label.base()).into_owned();
        if label != model.version_label() {
            return Err(SnapshotError::ModelMismatch {
                snapshot: label,
                model: model.version_label(),
            });
        }
        let mut engine = Engine::new(model.clone(), Timestamp(reader.u64()? as i64));
        engine.sources = reader.names(true)?;
        let subject_arena = reader.section::<u8>()?;
        let subject_starts = reader.section::<u32>()?;
        // Event ids are needed only for intake: their index is built on the first apply.
        engine.events = reader.names(false)?;
        engine.event_subjects = reader.section::<u32>()?;
        let scores = reader.section::<f64>()?;
        let offsets_count = reader.u64()?;
        let offsets = reader.region::<u64>(offsets_count)?;
        let entry_count = reader.u64()?;
        let flat = reader.region::<Entry>(entry_count)?;
        if with_positions {
            let text = reader.section::<u8>()?;
            engine.positions = read_positions(text.base())
                .ok_or(SnapshotError::Damaged("a stream position is unreadable"))?;
        }
        if reader.at != reader.end {
            return Err(SnapshotError::Damaged("trailing bytes"));
        }
        let subjects = scores.len();
        let events = engine.events.len();
        if offsets_count != subjects as u64 + 1 || engine.event_subjects.len() != events {
            return Err(SnapshotError::Damaged("section sizes disagree"));
        }
        if events > u32::MAX as usize || subjects > u32::MAX as usize {
            return Err(SnapshotError::Damaged("more than 2^32 events or subjects"));
        }
        // The subject index is built on one core while the rest is checked on the other.
        let check = || -> Result<(), SnapshotError> {
            let offsets = offsets.slice::<u64>();
            let ascending = offsets.first() == Some(&0)
                && offsets.last() == Some(&entry_count)
                && offsets
                    .par_windows(2)
                    .with_min_len(1 << 14)
                    .all(|pair| pair[0] <= pair[1]);
            if !ascending {
                return Err(SnapshotError::Damaged("entry offsets out of order"));
            }
            if !scores.base().par_iter().all(|score| score.is_finite()) {
                return Err(SnapshotError::Damaged("a score is not a number"));
            }
            if !engine
                .event_subjects
                .base()
                .par_iter()
                .with_min_len(1 << 14)
                .all(|&subject| (subject as usize) < subjects || subject == NO_SUBJECT)
            {
                return Err(SnapshotError::Damaged("an event belongs to no subject"));
            }
            let model = &*model;
            if !flat
                .slice::<Entry>()
                .par_iter()
                .with_min_len(1 << 14)
                .all(|entry| entry_valid(model, entry, subjects as u64, events as u32))
            {
                return Err(SnapshotError::Damaged("an entry refers to nothing"));
            }
            Ok(())
        };
        let (index, checked) = rayon::join(
            || {
                Interner::from_parts(subject_arena, subject_starts, true)
                    .ok_or(SnapshotError::Damaged("names laid out wrong"))
            },
            check,
        );
        engine.subjects = index?;
        checked?;
        if engine.subjects.len() != subjects {
            return Err(SnapshotError::Damaged("section sizes disagree"));
        }
        engine.scores = scores.base().to_vec();
        engine.entries = SubjectEntries::mapped(offsets, flat);
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
            let (mine, theirs) = (self.entries.get(index), other.entries.get(index));
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
                    && a.code == b.code;
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
