//! Contacts' scores through the engine: relation events, the network part of served scores
//! and explanations, history, retractions, snapshots and determinism.

use standing_core::{Event, EventBody, FieldValue, Timestamp};
use standing_devkit::synthetic::{city_events, city_relations};
use standing_engine::{Engine, NoEventFields};
use standing_rules::{Model, SAMPLE_CITY_MODEL, check_model};
use std::sync::Arc;

const DAY: i64 = 86_400;

fn city() -> Arc<Model> {
    Arc::new(check_model("city.toml", SAMPLE_CITY_MODEL).model.unwrap())
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn relation(
    model: &Model,
    id: &str,
    subject: &str,
    other: &str,
    kind: &str,
    added: bool,
    at: &str,
) -> Event {
    let event_type = if added {
        model.network.added
    } else {
        model.network.removed
    }
    .unwrap();
    let kind = model
        .network
        .kinds
        .iter()
        .position(|k| k.name == kind)
        .unwrap() as u16;
    Event {
        source: "social".into(),
        id: id.into(),
        subject: subject.into(),
        occurred_at: t(at),
        recorded_at: t(at),
        body: EventBody::Fact {
            event_type,
            fields: vec![
                FieldValue::Str(other.into()),
                FieldValue::Enum(kind),
                FieldValue::Dec(1.0),
            ]
            .into(),
        },
    }
}

/// A court judgment (−50) for `subject`.
fn judgment(model: &Model, id: &str, subject: &str, at: &str) -> Event {
    let event_type = model.event_type_id("court.judgment").unwrap();
    let declared = model.event_type(event_type);
    let fields = declared
        .fields
        .iter()
        .map(|field| match field.name.as_str() {
            "case_id" => FieldValue::Str(id.into()),
            "kind" => FieldValue::Enum(0),
            _ => FieldValue::Dec(1000.0),
        })
        .collect();
    Event {
        source: "courts".into(),
        id: id.into(),
        subject: subject.into(),
        occurred_at: t(at),
        recorded_at: t(at),
        body: EventBody::Fact { event_type, fields },
    }
}

fn retraction(id: &str, subject: &str, target: &str, at: &str) -> Event {
    Event {
        source: "social".into(),
        id: id.into(),
        subject: subject.into(),
        occurred_at: t(at),
        recorded_at: t(at),
        body: EventBody::Retraction {
            event_id: target.into(),
            reason: "entered in error".into(),
        },
    }
}

#[test]
fn a_friend_with_a_low_score_pulls_a_score_down_until_the_relation_ends() {
    let model = city();
    let alpha = model.network.alpha;
    let epsilon = model.network.epsilon;
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    engine.apply(&[
        judgment(&model, "j1", "p-bad", "2026-01-10"),
        judgment(&model, "j2", "p-bad", "2026-02-10"),
        judgment(&model, "j3", "p-good", "2020-01-10"), // long expired: p-good is at base
    ]);
    let alone = engine.score("p-good").unwrap();
    let bad = engine.score("p-bad").unwrap().value;
    assert_eq!(alone.network, 0.0);
    assert!(bad < alone.value - 50.0, "{bad}");

    engine.apply(&[relation(
        &model,
        "r1",
        "p-good",
        "p-bad",
        "friend",
        true,
        "2026-03-01",
    )]);
    // Two mutual friends: f1 = (1−α)b1 + α f2 and f2 = (1−α)b2 + α f1.
    let (b1, b2) = (alone.behaviour, bad);
    let exact_good = ((1.0 - alpha) * b1 + alpha * (1.0 - alpha) * b2) / (1.0 - alpha * alpha);
    let exact_bad = ((1.0 - alpha) * b2 + alpha * (1.0 - alpha) * b1) / (1.0 - alpha * alpha);
    let good = engine.score("p-good").unwrap();
    assert!(
        (good.value - exact_good).abs() <= epsilon,
        "{} vs {exact_good}",
        good.value
    );
    assert!((engine.score("p-bad").unwrap().value - exact_bad).abs() <= epsilon);
    assert!(good.network < -1.0 && (good.behaviour - b1).abs() < 1e-9);

    let explained = engine.explain("p-good", engine.clock(), None, &NoEventFields);
    let network = explained.network.as_ref().unwrap();
    assert_eq!(network.contact_count, 1);
    assert_eq!(&*network.contacts[0].subject, "p-bad");
    assert_eq!(&*network.contacts[0].kind, "friend");
    assert!((network.contacts[0].share - network.points).abs() <= epsilon);
    assert!(explained.key_factors.iter().any(|f| &*f.code == "NETWORK"));

    // Ended by the other side (mutual): back to behaviour alone.
    engine.apply(&[relation(
        &model,
        "r2",
        "p-bad",
        "p-good",
        "friend",
        false,
        "2026-04-01",
    )]);
    let after = engine.score("p-good").unwrap();
    assert!((after.value - b1).abs() <= epsilon, "{}", after.value);

    // History keeps the relation: as of mid-March the friend still counted.
    let march = engine.explain("p-good", t("2026-03-15"), None, &NoEventFields);
    assert!(march.network.as_ref().unwrap().points < -1.0);
    assert_eq!(march.network.as_ref().unwrap().contact_count, 1);
}

#[test]
fn a_retracted_relation_stops_counting_and_is_gone_as_known_before_it_was_recorded() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    engine.apply(&[
        judgment(&model, "j1", "p-bad", "2026-01-10"),
        relation(
            &model,
            "r1",
            "p-good",
            "p-bad",
            "family",
            true,
            "2026-03-01",
        ),
    ]);
    let pulled = engine.score("p-good").unwrap();
    assert!(pulled.network < -1.0);
    // As known before the relation was recorded, the network had nothing to say.
    let before = engine.explain(
        "p-good",
        engine.clock(),
        Some(t("2026-02-01")),
        &NoEventFields,
    );
    assert_eq!(before.network.as_ref().unwrap().contact_count, 0);
    assert!(before.network.as_ref().unwrap().points.abs() <= 1e-9);

    engine.apply(&[retraction("x1", "p-good", "r1", "2026-05-01")]);
    let freed = engine.score("p-good").unwrap();
    assert!(freed.network.abs() <= model.network.epsilon, "{freed:?}");
    // As known before the retraction, the relation still counted.
    let known_then = engine.explain(
        "p-good",
        engine.clock(),
        Some(t("2026-04-01")),
        &NoEventFields,
    );
    assert!((known_then.score.value - pulled.value).abs() <= 2.0 * model.network.epsilon);
}

