//! The relation graph as compressed sparse rows, with an overlay for added relations.
//!
//! Row `s` lists `s`'s entries: a target subject (`u32`) and a 16-bit word holding two flags
//! and a weight. `FORWARD`: `s`'s score depends on the target (the target is `s`'s contact).
//! `BACKWARD`: the target's score depends on `s` (pushes from `s` go there). A mutual relation
//! is one entry with both flags in each endpoint's row; a one-way relation is a `FORWARD` entry
//! in the follower's row and a `BACKWARD` entry in the followed one's. Six bytes per entry, in
//! two flat arrays.
//!
//! Added relations go to a per-subject overlay until it holds an eighth as many entries as
//! the rows, when everything is merged into fresh rows (amortised O(1) per change). Removals
//! clear the entry's word in place (a dead slot, dropped at the next merge).

use std::collections::HashMap;

const FORWARD: u16 = 1 << 15;
const BACKWARD: u16 = 1 << 14;
const UNITS: u16 = BACKWARD - 1;

/// A relation weight, in units of 1/1024 from 1/1024 to 16383/1024 (about 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    /// Units per 1.0.
    pub const SCALE: f64 = 1024.0;
    /// The largest weight.
    pub const MAX: Weight = Weight(UNITS);
    pub const ONE: Weight = Weight(1024);

    /// The nearest weight to `value`; `None` for values that round to nothing, are negative or
    /// not finite. Values above the largest weight are refused too.
    pub fn from_f64(value: f64) -> Option<Weight> {
        let units = (value * Self::SCALE).round();
        (units >= 1.0 && units <= f64::from(UNITS)).then_some(Weight(units as u16))
    }

    /// From raw units (1..=16383).
    pub fn from_units(units: u16) -> Option<Weight> {
        (1..=UNITS).contains(&units).then_some(Weight(units))
    }

    pub fn units(self) -> u16 {
        self.0
    }

    pub fn value(self) -> f64 {
        f64::from(self.0) / Self::SCALE
    }
}

/// Whose score a relation moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Each endpoint's score depends on the other's.
    Mutual,
    /// Only the first endpoint's score depends on the second's.
    OneWay,
}

impl Direction {
    /// Whether the score at one end of such a relation depends on the other end's: always at
    /// the first end (`a` of `(a, b)`), at the second only when mutual.
    pub fn depends_at(self, first: bool) -> bool {
        first || self == Direction::Mutual
    }
}

/// One entry of a row, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub target: u32,
    pub weight: Weight,
    /// The row's subject depends on the target.
    pub forward: bool,
    /// The target depends on the row's subject.
    pub backward: bool,
}

fn decode(target: u32, word: u16) -> Option<Entry> {
    (word & UNITS != 0).then_some(Entry {
        target,
        weight: Weight(word & UNITS),
        forward: word & FORWARD != 0,
        backward: word & BACKWARD != 0,
    })
}

/// Row offsets: 4 bytes each while the graph holds fewer than 2^32 entries, 8 beyond.
#[derive(Clone, Debug)]
enum Offsets {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Offsets {
    fn default() -> Self {
        Offsets::Narrow(Vec::new())
    }
}

impl Offsets {
    fn from_wide(wide: Vec<u64>) -> Offsets {
        if wide.last().is_none_or(|&last| last <= u64::from(u32::MAX)) {
            Offsets::Narrow(wide.into_iter().map(|o| o as u32).collect())
        } else {
            Offsets::Wide(wide)
        }
    }

    #[inline(always)]
    fn get(&self, index: usize) -> usize {
        match self {
            Offsets::Narrow(offsets) => offsets[index] as usize,
            Offsets::Wide(offsets) => offsets[index] as usize,
        }
    }

    fn last(&self) -> u64 {
        match self {
            Offsets::Narrow(offsets) => offsets.last().map_or(0, |&o| u64::from(o)),
            Offsets::Wide(offsets) => offsets.last().copied().unwrap_or(0),
        }
    }

    fn push(&mut self, value: u64) {
        match self {
            Offsets::Narrow(offsets) => match u32::try_from(value) {
                Ok(narrow) => offsets.push(narrow),
                Err(_) => {
                    let mut wide: Vec<u64> = offsets.iter().map(|&o| u64::from(o)).collect();
                    wide.push(value);
                    *self = Offsets::Wide(wide);
                }
            },
            Offsets::Wide(offsets) => offsets.push(value),
        }
    }

