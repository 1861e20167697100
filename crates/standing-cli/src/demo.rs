//! `standing demo`: a synthetic country generated, ingested durably, propagated through its
//! social graph and served — API and dashboard — while its sources keep sending events and its
//! consumers keep deciding. Run again, it reopens the same data directory.

use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::Request;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::{Value, json};
use standing_accountability::keys::{KeySpec, KeyStore, RoleKind};
use standing_core::{Event, Timestamp};
use standing_devkit::country::Country;
use standing_devkit::synthetic::{SplitMix, city_events};
use standing_node::Node;
use standing_rules::check_model;
use standing_server::AppState;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod cluster;

/// What `standing demo` is asked for.
#[derive(Debug)]
pub struct DemoOptions<'a> {
    pub data: &'a Path,
    pub people: u64,
    pub contacts: f64,
    pub seed: u64,
    /// Where and how the server runs.
    pub serve: standing_server::ServeConfig,
    /// Live events per second once serving.
    pub rate: u64,
    /// Stop once ready instead of serving (for timing the phases).
    pub exit_when_ready: bool,
    /// Serve with a local cluster of this many processes (1: a single node).
    pub processes: usize,
}

/// The demo's keys, secrets included: kept in `DIR/demo-keys.json` so a second run can print
/// them again (a demo convenience; `standing keys create` never stores a secret).
#[derive(Clone, Debug)]
struct DemoKeys {
    operator: String,
    /// One key per source of the model: each speaks for its own source only.
    sources: std::collections::BTreeMap<String, String>,
    rail: String,
    lender: String,
    dating: String,
    /// The portal key of one person, p-42 (absent in directories made before it was kept).
    subject: Option<String>,
}

/// The person whose portal key the demo prints.
const PORTAL_SUBJECT: &str = "p-42";

const KEYS_FILE: &str = "demo-keys.json";

fn create_keys(data: &Path, model: &standing_rules::Model, created: Timestamp) -> Result<DemoKeys> {
    let mut store = KeyStore::open(data)?;
    let mut create = |spec: KeySpec| -> Result<String> {
        let (_, secret) = store.create(spec, created)?;
        Ok(secret)
    };
    let mut sources = std::collections::BTreeMap::new();
    for source in &model.sources {
        sources.insert(source.name.clone(), create(KeySpec::source(&source.name))?);
    }
    let keys = DemoKeys {
        operator: create(KeySpec::new(RoleKind::Operator))?,
        sources,
        rail: create(KeySpec::consumer(&["rail.highspeed.booking"]))?,
        lender: create(KeySpec::consumer(&["lending.consumer"]))?,
        dating: create(KeySpec::consumer(&["dating.profile"]))?,
        subject: Some(create(KeySpec::subject(PORTAL_SUBJECT))?),
    };
    let text = json!({
        "operator": keys.operator, "sources": keys.sources, "rail": keys.rail,
        "lender": keys.lender, "dating": keys.dating, "subject": keys.subject,
    });
    let path = data.join(KEYS_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&text)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(keys)
}

fn read_keys(data: &Path) -> Result<DemoKeys> {
    let path = data.join(KEYS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} holds data not made by `standing demo` (no {KEYS_FILE}); give the demo another directory with -d",
            data.display()
        )
    })?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let key = |name: &str| -> Result<String> {
        value[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{}: no `{name}` key", path.display()))
    };
    let sources = value["sources"]
        .as_object()
        .map(|sources| {
            sources
                .iter()
                .filter_map(|(name, secret)| Some((name.clone(), secret.as_str()?.to_owned())))
                .collect()
        })
        .with_context(|| {
            format!(
                "{}: no `sources` keys (made by an older demo: remove the directory to start again)",
                path.display()
            )
        })?;
    Ok(DemoKeys {
        operator: key("operator")?,
        sources,
        rail: key("rail")?,
        lender: key("lender")?,
        dating: key("dating")?,
        subject: value["subject"].as_str().map(str::to_owned),
    })
}

fn bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// Time spent per phase.
#[derive(Debug, Default)]
struct Phases {
    generate: Duration,
    ingest: Duration,
}

/// Applies and logs a batch durably, timing generation (done by the caller) and intake.
fn ingest(
    node: &mut Node,
    model: &standing_rules::Model,
    events: &[Event],
    phases: &mut Phases,
) -> Result<()> {
    let started = Instant::now();
    let bodies: Vec<Vec<u8>> = events
        .par_iter()
        .with_min_len(1024)
        .map(|event| standing_ingest::to_wire(model, event, true))
        .collect();
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let report = node.ingest(events, &slices, standing_node::LOCAL_ORIGIN)?;
    let refused = report
        .outcomes
        .iter()
        .filter(|o| **o != standing_engine::ApplyOutcome::Accepted)
        .count();
    if refused > 0 {
        bail!("the generator made {refused} events the engine refused; this is a bug");
    }
    phases.ingest += started.elapsed();
    Ok(())
}

