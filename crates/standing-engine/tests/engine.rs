//! The engine through its public API: bitemporal scoring, retractions, settlements, lists,
//! decisions, caps and decay (property tests), and determinism across thread counts.

use proptest::prelude::*;
use standing_core::{Event, EventBody, FieldValue, Timestamp};
use standing_devkit::synthetic::city_events;
use standing_engine::{ApplyOutcome, Engine, NoEventFields};
use standing_rules::{Model, SAMPLE_CITY_MODEL, check_model};
use std::sync::Arc;

const DAY: i64 = 86_400;

fn city() -> Arc<Model> {
    Arc::new(
        check_model("city.toml", SAMPLE_CITY_MODEL)
            .model
            .expect("the sample model checks"),
    )
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// A fact with fields given by name, put into the type's slot order.
fn fact(
    model: &Model,
    id: &str,
    subject: &str,
    type_name: &str,
    occurred: &str,
    fields: &[(&str, FieldValue)],
) -> Event {
    let event_type = model.event_type_id(type_name).unwrap();
    let declared = model.event_type(event_type);
    assert_eq!(declared.fields.len(), fields.len(), "{type_name} fields");
    let values = declared
        .fields
        .iter()
        .map(|field| {
            fields
                .iter()
                .find(|(name, _)| *name == field.name)
                .unwrap_or_else(|| panic!("{}", field.name))
                .1
                .clone()
        })
        .collect();
    Event {
        source: "test".into(),
        id: id.into(),
        subject: subject.into(),
        occurred_at: t(occurred),
        recorded_at: t(occurred),
        body: EventBody::Fact {
            event_type,
            fields: values,
        },
    }
}

fn text(value: &str) -> FieldValue {
    FieldValue::Str(value.into())
}

fn late_payment(model: &Model, id: &str, subject: &str, occurred: &str, days_late: i64) -> Event {
    fact(
        model,
        id,
        subject,
        "payment.late",
        occurred,
        &[
            ("amount", FieldValue::Dec(100.0)),
            ("creditor", text("telco")),
            ("days_late", FieldValue::Int(days_late)),
        ],
    )
}

#[test]
fn a_late_payment_costs_ten_points_per_started_cycle_and_halves_in_two_years() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-03-01T10:00:00Z"));
    let report = engine.apply(&[late_payment(
        &model,
        "e1",
        "p-1",
        "2026-03-01T10:00:00Z",
        35,
    )]);
    assert_eq!(report.outcomes, vec![ApplyOutcome::Accepted]);
    assert_eq!(engine.score("p-1").unwrap().value, 980.0);
    let later = engine.explain(
        "p-1",
        Timestamp(t("2026-03-01T10:00:00Z").0 + 730 * DAY),
        None,
        &NoEventFields,
    );
    assert!(
        (later.score.value - 990.0).abs() < 1e-9,
        "{}",
        later.score.value
    );
    // Past expires_after (3 years) nothing is left.
    let expired = engine.explain(
        "p-1",
        Timestamp(t("2026-03-01T10:00:00Z").0 + 3 * 365 * DAY),
        None,
        &NoEventFields,
    );
    assert_eq!(expired.score.value, 1000.0);
    assert!(expired.key_factors.is_empty());
}

