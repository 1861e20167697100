//! A seeded generator of realistic behaviour events for the sample city model, for benchmarks
//! and tests. Deterministic: the same seed gives the same events.

use standing_core::{Event, EventBody, FieldValue, Timestamp};
use standing_rules::Model;

/// A small, fast, seeded random source (SplitMix64; the graph generator's); not for anything
/// secret.
pub use standing_graph::synthetic::Rng as SplitMix;

/// Generates `count` events for subjects `p-0 .. p-(subjects-1)` over the two years before
/// `end`, in occurred-time order, with the city model's event mix.
pub fn city_events(
    model: &Model,
    subjects: u64,
    count: usize,
    end: Timestamp,
    seed: u64,
) -> Vec<Event> {
    let mut random = SplitMix::new(seed);
    let span = 2 * 365 * 86_400;
    let mut times: Vec<i64> = (0..count)
        .map(|_| end.0 - random.below(span) as i64)
        .collect();
    times.sort_unstable();
    let id = |name: &str| {
        model
            .event_type_id(name)
            .unwrap_or_else(|| panic!("the city model declares {name}"))
    };
    let enum_index = |type_name: &str, field: &str, value: &str| -> u16 {
        let event_type = model.event_type(id(type_name));
        let slot = event_type.field_slot(field).unwrap_or(0);
        match &event_type.fields[slot].ty {
            standing_core::FieldType::Enum(names) => {
                names.iter().position(|n| &**n == value).unwrap_or(0) as u16
            }
            _ => 0,
        }
    };
    let creditors = [
        "city-water",
        "metro-energy",
        "telco-one",
        "north-bank",
        "rent-co",
    ];
    times
        .into_iter()
        .enumerate()
        .map(|(index, occurred)| {
            let subject = random.below(subjects);
            let roll = random.below(1000);
            let creditor = creditors[random.below(creditors.len() as u64) as usize];
            let case = format!("K-{}", random.below(4));
            let (name, fields): (&str, Vec<FieldValue>) = match roll {
                0..600 => (
                    "payment.on_time",
                    vec![
                        FieldValue::Dec((random.below(50_000) as f64) / 100.0),
                        FieldValue::Str(creditor.into()),
                    ],
                ),
                600..750 => (
                    "payment.late",
                    vec![
                        FieldValue::Dec((random.below(200_000) as f64) / 100.0),
                        FieldValue::Str(creditor.into()),
                        FieldValue::Int(1 + random.below(120) as i64),
                    ],
                ),
                750..800 => (
                    "credit.enquiry",
                    vec![
                        FieldValue::Enum(enum_index(
                            "credit.enquiry",
                            "kind",
                            if random.below(2) == 0 {
                                "credit"
                            } else {
                                "conditions"
                            },
                        )),
                        FieldValue::Str(creditor.into()),
                    ],
                ),
                800..850 => (
                    "civic.traffic_ticket",
                    vec![
                        FieldValue::Dec(60.0),
                        FieldValue::Enum(random.below(4) as u16),
                    ],
                ),
                850..880 => (
                    "civic.volunteering",
                    vec![
                        FieldValue::Int(random.below(200) as i64),
                        FieldValue::Str("food-bank".into()),
                    ],
                ),
                880..910 => (
                    "debt.default_registered",
                    vec![
                        FieldValue::Dec((random.below(1_000_000) as f64) / 100.0),
                        FieldValue::Str(case.clone().into()),
                        FieldValue::Str(creditor.into()),
                    ],
                ),
                910..930 => (
                    "debt.default_settled",
                    vec![FieldValue::Str(case.clone().into())],
                ),
                930..950 => (
                    "court.judgment",
                    vec![
                        FieldValue::Dec((random.below(500_000) as f64) / 100.0),
                        FieldValue::Str(case.clone().into()),
                        FieldValue::Enum(random.below(4) as u16),
                    ],
                ),
                950..960 => (
                    "court.defaulter_listed",
                    vec![
                        FieldValue::Str(case.clone().into()),
                        FieldValue::Str("district-court-1".into()),
                    ],
                ),
                960..970 => (
                    "court.defaulter_delisted",
                    vec![
                        FieldValue::Str(case.clone().into()),
                        FieldValue::Str("district-court-1".into()),
                    ],
                ),
                970..975 => (
                    "utility.damage",
                    vec![
                        FieldValue::Dec(1500.0),
                        FieldValue::Enum(random.below(5) as u16),
                    ],
                ),
                _ => (
                    "bank.account_tenure",
                    vec![FieldValue::Int(random.below(30) as i64)],
                ),
            };
            Event {
                source: name.split('.').next().unwrap_or("source").into(),
                id: format!("e-{index}").into(),
                subject: format!("p-{subject}").into(),
                occurred_at: Timestamp(occurred),
                recorded_at: Timestamp(occurred + random.below(86_400) as i64),
                body: EventBody::Fact {
                    event_type: id(name),
                    fields: fields.into(),
                },
            }
        })
        .collect()
}

/// `relation.added` events for subjects `p-0 .. p-(subjects-1)`: a power-law, community
/// structured graph (see `standing_graph::synthetic`) with `mean_contacts` contacts per subject
/// on average, each relation dated at random in the two years before `end`, in occurred-time
/// order. Kinds are the generator's (friend, family, colleague) where the model declares them,
/// else the model's first kind. Empty when the model declares no relation kinds.
pub fn city_relations(
    model: &Model,
    subjects: u64,
    mean_contacts: f64,
    end: Timestamp,
    seed: u64,
) -> Vec<Event> {
    let (Some(added), false) = (model.network.added, model.network.kinds.is_empty()) else {
        return Vec::new();
    };
    let kind_index = |name: &str| {
        model
            .network
            .kinds
            .iter()
            .position(|kind| kind.name == name)
            .unwrap_or(0) as u16
    };
    let kinds: Vec<u16> = standing_graph::synthetic::KINDS
        .iter()
        .map(|(name, _)| kind_index(name))
        .collect();
    let relations = standing_graph::synthetic::relations(standing_graph::synthetic::Shape {
        subjects: subjects as u32,
        mean_entries: mean_contacts,
        local: 0.8,
        seed,
    });
    let mut random = SplitMix::new(seed ^ 0x00ee_11aa);
    let span = 2 * 365 * 86_400;
    let mut events: Vec<Event> = relations
        .into_iter()
        .enumerate()
        .map(|(index, (a, b, kind))| {
            let at = Timestamp(end.0 - random.below(span) as i64);
            Event {
                source: "social".into(),
                id: format!("r-{index}").into(),
                subject: format!("p-{a}").into(),
                occurred_at: at,
                recorded_at: at,
                body: EventBody::Fact {
                    event_type: added,
                    fields: vec![
                        FieldValue::Str(format!("p-{b}").into()),
                        FieldValue::Enum(kinds[kind as usize]),
                        FieldValue::Dec(1.0),
                    ]
                    .into(),
                },
            }
        })
        .collect();
    events.sort_by_key(|event| event.occurred_at);
    events
}
