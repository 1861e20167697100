//! Standing's social network across processes, on timely dataflow.
//!
//! A country's relation graph does not fit one machine. This crate places subjects on timely
//! workers — threads of one process, or processes over TCP — each holding the rows of the
//! subjects it owns ([`Part`]) and a copy (a mirror) of every other worker's subject those rows
//! read, and runs the network's fixed point over them: the full solve, Jacobi sweeps in
//! lockstep that send each boundary score once per sweep to each worker that mirrors it
//! ([`solve`]), bit-identical to `standing_graph::Network::solve` on one machine; and the
//! changes that follow — behaviour scores, relations — by residual pushes across workers
//! ([`solve_and_update`]).
//!
//! Subjects are placed by a stable hash of their id, or by communities of the graph so far
//! fewer entries cross workers ([`Placement`], [`Owners`]).
//!
//! Timely brings the workers, their channels, the serialisation of exchanged words and the
//! progress tracking that tells a worker a sweep's words are all in. This crate adds the
//! start-up of the process mesh with deadlines, a handshake, and errors that name the peer; and
//! a watchdog: a worker that hears nothing for the run's timeout stops and names the workers it
//! waits for, instead of hanging.

mod connect;
mod input;
mod lockstep;
mod part;
mod partition;
mod push;
mod scores;
mod solve;
mod watch;

pub use input::{EdgeError, Edges, read_edges};
pub use part::Part;
pub use partition::{Owners, Placement};
pub use push::{Change, Updated};
pub use solve::{Progress, Run, Solved, Sweep};

use standing_graph::Graph;
use std::sync::Arc;
use std::time::Duration;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};

/// Why a cluster run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("{peer} could not be reached within {} s", waited.as_secs_f64())]
    Unreachable { peer: String, waited: Duration },
    #[error("{peer}: {reason}")]
    Peer { peer: String, reason: String },
    #[error(
        "sweep {sweep}: nothing heard for {} s from {}; is it still running?",
        waited.as_secs_f64(), peers.join(", ")
    )]
    Silent {
        peers: Vec<String>,
        waited: Duration,
        sweep: u32,
    },
    /// The connection to another process broke during the run: it stopped, or its machine or
    /// the network between went away.
    #[error("lost {peer} during the solve ({reason}); did it stop?")]
    Lost { peer: String, reason: String },
    /// A worker stopped on a fault of its own.
    #[error("a worker stopped: {0}")]
    Worker(String),
    #[error("the cluster's layout: {0}")]
    Layout(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// Where the workers run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One process of `workers` threads.
    Threads { workers: usize },
    /// Process `process` of a cluster whose processes listen at `addresses` (host:port, in
    /// process order), each running `workers` workers. A peer not connected within `timeout`
    /// is an error that names it.
    Processes {
        addresses: Vec<String>,
        process: usize,
        workers: usize,
        timeout: Duration,
    },
}

impl Layout {
    /// Workers in the whole cluster.
    pub fn workers(&self) -> usize {
        match self {
            Layout::Threads { workers } => *workers,
            Layout::Processes {
                addresses, workers, ..
            } => addresses.len() * workers,
        }
    }

    /// Who worker `worker` is, for messages.
    pub fn name(&self, worker: usize) -> String {
        match self {
            Layout::Threads { .. } => format!("worker {worker}"),
            Layout::Processes {
                addresses, workers, ..
            } => {
                let process = worker / workers;
                format!(
                    "worker {worker} (process {process} at {})",
                    addresses[process]
                )
            }
        }
    }

    /// The workers of this process: the first one's index, and how many.
    fn here(&self) -> (usize, usize) {
        match self {
            Layout::Threads { workers } => (0, *workers),
            Layout::Processes {
                process, workers, ..
            } => (process * workers, *workers),
        }
    }