#[test]
fn as_known_at_ignores_what_was_recorded_later_and_retractions_withdraw_without_rewriting() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    let mut late = late_payment(&model, "e1", "p-1", "2026-03-01", 10);
    late.recorded_at = t("2026-04-01");
    engine.apply(&[late]);
    assert!(
        engine
            .explain("p-1", t("2026-03-15"), None, &NoEventFields)
            .score
            .value
            < 1000.0
    );
    assert_eq!(
        engine
            .explain(
                "p-1",
                t("2026-03-15"),
                Some(t("2026-03-20")),
                &NoEventFields
            )
            .score
            .value,
        1000.0
    );

    let retraction = Event {
        source: "test".into(),
        id: "r1".into(),
        subject: "p-1".into(),
        occurred_at: t("2026-05-01"),
        recorded_at: t("2026-05-01"),
        body: EventBody::Retraction {
            event_id: "e1".into(),
            reason: "paid on time after all".into(),
        },
    };
    let report = engine.apply(std::slice::from_ref(&retraction));
    assert_eq!(report.outcomes, vec![ApplyOutcome::Accepted]);
    assert_eq!(report.changed.len(), 1);
    assert_eq!(engine.score("p-1").unwrap().value, 1000.0);
    // As known before the retraction, the late payment still counted.
    assert!(
        engine
            .explain(
                "p-1",
                t("2026-04-15"),
                Some(t("2026-04-15")),
                &NoEventFields
            )
            .score
            .value
            < 1000.0
    );
    // Replaying the same retraction is a duplicate; a retraction of an unknown event is refused.
    assert_eq!(
        engine.apply(&[retraction]).outcomes,
        vec![ApplyOutcome::Duplicate]
    );
    let orphan = Event {
        id: "r2".into(),
        body: EventBody::Retraction {
            event_id: "nope".into(),
            reason: "".into(),
        },
        ..late_payment(&model, "x", "p-1", "2026-05-02", 1)
    };
    assert_eq!(
        engine.apply(&[orphan]).outcomes,
        vec![ApplyOutcome::UnknownRetractionTarget]
    );
}

#[test]
fn a_settlement_ends_the_default_and_the_settled_default_stops_counting_after_three_years() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-01-01"));
    engine.apply(&[
        fact(
            &model,
            "d1",
            "p-1",
            "debt.default_registered",
            "2025-01-01",
            &[
                ("amount", FieldValue::Dec(900.0)),
                ("creditor", text("bank")),
                ("case_id", text("K1")),
            ],
        ),
        fact(
            &model,
            "d2",
            "p-1",
            "debt.default_registered",
            "2025-02-01",
            &[
                ("amount", FieldValue::Dec(900.0)),
                ("creditor", text("bank")),
                ("case_id", text("K2")),
            ],
        ),
        fact(
            &model,
            "s1",
            "p-1",
            "debt.default_settled",
            "2025-06-01",
            &[("case_id", text("K1"))],
        ),
    ]);
    let contract = |at: &str| {
        let explanation = engine.explain("p-1", t(at), None, &NoEventFields);
        explanation
            .dimensions
            .iter()
            .find(|d| &*d.name == "contract")
            .unwrap()
            .points
    };
    assert_eq!(contract("2025-03-01"), -160.0, "two open defaults");
    assert_eq!(
        contract("2025-07-01"),
        -100.0,
        "K1 settled: -80 for K2, -20 for the settlement"
    );
    assert_eq!(
        contract("2028-06-01"),
        -80.0,
        "the settled default no longer counts"
    );
}

#[test]
fn a_defaulter_listing_refuses_rail_tickets_until_delisted_or_lapsed() {
    let model = city();
    let listed = fact(
        &model,
        "l1",
        "p-1",
        "court.defaulter_listed",
        "2026-01-10",
        &[("case_id", text("C1")), ("court", text("dc-1"))],
    );
    let mut engine = Engine::new(model.clone(), t("2026-02-01"));
    engine.apply(std::slice::from_ref(&listed));
    let decision = engine.decide("rail.highspeed.booking", "p-1").unwrap();
    assert_eq!(decision.verdict.name(), "deny");
    assert_eq!(&*decision.reasons[0].code, "LISTED_DEFAULTER");
    assert_eq!(
        engine
            .decide("rail.highspeed.booking", "p-2")
            .unwrap()
            .verdict
            .name(),
        "allow"
    );
    assert!(engine.decide("no.such.purpose", "p-1").is_none());

    // The listing lapses after its two-year maximum...
    engine.advance_clock(t("2028-01-11"));
    assert_eq!(
        engine
            .decide("rail.highspeed.booking", "p-1")
            .unwrap()
            .verdict
            .name(),
        "allow"
    );
    // ...and ends at once when the court delists (another case number does not).
    let mut engine = Engine::new(model.clone(), t("2026-03-01"));
    engine.apply(&[
        listed,
        fact(
            &model,
            "l2",
            "p-1",
            "court.defaulter_delisted",
            "2026-02-01",
            &[("case_id", text("C9")), ("court", text("dc-1"))],
        ),
    ]);
    assert_eq!(
        engine
            .explain("p-1", t("2026-03-01"), None, &NoEventFields)
            .lists
            .len(),
        1
    );
    engine.apply(&[fact(
        &model,
        "l3",
        "p-1",
        "court.defaulter_delisted",
        "2026-02-15",
        &[("case_id", text("C1")), ("court", text("dc-1"))],
    )]);
    assert!(
        engine
            .explain("p-1", t("2026-03-01"), None, &NoEventFields)
            .lists
            .is_empty()
    );
    assert_eq!(
        engine
            .decide("rail.highspeed.booking", "p-1")
            .unwrap()
            .verdict
            .name(),
        "allow"
    );
}

