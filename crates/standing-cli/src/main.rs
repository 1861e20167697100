//! `standing`: check models, and score, explain and decide from a data directory.
//!
//! The only crate that reads files, the environment and the clock.

mod demo;
mod output;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use standing_core::Timestamp;
use standing_engine::Engine;
use standing_ingest::{RecordedAt, read_ndjson};
use standing_rules::{Model, Severity, check_model};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Many small allocations (per-subject entries, ids): mimalloc is markedly faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "standing", version, about = "Standing: accountable, explained reputation scores.")]
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
    /// Score a synthetic city: generate a population's events, score them, show the results.
    Demo {
        /// How many people live in the synthetic city.
        #[arg(long, default_value_t = 100_000)]
        people: u64,
        /// Events per person, on average, over the last two years.
        #[arg(long, default_value_t = 20)]
        events_per_person: u64,
        /// The seed of the generator: the same seed gives the same city.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Create a data directory with the sample city model and a few sample events.
    Init {
        dir: PathBuf,
    },
    /// Check a model file and report every problem with file:line:column.
    Check {
        model: PathBuf,
        #[arg(long)]
        json: bool,
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

fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp(seconds)
}

fn instant(text: Option<&str>, flag: &str) -> Result<Option<Timestamp>> {
    text.map(|text| Timestamp::parse(text).with_context(|| format!("{flag}")))
        .transpose()
}

fn load_model(path: &Path) -> Result<Model> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading model {}", path.display()))?;
    let checked = check_model(&path.display().to_string(), &text);
    for diagnostic in &checked.diagnostics {
        eprintln!("{diagnostic}");
    }
    match checked.model {
        Some(model) => Ok(model),
        None => bail!("model {} has errors; run `standing check {}`", path.display(), path.display()),
    }
}

/// Loads the data directory's model and events into an engine whose clock is `clock`.
fn load(data: &Path, clock: Timestamp) -> Result<Engine> {
    if !data.exists() {
        bail!(
            "no data directory at {}; create one with `standing init {}` or pass --data DIR",
            data.display(),
            data.display()
        );
    }
    let model = Arc::new(load_model(&data.join("model.toml"))?);
    let events_dir = data.join("events");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&events_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "ndjson"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut engine = Engine::new(model.clone(), clock);
    let mut rejected = Vec::new();
    let mut batches = Vec::new();
    for file in &files {
        let handle = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let batch = read_ndjson(&model, &file.display().to_string(), BufReader::new(handle), RecordedAt::FromRecordOr(clock))
            .with_context(|| format!("reading {}", file.display()))?;
        rejected.extend(batch.rejected);
        batches.push(batch.events);
    }
    if !rejected.is_empty() {
        for rejection in &rejected {
            eprintln!("{rejection}");
        }
        bail!("{} record(s) rejected; nothing was scored — fix or remove them", rejected.len());
    }
    for events in batches {
        let report = engine.apply(&events);
        for (event, outcome) in events.iter().zip(&report.outcomes) {
            if *outcome != standing_engine::ApplyOutcome::Accepted {
                eprintln!("note: {}/{}: {:?}", event.source, event.id, outcome);
            }
        }
    }
    Ok(engine)
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { people, events_per_person, seed } => demo::run(people, events_per_person, seed, now()),
        Command::Init { dir } => {
            if dir.join("model.toml").exists() {
                bail!("{} already holds a model.toml; nothing was changed", dir.display());
            }
            std::fs::create_dir_all(dir.join("events")).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join("model.toml"), standing_rules::SAMPLE_CITY_MODEL)?;
            std::fs::write(dir.join("events").join("sample.ndjson"), SAMPLE_EVENTS)?;
            println!("Created {} with the sample city model and sample events.", dir.display());
            println!("Try: standing explain p-2 --data {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { model, json } => {
            let text = std::fs::read_to_string(&model).with_context(|| format!("reading {}", model.display()))?;
            let checked = check_model(&model.display().to_string(), &text);
            let errors = checked.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
            if json {
                print_json(&output::diagnostics_json(&checked.diagnostics));
            } else {
                for diagnostic in &checked.diagnostics {
                    println!("{diagnostic}");
                }
                match &checked.model {
                    Some(m) => println!(
                        "{}: model {} is valid: {} event types, {} rules, {} dimensions, {} lists, {} purposes",
                        model.display(),
                        m.version_label(),
                        m.event_types.len(),
                        m.rules.len(),
                        m.dimensions.len(),
                        m.lists.len(),
                        m.purposes.len()
                    ),
                    None => println!("{}: {errors} error(s)", model.display()),
                }
            }
            Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Score { subject, at, as_known_at, data } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let known = instant(as_known_at.as_deref(), "--as-known-at")?;
            let engine = load(&data.data, at)?;
            let explanation = engine.explain(&subject, at, known);
            if data.json {
                print_json(&output::score_json(&explanation.score));
            } else {
                println!("{}", output::score_text(&explanation.score));
                if engine.score(&subject).is_none() {
                    eprintln!("note: no events are recorded for {subject}; this is the model's base score");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { subject, at, as_known_at, data } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let known = instant(as_known_at.as_deref(), "--as-known-at")?;
            let engine = load(&data.data, at)?;
            let explanation = engine.explain(&subject, at, known);
            if data.json {
                print_json(&output::explanation_json(&explanation));
            } else {
                print!("{}", output::explanation_text(&explanation));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Decide { purpose, subject, at, data } => {
            let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
            let engine = load(&data.data, at)?;
            let Some(decision) = engine.decide(&purpose, &subject) else {
                let known: Vec<&str> = engine.model().purposes.iter().map(|p| p.name.as_str()).collect();
                bail!("the model has no purpose `{purpose}`; purposes: {}", known.join(", "));
            };
            if data.json {
                print_json(&output::decision_json(&decision));
            } else {
                print!("{}", output::decision_text(&decision));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Top { count, at, data } => rank(count, at, data, true),
        Command::Bottom { count, at, data } => rank(count, at, data, false),
    }
}

fn rank(count: usize, at: Option<String>, data: DataArgs, highest: bool) -> Result<ExitCode> {
    let at = instant(at.as_deref(), "--at")?.unwrap_or_else(now);
    let engine = load(&data.data, at)?;
    let ranking = engine.rank(count, highest);
    if data.json {
        print_json(&output::ranking_json(&ranking));
    } else {
        print!("{}", output::ranking_text(&ranking));
    }
    Ok(ExitCode::SUCCESS)
}

const SAMPLE_EVENTS: &str = include_str!("../../../models/city-sample-events.ndjson");

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
