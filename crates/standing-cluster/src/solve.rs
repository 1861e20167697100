//! The full solve on timely dataflow: Jacobi sweeps over every worker's part, in lockstep.
//!
//! It runs on the shared lockstep loop, a round being a sweep. At each sweep every worker sends
//! every worker (itself included) its [`Word`]s: the largest residual of its sweep and the new
//! scores of the subjects the receiver mirrors, once each — not once per entry — in runs of
//! [`CHUNK`]. When the
//! frontier says a sweep's words are all in, each worker knows the exact largest residual of
//! the whole network, so every worker makes the same decision: stop (every residual is at most
//! `(1 − α)·ε`, the bound the single-process solve proves), or take the sweep and do the next.
//! Each row is summed as `standing_graph::Network::solve` sums it, so the scores are the same
//! bit for bit at any number of processes and workers.

use crate::ClusterError;
use crate::lockstep::{self, Addressed, Step};
use crate::part::Part;
use crate::scores::Scores;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use timely::worker::Worker;

/// What one worker tells another after a sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Word {
    to: u32,
    from: u32,
    /// Where in the receiver's mirrors of the sender's subjects `values` go.
    offset: u32,
    /// The sender's largest residual of the sweep; `None` before the first sweep, when the
    /// word only carries the starting scores.
    max: Option<f64>,
    /// What the sender sent in this sweep, in all (bytes).
    sent: u64,
    /// The receiver's mirrors of the sender's subjects, in the receiver's order.
    values: Scores,
}

impl Addressed for Word {
    fn to(&self) -> u32 {
        self.to
    }

    fn from(&self) -> u32 {
        self.from
    }
}

/// The bytes a word takes on the wire (bincode: its fixed fields and the values' length, then
/// the values), besides timely's own framing.
fn word_bytes(values: usize) -> u64 {
    (4 + 4 + 4 + 9 + 8 + 8 + 8 * values) as u64
}

/// A sweep finished, as every worker sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sweep {
    /// 1 for the first.
    pub sweep: u32,
    /// The largest residual of the whole network after it.
    pub max_residual: f64,
    /// Bytes all workers sent one another for it (values and word headers).
    pub bytes: u64,
    /// Since the starting scores were all in.
    pub elapsed: Duration,
}

/// What is told of each sweep.
pub type Progress = std::sync::Arc<dyn Fn(&Sweep) + Send + Sync>;

/// How to run a solve.
#[derive(Clone)]
pub struct Run {
    pub alpha: f64,
    /// `(1 − α)·ε`.
    pub threshold: f64,
    pub max_sweeps: u32,
    /// A worker that hears nothing for this long gives up, naming the workers it waits for.
    pub timeout: Duration,
    /// Called by worker 0 after every sweep.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("alpha", &self.alpha)
            .field("threshold", &self.threshold)
            .field("max_sweeps", &self.max_sweeps)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What one worker's solve ended with.
#[derive(Clone, Debug)]
pub struct Solved {
    pub part: Part,
    /// Sweeps over every row (the last only measures the residual), as `SolveReport` counts.
    pub sweeps: u32,
    pub max_residual: f64,
    /// Bytes sent among all workers per sweep, the first sweep's starting scores included.
    pub bytes: Vec<u64>,
    /// From the moment every worker's starting scores were in (all parts built, the mirrors
    /// filled) to the decision to stop.
    pub elapsed: Duration,
    /// Of that, the time this worker spent sweeping its rows and preparing and taking in the
    /// scores exchanged; the rest it waited for the other workers' words.
    pub working: Duration,
}

/// A worker's state through the solve.
struct Local {
    part: Part,
    /// When the starting scores were all in.
    started: Instant,
    sweeps: u32,
    bytes: Vec<u64>,
    done: Option<f64>,
    /// When the decision to stop was made.
    stopped: Instant,
    working: Duration,
    buffer: Vec<f64>,
}

/// Runs the solve on `worker` over `part`; every worker of the computation must call it.
/// `names` are the workers' names, for errors.
pub(crate) fn solve_on(
    worker: &mut Worker,
    part: Part,
    run: &Run,
    names: &[String],
) -> Result<Solved, ClusterError> {
    if !part.is_planned() {
        return Err(ClusterError::Internal(
            "a part whose relations changed after it was built: build the parts anew".into(),
        ));
    }
    let (me, peers) = (worker.index() as u32, worker.peers() as u32);
    let started = Instant::now();
    let local = Local {
        part,
        started,
        sweeps: 0,
        bytes: Vec::new(),
        done: None,
        stopped: started,
        working: Duration::ZERO,
        buffer: Vec::new(),
    };
    let logic = run.clone();
    let local = lockstep::run(
        worker,
        "Sweep",
        names,
        local,
        run.timeout,
        // The starting scores, before any sweep.
        move |local: &mut Local| {
            say(
                &local.part,
                me,
                peers,
                None,
                &mut local.buffer,
                Part::current,
            )
        },
        move |local: &mut Local, words| step(local, &logic, me, peers, words),
    )?;
    Ok(Solved {
        max_residual: local.done.unwrap_or(f64::INFINITY),
        part: local.part,
        sweeps: local.sweeps,
        bytes: local.bytes,
        elapsed: local.stopped.saturating_duration_since(local.started),
        working: local.working,
    })
}

/// Scores a word carries at most: a worker's scores for another go in many words, which timely
/// sends in messages of about 4 MB, so one is on the wire while the next is being written and
/// the receiver takes in the first while the last is on its way.
const CHUNK: usize = 4096;

/// The words of one worker for every worker, values taken by `values`: for each, the scores it
/// mirrors in runs of [`CHUNK`] (at least one word, so every worker hears from every worker).
fn say(
    part: &Part,
    me: u32,
    peers: u32,
    max: Option<f64>,
    buffer: &mut Vec<f64>,
    values: fn(&Part, u32, &mut Vec<f64>),
) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    for to in 0..peers {
        if to == me {
            buffer.clear();
        } else {
            values(part, to, buffer);
        }
        let mut offset = 0;
        loop {
            let end = (offset + CHUNK).min(buffer.len());
            words.push(Word {
                to,
                from: me,
                offset: offset as u32,
                max,
                sent: 0,
                values: Scores(buffer[offset..end].to_vec()),
            });
            offset = end;
            if offset == buffer.len() {
                break;
            }
        }
    }
    let sent: u64 = words
        .iter()
        .filter(|word| word.to != me)
        .map(|word| word_bytes(word.values.0.len()))
        .sum();
    for word in &mut words {
        word.sent = sent;
    }
    words
}

