//! Changes after a full solve — behaviour scores, relations added and removed — by residual
//! pushes across workers.
//!
//! Each worker runs the graph crate's push kernel (`standing_graph::Shard`) over its own rows;
//! a push that reaches a subject another worker owns becomes a message to that owner, summed
//! per subject. Workers go in lockstep rounds, as the full solve goes in sweeps: in each round
//! every worker takes the messages of the last, pushes until its queue is empty, and sends
//! every worker (itself included) what is theirs and how many messages it sent in all. A round
//! in which no worker sent any message ends the batch of changes under way: every residual is
//! then at most `(1 − α)·ε`, so every score is within ε of the fixed point again. Then the next
//! batch starts, all its changes at once. A behaviour score is set by its subject's owner. A
//! relation's end is changed by the owner of its row, which recomputes the row's residual from
//! the residual it keeps and the other end's current score. When that score is another
//! worker's, the batch takes a round first in which only those scores are sent, so that none
//! has moved when it is used.

use crate::ClusterError;
use crate::lockstep::{self, Addressed, Step};
use crate::part::Part;
use crate::partition::Owners;
use crate::solve::Run;
use serde::{Deserialize, Serialize};
use standing_graph::{Direction, Message, Shard, Weight};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::worker::Worker;

/// A change to the network after its full solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// A subject's new behaviour score.
    Behaviour { subject: u32, behaviour: f64 },
    /// A relation added: `a` depends on `b` (and `b` on `a` when mutual).
    Relate {
        a: u32,
        b: u32,
        weight: Weight,
        direction: Direction,
    },
    /// A relation equal to this one removed (nothing when there is none).
    Unrelate {
        a: u32,
        b: u32,
        weight: Weight,
        direction: Direction,
    },
}

impl Change {
    /// The subjects it names.
    pub(crate) fn subjects(&self) -> [u32; 2] {
        match *self {
            Change::Behaviour { subject, .. } => [subject, subject],
            Change::Relate { a, b, .. } | Change::Unrelate { a, b, .. } => [a, b],
        }
    }
}

/// One end of a relation change.
#[derive(Clone, Copy, Debug)]
struct End {
    /// The subject whose row changes, and the other end.
    row: u32,
    other: u32,
    weight: Weight,
    direction: Direction,
    /// The end at `a`.
    first: bool,
    added: bool,
}

/// What one worker sends another in a round.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Round {
    to: u32,
    from: u32,
    /// Messages the sender sent in this round, to all workers.
    sent: u64,
    /// Residual for the receiver's subjects: `(subject, amount)`, one per subject.
    messages: Vec<(u32, f64)>,
    /// Current scores of the sender's subjects that a relation change ties to the receiver's.
    scores: Vec<(u32, f64)>,
}

/// What one worker's changes took.
#[derive(Clone, Debug, Default)]
pub struct Updated {
    /// From starting each batch to the round that found the network settled again, as this
    /// worker saw it.
    pub latencies: Vec<Duration>,
    /// Rounds each batch took (the last, with no message, included).
    pub rounds: Vec<u32>,
    /// Messages this worker sent for all batches, and their bytes on the wire.
    pub messages: u64,
    pub bytes: u64,
    /// Row entries this worker visited in pushes.
    pub entries_visited: u64,
}

struct Local {
    shard: Shard,
    part: Part,
    owners: Arc<Owners>,
    /// Scores of other workers' subjects sent for the batch under way.
    scores_in: std::collections::HashMap<u32, f64>,
    /// The batch whose scores were asked for in the last round, to be applied in this one.
    asked: Option<usize>,
    /// The next batch, and when and in which round the one under way started.
    next: usize,
    started: Option<(Instant, u32)>,
    round: u32,
    updated: Updated,
    outbox: Vec<Message>,
}