    fn check(&self) -> Result<(), ClusterError> {
        let bad = |reason: &str| Err(ClusterError::Layout(reason.to_owned()));
        match self {
            Layout::Threads { workers: 0 } => bad("at least one worker"),
            Layout::Processes { workers: 0, .. } => bad("at least one worker per process"),
            Layout::Processes {
                addresses, process, ..
            } if *process >= addresses.len() => Err(ClusterError::Layout(format!(
                "process {process} of {} addresses",
                addresses.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// Solves the network over `graph` with behaviour scores `behaviour` (scores start at them, as
/// a new `standing_graph::Network`'s do) on the workers `layout` places in this process, each
/// owning the subjects `owners` gives it. Every process of the cluster must call it with the
/// same graph, behaviour, owners and run. Returns this process's workers' results, in worker
/// order.
pub fn solve(
    layout: &Layout,
    graph: Arc<Graph>,
    behaviour: Arc<Vec<f64>>,
    owners: Arc<Owners>,
    run: Run,
) -> Result<Vec<Solved>, ClusterError> {
    let solved = solve_and_update(layout, graph, behaviour, owners, run, Arc::default())?;
    Ok(solved.into_iter().map(|(solved, _)| solved).collect())
}

/// [`solve`], then `batches` of changes — behaviour scores, relations added and removed —
/// applied a batch at a time by residual pushes across the workers, each until every score is
/// within ε of the fixed point again. A batch takes a few rounds whatever its size; one whose
/// relations tie rows to other workers' subjects takes one round more, for their scores. The parts' scores are the updated ones. After a relation change a part
/// no longer sweeps (its mirrors outgrew the exchange plan): build the parts anew to solve in
/// full again.
pub fn solve_and_update(
    layout: &Layout,
    graph: Arc<Graph>,
    behaviour: Arc<Vec<f64>>,
    owners: Arc<Owners>,
    run: Run,
    batches: Arc<Vec<Vec<Change>>>,
) -> Result<Vec<(Solved, Updated)>, ClusterError> {
    layout.check()?;
    for change in batches.iter().flatten() {
        let [a, b] = change.subjects();
        if a >= graph.len() || b >= graph.len() {
            return Err(ClusterError::Layout(format!(
                "{change:?} names a subject past the graph's {}",
                graph.len()
            )));
        }
        if a == b && !matches!(change, Change::Behaviour { .. }) {
            return Err(ClusterError::Layout(format!(
                "{change:?} relates a subject to itself"
            )));
        }
    }
    if owners.workers() as usize != layout.workers() || owners.subjects() != graph.len() {
        return Err(ClusterError::Layout(format!(
            "subjects are placed on {} workers, the layout has {}",
            owners.workers(),
            layout.workers()
        )));
    }
    // This process's parts, built here, one thread each; the graph is let go before the run.
    let (first, local) = layout.here();
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let building: Vec<_> = (first..first + local)
            .map(|index| {
                let (graph, behaviour, owners) = (&graph, &behaviour, &owners);
                scope.spawn(move || Part::new(graph, behaviour, behaviour, owners, index as u32))
            })
            .collect();
        building
            .into_iter()
            .map(|part| part.join().expect("a part is built"))
            .collect()
    });
    drop((graph, behaviour));
    execute(layout, parts, first, run, batches, Some(owners))
}

/// Solves the network over parts each process built itself ([`Part::from_rows`]): this
/// process's, in worker order. Every process of the cluster calls it at once with the same
/// run; the parts must agree on what each sends and mirrors. Returns the solved parts.
pub fn solve_parts(
    layout: &Layout,
    parts: Vec<Part>,
    run: Run,
) -> Result<Vec<Solved>, ClusterError> {
    layout.check()?;
    let (first, local) = layout.here();
    if parts.len() != local {
        return Err(ClusterError::Layout(format!(
            "{} parts for the {local} workers of this process",
            parts.len()
        )));
    }
    if let Some(part) = parts
        .iter()
        .find(|part| part.mirrored_from().count() != layout.workers())
    {
        return Err(ClusterError::Layout(format!(
            "worker {}'s part is laid out for {} workers, the layout has {}",
            part.worker(),
            part.mirrored_from().count(),
            layout.workers()
        )));
    }
    let solved = execute(layout, parts, first, run, Arc::default(), None)?;
    Ok(solved.into_iter().map(|(solved, _)| solved).collect())
}

/// Runs this process's `parts` (workers `first..`) through the solve, then the `batches` of
/// changes (which need `owners`).
fn execute(
    layout: &Layout,
    parts: Vec<Part>,
    first: usize,
    run: Run,
    batches: Arc<Vec<Vec<Change>>>,
    owners: Option<Arc<Owners>>,
) -> Result<Vec<(Solved, Updated)>, ClusterError> {
    let hooks = timely::communication::initialize::Hooks::default();
    // The connections' threads are kept here, not given to timely: after a failure they may be
    // blocked on a peer that will never answer, and joining them would hang.
    let (builders, comms): (Vec<AllocatorBuilder>, Option<Box<dyn std::any::Any + Send>>) =
        match layout {
            Layout::Threads { workers } => {
                let (builders, others) = timely::CommunicationConfig::Process(*workers)
                    .try_build()
                    .map_err(ClusterError::Layout)?;
                (builders, Some(others))
            }
            Layout::Processes {
                addresses,
                process,
                workers,
                timeout,
            } => {
                let sockets = connect::mesh(addresses, *process, *workers, *timeout)?;
                let local = ProcessBuilder::new_typed_vector(
                    *workers,
                    hooks.refill.clone(),
                    hooks.spill.clone(),
                );
                let (builders, guard) =
                timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets(
                    local, sockets, *process, *workers, hooks,
                )?;
                (
                    builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                    Some(Box::new(guard)),
                )
            }
        };
    let parts: std::sync::Mutex<Vec<Option<Part>>> =
        std::sync::Mutex::new(parts.into_iter().map(Some).collect());
    let names: Arc<Vec<String>> = Arc::new((0..layout.workers()).map(|w| layout.name(w)).collect());
    let faults = watch::Faults::install();
    let guards = timely::execute::execute_from(
        builders,
        Box::new(()),
        timely::WorkerConfig::default(),
        move |worker| {
            let taken = parts
                .lock()
                .ok()
                .and_then(|mut parts| parts.get_mut(worker.index() - first)?.take());
            let Some(part) = taken else {
                return Err(ClusterError::Internal(format!(
                    "no part for worker {}",
                    worker.index()
                )));
            };
            let mut solved = solve::solve_on(worker, part, &run, &names)?;
            let mut updated = Updated::default();
            if !batches.is_empty() {
                let Some(owners) = owners.clone() else {
                    return Err(ClusterError::Internal("changes without owners".into()));
                };
                let (part, pushed) =
                    push::update_on(worker, solved.part, owners, &run, &batches, &names)?;
                (solved.part, updated) = (part, pushed);
            }
            Ok((solved, updated))
        },
    )
    .map_err(ClusterError::Layout);
    let joined = guards.map(|guards| guards.join());
    let seen = faults.seen();
    let results: Result<Vec<(Solved, Updated)>, ClusterError> = joined.and_then(|joined| {
        joined
            .into_iter()
            .map(|joined| {
                joined
                    .map_err(ClusterError::Worker)
                    .and_then(|solved| solved)
            })
            .collect()
    });
    match results {
        Ok(solved) => {
            drop(comms);
            faults.uninstall();
            Ok(solved)
        }
        Err(error) => {
            // Threads blocked on a silent peer end with the process, and the hook stays to
            // keep their last words quiet.
            std::mem::forget(comms);
            Err(watch::explain(error, &seen, layout))
        }
    }
}
