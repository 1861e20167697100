//! The graph with its scores: full solve, incremental pushes, explanations.

use crate::graph::{Direction, Graph, Weight, forward_units_of};
use crate::shard::{Message, Shard};
use rayon::prelude::*;

/// The network part of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// How much of a score comes from the contacts' scores, `0 ≤ α < 1`.
    pub alpha: f64,
    /// Every served score is within ε points of the exact fixed point (once settled).
    pub epsilon: f64,
    /// The most row entries one change may visit before the rest is deferred to
    /// [`Network::settle`].
    pub push_budget: u64,
}

impl Params {
    /// The residual every subject is brought under: `(1 − α)·ε`.
    pub fn threshold(&self) -> f64 {
        (1.0 - self.alpha) * self.epsilon
    }
}

/// What a full solve did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveReport {
    /// Sweeps over every row (the last only measures the residual).
    pub iterations: u32,
    /// Row entries visited in all.
    pub entries_visited: u64,
    /// The largest residual left.
    pub max_residual: f64,
    /// `max_residual / (1 − α)`: no score is further than this from the fixed point.
    pub error_bound: f64,
}

/// What a change's pushes did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushReport {
    /// Row entries visited.
    pub entries_visited: u64,
    /// Subjects left for [`Network::settle`] because the change used up its budget.
    pub deferred: usize,
}

/// One contact behind a subject's network points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Contact {
    pub subject: u32,
    /// The contact's current score (unclamped).
    pub score: f64,
    pub weight: Weight,
    /// Points this contact moves the subject's score: `α · w / Σw · (f(contact) − b(subject))`.
    /// The shares of all contacts add up to the network points (within the residual).
    pub share: f64,
}

/// How the network moved one subject's score.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkExplanation {
    pub behaviour: f64,
    pub score: f64,
    /// `score − behaviour`.
    pub network_points: f64,
    /// Contacts the score depends on, largest |share| first.
    pub contacts: Vec<Contact>,
    /// How many contacts there are in all.
    pub contact_count: usize,
}

/// Subjects' behaviour scores, the relation graph, and the network scores solved over it.
#[derive(Clone, Debug)]
pub struct Network {
    state: Shard,
    params: Params,
    /// The internal number of each subject (the rows' order, see [`Network::reorder`]), and
    /// back; both empty while the numbering is the callers'.
    to_internal: Vec<u32>,
    to_external: Vec<u32>,
}

/// Rows per parallel task in a full sweep: fixed, so the work split never depends on the
/// thread count (each row's sum is computed the same way regardless).
const ROWS_PER_TASK: usize = 16_384;
/// A full solve gives up after this many sweeps and reports the bound it reached.
const MAX_SWEEPS: u32 = 10_000;

/// How many entries ahead of the current row contacts' scores are fetched into cache.
const PREFETCH_DISTANCE: usize = 160;

#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(score: &[f64], t: u32) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = score.get(t as usize) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that never faults and changes no memory; SSE is part
        // of the x86_64 baseline; and the address is that of an element of `score`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const f64).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (score, t);
}

/// `T(f)(s)`: what `s`'s score should be given its contacts' current scores.
#[inline]
fn target(graph: &Graph, behaviour: &[f64], score: &[f64], s: u32, alpha: f64) -> f64 {
    let units = graph.forward_units(s);
    let b = behaviour[s as usize];
    if units == 0 {
        return b;
    }
    let (targets, words) = graph.row(s);
    let mut sum = 0.0;
    for (&t, &w) in targets.iter().zip(words) {
        sum += f64::from(forward_units_of(w)) * score[t as usize];
    }
    // Contacts of rows a little ahead: their scores are scattered, and the hardware cannot
    // guess indirect addresses.
    let ahead = graph.row_start(s) + PREFETCH_DISTANCE;
    if let Some(targets) = graph.targets_from(ahead, targets.len()) {
        for &t in targets {
            prefetch(score, t);
        }
    }
    if graph.has_overlay() {
        for &(t, w) in graph.overlay_row(s) {
            sum += f64::from(forward_units_of(w)) * score[t as usize];
        }
    }
    (1.0 - alpha) * b + alpha * (sum / units as f64)
}