/// Applies `batches` of changes in order on `worker`'s part, each batch at once; every worker
/// must call it with the same batches. The part's scores are the updated ones after.
pub(crate) fn update_on(
    worker: &mut Worker,
    mut part: Part,
    owners: Arc<Owners>,
    run: &Run,
    batches: &[Vec<Change>],
    names: &[String],
) -> Result<(Part, Updated), ClusterError> {
    let (me, peers) = (worker.index() as u32, worker.peers() as u32);
    let shard = part.take_shard();
    let local = Local {
        shard,
        part,
        owners,
        scores_in: Default::default(),
        asked: None,
        next: 0,
        started: None,
        round: 0,
        updated: Updated::default(),
        outbox: Vec::new(),
    };
    let (alpha, threshold) = (run.alpha, run.threshold);
    let batches: Vec<Vec<Change>> = batches.to_vec();
    let local = lockstep::run(
        worker,
        "Push",
        names,
        local,
        run.timeout,
        move |_: &mut Local| empty(me, peers),
        move |local: &mut Local, words| round(local, me, peers, words, &batches, alpha, threshold),
    )?;
    let mut part = local.part;
    part.put_shard(local.shard);
    Ok((part, local.updated))
}

/// A word from `me` to every worker, with nothing in it yet.
fn empty(me: u32, peers: u32) -> Vec<Round> {
    (0..peers)
        .map(|to| Round {
            to,
            from: me,
            sent: 0,
            messages: Vec::new(),
            scores: Vec::new(),
        })
        .collect()
}

impl Addressed for Round {
    fn to(&self) -> u32 {
        self.to
    }

    fn from(&self) -> u32 {
        self.from
    }
}

/// The ends of a relation change: `(row, other, first)`.
fn ends(a: u32, b: u32) -> [(u32, u32, bool); 2] {
    [(a, b, true), (b, a, false)]
}

/// A batch starts. When one of its relations ties a row to a subject another worker owns,
/// whose score the row's residual needs, that owner sends the score first (into `scores_out`:
/// `(to, subject, score)`) and the batch is applied a round later: nothing moves in between,
/// so every score sent is still current when used. Returns whether scores were asked for; every
/// worker answers the same for the same batch.
fn ask(
    local: &mut Local,
    me: u32,
    batch: &[Change],
    scores_out: &mut Vec<(u32, u32, f64)>,
) -> bool {
    let mut asked = false;
    for change in batch {
        let (Change::Relate {
            a, b, direction, ..
        }
        | Change::Unrelate {
            a, b, direction, ..
        }) = *change
        else {
            continue;
        };
        for (row, other, first) in ends(a, b) {
            let (row_owner, other_owner) = (local.owners.of(row), local.owners.of(other));
            if !direction.depends_at(first) || row_owner == other_owner {
                continue;
            }
            asked = true;
            if other_owner == me {
                let own = local.part.local(other).expect("an owned subject");
                scores_out.push((row_owner, other, local.shard.score(own)));
            }
        }
    }
    asked
}

/// Applies a batch: each relation's end by its row's owner, with the other end's score (its
/// own, or the one sent in the last round), then the behaviour scores by their subjects'
/// owners. Relations go first: a behaviour change of a subject with no relations sets its score
/// at once, and a relation added in the same batch must already see it related, or its
/// contact would never hear of the change. The end state of a batch does not depend on the
/// order otherwise (each kind keeps its own order).
fn apply(
    local: &mut Local,
    me: u32,
    batch: &[Change],
    alpha: f64,
    threshold: f64,
) -> Result<(), ClusterError> {
    for change in batch {
        let (a, b, weight, direction, added) = match *change {
            Change::Behaviour { .. } => continue,
            Change::Relate {
                a,
                b,
                weight,
                direction,
            } => (a, b, weight, direction, true),
            Change::Unrelate {
                a,
                b,
                weight,
                direction,
            } => (a, b, weight, direction, false),
        };
        for (row, other, first) in ends(a, b) {
            if local.owners.of(row) != me {
                continue;
            }
            let contact = match local.part.local(other) {
                Some(own) => local.shard.score(own),
                None if direction.depends_at(first) => match local.scores_in.get(&other) {
                    Some(&score) => score,
                    None => {
                        return Err(ClusterError::Internal(format!(
                            "worker {me} was not sent the score of subject {other}"
                        )));
                    }
                },
                None => 0.0,
            };
            let end = End {
                row,
                other,
                weight,
                direction,
                first,
                added,
            };
            apply_end(local, end, contact, alpha, threshold);
        }
    }
    for change in batch {
        if let Change::Behaviour { subject, behaviour } = *change
            && let Some(row) = local.part.local(subject)
        {
            local.shard.set_behaviour(row, behaviour, alpha, threshold);
        }
    }
    local.scores_in.clear();
    Ok(())
}

