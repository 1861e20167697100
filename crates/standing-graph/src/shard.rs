//! The push kernel over a partition of subjects.
//!
//! A shard owns a contiguous range of subjects: their rows (targets keep global numbers),
//! behaviour scores, current scores and residuals, and a queue of subjects whose residual
//! exceeds the threshold. Pushing a subject moves its residual into its score and hands
//! `α · w · r` to every subject depending on it: added to that subject's residual (divided by
//! its weight sum) when this shard owns it, sent as a [`Message`] otherwise. One process runs
//! one shard over everything ([`crate::Network`]); a distributed run would place shards on
//! workers and exchange messages between rounds until none is left.

use crate::graph::{Direction, Graph, Weight, backward_units_of};
use std::collections::VecDeque;

/// Residual for a subject another shard owns: `amount / W(subject)` is added to its residual.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Message {
    pub subject: u32,
    pub amount: f64,
}

/// A partition of subjects with their propagation state.
#[derive(Clone, Debug)]
pub struct Shard {
    pub(crate) first: u32,
    pub(crate) graph: Graph,
    pub(crate) behaviour: Vec<f64>,
    pub(crate) score: Vec<f64>,
    pub(crate) residual: Vec<f64>,
    queue: VecDeque<u32>,
    queued: Vec<u64>,
}

impl Shard {
    /// A shard of subjects `first..first + graph.len()`, with their state.
    pub fn new(
        first: u32,
        graph: Graph,
        behaviour: Vec<f64>,
        score: Vec<f64>,
        residual: Vec<f64>,
    ) -> Shard {
        let n = graph.len() as usize;
        assert!(behaviour.len() == n && score.len() == n && residual.len() == n);
        Shard {
            first,
            graph,
            behaviour,
            score,
            residual,
            queue: VecDeque::new(),
            queued: vec![0; n.div_ceil(64)],
        }
    }

    /// The shard's graph, behaviour scores, scores and residuals, back (its queue is dropped:
    /// every residual is above the threshold or not, as the numbers say).
    pub fn into_parts(self) -> (Graph, Vec<f64>, Vec<f64>, Vec<f64>) {
        (self.graph, self.behaviour, self.score, self.residual)
    }

    pub fn owns(&self, subject: u32) -> bool {
        subject >= self.first && subject - self.first < self.graph.len()
    }

    /// The first subject, and how many the shard owns.
    pub fn range(&self) -> std::ops::Range<u32> {
        self.first..self.first + self.graph.len()
    }

    /// The current score of an owned subject.
    pub fn score(&self, subject: u32) -> f64 {
        self.score[(subject - self.first) as usize]
    }

    /// The largest residual (what bounds the error: `‖f − f*‖∞ ≤ max |r| / (1 − α)`).
    pub fn max_residual(&self) -> f64 {
        self.residual.iter().fold(0.0, |max, r| {
            if r.is_nan() {
                f64::INFINITY
            } else {
                max.max(r.abs())
            }
        })
    }

