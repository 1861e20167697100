//! The engine's state: interned subjects and events, every subject's entries, cached scores.

use crate::column::Column;
use crate::entries::SubjectEntries;
use crate::intern::Interner;
use crate::network::{self, LiveNetwork};
use rayon::prelude::*;
use standing_core::{
    Contribution, Decision, DecisionReason, DimensionScore, Event, EventBody, Explanation,
    FieldValue, ListMembership, ReasonImpact, Score, StableHasher, Timestamp, Verdict,
};
use standing_graph::Weight;
use standing_rules::{Model, policy_values, relation_fields};
use std::sync::Arc;
use thin_vec::ThinVec;

/// "Never": an entry not retracted has `retracted_at == NEVER`.
pub(crate) const NEVER: i64 = i64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum EntryKind {
    /// Points awarded by rule `index`.
    Contribution,
    /// Ends the contributions of rule `index` with the same key (a settlement).
    Close,
    /// Enters list `index`.
    ListEnter,
    /// Leaves list `index` (entries with the same key, or all when the list has no match field).
    ListLeave,
    /// Adds a relation of kind `index` to subject `key`, with weight units `points`.
    RelationAdd,
    /// Removes the relation of kind `index` to subject `key`.
    RelationRemove,
}

impl EntryKind {
    pub(crate) const ALL: [EntryKind; 6] = [
        EntryKind::Contribution,
        EntryKind::Close,
        EntryKind::ListEnter,
        EntryKind::ListLeave,
        EntryKind::RelationAdd,
        EntryKind::RelationRemove,
    ];

    pub(crate) fn from_code(code: u8) -> Option<EntryKind> {
        EntryKind::ALL.get(code as usize).copied()
    }
}

/// One thing an event did to a subject. 48 bytes, no padding: snapshots hold entries in this
/// very layout and a restore reads them in place (see `column`).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Entry {
    pub(crate) occurred_at: i64,
    pub(crate) recorded_at: i64,
    /// The recorded time of the retraction that withdrew the event, or `NEVER`.
    pub(crate) retracted_at: i64,
    pub(crate) points: f64,
    /// A hash of the match field's value, tying closes and leaves to what they end.
    pub(crate) key: u64,
    pub(crate) event: u32,
    pub(crate) index: u16,
    /// An [`EntryKind`] as its `u8`; checked when a snapshot is restored.
    pub(crate) code: u8,
    pub(crate) pad: u8,
}

impl Entry {
    #[inline]
    pub(crate) fn kind(&self) -> EntryKind {
        // Entries are made from an `EntryKind`, or restored after their codes were checked.
        EntryKind::from_code(self.code).unwrap_or(EntryKind::Contribution)
    }

    /// Whether the entry counts for occurred-time `at` as known at `known`.
    #[inline]
    pub(crate) fn visible(&self, at: i64, known: i64) -> bool {
        self.occurred_at <= at
            && self.recorded_at <= known
            && (self.retracted_at == NEVER || self.retracted_at > known)
    }
}

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
            EventBody::Retraction { .. } => None,
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

/// Scratch space for scoring one subject, reused across subjects.
pub(crate) struct Scratch {
    rule_totals: Vec<f64>,
    dimension_totals: Vec<f64>,
}

