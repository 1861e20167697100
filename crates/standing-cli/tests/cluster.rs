//! `standing cluster solve` across real processes on 127.0.0.1: the scores of 2 and 3 processes
//! are the same bit for bit as one process's and as `standing_graph::Network::solve`'s on the
//! Facebook and Bitcoin OTC graphs, with either placement; a host file starts a cluster; a peer
//! that is not there, that dies mid-solve or that stops answering is an error naming it, in
//! bounded time; and bad edge lists and host files name the line at fault.
//!
//! Every process a test starts is held by a [`Running`], whose `Drop` kills and reaps it (and,
//! for a process that starts peers of its own, its whole process group), so a failing test
//! leaves nothing behind; every wait has a deadline.

mod common;
use common::{Scratch, free_addresses};
use standing_graph::{Network, Params};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a solve of the real graphs may take in a debug build, start-up included.
const SOLVE_WITHIN: Duration = Duration::from_secs(240);
/// How long a process given up on by its peers may take to say so and exit.
const FAIL_WITHIN: Duration = Duration::from_secs(20);

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

/// How a process ended.
#[derive(Debug)]
struct Ended {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// A `standing` process the test started: its stderr read line by line on a thread (so the test
/// can wait for a line with a deadline), its stdout read whole on another. Dropping it kills and
/// reaps it.
struct Running {
    child: Child,
    what: String,
    /// Whether it leads a process group of its own (it starts peers): then the group is killed.
    group: bool,
    stderr: Receiver<String>,
    stdout: Receiver<String>,
    /// The stderr lines taken from the channel so far.
    heard: Vec<String>,
}

impl Running {
    /// Starts `standing ARGS`; one that starts peers of its own (`--processes N`) leads a new
    /// process group, so that killing it kills them too.
    fn start(args: &[&str]) -> Running {
        let group = args.contains(&"--processes");
        let mut command = Command::new(env!("CARGO_BIN_EXE_standing"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if group {
            command.process_group(0);
        }
        let mut child = command.spawn().expect("the binary starts");
        let (line_to, stderr) = channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut line = String::new();
            while matches!(err.read_line(&mut line), Ok(n) if n > 0) {
                if line_to.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let (all_to, stdout) = channel();
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = out.read_to_end(&mut all);
            let _ = all_to.send(String::from_utf8_lossy(&all).into_owned());
        });
        Running {
            child,
            what: format!("standing {}", args.join(" ")),
            group,
            stderr,
            stdout,
            heard: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for a stderr line containing `needle`, and returns it.
    fn line_with(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.heard.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no `{needle}` on stderr within {} s; it said:\n{}",
                    self.what,
                    within.as_secs(),
                    self.heard.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: stderr closed before `{needle}` ({:?}); it said:\n{}",
                    self.what,
                    self.child.try_wait(),
                    self.heard.join("\n")
                ),
            }
        }
    }

