//! A worker's share of the network: the rows of the subjects it owns, their targets renumbered
//! into one score vector — its own subjects first, then a copy (a mirror) of every other
//! worker's subject its rows read — and the plan of which scores go where each sweep.

use crate::partition::Owners;
use standing_graph::{Graph, Shard};
use std::ops::Range;

/// The subjects a worker owns and the state of their part of the fixed point.
#[derive(Clone, Debug)]
pub struct Part {
    worker: u32,
    /// The subjects owned, ascending: row `i` is `subjects[i]`.
    subjects: Vec<u32>,
    /// Row `i`'s targets are slots of `score`.
    graph: Graph,
    behaviour: Vec<f64>,
    /// Own scores (`0..subjects.len()`), then the mirrors, grouped by owner, each group by
    /// subject ascending.
    score: Vec<f64>,
    residual: Vec<f64>,
    /// For each worker: the own slots whose scores it mirrors, in its mirror order.
    send: Vec<Vec<u32>>,
    /// For each worker: the slots of `score` that mirror its subjects.
    receive: Vec<Range<usize>>,
    /// The owner and subject of each mirror, in slot order: sorted up to `planned`, then the
    /// mirrors relation changes added.
    mirrored: Vec<(u32, u32)>,
    planned: usize,
}

const UNPLACED: u32 = u32::MAX;

impl Part {
    /// Worker `worker`'s part of `graph` with behaviour and starting scores (one per subject),
    /// subjects placed by `owners`.
    pub fn new(
        graph: &Graph,
        behaviour: &[f64],
        score: &[f64],
        owners: &Owners,
        worker: u32,
    ) -> Part {
        let n = graph.len() as usize;
        assert!(
            behaviour.len() == n && score.len() == n,
            "one behaviour and score per subject"
        );
        let workers = owners.workers() as usize;
        let subjects: Vec<u32> = (0..graph.len())
            .filter(|&s| owners.of(s) == worker)
            .collect();
        // Slot of every subject this part reads: own ones first, then mirrors.
        let mut slot = vec![UNPLACED; n];
        for (index, &s) in subjects.iter().enumerate() {
            slot[s as usize] = index as u32;
        }
        let mut mirrored: Vec<(u32, u32)> = Vec::new();
        for &s in &subjects {
            for entry in graph.entries_of(s) {
                let t = entry.target;
                if owners.of(t) != worker && slot[t as usize] == UNPLACED {
                    slot[t as usize] = UNPLACED - 1; // seen
                    mirrored.push((owners.of(t), t));
                }
            }
        }
        mirrored.sort_unstable();
        let own = subjects.len();
        for (index, &(_, t)) in mirrored.iter().enumerate() {
            slot[t as usize] = (own + index) as u32;
        }
        let receive = (0..workers as u32)
            .map(|q| {
                let start = mirrored.partition_point(|&(owner, _)| owner < q);
                let end = mirrored.partition_point(|&(owner, _)| owner <= q);
                own + start..own + end
            })
            .collect();
        // What each other worker mirrors of ours: every own subject in one of its rows. Rows
        // are symmetric (a relation is an entry in both ends' rows), so that is every own
        // subject with a contact it owns, and ascending subjects give its mirror order.
        let mut send = vec![Vec::new(); workers];
        let mut to: Vec<u32> = Vec::new();
        for (index, &s) in subjects.iter().enumerate() {
            to.clear();
            to.extend(
                graph
                    .entries_of(s)
                    .map(|e| owners.of(e.target))
                    .filter(|&q| q != worker),
            );
            to.sort_unstable();
            to.dedup();
            for &q in &to {
                send[q as usize].push(index as u32);
            }
        }
        let local = graph.relabelled(&subjects, |t| slot[t as usize]);
        let mut scores: Vec<f64> = subjects.iter().map(|&s| score[s as usize]).collect();
        scores.extend(mirrored.iter().map(|&(_, t)| score[t as usize]));
        Part {
            worker,
            behaviour: subjects.iter().map(|&s| behaviour[s as usize]).collect(),
            residual: vec![0.0; own],
            score: scores,
            graph: local,
            subjects,
            send,
            receive,
            planned: mirrored.len(),
            mirrored,
        }
    }

