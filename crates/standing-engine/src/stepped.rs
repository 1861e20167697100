//! Long work done outside the caller's lock: the clock moved, and the event index of a
//! restored engine built.
//!
//! A clock move rescores every subject and solves the network in full: about a second per
//! million subjects. A server that holds its engine behind a lock does the work in pieces that
//! need only shared access ([`Engine::behaviours_at_clock`], [`Engine::network_copy`] and
//! [`NetworkSolve::solve`]) and takes exclusive access only to install each result, which is a
//! copy ([`Engine::install_behaviours`], [`Engine::install_network`]). Events applied in
//! between are accounted for: behaviour scores computed before an apply are computed again
//! under the lock, and changes made to the live network after the copy was taken are made
//! again on the solved copy. The end state is the one [`Engine::advance_clock`] reaches, the
//! network scores within ε of the same fixed point.

use crate::entry::NEVER;
use crate::intern::{BuiltIndex, IndexJob};
use crate::kernel::{Scratch, behaviour};
use crate::live::apply_change;
use crate::state::Engine;
use standing_graph::Network;
use std::ops::Range;

/// Behaviour scores of a range of subjects at the clock, computed with shared access.
#[derive(Clone, Debug)]
pub struct Behaviours {
    start: usize,
    values: Vec<f64>,
    /// The engine's apply count when they were computed.
    applied: u64,
}

/// A copy of the live network to solve without the engine (see the module docs).
#[derive(Debug)]
pub struct NetworkSolve {
    network: Network,
    copy: u64,
    /// How many recorded changes the copy already holds.
    holds: usize,
}

impl NetworkSolve {
    /// Solves the copy in full (on all cores).
    pub fn solve(&mut self) {
        self.network.solve();
    }
}

impl Engine {
    /// The behaviour scores of the subjects in `range` (clamped to the subjects there are) at
    /// the clock, computed without changing anything: to install with
    /// [`Engine::install_behaviours`] after [`Engine::start_clock`].
    pub fn behaviours_at_clock(&self, range: Range<usize>) -> Behaviours {
        let end = range.end.min(self.scores.len());
        let start = range.start.min(end);
        let mut scratch = Scratch::new(&self.model);
        let model = &*self.model;
        let values = (start..end)
            .map(|subject| {
                model.scale.clamp(behaviour(
                    model,
                    self.entries.get(subject),
                    self.clock.0,
                    NEVER,
                    &mut scratch,
                ))
            })
            .collect();
        Behaviours {
            start,
            values,
            applied: self.applied,
        }
    }

    /// Installs behaviour scores computed by [`Engine::behaviours_at_clock`]; if events were
    /// applied since, the range is rescored here instead (the copy may miss them).
    pub fn install_behaviours(&mut self, computed: Behaviours) {
        let range = computed.start..computed.start + computed.values.len();
        if computed.applied != self.applied || range.end > self.scores.len() {
            self.rescore(range);
            return;
        }
        self.mutations += 1;
        self.scores[range].copy_from_slice(&computed.values);
    }

    /// Starts recording the changes made to the live network, so that a copy taken next can be
    /// solved without the engine and installed with them made again. `None` when the model's
    /// network is off.
    pub fn start_network_copy(&mut self) -> Option<u64> {
        self.grow_network();
        let live = self.network.as_mut()?;
        self.network_copies += 1;
        live.recording = Some((self.network_copies, Vec::new()));
        Some(self.network_copies)
    }

    /// The copy started by [`Engine::start_network_copy`], its behaviour scores set to the
    /// cached ones: shared access suffices. `None` if that network is gone (rebuilt, or too many
    /// changes were recorded meanwhile).
    pub fn network_copy(&self, copy: u64) -> Option<NetworkSolve> {
        let live = self.network.as_ref()?;
        let (recording, changes) = live.recording.as_ref()?;
        if *recording != copy || live.network.len() as usize != self.scores.len() {
            return None;
        }
        let mut network = live.network.clone();
        network.set_behaviours(&self.network_behaviours());
        Some(NetworkSolve {
            network,
            copy,
            holds: changes.len(),
        })
    }

    /// Puts the solved copy in place of the live network and makes again on it the changes
    /// made to the live one since the copy was taken. Returns `false`, changing nothing, when
    /// the copy no longer fits (the network was rebuilt or recording gave up): the caller then
    /// finishes with [`Engine::finish_clock`].
    pub fn install_network(&mut self, mut solved: NetworkSolve) -> bool {
        let Some(live) = self.network.as_mut() else {
            return false;
        };
        let Some((recording, changes)) = live.recording.take() else {
            return false;
        };
        if recording != solved.copy || changes.len() < solved.holds {
            return false;
        }
        for change in &changes[solved.holds..] {
            apply_change(&mut solved.network, *change);
        }
        live.network = solved.network;
        if live.network.deferred() > 0 {
            live.network.settle(self.model.network.push_budget);
        }
        self.mutations += 1;
        true
    }
}

/// Building the event index of a restored engine (needed by its first intake) without it.
pub struct EventIndexJob(IndexJob);

/// An event index built by [`EventIndexJob::build`].
pub struct EventIndex(BuiltIndex);

impl std::fmt::Debug for EventIndexJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventIndexJob")
    }
}

impl std::fmt::Debug for EventIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventIndex")
    }
}

impl EventIndexJob {
    /// Builds the index (hashing on every core): seconds per hundred million events.
    pub fn build(self) -> EventIndex {
        EventIndex(self.0.build())
    }
}

impl Engine {
    /// The event index is built on the first intake after a restore, under the caller's lock;
    /// a server builds it ahead with this job instead. `None` when it is built.
    pub fn event_index_job(&self) -> Option<EventIndexJob> {
        self.events.index_job().map(EventIndexJob)
    }

    /// Installs an index the job built, unless one was built meanwhile.
    pub fn install_event_index(&mut self, index: EventIndex) {
        self.events.install_index(index.0);
    }
}
