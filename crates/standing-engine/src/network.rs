//! The engine's side of the social graph: relation events kept as entries (so every earlier
//! view stays computable and snapshots carry them), the live network at the clock, and the
//! network at any other instant, solved on demand.
//!
//! A relation is identified by its pair and kind: for a mutual kind the unordered pair (either
//! side may add or remove it), for a one-way kind the declaring subject and the other. Its state
//! at an instant is decided by the latest of its visible relation events (by occurred time, then
//! acceptance order): present, with that event's weight, if the latest adds it. The live network
//! is the state at the engine's clock; a relation event dated later counts once the clock
//! passes it.

use crate::entry::{Entry, EntryKind, NEVER};
use crate::kernel::{Scratch, behaviour};
use crate::live::{
    LiveNetwork, NetworkChange, RelationKey, direction_of, entry_weight, is_relation, params,
    relation_key,
};
use crate::state::Engine;
use rayon::prelude::*;
use standing_core::{ContactImpact, NetworkPart, Timestamp};
use standing_graph::{Direction, Graph, Network, Weight};

/// Rounds of label propagation for the network's internal numbering at a rebuild.
const LOCALITY_ROUNDS: usize = 3;

impl Engine {
    /// The state of relation `key` from its visible events at `at` as known at `known`.
    fn relation_state(&self, key: RelationKey, at: i64, known: i64) -> Option<Weight> {
        let model = &*self.model;
        let owners: &[u32] = if key.0 == key.1 {
            &[key.0]
        } else {
            &[key.0, key.1]
        };
        let mut latest: Option<&Entry> = None;
        for &owner in owners {
            for entry in self.entries.get(owner as usize) {
                if !is_relation(entry) || entry.index != key.2 || !entry.visible(at, known) {
                    continue;
                }
                if relation_key(model, owner, entry.key as u32, entry.index).0 != key {
                    continue;
                }
                if latest
                    .is_none_or(|l| (entry.occurred_at, entry.event) > (l.occurred_at, l.event))
                {
                    latest = Some(entry);
                }
            }
        }
        latest
            .filter(|entry| entry.kind() == EntryKind::RelationAdd)
            .map(entry_weight)
    }

    /// Brings the live graph in line with relation `owner → other` of `kind` at the clock,
    /// after one of its events was applied or retracted, or the clock passed one.
    pub(crate) fn update_relation(&mut self, owner: u32, other: u32, kind: u16) {
        if self.network.is_none() {
            return;
        }
        self.grow_network();
        let (key, _) = relation_key(&self.model, owner, other, kind);
        let wanted = self.relation_state(key, self.clock.0, NEVER);
        let current = self
            .network
            .as_ref()
            .and_then(|live| live.present.get(&key).copied());
        if current == wanted {
            return;
        }
        let removed = current.and_then(|weight| self.local_edge(key, weight));
        let added = wanted.and_then(|weight| self.local_edge(key, weight));
        let Some(live) = self.network.as_mut() else {
            return;
        };
        if current.is_some() {
            live.present.remove(&key);
        }
        if let Some((a, b, weight, direction)) = removed {
            live.change(NetworkChange::Remove(a, b, weight, direction));
        }
        if let Some(weight) = wanted {
            live.present.insert(key, weight);
        }
        if let Some((a, b, weight, direction)) = added {
            live.change(NetworkChange::Add(a, b, weight, direction));
        }
    }

    /// Notes a relation entry's date, for [`Engine::relations_crossed`].
    pub(crate) fn note_relation(&mut self, occurred_at: i64) {
        if let Some(live) = self.network.as_mut() {
            live.latest_relation = live.latest_relation.max(occurred_at);
        }
    }

    /// Re-decides, live, the relations with events dated between the old clock and the new.
    pub(crate) fn relations_crossed(&mut self, old: i64) {
        let new = self.clock.0;
        let Some(live) = self.network.as_ref() else {
            return;
        };
        let (low, high) = (old.min(new), old.max(new));
        if live.latest_relation <= low {
            return;
        }
        let all = &self.entries;
        let crossed: Vec<(u32, u32, u16)> = (0..all.len())
            .into_par_iter()
            .with_min_len(4096)
            .flat_map_iter(|owner| {
                all.get(owner)
                    .iter()
                    .filter(|entry| {
                        is_relation(entry) && entry.occurred_at > low && entry.occurred_at <= high
                    })
                    .map(move |entry| (owner as u32, entry.key as u32, entry.index))
            })
            .collect();
        for (owner, other, kind) in crossed {
            self.update_relation(owner, other, kind);
        }
    }