/// Changes one end of a relation at its row, `contact` the other end's score.
fn apply_end(local: &mut Local, end: End, contact: f64, alpha: f64, threshold: f64) {
    let Some(row) = local.part.local(end.row) else {
        return;
    };
    let target = match local.part.local(end.other) {
        Some(own) => own,
        None => {
            let owner = local.owners.of(end.other);
            local.part.mirror_slot(owner, end.other, contact)
        }
    };
    local.shard.change_relation(
        row,
        target,
        end.weight,
        end.direction,
        end.first,
        end.added,
        contact,
        alpha,
        threshold,
    );
}

/// The bytes of a round on the wire (bincode), besides timely's framing.
fn round_bytes(messages: usize) -> u64 {
    (4 + 4 + 8 + 8 + 8 + 12 * messages) as u64
}

/// A round's words are all in: take their messages, end the change if the network settled and
/// start the next, push, and return the next round's words.
#[allow(clippy::too_many_arguments)]
fn round(
    local: &mut Local,
    me: u32,
    peers: u32,
    words: Vec<Round>,
    batches: &[Vec<Change>],
    alpha: f64,
    threshold: f64,
) -> Step<Round> {
    if words.len() != peers as usize {
        return Err(ClusterError::Internal(format!(
            "worker {me} got {} words for a round from {peers} workers",
            words.len()
        )));
    }
    local.round += 1;
    let sent: u64 = words.iter().map(|word| word.sent).sum();
    for word in &words {
        local.scores_in.extend(word.scores.iter().copied());
        for &(subject, amount) in &word.messages {
            let Some(row) = local.part.local(subject) else {
                return Err(ClusterError::Internal(format!(
                    "worker {} sent worker {me} residual for subject {subject}, not its own",
                    word.from
                )));
            };
            local.shard.receive(
                &[Message {
                    subject: row,
                    amount,
                }],
                threshold,
            );
        }
    }
    let mut scores_out: Vec<(u32, u32, f64)> = Vec::new();
    if let Some(asked) = local.asked.take() {
        // The scores the batch's relations need are in, and nothing moved meanwhile.
        apply(local, me, &batches[asked], alpha, threshold)?;
    } else if sent == 0 {
        // Nothing moved in the last round: the batch under way is settled.
        if let Some((at, first)) = local.started.take() {
            local.updated.latencies.push(at.elapsed());
            local.updated.rounds.push(local.round - first);
        }
        let Some(batch) = batches.get(local.next) else {
            return Ok(None);
        };
        local.started = Some((Instant::now(), local.round));
        if ask(local, me, batch, &mut scores_out) {
            local.asked = Some(local.next);
        } else {
            apply(local, me, batch, alpha, threshold)?;
        }
        local.next += 1;
    }
    local.outbox.clear();
    let visited = local
        .shard
        .push(alpha, threshold, u64::MAX, &mut local.outbox);
    local.updated.entries_visited += visited;
    // Summed per subject, grouped by owner.
    let mut by_subject: BTreeMap<(u32, u32), f64> = BTreeMap::new();
    for message in &local.outbox {
        let (owner, subject) = local.part.mirror_of(message.subject);
        *by_subject.entry((owner, subject)).or_insert(0.0) += message.amount;
    }
    let mut words = empty(me, peers);
    for ((owner, subject), amount) in by_subject {
        words[owner as usize].messages.push((subject, amount));
    }
    for (to, subject, score) in scores_out {
        words[to as usize].scores.push((subject, score));
    }
    let count: u64 = words
        .iter()
        .map(|word| (word.messages.len() + word.scores.len()) as u64)
        .sum();
    let bytes: u64 = words
        .iter()
        .filter(|word| word.to != me)
        .map(|word| round_bytes(word.messages.len() + word.scores.len()))
        .sum();
    local.updated.messages += count;
    local.updated.bytes += bytes;
    for word in &mut words {
        word.sent = count;
    }
    Ok(Some(words))
}