/// A sweep's words are all in: decide, and if the solve goes on, take the sweep, do the next
/// and return its words.
fn step(local: &mut Local, run: &Run, me: u32, peers: u32, words: Vec<Word>) -> Step<Word> {
    let began = Instant::now();
    // The first word of each sender: every word of a sender carries its largest residual and
    // what it sent in all.
    let mut firsts: Vec<Option<&Word>> = vec![None; peers as usize];
    for word in &words {
        firsts[word.from as usize].get_or_insert(word);
    }
    let Some(firsts) = firsts.into_iter().collect::<Option<Vec<&Word>>>() else {
        return Err(ClusterError::Internal(format!(
            "worker {me} did not hear from every worker in a sweep"
        )));
    };
    let first = firsts.iter().any(|word| word.max.is_none());
    let bytes: u64 = firsts.iter().map(|word| word.sent).sum();
    local.bytes.push(bytes);
    if !first {
        let max = firsts
            .iter()
            .filter_map(|word| word.max)
            .fold(0.0f64, f64::max);
        if me == 0
            && let Some(progress) = &run.progress
        {
            progress(&Sweep {
                sweep: local.sweeps,
                max_residual: max,
                bytes,
                elapsed: local.started.elapsed(),
            });
        }
        if max <= run.threshold || local.sweeps >= run.max_sweeps {
            local.done = Some(max);
            local.stopped = Instant::now();
            return Ok(None);
        }
        local.part.advance();
    } else {
        local.started = Instant::now();
    }
    let mut got = vec![0usize; peers as usize];
    for word in &words {
        got[word.from as usize] += word.values.0.len();
        if local
            .part
            .mirror(word.from, word.offset as usize, &word.values.0)
            .is_err()
        {
            return Err(ClusterError::Internal(format!(
                "worker {} sent scores past those worker {me} mirrors",
                word.from
            )));
        }
    }
    if let Some((from, (&got, expected))) = got
        .iter()
        .zip(local.part.mirrored_from())
        .enumerate()
        .find(|(_, (got, expected))| *got != expected)
    {
        return Err(ClusterError::Internal(format!(
            "worker {from} sent {got} scores where worker {me} mirrors {expected}"
        )));
    }
    let max = local.part.sweep(run.alpha);
    local.sweeps += 1;
    let words = say(
        &local.part,
        me,
        peers,
        Some(max),
        &mut local.buffer,
        Part::boundary,
    );
    local.working += began.elapsed();
    Ok(Some(words))
}