    /// Adds the subjects the network does not know yet, at their behaviour scores (and, when
    /// serving a part, notes which of them are owned here).
    pub(crate) fn grow_network(&mut self) {
        self.note_owners();
        let subjects = self.subjects.len() as u32;
        let base = self.model.scale.clamp(self.model.scale.base);
        if let Some(live) = self.network.as_mut()
            && live.network.len() < subjects
        {
            live.change(NetworkChange::Grow(subjects, base));
        }
    }

    /// Every relation present at `at` as known at `known`, sorted by key (the same state gives
    /// the same graph): one pass over the entries, then the latest event of each relation.
    pub(crate) fn relations_at(
        &self,
        at: i64,
        known: i64,
    ) -> Vec<(RelationKey, Weight, Direction)> {
        let model = &*self.model;
        let all = &self.entries;
        let mut events: Vec<(RelationKey, i64, u32, &Entry)> = (0..all.len())
            .into_par_iter()
            .with_min_len(4096)
            .flat_map_iter(|owner| {
                all.get(owner)
                    .iter()
                    .filter(|e| is_relation(e) && e.visible(at, known))
                    .map(move |entry| {
                        let (key, _) =
                            relation_key(model, owner as u32, entry.key as u32, entry.index);
                        (key, entry.occurred_at, entry.event, entry)
                    })
            })
            .collect();
        events.sort_unstable_by_key(|&(key, occurred, event, _)| (key, occurred, event));
        let mut present = Vec::new();
        for (index, &(key, _, _, entry)) in events.iter().enumerate() {
            let last_of_key = events.get(index + 1).is_none_or(|next| next.0 != key);
            if last_of_key && entry.kind() == EntryKind::RelationAdd {
                present.push((key, entry_weight(entry), direction_of(model, key.2)));
            }
        }
        present
    }

    /// Rebuilds the live network at the clock from the entries and the cached behaviour scores,
    /// renumbers it for locality and solves it in full (after a restore).
    pub(crate) fn rebuild_network(&mut self) {
        if !self.model.network.is_active() {
            self.network = None;
            return;
        }
        let relations = self.relations_at(self.clock.0, NEVER);
        let all = &self.entries;
        let latest_relation = (0..all.len())
            .into_par_iter()
            .with_min_len(4096)
            .flat_map_iter(|owner| all.get(owner).iter().filter(|e| is_relation(e)))
            .map(|entry| entry.occurred_at)
            .max()
            .unwrap_or(i64::MIN);
        let edges: Vec<_> = relations
            .iter()
            .filter_map(|&(key, weight, _)| self.local_edge(key, weight))
            .collect();
        let mut network = Network::new(
            Graph::from_relations(self.subjects.len() as u32, &edges),
            self.network_behaviours().into_owned(),
            params(&self.model),
        );
        // Subjects are numbered in arrival order; the network renumbers them internally so that
        // related subjects sit together (see `Network::reorder`).
        network.reorder(LOCALITY_ROUNDS);
        network.solve();
        let present = relations
            .into_iter()
            .map(|(key, weight, _)| (key, weight))
            .collect();
        self.network = Some(LiveNetwork {
            network,
            present,
            latest_relation,
            recording: None,
        });
    }

    /// A subject's contacts at the clock with their scores and shares, the `top` largest
    /// effects first; `None` when the model's network is off or the subject is unknown.
    pub fn contacts(&self, subject: &str, top: usize) -> Option<NetworkPart> {
        let index = self.subjects.find(subject.as_bytes())?;
        self.network_part(Some(index), self.clock, None, top)
            .map(|(part, _)| part)
    }

    /// Relations in the live social graph (0 when the network is off or during a bulk load).
    /// An engine serving a part counts a relation when the end whose id sorts first is its
    /// own, so that a cluster's parts count each relation once between them.
    pub fn relation_count(&self) -> usize {
        let Some(live) = self.network.as_ref() else {
            return 0;
        };
        if self.foreign.is_none() {
            return live.present.len();
        }
        live.present
            .keys()
            .filter(|key| {
                let (a, b) = (self.subjects.get(key.0), self.subjects.get(key.1));
                self.is_own(if a <= b { key.0 } else { key.1 })
            })
            .count()
    }

