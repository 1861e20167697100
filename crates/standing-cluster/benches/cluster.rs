//! The network across processes: a synthetic graph (default 10M subjects, 200M stored entries)
//! solved in one process on 2 threads (`Network::solve`), then on timely workers in 2 and 4
//! processes over loopback, with subjects placed by hash and by communities; per run the ns
//! per entry per sweep (wall, and core-ns = wall × cores in use), the entries that cross
//! workers, the bytes exchanged per sweep and the memory per process; then behaviour changes
//! pushed across 2 processes, p50/p99 per change.
//!
//!     cargo bench -p standing-cluster
//!     CLUSTER_SUBJECTS=1000000 cargo bench -p standing-cluster        # smaller
//!
//! Every process builds the whole graph from the same seed (the processes are this benchmark
//! started again, as process 1, 2, …), keeps its part and solves; process 0 reports.

use mimalloc::MiMalloc;
use standing_cluster::{Change, Layout, Owners, Placement, Run, Solved, Updated};
use standing_graph::synthetic::{self, Rng, Shape};
use standing_graph::{Graph, Network, Params};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const ALPHA: f64 = 0.3;
const EPSILON: f64 = 0.01;
const CHILD: &str = "STANDING_CLUSTER_BENCH_CHILD";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn shape() -> Shape {
    Shape {
        subjects: env_or("CLUSTER_SUBJECTS", 10_000_000),
        mean_entries: env_or("CLUSTER_MEAN_ENTRIES", 20.4),
        local: 0.8,
        seed: 42,
    }
}

fn run() -> Run {
    Run {
        alpha: ALPHA,
        threshold: (1.0 - ALPHA) * EPSILON,
        max_sweeps: 10_000,
        timeout: Duration::from_secs(900),
        progress: None,
    }
}

fn placement(name: &str) -> Placement {
    match name {
        "communities" => Placement::Communities {
            rounds: env_or("CLUSTER_ROUNDS", 3),
        },
        _ => Placement::Hash,
    }
}

/// The changes pushed after the solve: the sample model's rule sizes at random subjects.
fn changes(subjects: u32, behaviour: &[f64], count: usize) -> Vec<Change> {
    let steps = [-10.0, -10.0, -5.0, -50.0, 2.0, 2.0, -100.0, 10.0];
    let mut rng = Rng::new(7);
    let mut behaviour = behaviour.to_vec();
    (0..count)
        .map(|_| {
            let subject = rng.below(u64::from(subjects)) as u32;
            behaviour[subject as usize] += steps[rng.below(steps.len() as u64) as usize];
            Change::Behaviour {
                subject,
                behaviour: behaviour[subject as usize],
            }
        })
        .collect()
}

/// One process's run: its workers' results.
fn process(
    graph: Arc<Graph>,
    behaviour: Arc<Vec<f64>>,
    addresses: Vec<String>,
    process: usize,
    placement: Placement,
    changes: usize,
    batch: usize,
) -> Vec<(Solved, Updated)> {
    let owners = Arc::new(Owners::place(&graph, addresses.len() as u32, placement));
    let changes = self::changes(graph.len(), &behaviour, changes);
    let changes = Arc::new(
        changes
            .chunks(batch.max(1))
            .map(<[Change]>::to_vec)
            .collect(),
    );
    let layout = Layout::Processes {
        addresses,
        process,
        workers: 1,
        timeout: Duration::from_secs(900),
    };
    standing_cluster::solve_and_update(&layout, graph, behaviour, owners, run(), changes)
        .unwrap_or_else(|error| panic!("process {process}: {error}"))
}

/// A line about a process's memory.
fn memory(process: usize, results: &[(Solved, Updated)]) -> String {
    let (solved, _) = &results[0];
    let (entry_bytes, other) = solved.part.heap_bytes();
    let entries = solved.part.entries();
    format!(
        "process {process}: {entries} entries at {:.2} bytes each, {} subjects, {} mirrors; {:.1} MB besides the entries ({:.1} bytes per subject and mirror)",
        entry_bytes as f64 / entries.max(1) as f64,
        solved.part.subjects().len(),
        solved.part.mirrors(),
        other as f64 / 1e6,
        other as f64 / (solved.part.subjects().len() + solved.part.mirrors()).max(1) as f64
    )
}

fn child(spec: &str) {
    // process,addresses(;-separated),placement,changes,batch
    let fields: Vec<&str> = spec.split(',').collect();
    let process: usize = fields[0].parse().expect("a process index");
    let addresses: Vec<String> = fields[1].split(';').map(str::to_owned).collect();
    let graph = Arc::new(synthetic::graph(shape()));
    let behaviour = Arc::new(synthetic::behaviour(graph.len(), 42));
    let results = self::process(
        graph,
        behaviour,
        addresses,
        process,
        placement(fields[2]),
        fields[3].parse().expect("a count of changes"),
        fields[4].parse().expect("a batch size"),
    );
    let solved = &results[0].0;
    println!(
        "process {process} worked {:.2} s, waited {:.2} s",
        solved.working.as_secs_f64(),
        (solved.elapsed - solved.working).as_secs_f64()
    );
    println!("{}", memory(process, &results));
}

/// Stops the processes it holds when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_addresses(count: usize) -> Vec<String> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("an address").to_string())
        .collect()
}