    /// Subjects waiting to be pushed.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.graph.reserve(additional);
        self.behaviour.reserve_exact(additional);
        self.score.reserve_exact(additional);
        self.residual.reserve_exact(additional);
        self.queued.reserve_exact(additional.div_ceil(64));
    }

    pub(crate) fn grow(&mut self, subjects: u32) {
        let n = subjects as usize;
        self.graph.grow(subjects);
        self.behaviour.resize(n, 0.0);
        self.score.resize(n, 0.0);
        self.residual.resize(n, 0.0);
        self.queued.resize(n.div_ceil(64), 0);
    }

    /// Heap bytes of the queue and its membership bits.
    pub(crate) fn queue_bytes(&self) -> u64 {
        (self.queue.capacity() * 4 + self.queued.capacity() * 8) as u64
    }

    pub(crate) fn clear_queue(&mut self) {
        // Freed, not kept: a full queue after a reorder can hold every subject.
        self.queue = VecDeque::new();
        self.queued.fill(0);
    }

    /// Queues a local subject if its residual is above the threshold and it is not queued.
    #[inline]
    pub(crate) fn enqueue(&mut self, local: u32, threshold: f64) {
        enqueue(
            &self.residual,
            &mut self.queued,
            &mut self.queue,
            local,
            threshold,
        );
    }

    /// Sets an owned subject's behaviour score and adds the change to its residual.
    pub fn set_behaviour(&mut self, subject: u32, behaviour: f64, alpha: f64, threshold: f64) {
        let local = subject - self.first;
        let delta = behaviour - self.behaviour[local as usize];
        self.behaviour[local as usize] = behaviour;
        if self.graph.is_isolated(local) && self.residual[local as usize] == 0.0 {
            // No contacts and nobody depending on it: the score is the behaviour score, and
            // there is nothing to push.
            self.score[local as usize] = behaviour;
            return;
        }
        let share = if self.graph.forward_units(local) > 0 {
            1.0 - alpha
        } else {
            1.0
        };
        self.residual[local as usize] += share * delta;
        self.enqueue(local, threshold);
    }

    /// Adds or removes one end of a relation at an owned subject's row (see
    /// [`Graph::add_end`]), `target` in the shard's numbering, and recomputes the subject's
    /// residual when its own score's inputs changed: `contact` is the other end's current
    /// score. Returns whether the row changed (a removal of an end it does not hold does not).
    #[allow(clippy::too_many_arguments)]
    pub fn change_relation(
        &mut self,
        subject: u32,
        target: u32,
        weight: Weight,
        direction: Direction,
        first: bool,
        added: bool,
        contact: f64,
        alpha: f64,
        threshold: f64,
    ) -> bool {
        let local = subject - self.first;
        let before = self.graph.forward_units(local);
        if added {
            self.graph.add_end(local, target, weight, direction, first);
        } else if !self
            .graph
            .remove_end(local, target, weight, direction, first)
        {
            return false;
        }
        let after = self.graph.forward_units(local);
        if after != before {
            self.reweigh(local, before, after, contact, alpha, threshold);
        }
        true
    }

    /// The residual of row `local` after its weight sum went from `before` to `after` units
    /// through one contact of score `contact`, recomputed from the residual kept: that holds
    /// `T(f) − f`, so the contacts' weighted mean before is `(r + f − (1 − α)·b) / α`. Then
    /// queued if it is above the threshold.
    fn reweigh(
        &mut self,
        local: u32,
        before: u64,
        after: u64,
        contact: f64,
        alpha: f64,
        threshold: f64,
    ) {
        let i = local as usize;
        let (b, f) = (self.behaviour[i], self.score[i]);
        let target = if alpha == 0.0 || after == 0 {
            b
        } else {
            let sum = if before == 0 {
                0.0
            } else {
                before as f64 * (self.residual[i] + f - (1.0 - alpha) * b) / alpha
            };
            let delta = after as f64 - before as f64;
            (1.0 - alpha) * b + alpha * (sum + delta * contact) / after as f64
        };
        self.residual[i] = target - f;
        self.enqueue(local, threshold);
    }

    /// The weight units of the contacts an owned subject's score depends on.
    pub fn forward_units(&self, subject: u32) -> u64 {
        self.graph.forward_units(subject - self.first)
    }

    /// Adds messages from other shards to the residuals of the subjects they name.
    pub fn receive(&mut self, messages: &[Message], threshold: f64) {
        for message in messages {
            let local = message.subject - self.first;
            let units = self.graph.forward_units(local);
            if units > 0 {
                self.residual[local as usize] += message.amount / units as f64;
                self.enqueue(local, threshold);
            }
        }
    }

    /// Pushes queued subjects until none is above the threshold or `budget` entries have been
    /// visited. Residual for other shards' subjects goes to `outbox`. Returns the entries
    /// visited; the queue keeps what is left (see [`Shard::pending`]).
    pub fn push(
        &mut self,
        alpha: f64,
        threshold: f64,
        budget: u64,
        outbox: &mut Vec<Message>,
    ) -> u64 {
        let mut work = 0u64;
        let first = self.first;
        let owned = self.graph.len();
        let Shard {
            graph,
            score,
            residual,
            queue,
            queued,
            ..
        } = self;
        while work < budget {
            let Some(local) = queue.pop_front() else {
                break;
            };
            queued[(local / 64) as usize] &= !(1u64 << (local % 64));
            let pushed = residual[local as usize];
            if pushed.abs() <= threshold {
                continue;
            }
            residual[local as usize] = 0.0;
            score[local as usize] += pushed;
            let scaled = alpha * pushed;
            let (targets, words) = graph.row(local);
            let row = targets.iter().zip(words).map(|(&t, &w)| (t, w));
            for (target, word) in row.chain(graph.overlay_row(local).iter().copied()) {
                work += 1;
                let units = backward_units_of(word);
                if units == 0 {
                    continue;
                }
                let amount = scaled * f64::from(units);
                let target_local = target.wrapping_sub(first);
                if target_local < owned {
                    let total = graph.forward_units(target_local) as f64;
                    residual[target_local as usize] += amount / total;
                    enqueue(residual, queued, queue, target_local, threshold);
                } else {
                    outbox.push(Message {
                        subject: target,
                        amount,
                    });
                }
            }
        }
        work
    }
}

#[inline]
fn enqueue(
    residual: &[f64],
    queued: &mut [u64],
    queue: &mut VecDeque<u32>,
    local: u32,
    threshold: f64,
) {
    let (word, bit) = ((local / 64) as usize, 1u64 << (local % 64));
    if residual[local as usize].abs() > threshold && queued[word] & bit == 0 {
        queued[word] |= bit;
        queue.push_back(local);
    }
}

/// Runs shards in rounds — each pushes until its queue is empty, then the messages are
/// delivered — until no shard has work or messages left. This is the loop a distributed run
/// would spread over workers; here it runs them in turn. Returns the rounds taken.
pub fn settle_shards(shards: &mut [Shard], alpha: f64, threshold: f64) -> usize {
    let mut rounds = 0;
    loop {
        let mut messages = Vec::new();
        for shard in shards.iter_mut() {
            shard.push(alpha, threshold, u64::MAX, &mut messages);
        }
        rounds += 1;
        if messages.is_empty() {
            return rounds;
        }
        for shard in shards.iter_mut() {
            let mine: Vec<Message> = messages
                .iter()
                .copied()
                .filter(|m| shard.owns(m.subject))
                .collect();
            shard.receive(&mine, threshold);
        }
    }
}