#[test]
fn a_one_way_relation_moves_only_the_side_that_depends_on_the_other() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    engine.apply(&[
        judgment(&model, "j1", "p-guarantor", "2026-01-10"),
        relation(
            &model,
            "r1",
            "p-borrower",
            "p-guarantor",
            "guarantor",
            true,
            "2026-03-01",
        ),
    ]);
    assert!(engine.score("p-borrower").unwrap().network < -1.0);
    assert_eq!(engine.score("p-guarantor").unwrap().network, 0.0);
}

/// City events for 400 subjects with their relations, merged in occurred-time order.
fn city_with_relations(model: &Model, end: Timestamp) -> Vec<Event> {
    let mut events = city_events(model, 400, 12_000, end, 3);
    events.extend(city_relations(model, 400, 6.0, end, 3));
    events.sort_by_key(|event| event.occurred_at);
    events
}

#[test]
fn live_pushes_snapshots_and_a_full_solve_agree_within_two_epsilon() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_with_relations(&model, end);
    assert!(events.len() > 12_500, "{}", events.len());
    // The same events in small batches and in one: other push orders, same fixed point.
    let mut small = Engine::new(model.clone(), end);
    for chunk in events.chunks(97) {
        small.apply(chunk);
    }
    let mut whole = Engine::new(model.clone(), end);
    whole.apply(&events);
    assert_eq!(small.first_difference(&whole), None);
    // A bulk load (the graph built once at the end, then kept live again): the same.
    let mut bulk = Engine::new(model.clone(), end);
    bulk.start_bulk();
    for chunk in events.chunks(1000) {
        bulk.apply(chunk);
    }
    bulk.finish_bulk();
    assert_eq!(small.first_difference(&bulk), None);
    let mut late = city_events(&model, 400, 50, end, 4);
    for (index, event) in late.iter_mut().enumerate() {
        event.id = format!("late-{index}").into();
    }
    let report = bulk.apply(&late);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == standing_engine::ApplyOutcome::Accepted)
    );
    small.apply(&late);
    assert_eq!(small.first_difference(&bulk), None);
    // Restored from a snapshot (network rebuilt and solved in full): the same.
    let restored = Engine::decode_snapshot(model.clone(), &small.encode_snapshot()).unwrap();
    assert_eq!(small.first_difference(&restored), None);
    // Served scores against a full solve of the same instant (the historical path).
    let mut moved = 0;
    for index in (0..400).step_by(7) {
        let subject = format!("p-{index}");
        let live = small.score(&subject).unwrap();
        let solved = small.explain(&subject, end, Some(Timestamp(end.0 + DAY)), &NoEventFields);
        assert!(
            (live.value - solved.score.value).abs() <= 2.0 * model.network.epsilon,
            "{subject}: {} vs {}",
            live.value,
            solved.score.value
        );
        moved += usize::from(live.network.abs() > 0.5);
    }
    assert!(
        moved > 20,
        "the network moved only {moved} of the sampled scores"
    );
}

