//! The scoring kernel: which of a subject's entries count at an instant as known at another,
//! and the behaviour score and list memberships they make.

use crate::entry::{Entry, EntryKind};
use standing_rules::Model;

/// Scratch space for scoring one subject, reused across subjects.
pub(crate) struct Scratch {
    pub(crate) rule_totals: Vec<f64>,
    pub(crate) dimension_totals: Vec<f64>,
}

impl Scratch {
    pub(crate) fn new(model: &Model) -> Self {
        Scratch {
            rule_totals: vec![0.0; model.rules.len()],
            dimension_totals: vec![0.0; model.dimensions.len()],
        }
    }
}

/// The behaviour score of one subject's entries at `at` as known at `known`; fills `scratch`
/// with the capped rule and dimension totals. The kernel visiting nothing (monomorphised, the
/// empty visit compiles away).
pub(crate) fn behaviour(
    model: &Model,
    entries: &[Entry],
    at: i64,
    known: i64,
    scratch: &mut Scratch,
) -> f64 {
    visit_contributions(model, entries, at, known, scratch, |_, _| {})
}

/// The scoring kernel: the behaviour score of one subject's entries at `at` as known at
/// `known`, calling `counted(entry, current)`, in entry order, for each contribution that
/// counts, with its value at `at` (decayed, before the caps). Fills `scratch` with the capped
/// rule and dimension totals. Scores and explanations are both made by this one loop.
pub(crate) fn visit_contributions(
    model: &Model,
    entries: &[Entry],
    at: i64,
    known: i64,
    scratch: &mut Scratch,
    mut counted: impl FnMut(&Entry, f64),
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
        let current = entry.points * rule.decay.factor(at - entry.occurred_at);
        scratch.rule_totals[entry.index as usize] += current;
        counted(entry, current);
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
pub(crate) fn memberships<'e>(
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
