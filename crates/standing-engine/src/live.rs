//! The network at the engine's clock, and what relations are made of, without the engine: a
//! relation's key, weight and direction, and the relation entries.

use crate::entry::{Entry, EntryKind};
use standing_graph::{Direction, Graph, Network, Params, Weight};
use standing_rules::Model;
use std::collections::HashMap;

/// A relation: `(a, b, kind)`; for a mutual kind `a < b`, for a one-way kind `a` depends on `b`.
pub(crate) type RelationKey = (u32, u32, u16);

/// The network at the engine's clock, kept current by pushes.
#[derive(Clone, Debug)]
pub(crate) struct LiveNetwork {
    pub(crate) network: Network,
    /// The relations in the graph, with their weights.
    pub(crate) present: HashMap<RelationKey, Weight>,
    /// The latest occurred time of any relation entry: a clock move that passes nothing newer
    /// changes no relation.
    pub(crate) latest_relation: i64,
    /// While a copy is solved off the engine's lock: its number and every change made to this
    /// network since recording began, to be made again on the copy (see `stepped`).
    pub(crate) recording: Option<(u64, Vec<NetworkChange>)>,
}

/// A change to the live network's inputs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NetworkChange {
    Grow(u32, f64),
    Behaviour(u32, f64),
    Add(u32, u32, Weight, Direction),
    Remove(u32, u32, Weight, Direction),
}

/// Changes recorded at most: past this, the copy is given up and the clock's solve is done
/// under the lock instead.
const RECORD_AT_MOST: usize = 1 << 20;

impl LiveNetwork {
    pub(crate) fn empty(model: &Model) -> LiveNetwork {
        LiveNetwork {
            network: Network::new(Graph::new(0), Vec::new(), params(model)),
            present: HashMap::new(),
            latest_relation: i64::MIN,
            recording: None,
        }
    }

    /// Makes a change to the network, recording it when a copy is being solved.
    pub(crate) fn change(&mut self, change: NetworkChange) {
        if let Some((_, changes)) = self.recording.as_mut() {
            if changes.len() < RECORD_AT_MOST {
                changes.push(change);
            } else {
                self.recording = None;
            }
        }
        apply_change(&mut self.network, change);
    }
}

pub(crate) fn apply_change(network: &mut Network, change: NetworkChange) {
    match change {
        NetworkChange::Grow(subjects, base) => network.grow(subjects, base),
        NetworkChange::Behaviour(subject, value) => {
            network.set_behaviour(subject, value);
        }
        NetworkChange::Add(a, b, weight, direction) => {
            network.add_relation(a, b, weight, direction);
        }
        NetworkChange::Remove(a, b, weight, direction) => {
            let removed = network.remove_relation(a, b, weight, direction);
            debug_assert!(removed.is_some(), "the graph holds every relation removed");
        }
    }
}

pub(crate) fn params(model: &Model) -> Params {
    Params {
        alpha: model.network.alpha,
        epsilon: model.network.epsilon,
        push_budget: model.network.push_budget,
    }
}

/// The key and graph direction of a relation `owner` declared towards `other`.
pub(crate) fn relation_key(
    model: &Model,
    owner: u32,
    other: u32,
    kind: u16,
) -> (RelationKey, Direction) {
    if model.network.kinds[kind as usize].mutual {
        (
            (owner.min(other), owner.max(other), kind),
            Direction::Mutual,
        )
    } else {
        ((owner, other, kind), Direction::OneWay)
    }
}

/// The weight of a relation event: its kind's weight times the event's `weight`, quantized
/// (intake refuses products outside `RELATION_WEIGHTS`; this clamps what it was not given).
pub(crate) fn relation_weight(model: &Model, kind: u16, weight: f64) -> Weight {
    let value = model.network.kinds[kind as usize].weight * weight;
    let range = &standing_rules::RELATION_WEIGHTS;
    Weight::from_f64(value.clamp(*range.start(), *range.end())).unwrap_or(Weight::ONE)
}

/// The weight a relation entry carries: weight units in its points (checked on decode).
pub(crate) fn entry_weight(entry: &Entry) -> Weight {
    Weight::from_units(entry.points as u16).unwrap_or(Weight::ONE)
}

pub(crate) fn is_relation(entry: &Entry) -> bool {
    matches!(
        entry.kind(),
        EntryKind::RelationAdd | EntryKind::RelationRemove
    )
}

pub(crate) fn direction_of(model: &Model, kind: u16) -> Direction {
    if model.network.kinds[kind as usize].mutual {
        Direction::Mutual
    } else {
        Direction::OneWay
    }
}
