//! Served scores and the clock: lookups, grades, and rescoring when the clock moves.

use crate::entry::NEVER;
use crate::kernel::{Scratch, behaviour};
use crate::state::Engine;
use rayon::prelude::*;
use standing_core::{Score, Timestamp};

impl Engine {
    /// Grades are derived from scores, not stored: a few comparisons cost less than a byte per
    /// subject and a memory read.
    pub(crate) fn grade_of(&self, score: f64) -> u8 {
        self.model.scale.grade_index(score) as u8
    }

    pub(crate) fn grade_name(&self, grade: u8) -> &str {
        &self.model.scale.grades[grade as usize].name
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
        let behaviours = crate::foreign::behaviours(&self.scores, self.foreign.as_ref());
        if let Some(live) = self.network.as_mut() {
            live.recording = None;
            live.network.set_behaviours(&behaviours);
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
}