    fn reserve(&mut self, additional: usize) {
        match self {
            Offsets::Narrow(offsets) => offsets.reserve_exact(additional),
            Offsets::Wide(offsets) => offsets.reserve_exact(additional),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Offsets::Narrow(offsets) => offsets.capacity() * 4,
            Offsets::Wide(offsets) => offsets.capacity() * 8,
        }
    }
}

/// The relation graph. Subjects are `0..len()`.
#[derive(Clone, Debug)]
pub struct Graph {
    offsets: Offsets,
    targets: Vec<u32>,
    words: Vec<u16>,
    /// Σ of the weight units of each subject's `FORWARD` entries (exact: integers).
    forward_units: Vec<u64>,
    overlay: HashMap<u32, Vec<(u32, u16)>>,
    overlay_entries: usize,
    dead: usize,
}

impl Default for Graph {
    /// A graph of no subjects (one row offset, 0).
    fn default() -> Self {
        Graph::new(0)
    }
}

impl Graph {
    /// An empty graph of `subjects` subjects.
    pub fn new(subjects: u32) -> Graph {
        Graph {
            offsets: Offsets::Narrow(vec![0; subjects as usize + 1]),
            targets: Vec::new(),
            words: Vec::new(),
            forward_units: vec![0; subjects as usize],
            overlay: HashMap::new(),
            overlay_entries: 0,
            dead: 0,
        }
    }

    /// Builds the rows from relations `(a, b, weight, direction)` (for `OneWay`, `a` depends on
    /// `b`) in two passes, counting then placing. Entries keep the relations' order within a
    /// row, so the same relations give the same graph.
    pub fn from_relations(subjects: u32, relations: &[(u32, u32, Weight, Direction)]) -> Graph {
        let n = subjects as usize;
        let mut counts = vec![0u64; n + 1];
        for &(a, b, _, _) in relations {
            counts[a as usize + 1] += 1;
            counts[b as usize + 1] += 1;
        }
        for s in 0..n {
            counts[s + 1] += counts[s];
        }
        let offsets = counts;
        let total = offsets[n] as usize;
        let mut targets = vec![0u32; total];
        let mut words = vec![0u16; total];
        let mut next: Vec<u64> = offsets[..n].to_vec();
        let mut forward_units = vec![0u64; n];
        let mut place = |row: u32, target: u32, word: u16| {
            let slot = next[row as usize] as usize;
            targets[slot] = target;
            words[slot] = word;
            next[row as usize] += 1;
        };
        for &(a, b, weight, direction) in relations {
            let (in_a, in_b) = flags(direction);
            place(a, b, in_a | weight.0);
            place(b, a, in_b | weight.0);
            forward_units[a as usize] += u64::from(weight.0);
            if direction == Direction::Mutual {
                forward_units[b as usize] += u64::from(weight.0);
            }
        }
        Graph {
            offsets: Offsets::from_wide(offsets),
            targets,
            words,
            forward_units,
            ..Graph::default()
        }
    }

    pub fn len(&self) -> u32 {
        self.forward_units.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.forward_units.is_empty()
    }

    /// Stored entries, live ones in the rows and the overlay.
    pub fn entries(&self) -> u64 {
        (self.targets.len() - self.dead + self.overlay_entries) as u64
    }

    /// Makes room for `additional` more subjects.
    pub fn reserve(&mut self, additional: usize) {
        self.offsets.reserve(additional);
        self.forward_units.reserve_exact(additional);
    }

    /// Grows the graph to `subjects` subjects (new ones without relations).
    pub fn grow(&mut self, subjects: u32) {
        let end = self.offsets.last();
        while self.len() < subjects {
            self.offsets.push(end);
            self.forward_units.push(0);
        }
    }

    /// Σ of the weights (in units) of the contacts `s`'s score depends on.
    pub fn forward_units(&self, s: u32) -> u64 {
        self.forward_units[s as usize]
    }

    /// The row of `s` in the compact part: targets and words.
    #[inline]
    pub(crate) fn row(&self, s: u32) -> (&[u32], &[u16]) {
        let start = self.offsets.get(s as usize);
        let end = self.offsets.get(s as usize + 1);
        (&self.targets[start..end], &self.words[start..end])
    }

    /// Whether `s` has no entries at all (no contacts, and nobody depends on it).
    #[inline]
    pub(crate) fn is_isolated(&self, s: u32) -> bool {
        self.row_start(s) == self.offsets.get(s as usize + 1)
            && (self.overlay_entries == 0 || !self.overlay.contains_key(&s))
    }