/// Runs `processes` processes (this one is process 0) and reports.
fn cluster(
    graph: &Arc<Graph>,
    behaviour: &Arc<Vec<f64>>,
    processes: usize,
    name: &str,
    (changes, batch): (usize, usize),
    single: f64,
) -> f64 {
    let placement = placement(name);
    let addresses = free_addresses(processes);
    let program = std::env::current_exe().expect("this benchmark's path");
    let mut children = Children(Vec::new());
    for index in 1..processes {
        let spec = format!("{index},{},{name},{changes},{batch}", addresses.join(";"));
        let child = Command::new(&program)
            .env(CHILD, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting a process");
        children.0.push(child);
    }
    let started = Instant::now();
    let owners = Owners::place(graph, processes as u32, placement);
    let cut = owners.cut_fraction(graph);
    let placed = started.elapsed().as_secs_f64();
    let results = process(
        Arc::clone(graph),
        Arc::clone(behaviour),
        addresses,
        0,
        placement,
        changes,
        batch,
    );
    let (solved, updated) = &results[0];
    let entries = graph.entries() as f64;
    let wall = solved.elapsed.as_secs_f64();
    let per_entry = wall * 1e9 / (f64::from(solved.sweeps) * entries);
    let cores = processes.min(2);
    let bytes = solved.bytes.iter().skip(1).copied().max().unwrap_or(0);
    println!(
        "{processes} processes × 1 worker, {name} (placed in {placed:.1} s): {} sweeps in {wall:.2} s: {per_entry:.3} ns per entry per sweep, {:.3} core-ns ({cores} cores), {:.2}× the single process's ns per entry; {:.1} % of entries cross workers; {:.1} MB exchanged per sweep",
        solved.sweeps,
        per_entry * cores as f64,
        per_entry / single,
        cut * 100.0,
        bytes as f64 / 1e6
    );
    println!(
        "  process 0 worked {:.2} s of them (sweeping its rows, sending and taking in scores), waited {:.2} s",
        solved.working.as_secs_f64(),
        wall - solved.working.as_secs_f64()
    );
    println!("  {}", memory(0, &results));
    for mut child in std::mem::take(&mut children.0) {
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("  {line}");
            }
        }
        let status = child.wait().expect("waiting for a process");
        assert!(status.success(), "a process failed: {status}");
    }
    if changes > 0 {
        let mut latencies: Vec<Duration> = updated.latencies.clone();
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let mut rounds = updated.rounds.clone();
        rounds.sort_unstable();
        println!(
            "  {changes} behaviour changes pushed across {processes} processes in batches of {batch}: per batch p50 {:.1} µs, p99 {:.1} µs, max {:.1} ms; rounds p50 {}, p99 {}; {:.0} changes a second; {} messages sent by process 0; a full solve here took {wall:.2} s ({:.0}× a p50 batch)",
            at(0.5).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6,
            latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            rounds[rounds.len() / 2],
            rounds[(rounds.len() - 1) * 99 / 100],
            changes as f64 / latencies.iter().map(Duration::as_secs_f64).sum::<f64>(),
            updated.messages,
            wall / at(0.5).as_secs_f64()
        );
    }
    per_entry / single
}

/// `Network::solve` on all cores; its ns per entry per sweep.
fn single_process(graph: &Arc<Graph>, behaviour: &Arc<Vec<f64>>) -> f64 {
    let params = Params {
        alpha: ALPHA,
        epsilon: EPSILON,
        push_budget: u64::MAX,
    };
    let mut network = Network::new(Graph::clone(graph), behaviour.to_vec(), params);
    let started = Instant::now();
    let report = network.solve();
    let wall = started.elapsed().as_secs_f64();
    let single = wall * 1e9 / (f64::from(report.iterations) * graph.entries() as f64);
    println!(
        "1 process × {} threads (Network::solve): {} sweeps in {wall:.2} s: {single:.3} ns per entry per sweep, {:.3} core-ns",
        rayon::current_num_threads(),
        report.iterations,
        single * rayon::current_num_threads() as f64
    );
    single
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let shape = shape();
    let changes: usize = env_or("CLUSTER_CHANGES", 2_000);
    println!(
        "cluster benchmark: {} subjects, mean {} entries, α = {ALPHA}, ε = {EPSILON}; {} cores",
        shape.subjects,
        shape.mean_entries,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let started = Instant::now();
    let graph = Arc::new(synthetic::graph(shape));
    let behaviour = Arc::new(synthetic::behaviour(graph.len(), 42));
    let entries = graph.entries();
    println!(
        "generated {entries} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Rounds of: the single process, then each placement on 2 processes, side by side.
    let repeat: usize = env_or("CLUSTER_REPEAT", 3);
    let mut ratios: Vec<(String, f64)> = Vec::new();
    let mut single = 0.0;
    for round in 0..repeat {
        single = single_process(&graph, &behaviour);
        for name in ["hash", "communities"] {
            // In the last round: changes one at a time on the communities, in batches of 100
            // on the hash placement.
            let pushed = match (name, round == repeat - 1) {
                ("communities", true) => (changes, 1),
                ("hash", true) => (changes * 10, 100),
                _ => (0, 1),
            };
            let ratio = cluster(&graph, &behaviour, 2, name, pushed, single);
            ratios.push((name.to_owned(), ratio));
        }
    }
    for name in ["hash", "communities"] {
        let mut of: Vec<f64> = ratios
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, r)| *r)
            .collect();
        of.sort_by(f64::total_cmp);
        println!(
            "2 processes, {name}: ns per entry against the single process of the same round: {} (median {:.2}×)",
            of.iter()
                .map(|r| format!("{r:.2}×"))
                .collect::<Vec<_>>()
                .join(", "),
            of[of.len() / 2]
        );
    }
    if env_or::<u8>("CLUSTER_FOUR", 1) == 1 {
        for name in ["hash", "communities"] {
            let _ = cluster(&graph, &behaviour, 4, name, (0, 1), single);
        }
    }
}
