//! Engine benchmarks: rule evaluation, apply, score lookup latency and memory per subject.
//!
//! `cargo bench -p standing-engine --bench engine` prints the figures recorded in
//! BENCHMARKS.md. `STANDING_BENCH_SUBJECTS` (default 10,000,000) sets the population of the
//! memory run; `STANDING_BENCH_EVENTS` (default 2,000,000) the events of the throughput runs.

use standing_core::{EventBody, Timestamp};
use standing_devkit::synthetic::{SplitMix, city_events};
use standing_engine::Engine;
use standing_rules::{SAMPLE_CITY_MODEL, check_model};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // STANDING_BENCH_NETWORK=0: the sample model with its network off (alpha 0).
    let text = if env_usize("STANDING_BENCH_NETWORK", 1) == 0 {
        SAMPLE_CITY_MODEL.replace("alpha = 0.15", "alpha = 0.0")
    } else {
        SAMPLE_CITY_MODEL.to_owned()
    };
    let model = Arc::new(
        check_model("city.toml", &text)
            .model
            .expect("the sample model checks"),
    );
    println!(
        "# network {}",
        if model.network.is_active() {
            "on"
        } else {
            "off"
        }
    );
    let end = Timestamp::parse("2026-11-25T00:00:00Z").unwrap();
    let event_count = env_usize("STANDING_BENCH_EVENTS", 2_000_000);
    let subjects = (event_count / 20).max(1) as u64;
    println!("# standing-engine bench: city model, {event_count} events over {subjects} subjects");

    let events = city_events(&model, subjects, event_count, end, 42);

    // 1. Rule evaluation alone: every rule of each event's type, condition and points.
    let started = Instant::now();
    let mut total = 0.0;
    for event in &events {
        let EventBody::Fact { event_type, fields } = &event.body else {
            continue;
        };
        for &rule_id in &model.rules_by_type[event_type.0 as usize] {
            let rule = &model.rules[rule_id as usize];
            if rule
                .when
                .as_ref()
                .is_none_or(|w| w.eval(fields).unwrap_or(false))
            {
                total += rule.points.eval(fields).unwrap_or(0.0);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    black_box(total);
    println!(
        "rule evaluation (compiled), 1 thread: {:.2} M events/s ({:.0} ns/event)",
        event_count as f64 / seconds / 1e6,
        seconds * 1e9 / event_count as f64
    );

    // The same rules under the cel interpreter, on a sample, for the ratio.
    interpreter_ratio(&model, &events[..events.len().min(200_000)]);

    // 2. Full apply: intern subjects and event ids, evaluate, record entries, rescore.
    let mut engine = Engine::new(model.clone(), end);
    let started = Instant::now();
    for chunk in events.chunks(100_000) {
        black_box(engine.apply(chunk));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "apply (intern + evaluate + record + rescore touched), 1 thread: {:.2} M events/s",
        event_count as f64 / seconds / 1e6
    );

    // 3. Full rescore at a new clock, all cores.
    let started = Instant::now();
    engine.advance_clock(Timestamp(end.0 + 86_400));
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "advance_clock (rescore {} subjects, {} threads): {:.1} ms, {:.0} ns/subject",
        engine.subject_count(),
        rayon::current_num_threads(),
        seconds * 1e3,
        seconds * 1e9 / engine.subject_count() as f64
    );

    // 4. Score lookup latency, in process.
    lookup_latency(&engine, subjects);
    drop(engine);
    drop(events);

    // 5. Memory at population scale: one event per subject.
    let population = env_usize("STANDING_BENCH_SUBJECTS", 10_000_000);
    let rss_before = rss_bytes();
    let mut engine = Engine::new(model.clone(), end);
    // The operator knows the population: ids `p-0` … `p-9999999` average under 9 bytes.
    engine.reserve_subjects(population, population * 9);
    let started = Instant::now();
    let mut random = SplitMix::new(9);
    let batch = 500_000;
    let mut made = 0;
    while made < population {
        let count = batch.min(population - made);
        let mut chunk = city_events(&model, 1, count, end, random.next_u64());
        for (offset, event) in chunk.iter_mut().enumerate() {
            event.subject = format!("p-{}", made + offset).into();
            event.id = format!("m-{}", made + offset).into();
        }
        engine.apply(&chunk);
        made += count;
    }
    let stats = engine.stats();
    let rss_after = rss_bytes();
    println!(
        "memory at {} subjects ({} events, built in {:.1} s): {:.1} bytes/subject for id, state and cached score; {:.1} bytes/subject of accumulators ({} entries); {:.1} bytes/subject of network state; RSS grew {:.1} bytes/subject",
        stats.subjects,
        stats.events,
        started.elapsed().as_secs_f64(),
        stats.subject_bytes as f64 / stats.subjects as f64,
        stats.accumulator_bytes as f64 / stats.subjects as f64,
        stats.entries,
        stats.network_bytes as f64 / stats.subjects as f64,
        (rss_after.saturating_sub(rss_before)) as f64 / stats.subjects as f64
    );
    lookup_latency(&engine, population as u64);
    let started = Instant::now();
    engine.advance_clock(Timestamp(end.0 + 86_400));
    println!(
        "advance_clock at {} subjects ({} threads): {:.2} s",
        engine.subject_count(),
        rayon::current_num_threads(),
        started.elapsed().as_secs_f64()
    );
}

fn lookup_latency(engine: &Engine, subjects: u64) {
    let mut random = SplitMix::new(7);
    let names: Vec<String> = (0..1_000_000)
        .map(|_| format!("p-{}", random.below(subjects)))
        .collect();
    let mut latencies = Vec::with_capacity(names.len());
    for name in &names {
        let started = Instant::now();
        black_box(engine.score_value(black_box(name)));
        latencies.push(started.elapsed().as_nanos() as u64);
    }
    latencies.sort_unstable();
    // What the two timer reads around a lookup cost on their own.
    let mut overhead: Vec<u64> = (0..1_000_000)
        .map(|_| {
            let started = Instant::now();
            black_box(());
            started.elapsed().as_nanos() as u64
        })
        .collect();
    overhead.sort_unstable();
    println!(
        "score lookup ({} subjects, 1M random lookups): p50 {} ns, p99 {} ns, p99.9 {} ns; timer reads alone: p50 {} ns, p99 {} ns",
        engine.subject_count(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&overhead, 0.5),
        percentile(&overhead, 0.99)
    );
}

fn interpreter_ratio(model: &standing_rules::Model, events: &[standing_core::Event]) {
    use standing_core::FieldValue;
    // Compile every rule's sources once, as a host of the interpreter would.
    let text = SAMPLE_CITY_MODEL;
    let value: toml::Value = match toml::from_str(text) {
        Ok(value) => value,
        Err(_) => return,
    };
    let Some(rules) = value.get("rules").and_then(|r| r.as_array()) else {
        return;
    };
    let programs: Vec<(Option<cel::Program>, cel::Program)> = rules
        .iter()
        .map(|rule| {
            let when = rule
                .get("when")
                .and_then(|w| w.as_str())
                .map(|w| cel::Program::compile(w).unwrap());
            let points = match rule.get("points") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Integer(i)) => i.to_string(),
                Some(toml::Value::Float(f)) => format!("{f:?}"),
                Some(_) => "0".into(),
                None => "0".into(),
            };
            (when, cel::Program::compile(&points).unwrap())
        })
        .collect();
    let root = cel::Context::default();
    let started = Instant::now();
    let mut evaluations = 0u64;
    for event in events {
        let EventBody::Fact { event_type, fields } = &event.body else {
            continue;
        };
        let declared = model.event_type(*event_type);
        let mut scope = root.new_inner_scope();
        for (field, value) in declared.fields.iter().zip(fields.iter()) {
            let value = match (value, &field.ty) {
                (FieldValue::Int(v), _) => cel::Value::Int(*v),
                (FieldValue::Dec(v), _) => cel::Value::Float(*v),
                (FieldValue::Bool(v), _) => cel::Value::Bool(*v),
                (FieldValue::Str(v), _) => cel::Value::String(Arc::new(v.to_string())),
                (FieldValue::Time(v), _) => cel::Value::Int(v.0),
                (FieldValue::Enum(i), standing_core::FieldType::Enum(names)) => {
                    cel::Value::String(Arc::new(names[*i as usize].to_string()))
                }
                _ => cel::Value::Null,
            };
            scope.add_variable_from_value(field.name.clone(), value);
        }
        for &rule_id in &model.rules_by_type[event_type.0 as usize] {
            let (when, points) = &programs[rule_id as usize];
            let pass = match when {
                Some(program) => {
                    evaluations += 1;
                    matches!(program.execute(&scope), Ok(cel::Value::Bool(true)))
                }
                None => true,
            };
            if pass {
                evaluations += 1;
                black_box(points.execute(&scope).ok());
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rule evaluation (cel interpreter, same rules), 1 thread: {:.3} M events/s, {:.2} µs per expression evaluation",
        events.len() as f64 / seconds / 1e6,
        seconds * 1e6 / evaluations as f64
    );
}
