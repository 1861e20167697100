//! `standing`: check models, and score, explain and decide from a data directory.
//!
//! The only crate that reads files, the environment and the clock.

/// Prints to stdout; a reader that went away (`standing top 100 | head`) ends the command quietly
/// instead of panicking, as `println!` would.
macro_rules! out {
    ($($arguments:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = write!(std::io::stdout(), $($arguments)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arguments:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout(), $($arguments)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod cluster;
mod demo;
mod ingest;
mod output;
mod stream;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use standing_core::Timestamp;
use standing_node::Node;
use standing_rules::{Severity, check_model};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Many small allocations (per-subject entries, ids): mimalloc is markedly faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "standing",
    version,
    about = "Standing: accountable, explained reputation scores."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DataArgs {
    /// The data directory: `model.toml` and `events/*.ndjson`.
    #[arg(long, short = 'd', default_value = "standing-data", global = true)]
    data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a synthetic country: generate its people, events and social graph, ingest them
    /// durably, propagate, then serve the API and dashboard while sources keep sending events.
    /// Run again, it reopens the same data directory.
    Demo {
        /// The data directory (created on the first run, reused after).
        #[arg(long, short = 'd', default_value = "standing-demo")]
        data: PathBuf,
        /// How many people live in the country.
        #[arg(long, default_value_t = 1_000_000)]
        people: u64,
        /// Contacts per person, on average (power-law: most have a few, some many).
        #[arg(long, default_value_t = 8.0)]
        contacts: f64,
        /// The seed of the generator: the same seed gives the same country.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Address to serve the API and dashboard on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Live events per second the sources send once serving.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Stop when ready to serve (prints the time per phase) instead of serving.
        #[arg(long)]
        exit_when_ready: bool,
        /// Serve with a local cluster of this many processes on 127.0.0.1, each with its own
        /// data directory under DIR (1: a single node).
        #[arg(long, default_value_t = 1)]
        processes: usize,
        #[command(flatten)]
        pace: Pace,
    },
    /// Write a synthetic city's events as NDJSON (for trying intake and for benchmarks).
    Generate {
        #[arg(long, default_value_t = 100_000)]
        people: u64,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where to write; stdout when absent.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Create a data directory with the sample city model and a few sample events.
    Init { dir: PathBuf },
    /// The social network solved on timely dataflow workers, across processes and machines.
    Cluster {
        #[command(subcommand)]
        action: cluster::ClusterAction,
    },
    /// Add events from NDJSON or CSV files (`-` for stdin) to the data directory's log, durably.
    Ingest {
        /// Files to ingest; `.csv` files are read as CSV with a header, others as NDJSON.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The data directory.
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        /// Read every input as this format, whatever its name.
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Print `ack FILE LINE` to stdout each time everything up to LINE is durable.
        #[arg(long)]
        acks: bool,
        /// No progress bars.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Import history recorded elsewhere: records may carry their own `recorded_at`, in
        /// recorded order, no earlier than the log's latest and not in the future. Without it,
        /// `recorded_at` is the server's (stamped now) and a record carrying one is refused.
        #[arg(long)]
        history: bool,
    },
    /// Show an event as the log holds it: when it was recorded and which key sent it.
    Event {
        /// The event's source.
        source: String,
        /// The event's id.
        id: String,
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Serve the data directory over HTTP (API keys from `standing keys create`), or one
    /// process of a cluster (`--cluster cluster.toml --process I`).
    Serve {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Serve as a process of the cluster this file lists (its data directory and addresses
        /// are the file's).
        #[arg(long, requires = "process", conflicts_with_all = ["data", "listen"])]
        cluster: Option<PathBuf>,
        /// Which process of the cluster this is (its index in the file, from 0).
        #[arg(long, short = 'p', requires = "cluster")]
        process: Option<usize>,
        #[command(flatten)]
        pace: Pace,
        #[command(flatten)]
        kafka: stream::KafkaArgs,
    },
    /// Consume Kafka topics into a data directory without serving it: each record checked as
    /// its topic's source, its partition's offset checkpointed in the same durable commit,
    /// refused records written to a dead-letter topic.
    Consume {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        #[command(flatten)]
        kafka: stream::KafkaArgs,
    },
    /// Check the audit log's hash chain and head (every read, decision and refusal served).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Create and list API keys (their hashes are kept in DIR/keys.json).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Rebuild all state from the log alone and check it equals the live state.
    Replay {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
    },
    /// Remove every event past its type's `retention` from the log and from queries (the log
    /// rewritten, the engine rebuilt), and say what was removed.
    Purge {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
    },
    /// Check a model file and report every problem with file:line:column.
    Check {
        model: PathBuf,
        #[arg(long)]
        json: bool,
        /// Also hold the model to a legal profile: `eu` (protected proxies, unrelated contexts,
        /// network effects on sanctions, lists' legal basis, retention, purposes' basis).
        #[arg(long)]
        profile: Option<String>,
    },
    /// A subject's score and grade.
    Score {
        subject: String,
        /// Score at this instant (RFC 3339 or a date); default: now.
        #[arg(long)]
        at: Option<String>,
        /// Count only what was recorded by this instant.
        #[arg(long)]
        as_known_at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// A subject's score with its key factors, contributions by dimension and list memberships.
    Explain {
        subject: String,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        as_known_at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// A purpose's allow/deny decision for a subject, with its reasons.
    Decide {
        purpose: String,
        subject: String,
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The N highest scores.
    Top {
        #[arg(default_value_t = 10)]
        count: usize,
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The N lowest scores.
    Bottom {
        #[arg(default_value_t = 10)]
        count: usize,
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Verify the chain: exit 1 naming the first edited, dropped, reordered or cut record.
    Verify {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        /// Verify every process's audit log of the cluster this file lists (each data
        /// directory as the file names it, so run it where they all are, or each with -d).
        #[arg(long, conflicts_with = "data")]
        cluster: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key and print its secret (shown once, stored nowhere).
    Create {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
        /// source (sends events), consumer (scores and decisions for its purposes), operator,
        /// or subject (one person's own access report and portal).
        #[arg(long)]
        role: String,
        /// A purpose a consumer key may use (repeat for more).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// The person a subject key belongs to.
        #[arg(long)]
        subject: Option<String>,
        /// The source a source key speaks for (one of the model's `[sources]`).
        #[arg(long)]
        source: Option<String>,
        /// An operator key that may import history (records carrying their own `recorded_at`).
        #[arg(long)]
        history: bool,
        /// When the key stops working: an RFC 3339 instant or date, or a span from now
        /// (`90d`, `12h`).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List the keys: id, role, what it is bound to, expiry or revocation, last use.
    List {
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
    },
    /// Revoke a key: refused from the next request on, also by a running server.
    Revoke {
        /// The key's id (`key-…`, from `standing keys list`).
        id: String,
        #[arg(long, short = 'd', default_value = "standing-data")]
        data: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum InputFormat {
    Ndjson,
    Csv,
}

fn keys(action: KeysAction) -> Result<ExitCode> {
    use standing_accountability::keys::{KeySpec, KeyStore, RoleKind};
    match action {
        KeysAction::Create {
            data,
            role,
            purposes,
            subject,
            source,
            history,
            expires,
        } => {
            let Some(role) = RoleKind::parse(&role) else {
                bail!("--role must be source, consumer, operator or subject, not `{role}`");
            };
            if !data.join("model.toml").exists() {
                bail!(
                    "no data directory at {}; create one with `standing init`",
                    data.display()
                );
            }
            let (model, _) = standing_node::load_model(&data)?;
            for purpose in &purposes {
                if model.purpose(purpose).is_none() {
                    let known: Vec<&str> = model.purposes.iter().map(|p| p.name.as_str()).collect();
                    bail!(
                        "the model has no purpose `{purpose}`; purposes: {}",
                        known.join(", ")
                    );
                }
            }
            if let Some(source) = &source
                && model.declares_sources()
                && model.source(source).is_none()
            {
                let known: Vec<&str> = model.sources.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "the model declares no source `{source}`; sources: {}",
                    known.join(", ")
                );
            }
            let created = now();
            let expires_at = match &expires {
                None => None,
                Some(text) => Some(expiry(text, created)?),
            };
            let spec = KeySpec {
                role,
                purposes,
                subject,
                source,
                history,
                expires_at,
            };
            let mut store = KeyStore::open(&data)?;
            let (key, secret) = store.create(spec, created)?;
            eprintln!(
                "created {} ({}){}; its secret, shown only now:",
                key.id,
                key.role.name(),
                key.expires_at
                    .map(|at| format!(", expires {at}"))
                    .unwrap_or_default()
            );
            outln!("{secret}");
        }
        KeysAction::List { data } => {
            let store = KeyStore::open(&data)?;
            let used = store.last_used();
            let clock = now();
            for key in store.keys() {
                let bound = key
                    .role
                    .subject()
                    .or(key.role.source())
                    .map_or_else(|| key.role.purposes().join(","), str::to_owned);
                let state = match key.refusal(clock) {
                    Some(standing_accountability::keys::KeyRefusal::Revoked(at)) => {
                        format!("revoked {at}")
                    }
                    Some(standing_accountability::keys::KeyRefusal::Expired(at)) => {
                        format!("expired {at}")
                    }
                    Some(standing_accountability::keys::KeyRefusal::Unbound) => {
                        "refused: bound to no source".to_owned()
                    }
                    None => key
                        .expires_at
                        .map_or("active".to_owned(), |at| format!("expires {at}")),
                };
                let last = used
                    .get(&key.id)
                    .map_or("never used".to_owned(), |at| format!("last used {at}"));
                outln!(
                    "{}  {:<8}  {:<24}  {:<32}  {}{}",
                    key.id,
                    key.role.name(),
                    bound,
                    state,
                    last,
                    if key.role.history() {
                        "  (history)"
                    } else {
                        ""
                    }
                );
            }
        }
        KeysAction::Revoke { id, data } => {
            let mut store = KeyStore::open(&data)?;
            let key = store.revoke(&id, now())?;
            outln!(
                "revoked {} ({}) at {}; a running server refuses it from its next request",
                key.id,
                key.role.name(),
                key.revoked_at.map(|at| at.to_string()).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An expiry: an instant or date, or a span from `now` such as `90d` or `12h`.
fn expiry(text: &str, now: Timestamp) -> Result<Timestamp> {
    let span = |digits: &str, unit: i64| {
        digits
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| Timestamp(now.0.saturating_add(n.saturating_mul(unit))))
    };
    let from_span = match text.char_indices().last() {
        Some((at, 'd')) => span(&text[..at], 86_400),
        Some((at, 'h')) => span(&text[..at], 3_600),
        Some((at, 'm')) => span(&text[..at], 60),
        _ => None,
    };
    if let Some(at) = from_span {
        return Ok(at);
    }
    let at = Timestamp::parse(text).map_err(|error| {
        anyhow::anyhow!("--expires `{text}`: not a span (90d, 12h, 30m) nor an instant: {error}")
    })?;
    if at <= now {
        bail!("--expires {at} lies in the past");
    }
    Ok(at)
}

/// `standing event SOURCE ID`: the record the log holds, with its key.
fn show_event(source: &str, id: &str, data: &Path, json: bool) -> Result<ExitCode> {
    let (mut node, _) = Node::open(data, now())?;
    let Some(record) = node.find_event(source, id)? else {
        eprintln!("no event `{id}` of source `{source}` in {}", data.display());
        return Ok(ExitCode::from(1));
    };
    let body: serde_json::Value =
        serde_json::from_slice(&record.body).unwrap_or(serde_json::Value::Null);
    let key = if record.origin.is_empty() {
        "(not kept: logged before keys were recorded)".to_owned()
    } else {
        record.origin.clone()
    };
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "seq": record.seq,
                "recorded_at": record.recorded_at.to_string(),
                "key": record.origin,
                "event": body,
            })
        );
    } else {
        outln!("event      {source}/{id}");
        outln!("log record {}", record.seq);
        outln!("recorded   {}", record.recorded_at);
        outln!("sent by    {key}");
        outln!("record     {body}");
    }
    Ok(ExitCode::SUCCESS)
}

/// How a server paces its work.
#[derive(Debug, Clone, clap::Args)]
struct Pace {
    /// Request workers (default: one per core but one, at least one).
    #[arg(long, env = "STANDING_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
    /// How often the audit log is synced, in milliseconds: answers recorded since are durable
    /// then (smaller: less to lose in a crash, more syncs).
    #[arg(long, env = "STANDING_AUDIT_SYNC_MS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    audit_sync_ms: u64,
    /// How often the clock moves to now, rescoring everyone, in seconds.
    #[arg(long, env = "STANDING_CLOCK_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    clock_secs: u64,
}

impl Pace {
    fn config(&self, listen: &str) -> standing_server::ServeConfig {
        standing_server::ServeConfig {
            workers: self.workers.map(usize::from),
            audit_sync: std::time::Duration::from_millis(self.audit_sync_ms),
            clock_period: Some(std::time::Duration::from_secs(self.clock_secs)),
            ..standing_server::ServeConfig::new(listen, now)
        }
    }
}

fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp(seconds)
}

fn instant(text: Option<&str>, flag: &str) -> Result<Option<Timestamp>> {
    text.map(|text| Timestamp::parse(text).with_context(|| flag.to_string()))
        .transpose()
}

/// Opens the data directory with the engine's clock at `clock`.
fn load(data: &Path, clock: Timestamp) -> Result<Node> {
    let (node, report) = Node::open(data, clock)?;
    if report.recovery.torn_bytes > 0 {
        eprintln!(
            "note: cut {} bytes of an unacknowledged, torn write from the end of the log",
            report.recovery.torn_bytes
        );
    }
    if report.recovery.stale_snapshots > 0 {
        eprintln!(
            "note: removed {} snapshot(s) covering records the log no longer holds",
            report.recovery.stale_snapshots
        );
    }
    if let Some(reason) = &report.snapshot_skipped {
        eprintln!("note: snapshot not used ({reason}); replayed the log");
    }
    let timings = report.timings;
    if timings.total() >= std::time::Duration::from_secs(1) {
        eprintln!(
            "opened {} in {:.1} s: log {:.1} s, snapshot {:.1} s, replay of {} records {:.1} s, \
             scoring at the clock {:.1} s",
            data.display(),
            timings.total().as_secs_f64(),
            timings.recovery.as_secs_f64(),
            timings.snapshot.as_secs_f64(),
            report.replayed,
            timings.replay.as_secs_f64(),
            timings.clock.as_secs_f64(),
        );
    }
    Ok(node)
}

fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo {
            data,
            people,
            contacts,
            seed,
            listen,
            rate,
            exit_when_ready,
            processes,
            pace,
        } => demo::run(
            &demo::DemoOptions {
                data: &data,
                people,
                contacts,
                seed,
                serve: pace.config(&listen),
                rate,
                exit_when_ready,
                processes,
            },
            now,
        ),
        Command::Generate {
            people,
            events,
            seed,
            output,
        } => demo::generate(people, events, seed, now(), output.as_deref()),
        Command::Init { dir } => {
            if dir.join("model.toml").exists() {
                bail!(
                    "{} already holds a model.toml; nothing was changed",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join("model.toml"), standing_rules::SAMPLE_CITY_MODEL)?;
            let sample = dir.join("sample-events.ndjson");
            std::fs::write(&sample, SAMPLE_EVENTS)?;
            let (mut node, _) = Node::open(&dir, now())?;
            let options = ingest::Options {
                acks: false,
                quiet: true,
                format: None,
                history: false,
                answered_until: None,
            };
            let summary = ingest::ingest_input(
                &mut node,
                "sample-events.ndjson",
                &sample,
                ingest::Format::Ndjson,
                now(),
                &options,
            )?;
            node.snapshot()?;
            outln!(
                "Created {} with the sample city model; ingested {} sample events into its log.",
                dir.display(),
                summary.accepted
            );
            outln!("Try: standing explain p-2 --data {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Event {
            source,
            id,
            data,
            json,
        } => show_event(&source, &id, &data, json),
        Command::Ingest {
            inputs,
            data,
            format,
            acks,
            quiet,
            history,
        } => {
            let clock = now();
            let started = std::time::Instant::now();
            let (mut node, opened) = Node::open(&data, clock)?;
            ingest::remove_stale_spools(&data);
            let audit = standing_accountability::audit::Audit::open(&data)?;
            let options = ingest::Options {
                acks,
                quiet,
                history,
                answered_until: audit.latest(),
                format: format.map(|f| match f {
                    InputFormat::Ndjson => ingest::Format::Ndjson,
                    InputFormat::Csv => ingest::Format::Csv,
                }),
            };
            let mut totals = ingest::InputSummary::default();
            let mut refused = 0;
            for input in &inputs {
                let name = input.display().to_string();
                let (path, spooled) = if name == "-" {
                    (ingest::spool_stdin(&data)?, true)
                } else {
                    (input.clone(), false)
                };
                let format =
                    options
                        .format
                        .unwrap_or(if path.extension().is_some_and(|e| e == "csv") {
                            ingest::Format::Csv
                        } else {
                            ingest::Format::Ndjson
                        });
                let result = ingest::ingest_input(&mut node, &name, &path, format, clock, &options);
                if spooled {
                    let _ = std::fs::remove_file(&path);
                }
                let summary = result?;
                // Every input is audited: who (this command, on the directory itself), what.
                audit.record(&standing_accountability::audit::AuditEntry {
                    at: clock,
                    key: standing_node::LOCAL_ORIGIN.into(),
                    role: "operator".into(),
                    purpose: None,
                    action: "intake".into(),
                    subject: None,
                    answer: format!(
                        "origin {} input {name} accepted {} duplicate {} conflict {} rejected {} first {} last {}",
                        standing_node::LOCAL_ORIGIN,
                        summary.accepted,
                        summary.duplicate,
                        summary.conflict,
                        summary.rejected,
                        summary.first.as_deref().unwrap_or("-"),
                        summary.last.as_deref().unwrap_or("-"),
                    ),
                })?;
                audit.sync_head()?;
                if summary.conflict > 0 {
                    refused += 1;
                }
                if !summary.applied {
                    refused += 1;
                    eprintln!(
                        "{name}: {} record(s) rejected; nothing from this input was applied",
                        summary.rejected
                    );
                } else {
                    eprintln!(
                        "{name}: {} accepted, {} duplicate, {} conflict, {} rejected",
                        summary.accepted, summary.duplicate, summary.conflict, summary.rejected
                    );
                }
                totals.accepted += summary.accepted;
                totals.duplicate += summary.duplicate;
                totals.rejected += summary.rejected;
                if summary.applied {
                    totals.bytes += summary.bytes;
                }
            }
            // A new snapshot when the log grew, or when opening had to replay part of it.
            if totals.accepted > 0 || opened.replayed > 0 {
                node.snapshot()?;
            }
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let records = totals.accepted + totals.duplicate;
            outln!(
                "accepted {}, duplicate {}, rejected {} in {:.2} s: {:.0} records/s, {:.1} MB/s, durable; the log holds {} records",
                totals.accepted,
                totals.duplicate,
                totals.rejected,
                seconds,
                records as f64 / seconds,
                totals.bytes as f64 / 1e6 / seconds,
                node.log_records()
            );
            Ok(if totals.rejected > 0 || refused > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve {
            cluster: Some(cluster),
            process: Some(process),
            pace,
            ..
        } => {
            let cluster = standing_gateway::Cluster::read(&cluster)?;
            let name = cluster.name(process.min(cluster.len() - 1));
            let data = cluster
                .processes
                .get(process)
                .map(|p| p.data.display().to_string());
            standing_gateway::serve(&cluster, process, &pace.config(""), |address| {
                eprintln!(
                    "{name} of {}: serving {} on http://{address} (Ctrl-C or SIGTERM stops it \
                     cleanly)",
                    cluster.path.display(),
                    data.as_deref().unwrap_or("?"),
                );
            })?;
            eprintln!("stopped; snapshot stored");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data,
            listen,
            pace,
            kafka,
            ..
        } => {
            let streams = kafka.config(&data)?;
            let (node, _) =
                Node::open(&data, now()).with_context(|| format!("opening {}", data.display()))?;
            let ready = |address| {
                eprintln!(
                    "serving {} on http://{address} (Ctrl-C or SIGTERM stops it cleanly)",
                    data.display()
                );
            };
            standing_server::serve_node(node, &pace.config(&listen), ready, |state| {
                if let Some(config) = streams {
                    let host = Arc::new(stream::Served(state));
                    // Stopped with the server's runtime: what it took is durable already.
                    let (_, stopped) = tokio::sync::watch::channel(false);
                    let (_, task) = stream::start(host, config, stopped, true);
                    tokio::spawn(async move {
                        if let Ok(Err(error)) = task.await {
                            eprintln!("kafka intake stopped: {error}");
                        }
                    });
                }
            })?;
            eprintln!("stopped; snapshot stored");
            Ok(ExitCode::SUCCESS)
        }
        Command::Consume { data, kafka } => {
            let Some(config) = kafka.config(&data)? else {
                bail!(
                    "say what to consume: --kafka [FILE], or --kafka --brokers B --topic NAME=SOURCE"
                );
            };
            stream::consume(&data, config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { action } => keys(action),
        Command::Cluster { action } => cluster::run(action),
        Command::Audit {
            action: AuditAction::Verify { data, cluster },
        } => {
            let Some(cluster) = cluster else {
                return match standing_accountability::audit::verify(&data) {
                    Ok((records, head)) => {
                        outln!("audit log intact: {records} records; head {head}");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(error) => {
                        eprintln!("audit log broken: {error}");
                        Ok(ExitCode::from(1))
                    }
                };
            };
            let cluster = standing_gateway::Cluster::read(&cluster)?;
            let mut broken = 0;
            let mut total = 0;
            for (index, process) in cluster.processes.iter().enumerate() {
                let name = cluster.name(index);
                if !process.data.join("model.toml").exists() {
                    eprintln!(
                        "{name}: {} is not a data directory here; verify it on its machine with                          `standing audit verify -d DIR`",
                        process.data.display()
                    );
                    broken += 1;
                    continue;
                }
                match standing_accountability::audit::verify(&process.data) {
                    Ok((records, head)) => {
                        total += records;
                        outln!("{name}: audit log intact: {records} records; head {head}");
                    }
                    Err(error) => {
                        eprintln!("{name}: audit log broken: {error}");
                        broken += 1;
                    }
                }
            }
            if broken > 0 {
                eprintln!(
                    "{broken} of {} processes' audit logs not intact",
                    cluster.len()
                );
                return Ok(ExitCode::from(1));
            }
            outln!(
                "all {} processes' audit logs intact: {total} records",
                cluster.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { data } => {
            let clock = now();
            let node = load(&data, clock)?;
            let started = std::time::Instant::now();
            let rebuilt = node.replay_log_only(clock)?;
            match node.engine().first_difference(&rebuilt) {
                None => {
                    outln!(
                        "replay matches the live state: {} events, {} subjects, rebuilt from the log in {:.2} s",
                        rebuilt.event_count(),
                        rebuilt.subject_count(),
                        started.elapsed().as_secs_f64()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(difference) => {
                    eprintln!("replay differs from the live state: {difference}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Purge { data } => {
            let (mut node, _) = standing_node::Node::open(&data, now())?;
            let purge = node.purge(now())?;
            let removed: u64 = purge.removed.values().sum();
            outln!(
                "purged {removed} events past their retention; {} kept",
                purge.kept
            );
            for (kind, count) in &purge.removed {
                outln!("  {count:>9}  {kind}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            model,
            json,
            profile,
        } => {
            let text = std::fs::read_to_string(&model)
                .with_context(|| format!("reading {}", model.display()))?;
            let checked = match profile.as_deref() {
                None => check_model(&model.display().to_string(), &text),
                Some("eu") => standing_rules::check_model_profile(
                    &model.display().to_string(),
                    &text,
                    standing_rules::Profile::Eu,
                ),
                Some(other) => bail!("no profile `{other}`; profiles: eu"),
            };
            let errors = checked
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            if json {
                print_json(&output::diagnostics_json(&checked.diagnostics));
            } else {
                for diagnostic in &checked.diagnostics {
                    outln!("{diagnostic}");
                }
                match &checked.model {
                    Some(m) => outln!(
                        "{}: model {} is valid: {} event types, {} rules, {} dimensions, {} lists, {} purposes",
                        model.display(),
                        m.version_label(),
                        m.event_types.len(),
                        m.rules.len(),
                        m.dimensions.len(),
                        m.lists.len(),
                        m.purposes.len()
                    ),
                    None => outln!("{}: {errors} error(s)", model.display()),
                }
            }
            Ok(if errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Score {
            subject,
            at,
            as_known_at,
            data,
        } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let known = instant(as_known_at.as_deref(), "--as-known-at")?;
            let node = load(&data.data, at)?;
            let engine = node.engine();
            let explanation = engine.explain(&subject, at, known, &standing_engine::NoEventFields);
            if data.json {
                print_json(&output::score_json(&explanation.score));
            } else {
                outln!("{}", output::score_text(&explanation.score));
                if engine.score(&subject).is_none() {
                    eprintln!(
                        "note: no events are recorded for {subject}; this is the model's base score"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            subject,
            at,
            as_known_at,
            data,
        } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let known = instant(as_known_at.as_deref(), "--as-known-at")?;
            let node = load(&data.data, at)?;
            let explanation = node.explain(&subject, at, known);
            if data.json {
                print_json(&output::explanation_json(&explanation));
            } else {
                out!("{}", output::explanation_text(&explanation));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Decide {
            purpose,
            subject,
            at,
            data,
        } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let node = load(&data.data, at)?;
            let engine = node.engine();
            let Some(decision) = engine.decide(&purpose, &subject) else {
                let known: Vec<&str> = engine
                    .model()
                    .purposes
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                bail!(
                    "the model has no purpose `{purpose}`; purposes: {}",
                    known.join(", ")
                );
            };
            if data.json {
                print_json(&output::decision_json(&decision));
            } else {
                out!("{}", output::decision_text(&decision));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Top { count, at, data } => rank(count, at, data, true),
        Command::Bottom { count, at, data } => rank(count, at, data, false),
    }
}

fn rank(count: usize, at: Option<String>, data: DataArgs, highest: bool) -> Result<ExitCode> {
    let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
    let node = load(&data.data, at)?;
    let engine = node.engine();
    let ranking = engine.rank(count, highest);
    if data.json {
        print_json(&output::ranking_json(&ranking));
    } else {
        out!("{}", output::ranking_text(&ranking));
    }
    Ok(ExitCode::SUCCESS)
}

const SAMPLE_EVENTS: &str = include_str!("../../../models/city-sample-events.ndjson");

fn main() -> ExitCode {
    // What the server logs (a request that failed on Standing's side, with its detail) goes to
    // standard error.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The Kafka client's connection messages are not the operator's news; its warnings are.
    let quiet = tracing_subscriber::filter::Targets::new()
        .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        .with_target("rskafka", tracing_subscriber::filter::LevelFilter::WARN);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .finish()
        .with(quiet)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