    /// A part assembled by its caller, who numbers the subjects itself — a serving process
    /// whose rows are its own subjects' and whose contacts elsewhere it knows by name. Row `i`
    /// of `rows` is own subject `i`, its targets slots of `score`: own subjects first
    /// (`0..rows.len()`), then the mirrors, those of worker `q` at `receive[q]`. `send[q]` lists
    /// the own slots worker `q` mirrors, in the order of its `receive` range for this worker:
    /// the workers must agree on that order (sorting by name does). [`Part::subjects`] is
    /// `0..rows.len()`.
    pub fn from_rows(
        worker: u32,
        rows: Graph,
        behaviour: Vec<f64>,
        score: Vec<f64>,
        send: Vec<Vec<u32>>,
        receive: Vec<Range<usize>>,
    ) -> Result<Part, String> {
        let own = rows.len() as usize;
        if behaviour.len() != own || score.len() < own {
            return Err(format!(
                "{own} rows with {} behaviour and {} scores",
                behaviour.len(),
                score.len()
            ));
        }
        if send.len() != receive.len() || send.len() <= worker as usize {
            return Err(format!(
                "worker {worker} of {} sending and {} receiving",
                send.len(),
                receive.len()
            ));
        }
        let mut mirrored = Vec::with_capacity(score.len() - own);
        for (q, range) in receive.iter().enumerate() {
            if range.start != own + mirrored.len() || range.end < range.start {
                return Err(format!(
                    "worker {q}'s mirrors at {range:?} do not follow the others"
                ));
            }
            mirrored.extend(range.clone().map(|slot| (q as u32, slot as u32)));
        }
        if own + mirrored.len() != score.len() {
            return Err(format!(
                "{} scores for {own} rows and {} mirrors",
                score.len(),
                mirrored.len()
            ));
        }
        if let Some(slot) = send.iter().flatten().find(|&&slot| slot as usize >= own) {
            return Err(format!("slot {slot} is sent but is not an own row"));
        }
        let (targets, slots) = (rows.entries(), score.len());
        if (0..rows.len())
            .flat_map(|s| rows.entries_of(s))
            .any(|e| e.target as usize >= slots)
        {
            return Err(format!(
                "of {targets} entries, some read past {slots} slots"
            ));
        }
        Ok(Part {
            worker,
            subjects: (0..own as u32).collect(),
            graph: rows,
            behaviour,
            residual: vec![0.0; own],
            score,
            send,
            receive,
            planned: mirrored.len(),
            mirrored,
        })
    }

    /// The mirrors' scores, in slot order (after a solve: the last sweep's scores of the other
    /// workers' subjects this part reads).
    pub fn mirror_scores(&self) -> &[f64] {
        &self.score[self.subjects.len()..]
    }

    pub fn worker(&self) -> u32 {
        self.worker
    }

    /// The subjects owned, ascending.
    pub fn subjects(&self) -> &[u32] {
        &self.subjects
    }

    /// The own subjects' scores, in [`Part::subjects`]' order.
    pub fn scores(&self) -> &[f64] {
        &self.score[..self.subjects.len()]
    }

    /// Row entries held.
    pub fn entries(&self) -> u64 {
        self.graph.entries()
    }

    /// Copies of other workers' subjects held.
    pub fn mirrors(&self) -> usize {
        self.score.len() - self.subjects.len()
    }

    /// Scores sent to other workers per sweep.
    pub fn sent_per_sweep(&self) -> usize {
        self.send.iter().map(Vec::len).sum()
    }

    /// Heap bytes: `(the rows' entries, everything else)`.
    pub fn heap_bytes(&self) -> (u64, u64) {
        let rest = self.graph.subject_bytes()
            + (self.subjects.capacity() * 4) as u64
            + ((self.behaviour.capacity() + self.score.capacity() + self.residual.capacity()) * 8)
                as u64
            + self
                .send
                .iter()
                .map(|s| s.capacity() as u64 * 4)
                .sum::<u64>();
        (self.graph.entry_bytes(), rest)
    }

