//! `standing demo`: a synthetic city scored end to end, with the time each phase takes.

use crate::output;
use anyhow::{Result, bail};
use standing_core::Timestamp;
use standing_engine::Engine;
use standing_engine::synthetic::{city_events, city_relations};
use standing_rules::check_model;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

pub fn run(people: u64, events_per_person: u64, seed: u64, now: Timestamp) -> Result<ExitCode> {
    if people == 0 {
        bail!("--people must be at least 1");
    }
    let Some(model) = check_model("models/city.toml", standing_rules::SAMPLE_CITY_MODEL).model
    else {
        bail!("the built-in sample model does not check; this is a bug");
    };
    let model = Arc::new(model);
    let count = (people * events_per_person) as usize;
    outln!(
        "Standing demo: a city of {people} people under model {}",
        model.version_label()
    );

    let started = Instant::now();
    let mut events = city_events(&model, people, count, now, seed);
    let relations = city_relations(&model, people, 8.0, now, seed);
    let relation_count = relations.len();
    events.extend(relations);
    events.sort_by_key(|event| event.occurred_at);
    outln!(
        "  generated {count} behaviour events from 6 sources and {relation_count} relations in {:.2} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut engine = Engine::new(model.clone(), now);
    let mut rule_errors = 0;
    for chunk in events.chunks(250_000) {
        rule_errors += engine.apply(chunk).rule_errors;
    }
    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "  scored {} events for {} people in {:.2} s ({:.0} events/s, {rule_errors} rule errors)",
        engine.event_count(),
        engine.subject_count(),
        seconds,
        engine.event_count() as f64 / seconds
    );
    drop(events);
    let stats = engine.stats();
    if stats.network_bytes > 0 {
        let mut moved: Vec<f64> = (0..people)
            .filter_map(|index| engine.score(&format!("p-{index}")))
            .map(|score| score.network)
            .collect();
        moved.sort_by(|a, b| a.total_cmp(b));
        let mean = moved.iter().map(|m| m.abs()).sum::<f64>() / moved.len().max(1) as f64;
        outln!(
            "  contacts' scores (α = {}): moved scores by {mean:.1} points on average, from {:+.1} to {:+.1}",
            model.network.alpha,
            moved.first().copied().unwrap_or(0.0),
            moved.last().copied().unwrap_or(0.0),
        );
    }

    let ranking = engine.rank(engine.subject_count(), true);
    let mut by_grade = vec![0usize; model.scale.grades.len()];
    for ranked in &ranking {
        if let Some(index) = model
            .scale
            .grades
            .iter()
            .position(|g| *g.name == *ranked.grade)
        {
            by_grade[index] += 1;
        }
    }
    outln!("\nGrades:");
    let widest = by_grade.iter().copied().max().unwrap_or(1).max(1);
    for (grade, count) in model.scale.grades.iter().zip(&by_grade) {
        let bar = "#".repeat((count * 50).div_ceil(widest));
        outln!("  {:<4} {:>9}  {bar}", grade.name, count);
    }
    outln!("\nHighest:");
    out!("{}", output::ranking_text(&ranking[..3.min(ranking.len())]));
    outln!("Lowest:");
    out!("{}", output::ranking_text(&engine.rank(3, false)));

    let lowest = &ranking[ranking.len() - 1].subject;
    outln!("\nWhy {lowest} is lowest:\n");
    let explanation = engine.explain(lowest, now, None, &standing_engine::NoEventFields);
    for (rank, factor) in explanation.key_factors.iter().enumerate() {
        let counted = if &*factor.code == "NETWORK" {
            "contact"
        } else {
            "event"
        };
        outln!(
            "  {}. {:<26} {:>+8.1}  ({} {counted}{})",
            rank + 1,
            factor.code,
            factor.points,
            factor.events,
            if factor.events == 1 { "" } else { "s" }
        );
    }
    if let Some(network) = &explanation.network {
        outln!(
            "\n  Contacts moved {lowest}'s score by {:+.1} points ({} contacts); the largest shares:",
            network.points,
            network.contact_count
        );
        for contact in network.contacts.iter().take(3) {
            outln!(
                "    {:>+7.2}  {} ({}), score {:.1}",
                contact.share,
                contact.subject,
                contact.kind,
                contact.score
            );
        }
    }
    for purpose in &model.purposes {
        if let Some(decision) = engine.decide(&purpose.name, lowest) {
            out!("\n{}", output::decision_text(&decision));
        }
    }
    outln!("\nExplore one person: standing init city && standing explain p-2 -d city");
    Ok(ExitCode::SUCCESS)
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