/// Applies and logs each node's share of a batch, the nodes side by side.
fn ingest_shares(
    nodes: &mut [Node],
    model: &standing_rules::Model,
    shares: Vec<Vec<Event>>,
    phases: &mut Phases,
) -> Result<()> {
    if let [node] = nodes {
        return ingest(node, model, &shares[0], phases);
    }
    let started = Instant::now();
    let outcomes: Vec<Result<()>> = nodes
        .par_iter_mut()
        .zip(shares)
        .map(|(node, share)| ingest(node, model, &share, &mut Phases::default()))
        .collect();
    phases.ingest += started.elapsed();
    outcomes.into_iter().collect()
}

/// Generates the country and ingests it into fresh data directories: one node, or the
/// processes of a cluster, each subject's events to its owner and each relation to the owners
/// of both ends.
fn build(
    options: &DemoOptions,
    nodes: &mut [Node],
    now: Timestamp,
    phases: &mut Phases,
) -> Result<()> {
    let processes = nodes.len();
    let owner = |person: u64| match processes {
        1 => 0,
        n => standing_gateway::owner_of(&format!("p-{person}"), n),
    };
    let model = nodes[0].model().clone();
    let country = Country::new(&model, options.people, options.seed, now)?;
    for node in nodes.iter_mut() {
        node.start_bulk();
    }
    const PEOPLE_PER_BATCH: u64 = 25_000;
    let progress = bar(options.people, "people");
    let mut events_total = 0usize;
    let mut first = 0;
    while first < options.people {
        let last = (first + PEOPLE_PER_BATCH).min(options.people);
        let started = Instant::now();
        let events: Vec<(usize, Vec<Event>)> = (first as u32..last as u32)
            .into_par_iter()
            .with_min_len(256)
            .map(|person| {
                let person = u64::from(person);
                (owner(person), country.person_events(person))
            })
            .collect();
        let mut shares: Vec<Vec<Event>> = vec![Vec::new(); processes];
        for (owner, person_events) in events {
            events_total += person_events.len();
            shares[owner].extend(person_events);
        }
        phases.generate += started.elapsed();
        ingest_shares(nodes, &model, shares, phases)?;
        progress.set_position(last);
        first = last;
    }
    progress.finish_and_clear();
    outln!(
        "  behaviour   {events_total} events from 8 sources about {} people",
        options.people
    );
    let started = Instant::now();
    let relations = country.relations(options.contacts);
    phases.generate += started.elapsed();
    let progress = bar(relations.len() as u64, "relations");
    for (batch, chunk) in relations.chunks(250_000).enumerate() {
        let started = Instant::now();
        let events: Vec<((usize, usize), Event)> = chunk
            .par_iter()
            .enumerate()
            .with_min_len(1024)
            .filter_map(|(offset, &relation)| {
                let ends = (owner(u64::from(relation.0)), owner(u64::from(relation.1)));
                Some((
                    ends,
                    country.relation_event(batch * 250_000 + offset, relation)?,
                ))
            })
            .collect();
        let mut shares: Vec<Vec<Event>> = vec![Vec::new(); processes];
        for ((a, b), event) in events {
            if a != b {
                shares[b].push(event.clone());
            }
            shares[a].push(event);
        }
        phases.generate += started.elapsed();
        ingest_shares(nodes, &model, shares, phases)?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    outln!(
        "  social      {} relations (friends, family, colleagues)",
        relations.len()
    );
    Ok(())
}

pub fn run(options: &DemoOptions, now: fn() -> Timestamp) -> Result<ExitCode> {
    if options.people < 2 {
        bail!("--people must be at least 2");
    }
    if options.processes == 0 {
        bail!("--processes must be at least 1");
    }
    if options.processes > 1 {
        return cluster::run(options, now);
    }
    if options.data.join(cluster::CLUSTER_FILE).exists() {
        bail!(
            "{} holds a cluster's demo: run it with --processes N (as many as its {} lists)",
            options.data.display(),
            cluster::CLUSTER_FILE
        );
    }
    let started = Instant::now();
    let data = options.data;
    let fresh = !data.join("model.toml").exists();
    let (node, keys) = if fresh {
        outln!(
            "Standing demo: a country of {} people in {} (seed {})",
            options.people,
            data.display(),
            options.seed
        );
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        if check_model("models/city.toml", standing_rules::SAMPLE_CITY_MODEL)
            .model
            .is_none()
        {
            bail!("the built-in sample model does not check; this is a bug");
        }
        std::fs::write(data.join("model.toml"), standing_rules::SAMPLE_CITY_MODEL)?;
        let model = check_model("models/city.toml", standing_rules::SAMPLE_CITY_MODEL)
            .model
            .context("the built-in sample model does not check; this is a bug")?;
        let keys = create_keys(data, &model, now())?;
        let mut phases = Phases::default();
        let (node, _) = Node::open(options.data, now())?;
        let mut nodes = [node];
        build(options, &mut nodes, now(), &mut phases)?;
        let [mut node] = nodes;
        let propagate = Instant::now();
        node.finish_bulk();
        let propagate = propagate.elapsed();
        let snapshot = Instant::now();
        node.snapshot()?;
        let snapshot = snapshot.elapsed();
        outln!(
            "  phases      generate {:.1} s · ingest (durable) {:.1} s · propagate {:.1} s · snapshot {:.1} s",
            phases.generate.as_secs_f64(),
            phases.ingest.as_secs_f64(),
            propagate.as_secs_f64(),
            snapshot.as_secs_f64()
        );
        (node, keys)
    } else {
        let keys = read_keys(data)?;
        outln!("Standing demo: reopening {}", data.display());
        let (node, report) = Node::open(data, now())?;
        outln!(
            "  reopened    {} events, {} subjects (snapshot {}, {} records replayed)",
            node.log_records(),
            node.engine().subject_count(),
            report
                .snapshot
                .map_or("none".to_owned(), |s| format!("at record {s}")),
            report.replayed
        );
        (node, keys)
    };
    let stats = node.engine().stats();
    outln!(
        "  ready       {} subjects, {} events in the log",
        stats.subjects,
        node.log_records()
    );
    if options.exit_when_ready {
        outln!("  ready in {:.1} s", started.elapsed().as_secs_f64());
        return Ok(ExitCode::SUCCESS);
    }
    let model = node.model().clone();
    let country = Arc::new(Country::new(&model, options.people, options.seed, now())?);
    let rate = options.rate;
    let printed = keys.clone();
    standing_server::serve_node(
        node,
        &options.serve,
        |address| {
            outln!(
                "  serving     in {:.1} s from the start\n",
                started.elapsed().as_secs_f64()
            );
            print_welcome(address, &printed, rate);
        },
        move |state: Arc<AppState>| {
            let router = standing_server::router(Arc::clone(&state));
            tokio::spawn(simulate(router, model, country, keys, rate, now));
        },
    )?;
    outln!(
        "stopped; snapshot stored. Run `standing demo -d {}` again to resume.",
        data.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_welcome(address: std::net::SocketAddr, keys: &DemoKeys, rate: u64) {
    let base = format!("http://{address}");
    outln!("Dashboard:  {base}/?key={}", keys.operator);
    if let Some(subject) = &keys.subject {
        outln!("Portal:     {base}/portal   ({PORTAL_SUBJECT}'s own key: {subject})");
    }
    outln!("API:        {base}/openapi.json   metrics: {base}/metrics\n");
    outln!("Keys (demo only; kept in demo-keys.json):");
    outln!("  operator                 {}", keys.operator);
    let example = keys.sources.iter().next();
    if let Some((source, secret)) = example {
        outln!(
            "  source {source:<17} {secret}   (one key per source, {} in all: each sends for its own source only)",
            keys.sources.len()
        );
    }
    outln!("  rail.highspeed.booking   {}", keys.rail);
    outln!("  lending.consumer         {}", keys.lender);
    outln!("  dating.profile           {}\n", keys.dating);
    outln!("Try:");
    outln!(
        "  curl -s -H 'Authorization: Bearer {}' '{base}/v1/subjects/p-42/score?purpose=lending.consumer'",
        keys.lender
    );
    outln!(
        "  curl -s -H 'Authorization: Bearer {}' -d '{{\"purpose\":\"rail.highspeed.booking\",\"subject\":\"p-42\"}}' -H 'Content-Type: application/json' {base}/v1/decisions",
        keys.rail
    );
    outln!(
        "  curl -s -H 'Authorization: Bearer {}' '{base}/v1/subjects/p-42/explanation'",
        keys.operator
    );
    outln!(
        "  curl -sN -H 'Authorization: Bearer {}' '{base}/v1/changes?purpose=rail.highspeed.booking'",
        keys.rail
    );
    outln!(
        "\nSources send {rate} events/s; rail, lending and dating consumers ask as they go. Ctrl-C stops."
    );
}

/// One request through the router, as a client would send it.
async fn send(
    router: &axum::Router,
    method: &str,
    uri: &str,
    key: &str,
    kind: &str,
    body: String,
) -> Option<Value> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", kind)
        .body(Body::from(body))
        .ok()?;
    let response = router.clone().oneshot(request).await.ok()?;
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The country going on: sources send `rate` events a second; a rail operator checks
/// bookings, a lender decides applications (each also a credit enquiry), a dating app ranks
/// candidates. All through the public API, so all of it is counted and audited.
async fn simulate(
    router: axum::Router,
    model: Arc<standing_rules::Model>,
    country: Arc<Country>,
    keys: DemoKeys,
    rate: u64,
    now: fn() -> Timestamp,
) {
    let mut random = SplitMix::new(country.seed ^ now().0 as u64);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut serial = 0u64;
    let per_tick = rate.div_ceil(10);
    loop {
        ticker.tick().await;
        let at = now();
        // Each source sends its own events with its own key.
        let mut bodies: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        for _ in 0..per_tick {
            serial += 1;
            let event = country.live_event(&mut random, at, serial);
            let body = bodies.entry(event.source.to_string()).or_default();
            body.extend_from_slice(&standing_ingest::to_wire(&model, &event, false));
            body.push(b'\n');
        }
        for (source, body) in bodies {
            let Some(key) = keys.sources.get(&source) else {
                continue;
            };
            let body = String::from_utf8_lossy(&body).into_owned();
            send(
                &router,
                "POST",
                "/v1/events",
                key,
                "application/x-ndjson",
                body,
            )
            .await;
        }
        let person = |random: &mut SplitMix| format!("p-{}", random.below(country.people));
        for _ in 0..3 {
            let body = json!({"purpose": "rail.highspeed.booking", "subject": person(&mut random)})
                .to_string();
            send(
                &router,
                "POST",
                "/v1/decisions",
                &keys.rail,
                "application/json",
                body,
            )
            .await;
        }
        if random.below(2) == 0 {
            let subject = person(&mut random);
            let body = json!({"purpose": "lending.consumer", "subject": subject}).to_string();
            send(
                &router,
                "POST",
                "/v1/decisions",
                &keys.lender,
                "application/json",
                body,
            )
            .await;
        }
        // People enrol in the dating app (its purpose rests on consent); a few object to
        // lending (legitimate interest).
        for _ in 0..20 {
            let uri = format!(
                "/v1/subjects/{}/consent/dating.profile",
                person(&mut random)
            );
            let body = json!({"choice": "opted_in"}).to_string();
            send(
                &router,
                "PUT",
                &uri,
                &keys.operator,
                "application/json",
                body,
            )
            .await;
        }
        if random.below(50) == 0 {
            let uri = format!(
                "/v1/subjects/{}/consent/lending.consumer",
                person(&mut random)
            );
            let body = json!({"choice": "opted_out"}).to_string();
            send(
                &router,
                "PUT",
                &uri,
                &keys.operator,
                "application/json",
                body,
            )
            .await;
        }
        // A reviewer at the lender's operator upholds or overturns refused applications.
        if random.below(20) == 0
            && let Some(pending) = send(
                &router,
                "GET",
                "/v1/reviews",
                &keys.operator,
                "application/json",
                String::new(),
            )
            .await
        {
            for review in pending["pending"].as_array().into_iter().flatten().take(5) {
                let Some(id) = review["decision_id"].as_str() else {
                    continue;
                };
                let (verdict, note) = if random.below(4) == 0 {
                    ("allow", "income and repayment plan verified by a person")
                } else {
                    ("deny", "refusal confirmed by a person")
                };
                let body = json!({"verdict": verdict, "note": note}).to_string();
                send(
                    &router,
                    "POST",
                    &format!("/v1/reviews/{id}"),
                    &keys.operator,
                    "application/json",
                    body,
                )
                .await;
            }
        }
        if random.below(4) == 0 {
            let subjects: Vec<String> = (0..8).map(|_| person(&mut random)).collect();
            let body = json!({"purpose": "dating.profile", "subjects": subjects}).to_string();
            send(
                &router,
                "POST",
                "/v1/rank",
                &keys.dating,
                "application/json",
                body,
            )
            .await;
        }
    }
}

/// Writes `count` synthetic city events as NDJSON, in occurred-time order.
pub fn generate(
    people: u64,
    count: usize,
    seed: u64,
    now: Timestamp,
    output: Option<&std::path::Path>,
) -> Result<ExitCode> {
    use std::io::Write;
    let Some(model) = check_model("models/city.toml", standing_rules::SAMPLE_CITY_MODEL).model
    else {
        bail!("the built-in sample model does not check; this is a bug");
    };
    let writer: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, writer);
    let batch = 1_000_000;
    let mut written = 0;
    let mut round = 0;
    while written < count {
        let size = batch.min(count - written);
        let events = city_events(&model, people, size, now, seed.wrapping_add(round));
        for (offset, event) in events.iter().enumerate() {
            let mut event = event.clone();
            event.id = format!("e-{}", written + offset).into();
            writer.write_all(&standing_ingest::to_wire(&model, &event, false))?;
            writer.write_all(b"\n")?;
        }
        written += size;
        round += 1;
    }
    writer.flush()?;
    Ok(ExitCode::SUCCESS)
}