/// The residuals `r = T(f) − f` of rows `first..first + out.len()` into `out`; returns the
/// largest |r| (infinite over a NaN: a solve never reports convergence over it).
fn residuals_of(
    graph: &Graph,
    behaviour: &[f64],
    score: &[f64],
    alpha: f64,
    first: u32,
    out: &mut [f64],
) -> f64 {
    let mut max = 0.0f64;
    for (offset, r) in out.iter_mut().enumerate() {
        let s = first + offset as u32;
        *r = target(graph, behaviour, score, s, alpha) - score[s as usize];
        if r.is_nan() {
            max = f64::INFINITY;
        } else if r.abs() > max {
            max = r.abs();
        }
    }
    max
}

/// One Jacobi sweep's residuals over every row of `graph`, on this thread: `residual[s] =
/// T(f)(s) − f(s)`, where `behaviour` and `residual` are per row and `score` is indexed by the
/// rows' targets — the rows' own scores first (row `s` is `score[s]`), then any others the
/// rows read (a worker's copies of other workers' subjects). Each row is summed as
/// [`Network::solve`] sums it, so the same rows give the same residuals bit for bit. Returns
/// the largest |r| (infinite over a NaN).
pub fn sweep(
    graph: &Graph,
    behaviour: &[f64],
    score: &[f64],
    residual: &mut [f64],
    alpha: f64,
) -> f64 {
    assert!(
        behaviour.len() == graph.len() as usize && residual.len() == graph.len() as usize,
        "one behaviour score and one residual per row"
    );
    residuals_of(graph, behaviour, score, alpha, 0, residual)
}

impl Network {
    /// A network over `graph` with behaviour scores `behaviour` (one per subject). Scores start
    /// at the behaviour scores; call [`Network::solve`] to reach the fixed point.
    pub fn new(graph: Graph, behaviour: Vec<f64>, params: Params) -> Network {
        assert!((0.0..1.0).contains(&params.alpha), "0 ≤ α < 1");
        assert!(params.epsilon > 0.0, "ε > 0");
        let n = graph.len() as usize;
        assert_eq!(behaviour.len(), n, "one behaviour score per subject");
        let score = behaviour.clone();
        let residual = vec![0.0; n];
        let mut network = Network {
            state: Shard::new(0, graph, behaviour, score, residual),
            params,
            to_internal: Vec::new(),
            to_external: Vec::new(),
        };
        network.recompute_residuals();
        network
    }

    pub fn params(&self) -> Params {
        self.params
    }

