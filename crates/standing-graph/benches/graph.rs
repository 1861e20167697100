//! The network benchmark: a synthetic graph (default 10M subjects, 200M stored entries), full
//! solve in ns per entry per sweep with scipy's CSR product run on the same graph beside it,
//! incremental pushes per behaviour change (p50/p99), and memory per entry and per subject.
//!
//!     cargo bench -p standing-graph --bench graph
//!     GRAPH_SUBJECTS=1000000 cargo bench -p standing-graph --bench graph   # smaller
//!     GRAPH_PEER=0 ...                                                     # without scipy

use mimalloc::MiMalloc;
use standing_graph::synthetic::{self, Rng, Shape};
use standing_graph::{Network, Params};
use std::io::Write;
use std::time::Instant;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A number written as little-endian bytes, for numpy.fromfile.
trait Raw {
    fn put(&self, out: &mut Vec<u8>);
}

impl Raw for u32 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Raw for u64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Raw for f64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

fn write_raw<T: Raw>(path: &std::path::Path, values: &[T]) {
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(values));
    for value in values {
        value.put(&mut bytes);
    }
    std::fs::write(path, bytes).unwrap();
}

fn main() {
    let subjects: u32 = env_or("GRAPH_SUBJECTS", 10_000_000);
    let mean_entries: f64 = env_or("GRAPH_MEAN_ENTRIES", 20.4);
    let changes: usize = env_or("GRAPH_CHANGES", 20_000);
    let peer: bool = env_or::<u8>("GRAPH_PEER", 1) == 1;
    let alpha = 0.3;
    let epsilon = 0.01;
    println!(
        "graph benchmark: {subjects} subjects, mean {mean_entries} entries, α = {alpha}, ε = {epsilon}, {} threads",
        rayon::current_num_threads()
    );

    let started = Instant::now();
    let shape = Shape {
        subjects,
        mean_entries,
        local: env_or("GRAPH_LOCAL", 0.8),
        seed: 42,
    };
    // GRAPH_SHUFFLE=1 numbers subjects at random instead of community by community: what a
    // graph over ids in arrival order looks like without a locality ordering.
    let graph = if env_or::<u8>("GRAPH_SHUFFLE", 0) == 1 {
        shuffled_graph(shape)
    } else {
        synthetic::graph(shape)
    };
    let behaviour = synthetic::behaviour(subjects, 42);
    let entries = graph.entries();
    println!(
        "generated {entries} entries ({:.1} per subject) in {:.1} s",
        entries as f64 / f64::from(subjects),
        started.elapsed().as_secs_f64()
    );

    let params = Params {
        alpha,
        epsilon,
        push_budget: 2_000_000,
    };
    // Kept for the check at the end: the network may renumber its own copy.
    let original = graph.clone();
    let mut network = Network::new(graph, behaviour.clone(), params);
    // GRAPH_REORDER=R renumbers subjects by R rounds of label propagation before solving.
    let rounds = env_or::<usize>("GRAPH_REORDER", 0);
    if rounds > 0 {
        let started = Instant::now();
        network.reorder(rounds);
        println!(
            "locality order ({rounds} rounds of label propagation) and renumbering: {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    let report = network.solve();
    let seconds = started.elapsed().as_secs_f64();
    let per_entry = seconds * 1e9 / (f64::from(report.iterations) * entries as f64);
    println!(
        "full solve: {} sweeps in {seconds:.2} s, {per_entry:.3} ns per entry per sweep, error bound {:.5}",
        report.iterations, report.error_bound
    );

    let (entry_bytes, subject_bytes) = network.heap_bytes();
    println!(
        "memory: {:.2} GB in all; {:.2} bytes per entry, {:.2} bytes per subject (row offsets, weight sums, behaviour, score, residual, queue, and the numbering when renumbered)",
        (entry_bytes + subject_bytes) as f64 / 1e9,
        entry_bytes as f64 / entries as f64,
        subject_bytes as f64 / f64::from(subjects),
    );

    if peer {
        run_peer(&network, report.iterations, epsilon, alpha, per_entry);
    }

    // Incremental: behaviour changes the size of the sample model's rules.
    let steps = [-10.0, -10.0, -5.0, -50.0, 2.0, 2.0, -100.0, 10.0];
    let mut rng = Rng::new(7);
    let mut behaviour = behaviour;
    let mut times = Vec::with_capacity(changes);
    let mut work = Vec::with_capacity(changes);
    let mut deferred = 0;
    for _ in 0..changes {
        let s = rng.below(u64::from(subjects)) as u32;
        let step = steps[rng.below(steps.len() as u64) as usize];
        behaviour[s as usize] += step;
        let started = Instant::now();
        let pushed = network.set_behaviour(s, behaviour[s as usize]);
        times.push(started.elapsed().as_nanos() as u64);
        work.push(pushed.entries_visited);
        deferred += usize::from(pushed.deferred > 0);
    }
    times.sort_unstable();
    work.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "incremental: {changes} behaviour changes: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; entries visited p50 {}, p99 {}; {deferred} deferred",
        at(0.5) as f64 / 1e3,
        at(0.99) as f64 / 1e3,
        *times.last().unwrap() as f64 / 1e3,
        work[work.len() / 2],
        work[work.len() * 99 / 100],
    );
    let bound = network.exact_error_bound();
    let mut full = Network::new(
        original,
        behaviour,
        Params {
            push_budget: u64::MAX,
            ..params
        },
    );
    full.solve();
    let gap = network
        .scores()
        .iter()
        .zip(&full.scores())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "after the changes: exact error bound {bound:.5} (ε = {epsilon}); largest gap to a fresh full solve {gap:.5} (≤ 2ε)"
    );
}

