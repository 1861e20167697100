//! The log against a model of what it must keep: under random appends, commits, crashes that
//! tear the unsynced tail at any byte, and reopenings, every committed record survives exactly
//! once and in order, and what survives is a prefix of what was appended.

use proptest::prelude::*;
use standing_devkit::TempDir;
use standing_store::{Backend, FileBackend, Log, LogOptions, MemBackend, StoreError};

#[derive(Clone, Debug)]
enum Step {
    Append(Vec<u8>),
    Commit,
    /// A crash keeping this many unsynced bytes, as written or as zeros.
    Crash(usize, bool),
    /// The disk fails from the next sync on; the log is then reopened after a crash keeping
    /// this many unsynced bytes, as written or as zeros.
    FailingDisk(usize, bool),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Step::Append),
            2 => Just(Step::Commit),
            1 => (0usize..2000, any::<bool>()).prop_map(|(keep, zeroed)| Step::Crash(keep, zeroed)),
            1 => (0usize..2000, any::<bool>()).prop_map(|(keep, zeroed)| Step::FailingDisk(keep, zeroed)),
        ],
        1..120,
    )
}

fn contents(log: &Log<MemBackend>) -> Vec<(u64, Vec<u8>)> {
    let mut records = Vec::new();
    log.scan::<StoreError>(0, |record| {
        records.push((record.seq, record.body.to_vec()));
        Ok(())
    })
    .unwrap();
    records
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn committed_records_survive_any_crash_exactly_once(steps in steps(), segment_bytes in 200u64..4000) {
        let options = LogOptions { segment_bytes, keep_snapshots: 2 };
        let (mut log, _) = Log::open(MemBackend::new(), options).unwrap();
        // Every record appended, by sequence number, and how many of them are committed.
        let mut appended: Vec<Vec<u8>> = Vec::new();
        let mut committed = 0usize;
        for step in steps {
            match step {
                Step::Append(body) => {
                    let seq = log.append(7, b"", &body).unwrap();
                    prop_assert_eq!(seq as usize, appended.len());
                    appended.push(body);
                }
                Step::Commit => {
                    log.commit().unwrap();
                    committed = appended.len();
                }
                Step::FailingDisk(keep, zeroed) => {
                    let mut backend = log.backend().clone();
                    backend.fail_sync_after(0);
                    let (mut failing, _) = Log::open(backend, options).unwrap();
                    let next = failing.next_seq();
                    failing.append(7, b"", b"never acknowledged").unwrap();
                    prop_assert!(failing.commit().is_err());
                    prop_assert_eq!(failing.next_seq(), next);
                    prop_assert!(failing.append(7, b"", b"refused").is_err(), "a failed log goes on");
                    prop_assert!(failing.commit().is_err(), "a failed log goes on");
                    // Reopened after the failure, it holds what was durable before it.
                    let mut backend = failing.backend().clone();
                    backend.fail_sync_after(usize::MAX);
                    if zeroed {
                        backend.crash_zeroed(keep);
                    } else {
                        backend.crash(keep);
                    }
                    let (reopened, _) = Log::open(backend, options).unwrap();
                    log = reopened;
                    let survived = contents(&log);
                    prop_assert!(survived.len() >= committed, "lost committed records");
                    prop_assert!(survived.len() <= appended.len(), "an unacknowledged record stayed");
                    appended.truncate(survived.len());
                    committed = appended.len();
                    prop_assert_eq!(log.next_seq() as usize, appended.len());
                }
                Step::Crash(keep, zeroed) => {
                    let mut backend = log.backend().clone();
                    if zeroed {
                        backend.crash_zeroed(keep);
                    } else {
                        backend.crash(keep);
                    }
                    let (reopened, _) = Log::open(backend, options).unwrap();
                    log = reopened;
                    let survived = contents(&log);
                    prop_assert!(survived.len() >= committed, "lost committed records");
                    for (index, (seq, body)) in survived.iter().enumerate() {
                        prop_assert_eq!(*seq as usize, index);
                        prop_assert_eq!(body, &appended[index]);
                    }
                    appended.truncate(survived.len());
                    committed = appended.len();
                    prop_assert_eq!(log.next_seq() as usize, appended.len());
                }
            }
        }
        log.commit().unwrap();
        let all = contents(&log);
        prop_assert_eq!(all.len(), appended.len());
    }
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_found_by_a_scan_not_repaired() {
    let options = LogOptions {
        segment_bytes: 100,
        keep_snapshots: 2,
    };
    let (mut log, _) = Log::open(MemBackend::new(), options).unwrap();
    for index in 0..10u8 {
        log.append(0, b"", &[index; 40]).unwrap();
        log.commit().unwrap();
    }
    let mut backend = log.backend().clone();
    let first = *backend.segments().unwrap().first().unwrap();
    backend.corrupt(first, 30);
    // Opening checks only the last segment; scanning, as replay does, finds the damage.
    let (log, _) = Log::open(backend, options).unwrap();
    match log.scan::<StoreError>(0, |_| Ok(())) {
        Err(StoreError::Corrupt { segment, .. }) => assert_eq!(segment, first),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    log.append(0, b"", b"durable").unwrap();
    log.commit().unwrap();
    log.append(0, b"", b"never acknowledged").unwrap();
    // Write the pending group without syncing it, then crash keeping half of it.
    let mut backend = log.backend().clone();
    backend
        .append(0, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
        .unwrap();
    backend.crash(5);
    let (log, recovery) = Log::open(backend, LogOptions::default()).unwrap();
    assert_eq!(recovery.records, 1);
    assert_eq!(recovery.torn_bytes, 5);
    assert_eq!(log.next_seq(), 1);
}

#[test]
fn compaction_removes_refused_records_from_sealed_segments_and_keeps_sequence_numbers() {
    let options = LogOptions {
        segment_bytes: 120,
        keep_snapshots: 2,
    };
    let (mut log, _) = Log::open(MemBackend::new(), options).unwrap();
    for index in 0..12u8 {
        log.append(index as i64, b"", &[index; 30]).unwrap();
        log.commit().unwrap();
    }
    let report = log.compact(|record| record.recorded_at % 2 == 0).unwrap();
    assert!(report.records_removed >= 4, "{report:?}");
    let mut kept = Vec::new();
    log.scan::<StoreError>(0, |record| {
        kept.push(record.seq);
        Ok(())
    })
    .unwrap();
    assert!(kept.windows(2).all(|w| w[0] < w[1]));
    assert!(
        kept.iter().all(|seq| seq % 2 == 0 || *seq >= 10),
        "{kept:?}"
    );
    // Reopening after compaction finds the same records and continues the numbering.
    let (reopened, _) = Log::open(log.backend().clone(), options).unwrap();
    assert_eq!(reopened.next_seq(), 12);
}

#[test]
fn snapshots_round_trip_keep_the_newest_and_skip_damaged_ones() {
    let directory = TempDir::new("store-snap");
    let (mut log, _) = Log::open(
        FileBackend::open(&directory).unwrap(),
        LogOptions::default(),
    )
    .unwrap();
    for index in 0..5u8 {
        log.append(0, b"", &[index]).unwrap();
    }
    log.commit().unwrap();
    for covers in 3..=5u64 {
        log.put_snapshot(covers, |out| {
            out.write_all(format!("state at {covers}").as_bytes())
        })
        .unwrap();
    }
    assert_eq!(
        std::fs::read_dir(directory.join("snapshots"))
            .unwrap()
            .count(),
        2
    );
    let read = |log: &Log<FileBackend>| {
        log.latest_snapshot(|_, state| Some(state.as_slice().to_vec()))
            .unwrap()
    };
    assert_eq!(read(&log), Some((5, b"state at 5".to_vec())));
    // Damage the newest: the one before is used.
    let newest = directory.join("snapshots").join(format!("{:020}.snap", 5));
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    assert_eq!(read(&log), Some((4, b"state at 4".to_vec())));
    // A decoder that refuses a snapshot makes the older one be tried.
    let refused = log
        .latest_snapshot(|covers, state| {
            assert_eq!(state.as_slice(), format!("state at {covers}").as_bytes());
            (covers < 5).then_some(covers)
        })
        .unwrap();
    assert_eq!(refused, Some((4, 4)));
    // Damage the older one's trailer too: nothing is restored.
    let older = directory.join("snapshots").join(format!("{:020}.snap", 4));
    let mut bytes = std::fs::read(&older).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&older, bytes).unwrap();
    assert_eq!(log.latest_snapshot(|covers, _| Some(covers)).unwrap(), None);
}

#[test]
fn records_are_read_back_by_sequence_number_from_sealed_and_active_segments() {
    let options = LogOptions {
        segment_bytes: 2_000,
        keep_snapshots: 2,
    };
    let (mut log, _) = Log::open(MemBackend::new(), options).unwrap();
    let origin = |index: u64| format!("key-{:08x}", index % 3).into_bytes();
    for index in 0..500u32 {
        let body = format!("record {index}");
        log.append(index as i64, &origin(index.into()), body.as_bytes())
            .unwrap();
        if index % 7 == 0 {
            log.commit().unwrap();
        }
    }
    log.commit().unwrap();
    assert!(log.backend().segments().unwrap().len() > 5);
    for seq in [0u64, 1, 63, 64, 65, 200, 498, 499] {
        let record = log.read(seq).unwrap().unwrap();
        assert_eq!(record.recorded_at, seq as i64);
        assert_eq!(record.origin, origin(seq));
        assert_eq!(record.body, format!("record {seq}").as_bytes());
    }
    assert_eq!(log.read(500).unwrap(), None);
    let mut scanned = 0;
    log.scan::<StoreError>(0, |record| {
        assert_eq!(record.origin, origin(record.seq));
        scanned += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(scanned, 500);
}

#[test]
fn an_origin_longer_than_its_limit_is_refused_and_nothing_is_appended() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    let long = vec![b'k'; standing_store::MAX_ORIGIN_BYTES + 1];
    assert!(matches!(
        log.append(0, &long, b"body"),
        Err(StoreError::OriginTooLong(256))
    ));
    assert_eq!(log.next_seq(), 0);
    let longest = vec![b'k'; standing_store::MAX_ORIGIN_BYTES];
    log.append(0, &longest, b"body").unwrap();
    log.commit().unwrap();
    assert_eq!(log.read(0).unwrap().unwrap().origin, longest);
}

/// A segment of version 1 (frames without an origin), as logs written before origins were.
fn version_1_segment(first_seq: u64, bodies: &[&[u8]]) -> Vec<u8> {
    let mut bytes = b"STNDLOG1".to_vec();
    bytes.extend_from_slice(&first_seq.to_le_bytes());
    for (offset, body) in bodies.iter().enumerate() {
        let mut payload = (first_seq + offset as u64).to_le_bytes().to_vec();
        payload.extend_from_slice(&(100 + offset as i64).to_le_bytes());
        payload.extend_from_slice(body);
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
    }
    bytes
}

#[test]
fn a_log_of_version_1_is_read_with_empty_origins_and_goes_on_in_a_segment_of_version_2() {
    let mut backend = MemBackend::new();
    backend.create_segment(0).unwrap();
    backend
        .append(0, &version_1_segment(0, &[b"first", b"second"]))
        .unwrap();
    backend.sync(0).unwrap();
    let (mut log, recovery) = Log::open(backend, LogOptions::default()).unwrap();
    assert_eq!((recovery.records, recovery.torn_bytes), (2, 0));
    let old = log.read(1).unwrap().unwrap();
    assert_eq!(
        (old.recorded_at, old.origin, old.body),
        (101, vec![], b"second".to_vec())
    );
    log.append(200, b"key-0000000a", b"third").unwrap();
    log.commit().unwrap();
    // The old segment is sealed as it was; the new record went to a new segment.
    assert_eq!(log.backend().segments().unwrap(), vec![0, 2]);
    let (log, _) = Log::open(log.backend().clone(), LogOptions::default()).unwrap();
    let mut seen = Vec::new();
    log.scan::<StoreError>(0, |record| {
        seen.push((record.seq, record.origin.to_vec(), record.body.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (0, vec![], b"first".to_vec()),
            (1, vec![], b"second".to_vec()),
            (2, b"key-0000000a".to_vec(), b"third".to_vec()),
        ]
    );
}

#[test]
fn a_snapshot_covering_records_cut_from_the_tail_is_removed_on_open() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    for index in 0..3u8 {
        log.append(0, b"", &[index]).unwrap();
    }
    log.commit().unwrap();
    log.put_snapshot(3, |out| out.write_all(b"old")).unwrap();
    // The last record's bytes are damaged: opening cuts it, and with it the snapshot's claim.
    let mut backend = log.backend().clone();
    let length = backend.read_segment(0).unwrap().len();
    backend.corrupt(0, length - 1);
    let (mut log, recovery) = Log::open(backend, LogOptions::default()).unwrap();
    assert_eq!(log.next_seq(), 2);
    assert_eq!(recovery.stale_snapshots, 1);
    // Refilled past the old claim, the log restores no snapshot of other records.
    for index in 10..12u8 {
        log.append(0, b"", &[index]).unwrap();
    }
    log.commit().unwrap();
    let restored = log.latest_snapshot(|covers, _| Some(covers)).unwrap();
    assert_eq!(restored, None);
}

#[test]
fn the_largest_record_with_the_longest_origin_survives_a_reopen() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    let origin = vec![b'k'; standing_store::MAX_ORIGIN_BYTES];
    let body = vec![b'x'; standing_store::MAX_RECORD_BYTES];
    log.append(1, &origin, &body).unwrap();
    log.append(2, b"key-1", b"after").unwrap();
    log.commit().unwrap();
    let (log, recovery) = Log::open(log.backend().clone(), LogOptions::default()).unwrap();
    assert_eq!((recovery.records, recovery.torn_bytes), (2, 0));
    let read = log.read(0).unwrap().unwrap();
    assert_eq!(
        (read.origin.len(), read.body.len()),
        (origin.len(), body.len())
    );
    assert_eq!(log.read(1).unwrap().unwrap().body, b"after");
}

#[test]
fn a_sealed_segment_of_version_1_is_compacted_into_version_2_and_reads_the_same() {
    let mut backend = MemBackend::new();
    backend.create_segment(0).unwrap();
    backend
        .append(0, &version_1_segment(0, &[b"first", b"second", b"third"]))
        .unwrap();
    backend.sync(0).unwrap();
    let (mut log, _) = Log::open(backend, LogOptions::default()).unwrap();
    log.append(300, b"key-0000000b", b"fourth").unwrap();
    log.commit().unwrap();
    // Read once before compaction, so the sealed segment's read index is built and must be
    // dropped with the old bytes.
    assert_eq!(log.read(2).unwrap().unwrap().body, b"third");
    let report = log.compact(|record| record.seq != 1).unwrap();
    assert_eq!((report.segments_rewritten, report.records_removed), (1, 1));
    let rewritten = log.backend().read_segment(0).unwrap();
    assert_eq!(&rewritten[..8], b"STNDLOG2");
    let (log, recovery) = Log::open(log.backend().clone(), LogOptions::default()).unwrap();
    assert_eq!(recovery.torn_bytes, 0);
    let mut seen = Vec::new();
    log.scan::<StoreError>(0, |record| {
        seen.push((
            record.seq,
            record.recorded_at,
            record.origin.to_vec(),
            record.body.to_vec(),
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (0, 100, vec![], b"first".to_vec()),
            (2, 102, vec![], b"third".to_vec()),
            (3, 300, b"key-0000000b".to_vec(), b"fourth".to_vec()),
        ]
    );
    assert_eq!(log.read(2).unwrap().unwrap().body, b"third");
    assert_eq!(log.read(1).unwrap(), None);
}