#[test]
fn scores_with_contacts_are_bit_for_bit_the_same_at_any_thread_count() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_with_relations(&model, end);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut engine = Engine::new(model.clone(), Timestamp(end.0 - 400 * DAY));
            for chunk in events.chunks(1_000) {
                engine.apply(chunk);
            }
            engine.advance_clock(end);
            engine.all_scores()
        })
    };
    let single = run(1);
    assert_eq!(single, run(2));
    assert_eq!(single, run(4));
}

#[test]
fn a_relation_dated_after_the_clock_counts_once_the_clock_passes_it() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    engine.apply(&[
        judgment(&model, "j1", "p-bad", "2026-01-10"),
        relation(
            &model,
            "r1",
            "p-good",
            "p-bad",
            "friend",
            true,
            "2026-09-01",
        ),
    ]);
    assert_eq!(engine.score("p-good").unwrap().network, 0.0);
    let live = engine.explain("p-good", engine.clock(), None, &NoEventFields);
    let solved = engine.explain(
        "p-good",
        engine.clock(),
        Some(t("2027-01-01")),
        &NoEventFields,
    );
    assert_eq!(live.network.as_ref().unwrap().contact_count, 0);
    assert_eq!(solved.network.as_ref().unwrap().contact_count, 0);

    engine.advance_clock(t("2026-10-01"));
    assert!(engine.score("p-good").unwrap().network < -1.0);
    // And back: before its date the relation does not count.
    engine.advance_clock(t("2026-08-01"));
    assert!(engine.score("p-good").unwrap().network.abs() <= model.network.epsilon);
}

#[test]
fn the_models_relation_weights_are_exactly_what_the_graph_stores() {
    let range = standing_rules::RELATION_WEIGHTS;
    assert_eq!(
        standing_graph::Weight::from_f64(*range.start()),
        standing_graph::Weight::from_units(1)
    );
    assert_eq!(
        standing_graph::Weight::from_f64(*range.end()),
        Some(standing_graph::Weight::MAX)
    );
    assert_eq!(
        standing_graph::Weight::from_f64(*range.end() + 1.0 / 1024.0),
        None
    );
}

