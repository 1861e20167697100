//! Changes after a full solve — behaviour scores, relations added and removed — by residual
//! pushes across workers.
//!
//! Each worker runs the graph crate's push kernel (`standing_graph::Shard`) over its own rows;
//! a push that reaches a subject another worker owns becomes a message to that owner, summed
//! per subject. Workers go in lockstep rounds, as the full solve goes in sweeps: in each round
//! every worker takes the messages of the last, pushes until its queue is empty, and sends
//! every worker (itself included) what is theirs and how many messages it sent in all. A round
//! in which no worker sent any message ends the change: every residual is then at most
//! `(1 − α)·ε`, so every score is within ε of the fixed point again. Then the next change
//! starts. A behaviour score is set by its subject's owner. A relation's end is changed by the
//! owner of its row, which recomputes the row's residual from the residual it keeps and the
//! other end's current score — at once when it owns the other end, else a round later, when
//! the other end's owner has sent that score.

use crate::ClusterError;
use crate::part::Part;
use crate::partition::Owners;
use crate::solve::Run;
use serde::{Deserialize, Serialize};
use standing_graph::{Direction, Message, Shard, Weight};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{ConnectLoop, Feedback};
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

/// One end of a relation change waiting for the other end's score from its owner.
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
    /// From applying each change to the round that found the network settled again, as this
    /// worker saw it.
    pub latencies: Vec<Duration>,
    /// Rounds each change took (the last, with no message, included).
    pub rounds: Vec<u32>,
    /// Messages this worker sent for all changes, and their bytes on the wire.
    pub messages: u64,
    pub bytes: u64,
    /// Row entries this worker visited in pushes.
    pub entries_visited: u64,
}

struct Local {
    shard: Shard,
    part: Part,
    owners: Arc<Owners>,
    /// Ends of the relation change under way that wait for the other end's score.
    waiting: Vec<End>,
    /// The change under way, and when and in which round it started.
    next: usize,
    started: Option<(Instant, u32)>,
    round: u32,
    updated: Updated,
    done: bool,
    /// The workers heard from for the round under way, and when anything last arrived.
    heard: Vec<bool>,
    last_heard: Instant,
    failure: Option<ClusterError>,
}

/// Applies `changes` in order on `worker`'s part; every worker must call it with the same
/// changes. The part's scores are the updated ones after.
pub(crate) fn update_on(
    worker: &mut Worker,
    mut part: Part,
    owners: Arc<Owners>,
    run: &Run,
    changes: &[Change],
) -> Result<(Part, Updated), ClusterError> {
    let me = worker.index() as u32;
    let peers = worker.peers() as u32;
    let shard = part.take_shard();
    let local = Rc::new(RefCell::new(Local {
        shard,
        part,
        owners,
        waiting: Vec::new(),
        next: 0,
        started: None,
        round: 0,
        updated: Updated::default(),
        done: false,
        heard: vec![false; peers as usize],
        last_heard: Instant::now(),
        failure: None,
    }));
    let shared = Rc::clone(&local);
    let (alpha, threshold) = (run.alpha, run.threshold);
    let changes: Vec<Change> = changes.to_vec();
    worker.dataflow::<u32, _, _>(move |scope| {
        let (handle, rounds) = scope.feedback::<Vec<Round>>(1);
        rounds
            .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Round>>, _, _, _>(
                Exchange::new(|round: &Round| u64::from(round.to)),
                "Push",
                move |capability, _info| {
                    let mut start = Some(capability);
                    let mut stash: BTreeMap<
                        u32,
                        (timely::dataflow::operators::Capability<u32>, Vec<Round>),
                    > = BTreeMap::new();
                    let mut outbox: Vec<Message> = Vec::new();
                    move |(input, frontier), output| {
                        let mut local = shared.borrow_mut();
                        let local = &mut *local;
                        if let Some(capability) = start.take() {
                            let words = (0..peers).map(|to| Round {
                                to,
                                from: me,
                                sent: 0,
                                messages: Vec::new(),
                                scores: Vec::new(),
                            });
                            output.session(&capability).give_iterator(words);
                        }
                        input.for_each_stamp(|capability, data| {
                            if let Some(capability) = capability.retain_least(output.output_index())
                            {
                                let time = *capability.time();
                                let entry = stash
                                    .entry(time)
                                    .or_insert_with(|| (capability, Vec::new()));
                                for rounds in data {
                                    entry.1.append(rounds);
                                }
                                local.last_heard = Instant::now();
                            }
                        });
                        while let Some((&time, _)) = stash.first_key_value() {
                            if frontier.frontier().less_equal(&time) {
                                break;
                            }
                            let (_, (capability, words)) =
                                stash.pop_first().expect("a first entry");
                            let next = round(
                                local,
                                me,
                                peers,
                                words,
                                &changes,
                                alpha,
                                threshold,
                                &mut outbox,
                            );
                            if let Some(next) = next {
                                output.session(&capability).give_iterator(next.into_iter());
                            }
                        }
                        local.heard.fill(false);
                        if let Some((_, (_, words))) = stash.first_key_value() {
                            for word in words {
                                local.heard[word.from as usize] = true;
                            }
                        }
                    }
                },
            )
            .connect_loop(handle);
    });
    let ids = worker.installed_dataflows();
    loop {
        worker.step_or_park(Some(Duration::from_millis(50)));
        let mut local = local.borrow_mut();
        if local.failure.is_some() || local.done {
            break;
        }
        if local.last_heard.elapsed() > run.timeout {
            let silent = (0..peers).filter(|&w| w != me && !local.heard[w as usize]);
            local.failure = Some(ClusterError::Silent {
                // Worker numbers; `crate::solve` names them.
                peers: silent.map(|w| w.to_string()).collect(),
                waited: run.timeout,
                sweep: local.round,
            });
            break;
        }
    }
    let failed = local.borrow_mut().failure.take();
    if let Some(error) = failed {
        for id in ids {
            worker.drop_dataflow(id);
        }
        return Err(error);
    }
    while worker.has_dataflows() {
        worker.step_or_park(Some(Duration::from_millis(50)));
    }
    let local = Rc::try_unwrap(local)
        .map_err(|_| ClusterError::Internal("the dataflow kept the worker's state".into()))?
        .into_inner();
    let mut part = local.part;
    part.put_shard(local.shard);
    Ok((part, local.updated))
}

