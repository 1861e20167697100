//! A synthetic country for the demo and benchmarks: people with behaviour profiles, the events
//! their sources send over two years, their social graph, and a live stream afterwards.
//! Deterministic: a person's history depends only on the seed and the person, so people can be
//! generated in any order and on any number of threads.
//!
//! Sources and what they send (the city model's event types):
//! `payplatform` payments on time and late · `debtor-register` defaults and settlements ·
//! `courts` judgments, defaulter listings and delistings · `utilities` damage ·
//! `civic-records` volunteering and traffic tickets · `banks` account tenure ·
//! `lenders` credit enquiries · `marketplace` ratings · `social` relations.

use crate::synthetic::SplitMix;
use standing_core::{Event, EventBody, EventTypeId, FieldType, FieldValue, Timestamp};
use standing_rules::Model;

/// Two years, in seconds: the history generated before `end`.
const SPAN: i64 = 2 * 365 * 86_400;
const DAY: i64 = 86_400;

/// How reliably a person pays, and how often their debts end in court.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Reliable,
    Ordinary,
    Stretched,
    Defaulter,
}

/// The city model's event types a country's sources send, resolved once.
#[derive(Debug)]
pub struct Country {
    model: std::sync::Arc<Model>,
    pub people: u64,
    pub seed: u64,
    /// The instant the history ends (now, for the demo).
    pub end: Timestamp,
    types: Types,
}

#[derive(Debug)]
struct Types {
    on_time: EventTypeId,
    late: EventTypeId,
    default_registered: EventTypeId,
    default_settled: EventTypeId,
    judgment: EventTypeId,
    listed: EventTypeId,
    delisted: EventTypeId,
    damage: EventTypeId,
    volunteering: EventTypeId,
    ticket: EventTypeId,
    tenure: EventTypeId,
    enquiry: EventTypeId,
    rating: EventTypeId,
    relation: Option<EventTypeId>,
    /// Relation kind indices for the graph generator's kinds (friend, family, colleague).
    kinds: Vec<u16>,
    /// `credit.enquiry`'s kind `credit`.
    enquiry_credit: u16,
}

/// Why a model cannot host the country.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the model lacks event type `{0}`, which the synthetic country sends")]
pub struct MissingType(pub String);

const CREDITORS: [&str; 6] = [
    "city-water",
    "metro-energy",
    "telco-one",
    "north-bank",
    "rent-co",
    "shop-pay",
];
const LENDERS: [&str; 3] = ["north-bank", "quick-loans", "city-credit"];
const COURTS: [&str; 3] = ["district-court-1", "district-court-2", "regional-court"];
const ORGANISATIONS: [&str; 3] = ["food-bank", "red-cross", "river-cleanup"];

fn enum_value(model: &Model, id: EventTypeId, field: &str, value: &str) -> u16 {
    let event_type = model.event_type(id);
    event_type
        .field_slot(field)
        .and_then(|slot| match &event_type.fields[slot].ty {
            FieldType::Enum(names) => names.iter().position(|n| &**n == value),
            _ => None,
        })
        .unwrap_or(0) as u16
}

impl Country {
    /// A country of `people` under `model` (the city model or one with its event types).
    pub fn new(
        model: &std::sync::Arc<Model>,
        people: u64,
        seed: u64,
        end: Timestamp,
    ) -> Result<Country, MissingType> {
        let id = |name: &str| {
            model
                .event_type_id(name)
                .ok_or_else(|| MissingType(name.into()))
        };
        let enquiry = id("credit.enquiry")?;
        let kinds = standing_graph::synthetic::KINDS
            .iter()
            .map(|(name, _)| {
                model
                    .network
                    .kinds
                    .iter()
                    .position(|kind| kind.name == *name)
                    .unwrap_or(0) as u16
            })
            .collect();
        let types = Types {
            on_time: id("payment.on_time")?,
            late: id("payment.late")?,
            default_registered: id("debt.default_registered")?,
            default_settled: id("debt.default_settled")?,
            judgment: id("court.judgment")?,
            listed: id("court.defaulter_listed")?,
            delisted: id("court.defaulter_delisted")?,
            damage: id("utility.damage")?,
            volunteering: id("civic.volunteering")?,
            ticket: id("civic.traffic_ticket")?,
            tenure: id("bank.account_tenure")?,
            enquiry,
            rating: id("market.rating")?,
            relation: model
                .network
                .added
                .filter(|_| !model.network.kinds.is_empty()),
            kinds,
            enquiry_credit: enum_value(model, enquiry, "kind", "credit"),
        };
        Ok(Country {
            model: model.clone(),
            people,
            seed,
            end,
            types,
        })
    }