#[test]
fn the_synthetic_country_is_reproducible_and_fits_the_city_model() {
    use standing_devkit::country::Country;
    let model = city();
    let end = t("2026-11-25");
    let country = Country::new(&model, 2_000, 7, end).unwrap();
    // A person's history depends on the seed and the person only.
    let forwards: Vec<Event> = (0..2_000).flat_map(|p| country.person_events(p)).collect();
    let backwards: Vec<Event> = (0..2_000)
        .rev()
        .flat_map(|p| country.person_events(p))
        .collect();
    assert_eq!(forwards.len(), backwards.len());
    assert_eq!(country.person_events(17), country.person_events(17));
    let other_seed = Country::new(&model, 2_000, 8, end).unwrap();
    assert_ne!(country.person_events(17), other_seed.person_events(17));
    // Every event fits the model and is accepted; sources are the country's.
    let relations = country.relations(8.0);
    assert!(relations.len() > 5_000, "{}", relations.len());
    let mut events = forwards;
    events.extend(
        relations
            .iter()
            .enumerate()
            .filter_map(|(i, &r)| country.relation_event(i, r)),
    );
    let mut engine = Engine::new(model.clone(), end);
    let report = engine.apply(&events);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == standing_engine::ApplyOutcome::Accepted)
    );
    let sources: std::collections::BTreeSet<&str> = events.iter().map(|e| &*e.source).collect();
    assert_eq!(sources.len(), 9, "{sources:?}");
    // Profiles show: some people end on the defaulter list, and scores spread over grades.
    let grades: std::collections::BTreeSet<String> = (0..2_000)
        .filter_map(|p| engine.score(&format!("p-{p}")))
        .map(|s| s.grade.to_string())
        .collect();
    assert!(grades.len() >= 3, "{grades:?}");
    assert!(!engine.list_members()[0].is_empty());
    // Live events are new (unique ids) and dated now.
    let mut random = standing_devkit::synthetic::SplitMix::new(1);
    let live: Vec<Event> = (0..100)
        .map(|i| country.live_event(&mut random, end, i))
        .collect();
    assert!(live.iter().all(|e| e.occurred_at == end));
    let report = engine.apply(&live);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == standing_engine::ApplyOutcome::Accepted)
    );
}

#[test]
fn a_clock_moved_in_steps_with_events_between_them_ends_where_one_move_does() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_with_relations(&model, end);
    let mut whole = Engine::new(model.clone(), end);
    whole.apply(&events);
    let mut stepped = Engine::new(model.clone(), end);
    stepped.apply(&events);
    let later = t("2027-03-01");
    let mut extra = city_events(&model, 400, 30, later, 9);
    for (index, event) in extra.iter_mut().enumerate() {
        event.id = format!("step-{index}").into();
    }
    whole.advance_clock(later);
    whole.apply(&extra);
    let before = stepped.mutations();
    stepped.start_clock(later);
    stepped.rescore(0..150);
    // Events applied mid-move are applied at the new clock.
    stepped.apply(&extra);
    stepped.rescore(150..10_000);
    stepped.finish_clock();
    assert!(stepped.mutations() > before);
    assert_eq!(whole.first_difference(&stepped), None);
    // Decay moved scores: the move was not a no-op.
    let mut unmoved = Engine::new(model.clone(), end);
    unmoved.apply(&events);
    let moved = (0..400)
        .filter(|i| {
            let subject = format!("p-{i}");
            unmoved.score(&subject).map(|s| s.behaviour)
                != stepped.score(&subject).map(|s| s.behaviour)
        })
        .count();
    assert!(moved > 100, "{moved}");
}

