//! Questions about the state: events and their numbers, subjects' indexes, list members,
//! behaviour at an instant, every score at once, and sizes.

use crate::apply::event_key;
use crate::entry::NEVER;
use crate::kernel::{Scratch, behaviour, memberships};
use crate::state::{Engine, EngineStats};
use rayon::prelude::*;
use standing_core::Timestamp;

impl Engine {
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