    /// Field values in the event type's slot order, from `(name, value)` pairs.
    fn fields(&self, event_type: EventTypeId, pairs: Vec<(&str, FieldValue)>) -> Vec<FieldValue> {
        let declared = self.model.event_type(event_type);
        let mut values: Vec<Option<FieldValue>> = vec![None; declared.fields.len()];
        for (name, value) in pairs {
            if let Some(slot) = declared.field_slot(name) {
                values[slot] = Some(value);
            }
        }
        values
            .into_iter()
            .zip(&declared.fields)
            .map(|(value, field)| {
                value
                    .or_else(|| field.default.clone())
                    .unwrap_or(FieldValue::Int(0))
            })
            .collect()
    }

    fn random_for(&self, person: u64, stream: u64) -> SplitMix {
        SplitMix::new(
            self.seed
                ^ person.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ stream.wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        )
    }

    /// A person's profile (fixed by seed and person).
    pub fn profile(&self, person: u64) -> Profile {
        match self.random_for(person, 1).below(100) {
            0..45 => Profile::Reliable,
            45..80 => Profile::Ordinary,
            80..95 => Profile::Stretched,
            _ => Profile::Defaulter,
        }
    }

    /// Everything person `person`'s sources sent in the two years before `end`.
    pub fn person_events(&self, person: u64) -> Vec<Event> {
        let mut random = self.random_for(person, 2);
        let profile = self.profile(person);
        let subject: Box<str> = format!("p-{person}").into();
        let t = &self.types;
        let mut events = Vec::with_capacity(8);
        let mut serial = 0u32;
        let mut push = |events: &mut Vec<Event>,
                        source: &str,
                        event_type: EventTypeId,
                        at: i64,
                        fields: Vec<(&str, FieldValue)>,
                        random: &mut SplitMix| {
            serial += 1;
            events.push(Event {
                source: source.into(),
                id: format!("{subject}.{serial}").into(),
                subject: subject.clone(),
                occurred_at: Timestamp(at),
                // Sources report within a few days.
                recorded_at: Timestamp((at + random.below(3 * DAY as u64) as i64).min(self.end.0)),
                body: EventBody::Fact {
                    event_type,
                    fields: self.fields(event_type, fields).into(),
                },
            });
        };
        let when = |random: &mut SplitMix| self.end.0 - random.below(SPAN as u64) as i64;
        let pick = |random: &mut SplitMix, names: &[&'static str]| -> &'static str {
            names[random.below(names.len() as u64) as usize]
        };

        // Payments: most people pay most bills on time.
        let on_time_per_mille = match profile {
            Profile::Reliable => 995,
            Profile::Ordinary => 940,
            Profile::Stretched => 760,
            Profile::Defaulter => 500,
        };
        for _ in 0..2 + random.below(4) {
            let at = when(&mut random);
            let creditor = FieldValue::Str(pick(&mut random, &CREDITORS).into());
            if random.below(1000) < on_time_per_mille {
                let amount = FieldValue::Dec(random.below(40_000) as f64 / 100.0 + 5.0);
                push(
                    &mut events,
                    "payplatform",
                    t.on_time,
                    at,
                    vec![("amount", amount), ("creditor", creditor)],
                    &mut random,
                );
            } else {
                let amount = FieldValue::Dec(random.below(200_000) as f64 / 100.0 + 5.0);
                let days = FieldValue::Int(3 + random.below(120) as i64);
                push(
                    &mut events,
                    "payplatform",
                    t.late,
                    at,
                    vec![
                        ("amount", amount),
                        ("creditor", creditor),
                        ("days_late", days),
                    ],
                    &mut random,
                );
            }
        }
        if random.below(100) < 60 {
            let years = FieldValue::Int(random.below(30) as i64);
            push(
                &mut events,
                "banks",
                t.tenure,
                when(&mut random),
                vec![("years", years)],
                &mut random,
            );
        }
        let enquiries = match profile {
            Profile::Reliable | Profile::Ordinary => random.below(2),
            Profile::Stretched | Profile::Defaulter => random.below(4),
        };
        for _ in 0..enquiries {
            let fields = vec![
                (
                    "lender",
                    FieldValue::Str(pick(&mut random, &LENDERS).into()),
                ),
                ("kind", FieldValue::Enum(t.enquiry_credit)),
            ];
            push(
                &mut events,
                "lenders",
                t.enquiry,
                when(&mut random),
                fields,
                &mut random,
            );
        }

        // Defaults, and for defaulters the courts.
        let default_per_cent = match profile {
            Profile::Reliable => 0,
            Profile::Ordinary => 2,
            Profile::Stretched => 25,
            Profile::Defaulter => 85,
        };
        if random.below(100) < default_per_cent {
            let case: Box<str> = format!("D-{person}").into();
            let at = when(&mut random);
            let amount = FieldValue::Dec((200 + random.below(12_000)) as f64);
            let creditor = FieldValue::Str(pick(&mut random, &CREDITORS).into());
            let fields = vec![
                ("amount", amount.clone()),
                ("creditor", creditor),
                ("case_id", FieldValue::Str(case.clone())),
            ];
            push(
                &mut events,
                "debtor-register",
                t.default_registered,
                at,
                fields,
                &mut random,
            );
            let settles = if profile == Profile::Defaulter {
                25
            } else {
                60
            };
            let settled_at = at + (30 + random.below(300) as i64) * DAY;
            if random.below(100) < settles && settled_at < self.end.0 {
                let fields = vec![("case_id", FieldValue::Str(case.clone()))];
                push(
                    &mut events,
                    "debtor-register",
                    t.default_settled,
                    settled_at,
                    fields,
                    &mut random,
                );
            } else if profile == Profile::Defaulter && random.below(100) < 55 {
                let judged_at = (at + (60 + random.below(200) as i64) * DAY).min(self.end.0);
                let kind = if random.below(2) == 0 { 1 } else { 0 }; // unpaid_debt, breach
                let fields = vec![
                    ("case_id", FieldValue::Str(case.clone())),
                    ("kind", FieldValue::Enum(kind)),
                    ("amount", amount),
                ];
                push(
                    &mut events,
                    "courts",
                    t.judgment,
                    judged_at,
                    fields,
                    &mut random,
                );
                if random.below(100) < 45 {
                    let court = pick(&mut random, &COURTS);
                    let listed_at =
                        (judged_at + (30 + random.below(90) as i64) * DAY).min(self.end.0);
                    let fields = vec![
                        ("case_id", FieldValue::Str(case.clone())),
                        ("court", FieldValue::Str(court.into())),
                    ];
                    push(
                        &mut events,
                        "courts",
                        t.listed,
                        listed_at,
                        fields.clone(),
                        &mut random,
                    );
                    let delisted_at = listed_at + (60 + random.below(400) as i64) * DAY;
                    if random.below(100) < 35 && delisted_at < self.end.0 {
                        push(
                            &mut events,
                            "courts",
                            t.delisted,
                            delisted_at,
                            fields,
                            &mut random,
                        );
                    }
                }
            }
        }

        // Civic records and the marketplace.
        if random.below(100) < 8 {
            let fields = vec![
                ("hours", FieldValue::Int(10 + random.below(200) as i64)),
                (
                    "organisation",
                    FieldValue::Str(pick(&mut random, &ORGANISATIONS).into()),
                ),
            ];
            push(
                &mut events,
                "civic-records",
                t.volunteering,
                when(&mut random),
                fields,
                &mut random,
            );
        }
        for _ in 0..u64::from(random.below(100) < 12) + u64::from(random.below(100) < 3) {
            let offence = random.below(4) as u16;
            let fields = vec![
                ("offence", FieldValue::Enum(offence)),
                ("fine", FieldValue::Dec(40.0 + random.below(160) as f64)),
            ];
            push(
                &mut events,
                "civic-records",
                t.ticket,
                when(&mut random),
                fields,
                &mut random,
            );
        }
        if random.below(1000) < 3 {
            let fields = vec![
                ("utility", FieldValue::Enum(random.below(5) as u16)),
                ("cost", FieldValue::Dec((300 + random.below(5000)) as f64)),
            ];
            push(
                &mut events,
                "utilities",
                t.damage,
                when(&mut random),
                fields,
                &mut random,
            );
        }
        if random.below(100) < 30 {
            for _ in 0..1 + random.below(3) {
                let stars = match profile {
                    Profile::Reliable => 4 + random.below(2),
                    Profile::Ordinary => 3 + random.below(3),
                    Profile::Stretched => 2 + random.below(4),
                    Profile::Defaulter => 1 + random.below(4),
                } as i64;
                let fields = vec![
                    ("stars", FieldValue::Int(stars)),
                    (
                        "counterparty",
                        FieldValue::Str(format!("shop-{}", random.below(5000)).into()),
                    ),
                ];
                push(
                    &mut events,
                    "marketplace",
                    t.rating,
                    when(&mut random),
                    fields,
                    &mut random,
                );
            }
        }
        events
    }

    /// The social graph as `relation.added` events from `social`: power-law degrees,
    /// communities, mutual friend, family and colleague ties (see `standing_graph::synthetic`),
    /// `mean_contacts` per person on average. Empty when the model has no relation kinds.
    pub fn relations(&self, mean_contacts: f64) -> Vec<(u32, u32, u8)> {
        if self.types.relation.is_none() || self.people < 2 {
            return Vec::new();
        }
        standing_graph::synthetic::relations(standing_graph::synthetic::Shape {
            subjects: self.people as u32,
            mean_entries: mean_contacts,
            local: 0.8,
            seed: self.seed,
        })
    }

    /// Relation `index` of [`Country::relations`] as an event.
    pub fn relation_event(&self, index: usize, relation: (u32, u32, u8)) -> Option<Event> {
        let added = self.types.relation?;
        let (a, b, kind) = relation;
        let mut random = self.random_for(index as u64, 3);
        let at = self.end.0 - random.below(SPAN as u64) as i64;
        Some(Event {
            source: "social".into(),
            id: format!("r-{index}").into(),
            subject: format!("p-{a}").into(),
            occurred_at: Timestamp(at),
            recorded_at: Timestamp(at),
            body: EventBody::Fact {
                event_type: added,
                fields: vec![
                    FieldValue::Str(format!("p-{b}").into()),
                    FieldValue::Enum(self.types.kinds[kind as usize]),
                    FieldValue::Dec(1.0),
                ]
                .into(),
            },
        })
    }

    /// One event of the live stream at `now`: a random person's new payment, rating, ticket,
    /// default or court record, with the rates of the history. `serial` makes its id unique.
    pub fn live_event(&self, random: &mut SplitMix, now: Timestamp, serial: u64) -> Event {
        let person = random.below(self.people.max(1));
        let mut events = self.person_events(person);
        let index = random.below(events.len().max(1) as u64) as usize;
        let mut event = events.swap_remove(index.min(events.len().saturating_sub(1)));
        event.id = format!("live-{}-{serial}", now.0).into();
        event.occurred_at = now;
        event.recorded_at = now;
        event
    }
}
