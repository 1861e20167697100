//! Events: one fact about one subject from one source, typed against a model.

use crate::Timestamp;
use std::fmt;

/// The index of an event type in a model's `event_types`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTypeId(pub u16);

/// What kind of data an event type carries. Protected categories have no variant: a model that
/// names one is refused before it can reach this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Financial,
    Contractual,
    Judicial,
    Civic,
    Platform,
    Relationship,
    Employment,
    Residence,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Financial,
        Category::Contractual,
        Category::Judicial,
        Category::Civic,
        Category::Platform,
        Category::Relationship,
        Category::Employment,
        Category::Residence,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Financial => "financial",
            Category::Contractual => "contractual",
            Category::Judicial => "judicial",
            Category::Civic => "civic",
            Category::Platform => "platform",
            Category::Relationship => "relationship",
            Category::Employment => "employment",
            Category::Residence => "residence",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|category| category.name() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The declared type of an event field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Integer,
    Decimal,
    Boolean,
    Timestamp,
    /// One of a closed set of names; the value stores the index.
    Enum(Box<[Box<str>]>),
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Enum(_) => "enum",
        }
    }
}

/// A field value that has been checked against its declared type.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Str(Box<str>),
    Int(i64),
    Dec(f64),
    Bool(bool),
    Time(Timestamp),
    /// The index of the value in the field's enum names.
    Enum(u16),
}

/// One fact about one subject from one source.
///
/// `id` is unique per `source`. `occurred_at` is when it happened in the world, `recorded_at`
/// when Standing learned of it; together they answer both "the score at T" and "the score as
/// known at T".
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub source: Box<str>,
    pub id: Box<str>,
    pub subject: Box<str>,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub body: EventBody,
}

/// What an event says.
#[derive(Clone, Debug, PartialEq)]
pub enum EventBody {
    /// A fact of a declared type; `fields` are in the type's declared order.
    Fact {
        event_type: EventTypeId,
        fields: Box<[FieldValue]>,
    },
    /// Withdraws an earlier event of the same source. Nothing is rewritten: the earlier event
    /// stops counting from the retraction's `recorded_at` on.
    Retraction {
        event_id: Box<str>,
        reason: Box<str>,
    },
    /// Not about anyone: how far Standing has taken an external stream (a Kafka topic's
    /// partition) — every record before offset `next` is in the log before this one. Written by
    /// Standing in the same durable commit as the events it carried, so a restart resumes where
    /// the log ends. Its `source` and `subject` are empty.
    Checkpoint {
        stream: Box<str>,
        partition: u32,
        next: u64,
    },
}

/// The type name of a checkpoint's wire record: `~` is outside every name a model declares.
pub const CHECKPOINT_TYPE: &str = "~checkpoint";

impl Event {
    /// A checkpoint of `stream`'s `partition` at `next`, recorded at `at`; its id names all
    /// three, so a checkpoint is written once.
    pub fn checkpoint(stream: &str, partition: u32, next: u64, at: crate::Timestamp) -> Event {
        Event {
            source: "".into(),
            id: format!("{stream}/{partition}@{next}").into(),
            subject: "".into(),
            occurred_at: at,
            recorded_at: at,
            body: EventBody::Checkpoint {
                stream: stream.into(),
                partition,
                next,
            },
        }
    }
}