impl Scratch {
    pub(crate) fn new(model: &Model) -> Self {
        Scratch {
            rule_totals: vec![0.0; model.rules.len()],
            dimension_totals: vec![0.0; model.dimensions.len()],
        }
    }
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
    pub(crate) event_subjects: Column<u32>,
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

fn key_of(value: Option<&FieldValue>) -> u64 {
    // Keys are stored in snapshots: the hash must be the same in every build (see StableHasher).
    let mut hasher = StableHasher::new();
    match value {
        Some(FieldValue::Str(text)) => hasher.write(b"s").write_str(text),
        Some(FieldValue::Int(number)) => hasher.write(b"i").write_i64(*number),
        Some(FieldValue::Dec(number)) => hasher.write(b"d").write_u64(number.to_bits()),
        Some(FieldValue::Bool(flag)) => hasher.write(b"b").write(&[u8::from(*flag)]),
        Some(FieldValue::Time(instant)) => hasher.write(b"t").write_i64(instant.0),
        Some(FieldValue::Enum(index)) => hasher.write(b"e").write_u64(u64::from(*index)),
        None => return 0,
    };
    hasher.finish()
}

fn event_key(buffer: &mut Vec<u8>, source: u16, id: &str) {
    buffer.clear();
    buffer.extend_from_slice(&source.to_le_bytes());
    buffer.extend_from_slice(id.as_bytes());
}

/// The behaviour score of one subject's entries at `at` as known at `known`; fills `scratch`
/// with the capped rule and dimension totals.
pub(crate) fn behaviour(
    model: &Model,
    entries: &[Entry],
    at: i64,
    known: i64,
    scratch: &mut Scratch,
) -> f64 {
    scratch.rule_totals.fill(0.0);
    scratch.dimension_totals.fill(0.0);
    let mut any_close = false;
    for entry in entries {
        if entry.kind() == EntryKind::Close {
            any_close = true;
            break;
        }
    }
    for entry in entries {
        if entry.kind() != EntryKind::Contribution || !entry.visible(at, known) {
            continue;
        }
        let rule = &model.rules[entry.index as usize];
        if any_close && rule.until.is_some() && is_closed(entries, entry, at, known) {
            continue;
        }
        scratch.rule_totals[entry.index as usize] +=
            entry.points * rule.decay.factor(at - entry.occurred_at);
    }
    for (rule, total) in model.rules.iter().zip(scratch.rule_totals.iter_mut()) {
        *total = total.clamp(rule.min_total, rule.max_total);
        scratch.dimension_totals[rule.dimension as usize] += *total;
    }
    let mut value = model.scale.base;
    for (dimension, total) in model
        .dimensions
        .iter()
        .zip(scratch.dimension_totals.iter_mut())
    {
        *total = total.clamp(dimension.lower, dimension.upper);
        value += *total;
    }
    value
}

fn is_closed(entries: &[Entry], contribution: &Entry, at: i64, known: i64) -> bool {
    entries.iter().any(|close| {
        close.kind() == EntryKind::Close
            && close.index == contribution.index
            && close.key == contribution.key
            && close.occurred_at >= contribution.occurred_at
            && close.visible(at, known)
    })
}

/// The list entries in force at `at` as known at `known`: (list, entry).
fn memberships<'e>(
    model: &Model,
    entries: &'e [Entry],
    at: i64,
    known: i64,
) -> Vec<(u16, &'e Entry)> {
    let mut members = Vec::new();
    for entry in entries {
        if entry.kind() != EntryKind::ListEnter || !entry.visible(at, known) {
            continue;
        }
        let list = &model.lists[entry.index as usize];
        if at >= entry.occurred_at.saturating_add(list.max_duration.0) {
            continue;
        }
        let left = entries.iter().any(|leave| {
            leave.kind() == EntryKind::ListLeave
                && leave.index == entry.index
                && (list.match_field.is_none() || leave.key == entry.key)
                && leave.occurred_at >= entry.occurred_at
                && leave.visible(at, known)
        });
        if !left {
            members.push((entry.index, entry));
        }
    }
    members
}

