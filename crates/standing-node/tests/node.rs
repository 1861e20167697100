//! A data directory opened through the node: one process at a time.

use standing_core::Timestamp;
use standing_devkit::TempDir;
use standing_node::{Node, NodeError};

#[test]
fn a_data_directory_is_opened_by_one_owner_at_a_time() {
    let dir = TempDir::with_city_model("node-lock");
    let clock = Timestamp::parse("2026-11-25").unwrap();

    let (first, _) = Node::open(&dir, clock).expect("the first opener owns the directory");
    match Node::open(&dir, clock) {
        Err(error @ NodeError::Busy(_)) => {
            assert!(
                error
                    .to_string()
                    .contains("in use by another standing process")
            )
        }
        Err(other) => panic!("expected Busy, got {other}"),
        Ok(_) => panic!("a second owner was let in"),
    }
    drop(first);
    assert!(
        Node::open(&dir, clock).is_ok(),
        "the lock goes with its owner"
    );
}

/// A purge interrupted by a crash: before its log was complete it is abandoned (the old log
/// stands); once complete (the marker written) it is finished on the next open.
#[test]
fn a_purge_cut_short_is_abandoned_before_its_marker_and_finished_after() {
    let dir = TempDir::with_city_model("node-purge");
    let clock = Timestamp::parse("2026-11-25").unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    let model = node.model().clone();
    // Traffic tickets are kept 1 year.
    let (events, bodies) = tickets(&model, 0, &["2025-06-01", "2026-10-01"]);
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    node.ingest(&events, &slices, standing_node::LOCAL_ORIGIN)
        .unwrap();
    drop(node);

    // A staging left without its marker: abandoned, nothing lost.
    std::fs::create_dir_all(dir.join("purge.staging/log")).unwrap();
    std::fs::write(
        dir.join("purge.staging/log/00000000000000000000.seg"),
        b"half",
    )
    .unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    assert!(!dir.join("purge.staging").exists());
    assert_eq!(node.log_records(), 2);

    // The purge itself: the 2025 ticket has passed its year.
    let purge = node.purge(clock).unwrap();
    assert_eq!(purge.removed.get("civic.traffic_ticket"), Some(&1));
    assert_eq!((node.log_records(), node.engine().event_count()), (1, 1));
    drop(node);
    let (node, report) = Node::open(&dir, clock).unwrap();
    assert_eq!(node.log_records(), 1);
    assert_eq!(
        report.replayed, 0,
        "the purge left a snapshot of the new log"
    );
    let replayed = node.replay_log_only(clock).unwrap();
    assert_eq!(node.engine().first_difference(&replayed), None);
}

/// Traffic tickets for `p-1` on `days`, as events and their wire bodies.
fn tickets(
    model: &standing_rules::Model,
    first: usize,
    days: &[&str],
) -> (Vec<standing_core::Event>, Vec<Vec<u8>>) {
    use standing_core::{Event, EventBody, FieldValue};
    let ticket = model.event_type_id("civic.traffic_ticket").unwrap();
    let events: Vec<Event> = days
        .iter()
        .enumerate()
        .map(|(index, day)| Event {
            source: "police".into(),
            id: format!("t{}", first + index).into(),
            subject: "p-1".into(),
            occurred_at: Timestamp::parse(day).unwrap(),
            recorded_at: Timestamp::parse(day).unwrap(),
            body: EventBody::Fact {
                event_type: ticket,
                fields: vec![FieldValue::Dec(60.0), FieldValue::Enum(0)].into(),
            },
        })
        .collect();
    let bodies = events
        .iter()
        .map(|e| standing_ingest::to_wire(model, e, true))
        .collect();
    (events, bodies)
}

