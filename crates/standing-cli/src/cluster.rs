//! `standing cluster solve`: the network's full solve on timely workers, in this process, in
//! several processes on this machine, or in one process per line of a host file.

use anyhow::{Context, Result, bail};
use standing_cluster::{Layout, Owners, Placement, Run, Solved, Sweep};
use standing_graph::{Graph, Params, synthetic};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum ClusterAction {
    /// Solve the network of a graph on timely workers across processes, sweep by sweep, and
    /// report the time per entry, the entries that cross workers and the bytes exchanged.
    Solve(SolveArgs),
}

#[derive(clap::Args, Clone)]
pub struct SolveArgs {
    /// An edge list: `a b` or `a b weight` a line (spaces, tabs or commas; `#` comments).
    #[arg(long, conflicts_with = "synthetic")]
    graph: Option<PathBuf>,
    /// With --graph: `a` depends on `b` only (a rating), not each on the other.
    #[arg(long, requires = "graph")]
    one_way: bool,
    /// A synthetic community graph of this many subjects instead of a file.
    #[arg(long)]
    synthetic: Option<u32>,
    /// Mean entries a subject of the synthetic graph (each relation is two).
    #[arg(long, default_value_t = 20.0)]
    entries: f64,
    /// The seed of the synthetic graph and of the behaviour scores.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Processes to start on this machine (on 127.0.0.1, free ports); this one is process 0.
    #[arg(long, short = 'n', default_value_t = 1)]
    processes: usize,
    /// Workers (threads) in each process.
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// A host file: one `host:port` a line, process 0 first; run this process as --process.
    #[arg(long, short = 'H', conflicts_with = "addresses")]
    hosts: Option<PathBuf>,
    /// The processes' addresses, comma-separated, instead of a host file.
    #[arg(long, value_delimiter = ',')]
    addresses: Vec<String>,
    /// Which process of the host file or address list this one is.
    #[arg(long, short = 'p')]
    process: Option<usize>,
    /// How subjects are placed on workers: `hash` (of the subject's id) or `communities`
    /// (label propagation: related subjects together).
    #[arg(long, default_value = "hash", value_parser = ["hash", "communities"])]
    placement: String,
    /// Label propagation rounds of `--placement communities`.
    #[arg(long, default_value_t = Placement::DEFAULT_ROUNDS)]
    rounds: usize,
    /// How much of a score comes from the contacts' scores.
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// Every score ends within this of the exact fixed point.
    #[arg(long, default_value_t = 0.01)]
    epsilon: f64,
    /// Seconds to wait for a peer, at start-up and at every sweep, before naming it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Write this process's subjects' scores as CSV (`subject,score`); with several
    /// processes, process P writes FILE.P.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// No progress lines.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(action: ClusterAction) -> Result<ExitCode> {
    match action {
        ClusterAction::Solve(args) => solve(&args),
    }
}

/// Processes started on this machine, stopped when dropped unless they have finished.
struct Children(Vec<(usize, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Children {
    /// Waits for every child, up to `timeout`; the first that failed, with what it printed.
    fn wait(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for (process, child) in &mut self.0 {
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "process {process} did not finish within {} s",
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if !status.success() {
                let mut said = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut said);
                }
                bail!("process {process} failed ({status}): {}", said.trim());
            }
        }
        Ok(())
    }
}

/// `count` free ports on 127.0.0.1.
pub(crate) fn free_addresses(count: usize) -> Result<Vec<String>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.to_string()))
        .collect()
}

fn read_hosts(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hosts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let host = line.split('#').next().unwrap_or_default().trim();
        if host.is_empty() {
            continue;
        }
        if !host.contains(':') {
            bail!(
                "{}:{}: `{host}` is not host:port",
                path.display(),
                index + 1
            );
        }
        hosts.push(host.to_owned());
    }
    if hosts.is_empty() {
        bail!("{}: no hosts", path.display());
    }
    Ok(hosts)
}

