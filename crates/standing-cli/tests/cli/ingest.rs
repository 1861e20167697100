//! Intake through the binary: the bad-input corpus (each bad record located, nothing of a bad
//! input applied), CSV and stdin, idempotency, and kill -9 at random moments.

use super::{data_dir, path, standing, stdout};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number of records the data directory's log holds, as the ingest summary says.
fn log_records(summary: &str) -> u64 {
    summary
        .rsplit("the log holds ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {summary:?}"))
}

/// The events `standing init` ingests: the sample events shipped with the city model.
fn sample_events() -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/city-sample-events.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count() as u64
}

fn ingest(dir: &Path, file: &Path) -> (Option<i32>, String, String) {
    let output = standing(&["ingest", file.to_str().unwrap(), "-d", path(dir), "-q"]);
    (
        output.status.code(),
        stdout(&output),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_bad_input_is_reported_by_line_and_nothing_of_it_is_applied() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let dir = data_dir("corpus");
    // Generated cases: invalid UTF-8, and a 10 MB field.
    let generated = dir.join("generated");
    std::fs::create_dir_all(&generated).unwrap();
    let mut utf8 = br#"{"id":"g1","source":"payments","subject":"p-1","type":"payment.on_time","occurred_at":"2026-01-01T00:00:00Z","fields":{"amount":1,"creditor":"c"}}"#.to_vec();
    utf8.extend_from_slice(b"\n{\"id\":\"g2\",\"source\":\"s\",\"subject\":\"p-\xff\xfe\",\"type\":\"payment.on_time\",\"occurred_at\":\"2026-01-01T00:00:00Z\",\"fields\":{\"amount\":1,\"creditor\":\"c\"}}\n");
    std::fs::write(generated.join("invalid_utf8.ndjson"), utf8).unwrap();
    let huge = format!(
        "{}\n{{\"id\":\"h2\",\"source\":\"s\",\"subject\":\"p-1\",\"type\":\"payment.on_time\",\"occurred_at\":\"2026-01-01T00:00:00Z\",\"fields\":{{\"amount\":1,\"creditor\":\"{}\"}}}}\n",
        r#"{"id":"h1","source":"payments","subject":"p-1","type":"payment.on_time","occurred_at":"2026-01-01T00:00:00Z","fields":{"amount":1,"creditor":"c"}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    std::fs::write(generated.join("ten_mb_field.ndjson"), huge).unwrap();
    files.push(generated.join("invalid_utf8.ndjson"));
    files.push(generated.join("ten_mb_field.ndjson"));

    let before = standing(&[
        "score",
        "p-1",
        "--at",
        "2026-11-25",
        "-d",
        path(&dir),
        "--json",
    ]);
    let mut report = String::new();
    for file in &files {
        let (code, out, errors) = ingest(&dir, file);
        let name = file.file_name().unwrap().to_string_lossy();
        assert_eq!(code, Some(1), "{name} must fail: {errors}");
        assert_eq!(
            log_records(&out),
            sample_events(),
            "{name}: nothing may be applied"
        );
        let shown = errors
            .replace(&format!("{}/", corpus.display()), "")
            .replace(&format!("{}/", generated.display()), "");
        report.push_str(&format!("== {name}\n{shown}"));
    }
    insta::assert_snapshot!("bad_input_corpus", report);
    let after = standing(&[
        "score",
        "p-1",
        "--at",
        "2026-11-25",
        "-d",
        path(&dir),
        "--json",
    ]);
    assert_eq!(before.stdout, after.stdout);
}

#[test]
fn duplicates_are_reported_not_applied_twice_and_csv_and_stdin_are_read() {
    let dir = data_dir("dupes");
    let file = dir.join("twice.ndjson");
    let record = r#"{"id":"t1","source":"payments","subject":"p-1","type":"payment.late","occurred_at":"2026-01-01T00:00:00Z","fields":{"amount":1,"creditor":"c","days_late":40}}"#;
    std::fs::write(&file, format!("{record}\n{record}\n")).unwrap();
    let (code, out, errors) = ingest(&dir, &file);
    assert_eq!(code, Some(0), "{errors}");
    assert!(
        out.starts_with("accepted 1, duplicate 1, rejected 0"),
        "{out}"
    );
    assert_eq!(log_records(&out), sample_events() + 1);
    let (_, out, _) = ingest(&dir, &file);
    assert!(out.starts_with("accepted 0, duplicate 2"), "{out}");
    assert_eq!(log_records(&out), sample_events() + 1);

    let csv = dir.join("rows.csv");
    std::fs::write(&csv, "id,source,subject,type,occurred_at,amount,creditor,days_late,hours,organisation\nr1,payments,p-8,payment.late,2026-01-01T00:00:00Z,12.5,c,40,,\nr2,civic,p-8,civic.volunteering,2026-02-01T00:00:00Z,,,,100,food-bank\n").unwrap();
    let (code, out, errors) = ingest(&dir, &csv);
    assert_eq!(code, Some(0), "{errors}");
    assert!(out.starts_with("accepted 2,"), "{out}");
    let explained = standing(&[
        "explain",
        "p-8",
        "--at",
        "2026-03-01",
        "-d",
        path(&dir),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    let codes: Vec<&str> = value["key_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["PAY_LATE", "VOLUNTEERING"]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_standing"))
        .args(["ingest", "-", "-d", path(&dir), "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(record.replace("t1", "t2").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(stdout(&output).starts_with("accepted 1,"));
}

#[test]
fn a_refusal_decided_by_the_state_is_located_and_the_rest_of_the_input_applied() {
    let dir = data_dir("state-refusals");
    let file = dir.join("retractions.ndjson");
    let late = r#"{"id":"l1","source":"payments","subject":"p-1","type":"payment.late","occurred_at":"2026-01-01T00:00:00Z","fields":{"amount":1,"creditor":"c","days_late":40}}"#;
    let orphan = r#"{"id":"x1","source":"payments","subject":"p-1","type":"retraction","occurred_at":"2026-01-02T00:00:00Z","fields":{"event":"never-sent","reason":"test"}}"#;
    let foreign = r#"{"id":"x2","source":"payments","subject":"p-2","type":"retraction","occurred_at":"2026-01-02T00:00:00Z","fields":{"event":"l1","reason":"test"}}"#;
    std::fs::write(&file, format!("{late}\n{orphan}\n{foreign}\n")).unwrap();
    let (code, out, errors) = ingest(&dir, &file);
    assert_eq!(code, Some(1), "{out}{errors}");
    assert!(
        out.starts_with("accepted 1, duplicate 0, rejected 2"),
        "{out}"
    );
    let located: Vec<&str> = errors.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(
        located,
        [
            "retractions.ndjson:2: event payments/x1 refused: the retracted event was never received from this source",
            "retractions.ndjson:3: event payments/x2 refused: the retracted event belongs to another subject",
        ]
        .map(|line| format!("{}/{line}", dir.display())),
        "{errors}"
    );
}

/// Writes `count` events for 500 subjects; ids `k-0` … in line order.
fn write_events(file: &Path, count: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).unwrap());
    for index in 0..count {
        let day = 1 + index % 28;
        writeln!(
            out,
            r#"{{"id":"k-{index}","source":"bank","subject":"p-{}","type":"payment.late","occurred_at":"2026-01-{day:02}T00:00:00Z","fields":{{"amount":{},"creditor":"c","days_late":{}}}}}"#,
            index % 500,
            index % 1000,
            1 + index % 90
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// The ids in the data directory's log, with how often each appears.
fn logged_ids(dir: &Path) -> HashMap<String, u32> {
    let (log, _) = standing_store::Log::open(
        standing_store::FileBackend::open(dir).unwrap(),
        standing_store::LogOptions::default(),
    )
    .unwrap();
    let mut ids = HashMap::new();
    log.scan::<standing_store::StoreError>(0, |record| {
        let value: serde_json::Value = serde_json::from_slice(record.body).unwrap();
        *ids.entry(value["id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
        Ok(())
    })
    .unwrap();
    ids
}

#[test]
fn kill_nine_at_random_moments_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let dir = data_dir("crash");
    let file = dir.join("stream.ndjson");
    let count = 200_000;
    write_events(&file, count);
    // A fixed seed: the kill moments are random but the same on every run.
    let mut seed = 0x5eed_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut full_runs = 0;
    for round in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_standing"))
            .args([
                "ingest",
                file.to_str().unwrap(),
                "-d",
                path(&dir),
                "-q",
                "--acks",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acks = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = 0usize;
            for line in BufReader::new(acks).lines().map_while(Result::ok) {
                if let Some(number) = line.rsplit(' ').next().and_then(|n| n.parse().ok()) {
                    last = number;
                }
            }
            last
        });
        let wait = Duration::from_millis(50 + next() % 1500);
        let started = Instant::now();
        while started.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let acknowledged = reader.join().unwrap();
        if finished {
            full_runs += 1;
        }
        // Every acknowledged line is in the log exactly once; nothing is there twice.
        let ids = logged_ids(&dir);
        assert!(
            ids.values().all(|n| *n == 1),
            "round {round}: an event was logged twice"
        );
        for line in 1..=acknowledged {
            assert!(
                ids.contains_key(&format!("k-{}", line - 1)),
                "round {round}: acknowledged line {line} lost"
            );
        }
        // The state recovered on open equals a rebuild from the log alone.
        let replay = standing(&["replay", "-d", path(&dir)]);
        assert!(
            replay.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&replay.stderr)
        );
    }
    assert!(
        full_runs < 20,
        "no run was interrupted; the kill moments are too late"
    );
    // A last, uninterrupted run completes the stream: every event exactly once.
    let (code, _, errors) = ingest(&dir, &file);
    assert_eq!(code, Some(0), "{errors}");
    let ids = logged_ids(&dir);
    assert_eq!(ids.len() as u64, count as u64 + sample_events());
    assert!(ids.values().all(|n| *n == 1));
}