/// A relation event's fields.
#[derive(Clone, Copy)]
struct RelationEvent<'e> {
    added: bool,
    other: &'e str,
    kind: u16,
    weight: Weight,
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
            clock,
            key_buffer: Vec::new(),
            network,
            mutations: 0,
            applied: 0,
            network_copies: 0,
            list_changes: 0,
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

    /// Applies events in order and rescores the subjects they touched at the engine's clock.
    pub fn apply(&mut self, events: &[Event]) -> ApplyReport {
        if events.is_empty() {
            // Nothing to do, and no reason to build the event index of a restored engine.
            return ApplyReport::default();
        }
        self.mutations += 1;
        self.applied += 1;
        let mut report = ApplyReport {
            outcomes: Vec::with_capacity(events.len()),
            ..Default::default()
        };
        let mut touched: Vec<u32> = Vec::new();
        // A restored engine builds its event index on first intake, not at restore.
        self.events.ensure_indexed();
        for event in events {
            let outcome = self.apply_one(event, &mut touched, &mut report.rule_errors);
            report.outcomes.push(outcome);
        }
        touched.sort_unstable();
        touched.dedup();
        let mut scratch = Scratch::new(&self.model);
        // Subjects first seen in this batch join the network at the base score.
        self.grow_network();
        for subject in touched {
            let index = subject as usize;
            let before = self.scores[index];
            let grade_before = self.grade_of(before);
            let after = self.model.scale.clamp(behaviour(
                &self.model,
                self.entries.get(index),
                self.clock.0,
                NEVER,
                &mut scratch,
            ));
            let grade_after = self.model.scale.grade_index(after) as u8;
            self.scores[index] = after;
            if let Some(live) = self.network.as_mut() {
                live.change(network::NetworkChange::Behaviour(subject, after));
            }
            if before.to_bits() != after.to_bits() || grade_before != grade_after {
                report.changed.push(ScoreChange {
                    subject: self.subjects.get(subject).into(),
                    before,
                    after,
                    grade_before: self.grade_name(grade_before).into(),
                    grade_after: self.grade_name(grade_after).into(),
                });
            }
        }
        // A change that used up its push budget left work queued: each batch sweeps some more
        // (a clock tick's full solve clears it).
        if let Some(live) = self.network.as_mut()
            && live.network.deferred() > 0
        {
            live.network.settle(self.model.network.push_budget);
        }
        report
    }

    /// Grades are derived from scores, not stored: a few comparisons cost less than a byte per
    /// subject and a memory read.
    fn grade_of(&self, score: f64) -> u8 {
        self.model.scale.grade_index(score) as u8
    }

    fn grade_name(&self, grade: u8) -> &str {
        &self.model.scale.grades[grade as usize].name
    }

    fn subject_index(&mut self, subject: &str) -> u32 {
        let (index, new) = self.subjects.intern(subject.as_bytes());
        if new {
            let base = self.model.scale.clamp(self.model.scale.base);
            self.entries.push_empty();
            self.scores.push(base);
        }
        index
    }

    fn apply_one(
        &mut self,
        event: &Event,
        touched: &mut Vec<u32>,
        rule_errors: &mut u64,
    ) -> ApplyOutcome {
        // A source is interned only once one of its events is accepted, so that rejected
        // events leave no trace and a replay of the log interns sources in the same order.
        let (source, new_source) = match self.sources.find(event.source.as_bytes()) {
            Some(index) => (index as u16, false),
            None if self.sources.len() < u16::MAX as usize => (self.sources.len() as u16, true),
            None => return ApplyOutcome::CapacityExceeded,
        };
        let mut key = std::mem::take(&mut self.key_buffer);
        let outcome = self.apply_keyed(event, source, new_source, &mut key, touched, rule_errors);
        self.key_buffer = key;
        outcome
    }

    fn apply_keyed(
        &mut self,
        event: &Event,
        source: u16,
        new_source: bool,
        key: &mut Vec<u8>,
        touched: &mut Vec<u32>,
        rule_errors: &mut u64,
    ) -> ApplyOutcome {
        event_key(key, source, &event.id);
        if self.events.find(key).is_some() {
            return ApplyOutcome::Duplicate;
        }
        let target = match &event.body {
            EventBody::Retraction { event_id, .. } => {
                let mut target_key = Vec::with_capacity(2 + event_id.len());
                event_key(&mut target_key, source, event_id);
                match self.events.find(&target_key) {
                    None => return ApplyOutcome::UnknownRetractionTarget,
                    Some(target) => {
                        let target_subject = self.event_subjects.get(target as usize);
                        if target_subject.map(|owner| self.subjects.get(owner))
                            != Some(&*event.subject)
                        {
                            return ApplyOutcome::RetractionSubjectMismatch;
                        }
                        Some(target)
                    }
                }
            }
            EventBody::Fact { .. } => None,
        };
        let relation = self.relation_of(event);
        if !self.events.has_room_for(key)
            || !self.subjects.has_room_for(event.subject.as_bytes())
            || relation.is_some_and(|r| !self.subjects.has_room_for(r.other.as_bytes()))
            || (new_source && !self.sources.has_room_for(event.source.as_bytes()))
        {
            return ApplyOutcome::CapacityExceeded;
        }
        if new_source {
            let (interned, _) = self.sources.intern(event.source.as_bytes());
            debug_assert_eq!(interned as u16, source);
        }
        let (event_index, _) = self.events.intern(key);
        let subject = self.subject_index(&event.subject);
        let other = relation.map(|r| self.subject_index(r.other));
        self.event_subjects.push(subject);
        touched.push(subject);
        // Relations whose events this one adds or withdraws: (other subject, kind).
        let mut relations_changed: Vec<(u32, u16)> = Vec::new();
        let mut relation_dates: Vec<i64> = Vec::new();
        let entries = self.entries.get_mut(subject as usize);
        match &event.body {
            EventBody::Retraction { .. } => {
                let target = target.unwrap_or(u32::MAX);
                for entry in entries.iter_mut().filter(|entry| entry.event == target) {
                    entry.retracted_at = entry.retracted_at.min(event.recorded_at.0);
                    if matches!(entry.kind(), EntryKind::ListEnter | EntryKind::ListLeave) {
                        self.list_changes += 1;
                    }
                    if network::is_relation(entry) {
                        relations_changed.push((entry.key as u32, entry.index));
                    }
                }
            }
            EventBody::Fact { event_type, fields } => {
                let model = &*self.model;
                let type_index = event_type.0 as usize;
                // Most subjects have few entries: grow by half rather than double, from one.
                let wanted = model.rules_by_type[type_index].len()
                    + model.closers_by_type[type_index].len()
                    + model.list_triggers_by_type[type_index].len();
                if entries.capacity() - entries.len() < wanted {
                    entries.reserve_exact(wanted.max(entries.len() / 2));
                }
                let template = Entry {
                    occurred_at: event.occurred_at.0,
                    recorded_at: event.recorded_at.0,
                    retracted_at: NEVER,
                    points: 0.0,
                    key: 0,
                    event: event_index,
                    index: 0,
                    code: EntryKind::Contribution as u8,
                    pad: 0,
                };
                for &rule_id in &model.rules_by_type[type_index] {
                    let rule = &model.rules[rule_id as usize];
                    if let Some(condition) = &rule.when {
                        match condition.eval(fields) {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(_) => {
                                *rule_errors += 1;
                                continue;
                            }
                        }
                    }
                    let points = match rule.points.eval(fields) {
                        Ok(points) if points.is_finite() => points,
                        _ => {
                            *rule_errors += 1;
                            continue;
                        }
                    };
                    let key = rule
                        .until
                        .as_ref()
                        .map_or(0, |until| key_of(fields.get(until.rule_slot)));
                    entries.push(Entry {
                        points,
                        key,
                        index: rule_id,
                        ..template
                    });
                }
                for &rule_id in &model.closers_by_type[type_index] {
                    let until = model.rules[rule_id as usize].until.as_ref();
                    let key = until.map_or(0, |until| key_of(fields.get(until.closer_slot)));
                    entries.push(Entry {
                        key,
                        index: rule_id,
                        code: EntryKind::Close as u8,
                        ..template
                    });
                }
                for trigger in &model.list_triggers_by_type[type_index] {
                    let list = &model.lists[trigger.list as usize];
                    let side = if trigger.enters {
                        Some(&list.enter)
                    } else {
                        list.leave.as_ref()
                    };
                    let Some(side) = side else { continue };
                    if let Some(condition) = &side.when {
                        match condition.eval(fields) {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(_) => {
                                *rule_errors += 1;
                                continue;
                            }
                        }
                    }
                    let key = side.match_slot.map_or(0, |slot| key_of(fields.get(slot)));
                    let kind = if trigger.enters {
                        EntryKind::ListEnter
                    } else {
                        EntryKind::ListLeave
                    };
                    entries.push(Entry {
                        key,
                        index: trigger.list,
                        code: kind as u8,
                        ..template
                    });
                    self.list_changes += 1;
                }
                if let (Some(relation), Some(other)) = (relation, other) {
                    entries.push(Entry {
                        points: f64::from(relation.weight.units()),
                        key: u64::from(other),
                        index: relation.kind,
                        code: if relation.added {
                            EntryKind::RelationAdd as u8
                        } else {
                            EntryKind::RelationRemove as u8
                        },
                        ..template
                    });
                    relations_changed.push((other, relation.kind));
                    relation_dates.push(event.occurred_at.0);
                }
            }
        }
        for occurred_at in relation_dates {
            self.note_relation(occurred_at);
        }
        for (other, kind) in relations_changed {
            self.update_relation(subject, other, kind);
        }
        ApplyOutcome::Accepted
    }

    /// What a relation event says, if `event` is one.
    fn relation_of<'e>(&self, event: &'e Event) -> Option<RelationEvent<'e>> {
        let EventBody::Fact { event_type, fields } = &event.body else {
            return None;
        };
        let network = &self.model.network;
        let added = if network.added == Some(*event_type) {
            true
        } else if network.removed == Some(*event_type) {
            false
        } else {
            return None;
        };
        let (Some(FieldValue::Str(other)), Some(FieldValue::Enum(kind)), weight) = (
            fields.get(relation_fields::OTHER),
            fields.get(relation_fields::KIND),
            fields.get(relation_fields::WEIGHT),
        ) else {
            return None;
        };
        // Intake refuses both; an event handed to the engine directly is kept without effect
        // on the graph.
        if **other == *event.subject || *kind as usize >= network.kinds.len() {
            return None;
        }
        let weight = match weight {
            Some(FieldValue::Dec(weight)) => *weight,
            _ => 1.0,
        };
        Some(RelationEvent {
            added,
            other,
            kind: *kind,
            weight: network::relation_weight(&self.model, *kind, weight),
        })
    }

    /// Moves the clock to `now` and rescores every subject there (in parallel; deterministic).
    pub fn advance_clock(&mut self, now: Timestamp) {
        self.start_clock(now);
        self.rescore(0..self.scores.len());
        self.finish_clock();
    }

    /// [`Engine::advance_clock`] in steps, for a caller that holds a lock and wants to let
    /// readers in between: `start_clock` moves the clock and re-decides the relations dated
    /// between the two clocks; [`Engine::rescore`] rescores a range of subjects at the new
    /// clock; [`Engine::finish_clock`] solves the network warm. Events applied in between are
    /// applied at the new clock, so the end state is the same as `advance_clock`'s. Until every
    /// range is rescored, the others serve their scores at the old clock.
    pub fn start_clock(&mut self, now: Timestamp) {
        self.mutations += 1;
        // Memberships end when the clock passes their end.
        self.list_changes += 1;
        let old = self.clock.0;
        self.clock = now;
        // Relations dated between the two clocks begin or end now.
        self.relations_crossed(old);
    }

    /// Rescores the subjects in `range` (clamped to the subjects there are) at the clock.
    pub fn rescore(&mut self, range: std::ops::Range<usize>) {
        self.mutations += 1;
        let model = &*self.model;
        let at = self.clock.0;
        let end = range.end.min(self.scores.len());
        let start = range.start.min(end);
        let all = &self.entries;
        self.scores[start..end]
            .par_iter_mut()
            .enumerate()
            .with_min_len(4096)
            .for_each_init(
                || Scratch::new(model),
                |scratch, (offset, score)| {
                    let entries = all.get(start + offset);
                    *score = model
                        .scale
                        .clamp(behaviour(model, entries, at, NEVER, scratch));
                },
            );
    }

    /// Ends a stepped clock move: every behaviour score may have moved, so one warm full solve
    /// rather than a push each.
    pub fn finish_clock(&mut self) {
        self.mutations += 1;
        self.grow_network();
        if let Some(live) = self.network.as_mut() {
            live.recording = None;
            live.network.set_behaviours(&self.scores);
            live.network.solve();
        }
    }

    /// The served score of a subject, as of the clock: a lookup, no computation.
    pub fn score(&self, subject: &str) -> Option<Score> {
        let index = self.subjects.find(subject.as_bytes())? as usize;
        let value = self.served(index);
        let behaviour = self.scores[index];
        Some(Score {
            subject: subject.into(),
            value,
            grade: self.grade_name(self.grade_of(value)).into(),
            behaviour,
            network: value - behaviour,
            model_version: self.version_label.clone(),
            as_of: self.clock,
            known_at: None,
        })
    }

    /// The served score value and grade index, for the fastest lookups.
    pub fn score_value(&self, subject: &str) -> Option<(f64, u8)> {
        let index = self.subjects.find(subject.as_bytes())? as usize;
        let score = self.served(index);
        Some((score, self.grade_of(score)))
    }

    /// The score and its explanation at `at` (occurred-time), counting only what was recorded
    /// by `known_at` when given. A subject with no events gets the base score. Reason texts are
    /// filled from `bodies`; the engine keeps no event bodies (the log does).
    pub fn explain(
        &self,
        subject: &str,
        at: Timestamp,
        known_at: Option<Timestamp>,
        bodies: &dyn EventFields,
    ) -> Explanation {
        let model = &*self.model;
        let known = known_at.map_or(NEVER, |k| k.0);
        let empty = ThinVec::new();
        let found = self.subjects.find(subject.as_bytes());
        let entries = match found {
            Some(index) => self.entries.get(index as usize),
            None => &empty,
        };
        let mut scratch = Scratch::new(model);
        let raw_behaviour = behaviour(model, entries, at.0, known, &mut scratch);
        let behaviour_value = model.scale.clamp(raw_behaviour);
        let network = self.network_part(found, at, known_at, 5);
        let value = network
            .as_ref()
            .map_or(behaviour_value, |(_, served)| *served);
        let grade = model.scale.grade_index(value);

        let mut per_dimension: Vec<Vec<Contribution>> = vec![Vec::new(); model.dimensions.len()];
        let mut raw_rule_totals = vec![0.0; model.rules.len()];
        let mut rule_events = vec![0u32; model.rules.len()];
        for entry in entries {
            if entry.kind() != EntryKind::Contribution || !entry.visible(at.0, known) {
                continue;
            }
            let rule = &model.rules[entry.index as usize];
            if rule.until.is_some() && is_closed(entries, entry, at.0, known) {
                continue;
            }
            let current = entry.points * rule.decay.factor(at.0 - entry.occurred_at);
            if current == 0.0 {
                continue;
            }
            raw_rule_totals[entry.index as usize] += current;
            rule_events[entry.index as usize] += 1;
            let (source, event_id) = self.event_name(entry.event);
            let reason = match bodies.fields(entry.event) {
                Some(fields) => rule.reason.render(&fields),
                None if rule.description.is_empty() => rule.code.clone(),
                None => rule.description.clone(),
            };
            per_dimension[rule.dimension as usize].push(Contribution {
                source: source.into(),
                event_id: event_id.into(),
                event_type: model.event_type(rule.event_type).name.as_str().into(),
                reason_code: rule.code.as_str().into(),
                reason: reason.into(),
                occurred_at: Timestamp(entry.occurred_at),
                awarded: entry.points,
                current,
            });
        }
        let dimensions = model
            .dimensions
            .iter()
            .zip(per_dimension)
            .enumerate()
            .map(|(index, (dimension, contributions))| {
                let raw: f64 = model
                    .rules
                    .iter()
                    .zip(&scratch.rule_totals)
                    .filter(|(rule, _)| rule.dimension as usize == index)
                    .map(|(_, total)| *total)
                    .sum();
                DimensionScore {
                    name: dimension.name.as_str().into(),
                    raw,
                    points: scratch.dimension_totals[index],
                    lower: dimension.lower,
                    upper: dimension.upper,
                    contributions,
                }
            })
            .collect();
        let mut key_factors: Vec<ReasonImpact> = model
            .rules
            .iter()
            .enumerate()
            .filter(|(index, _)| rule_events[*index] > 0 && scratch.rule_totals[*index] != 0.0)
            .map(|(index, rule)| ReasonImpact {
                code: rule.code.as_str().into(),
                points: scratch.rule_totals[index],
                events: rule_events[index],
                description: if rule.description.is_empty() {
                    rule.code.as_str().into()
                } else {
                    rule.description.as_str().into()
                },
            })
            .collect();
        if let Some((part, _)) = &network
            && part.points != 0.0
        {
            key_factors.push(ReasonImpact {
                code: "NETWORK".into(),
                points: part.points,
                events: part.contact_count as u32,
                description: "The scores of the subject's contacts".into(),
            });
        }
        key_factors.sort_by(|a, b| {
            b.points
                .abs()
                .total_cmp(&a.points.abs())
                .then_with(|| a.code.cmp(&b.code))
        });
        key_factors.truncate(4);
        let lists = memberships(model, entries, at.0, known)
            .into_iter()
            .map(|(list, entry)| {
                let (source, event_id) = self.event_name(entry.event);
                ListMembership {
                    list: model.lists[list as usize].name.as_str().into(),
                    since: Timestamp(entry.occurred_at),
                    until: Timestamp(
                        entry
                            .occurred_at
                            .saturating_add(model.lists[list as usize].max_duration.0),
                    ),
                    source: source.into(),
                    event_id: event_id.into(),
                }
            })
            .collect();
        Explanation {
            score: Score {
                subject: subject.into(),
                value,
                grade: model.scale.grades[grade].name.as_str().into(),
                behaviour: behaviour_value,
                network: value - behaviour_value,
                model_version: self.version_label.clone(),
                as_of: at,
                known_at,
            },
            dimensions,
            key_factors,
            lists,
            network: network.map(|(part, _)| part),
        }
    }

    pub(crate) fn event_name(&self, event: u32) -> (&str, &str) {
        let key = self.events.get_bytes(event);
        let source = u16::from_le_bytes([key[0], key[1]]);
        (
            self.sources.get(source as u32),
            std::str::from_utf8(&key[2..]).unwrap_or(""),
        )
    }

    /// A purpose's decision for a subject at the clock. `None` when the model has no such purpose.
    pub fn decide(&self, purpose_name: &str, subject: &str) -> Option<Decision> {
        self.decide_with(purpose_name, subject, None)
    }

    /// [`Engine::decide`] on the subject's behaviour score plus `contacts` points (the contacts'
    /// part held fixed): for what-if engines that hold one subject's own events only.
    pub fn decide_with_contacts(
        &self,
        purpose_name: &str,
        subject: &str,
        contacts: f64,
    ) -> Option<Decision> {
        self.decide_with(purpose_name, subject, Some(contacts))
    }

    fn decide_with(
        &self,
        purpose_name: &str,
        subject: &str,
        contacts: Option<f64>,
    ) -> Option<Decision> {
        let model = &*self.model;
        let purpose = model.purpose(purpose_name)?;
        let at = self.clock.0;
        let empty = ThinVec::new();
        let entries = match self.subjects.find(subject.as_bytes()) {
            Some(index) => self.entries.get(index as usize),
            None => &empty,
        };
        let mut scratch = Scratch::new(model);
        let behaviour_value = model
            .scale
            .clamp(behaviour(model, entries, at, NEVER, &mut scratch));
        // The served score: with contacts' part when the network is on.
        let value = match (contacts, self.subjects.find(subject.as_bytes())) {
            (Some(contacts), _) => model.scale.clamp(behaviour_value + contacts),
            (None, Some(index)) if self.network.is_some() => self.served(index as usize),
            _ => behaviour_value,
        };
        let grade = model.scale.grade_index(value);
        let mut listed = vec![false; model.lists.len()];
        for (list, _) in memberships(model, entries, at, NEVER) {
            listed[list as usize] = true;
        }
        let values = policy_values(value, grade, &scratch.dimension_totals, &listed);
        let mut reasons = Vec::new();
        for rule in &purpose.deny {
            // A policy that cannot be evaluated refuses: failing open would grant what the
            // policy meant to withhold.
            if rule.when.eval(&values).unwrap_or(true) {
                reasons.push(DecisionReason {
                    code: rule.code.as_str().into(),
                    message: rule.reason.as_str().into(),
                });
            }
        }
        let verdict = if reasons.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let id = StableHasher::new()
            .write_str(&self.version_label)
            .write_str(purpose_name)
            .write_str(subject)
            .write_i64(at)
            .write_u64(self.events.len() as u64)
            .finish();
        Some(Decision {
            id: format!("dec-{id:016x}").into(),
            purpose: purpose_name.into(),
            subject: subject.into(),
            verdict,
            reasons,
            model_version: self.version_label.clone(),
            as_of: self.clock,
        })
    }

    /// The `count` highest (or lowest) served scores; ties go to the smaller subject id.
    pub fn rank(&self, count: usize, highest: bool) -> Vec<RankedSubject> {
        let mut order: Vec<u32> = (0..self.scores.len() as u32).collect();
        let compare = |a: &u32, b: &u32| {
            let (sa, sb) = (self.served(*a as usize), self.served(*b as usize));
            let by_score = if highest {
                sb.total_cmp(&sa)
            } else {
                sa.total_cmp(&sb)
            };
            by_score.then_with(|| self.subjects.get(*a).cmp(self.subjects.get(*b)))
        };
        if count < order.len() {
            order.select_nth_unstable_by(count, compare);
            order.truncate(count);
        }
        order.sort_by(compare);
        order
            .into_iter()
            .map(|index| RankedSubject {
                subject: self.subjects.get(index).into(),
                score: self.served(index as usize),
                grade: self
                    .grade_name(self.grade_of(self.served(index as usize)))
                    .into(),
            })
            .collect()
    }

    /// The served score of every subject, by subject index (see [`Engine::subject_name`]).
    pub fn served_scores(&self) -> Vec<f64> {
        self.served_range(0..self.scores.len())
    }

    /// The served scores of the subjects in `range` (clamped to the subjects there are).
    pub fn served_range(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        let end = range.end.min(self.scores.len());
        (range.start.min(end)..end)
            .into_par_iter()
            .with_min_len(4096)
            .map(|index| self.served(index))
            .collect()
    }

    /// The id of the subject with index `index` (`0..subject_count()`).
    pub fn subject_name(&self, index: u32) -> &str {
        self.subjects.get(index)
    }

    /// Whether the event index is built (a restored engine builds it on first intake, or when
    /// [`Engine::event_index_job`]'s result is installed).
    pub fn events_indexed(&self) -> bool {
        self.events.is_indexed() && self.sources.is_indexed()
    }

    /// Builds a restored engine's event index now, if it is not built yet.
    pub fn ensure_event_index(&mut self) {
        self.events.ensure_indexed();
        self.sources.ensure_indexed();
    }

    /// The number of the event `id` of `source` (its log sequence number), if it was accepted.
    /// `None` also while a restored engine's event index is not built yet (see
    /// [`Engine::event_index_job`]).
    pub fn event_number(&self, source: &str, id: &str) -> Option<u32> {
        if !self.events.is_indexed() || !self.sources.is_indexed() {
            return None;
        }
        let source = self.sources.find(source.as_bytes())? as u16;
        let mut key = Vec::with_capacity(2 + id.len());
        event_key(&mut key, source, id);
        self.events.find(&key)
    }

    /// Every event accepted about `subject`, by event number (= log record), oldest first.
    pub fn events_about(&self, subject: &str) -> Vec<u32> {
        let Some(index) = self.subjects.find(subject.as_bytes()) else {
            return Vec::new();
        };
        self.event_subjects
            .iter()
            .enumerate()
            .filter(|(_, owner)| **owner == index)
            .map(|(event, _)| event as u32)
            .collect()
    }

    /// The index of a subject, for [`Engine::served_scores`].
    pub fn subject_index_of(&self, subject: &str) -> Option<u32> {
        self.subjects.find(subject.as_bytes())
    }

    /// The grade (index into the model's grades, best first) of a score.
    pub fn grade_index(&self, score: f64) -> usize {
        self.model.scale.grade_index(score)
    }

    /// The members of each of the model's lists at the clock, by subject index, ascending.
    pub fn list_members(&self) -> Vec<Vec<u32>> {
        self.list_members_in(0..self.entries.len())
    }

    /// [`Engine::list_members`] among the subjects in `range`.
    pub fn list_members_in(&self, range: std::ops::Range<usize>) -> Vec<Vec<u32>> {
        let model = &*self.model;
        let mut lists = vec![Vec::new(); model.lists.len()];
        if model.lists.is_empty() {
            return lists;
        }
        let at = self.clock.0;
        let end = range.end.min(self.entries.len());
        let start = range.start.min(end);
        let all = &self.entries;
        let found: Vec<(u32, u16)> = (start..end)
            .into_par_iter()
            .with_min_len(4096)
            .flat_map_iter(|subject| {
                memberships(model, all.get(subject), at, NEVER)
                    .into_iter()
                    .map(move |(list, _)| (subject as u32, list))
            })
            .collect();
        for (index, list) in found {
            lists[list as usize].push(index);
        }
        lists
    }

    /// A subject's behaviour score (its own data, without its contacts' part) at `at`;
    /// `None` for an unknown subject.
    pub fn behaviour_at(&self, subject: &str, at: Timestamp) -> Option<f64> {
        let index = self.subjects.find(subject.as_bytes())?;
        let mut scratch = Scratch::new(&self.model);
        let raw = behaviour(
            &self.model,
            self.entries.get(index as usize),
            at.0,
            NEVER,
            &mut scratch,
        );
        Some(self.model.scale.clamp(raw))
    }

    /// Every subject's served score and grade, in subject-id order: for comparing engines.
    pub fn all_scores(&self) -> Vec<(String, u64, u8)> {
        let mut all: Vec<(String, u64, u8)> = (0..self.scores.len())
            .map(|index| {
                (
                    self.subjects.get(index as u32).to_owned(),
                    self.served(index).to_bits(),
                    self.grade_of(self.served(index)),
                )
            })
            .collect();
        all.sort();
        all
    }

    pub fn stats(&self) -> EngineStats {
        let entries = self.entries.count();
        EngineStats {
            subjects: self.subjects.len(),
            events: self.events.len(),
            entries,
            subject_bytes: self.subjects.heap_bytes() + self.scores.capacity() * 8,
            accumulator_bytes: self.entries.heap_bytes()
                + self.events.heap_bytes()
                + self.event_subjects.heap_bytes(),
            mapped_bytes: self.entries.mapped_bytes()
                + self.events.mapped_bytes()
                + self.event_subjects.mapped_bytes(),
            network_bytes: self.network.as_ref().map_or(0, |live| {
                let (entries, subjects) = live.network.heap_bytes();
                (entries + subjects) as usize + live.present.capacity() * 24
            }),
        }
    }
}