#[test]
fn a_clock_moved_off_the_lock_with_events_between_its_pieces_ends_where_one_move_does() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_with_relations(&model, end);
    let later = t("2027-03-01");
    let mut extra = city_events(&model, 400, 30, later, 9);
    for (index, event) in extra.iter_mut().enumerate() {
        event.id = format!("step-{index}").into();
    }
    // New subjects and relations arrive while the copy is solved: the copy must get them.
    let mut during_solve = city_events(&model, 450, 20, later, 10);
    for (index, event) in during_solve.iter_mut().enumerate() {
        event.id = format!("solve-{index}").into();
    }
    during_solve.push(relation(
        &model,
        "r-new-1",
        "p-3",
        "p-440",
        "friend",
        true,
        "2027-02-01",
    ));
    during_solve.push(relation(
        &model,
        "r-new-2",
        "p-5",
        "p-7",
        "family",
        true,
        "2027-02-02",
    ));
    let mut whole = Engine::new(model.clone(), end);
    whole.apply(&events);
    whole.advance_clock(later);
    whole.apply(&extra);
    whole.apply(&during_solve);

    let mut stepped = Engine::new(model.clone(), end);
    stepped.apply(&events);
    stepped.start_clock(later);
    let first = stepped.behaviours_at_clock(0..150);
    // Applied between computing and installing: this piece is computed again.
    stepped.apply(&extra);
    stepped.install_behaviours(first);
    for start in (150..stepped.subject_count()).step_by(100) {
        let piece = stepped.behaviours_at_clock(start..start + 100);
        stepped.install_behaviours(piece);
    }
    let copy = stepped.start_network_copy().unwrap();
    let mut solve = stepped.network_copy(copy).unwrap();
    stepped.apply(&during_solve);
    solve.solve();
    assert!(stepped.install_network(solve));
    assert_eq!(whole.first_difference(&stepped), None);
    assert_eq!(whole.relation_count(), stepped.relation_count());

    // A copy of a network rebuilt meanwhile is refused, changing nothing.
    let copy = stepped.start_network_copy().unwrap();
    let solve = stepped.network_copy(copy).unwrap();
    stepped.start_bulk();
    stepped.finish_bulk();
    assert!(!stepped.install_network(solve));
    assert_eq!(whole.first_difference(&stepped), None);
}

/// Whether `subject` belongs to part `part` of 3 (by the digits of its id).
fn part_of(subject: &str) -> usize {
    subject.bytes().map(usize::from).sum::<usize>() % 3
}

#[test]
fn parts_with_their_contacts_elsewhere_pinned_score_as_the_whole_within_two_epsilon() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_with_relations(&model, end);
    let mut whole = Engine::new(model.clone(), end);
    whole.apply(&events);
    let mut crossing = 0;
    for part in 0..3 {
        // What the part's owner receives: its subjects' events, and every relation with an
        // end it owns.
        let mine: Vec<Event> = events
            .iter()
            .filter(|event| {
                let relation = [model.network.added, model.network.removed];
                let other = match &event.body {
                    EventBody::Fact { event_type, fields }
                        if relation.contains(&Some(*event_type)) =>
                    {
                        match fields.first() {
                            Some(FieldValue::Str(other)) => Some(other.to_string()),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                part_of(&event.subject) == part || other.is_some_and(|o| part_of(&o) == part)
            })
            .cloned()
            .collect();
        let mut engine = Engine::new(model.clone(), end);
        engine.serve_part(Arc::new(move |subject: &str| part_of(subject) == part));
        // Relations arrive live, in batches.
        for chunk in mine.chunks(101) {
            engine.apply(chunk);
        }
        let rows = engine.network_rows().expect("a part's network");
        let foreign: Vec<u32> = (0..engine.subject_count() as u32)
            .filter(|&i| !rows.own.contains(&i))
            .collect();
        assert!(!foreign.is_empty());
        let pins: Vec<(u32, f64)> = foreign
            .iter()
            .map(|&i| (i, whole.score(engine.subject_name(i)).unwrap().value))
            .collect();
        assert_eq!(engine.pin_contacts(&pins), pins.len());
        // Own subjects are not pinned.
        assert_eq!(engine.pin_contacts(&[(rows.own[0], 1.0)]), 0);
        for &index in &rows.own {
            let subject = engine.subject_name(index).to_owned();
            let (got, want) = (
                engine.score(&subject).unwrap(),
                whole.score(&subject).unwrap(),
            );
            assert_eq!(
                got.behaviour.to_bits(),
                want.behaviour.to_bits(),
                "{subject}"
            );
            assert!(
                (got.value - want.value).abs() <= 2.0 * model.network.epsilon,
                "{subject}: {} as a part, {} whole",
                got.value,
                want.value
            );
            let contacts = engine.contacts(&subject, 50).unwrap();
            let expected = whole.contacts(&subject, 50).unwrap();
            assert_eq!(contacts.contact_count, expected.contact_count, "{subject}");
            crossing += contacts
                .contacts
                .iter()
                .filter(|c| part_of(&c.subject) != part)
                .count();
        }
    }
    assert!(crossing > 100, "only {crossing} contacts cross parts");
}
