//! A node crashed at every step of poisoning, purge and activation, in memory ([`MemHome`]), as
//! the log's own tests crash the log: what was acknowledged survives, a batch that failed to
//! become durable poisons the node until it is reopened, a purge is either abandoned or
//! finished, never half done, and a model is either active — on disk and in the engine — or
//! not.

use proptest::prelude::*;
use standing_core::{Event, Timestamp};
use standing_devkit::synthetic::city_events;
use standing_engine::Engine;
use standing_node::{Fault, MemHome, Node, NodeError};
use standing_rules::{Model, SAMPLE_CITY_MODEL};
use std::sync::Arc;

fn clock() -> Timestamp {
    Timestamp::parse("2026-11-25").unwrap()
}

/// `count` events of the city about 12 people over the two years before the clock.
fn events(model: &Model, count: usize, seed: u64) -> Vec<Event> {
    city_events(model, 12, count, clock(), seed)
}

fn wire(model: &Model, events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .map(|event| standing_ingest::to_wire(model, event, true))
        .collect()
}

fn ingest(node: &mut Node<MemHome>, events: &[Event]) -> Result<(), NodeError> {
    let bodies = wire(node.model(), events);
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    node.ingest(events, &slices, standing_node::LOCAL_ORIGIN)
        .map(|_| ())
}

/// The log's record bodies, in order.
fn records(node: &Node<MemHome>) -> Vec<Vec<u8>> {
    (0..node.log_records())
        .map(|seq| node.record(seq).unwrap().expect("a record").body)
        .collect()
}

/// An engine fed `events` directly, with no log, at the clock.
fn reference(model: &Arc<Model>, events: &[Event]) -> Engine {
    let mut engine = Engine::new(model.clone(), clock());
    engine.apply(events);
    engine.advance_clock(clock());
    engine
}

fn reopen(home: &MemHome, keep: usize) -> Node<MemHome> {
    home.crash(keep);
    Node::open_home(home.clone(), clock()).unwrap().0
}

#[derive(Clone, Debug)]
enum Step {
    /// Ingest this many new events.
    Ingest(usize),
    /// The disk fails after this many more syncs.
    FailingDisk(usize),
    Snapshot,
    /// The process dies, the disk keeping this many unsynced bytes; the node is reopened.
    Crash(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            6 => (1usize..30).prop_map(Step::Ingest),
            1 => (0usize..3).prop_map(Step::FailingDisk),
            1 => Just(Step::Snapshot),
            2 => (0usize..3000).prop_map(Step::Crash),
        ],
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Acknowledged events survive every crash; a batch whose sync failed poisons the node
    /// (intake and snapshots refused, reads served) until it is reopened, and then holds what
    /// the disk kept of it, whole records in order; the engine reopened equals one fed those
    /// records directly.
    #[test]
    fn a_node_keeps_what_it_acknowledged_through_failing_disks_and_crashes(steps in steps(), seed in 0u64..1000) {
        let home = MemHome::new(SAMPLE_CITY_MODEL);
        let (mut node, _) = Node::open_home(home.clone(), clock()).unwrap();
        let model = node.model().clone();
        let all = events(&model, 25 * 30, seed);
        // Events sent, in order, and how many of them were acknowledged.
        let (mut sent, mut acknowledged, mut poisoned) = (0usize, 0usize, false);
        for step in steps {
            match step {
                Step::Ingest(count) => {
                    let batch = &all[sent..(sent + count).min(all.len())];
                    let result = ingest(&mut node, batch);
                    if poisoned {
                        prop_assert!(matches!(result, Err(NodeError::Poisoned(_))), "a poisoned node took a batch");
                        continue;
                    }
                    sent += batch.len();
                    match result {
                        Ok(()) => acknowledged = sent,
                        Err(NodeError::Poisoned(_)) => poisoned = true,
                        Err(other) => prop_assert!(false, "ingest failed otherwise: {other}"),
                    }
                    if poisoned {
                        // The engine holds the batch the log may have lost; reads go on.
                        prop_assert_eq!(node.engine().event_count(), sent);
                        let subject = &batch[0].subject;
                        prop_assert_eq!(&*node.explain(subject, clock(), None).score.subject, &**subject);
                        prop_assert!(matches!(node.snapshot(), Err(NodeError::Poisoned(_))), "a poisoned engine was snapshotted");
                    }
                }
                Step::FailingDisk(count) => home.fail_log_syncs_after(count),
                Step::Snapshot => {
                    let result = node.snapshot();
                    if poisoned {
                        prop_assert!(matches!(result, Err(NodeError::Poisoned(_))));
                    }
                }
                Step::Crash(keep) => {
                    drop(node);
                    node = reopen(&home, keep);
                    let survived = records(&node);
                    prop_assert!(survived.len() >= acknowledged, "lost {} acknowledged events", acknowledged - survived.len());
                    prop_assert!(survived.len() <= sent, "a record never sent");
                    prop_assert_eq!(&survived, &wire(&model, &all[..survived.len()]), "the survivors are not the first events sent");
                    let expected = reference(&model, &all[..survived.len()]);
                    prop_assert_eq!(node.engine().first_difference(&expected), None);
                    sent = survived.len();
                    acknowledged = sent;
                    poisoned = false;
                }
            }
        }
    }
}

/// A city's two years, some of it past its retention at the clock.
fn populated(home: &MemHome) -> (Node<MemHome>, Vec<Event>) {
    let (mut node, _) = Node::open_home(home.clone(), clock()).unwrap();
    let all = events(&node.model().clone(), 400, 7);
    ingest(&mut node, &all).unwrap();
    node.snapshot().unwrap();
    (node, all)
}

