//! Counterfactuals: the smallest changes on a subject's own data that would change their grade
//! or a purpose's decision — a settlement or delisting that ends an open item, or time letting
//! items decay and lapse. Computed, not templated: each candidate event is applied to an engine
//! holding the subject's own events, and the result scored; the contacts' part of the score is
//! held at its current value.

use crate::Engine;
use standing_core::{Event, EventBody, FieldValue, Timestamp, Verdict};
use standing_rules::Model;
use std::sync::Arc;

/// Months ahead searched for a change that time alone brings.
const HORIZON_MONTHS: i64 = 60;
const MONTH: i64 = 30 * 86_400;

/// A subject's standing now, or after a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub score: f64,
    pub grade: String,
    /// `(purpose, verdict)` for each purpose asked about.
    pub decisions: Vec<(String, Verdict)>,
}

/// One change and what it would bring.
#[derive(Clone, Debug, PartialEq)]
pub struct WhatIf {
    /// What changes, in words built from the data.
    pub change: String,
    /// The event that would make the change (to send as the subject's source would), or `None`
    /// when time alone brings it.
    pub event: Option<Event>,
    /// When the change takes effect.
    pub at: Timestamp,
    pub outcome: Outcome,
}

fn outcome(engine: &Engine, subject: &str, contacts: f64, purposes: &[&str]) -> Outcome {
    let model = engine.model();
    let behaviour = engine
        .score(subject)
        .map_or(model.scale.base, |s| s.behaviour);
    let score = model.scale.clamp(behaviour + contacts);
    Outcome {
        score,
        grade: model.scale.grades[model.scale.grade_index(score)]
            .name
            .clone(),
        decisions: purposes
            .iter()
            .filter_map(|p| {
                engine
                    .decide_with_contacts(p, subject, contacts)
                    .map(|d| ((*p).to_owned(), d.verdict))
            })
            .collect(),
    }
}

/// Fields of `event_type` filled from `source` by name (and `matched` at `slot`), or `None`
/// when a field without a default cannot be filled.
fn fill(
    model: &Model,
    event_type: standing_core::EventTypeId,
    slot: usize,
    matched: &FieldValue,
    source: &Event,
) -> Option<Box<[FieldValue]>> {
    let target = model.event_type(event_type);
    let EventBody::Fact {
        event_type: from_type,
        fields: from,
    } = &source.body
    else {
        return None;
    };
    let from_type = model.event_type(*from_type);
    target
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            if index == slot {
                return Some(matched.clone());
            }
            from_type
                .field_slot(&field.name)
                .filter(|&s| from_type.fields[s].ty == field.ty)
                .and_then(|s| from.get(s).cloned())
                .or_else(|| field.default.clone())
        })
        .collect()
}

fn field_text(value: &FieldValue) -> String {
    match value {
        FieldValue::Str(s) => s.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::Dec(d) => format!("{d}"),
        other => format!("{other:?}"),
    }
}

/// The changes that would move `subject`'s grade or a decision of `purposes`, smallest score
/// change first, and the outcome now. `own` are the subject's own events as accepted (relations
/// left out: the contacts' part is `contacts`, held fixed).
pub fn counterfactuals(
    model: &Arc<Model>,
    clock: Timestamp,
    subject: &str,
    own: &[Event],
    contacts: f64,
    purposes: &[&str],
) -> (Outcome, Vec<WhatIf>) {
    let engine_with = |extra: Option<&Event>, at: Timestamp| {
        let mut engine = Engine::new(model.clone(), at);
        engine.apply(own);
        if let Some(extra) = extra {
            engine.apply(std::slice::from_ref(extra));
        }
        engine
    };
    let now = outcome(&engine_with(None, clock), subject, contacts, purposes);
    let fields_of = |event: &Event| match &event.body {
        EventBody::Fact { event_type, fields } => Some((*event_type, fields.clone())),
        EventBody::Retraction { .. } | EventBody::Checkpoint { .. } => None,
    };
    // Candidate events: what would end an open item — a rule's `until` event, a list's leave.
    let mut candidates: Vec<(String, Event)> = Vec::new();
    let mut add =
        |closer_type, closer_slot: usize, opener_slot: usize, opener: &Event, what: String| {
            let Some((_, fields)) = fields_of(opener) else {
                return;
            };
            let Some(matched) = fields.get(opener_slot) else {
                return;
            };
            let closed = own.iter().any(|e| {
                fields_of(e)
                    .is_some_and(|(t, f)| t == closer_type && f.get(closer_slot) == Some(matched))
            });
            if closed {
                return;
            }
            let Some(new_fields) = fill(model, closer_type, closer_slot, matched, opener) else {
                return;
            };
            let name = &model.event_type(closer_type).name;
            let change = format!(
                "a `{name}` for {} {} (ends {what} of {})",
                model.event_type(closer_type).fields[closer_slot].name,
                field_text(matched),
                opener.occurred_at.date_string()
            );
            let event = Event {
                source: opener.source.clone(),
                id: format!("what-if-{}", candidates.len()).into(),
                subject: subject.into(),
                occurred_at: clock,
                recorded_at: clock,
                body: EventBody::Fact {
                    event_type: closer_type,
                    fields: new_fields,
                },
            };
            if !candidates.iter().any(|(_, e)| e.body == event.body) {
                candidates.push((change, event));
            }
        };
    for event in own {
        let Some((event_type, _)) = fields_of(event) else {
            continue;
        };
        for rule in model.rules.iter().filter(|r| r.event_type == event_type) {
            if let Some(until) = &rule.until {
                add(
                    until.event_type,
                    until.closer_slot,
                    until.rule_slot,
                    event,
                    format!("`{}`", rule.code),
                );
            }
        }
        for list in model
            .lists
            .iter()
            .filter(|l| l.enter.event_type == event_type)
        {
            if let (Some(leave), Some(enter_slot)) = (&list.leave, list.enter.match_slot)
                && let Some(leave_slot) = leave.match_slot
            {
                add(
                    leave.event_type,
                    leave_slot,
                    enter_slot,
                    event,
                    format!("the `{}` listing", list.name),
                );
            }
        }
    }
    let mut changes: Vec<WhatIf> = candidates
        .into_iter()
        .map(|(change, event)| {
            let outcome = outcome(
                &engine_with(Some(&event), clock),
                subject,
                contacts,
                purposes,
            );
            WhatIf {
                change,
                event: Some(event),
                at: clock,
                outcome,
            }
        })
        .filter(|w| w.outcome.grade != now.grade || w.outcome.decisions != now.decisions)
        .collect();
    // Time alone: the first month the grade or a decision changes with no new event.
    let mut waiting = engine_with(None, clock);
    for month in 1..=HORIZON_MONTHS {
        let at = Timestamp(clock.0 + month * MONTH);
        waiting.advance_clock(at);
        let later = outcome(&waiting, subject, contacts, purposes);
        if later.grade != now.grade || later.decisions != now.decisions {
            changes.push(WhatIf {
                change: format!(
                    "no new event: items decay and lapse by {}",
                    at.date_string()
                ),
                event: None,
                at,
                outcome: later,
            });
            break;
        }
    }
    changes.sort_by(|a, b| {
        (a.outcome.score - now.score)
            .abs()
            .total_cmp(&(b.outcome.score - now.score).abs())
            .then(a.at.cmp(&b.at))
    });
    (now, changes)
}