/// The graph the arguments name, with a line about it.
fn load_graph(args: &SolveArgs) -> Result<(Graph, String)> {
    match (&args.graph, args.synthetic) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let edges =
                standing_cluster::read_edges(&path.display().to_string(), &text, args.one_way)?;
            let skipped = if edges.skipped > 0 {
                format!(", {} lines of weight ≤ 0 left out", edges.skipped)
            } else {
                String::new()
            };
            let about = format!("{} relations{skipped}", edges.relations);
            Ok((edges.graph, about))
        }
        (None, Some(subjects)) => {
            let shape = synthetic::Shape {
                subjects,
                mean_entries: args.entries,
                local: 0.9,
                seed: args.seed,
            };
            Ok((
                synthetic::graph(shape),
                format!("synthetic, seed {}", args.seed),
            ))
        }
        (None, None) => bail!("name a graph: --graph FILE or --synthetic SUBJECTS"),
    }
}

/// The arguments a local child process runs with: these, as process `process` of `addresses`.
fn child_arguments(args: &SolveArgs, addresses: &[String], process: usize) -> Vec<String> {
    let mut out: Vec<String> = vec!["cluster".into(), "solve".into()];
    if let Some(graph) = &args.graph {
        out.extend(["--graph".into(), graph.display().to_string()]);
    }
    if args.one_way {
        out.push("--one-way".into());
    }
    if let Some(subjects) = args.synthetic {
        out.extend(["--synthetic".into(), subjects.to_string()]);
    }
    out.extend([
        "--entries".into(),
        args.entries.to_string(),
        "--seed".into(),
        args.seed.to_string(),
        "--workers".into(),
        args.workers.to_string(),
        "--addresses".into(),
        addresses.join(","),
        "--process".into(),
        process.to_string(),
        "--placement".into(),
        args.placement.clone(),
        "--rounds".into(),
        args.rounds.to_string(),
        "--alpha".into(),
        args.alpha.to_string(),
        "--epsilon".into(),
        args.epsilon.to_string(),
        "--timeout".into(),
        args.timeout.to_string(),
        "--quiet".into(),
    ]);
    if let Some(scores) = &args.scores {
        out.extend(["--scores".into(), scores.display().to_string()]);
    }
    out
}

fn megabytes(bytes: f64) -> String {
    format!("{:.2} MB", bytes / 1e6)
}

fn solve(args: &SolveArgs) -> Result<ExitCode> {
    if !(0.0..1.0).contains(&args.alpha) {
        bail!("--alpha is from 0 up to (not including) 1");
    }
    if args.epsilon.is_nan() || args.epsilon <= 0.0 {
        bail!("--epsilon is above 0");
    }
    if args.workers == 0 || args.processes == 0 {
        bail!("--processes and --workers are at least 1");
    }
    let timeout = Duration::from_secs(args.timeout);
    let mut children = Children(Vec::new());
    // The processes' addresses when given, and what gave them (for errors).
    let listed = match &args.hosts {
        Some(hosts) => Some((read_hosts(hosts)?, hosts.display().to_string(), "--hosts")),
        None if !args.addresses.is_empty() => Some((
            args.addresses.clone(),
            "--addresses".to_owned(),
            "--addresses",
        )),
        None => None,
    };
    let (layout, process) = if let Some((addresses, source, flag)) = listed {
        let process = args.process.with_context(|| {
            format!("with {flag}, say which of them this process is: --process")
        })?;
        if process >= addresses.len() {
            bail!(
                "--process {process}: {source} lists {} processes",
                addresses.len()
            );
        }
        let layout = Layout::Processes {
            addresses,
            process,
            workers: args.workers,
            timeout,
        };
        (layout, process)
    } else if args.processes > 1 {
        let addresses = free_addresses(args.processes)?;
        let program = std::env::current_exe().context("finding this program to start its peers")?;
        for process in 1..args.processes {
            let child = Command::new(&program)
                .args(child_arguments(args, &addresses, process))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("starting process {process}"))?;
            children.0.push((process, child));
        }
        let layout = Layout::Processes {
            addresses,
            process: 0,
            workers: args.workers,
            timeout,
        };
        (layout, 0)
    } else {
        (
            Layout::Threads {
                workers: args.workers,
            },
            0,
        )
    };
    let talk = process == 0 && !args.quiet;
    let started = Instant::now();
    let (graph, about) = load_graph(args)?;
    let behaviour = synthetic::behaviour(graph.len(), args.seed ^ 0xB0);
    let placement = match args.placement.as_str() {
        "communities" => Placement::Communities {
            rounds: args.rounds,
        },
        _ => Placement::Hash,
    };
    let workers = layout.workers();
    let owners = Owners::place(&graph, workers as u32, placement);
    let cut = owners.cut_fraction(&graph);
    let loaded = started.elapsed();
    let (subjects, entries) = (graph.len(), graph.entries());
    if process == 0 {
        outln!(
            "graph: {subjects} subjects, {entries} entries ({about}); read and placed in {:.2} s",
            loaded.as_secs_f64()
        );
        let processes = workers / args.workers;
        outln!(
            "layout: {processes} process{} × {} worker{}; placement {}: {:.1} % of entries cross workers",
            if processes == 1 { "" } else { "es" },
            args.workers,
            if args.workers == 1 { "" } else { "s" },
            placement.name(),
            cut * 100.0
        );
    }
    let params = Params {
        alpha: args.alpha,
        epsilon: args.epsilon,
        push_budget: u64::MAX,
    };
    let progress: Option<standing_cluster::Progress> = talk.then(|| {
        Arc::new(|sweep: &Sweep| {
            eprintln!(
                "sweep {:>4}: largest residual {:.3e}, {} exchanged, {:.2} s",
                sweep.sweep,
                sweep.max_residual,
                megabytes(sweep.bytes as f64),
                sweep.elapsed.as_secs_f64()
            );
        }) as standing_cluster::Progress
    });
    let run = Run {
        alpha: params.alpha,
        threshold: params.threshold(),
        max_sweeps: 10_000,
        timeout,
        progress,
    };
    let solved = standing_cluster::solve(
        &layout,
        Arc::new(graph),
        Arc::new(behaviour),
        Arc::new(owners),
        run,
    )?;
    if let Some(path) = &args.scores {
        let path = if workers / args.workers > 1 {
            PathBuf::from(format!("{}.{process}", path.display()))
        } else {
            path.clone()
        };
        write_scores(&path, &solved)?;
    }
    children.wait(timeout)?;
    if process == 0 {
        report(&solved, subjects, entries, workers, params);
    }
    Ok(ExitCode::SUCCESS)
}