/// A purge failing at each of its steps, then a crash: before the staged log is marked complete
/// the purge is abandoned (the whole log stands), after it the purge is finished on the next
/// open; either way a purge after the reopening ends where an uninterrupted one does.
#[test]
fn a_purge_is_abandoned_or_finished_whichever_step_a_crash_cuts() {
    let clean = MemHome::new(SAMPLE_CITY_MODEL);
    let (mut node, _) = populated(&clean);
    let before = records(&node);
    let purge = node.purge(clock()).unwrap();
    assert!(
        !purge.removed.is_empty() && purge.kept > 0,
        "the city's history has something past retention and something not: {purge:?}"
    );
    let after = records(&node);
    let purged = reference(
        node.model(),
        &after
            .iter()
            .enumerate()
            .map(|(seq, body)| {
                standing_ingest::parse_record(
                    node.model(),
                    body,
                    standing_ingest::RecordedAt::Stamp(
                        node.record(seq as u64).unwrap().unwrap().recorded_at,
                    ),
                )
                .unwrap()
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(node.engine().first_difference(&purged), None);
    drop(node);

    // (fault, whether the purge is finished by the reopening, whether the failure poisons)
    let cases = [
        (None, true, false),
        (Some(Fault::StagingSync), false, false),
        (Some(Fault::CommitStaging), false, true),
        (Some(Fault::RecoverPurge), true, true),
    ];
    for (fault, finished, poisons) in cases {
        let home = MemHome::new(SAMPLE_CITY_MODEL);
        let (mut node, _) = populated(&home);
        if let Some(fault) = fault {
            home.fail(fault);
            assert!(
                node.purge(clock()).is_err(),
                "{fault:?}: the purge went through"
            );
            let refused = matches!(node.snapshot(), Err(NodeError::Poisoned(_)));
            assert_eq!(refused, poisons, "{fault:?}: poisoned");
            if !poisons {
                assert_eq!(records(&node), before, "{fault:?}: the log changed");
            }
        } else {
            node.purge(clock()).unwrap();
        }
        drop(node);
        let mut node = reopen(&home, 0);
        assert!(!home.has_staging(), "{fault:?}: a staged log was left");
        let expected = if finished { &after } else { &before };
        assert_eq!(&records(&node), expected, "{fault:?}: after the reopening");
        if finished {
            assert_eq!(node.engine().first_difference(&purged), None, "{fault:?}");
        }
        node.purge(clock()).unwrap();
        assert_eq!(records(&node), after, "{fault:?}: purged again");
        assert_eq!(node.engine().first_difference(&purged), None, "{fault:?}");
    }
}

/// The city model with on-time payments worth 3 points instead of 1.
fn generous() -> String {
    let changed = SAMPLE_CITY_MODEL.replacen("points = 1\n", "points = 3\n", 1);
    assert_ne!(changed, SAMPLE_CITY_MODEL);
    changed
}

/// An engine under `text` fed `events` directly.
fn reference_under(text: &str, events: &[Event]) -> Engine {
    let model = standing_rules::check_model("generous", text).model.unwrap();
    reference(&Arc::new(model), events)
}

/// Activating a model: when its text cannot be written nothing changes, in memory or after a
/// crash; once written, the node serves it — records accepted while the candidate was built
/// included — and a crash before or after the snapshot under it reopens to the same engine.
#[test]
fn a_model_is_active_on_disk_and_in_the_engine_or_not_at_all() {
    let text = generous();
    for fault in [Some(Fault::WriteModel), None] {
        let home = MemHome::new(SAMPLE_CITY_MODEL);
        let (mut node, all) = populated(&home);
        let candidate = node.candidate("generous", &text, clock()).unwrap();
        // Accepted after the candidate was built: activation brings it along.
        let late = events(&node.model().clone(), 20, 8)
            .into_iter()
            .map(|mut event| {
                event.id = format!("late-{}", event.id).into();
                event
            })
            .collect::<Vec<_>>();
        ingest(&mut node, &late).unwrap();
        let every: Vec<Event> = all.iter().chain(&late).cloned().collect();
        let (old, new) = (
            reference(node.model(), &every),
            reference_under(&text, &every),
        );
        assert!(
            old.first_difference(&new).is_some(),
            "the models score alike"
        );
        match fault {
            Some(fault) => {
                home.fail(fault);
                assert!(node.activate(candidate).is_err());
                assert_eq!(
                    node.engine().first_difference(&old),
                    None,
                    "the engine changed"
                );
                assert_eq!(home.model(), SAMPLE_CITY_MODEL);
                node.snapshot().expect("not poisoned");
                drop(node);
                let node = reopen(&home, 0);
                assert_eq!(node.engine().first_difference(&old), None, "reopened");
            }
            None => {
                node.activate(candidate).unwrap();
                assert_eq!(home.model(), text);
                assert_eq!(node.engine().first_difference(&new), None, "activated");
                drop(node);
                let (node, report) = Node::open_home(home.clone(), clock()).unwrap();
                assert_eq!(
                    report.snapshot,
                    Some(every.len() as u64),
                    "the snapshot under it"
                );
                assert_eq!(node.engine().first_difference(&new), None, "reopened");
            }
        }
    }
    // The snapshot under the new model fails to store: the model is active all the same, and
    // the reopening rebuilds the engine under it.
    let home = MemHome::new(SAMPLE_CITY_MODEL);
    let (mut node, all) = populated(&home);
    let new = reference_under(&text, &all);
    let candidate = node.candidate("generous", &text, clock()).unwrap();
    home.fail_log_syncs_after(0);
    assert!(node.activate(candidate).is_err(), "the snapshot was stored");
    assert_eq!(home.model(), text);
    assert_eq!(node.engine().first_difference(&new), None, "activated");
    drop(node);
    let node = reopen(&home, 0);
    assert_eq!(node.engine().first_difference(&new), None, "reopened");
}