    /// Waits up to `within` for it to exit, then for what it printed.
    fn end(&mut self, within: Duration) -> Ended {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                // Drain what it said so far, for the message; `Drop` kills it.
                self.heard.extend(self.stderr.try_iter());
                panic!(
                    "{}: still running after {} s; it said:\n{}",
                    self.what,
                    within.as_secs(),
                    self.heard.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close when it exits (its own peers do not inherit them); the deadline only
        // keeps a surprise from hanging the test.
        let closed = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .stderr
                .recv_timeout(closed.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.heard.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("{}: stderr stays open", self.what),
            }
        }
        let stdout = self
            .stdout
            .recv_timeout(closed.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{}: stdout stays open", self.what));
        Ended {
            status,
            stdout,
            stderr: self.heard.join("\n"),
        }
    }

    /// [`Running::end`], and it must have succeeded.
    fn succeed(&mut self, within: Duration) -> Ended {
        let ended = self.end(within);
        assert!(
            ended.status.success(),
            "{}: {}\n{}",
            self.what,
            ended.status,
            ended.stderr
        );
        ended
    }

    /// [`Running::end`], and it must have failed.
    fn fail(&mut self, within: Duration) -> Ended {
        let ended = self.end(within);
        assert!(
            !ended.status.success(),
            "{}: succeeded where it should fail\n{}",
            self.what,
            ended.stderr
        );
        ended
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if self.group {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", self.pid())])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A scores file: subject → score as written.
fn read_scores(path: &Path) -> BTreeMap<u32, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("subject,score"), "{}", path.display());
    let mut scores = BTreeMap::new();
    for line in lines {
        let (subject, score) = line
            .split_once(',')
            .unwrap_or_else(|| panic!("{}: `{line}`", path.display()));
        let subject: u32 = subject.parse().unwrap();
        let before = scores.insert(subject, score.to_owned());
        assert!(
            before.is_none(),
            "{}: subject {subject} twice",
            path.display()
        );
    }
    scores
}

/// A real graph and the process counts its cluster runs are checked at.
struct Case {
    name: &'static str,
    file: &'static str,
    one_way: bool,
    processes: &'static [usize],
}

/// Solves `case`'s graph in one process and checks the scores against
/// `standing_graph::Network::solve` in this test, bit for bit; then at each process count and
/// placement, and checks that the processes' files together hold every subject exactly once with
/// the same score, character for character.
fn scores_match_one_process(case: &Case) {
    let scratch = Scratch::new(&format!("cluster-{}", case.name));
    let graph_path = data(case.file);
    let graph_arg = graph_path.to_str().unwrap();
    let solve = |extra: &[&str], scores: &Path| -> Ended {
        let mut args = vec!["cluster", "solve", "--graph", graph_arg, "-q"];
        if case.one_way {
            args.push("--one-way");
        }
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--scores", scores.to_str().unwrap()]);
        Running::start(&args).succeed(SOLVE_WITHIN)
    };

    // One process, against the solve of one machine computed here.
    let one_path = scratch.join("one.csv");
    let one_ended = solve(&[], &one_path);
    assert!(
        one_ended.stdout.contains("layout: 1 process × 1 worker"),
        "{}",
        one_ended.stdout
    );
    let one = read_scores(&one_path);
    let text = std::fs::read_to_string(&graph_path).unwrap();
    let edges = standing_cluster::read_edges(case.file, &text, case.one_way).unwrap();
    let subjects = edges.graph.len();
    // As the CLI does: behaviour scores from the seed (1 unless given) ^ 0xB0.
    let behaviour = standing_graph::synthetic::behaviour(subjects, 1 ^ 0xB0);
    let mut network = Network::new(
        edges.graph,
        behaviour,
        Params {
            alpha: 0.5,
            epsilon: 0.01,
            push_budget: u64::MAX,
        },
    );
    network.solve();
    assert_eq!(
        one.keys().copied().collect::<Vec<u32>>(),
        (0..subjects).collect::<Vec<u32>>(),
        "{}: one process's subjects",
        case.name
    );
    for (&subject, score) in &one {
        let parsed: f64 = score.parse().unwrap();
        assert_eq!(
            parsed.to_bits(),
            network.score(subject).to_bits(),
            "{}: subject {subject}: the CLI wrote {score}, Network::solve has {:?}",
            case.name,
            network.score(subject)
        );
    }

    // Several processes, each writing its own subjects' scores to FILE.P.
    for &processes in case.processes {
        for placement in ["hash", "communities"] {
            let run = format!("{processes} processes, placement {placement}");
            let base = scratch.join(&format!("{processes}-{placement}.csv"));
            let count = processes.to_string();
            let ended = solve(&["--processes", &count, "--placement", placement], &base);
            assert!(
                ended
                    .stdout
                    .contains(&format!("layout: {processes} processes × 1 worker")),
                "{}: {run}: {}",
                case.name,
                ended.stdout
            );
            assert!(
                !base.exists(),
                "{}: {run}: {} written besides the processes' files",
                case.name,
                base.display()
            );
            let mut merged: BTreeMap<u32, String> = BTreeMap::new();
            for process in 0..processes {
                let file = PathBuf::from(format!("{}.{process}", base.display()));
                let part = read_scores(&file);
                assert!(
                    !part.is_empty(),
                    "{}: {run}: process {process} owns no subject",
                    case.name
                );
                for (subject, score) in part {
                    let before = merged.insert(subject, score);
                    assert!(
                        before.is_none(),
                        "{}: {run}: subject {subject} in two processes' files",
                        case.name
                    );
                }
            }
            let beyond = PathBuf::from(format!("{}.{processes}", base.display()));
            assert!(
                !beyond.exists(),
                "{}: {run}: {}",
                case.name,
                beyond.display()
            );
            assert_eq!(
                merged.len(),
                one.len(),
                "{}: {run}: subjects in all",
                case.name
            );
            for (subject, score) in &one {
                assert_eq!(
                    merged.get(subject),
                    Some(score),
                    "{}: {run}: subject {subject}",
                    case.name
                );
            }
        }
    }
}

/// SNAP's ego-Facebook graph (mutual relations): 2 and 3 processes, hash and community placement,
/// give one process's scores bit for bit, and those are `Network::solve`'s.
#[test]
fn facebook_scores_across_processes_are_one_process_scores() {
    scores_match_one_process(&Case {
        name: "facebook",
        file: "facebook_combined.txt",
        one_way: false,
        processes: &[2, 3],
    });
}

/// The Bitcoin OTC ratings read one way (a rater depends on the rated; distrust left out): 2
/// processes give one process's scores bit for bit, and those are `Network::solve`'s.
#[test]
fn bitcoin_one_way_scores_across_processes_are_one_process_scores() {
    scores_match_one_process(&Case {
        name: "bitcoin",
        file: "soc-sign-bitcoinotc.csv",
        one_way: true,
        processes: &[2],
    });
}

/// Two processes started by hand from one host file (with a comment and a blank line) solve
/// together: both exit 0, process 0 prints the layout and the `solved:` summary, process 1
/// prints nothing on stdout.
#[test]
fn a_host_file_starts_a_cluster() {
    let scratch = Scratch::new("cluster-hosts");
    let addresses = free_addresses(2);
    let hosts = scratch.join("hosts");
    std::fs::write(
        &hosts,
        format!(
            "# the cluster\n{}\n\n{}  # the second\n",
            addresses[0], addresses[1]
        ),
    )
    .unwrap();
    let hosts = hosts.to_str().unwrap();
    let args = |process: &'static str| {
        [
            "cluster",
            "solve",
            "--synthetic",
            "3000",
            "--hosts",
            hosts,
            "--process",
            process,
            "--timeout",
            "20",
            "-q",
        ]
    };
    let mut first = Running::start(&args("0"));
    let mut second = Running::start(&args("1"));
    let ended = first.succeed(SOLVE_WITHIN);
    let other = second.succeed(SOLVE_WITHIN);
    assert!(
        ended
            .stdout
            .lines()
            .any(|line| line.starts_with("layout: 2 processes × 1 worker;")),
        "{}",
        ended.stdout
    );
    assert!(
        ended
            .stdout
            .lines()
            .any(|line| line.starts_with("solved: ") && line.ends_with("; 3000 subjects")),
        "{}",
        ended.stdout
    );
    assert_eq!(other.stdout, "", "process 1 prints no summary");
}

/// A process alone of a two-process list gives up after `--timeout 2`, well within 20 s, naming
/// the missing process and its address: process 1 cannot reach process 0, and process 0 is not
/// reached by process 1.
#[test]
fn an_unreachable_peer_is_named() {
    for (process, missing) in [(1, 0), (0, 1)] {
        let addresses = free_addresses(2);
        let list = addresses.join(",");
        let me = process.to_string();
        let started = Instant::now();
        let mut alone = Running::start(&[
            "cluster",
            "solve",
            "--synthetic",
            "100",
            "--addresses",
            &list,
            "--process",
            &me,
            "--timeout",
            "2",
            "-q",
        ]);
        let ended = alone.fail(FAIL_WITHIN);
        let took = started.elapsed();
        let named = format!("process {missing} ({})", addresses[missing]);
        assert!(
            ended.stderr.contains("error: ") && ended.stderr.contains(&named),
            "process {process} alone: wanted `{named}` in:\n{}",
            ended.stderr
        );
        assert!(
            ended.stderr.contains("could not be reached within 2 s"),
            "process {process} alone:\n{}",
            ended.stderr
        );
        assert!(
            took >= Duration::from_secs(2),
            "process {process} gave up after {took:?}, before its timeout"
        );
    }
}

/// The two processes of a long solve (a large synthetic graph, α 0.95, ε 1e-12), started by hand;
/// once process 0 reports its first sweep, `stop` is done to process 1. Returns process 0's end,
/// within 20 s of it, and process 1's address.
fn solve_and_then(timeout: &str, stop: impl FnOnce(&mut Running)) -> (Ended, String) {
    let addresses = free_addresses(2);
    let list = addresses.join(",");
    let args = |process: &'static str, quiet: bool| {
        let mut args = vec![
            "cluster",
            "solve",
            "--synthetic",
            "200000",
            "--alpha",
            "0.95",
            "--epsilon",
            "1e-12",
            "--timeout",
            timeout,
            "--addresses",
            &list,
            "--process",
            process,
        ];
        if quiet {
            args.push("-q");
        }
        args
    };
    let mut first = Running::start(&args("0", false));
    let mut second = Running::start(&args("1", true));
    first.line_with("largest residual", Duration::from_secs(180));
    stop(&mut second);
    let started = Instant::now();
    let ended = first.fail(FAIL_WITHIN);
    assert!(started.elapsed() <= FAIL_WITHIN);
    drop(second);
    (ended, addresses[1].clone())
}

/// A peer killed mid-solve (SIGKILL, after the first sweep): process 0 fails within 20 s and its
/// error names process 1 and its address.
#[test]
fn a_peer_that_dies_mid_solve_is_named() {
    let (ended, address) = solve_and_then("5", |second| {
        second.child.kill().unwrap();
    });
    let named = format!("process 1 ({address})");
    assert!(
        ended.stderr.contains("error: ") && ended.stderr.contains(&named),
        "wanted `{named}` in:\n{}",
        ended.stderr
    );
}

/// A peer stopped mid-solve (SIGSTOP: its sockets stay open, it just says nothing): process 0
/// fails within 20 s by its `--timeout 3` watchdog, naming the worker of process 1 it waits for.
#[test]
fn a_peer_that_stops_answering_is_named() {
    let (ended, address) = solve_and_then("3", |second| {
        let stopped = Command::new("kill")
            .args(["-STOP", &second.pid().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
    });
    // The stopped process is killed (SIGKILL ends a stopped process too) and reaped by its drop.
    let named = format!("process 1 at {address}");
    assert!(
        ended.stderr.contains("nothing heard for 3 s") && ended.stderr.contains(&named),
        "wanted `nothing heard` and `{named}` in:\n{}",
        ended.stderr
    );
}

/// A bad line of an edge list or a host file is refused with the file and the line's number
/// (comments and blank lines counted).
#[test]
fn bad_input_names_its_line() {
    let scratch = Scratch::new("cluster-bad-input");
    // (file name, its text, the arguments after `cluster solve` with FILE for the file, the line
    // at fault, what the error says of it)
    let cases: [(&str, &str, &[&str], usize, &str); 5] = [
        (
            "edges",
            "0 1\n1 2\nx 3\n",
            &["--graph", "FILE"],
            3,
            "`x` is not a number",
        ),
        (
            "edges-comments",
            "# a graph\n0 1\n\n1 2 heavy\n",
            &["--graph", "FILE", "--processes", "2"],
            4,
            "the weight `heavy` is not a number",
        ),
        (
            "self",
            "0 1\n2 2\n",
            &["--graph", "FILE", "--one-way"],
            2,
            "subject 2 related to itself",
        ),
        (
            "hosts",
            "127.0.0.1:7000\nlocalhost\n",
            &["--synthetic", "10", "--hosts", "FILE", "--process", "0"],
            2,
            "`localhost` is not host:port",
        ),
        (
            "hosts-comments",
            "# the cluster\n127.0.0.1:7000\n\n127.0.0.1 # no port\n",
            &["--synthetic", "10", "--hosts", "FILE", "--process", "1"],
            4,
            "`127.0.0.1` is not host:port",
        ),
    ];
    for (name, text, args, line, says) in cases {
        let file = scratch.join(name);
        std::fs::write(&file, text).unwrap();
        let file = file.to_str().unwrap();
        let mut all = vec!["cluster", "solve", "-q"];
        all.extend(
            args.iter()
                .map(|&arg| if arg == "FILE" { file } else { arg }),
        );
        let ended = Running::start(&all).fail(FAIL_WITHIN);
        assert_eq!(ended.status.code(), Some(2), "{name}: {}", ended.stderr);
        let wanted = format!("error: {file}:{line}: ");
        assert!(
            ended.stderr.contains(&wanted) && ended.stderr.contains(says),
            "{name}: wanted `{wanted}` and `{says}` in:\n{}",
            ended.stderr
        );
    }
}