    /// Stops keeping the social graph live, for a bulk load: relation events are kept as entries
    /// only, and [`Engine::finish_bulk`] builds and solves the graph once. Until then served
    /// scores are behaviour scores. Far faster than a live update per relation when millions
    /// arrive at once.
    pub fn start_bulk(&mut self) {
        self.network = None;
    }

    /// Ends a bulk load: the live network rebuilt from the entries, renumbered for locality
    /// and solved in full (as after a restore).
    pub fn finish_bulk(&mut self) {
        self.mutations += 1;
        self.rebuild_network();
    }

    /// Finishes pushes a change deferred, so every network score is within ε.
    pub fn settle_network(&mut self) {
        if let Some(live) = self.network.as_mut() {
            live.network.settle(u64::MAX);
        }
    }

    /// The network solved in full at `at` as known at `known`: every subject's behaviour score
    /// there and every relation present there. Costs a pass over all subjects and a full solve.
    fn network_at(&self, at: i64, known: i64) -> Network {
        let model = &*self.model;
        let all = &self.entries;
        let behaviours: Vec<f64> = (0..all.len())
            .into_par_iter()
            .with_min_len(4096)
            .map_init(
                || Scratch::new(model),
                |scratch, subject| {
                    // A foreign contact stands at its latest pin at any instant.
                    self.pinned(subject as u32).unwrap_or_else(|| {
                        model
                            .scale
                            .clamp(behaviour(model, all.get(subject), at, known, scratch))
                    })
                },
            )
            .collect();
        let edges: Vec<_> = self
            .relations_at(at, known)
            .into_iter()
            .filter_map(|(key, weight, _)| self.local_edge(key, weight))
            .collect();
        let graph = Graph::from_relations(self.subjects.len() as u32, &edges);
        let mut network = Network::new(graph, behaviours, params(model));
        network.solve();
        network
    }

    /// The served value of subject `index` at the clock.
    #[inline]
    pub(crate) fn served(&self, index: usize) -> f64 {
        match &self.network {
            Some(live) if index < live.network.len() as usize => {
                self.model.scale.clamp(live.network.score(index as u32))
            }
            _ => self.scores[index],
        }
    }

    /// The network part of `subject`'s score at `at` as known at `known`, and the served value;
    /// `None` when the model's network is off or the subject is unknown.
    pub(crate) fn network_part(
        &self,
        subject: Option<u32>,
        at: Timestamp,
        known: Option<Timestamp>,
        top: usize,
    ) -> Option<(NetworkPart, f64)> {
        let live = self.network.as_ref()?;
        let subject = subject?;
        let known_value = known.map_or(NEVER, |k| k.0);
        let is_live = at == self.clock && known.is_none();
        let historical;
        let network = if is_live {
            &live.network
        } else {
            historical = self.network_at(at.0, known_value);
            &historical
        };
        let explained = network.explain(subject, top);
        let model = &*self.model;
        let contacts = explained
            .contacts
            .iter()
            .map(|contact| {
                // The kind of this contact's relation at that instant (with its weight).
                let kind = (0..model.network.kinds.len() as u16)
                    .find(|&kind| {
                        let (key, _) = relation_key(model, subject, contact.subject, kind);
                        let state = if is_live {
                            live.present.get(&key).copied()
                        } else {
                            self.relation_state(key, at.0, known_value)
                        };
                        state == Some(contact.weight)
                    })
                    .map_or("", |kind| model.network.kinds[kind as usize].name.as_str());
                ContactImpact {
                    subject: self.subjects.get(contact.subject).into(),
                    kind: kind.into(),
                    weight: contact.weight.value(),
                    score: model.scale.clamp(contact.score),
                    share: contact.share,
                }
            })
            .collect();
        let served = model.scale.clamp(explained.score);
        Some((
            NetworkPart {
                points: served - explained.behaviour,
                alpha: model.network.alpha,
                epsilon: model.network.epsilon,
                contact_count: explained.contact_count,
                contacts,
            },
            served,
        ))
    }
}