/// The snapshot files, each with its inode (a rewrite makes a new one).
fn snapshot_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().ino())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_restore_reads_the_snapshot_in_place_and_an_unchanged_state_is_not_snapshotted_again() {
    let dir = TempDir::with_city_model("node-snap");
    let clock = Timestamp::parse("2026-11-25").unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    let model = node.model().clone();
    let (events, bodies) = tickets(&model, 0, &["2026-06-01", "2026-10-01"]);
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    node.ingest(&events, &slices, standing_node::LOCAL_ORIGIN)
        .unwrap();
    node.snapshot().unwrap();
    let first = snapshot_files(&dir);
    assert_eq!(first.len(), 1);
    node.snapshot().unwrap();
    assert_eq!(
        snapshot_files(&dir),
        first,
        "nothing new: not written again"
    );
    let before = node.engine().all_scores();
    drop(node);

    let (mut node, report) = Node::open(&dir, clock).unwrap();
    assert_eq!((report.snapshot, report.replayed), (Some(2), 0));
    assert!(node.engine().stats().mapped_bytes > 0, "read in place");
    assert_eq!(node.engine().all_scores(), before);
    node.snapshot().unwrap();
    assert_eq!(snapshot_files(&dir), first);
    // A restored subject changed by a new event: its entries move to the heap, the rest stay.
    let (events, bodies) = tickets(&model, 2, &["2026-11-01"]);
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    node.ingest(&events, &slices, standing_node::LOCAL_ORIGIN)
        .unwrap();
    assert_ne!(node.engine().all_scores(), before);
    node.snapshot().unwrap();
    let second = snapshot_files(&dir);
    assert_eq!(second.len(), 2);
    assert_ne!(second[1], first[0]);
    let replayed = node.replay_log_only(clock).unwrap();
    assert_eq!(node.engine().first_difference(&replayed), None);
    drop(node);
    let (node, report) = Node::open(&dir, clock).unwrap();
    assert_eq!((report.snapshot, report.replayed), (Some(3), 0));
    assert_eq!(node.engine().first_difference(&replayed), None);
}