    pub fn len(&self) -> u32 {
        self.state.graph.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The graph, in the internal numbering (see [`Network::reorder`]).
    pub fn graph(&self) -> &Graph {
        &self.state.graph
    }

    #[inline]
    fn inner(&self, s: u32) -> u32 {
        self.to_internal.get(s as usize).copied().unwrap_or(s)
    }

    #[inline]
    fn outer(&self, internal: u32) -> u32 {
        self.to_external
            .get(internal as usize)
            .copied()
            .unwrap_or(internal)
    }

    /// The network score of `s` (unclamped; the engine clamps to the model's range).
    #[inline]
    pub fn score(&self, s: u32) -> f64 {
        self.state.score[self.inner(s) as usize]
    }

    /// Every subject's network score, by subject.
    pub fn scores(&self) -> Vec<f64> {
        (0..self.len()).map(|s| self.score(s)).collect()
    }

    pub fn behaviour(&self, s: u32) -> f64 {
        self.state.behaviour[self.inner(s) as usize]
    }

    /// Renumbers the subjects internally so related ones sit near each other in memory
    /// ([`Graph::locality_order`] with `rounds` rounds), which is what keeps a sweep over a large
    /// graph fast when subjects arrive in no useful order. Callers keep their numbering; the
    /// scores are unchanged. Subjects added later are appended in arrival order.
    pub fn reorder(&mut self, rounds: usize) {
        if self.state.graph.entries() == 0 {
            return; // nothing to bring together
        }
        let order = self.state.graph.locality_order(rounds);
        let n = order.len();
        let permute = |values: &[f64]| {
            let mut out = vec![0.0; n];
            for (old, &new) in order.iter().enumerate() {
                out[new as usize] = values[old];
            }
            out
        };
        let graph = self.state.graph.permuted(&order);
        let behaviour = permute(&self.state.behaviour);
        let score = permute(&self.state.score);
        let residual = permute(&self.state.residual);
        self.state = Shard::new(0, graph, behaviour, score, residual);
        let threshold = self.params.threshold();
        for s in 0..self.len() {
            self.state.enqueue(s, threshold);
        }
        // Compose: external → old internal → new internal.
        let to_internal: Vec<u32> = (0..n as u32)
            .map(|external| order[self.inner(external) as usize])
            .collect();
        let mut to_external = vec![0u32; n];
        for (external, &internal) in to_internal.iter().enumerate() {
            to_external[internal as usize] = external as u32;
        }
        self.to_internal = to_internal;
        self.to_external = to_external;
    }

    /// No score is further than this from the exact fixed point. O(subjects).
    pub fn error_bound(&self) -> f64 {
        self.state.max_residual() / (1.0 - self.params.alpha)
    }

    /// Recomputes every residual exactly (undoing rounding drift from many pushes) and returns
    /// the bound it proves: no score is further than this from the exact fixed point.
    pub fn exact_error_bound(&mut self) -> f64 {
        let max = self.recompute_residuals();
        // Residuals above the threshold are work again: queue them.
        let threshold = self.params.threshold();
        self.state.clear_queue();
        for s in 0..self.len() {
            self.state.enqueue(s, threshold);
        }
        max / (1.0 - self.params.alpha)
    }

    /// The internal number of subject `s` (what [`Network::graph`], [`Network::split`] and
    /// [`Network::linear_system`] speak in).
    pub fn internal_of(&self, s: u32) -> u32 {
        self.inner(s)
    }

    /// The subject with internal number `internal`.
    pub fn external_of(&self, internal: u32) -> u32 {
        self.outer(internal)
    }

    /// The row-normalised matrix `α·w(s,u)/Σw` in CSR form `(row offsets, columns, values)`,
    /// and the constant vector `c` with `f = c + M·f`: for running another solver on the same
    /// problem.
    ///
    /// All in the internal numbering; the last two vectors are the behaviour scores and the
    /// current scores in that numbering.
    #[allow(clippy::type_complexity)]
    pub fn linear_system(&self) -> (Vec<u64>, Vec<u32>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let alpha = self.params.alpha;
        let graph = &self.state.graph;
        let mut offsets = vec![0u64];
        let mut columns = Vec::new();
        let mut values = Vec::new();
        let mut constant = Vec::with_capacity(self.len() as usize);
        for s in 0..self.len() {
            let total = graph.forward_units(s) as f64;
            let b = self.state.behaviour[s as usize];
            for entry in graph.entries_of(s).filter(|e| e.forward) {
                columns.push(entry.target);
                values.push(alpha * f64::from(entry.weight.units()) / total);
            }
            offsets.push(columns.len() as u64);
            constant.push(if total == 0.0 { b } else { (1.0 - alpha) * b });
        }
        (
            offsets,
            columns,
            values,
            constant,
            self.state.behaviour.clone(),
            self.state.score.clone(),
        )
    }

    /// Subjects whose pushes were deferred by a change that used up its budget.
    pub fn deferred(&self) -> usize {
        self.state.pending()
    }

    /// Replaces every behaviour score (one per subject) without pushing: follow with
    /// [`Network::solve`], which starts from the current scores.
    pub fn set_behaviours(&mut self, behaviour: &[f64]) {
        assert_eq!(
            behaviour.len(),
            self.len() as usize,
            "one behaviour score per subject"
        );
        if self.to_internal.is_empty() {
            self.state.behaviour.copy_from_slice(behaviour);
        } else {
            for (external, &value) in behaviour.iter().enumerate() {
                let internal = self.to_internal[external] as usize;
                self.state.behaviour[internal] = value;
            }
        }
    }

    /// Makes room for `additional` more subjects without regrowing (a known population).
    pub fn reserve(&mut self, additional: usize) {
        self.state.reserve(additional);
        if !self.to_internal.is_empty() {
            self.to_internal.reserve_exact(additional);
            self.to_external.reserve_exact(additional);
        }
    }

    /// Adds subjects (without relations) up to `subjects`, each at `behaviour`.
    pub fn grow(&mut self, subjects: u32, behaviour: f64) {
        let old = self.len() as usize;
        if !self.to_internal.is_empty() {
            // New subjects keep their own number internally, after the renumbered ones.
            self.to_internal.extend(old as u32..subjects);
            self.to_external.extend(old as u32..subjects);
        }
        self.state.grow(subjects);
        self.state.behaviour[old..].fill(behaviour);
        self.state.score[old..].fill(behaviour);
    }

    /// Computes every residual `r = T(f) − f` exactly; returns the largest.
    fn recompute_residuals(&mut self) -> f64 {
        let alpha = self.params.alpha;
        let Shard {
            graph,
            behaviour,
            score,
            residual,
            ..
        } = &mut self.state;
        let (graph, behaviour, score) = (&*graph, &*behaviour, &*score);
        residual
            .par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .map(|(task, out)| {
                let first = (task * ROWS_PER_TASK) as u32;
                residuals_of(graph, behaviour, score, alpha, first, out)
            })
            .reduce(|| 0.0, f64::max)
    }

    /// Iterates `f ← T(f)` on all cores until every residual is at most `(1 − α)·ε`, which
    /// puts every score within ε of the fixed point. Deterministic: each row is summed in its
    /// stored order by one task, so the result is the same bit for bit at any thread count.
    /// Clears any deferred pushes.
    pub fn solve(&mut self) -> SolveReport {
        if self.state.graph.has_overlay() {
            // Every row of every sweep would look in the overlay: merge it once instead.
            self.state.graph.merge();
        }
        let threshold = self.params.threshold();
        let mut iterations = 0;
        let max_residual = loop {
            let max = self.recompute_residuals();
            iterations += 1;
            if max <= threshold || iterations >= MAX_SWEEPS {
                break max;
            }
            let Shard {
                score, residual, ..
            } = &mut self.state;
            score
                .par_iter_mut()
                .zip(residual.par_iter())
                .for_each(|(f, r)| *f += r);
        };
        // Every residual is now known exactly; the queue restarts from them.
        self.state.clear_queue();
        for s in 0..self.len() {
            self.state.enqueue(s, threshold);
        }
        SolveReport {
            iterations,
            entries_visited: u64::from(iterations) * self.state.graph.entries(),
            max_residual,
            error_bound: max_residual / (1.0 - self.params.alpha),
        }
    }

    fn push(&mut self, budget: u64) -> PushReport {
        let mut outbox: Vec<Message> = Vec::new();
        let entries_visited = self.state.push(
            self.params.alpha,
            self.params.threshold(),
            budget,
            &mut outbox,
        );
        debug_assert!(outbox.is_empty(), "one shard owns every subject");
        PushReport {
            entries_visited,
            deferred: self.state.pending(),
        }
    }

    /// Sets `s`'s behaviour score and brings every score back within ε by local pushes, up to
    /// the change's budget.
    pub fn set_behaviour(&mut self, s: u32, behaviour: f64) -> PushReport {
        let (alpha, threshold) = (self.params.alpha, self.params.threshold());
        let s = self.inner(s);
        self.state.set_behaviour(s, behaviour, alpha, threshold);
        self.push(self.params.push_budget)
    }

    /// Continues deferred pushes, visiting at most `budget` row entries.
    pub fn settle(&mut self, budget: u64) -> PushReport {
        self.push(budget)
    }

    fn inputs_changed(&mut self, changed: crate::graph::Changed) -> PushReport {
        let threshold = self.params.threshold();
        for s in [Some(changed.first), changed.second].into_iter().flatten() {
            let state = &mut self.state;
            let t = target(
                &state.graph,
                &state.behaviour,
                &state.score,
                s,
                self.params.alpha,
            );
            state.residual[s as usize] = t - state.score[s as usize];
            state.enqueue(s, threshold);
        }
        self.push(self.params.push_budget)
    }

    /// Adds a relation (for `OneWay`, `a`'s score depends on `b`'s) and restores the bound.
    pub fn add_relation(
        &mut self,
        a: u32,
        b: u32,
        weight: Weight,
        direction: Direction,
    ) -> PushReport {
        let (a, b) = (self.inner(a), self.inner(b));
        let changed = self.state.graph.add(a, b, weight, direction);
        self.inputs_changed(changed)
    }

    /// Removes one relation equal to the one given and restores the bound; `None` (nothing
    /// changed) when there is no such relation.
    pub fn remove_relation(
        &mut self,
        a: u32,
        b: u32,
        weight: Weight,
        direction: Direction,
    ) -> Option<PushReport> {
        let (a, b) = (self.inner(a), self.inner(b));
        let changed = self.state.graph.remove(a, b, weight, direction)?;
        Some(self.inputs_changed(changed))
    }

    /// How the network moved `s`'s score, with the `top` contacts by |share|.
    pub fn explain(&self, s: u32, top: usize) -> NetworkExplanation {
        let s = self.inner(s);
        let state = &self.state;
        let behaviour = state.behaviour[s as usize];
        let score = state.score[s as usize];
        let total = state.graph.forward_units(s) as f64;
        let mut contacts: Vec<Contact> = state
            .graph
            .entries_of(s)
            .filter(|entry| entry.forward)
            .map(|entry| Contact {
                subject: self.outer(entry.target),
                score: state.score[entry.target as usize],
                weight: entry.weight,
                share: self.params.alpha * f64::from(entry.weight.units()) / total
                    * (state.score[entry.target as usize] - behaviour),
            })
            .collect();
        let contact_count = contacts.len();
        contacts.sort_by(|a, b| {
            b.share
                .abs()
                .total_cmp(&a.share.abs())
                .then(a.subject.cmp(&b.subject))
        });
        contacts.truncate(top);
        NetworkExplanation {
            behaviour,
            score,
            network_points: score - behaviour,
            contacts,
            contact_count,
        }
    }

    /// The state cut into `count` shards of consecutive subjects, in the internal numbering
    /// (the callers' unless [`Network::reorder`] was called).
    pub fn split(&self, count: u32) -> Vec<Shard> {
        let n = self.len();
        let size = n.div_ceil(count.max(1)).max(1);
        let threshold = self.params.threshold();
        (0..n)
            .step_by(size as usize)
            .map(|first| {
                let end = (first + size).min(n);
                let range = first as usize..end as usize;
                let mut shard = Shard::new(
                    first,
                    self.state.graph.rows_of(first, end),
                    self.state.behaviour[range.clone()].to_vec(),
                    self.state.score[range.clone()].to_vec(),
                    self.state.residual[range].to_vec(),
                );
                for s in first..end {
                    shard.enqueue(s - first, threshold);
                }
                shard
            })
            .collect()
    }

    /// Heap bytes of the graph and the propagation state: `(growing with entries, growing
    /// with subjects)`.
    pub fn heap_bytes(&self) -> (u64, u64) {
        let state = &self.state;
        let per_subject = state.graph.subject_bytes()
            + ((state.behaviour.capacity() + state.score.capacity() + state.residual.capacity())
                * 8) as u64
            + state.queue_bytes()
            + ((self.to_internal.capacity() + self.to_external.capacity()) * 4) as u64;
        (state.graph.entry_bytes(), per_subject)
    }
}