    /// One sweep: every own row's residual; returns the largest |r|.
    pub(crate) fn sweep(&mut self, alpha: f64) -> f64 {
        standing_graph::sweep(
            &self.graph,
            &self.behaviour,
            &self.score,
            &mut self.residual,
            alpha,
        )
    }

    /// The scores after this sweep that worker `to` mirrors, in its order.
    pub(crate) fn boundary(&self, to: u32, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.send[to as usize].iter().map(|&slot| {
            let slot = slot as usize;
            self.score[slot] + self.residual[slot]
        }));
    }

    /// The current scores worker `to` mirrors (before any sweep).
    pub(crate) fn current(&self, to: u32, out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            self.send[to as usize]
                .iter()
                .map(|&slot| self.score[slot as usize]),
        );
    }

    /// The own row of `subject`, if this part owns it.
    pub(crate) fn local(&self, subject: u32) -> Option<u32> {
        self.subjects.binary_search(&subject).ok().map(|i| i as u32)
    }

    /// The slot of the mirror of `subject` (owned by `owner`), added with `score` if there is
    /// none. A mirror added so is outside the exchange plan: a full solve needs the parts built
    /// anew after it (see [`Part::is_planned`]).
    pub(crate) fn mirror_slot(&mut self, owner: u32, subject: u32, score: f64) -> u32 {
        let own = self.subjects.len();
        let slot = match self.mirrored[..self.planned].binary_search(&(owner, subject)) {
            Ok(index) => own + index,
            Err(_) => match self.mirrored[self.planned..]
                .iter()
                .position(|&m| m == (owner, subject))
            {
                Some(index) => own + self.planned + index,
                None => {
                    self.mirrored.push((owner, subject));
                    self.score.push(score);
                    self.score.len() - 1
                }
            },
        };
        slot as u32
    }

    /// Whether the exchange plan covers every mirror (no relation change added one since the
    /// part was built).
    pub fn is_planned(&self) -> bool {
        self.planned == self.mirrored.len()
    }

    /// The owner and subject a mirror slot stands for.
    pub(crate) fn mirror_of(&self, slot: u32) -> (u32, u32) {
        self.mirrored[slot as usize - self.subjects.len()]
    }

    /// The own rows as a push kernel's shard (rows numbered from 0; a target at or past
    /// [`Part::subjects`]' length is a mirror slot, its pushes go out as messages). Until it
    /// is put back ([`Part::put_shard`]) the part holds no rows.
    pub(crate) fn take_shard(&mut self) -> Shard {
        let own = self.subjects.len();
        let score = self.score[..own].to_vec();
        Shard::new(
            0,
            std::mem::take(&mut self.graph),
            std::mem::take(&mut self.behaviour),
            score,
            std::mem::take(&mut self.residual),
        )
    }

    /// Puts the shard's rows and state back. The mirrors keep the scores of the last sweep; a
    /// full solve starts by refreshing them.
    pub(crate) fn put_shard(&mut self, shard: Shard) {
        let (graph, behaviour, score, residual) = shard.into_parts();
        self.score[..score.len()].copy_from_slice(&score);
        (self.graph, self.behaviour, self.residual) = (graph, behaviour, residual);
    }

    /// Takes the sweep: `f ← f + r` for the own rows.
    pub(crate) fn advance(&mut self) {
        let own = self.subjects.len();
        for (f, r) in self.score[..own].iter_mut().zip(&self.residual) {
            *f += r;
        }
    }

    /// Installs scores of worker `from` into its mirrors from the `offset`-th on; `Err` when
    /// they would run past them.
    pub(crate) fn mirror(&mut self, from: u32, offset: usize, values: &[f64]) -> Result<(), ()> {
        let range = &self.receive[from as usize];
        let start = range.start + offset;
        if start + values.len() > range.end {
            return Err(());
        }
        self.score[start..start + values.len()].copy_from_slice(values);
        Ok(())
    }

    /// How many mirrors of each worker's subjects this part holds.
    pub(crate) fn mirrored_from(&self) -> impl Iterator<Item = usize> + '_ {
        self.receive.iter().map(ExactSizeIterator::len)
    }
}
