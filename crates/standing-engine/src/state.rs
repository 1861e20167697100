//! The engine's state (interned subjects and events, every subject's entries, cached scores),
//! the types of its answers, and its small accessors.

use crate::column::Column;
use crate::entries::SubjectEntries;
use crate::intern::Interner;
use crate::live::LiveNetwork;
use standing_core::{Event, EventBody, FieldValue, Timestamp};
use standing_rules::Model;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The subject of an event about no one (a checkpoint).
pub(crate) const NO_SUBJECT: u32 = u32::MAX;

/// What happened to one applied event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    Accepted,
    /// The source already sent an event with this id; nothing changed.
    Duplicate,
    /// The source already sent an event with this id and other content; nothing changed, the
    /// first is kept. The engine keeps no bodies: the node, which reads them from the log,
    /// tells a conflict from a duplicate.
    Conflict,
    /// A retraction whose target this source never sent; nothing changed.
    UnknownRetractionTarget,
    /// A retraction naming another subject's event; nothing changed.
    RetractionSubjectMismatch,
    /// A model limit was reached (more than 65,535 sources, or 4 GiB of ids); nothing changed.
    CapacityExceeded,
}

impl std::fmt::Display for ApplyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApplyOutcome::Accepted => "accepted",
            ApplyOutcome::Duplicate => "duplicate: this source already sent an event with this id",
            ApplyOutcome::Conflict => {
                "conflict: this source already sent an event with this id and other content; the first is kept"
            }
            ApplyOutcome::UnknownRetractionTarget => {
                "the retracted event was never received from this source"
            }
            ApplyOutcome::RetractionSubjectMismatch => {
                "the retracted event belongs to another subject"
            }
            ApplyOutcome::CapacityExceeded => {
                "a capacity limit was reached (65,535 sources, or 4 GiB of ids)"
            }
        })
    }
}

/// What an [`Engine::apply`] call did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    pub outcomes: Vec<ApplyOutcome>,
    /// Rules whose condition or points failed on an event (CEL runtime errors such as overflow).
    pub rule_errors: u64,
    /// Subjects whose events this call touched and whose behaviour score or grade changed, in
    /// subject order. The behaviour part only: with the network on, served scores of these
    /// subjects and of their contacts move too, and are not listed here.
    pub changed: Vec<ScoreChange>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScoreChange {
    pub subject: Box<str>,
    pub before: f64,
    pub after: f64,
    pub grade_before: Box<str>,
    pub grade_after: Box<str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RankedSubject {
    pub subject: Box<str>,
    pub score: f64,
    pub grade: Box<str>,
}

/// Where explanations find the fields of past events, for reason texts. The engine keeps no
/// event bodies: the log has them. Event `n` is the `n`-th event the engine accepted.
pub trait EventFields {
    fn fields(&self, event: u32) -> Option<Box<[FieldValue]>>;
}

/// No event bodies at hand: reason texts fall back to the rules' descriptions.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEventFields;

impl EventFields for NoEventFields {
    fn fields(&self, _event: u32) -> Option<Box<[FieldValue]>> {
        None
    }
}

/// Events in the order the engine accepted them (every event of the slice accepted).
impl EventFields for [Event] {
    fn fields(&self, event: u32) -> Option<Box<[FieldValue]>> {
        match &self.get(event as usize)?.body {
            EventBody::Fact { fields, .. } => Some(fields.clone()),
            EventBody::Retraction { .. } | EventBody::Checkpoint { .. } => None,
        }
    }
}

/// Sizes, for memory reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineStats {
    pub subjects: usize,
    pub events: usize,
    pub entries: usize,
    /// Bytes held per subject whatever its history: interned id, state header, cached score.
    pub subject_bytes: usize,
    /// Bytes held for entries and event ids.
    pub accumulator_bytes: usize,
    /// Bytes held for the social graph and network scores (0 when the network is off).
    pub network_bytes: usize,
    /// Bytes of a restored snapshot read in place (the page cache's, not the heap's).
    pub mapped_bytes: usize,
}