/// Starts a change: a behaviour score is set by its subject's owner; a relation's end is
/// changed by its row's owner, at once when it has the other end's score or the row's weights
/// do not change, else when the other end's owner has sent it (into `scores_out`: `(to,
/// subject, score)`).
fn start(
    local: &mut Local,
    me: u32,
    change: Change,
    alpha: f64,
    threshold: f64,
    scores_out: &mut Vec<(u32, u32, f64)>,
) {
    let (a, b, weight, direction, added) = match change {
        Change::Behaviour { subject, behaviour } => {
            if let Some(row) = local.part.local(subject) {
                local.shard.set_behaviour(row, behaviour, alpha, threshold);
            }
            return;
        }
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
    for (row, other, first) in [(a, b, true), (b, a, false)] {
        let end = End {
            row,
            other,
            weight,
            direction,
            first,
            added,
        };
        let (row_owner, other_owner) = (local.owners.of(row), local.owners.of(other));
        let weighs = first || direction == Direction::Mutual;
        if row_owner == me {
            match local.part.local(other) {
                Some(own) => {
                    let score = local.shard.score(own);
                    apply_end(local, end, score, alpha, threshold);
                }
                None if !weighs => apply_end(local, end, 0.0, alpha, threshold),
                None => local.waiting.push(end),
            }
        } else if other_owner == me && weighs {
            let own = local.part.local(other).expect("an owned subject");
            scores_out.push((row_owner, other, local.shard.score(own)));
        }
    }
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
    changes: &[Change],
    alpha: f64,
    threshold: f64,
    outbox: &mut Vec<Message>,
) -> Option<Vec<Round>> {
    if words.len() != peers as usize {
        local.failure = Some(ClusterError::Internal(format!(
            "worker {me} got {} words for a round from {peers} workers",
            words.len()
        )));
        return None;
    }
    local.round += 1;
    let sent: u64 = words.iter().map(|word| word.sent).sum();
    for word in &words {
        for &(subject, score) in &word.scores {
            let ready: Vec<End> = local
                .waiting
                .iter()
                .filter(|end| end.other == subject)
                .copied()
                .collect();
            local.waiting.retain(|end| end.other != subject);
            for end in ready {
                apply_end(local, end, score, alpha, threshold);
            }
        }
        for &(subject, amount) in &word.messages {
            let Some(row) = local.part.local(subject) else {
                local.failure = Some(ClusterError::Internal(format!(
                    "worker {} sent worker {me} residual for subject {subject}, not its own",
                    word.from
                )));
                return None;
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
    if sent == 0 {
        // Nothing moved in the last round: the change under way is settled.
        if let Some((at, first)) = local.started.take() {
            local.updated.latencies.push(at.elapsed());
            local.updated.rounds.push(local.round - first);
        }
        let Some(change) = changes.get(local.next) else {
            local.done = true;
            return None;
        };
        local.next += 1;
        local.started = Some((Instant::now(), local.round));
        start(local, me, *change, alpha, threshold, &mut scores_out);
    }
    outbox.clear();
    local.updated.entries_visited += local.shard.push(alpha, threshold, u64::MAX, outbox);
    // Summed per subject, grouped by owner.
    let mut by_subject: BTreeMap<(u32, u32), f64> = BTreeMap::new();
    for message in outbox.iter() {
        let (owner, subject) = local.part.mirror_of(message.subject);
        *by_subject.entry((owner, subject)).or_insert(0.0) += message.amount;
    }
    let mut words: Vec<Round> = (0..peers)
        .map(|to| Round {
            to,
            from: me,
            sent: 0,
            messages: Vec::new(),
            scores: Vec::new(),
        })
        .collect();
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
    Some(words)
}
