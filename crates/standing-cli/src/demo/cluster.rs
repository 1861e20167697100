//! `standing demo --processes N`: the same country served by a local cluster of N processes on
//! 127.0.0.1, each with its own data directory (`DIR/p0` … `DIR/pN-1`, listed in
//! `DIR/cluster.toml`). This process builds every directory, then serves process 0 itself —
//! the dashboard, the API and the simulated traffic, which goes through process 0's routing
//! like any client's — and starts the others as `standing serve --cluster DIR/cluster.toml
//! --process I`.

use super::{
    DemoKeys, DemoOptions, Phases, build, create_keys, print_welcome, read_keys, send, simulate,
};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use standing_accountability::keys::KeyStore;
use standing_core::Timestamp;
use standing_devkit::country::Country;
use standing_node::Node;
use std::io::Read;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) const CLUSTER_FILE: &str = "cluster.toml";
const SECRET_FILE: &str = "cluster.secret";

/// The processes this one started; stopped (asked, then killed) when dropped.
struct Others(Vec<Child>);

impl Drop for Others {
    fn drop(&mut self) {
        // Ctrl-C reaches the whole process group: give them a moment to store their snapshots.
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.0 {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom for the cluster's secret")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the cluster's directories, model, keys, secret and file; returns the demo's keys.
fn lay_out(options: &DemoOptions, now: Timestamp) -> Result<DemoKeys> {
    let dir = options.data;
    let processes = options.processes;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let others = crate::cluster::free_addresses(2 * processes - 1)?;
    let mut file = format!(
        "# A local cluster made by `standing demo --processes {processes}`.\n\
         secret_file = \"{SECRET_FILE}\"\n"
    );
    for process in 0..processes {
        let http = if process == 0 {
            options.serve.listen.clone()
        } else {
            others[process - 1].clone()
        };
        let timely = &others[processes - 1 + process];
        file += &format!(
            "\n[[process]]\nhttp = \"{http}\"\ntimely = \"{timely}\"\ndata = \"p{process}\"\n"
        );
        let data = dir.join(format!("p{process}"));
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("model.toml"), standing_rules::SAMPLE_CITY_MODEL)?;
    }
    std::fs::write(dir.join(SECRET_FILE), secret()? + "\n")?;
    let model = standing_rules::check_model("models/city.toml", standing_rules::SAMPLE_CITY_MODEL)
        .model
        .context("the built-in sample model does not check; this is a bug")?;
    let first = dir.join("p0");
    let keys = create_keys(&first, &model, now)?;
    // Every process holds every key from the start (they would take them in within a second).
    let made = KeyStore::open(&first)?.keys().to_vec();
    for process in 1..processes {
        KeyStore::open(&dir.join(format!("p{process}")))?.merge(&made)?;
    }
    // The file last: its presence marks a finished layout.
    std::fs::write(dir.join(CLUSTER_FILE), file)?;
    Ok(keys)
}

pub(super) fn run(options: &DemoOptions, now: fn() -> Timestamp) -> Result<ExitCode> {
    let started = Instant::now();
    let (dir, processes) = (options.data, options.processes);
    let file = dir.join(CLUSTER_FILE);
    let fresh = !file.exists();
    if fresh && dir.join("model.toml").exists() {
        bail!(
            "{} holds a single node's demo; give a cluster's demo another directory with -d",
            dir.display()
        );
    }
    let (node, keys) = if fresh {
        outln!(
            "Standing demo: a country of {} people served by {processes} processes in {} (seed {})",
            options.people,
            dir.display(),
            options.seed
        );
        let keys = lay_out(options, now())?;
        let mut nodes = (0..processes)
            .map(|p| Ok(Node::open(&dir.join(format!("p{p}")), now())?.0))
            .collect::<Result<Vec<Node>>>()?;
        let mut phases = Phases::default();
        build(options, &mut nodes, now(), &mut phases)?;
        let propagate = Instant::now();
        nodes.par_iter_mut().for_each(Node::finish_bulk);
        let propagate = propagate.elapsed();
        let snapshot = Instant::now();
        nodes
            .par_iter_mut()
            .map(Node::snapshot)
            .collect::<Result<Vec<()>, _>>()?;
        let snapshot = snapshot.elapsed();
        outln!(
            "  phases      generate {:.1} s · ingest (durable, {processes} logs) {:.1} s · propagate {:.1} s · snapshot {:.1} s",
            phases.generate.as_secs_f64(),
            phases.ingest.as_secs_f64(),
            propagate.as_secs_f64(),
            snapshot.as_secs_f64()
        );
        for (process, node) in nodes.iter().enumerate() {
            outln!(
                "  process {process}   {} subjects (its own and their contacts), {} events in p{process}/log",
                node.engine().subject_count(),
                node.log_records()
            );
        }
        (nodes.swap_remove(0), keys)
    } else {
        outln!("Standing demo: reopening the cluster in {}", dir.display());
        let keys = read_keys(&dir.join("p0"))?;
        let (node, _) = Node::open(&dir.join("p0"), now())?;
        (node, keys)
    };
    let cluster = standing_gateway::Cluster::read(&file)?;
    if cluster.len() != processes {
        bail!(
            "{} lists {} processes, not {processes}: run with --processes {} or give another directory",
            file.display(),
            cluster.len(),
            cluster.len()
        );
    }
    let binary = std::env::current_exe().context("finding this program to start the others")?;
    let others = Arc::new(Mutex::new(Others(Vec::new())));
    for process in 1..processes {
        let child = Command::new(&binary)
            .args(["serve", "--cluster"])
            .arg(&file)
            .args(["--process", &process.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting process {process}"))?;
        if let Ok(mut others) = others.lock() {
            others.0.push(child);
        }
    }
    let model = node.model().clone();
    let country = Arc::new(Country::new(&model, options.people, options.seed, now())?);
    let (rate, exit_when_ready) = (options.rate, options.exit_when_ready);
    let printed = keys.clone();
    standing_gateway::serve_node(
        &cluster,
        0,
        node,
        &options.serve,
        |address| {
            outln!(
                "  serving     process 0 in {:.1} s from the start; waiting for the others\n",
                started.elapsed().as_secs_f64()
            );
            print_welcome(address, &printed, rate);
        },
        move |front| {
            tokio::spawn(async move {
                ready(&front, &keys.operator, processes, started, &others).await;
                if exit_when_ready {
                    if let Ok(mut others) = others.lock() {
                        for child in &mut others.0 {
                            let _ = child.kill();
                        }
                    }
                    std::process::exit(0);
                }
                simulate(front, model, country, keys, rate, now).await;
            });
        },
    )?;
    outln!(
        "stopped; snapshot stored. Run `standing demo --processes {processes} -d {}` again to resume.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Waits until the whole cluster answers: a clock move through process 0 reaches every process
/// and solves the network across them. Says so, with the time from the start.
async fn ready(
    front: &axum::Router,
    operator: &str,
    processes: usize,
    started: Instant,
    others: &Mutex<Others>,
) {
    let mut said = Instant::now();
    loop {
        // A process that stopped (a port taken, a directory not its own) ends the demo.
        if let Ok(mut others) = others.lock()
            && let Some((index, status)) = others
                .0
                .iter_mut()
                .enumerate()
                .find_map(|(index, child)| Some((index, child.try_wait().ok()??)))
        {
            outln!(
                "process {} stopped ({status}) before the cluster was ready; see its messages above",
                index + 1
            );
            others.0.iter_mut().for_each(|child| {
                let _ = child.kill();
            });
            std::process::exit(1);
        }
        let moved = send(
            front,
            "POST",
            "/v1/clock",
            operator,
            "application/json",
            String::new(),
        )
        .await;
        if let Some(moved) = moved
            .as_ref()
            .filter(|m| m["processes"].as_u64() == Some(processes as u64))
        {
            let sweeps = moved["network"][0]["sweeps"].as_u64().unwrap_or(0);
            let contacts: u64 = moved["network"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["contacts_elsewhere"].as_u64())
                .sum();
            outln!(
                "  cluster     all {processes} processes answer; the network solved across them in {sweeps} sweeps ({contacts} contacts on other processes)"
            );
            outln!(
                "  ready in {:.1} s from the start\n",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if said.elapsed() > Duration::from_secs(10) {
            let why = moved
                .as_ref()
                .and_then(|m| m["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_default();
            outln!("  waiting     for every process to answer: {why}");
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