#[test]
fn lending_needs_grade_b_and_key_factors_rank_the_four_largest_effects() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-06-01"));
    engine.apply(&[
        late_payment(&model, "e1", "p-1", "2026-05-01", 100), // -40
        fact(
            &model,
            "e3",
            "p-1",
            "civic.traffic_ticket",
            "2026-05-03",
            &[
                ("offence", FieldValue::Enum(0)),
                ("fine", FieldValue::Dec(10.0)),
            ],
        ), // -5
        fact(
            &model,
            "e4",
            "p-1",
            "court.judgment",
            "2026-05-04",
            &[
                ("case_id", text("C")),
                ("kind", FieldValue::Enum(0)),
                ("amount", FieldValue::Dec(1.0)),
            ],
        ), // -50
        fact(
            &model,
            "e5",
            "p-1",
            "bank.account_tenure",
            "2026-05-05",
            &[("years", FieldValue::Int(12))],
        ), // +15
    ]);
    let explanation = engine.explain("p-1", t("2026-05-06"), None, &NoEventFields);
    let codes: Vec<&str> = explanation.key_factors.iter().map(|f| &*f.code).collect();
    assert_eq!(
        codes,
        [
            "COURT_BREACH_OF_CONTRACT",
            "PAY_LATE",
            "ACCOUNT_TENURE",
            "TRAFFIC_TICKET"
        ]
    );
    assert_eq!(explanation.score.grade.as_ref(), "B");
    assert_eq!(
        engine
            .decide("lending.consumer", "p-1")
            .unwrap()
            .verdict
            .name(),
        "allow"
    );
    engine.apply(&[fact(
        &model,
        "e6",
        "p-1",
        "utility.damage",
        "2026-05-07",
        &[
            ("utility", FieldValue::Enum(0)),
            ("cost", FieldValue::Dec(10.0)),
        ],
    )]);
    let decision = engine.decide("lending.consumer", "p-1").unwrap();
    assert_eq!(decision.verdict.name(), "deny");
    assert_eq!(
        decision
            .reasons
            .iter()
            .map(|r| &*r.code)
            .collect::<Vec<_>>(),
        ["GRADE_BELOW_B"]
    );
}

#[test]
fn scores_are_bit_for_bit_the_same_at_any_thread_count() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_events(&model, 2_000, 60_000, end, 11);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut engine = Engine::new(model.clone(), Timestamp(end.0 - 400 * DAY));
            for chunk in events.chunks(7_000) {
                engine.apply(chunk);
            }
            engine.advance_clock(end);
            engine.all_scores()
        })
    };
    let single = run(1);
    assert_eq!(single.len(), 2_000);
    assert_eq!(single, run(2));
    assert_eq!(single, run(4));
}

