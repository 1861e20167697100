//! The record size limit counts the record, not its line ending.

use standing_core::Timestamp;
use standing_ingest::{MAX_RECORD_BYTES, RecordError, RecordedAt, read_ndjson};
use standing_rules::{SAMPLE_CITY_MODEL, check_model};

/// A valid record of exactly `size` bytes (padded inside a string field).
fn record_of(size: usize, id: &str) -> String {
    let head = format!(
        r#"{{"id":"{id}","source":"s","subject":"p-1","type":"payment.on_time","occurred_at":"2026-01-01T00:00:00Z","fields":{{"amount":1,"creditor":""#
    );
    let tail = r#""}}"#;
    let padding = size - head.len() - tail.len();
    format!("{head}{}{tail}", "c".repeat(padding))
}

#[test]
fn a_record_at_the_limit_passes_with_either_line_ending_and_one_byte_more_does_not() {
    let model = check_model("city.toml", SAMPLE_CITY_MODEL).model.unwrap();
    let at = RecordedAt::Stamp(Timestamp::parse("2026-02-01").unwrap());
    let text = format!(
        "{}\r\n{}\n{}\r\n{}",
        record_of(MAX_RECORD_BYTES, "a"),
        record_of(MAX_RECORD_BYTES, "b"),
        record_of(MAX_RECORD_BYTES + 1, "c"),
        record_of(MAX_RECORD_BYTES, "d"),
    );
    let batch = read_ndjson(&model, "limits.ndjson", text.as_bytes(), at).unwrap();
    let ids: Vec<&str> = batch.events.iter().map(|e| &*e.id).collect();
    assert_eq!(ids, ["a", "b", "d"]);
    assert_eq!(batch.rejected.len(), 1);
    assert_eq!(batch.rejected[0].line, 3);
    assert!(matches!(
        batch.rejected[0].error,
        RecordError::Oversize(size) if size > MAX_RECORD_BYTES
    ));
}