/// The deterministic scoring state machine. See the crate docs.
pub struct Engine {
    pub(crate) model: Arc<Model>,
    pub(crate) version_label: Box<str>,
    pub(crate) subjects: Interner,
    /// Per subject; a thin vector is one pointer, which keeps a subject's fixed cost low.
    pub(crate) entries: SubjectEntries,
    pub(crate) scores: Vec<f64>,
    pub(crate) sources: Interner,
    /// Keyed by the source index (2 bytes) followed by the event id.
    pub(crate) events: Interner,
    /// Each event's subject; [`NO_SUBJECT`] for a checkpoint.
    pub(crate) event_subjects: Column<u32>,
    /// How far each external stream's partition has been taken: the `next` of its latest
    /// checkpoint, by (stream, partition).
    pub(crate) positions: BTreeMap<(Box<str>, u32), u64>,
    pub(crate) clock: Timestamp,
    /// Reused for building event keys.
    pub(crate) key_buffer: Vec<u8>,
    /// The social graph and network scores at the clock, when the model's network is on.
    pub(crate) network: Option<LiveNetwork>,
    /// Counts the calls that may have changed served scores: watchers skip a look when it has
    /// not moved.
    pub(crate) mutations: u64,
    /// Counts the calls that may have changed entries, so that scores computed off the lock
    /// are installed only if no entry changed meanwhile (see `stepped`).
    pub(crate) applied: u64,
    /// Numbers the network copies handed out for solving off the lock.
    pub(crate) network_copies: u64,
    /// Counts the calls that may have changed list memberships (list entries added or
    /// retracted, the clock moved), so that watchers skip re-reading them otherwise.
    pub(crate) list_changes: u64,
    /// When this engine serves one part of a cluster: which subjects are its own, and the
    /// pinned scores of the others.
    pub(crate) foreign: Option<crate::foreign::Foreign>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.version_label)
            .field("subjects", &self.subjects.len())
            .field("events", &self.events.len())
            .field("clock", &self.clock)
            .finish()
    }
}

/// An empty live network when the model's network is on.
fn model_network(model: &Model) -> Option<LiveNetwork> {
    model.network.is_active().then(|| LiveNetwork::empty(model))
}

impl Engine {
    /// An empty engine for `model`, its clock at `clock`.
    pub fn new(model: Arc<Model>, clock: Timestamp) -> Self {
        let network = model_network(&model);
        Engine {
            version_label: model.version_label().into(),
            model,
            subjects: Interner::default(),
            entries: SubjectEntries::default(),
            scores: Vec::new(),
            sources: Interner::default(),
            events: Interner::default(),
            event_subjects: Column::default(),
            positions: BTreeMap::new(),
            clock,
            key_buffer: Vec::new(),
            network,
            mutations: 0,
            applied: 0,
            network_copies: 0,
            list_changes: 0,
            foreign: None,
        }
    }

    /// A number that changes whenever served scores may have (an apply, a clock step, a bulk
    /// load's end): equal numbers mean nothing moved in between.
    pub fn mutations(&self) -> u64 {
        self.mutations
    }

    /// A number that changes whenever list memberships may have: equal numbers mean every
    /// list has the members it had.
    pub fn list_changes(&self) -> u64 {
        self.list_changes
    }

    /// Makes room for `additional` more subjects with `id_bytes` bytes of ids in all, so a
    /// known population does not pay for growth by doubling.
    pub fn reserve_subjects(&mut self, additional: usize, id_bytes: usize) {
        self.subjects.reserve(additional, id_bytes);
        self.entries.reserve(additional);
        self.scores.reserve_exact(additional);
        if let Some(live) = self.network.as_mut() {
            live.network.reserve(additional);
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Where `stream`'s `partition` resumes: the offset after the last record the log holds
    /// from it (`None`: never taken).
    pub fn stream_position(&self, stream: &str, partition: u32) -> Option<u64> {
        self.positions.get(&(stream.into(), partition)).copied()
    }

    /// Every stream partition taken, with where it resumes, in (stream, partition) order.
    pub fn stream_positions(&self) -> impl Iterator<Item = (&str, u32, u64)> {
        self.positions
            .iter()
            .map(|((stream, partition), next)| (&**stream, *partition, *next))
    }

    /// The id of the subject with index `index` (`0..subject_count()`).
    pub fn subject_name(&self, index: u32) -> &str {
        self.subjects.get(index)
    }
}