/// Every accepted record keeps, in the log, who sent it; an id sent again with other content is
/// a conflict (the first kept), with the same content a duplicate; the log's latest recorded
/// time is known again after a reopen.
#[test]
fn records_keep_their_origin_and_a_reused_id_with_other_content_is_a_conflict() {
    let dir = TempDir::with_city_model("node-origin");
    let clock = Timestamp::parse("2026-11-25").unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    assert_eq!(node.last_recorded_at(), Timestamp::MIN);
    let model = node.model().clone();
    let parse = |line: &str| {
        standing_ingest::parse_record(
            &model,
            line.as_bytes(),
            standing_ingest::RecordedAt::Stamp(clock),
        )
        .unwrap()
    };
    let first = r#"{"id":"t-1","source":"police","subject":"p-1","type":"civic.traffic_ticket","occurred_at":"2026-10-01T00:00:00Z","fields":{"offence":"parking","fine":50.0}}"#;
    let same = first;
    let other = first.replace(r#""fine":50.0"#, r#""fine":500.0"#);
    let report = node
        .ingest(&[parse(first)], &[first.as_bytes()], "key-0000000a")
        .unwrap();
    assert_eq!(
        report.outcomes,
        vec![standing_engine::ApplyOutcome::Accepted]
    );
    let again = [parse(same), parse(&other)];
    let report = node
        .ingest(&again, &[same.as_bytes(), other.as_bytes()], "key-0000000b")
        .unwrap();
    assert_eq!(
        report.outcomes,
        vec![
            standing_engine::ApplyOutcome::Duplicate,
            standing_engine::ApplyOutcome::Conflict
        ]
    );
    drop(node);
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    assert_eq!(node.last_recorded_at(), clock);
    let record = node.find_event("police", "t-1").unwrap().unwrap();
    assert_eq!(record.origin, "key-0000000a");
    assert_eq!(record.body, first.as_bytes(), "the first is kept");
    assert_eq!(node.log_records(), 1);
    assert!(node.find_event("police", "t-2").unwrap().is_none());
}

/// A batch sent again with some records changed: each changed one is a conflict, the others
/// duplicates, whatever their order in the batch; nothing of it reaches the log.
#[test]
fn a_batch_sent_again_tells_each_changed_record_from_the_unchanged_ones() {
    let dir = TempDir::with_city_model("node-resend");
    let clock = Timestamp::parse("2026-11-25").unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    let model = node.model().clone();
    let line = |index: usize, fine: f64| {
        format!(
            r#"{{"id":"t-{index}","source":"police","subject":"p-{}","type":"civic.traffic_ticket","occurred_at":"2026-10-01T00:00:00Z","fields":{{"offence":"parking","fine":{fine:.1}}}}}"#,
            index % 7
        )
    };
    let parse = |text: &str| {
        standing_ingest::parse_record(
            &model,
            text.as_bytes(),
            standing_ingest::RecordedAt::Stamp(clock),
        )
        .unwrap()
    };
    let first: Vec<String> = (0..40).map(|i| line(i, 10.0)).collect();
    let events: Vec<_> = first.iter().map(|t| parse(t)).collect();
    let bodies: Vec<&[u8]> = first.iter().map(|t| t.as_bytes()).collect();
    node.ingest(&events, &bodies, "key-0000000a").unwrap();
    // Sent again in reverse order, every fifth one changed.
    let again: Vec<String> = (0..40)
        .rev()
        .map(|i| line(i, if i.is_multiple_of(5) { 99.0 } else { 10.0 }))
        .collect();
    let events: Vec<_> = again.iter().map(|t| parse(t)).collect();
    let bodies: Vec<&[u8]> = again.iter().map(|t| t.as_bytes()).collect();
    let report = node.ingest(&events, &bodies, "key-0000000b").unwrap();
    for (event, outcome) in events.iter().zip(&report.outcomes) {
        let index: usize = event.id.trim_start_matches("t-").parse().unwrap();
        let expected = if index.is_multiple_of(5) {
            standing_engine::ApplyOutcome::Conflict
        } else {
            standing_engine::ApplyOutcome::Duplicate
        };
        assert_eq!(outcome, &expected, "{}", event.id);
    }
    assert_eq!(node.log_records(), 40);
}

/// A stream's position is written in the same commit as the events it carried, survives a
/// reopen with or without a snapshot and a purge, and only ever moves forward.
#[test]
fn stream_positions_are_kept_with_the_events_they_carried() {
    use standing_core::Event;
    let dir = TempDir::with_city_model("node-positions");
    let clock = Timestamp::parse("2026-11-25").unwrap();
    let (mut node, _) = Node::open(&dir, clock).unwrap();
    let model = node.model().clone();
    let (events, bodies) = tickets(&model, 0, &["2026-10-01", "2026-10-02"]);
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let at = Timestamp::parse("2026-10-03").unwrap();
    let checkpoints = [
        Event::checkpoint("police", 0, 2, at),
        Event::checkpoint("police", 1, 7, at),
    ];
    let report = node
        .ingest_from(&events, &slices, "stream:police", &checkpoints)
        .unwrap();
    assert_eq!(
        report.outcomes.len(),
        2,
        "the report covers the events only"
    );
    assert_eq!(node.log_records(), 4, "two events and two checkpoints");
    assert_eq!(node.engine().event_count(), 4, "event n is record n");
    // The same checkpoint again, and one behind: neither written.
    let behind = [
        Event::checkpoint("police", 0, 2, at),
        Event::checkpoint("police", 1, 5, at),
    ];
    node.ingest_from(&[], &[], "stream:police", &behind)
        .unwrap();
    assert_eq!(node.log_records(), 4);
    // Records that were all refused still move the position.
    node.ingest_from(
        &[],
        &[],
        "stream:police",
        &[Event::checkpoint("police", 0, 9, at)],
    )
    .unwrap();
    assert_eq!(node.engine().stream_position("police", 0), Some(9));
    drop(node);

    // Replayed from the log alone.
    let (node, report) = Node::open(&dir, clock).unwrap();
    assert_eq!(report.snapshot, None);
    let positions: Vec<(String, u32, u64)> = node
        .engine()
        .stream_positions()
        .map(|(s, p, n)| (s.to_owned(), p, n))
        .collect();
    assert_eq!(
        positions,
        [("police".to_owned(), 0, 9), ("police".to_owned(), 1, 7)]
    );
    let mut node = node;
    node.snapshot().unwrap();
    drop(node);
    // Restored from the snapshot.
    let (mut node, report) = Node::open(&dir, clock).unwrap();
    assert_eq!(report.snapshot, Some(5));
    assert!(node.find_event("police", "t1").unwrap().is_some());
    assert_eq!(node.engine().stream_position("police", 1), Some(7));
    assert_eq!(node.engine().stream_position("court", 0), None);
    // A purge keeps checkpoints.
    node.purge(Timestamp::parse("2028-01-01").unwrap()).unwrap();
    assert_eq!(node.engine().stream_position("police", 0), Some(9));
    assert_eq!(node.log_records(), 3, "the tickets are past their year");
}