fn write_scores(path: &Path, solved: &[Solved]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "subject,score")?;
    for worker in solved {
        for (subject, score) in worker.part.subjects().iter().zip(worker.part.scores()) {
            // `{:?}` of an f64 reads back to the same bits.
            writeln!(out, "{subject},{score:?}")?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn report(solved: &[Solved], subjects: u32, entries: u64, workers: usize, params: Params) {
    let Some(first) = solved.first() else { return };
    let sweeps = first.sweeps.max(1);
    let wall = first.elapsed.as_secs_f64();
    let cores = workers.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let per_entry = wall * 1e9 / (f64::from(sweeps) * entries.max(1) as f64);
    outln!(
        "solved: {} sweeps, every score within {:.1e} of the fixed point (largest residual {:.3e}); {subjects} subjects",
        first.sweeps,
        first.max_residual / (1.0 - params.alpha),
        first.max_residual
    );
    outln!(
        "time: {wall:.3} s, {:.1} ms a sweep, {per_entry:.2} ns an entry a sweep (wall), {:.2} core-ns ({cores} core{})",
        wall * 1e3 / f64::from(sweeps),
        per_entry * cores as f64,
        if cores == 1 { "" } else { "s" }
    );
    // The first word of each pair carries the starting scores; sweeps after it are alike.
    let exchanged = first.bytes.iter().skip(1).copied().max().unwrap_or(0);
    outln!(
        "exchanged: {} a sweep among all workers",
        megabytes(exchanged as f64)
    );
    let (local, mirrors): (u64, usize) = solved.iter().fold((0, 0), |(e, m), w| {
        (e + w.part.entries(), m + w.part.mirrors())
    });
    let entry_bytes: u64 = solved.iter().map(|w| w.part.heap_bytes().0).sum();
    let other_bytes: u64 = solved.iter().map(|w| w.part.heap_bytes().1).sum();
    outln!(
        "memory (this process, {} worker{}): {local} entries at {:.2} bytes an entry, {mirrors} mirrors; {} for subjects and mirrors",
        solved.len(),
        if solved.len() == 1 { "" } else { "s" },
        entry_bytes as f64 / local.max(1) as f64,
        megabytes(other_bytes as f64)
    );
}