    /// Where `s`'s row starts in the entry arrays.
    #[inline]
    pub(crate) fn row_start(&self, s: u32) -> usize {
        self.offsets.get(s as usize)
    }

    /// Up to `count` targets from entry `start` on (for prefetching), `None` past the end.
    #[inline]
    pub(crate) fn targets_from(&self, start: usize, count: usize) -> Option<&[u32]> {
        let end = start.saturating_add(count).min(self.targets.len());
        self.targets.get(start..end)
    }

    #[inline]
    pub(crate) fn overlay_row(&self, s: u32) -> &[(u32, u16)] {
        if self.overlay_entries == 0 {
            return &[];
        }
        self.overlay.get(&s).map_or(&[], |row| row.as_slice())
    }

    pub(crate) fn has_overlay(&self) -> bool {
        self.overlay_entries > 0
    }

    /// The live entries of `s`'s row, compact part first.
    pub fn entries_of(&self, s: u32) -> impl Iterator<Item = Entry> + '_ {
        let (targets, words) = self.row(s);
        targets
            .iter()
            .zip(words)
            .map(|(&t, &w)| (t, w))
            .chain(self.overlay_row(s).iter().copied())
            .filter_map(|(t, w)| decode(t, w))
    }

    /// Adds a relation (for `OneWay`, `a` depends on `b`). Returns the subjects whose own
    /// score's inputs changed.
    pub fn add(&mut self, a: u32, b: u32, weight: Weight, direction: Direction) -> Changed {
        self.push_end(a, b, weight, direction, true);
        self.push_end(b, a, weight, direction, false);
        self.merge_if_crowded();
        changed(a, b, direction)
    }

    /// Adds one end of a relation `(a, b)` to `row`: the end at `a` when `first`, else at `b`.
    /// For a part whose rows are some subjects and whose targets are numbered otherwise (see
    /// [`Graph::relabelled`]), where the other end's row lives elsewhere. `target` is the other
    /// end, in the part's numbering.
    pub fn add_end(
        &mut self,
        row: u32,
        target: u32,
        weight: Weight,
        direction: Direction,
        first: bool,
    ) {
        self.push_end(row, target, weight, direction, first);
        self.merge_if_crowded();
    }

    /// Removes one end of a relation equal to the one given (see [`Graph::add_end`]); whether
    /// there was one.
    pub fn remove_end(
        &mut self,
        row: u32,
        target: u32,
        weight: Weight,
        direction: Direction,
        first: bool,
    ) -> bool {
        if !self.has_entry(row, target, end_word(weight, direction, first)) {
            return false;
        }
        self.clear_end(row, target, weight, direction, first);
        self.merge_if_dead();
        true
    }

    /// Removes one relation equal to the one given; `None` when there is none.
    pub fn remove(
        &mut self,
        a: u32,
        b: u32,
        weight: Weight,
        direction: Direction,
    ) -> Option<Changed> {
        if !self.has_entry(a, b, end_word(weight, direction, true))
            || !self.has_entry(b, a, end_word(weight, direction, false))
        {
            return None;
        }
        self.clear_end(a, b, weight, direction, true);
        self.clear_end(b, a, weight, direction, false);
        self.merge_if_dead();
        Some(changed(a, b, direction))
    }

    /// One end of a relation into the overlay, and its weight into the row's sum if the row's
    /// score depends on it.
    fn push_end(
        &mut self,
        row: u32,
        target: u32,
        weight: Weight,
        direction: Direction,
        first: bool,
    ) {
        let word = end_word(weight, direction, first);
        self.overlay.entry(row).or_default().push((target, word));
        self.overlay_entries += 1;
        if direction.depends_at(first) {
            self.forward_units[row as usize] += u64::from(weight.0);
        }
    }

    /// Clears one end of a relation that is there, and its weight from the row's sum.
    fn clear_end(
        &mut self,
        row: u32,
        target: u32,
        weight: Weight,
        direction: Direction,
        first: bool,
    ) {
        self.clear_entry(row, target, end_word(weight, direction, first));
        if direction.depends_at(first) {
            self.forward_units[row as usize] -= u64::from(weight.0);
        }
    }

    /// Merges the overlay into the rows once it holds more than an eighth of them.
    fn merge_if_crowded(&mut self) {
        if self.overlay_entries > 1024 + self.targets.len() / 8 {
            self.merge();
        }
    }