fn run_peer(network: &Network, iterations: u32, epsilon: f64, alpha: f64, ours: f64) {
    let directory = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("graph-peer");
    std::fs::create_dir_all(&directory).unwrap();
    let (offsets, columns, values, constant, behaviour, solution) = network.linear_system();
    write_raw(&directory.join("offsets.u64"), &offsets);
    write_raw(&directory.join("columns.u32"), &columns);
    write_raw(&directory.join("values.f64"), &values);
    write_raw(&directory.join("constant.f64"), &constant);
    write_raw(&directory.join("behaviour.f64"), &behaviour);
    write_raw(&directory.join("solution.f64"), &solution);
    drop((offsets, columns, values, constant, behaviour, solution));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scipy_peer.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&directory)
        .arg((iterations - 1).max(1).to_string())
        .arg(epsilon.to_string())
        .arg(alpha.to_string())
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut fields = text.split_whitespace();
            let theirs: f64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or(f64::NAN);
            let gap = fields.next().unwrap_or("?");
            println!(
                "peer: scipy CSR product: {theirs:.3} ns per entry per iteration on the same graph (single-threaded); ours is {:.1}× faster; its result differs from ours by {gap}",
                theirs / ours
            );
        }
        Ok(output) => println!(
            "peer skipped: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        ),
        Err(error) => println!("peer skipped: python3: {error}"),
    }
    let _ = std::io::stdout().flush();
    let _ = std::fs::remove_dir_all(&directory);
}

fn shuffled_graph(shape: Shape) -> standing_graph::Graph {
    let mut order: Vec<u32> = (0..shape.subjects).collect();
    let mut rng = Rng::new(shape.seed ^ 0x5ff1e);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let weights: Vec<standing_graph::Weight> = synthetic::KINDS
        .iter()
        .map(|(_, w)| standing_graph::Weight::from_f64(*w).unwrap())
        .collect();
    let relations: Vec<_> = synthetic::relations(shape)
        .into_iter()
        .map(|(a, b, kind)| {
            (
                order[a as usize],
                order[b as usize],
                weights[kind as usize],
                standing_graph::Direction::Mutual,
            )
        })
        .collect();
    standing_graph::Graph::from_relations(shape.subjects, &relations)
}