fn arbitrary_events(model: Arc<Model>) -> impl Strategy<Value = Vec<Event>> {
    // Events on one subject at random days over four years, of every rule-bearing type.
    let kinds = 0..6u8;
    prop::collection::vec((kinds, 0..1460i64, 1..200i64), 1..40).prop_map(move |specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(index, (kind, day, number))| {
                let date = Timestamp(t("2023-01-01").0 + day * DAY).to_string();
                let id = format!("e{index}");
                match kind {
                    0 => late_payment(&model, &id, "p", &date, number),
                    1 => fact(
                        &model,
                        &id,
                        "p",
                        "payment.on_time",
                        &date,
                        &[
                            ("amount", FieldValue::Dec(number as f64)),
                            ("creditor", text("c")),
                        ],
                    ),
                    2 => fact(
                        &model,
                        &id,
                        "p",
                        "civic.volunteering",
                        &date,
                        &[
                            ("hours", FieldValue::Int(number * 3)),
                            ("organisation", text("o")),
                        ],
                    ),
                    3 => fact(
                        &model,
                        &id,
                        "p",
                        "utility.damage",
                        &date,
                        &[
                            ("utility", FieldValue::Enum(0)),
                            ("cost", FieldValue::Dec(1.0)),
                        ],
                    ),
                    4 => fact(
                        &model,
                        &id,
                        "p",
                        "court.judgment",
                        &date,
                        &[
                            ("case_id", text("c")),
                            ("kind", FieldValue::Enum((number % 4) as u16)),
                            ("amount", FieldValue::Dec(1.0)),
                        ],
                    ),
                    _ => fact(
                        &model,
                        &id,
                        "p",
                        "civic.traffic_ticket",
                        &date,
                        &[
                            ("offence", FieldValue::Enum((number % 4) as u16)),
                            ("fine", FieldValue::Dec(1.0)),
                        ],
                    ),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Dimension points never leave their caps, rule totals never leave theirs, the score never
    /// leaves the scale, and the explanation adds up to the score.
    #[test]
    fn caps_always_hold_and_explanations_add_up(events in arbitrary_events(city()), at_day in 0..2000i64) {
        let model = city();
        let mut engine = Engine::new(model.clone(), t("2023-01-01"));
        engine.apply(&events);
        let explanation = engine.explain("p", Timestamp(t("2023-01-01").0 + at_day * DAY), None, &NoEventFields);
        let mut total = model.scale.base;
        for dimension in &explanation.dimensions {
            prop_assert!(dimension.points >= dimension.lower && dimension.points <= dimension.upper);
            // The dimension's points are computed again from its contributions, the way the
            // model says: each rule's current points summed and held to the rule's bounds, the
            // rules summed, then held to the dimension's bounds.
            let mut by_rule: std::collections::BTreeMap<&str, f64> = Default::default();
            for contribution in &dimension.contributions {
                *by_rule.entry(&contribution.reason_code).or_default() += contribution.current;
            }
            let raw: f64 = by_rule
                .iter()
                .map(|(code, sum)| {
                    let rule = model.rules.iter().find(|r| r.code == *code).expect("a rule of the model");
                    sum.clamp(rule.min_total, rule.max_total)
                })
                .sum();
            prop_assert!((raw - dimension.raw).abs() <= 1e-9 * raw.abs().max(1.0), "{} != {}", raw, dimension.raw);
            prop_assert_eq!(dimension.points, dimension.raw.clamp(dimension.lower, dimension.upper));
            total += dimension.points;
        }
        let volunteering: f64 = explanation.key_factors.iter().filter(|f| &*f.code == "VOLUNTEERING").map(|f| f.points).sum();
        prop_assert!(volunteering <= 10.0);
        prop_assert!(explanation.score.value >= model.scale.min && explanation.score.value <= model.scale.max);
        prop_assert_eq!(explanation.score.value, total.clamp(model.scale.min, model.scale.max));
    }

    /// Every contribution fades: its current points never grow in magnitude as time passes,
    /// and never change sign.
    #[test]
    fn decay_is_monotone_in_time(events in arbitrary_events(city()), day in 0..1500i64, step in 1..400i64) {
        let model = city();
        let mut engine = Engine::new(model.clone(), t("2023-01-01"));
        engine.apply(&events);
        let at = Timestamp(t("2023-01-01").0 + day * DAY);
        let later = Timestamp(at.0 + step * DAY);
        let before = engine.explain("p", at, None, &NoEventFields);
        let after = engine.explain("p", later, None, &NoEventFields);
        for (dimension_before, dimension_after) in before.dimensions.iter().zip(&after.dimensions) {
            for contribution in &dimension_after.contributions {
                if let Some(earlier) = dimension_before.contributions.iter().find(|c| c.event_id == contribution.event_id) {
                    prop_assert!(contribution.current.abs() <= earlier.current.abs());
                    prop_assert!(contribution.current * earlier.current >= 0.0);
                    prop_assert!(contribution.current.abs() <= contribution.awarded.abs());
                }
            }
        }
    }
}

#[test]
fn a_snapshot_restores_the_same_state_and_a_damaged_one_is_refused() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_events(&model, 500, 20_000, end, 5);
    let mut engine = Engine::new(model.clone(), end);
    engine.apply(&events[..15_000]);
    let bytes = engine.encode_snapshot();
    let mut restored = Engine::decode_snapshot(model.clone(), &bytes).unwrap();
    assert_eq!(engine.first_difference(&restored), None);
    assert_eq!(engine.all_scores(), restored.all_scores());
    // Both go on identically.
    engine.apply(&events[15_000..]);
    restored.apply(&events[15_000..]);
    assert_eq!(engine.first_difference(&restored), None);
    let explained = |e: &Engine| format!("{:?}", e.explain("p-7", end, None, &NoEventFields));
    assert_eq!(explained(&engine), explained(&restored));

    // A different engine is told apart, with the first difference named.
    let mut other = Engine::decode_snapshot(model.clone(), &bytes).unwrap();
    other.apply(&[late_payment(&model, "extra", "p-7", "2026-11-01", 10)]);
    assert!(engine.first_difference(&other).is_some());

    for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Engine::decode_snapshot(model.clone(), &bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let marketplace = Arc::new(
        check_model("m.toml", standing_rules::SAMPLE_MARKETPLACE_MODEL)
            .model
            .unwrap(),
    );
    assert!(matches!(
        Engine::decode_snapshot(marketplace, &bytes),
        Err(standing_engine::SnapshotError::ModelMismatch { .. })
    ));
}

#[test]
fn a_refused_event_leaves_no_trace_so_replaying_the_accepted_ones_gives_the_same_state() {
    let model = city();
    let end = t("2026-11-25");
    let from = |source: &str, mut event: Event| {
        event.source = source.into();
        event
    };
    let orphan_retraction = Event {
        source: "courts".into(),
        id: "r-1".into(),
        subject: "p-1".into(),
        occurred_at: t("2026-01-02"),
        recorded_at: t("2026-01-02"),
        body: EventBody::Retraction {
            event_id: "never-seen".into(),
            reason: "test".into(),
        },
    };
    let first = from(
        "payments",
        late_payment(&model, "a", "p-1", "2026-01-03", 10),
    );
    let second = from("courts", late_payment(&model, "b", "p-2", "2026-01-04", 40));
    let mut live = Engine::new(model.clone(), end);
    let report = live.apply(&[orphan_retraction, first.clone(), second.clone()]);
    assert_eq!(
        report.outcomes,
        vec![
            ApplyOutcome::UnknownRetractionTarget,
            ApplyOutcome::Accepted,
            ApplyOutcome::Accepted
        ]
    );
    let mut replayed = Engine::new(model.clone(), end);
    replayed.apply(&[first, second]);
    assert_eq!(live.first_difference(&replayed), None);
    assert_eq!(live.encode_snapshot(), replayed.encode_snapshot());
}

#[test]
fn a_snapshot_with_a_damaged_count_or_value_is_refused_without_allocating_for_it() {
    let model = city();
    let end = t("2026-11-25");
    let mut engine = Engine::new(model.clone(), end);
    engine.apply(&[late_payment(&model, "a", "p-1", "2026-01-03", 10)]);
    let bytes = engine.encode_snapshot();
    assert!(Engine::decode_snapshot(model.clone(), &bytes).is_ok());
    // The stream ends with the entry count (u64), the entries, 48 bytes each, and the streams'
    // positions (none: an empty counted section); before them the offsets (count 2, then 0 and
    // the count) and the one subject's score.
    let entries = engine.stats().entries;
    assert_eq!(bytes[bytes.len() - 8..], 0u64.to_le_bytes());
    let count_at = bytes.len() - 8 - entries * 48 - 8;
    assert_eq!(
        bytes[count_at..count_at + 8],
        (entries as u64).to_le_bytes()
    );
    let damage = |at: usize, value: &[u8]| {
        let mut damaged = bytes.clone();
        damaged[at..at + value.len()].copy_from_slice(value);
        Engine::decode_snapshot(model.clone(), &damaged)
    };
    assert!(damage(count_at, &u64::MAX.to_le_bytes()).is_err());
    assert!(damage(count_at, &(entries as u64 + 1).to_le_bytes()).is_err());
    // An offset past the entries.
    assert!(damage(count_at - 8, &(entries as u64 + 1).to_le_bytes()).is_err());
    // The cached score: a NaN there would spread through the network.
    let score_at = count_at - 24 - 8;
    assert!(damage(score_at, &f64::NAN.to_bits().to_le_bytes()).is_err());
    // The first entry's kind, rule and event.
    let entry_at = count_at + 8;
    assert!(damage(entry_at + 46, &[6]).is_err());
    assert!(damage(entry_at + 44, &u16::MAX.to_le_bytes()).is_err());
    assert!(damage(entry_at + 40, &7u32.to_le_bytes()).is_err());
    // A position section longer than what follows, or that does not read as positions.
    let positions_at = bytes.len() - 8;
    assert!(damage(positions_at, &1u64.to_le_bytes()).is_err());
    let mut taken = engine;
    taken.apply(&[standing_core::Event::checkpoint("payments", 3, 17, end)]);
    let with_position = taken.encode_snapshot();
    let restored = Engine::decode_snapshot(model.clone(), &with_position).unwrap();
    assert_eq!(restored.stream_position("payments", 3), Some(17));
    let line_at = with_position.windows(3).rposition(|w| w == b" 17").unwrap();
    let mut damaged = with_position.clone();
    damaged[line_at] = b'x';
    assert!(Engine::decode_snapshot(model.clone(), &damaged).is_err());
    // Any byte set to any of these values: refused or restored, never a panic.
    for at in 0..bytes.len() {
        for value in [0x00, 0x01, 0x80, 0xff] {
            let _ = damage(at, &[value]);
        }
    }
}

#[test]
fn a_restored_engines_event_index_built_aside_finds_every_event_sent_before() {
    let model = city();
    let end = t("2026-11-25");
    let events = city_events(&model, 300, 5_000, end, 8);
    let mut engine = Engine::new(model.clone(), end);
    assert!(
        engine.event_index_job().is_none(),
        "a live engine keeps its index"
    );
    engine.apply(&events[..4_000]);
    let mut restored = Engine::decode_snapshot(model.clone(), &engine.encode_snapshot()).unwrap();
    let job = restored
        .event_index_job()
        .expect("restored without its index");
    let index = job.build();
    restored.install_event_index(index);
    assert!(restored.event_index_job().is_none());
    let again = restored.apply(&events[..4_000]);
    assert!(
        again
            .outcomes
            .iter()
            .all(|outcome| *outcome == ApplyOutcome::Duplicate)
    );
    engine.apply(&events[4_000..]);
    restored.apply(&events[4_000..]);
    assert_eq!(engine.first_difference(&restored), None);
}

#[test]
fn the_list_change_count_moves_with_list_entries_and_the_clock_only() {
    let model = city();
    let mut engine = Engine::new(model.clone(), t("2026-02-01"));
    let start = engine.list_changes();
    engine.apply(&[late_payment(&model, "p1", "p-1", "2026-01-05", 10)]);
    assert_eq!(engine.list_changes(), start, "a payment touches no list");
    let listed = fact(
        &model,
        "l1",
        "p-1",
        "court.defaulter_listed",
        "2026-01-10",
        &[("case_id", text("C1")), ("court", text("dc-1"))],
    );
    engine.apply(std::slice::from_ref(&listed));
    let entered = engine.list_changes();
    assert!(entered > start);
    let retraction = Event {
        source: listed.source.clone(),
        id: "r1".into(),
        subject: "p-1".into(),
        occurred_at: t("2026-01-20"),
        recorded_at: t("2026-01-20"),
        body: EventBody::Retraction {
            event_id: "l1".into(),
            reason: "entered in error".into(),
        },
    };
    engine.apply(&[retraction]);
    let retracted = engine.list_changes();
    assert!(retracted > entered);
    engine.advance_clock(t("2028-03-01"));
    assert!(
        engine.list_changes() > retracted,
        "memberships lapse as the clock moves"
    );
}
