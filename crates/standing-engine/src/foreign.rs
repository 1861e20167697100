//! An engine serving one part of a cluster: the subjects it owns, and the contacts it knows
//! only through relations — subjects other processes own ("foreign" here).
//!
//! Every relation reaches the owners of both its ends, so an own subject's row of the social
//! graph is whole here; a foreign contact's row is not (its other relations are elsewhere). Its
//! score is therefore not solved here but pinned: the score its owner solved, installed after
//! each distributed solve ([`Engine::pin_contacts`]). In the live network a foreign subject
//! depends on nobody (the relations keep only the own end's dependence) and its behaviour score
//! is its pin, so its network score is the pin and every own subject's fixed point is the
//! cluster's, given the pins. Between solves a foreign contact's changes are not seen here:
//! own subjects' scores follow their own events and own contacts at once, their foreign
//! contacts at the next solve.

use crate::live::{RelationKey, direction_of};
use crate::state::Engine;
use standing_graph::{Direction, Graph, Weight};
use std::collections::HashMap;
use std::sync::Arc;

/// Whether a subject (by id) is owned by this process.
pub type Owned = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub(crate) struct Foreign {
    owned: Owned,
    /// Whether each subject known so far is owned here, by index (asked of `owned` once).
    own: Vec<bool>,
    /// Foreign subjects' scores as their owners solved them, by subject index.
    pinned: HashMap<u32, f64>,
}

/// The social graph at the clock as the whole cluster sees it, for a distributed solve.
#[derive(Debug)]
pub struct NetworkRows {
    /// Every relation present at the clock, in the engine's numbering and with both ends'
    /// dependence (an own subject's row is whole; a foreign subject's holds only its relations
    /// to own subjects).
    pub graph: Graph,
    /// Own subjects, ascending.
    pub own: Vec<u32>,
}

impl Engine {
    /// Serves only the subjects `owned` accepts; the others are contacts whose scores are
    /// pinned by [`Engine::pin_contacts`] (at their behaviour here until then). Rebuilds the
    /// live network.
    pub fn serve_part(&mut self, owned: Owned) {
        self.foreign = Some(Foreign {
            owned,
            own: Vec::new(),
            pinned: HashMap::new(),
        });
        self.note_owners();
        self.mutations += 1;
        self.rebuild_network();
    }

    /// Notes which of the subjects that arrived since are owned here.
    pub(crate) fn note_owners(&mut self) {
        let Some(foreign) = self.foreign.as_mut() else {
            return;
        };
        let known = self.subjects.len() as u32;
        for index in foreign.own.len() as u32..known {
            let own = (foreign.owned)(self.subjects.get(index));
            foreign.own.push(own);
        }
    }

    /// Whether subject `index` is owned by another process.
    #[inline]
    pub(crate) fn is_foreign(&self, index: u32) -> bool {
        self.foreign.as_ref().is_some_and(|foreign| {
            !foreign
                .own
                .get(index as usize)
                .copied()
                .unwrap_or_else(|| (foreign.owned)(self.subjects.get(index)))
        })
    }

    /// The edge relation `key` makes in this engine's network: as it is on one node, less the
    /// dependence of a foreign end; `None` when neither end's dependence is solved here.
    pub(crate) fn local_edge(
        &self,
        key: RelationKey,
        weight: Weight,
    ) -> Option<(u32, u32, Weight, Direction)> {
        let direction = direction_of(&self.model, key.2);
        let (a, b) = (key.0, key.1);
        if self.foreign.is_none() {
            return Some((a, b, weight, direction));
        }
        // For one way, `a` depends on `b`.
        match (self.is_foreign(a), self.is_foreign(b), direction) {
            (false, false, _) => Some((a, b, weight, direction)),
            (false, true, _) => Some((a, b, weight, Direction::OneWay)),
            (true, false, Direction::Mutual) => Some((b, a, weight, Direction::OneWay)),
            (true, _, _) => None,
        }
    }

    /// The behaviour scores the network starts from: the engine's, foreign subjects' pinned.
    pub(crate) fn network_behaviours(&self) -> std::borrow::Cow<'_, [f64]> {
        behaviours(&self.scores, self.foreign.as_ref())
    }

    /// The pinned score of subject `index`, if it is a foreign contact with one.
    pub(crate) fn pinned(&self, index: u32) -> Option<f64> {
        self.foreign.as_ref()?.pinned.get(&index).copied()
    }

    /// Pins foreign contacts (by subject index) at the scores their owners solved, and brings
    /// every own score back within ε of the fixed point. Indices of own or unknown subjects are
    /// skipped; returns how many were pinned.
    pub fn pin_contacts(&mut self, pins: &[(u32, f64)]) -> usize {
        let known = self.subjects.len() as u32;
        let wanted: Vec<(u32, f64)> = pins
            .iter()
            .copied()
            .filter(|&(index, value)| index < known && value.is_finite() && self.is_foreign(index))
            .collect();
        let Some(foreign) = self.foreign.as_mut() else {
            return 0;
        };
        for &(index, value) in &wanted {
            foreign.pinned.insert(index, value);
        }
        self.mutations += 1;
        self.grow_network();
        if let Some(live) = self.network.as_mut() {
            for &(index, value) in &wanted {
                live.change(crate::live::NetworkChange::Behaviour(index, value));
            }
            live.network.settle(u64::MAX);
        }
        wanted.len()
    }

    /// The relations at the clock for a distributed solve; `None` when the network is off or
    /// the engine serves no part.
    pub fn network_rows(&self) -> Option<NetworkRows> {
        self.network.as_ref()?;
        self.foreign.as_ref()?;
        let edges: Vec<_> = self
            .relations_at(self.clock.0, crate::entry::NEVER)
            .into_iter()
            .map(|(key, weight, direction)| (key.0, key.1, weight, direction))
            .collect();
        let n = self.subjects.len() as u32;
        Some(NetworkRows {
            graph: Graph::from_relations(n, &edges),
            own: (0..n).filter(|&index| !self.is_foreign(index)).collect(),
        })
    }

    /// Whether this engine serves only part of the subjects ([`Engine::serve_part`]).
    pub fn serves_part(&self) -> bool {
        self.foreign.is_some()
    }

    /// Whether subject `index` is this engine's own (always, unless it serves a part).
    pub fn is_own(&self, index: u32) -> bool {
        !self.is_foreign(index)
    }

    /// The behaviour score of subject `index` (the engine's own, for its own subjects).
    pub fn behaviour_of(&self, index: u32) -> Option<f64> {
        self.scores.get(index as usize).copied()
    }
}

/// `scores` with the pinned foreign subjects' values in place (a copy only when some are).
pub(crate) fn behaviours<'a>(
    scores: &'a [f64],
    foreign: Option<&Foreign>,
) -> std::borrow::Cow<'a, [f64]> {
    match foreign {
        Some(foreign) if !foreign.pinned.is_empty() => {
            let mut values = scores.to_vec();
            for (&index, &value) in &foreign.pinned {
                if let Some(slot) = values.get_mut(index as usize) {
                    *slot = value;
                }
            }
            std::borrow::Cow::Owned(values)
        }
        _ => std::borrow::Cow::Borrowed(scores),
    }
}
