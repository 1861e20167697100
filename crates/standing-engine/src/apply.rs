//! Events in: interning their subjects, sources and ids, evaluating the rules on them,
//! recording what they did as entries, and rescoring the subjects they touched.

use crate::entry::{Entry, EntryKind, NEVER};
use crate::kernel::{Scratch, behaviour};
use crate::live::{NetworkChange, is_relation, relation_weight};
use crate::state::{ApplyOutcome, ApplyReport, Engine, NO_SUBJECT, ScoreChange};
use standing_core::{Event, EventBody, FieldValue, StableHasher};
use standing_graph::Weight;
use standing_rules::relation_fields;

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

pub(crate) fn event_key(buffer: &mut Vec<u8>, source: u16, id: &str) {
    buffer.clear();
    buffer.extend_from_slice(&source.to_le_bytes());
    buffer.extend_from_slice(id.as_bytes());
}

/// A relation event's fields.
#[derive(Clone, Copy)]
struct RelationEvent<'e> {
    added: bool,
    other: &'e str,
    kind: u16,
    weight: Weight,
}

impl Engine {
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
            // A foreign contact's behaviour in the network is its pin, not what is known here.
            if !self.is_foreign(subject)
                && let Some(live) = self.network.as_mut()
            {
                live.change(NetworkChange::Behaviour(subject, after));
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
        if let EventBody::Checkpoint {
            stream,
            partition,
            next,
        } = &event.body
        {
            return self.apply_checkpoint(&event.id, stream, *partition, *next);
        }
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

    /// A checkpoint takes an event number (event `n` is log record `n`) under a key no source's
    /// event can have (source index `u16::MAX`), and moves its stream's position forward.
    fn apply_checkpoint(
        &mut self,
        id: &str,
        stream: &str,
        partition: u32,
        next: u64,
    ) -> ApplyOutcome {
        let mut key = std::mem::take(&mut self.key_buffer);
        event_key(&mut key, u16::MAX, id);
        let outcome = if self.events.find(&key).is_some() {
            ApplyOutcome::Duplicate
        } else if !self.events.has_room_for(&key) {
            ApplyOutcome::CapacityExceeded
        } else {
            self.events.intern(&key);
            self.event_subjects.push(NO_SUBJECT);
            let position = self
                .positions
                .entry((stream.into(), partition))
                .or_insert(next);
            *position = (*position).max(next);
            ApplyOutcome::Accepted
        };
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
            // Taken by `apply_checkpoint` before a source is looked up.
            EventBody::Fact { .. } | EventBody::Checkpoint { .. } => None,
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
            // Taken by `apply_checkpoint`.
            EventBody::Checkpoint { .. } => {}
            EventBody::Retraction { .. } => {
                let target = target.unwrap_or(u32::MAX);
                for entry in entries.iter_mut().filter(|entry| entry.event == target) {
                    entry.retracted_at = entry.retracted_at.min(event.recorded_at.0);
                    if matches!(entry.kind(), EntryKind::ListEnter | EntryKind::ListLeave) {
                        self.list_changes += 1;
                    }
                    if is_relation(entry) {
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
            weight: relation_weight(&self.model, *kind, weight),
        })
    }
}