    /// Merges the rows once more than an eighth of their slots are dead.
    fn merge_if_dead(&mut self) {
        if self.dead > 1024 + self.targets.len() / 8 {
            self.merge();
        }
    }

    fn has_entry(&self, row: u32, target: u32, word: u16) -> bool {
        let (targets, words) = self.row(row);
        targets
            .iter()
            .zip(words)
            .any(|(&t, &w)| t == target && w == word)
            || self.overlay_row(row).contains(&(target, word))
    }

    fn clear_entry(&mut self, row: u32, target: u32, word: u16) {
        if let Some(list) = self.overlay.get_mut(&row)
            && let Some(at) = list.iter().position(|&entry| entry == (target, word))
        {
            list.swap_remove(at);
            self.overlay_entries -= 1;
            if list.is_empty() {
                self.overlay.remove(&row);
            }
            return;
        }
        let start = self.offsets.get(row as usize);
        let end = self.offsets.get(row as usize + 1);
        if let Some(at) = (start..end).find(|&i| self.targets[i] == target && self.words[i] == word)
        {
            self.words[at] = 0;
            self.dead += 1;
        }
    }

    /// Rebuilds the rows with the overlay merged in and dead slots dropped.
    pub fn merge(&mut self) {
        let n = self.len() as usize;
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(self.entries() as usize);
        let mut words = Vec::with_capacity(self.entries() as usize);
        offsets.push(0u64);
        for s in 0..n as u32 {
            let (row_targets, row_words) = self.row(s);
            for (&t, &w) in row_targets.iter().zip(row_words) {
                if w != 0 {
                    targets.push(t);
                    words.push(w);
                }
            }
            for &(t, w) in self.overlay_row(s) {
                targets.push(t);
                words.push(w);
            }
            offsets.push(targets.len() as u64);
        }
        self.offsets = Offsets::from_wide(offsets);
        self.targets = targets;
        self.words = words;
        self.overlay.clear();
        self.overlay_entries = 0;
        self.dead = 0;
    }

    /// Heap bytes that grow with entries: the entry arrays and the overlay.
    pub fn entry_bytes(&self) -> u64 {
        (self.targets.capacity() * 4
            + self.words.capacity() * 2
            + self
                .overlay
                .values()
                .map(|row| row.capacity() * 8 + 32)
                .sum::<usize>()) as u64
    }

    /// Heap bytes that grow with subjects: row offsets and weight sums.
    pub fn subject_bytes(&self) -> u64 {
        (self.offsets.heap_bytes() + self.forward_units.capacity() * 8) as u64
    }
}

/// The word flags of a relation's two entries: in `a`'s row and in `b`'s row.
/// The word stored at one end of a relation: the end at `a` of `(a, b)` when `first`.
fn end_word(weight: Weight, direction: Direction, first: bool) -> u16 {
    let (in_a, in_b) = flags(direction);
    (if first { in_a } else { in_b }) | weight.0
}

fn flags(direction: Direction) -> (u16, u16) {
    match direction {
        Direction::Mutual => (FORWARD | BACKWARD, FORWARD | BACKWARD),
        Direction::OneWay => (FORWARD, BACKWARD),
    }
}

/// The subjects whose score's inputs a relation change touched (one or two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    pub first: u32,
    pub second: Option<u32>,
}

fn changed(a: u32, b: u32, direction: Direction) -> Changed {
    Changed {
        first: a,
        second: (direction == Direction::Mutual).then_some(b),
    }
}

/// The weight units of a word if it is a live `FORWARD` entry, else 0; branch-free.
#[inline(always)]
pub(crate) fn forward_units_of(word: u16) -> u16 {
    let mask = ((word as i16) >> 15) as u16;
    word & UNITS & mask
}

/// The weight units of a word if it is a live `BACKWARD` entry, else 0.
#[inline(always)]
pub(crate) fn backward_units_of(word: u16) -> u16 {
    if word & BACKWARD != 0 {
        word & UNITS
    } else {
        0
    }
}

fn word_of(entry: &Entry) -> u16 {
    entry.weight.0
        | if entry.forward { FORWARD } else { 0 }
        | if entry.backward { BACKWARD } else { 0 }
}

