//! The audit log's hash chain finds an edited, dropped, reordered or cut record.

use standing_accountability::audit::{Audit, AuditEntry, AuditError, verify};
use standing_devkit::TempDir;
use std::path::Path;

fn entry(index: usize) -> AuditEntry {
    AuditEntry {
        at: standing_core::Timestamp::parse(&format!("2026-11-25T00:00:0{index}Z")).unwrap(),
        key: "key-0001".into(),
        role: "consumer".into(),
        purpose: Some("lending.consumer".into()),
        action: "score".into(),
        subject: Some(format!("p-{index}")),
        answer: format!("score {}.00 grade B", 900 + index),
    }
}

fn written(name: &str) -> TempDir {
    let directory = TempDir::new(&format!("audit-{name}"));
    let audit = Audit::open(&directory).unwrap();
    for index in 1..=5 {
        audit.record(&entry(index)).unwrap();
    }
    audit.sync().unwrap();
    directory
}

fn lines(directory: &Path) -> Vec<String> {
    std::fs::read_to_string(directory.join("audit/audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(directory: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(directory.join("audit/audit.jsonl"), text).unwrap();
}

fn broken_at(directory: &Path) -> (u64, String) {
    match verify(directory) {
        Err(AuditError::Broken { line, reason }) => (line, reason),
        other => panic!("tampering went unnoticed: {other:?}"),
    }
}

#[test]
fn an_intact_log_verifies_and_reopening_continues_the_chain() {
    let directory = written("intact");
    assert_eq!(verify(&directory).unwrap().0, 5);
    let audit = Audit::open(&directory).unwrap();
    audit.record(&entry(6)).unwrap();
    audit.sync().unwrap();
    assert_eq!(verify(&directory).unwrap().0, 6);
}

#[test]
fn edited_dropped_reordered_and_cut_records_are_found() {
    // Edited: an answer changed in place.
    let directory = written("edit");
    let mut edited = lines(&directory);
    edited[2] = edited[2].replace("grade B", "grade A");
    rewrite(&directory, &edited);
    let (line, reason) = broken_at(&directory);
    assert_eq!(line, 3);
    assert!(reason.contains("edited"), "{reason}");

    // Dropped: the third record removed.
    let directory = written("drop");
    let mut dropped = lines(&directory);
    dropped.remove(2);
    rewrite(&directory, &dropped);
    assert_eq!(broken_at(&directory).0, 3);

    // Reordered: the third and fourth swapped.
    let directory = written("reorder");
    let mut reordered = lines(&directory);
    reordered.swap(2, 3);
    rewrite(&directory, &reordered);
    assert_eq!(broken_at(&directory).0, 3);

    // Cut: the last record removed; only the head knows it existed.
    let directory = written("cut");
    let mut cut = lines(&directory);
    cut.pop();
    rewrite(&directory, &cut);
    let (line, reason) = broken_at(&directory);
    assert_eq!(line, 5);
    assert!(reason.contains("cut"), "{reason}");
}
