//! The `standing` binary as a user runs it: init, check, score, explain, decide, top and bottom,
//! with text and JSON output kept in snapshots; intake, its bad-input corpus and crash safety in
//! `ingest.rs`.

mod ingest;

use standing_devkit::TempDir;
use std::path::Path;
use std::process::{Command, Output};

fn standing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_standing"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn data_dir(name: &str) -> TempDir {
    let dir = TempDir::new(&format!("cli-{name}"));
    let output = standing(&["init", dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn explain_shows_key_factors_contributions_and_lists() {
    let dir = data_dir("explain");
    let output = standing(&["explain", "p-2", "--at", "2026-11-25", "-d", path(&dir)]);
    assert!(output.status.success());
    insta::assert_snapshot!("explain_p2_text", stdout(&output));
    let output = standing(&[
        "explain",
        "p-3",
        "--at",
        "2026-11-25",
        "-d",
        path(&dir),
        "--json",
    ]);
    assert!(output.status.success());
    insta::assert_snapshot!("explain_p3_json", stdout(&output));
}

#[test]
fn score_as_known_at_leaves_out_what_was_recorded_later() {
    // A data directory with a model and an empty log: history is imported before it is added to.
    let dir = TempDir::with_city_model("cli-known");
    // A late payment recorded on 2026-10-01 for an event that occurred on 2026-09-01.
    let file = dir.join("late.ndjson");
    std::fs::write(
        &file,
        r#"{"id":"pay-9","source":"payments","subject":"p-9","type":"payment.late","occurred_at":"2026-09-01T00:00:00Z","recorded_at":"2026-10-01T00:00:00Z","fields":{"amount":10,"creditor":"x","days_late":40}}"#,
    )
    .unwrap();
    // `recorded_at` is the server's unless an operator imports history.
    let refused = standing(&["ingest", file.to_str().unwrap(), "-d", path(&dir)]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("late.ndjson:1: `recorded_at` is the server's"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let output = standing(&[
        "ingest",
        "--history",
        file.to_str().unwrap(),
        "-d",
        path(&dir),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Once the log holds 2026-10-01, nothing may be recorded before it: the past stays as it
    // was known.
    let earlier = dir.join("earlier.ndjson");
    std::fs::write(
        &earlier,
        r#"{"id":"pay-8","source":"payments","subject":"p-9","type":"payment.late","occurred_at":"2026-08-01T00:00:00Z","recorded_at":"2026-09-10T00:00:00Z","fields":{"amount":10,"creditor":"x","days_late":40}}"#,
    )
    .unwrap();
    let rewrite = standing(&[
        "ingest",
        "--history",
        earlier.to_str().unwrap(),
        "-d",
        path(&dir),
    ]);
    assert!(!rewrite.status.success());
    assert!(
        String::from_utf8_lossy(&rewrite.stderr).contains("lies before 2026-10-01T00:00:00Z"),
        "{}",
        String::from_utf8_lossy(&rewrite.stderr)
    );
    let score = |extra: &[&str]| {
        let mut args = vec![
            "score",
            "p-9",
            "--at",
            "2026-09-15",
            "-d",
            path(&dir),
            "--json",
        ];
        args.extend_from_slice(extra);
        let output = standing(&args);
        assert!(output.status.success());
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["score"].as_f64().unwrap()
    };
    assert!(score(&[]) < 1000.0);
    assert_eq!(score(&["--as-known-at", "2026-09-20"]), 1000.0);
}

#[test]
fn decide_top_and_bottom() {
    let dir = data_dir("decide");
    let output = standing(&[
        "decide",
        "rail.highspeed.booking",
        "p-2",
        "--at",
        "2026-11-25",
        "-d",
        path(&dir),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["verdict"], "deny");
    assert_eq!(value["reasons"][0]["code"], "LISTED_DEFAULTER");
    assert_eq!(value["model_version"], "city-points@2026.1");
    let output = standing(&["decide", "no.such.purpose", "p-2", "-d", path(&dir)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("purposes: rail.highspeed.booking"));

    let output = standing(&["top", "2", "--at", "2026-11-25", "-d", path(&dir)]);
    insta::assert_snapshot!("top_2", stdout(&output));
    let output = standing(&[
        "bottom",
        "1",
        "--at",
        "2026-11-25",
        "-d",
        path(&dir),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value[0]["subject"], "p-2");
}

#[test]
fn check_reports_every_problem_and_fails() {
    let dir = TempDir::new("cli-check");
    let model = dir.join("model.toml");
    std::fs::write(
        &model,
        standing_rules::SAMPLE_CITY_MODEL
            .replace("days_late > 0", "days_late > 0.5")
            .replace("category = \"civic\"", "category = \"political\""),
    )
    .unwrap();
    let output = standing(&["check", model.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("cannot compare an int with a double"),
        "{text}"
    );
    assert!(text.matches("political opinions").count() >= 3, "{text}");
    let output = standing(&["check", "../../models/city.toml"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("model city-points@2026.1 is valid"));
}

#[test]
fn the_demo_builds_a_country_once_and_reopens_it() {
    // The demo makes its directory itself.
    let root = TempDir::new("cli-demo");
    let dir = root.join("demo");
    let args = [
        "demo",
        "-d",
        path(&dir),
        "--people",
        "3000",
        "--exit-when-ready",
    ];
    let output = standing(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let first = stdout(&output);
    for phase in [
        "generate",
        "ingest (durable)",
        "propagate",
        "snapshot",
        "ready in",
    ] {
        assert!(first.contains(phase), "no `{phase}` in:\n{first}");
    }
    assert!(first.contains("about 3000 people"), "{first}");
    // Every event generated went to the durable log, and the log replays to the same state.
    let replay = standing(&["replay", "-d", path(&dir)]);
    assert!(
        replay.status.success(),
        "{}{}",
        stdout(&replay),
        String::from_utf8_lossy(&replay.stderr)
    );
    let events = |text: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.contains("events in the log"))
            .unwrap();
        line.split_whitespace()
            .rev()
            .nth(4)
            .unwrap()
            .parse()
            .unwrap()
    };
    // Run again: the same directory reopened from its snapshot, nothing generated twice.
    let output = standing(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let second = stdout(&output);
    assert!(
        second.contains("reopening") && second.contains("0 records replayed"),
        "{second}"
    );
    assert_eq!(events(&first), events(&second));
    // A directory the demo did not make is left alone.
    let other = data_dir("demo-foreign");
    let output = standing(&["demo", "-d", path(&other), "--exit-when-ready"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not made by `standing demo`"));
}