impl Graph {
    /// A numbering that puts related subjects near each other, so a sweep reads contacts'
    /// scores from nearby memory: `rounds` rounds of label propagation (every subject takes the
    /// label most common among its relations, keeping its own on a tie with it, else the
    /// smallest; all subjects at once, so the result does not depend on the thread count), then
    /// subjects numbered label by label, in their old order within a label. Returns the new
    /// number of every subject.
    pub fn locality_order(&self, rounds: usize) -> Vec<u32> {
        use rayon::prelude::*;
        let n = self.len() as usize;
        let mut label: Vec<u32> = (0..n as u32).collect();
        for _ in 0..rounds {
            let next: Vec<u32> = (0..n as u32)
                .into_par_iter()
                .with_min_len(4096)
                .map_init(Vec::new, |labels: &mut Vec<u32>, s| {
                    labels.clear();
                    labels.extend(self.entries_of(s).map(|e| label[e.target as usize]));
                    let own = label[s as usize];
                    if labels.is_empty() {
                        return own;
                    }
                    labels.sort_unstable();
                    // The most common label (sorted: the first of the longest runs is the
                    // smallest on a tie); the own label wins a tie it is part of.
                    let (mut best, mut best_run, mut own_run) = (labels[0], 0usize, 0usize);
                    let mut start = 0;
                    while start < labels.len() {
                        let value = labels[start];
                        let run = labels[start..].iter().take_while(|&&l| l == value).count();
                        if run > best_run {
                            (best, best_run) = (value, run);
                        }
                        if value == own {
                            own_run = run;
                        }
                        start += run;
                    }
                    if own_run == best_run { own } else { best }
                })
                .collect();
            let settled = next == label;
            label = next;
            if settled {
                break;
            }
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_by_key(|&s| (label[s as usize], s));
        let mut new_of_old = vec![0u32; n];
        for (new, &old) in order.iter().enumerate() {
            new_of_old[old as usize] = new as u32;
        }
        new_of_old
    }

    /// The same graph with subject `s` renumbered `new_of_old[s]` (a permutation), the overlay
    /// merged and dead slots dropped.
    pub fn permuted(&self, new_of_old: &[u32]) -> Graph {
        let n = self.len() as usize;
        assert_eq!(new_of_old.len(), n, "one new number per subject");
        let mut old_of_new = vec![0u32; n];
        for (old, &new) in new_of_old.iter().enumerate() {
            old_of_new[new as usize] = old as u32;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(self.entries() as usize);
        let mut words = Vec::with_capacity(self.entries() as usize);
        offsets.push(0u64);
        for &old in &old_of_new {
            for entry in self.entries_of(old) {
                targets.push(new_of_old[entry.target as usize]);
                words.push(word_of(&entry));
            }
            offsets.push(targets.len() as u64);
        }
        Graph {
            offsets: Offsets::from_wide(offsets),
            targets,
            words,
            forward_units: old_of_new
                .iter()
                .map(|&old| self.forward_units[old as usize])
                .collect(),
            ..Graph::default()
        }
    }

    /// The rows of `rows`, in that order, as a graph of their own whose targets are renamed by
    /// `label` (row `i` is subject `rows[i]`): a worker's part, its targets numbered in its own
    /// score vector. Entries keep their order within a row; the overlay is read after the
    /// compact part, as a sweep reads it.
    pub fn relabelled(&self, rows: &[u32], mut label: impl FnMut(u32) -> u32) -> Graph {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0u64);
        let total: usize = rows.iter().map(|&s| self.entries_of(s).count()).sum();
        let mut part = Graph {
            targets: Vec::with_capacity(total),
            words: Vec::with_capacity(total),
            forward_units: Vec::with_capacity(rows.len()),
            ..Graph::default()
        };
        for &s in rows {
            for entry in self.entries_of(s) {
                part.targets.push(label(entry.target));
                part.words.push(word_of(&entry));
            }
            offsets.push(part.targets.len() as u64);
            part.forward_units.push(self.forward_units[s as usize]);
        }
        part.offsets = Offsets::from_wide(offsets);
        part
    }

    /// The rows of subjects `first..end` as a graph of their own (row `i` is subject
    /// `first + i`; targets keep their global numbers), for a [`crate::Shard`].
    pub fn rows_of(&self, first: u32, end: u32) -> Graph {
        let mut part = Graph {
            offsets: Offsets::Narrow(vec![0]),
            ..Graph::default()
        };
        for s in first..end {
            for entry in self.entries_of(s) {
                part.targets.push(entry.target);
                part.words.push(word_of(&entry));
            }
            part.offsets.push(part.targets.len() as u64);
            part.forward_units.push(self.forward_units[s as usize]);
        }
        part
    }
}
