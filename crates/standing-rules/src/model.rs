//! A checked model: the compiled form the engine runs.

use crate::expr::{BoolExpr, NumberExpr};
use standing_core::{Category, Duration, EventTypeId, FieldType, FieldValue, Timestamp, Verdict};

pub type RuleId = u16;
pub type ListId = u16;
pub type DimensionId = u16;

/// A checked model. Built only by [`crate::check_model`], so every reference in it resolves.
#[derive(Debug)]
pub struct Model {
    pub name: String,
    pub version: String,
    pub description: String,
    pub scale: Scale,
    pub network: Network,
    pub dimensions: Vec<Dimension>,
    pub event_types: Vec<EventType>,
    pub rules: Vec<Rule>,
    pub lists: Vec<List>,
    pub purposes: Vec<Purpose>,
    /// The sources that may send events, by name. Empty: the model declares none, and any
    /// source may send any event type.
    pub sources: Vec<Source>,
    /// How intake treats records under this model.
    pub intake: Intake,
    /// For each event type, the rules it triggers, in model order.
    pub rules_by_type: Vec<Vec<RuleId>>,
    /// For each event type, the rules whose contributions it ends (`until`).
    pub closers_by_type: Vec<Vec<RuleId>>,
    /// For each event type, the lists it enters or leaves.
    pub list_triggers_by_type: Vec<Vec<ListTrigger>>,
}

impl Model {
    /// `name@version`, the label stamped on every score and decision.
    pub fn version_label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    pub fn event_type_id(&self, name: &str) -> Option<EventTypeId> {
        self.event_types
            .iter()
            .position(|event_type| event_type.name == name)
            .map(|index| EventTypeId(index as u16))
    }

    pub fn event_type(&self, id: EventTypeId) -> &EventType {
        &self.event_types[id.0 as usize]
    }

    pub fn purpose(&self, name: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|purpose| purpose.name == name)
    }

    /// The declared source called `name`. Asked for every record of intake, over a few dozen
    /// sources at most: a scan that compares bytes only where the lengths agree costs a third of
    /// a binary search's ordered comparisons.
    pub fn source(&self, name: &str) -> Option<&Source> {
        let name = name.as_bytes();
        self.sources.iter().find(|source| {
            let candidate = source.name.as_bytes();
            candidate.len() == name.len() && candidate == name
        })
    }

    /// Whether the model declares `[sources]`: then intake refuses a record from an undeclared
    /// source, or of a type its source may not send.
    pub fn declares_sources(&self) -> bool {
        !self.sources.is_empty()
    }

    pub fn dimension_id(&self, name: &str) -> Option<DimensionId> {
        self.dimensions
            .iter()
            .position(|d| d.name == name)
            .map(|i| i as DimensionId)
    }
}

/// A source of events: the event types it may send. Every source may always retract its own
/// events (`retraction` is never listed).
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub name: String,
    pub description: String,
    /// The event types it may send, sorted, each once.
    pub types: Vec<EventTypeId>,
    /// By event type id: whether it may send that type.
    allowed: Vec<bool>,
}

impl Source {
    /// A source that may send `types` among a model's `type_count` event types.
    pub(crate) fn new(
        name: String,
        description: String,
        mut types: Vec<EventTypeId>,
        type_count: usize,
    ) -> Source {
        types.sort_unstable();
        types.dedup();
        let mut allowed = vec![false; type_count];
        for event_type in &types {
            if let Some(slot) = allowed.get_mut(event_type.0 as usize) {
                *slot = true;
            }
        }
        Source {
            name,
            description,
            types,
            allowed,
        }
    }

    /// Whether this source may send events of `event_type`.
    pub fn may_send(&self, event_type: EventTypeId) -> bool {
        self.allowed
            .get(event_type.0 as usize)
            .copied()
            .unwrap_or(false)
    }
}

/// How intake treats records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intake {
    /// How far an event's `occurred_at` may lie beyond the server's clock.
    pub future_skew: Duration,
}

impl Intake {
    /// `future_skew` when the model sets none: one hour.
    pub const DEFAULT_FUTURE_SKEW: Duration = Duration(3600);
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            future_skew: Intake::DEFAULT_FUTURE_SKEW,
        }
    }
}

/// How behaviour points become a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub base: f64,
    pub min: f64,
    pub max: f64,
    /// Best first; each grade holds scores at or above its `min` and below the previous grade's.
    pub grades: Vec<Grade>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grade {
    pub name: String,
    pub min: f64,
}

impl Scale {
    /// The index into `grades` of the grade a score falls in.
    pub fn grade_index(&self, score: f64) -> usize {
        self.grades
            .iter()
            .position(|grade| score >= grade.min)
            .unwrap_or(self.grades.len() - 1)
    }

    pub fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.min, self.max)
    }
}

/// The built-in event type that adds a relation (when the model declares relation kinds).
pub const RELATION_ADDED: &str = "relation.added";
/// The built-in event type that removes a relation.
pub const RELATION_REMOVED: &str = "relation.removed";

/// The social-graph part of the score: `f(s) = (1 − α)·b(s) + α·Σ w·f(u) / Σ w` over the
/// subject's contacts; `alpha` 0 leaves scores to behaviour alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub alpha: f64,
    /// Every served network score is within `epsilon` points of the exact fixed point.
    pub epsilon: f64,
    /// Row entries one change may visit before the rest of its work is deferred.
    pub push_budget: u64,
    /// Relation kinds, in declaration (name) order; an event's `kind` is an index into them.
    pub kinds: Vec<RelationKind>,
    /// The built-in relation event types, when kinds are declared.
    pub added: Option<EventTypeId>,
    pub removed: Option<EventTypeId>,
}

impl Network {
    /// Whether contacts' scores move scores at all.
    pub fn is_active(&self) -> bool {
        self.alpha > 0.0 && !self.kinds.is_empty()
    }
}

/// The weights a relation can have (its kind's weight times its event's `weight`): what the
/// graph stores, in steps of 1/1024 up to 16383/1024, just under 16.
pub const RELATION_WEIGHTS: std::ops::RangeInclusive<f64> = (1.0 / 1024.0)..=(16383.0 / 1024.0);

/// A kind of relation between two subjects.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationKind {
    pub name: String,
    pub weight: f64,
    /// Each endpoint's score depends on the other's; otherwise only the declaring subject's
    /// score depends on the other's.
    pub mutual: bool,
}

/// The slots of the built-in relation event types' fields.
pub mod relation_fields {
    pub const OTHER: usize = 0;
    pub const KIND: usize = 1;
    pub const WEIGHT: usize = 2;
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dimension {
    pub name: String,
    pub description: String,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventType {
    pub name: String,
    pub description: String,
    pub category: Category,
    /// Declared fields in slot order.
    pub fields: Vec<Field>,
    /// How long events of this type are kept: a purge removes them from the log once they
    /// occurred longer ago than this. `None`: kept.
    pub retention: Option<Duration>,
}

impl EventType {
    pub fn field_slot(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// The value of an absent field; `None`: the field is required.
    pub default: Option<FieldValue>,
    /// The values an integer or decimal field may take; `None`: any its type holds.
    pub range: Option<FieldRange>,
}

/// The values a number field may take, both ends included. An end the model leaves open is
/// `i64::MIN` / `i64::MAX` or minus / plus infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldRange {
    Integer { min: i64, max: i64 },
    Decimal { min: f64, max: f64 },
}

impl FieldRange {
    /// Whether `value` lies in the range. A value of another type does not (a decimal range
    /// also takes an integer value by its number); NaN lies in no range.
    pub fn contains(&self, value: &FieldValue) -> bool {
        match (*self, value) {
            (FieldRange::Integer { min, max }, FieldValue::Int(value)) => {
                (min..=max).contains(value)
            }
            (FieldRange::Decimal { min, max }, FieldValue::Dec(value)) => {
                min <= *value && *value <= max
            }
            (FieldRange::Decimal { min, max }, FieldValue::Int(value)) => {
                let value = *value as f64;
                min <= value && value <= max
            }
            _ => false,
        }
    }
}

/// How a rule's points fade with the age of the event.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Decay {
    pub half_life: Option<Duration>,
    pub expires_after: Option<Duration>,
}

impl Decay {
    /// The share of the awarded points that still counts `age` after the event; 0 before it.
    pub fn factor(&self, age: i64) -> f64 {
        if age < 0 {
            return 0.0;
        }
        if let Some(expiry) = self.expires_after
            && age >= expiry.0
        {
            return 0.0;
        }
        match self.half_life {
            Some(half_life) => (-(age as f64) / half_life.0 as f64).exp2(),
            None => 1.0,
        }
    }

    /// When the points stop counting altogether, if they do.
    pub fn expiry(&self, occurred_at: Timestamp) -> Option<Timestamp> {
        self.expires_after
            .map(|span| occurred_at.saturating_add(span))
    }
}

#[derive(Debug)]
pub struct Rule {
    pub code: String,
    pub description: String,
    pub event_type: EventTypeId,
    pub when: Option<BoolExpr>,
    pub points: NumberExpr,
    pub dimension: DimensionId,
    pub decay: Decay,
    /// Bounds on the sum of this rule's current points for one subject.
    pub min_total: f64,
    pub max_total: f64,
    pub reason: Template,
    pub until: Option<Until>,
}

/// A later event that ends a rule's contributions: a settlement ends a default's points.
#[derive(Clone, Debug, PartialEq)]
pub struct Until {
    pub event_type: EventTypeId,
    /// The field both events carry; the closing event ends contributions with an equal value.
    pub rule_slot: usize,
    pub closer_slot: usize,
    pub field: String,
}

#[derive(Debug)]
pub struct List {
    pub name: String,
    pub description: String,
    pub enter: Trigger,
    pub leave: Option<Trigger>,
    /// The field that ties a leaving event to its entry (a case number); without it, a leaving
    /// event ends every entry.
    pub match_field: Option<String>,
    pub max_duration: Duration,
}

#[derive(Debug)]
pub struct Trigger {
    pub event_type: EventTypeId,
    pub when: Option<BoolExpr>,
    /// The slot of the list's match field in this event type.
    pub match_slot: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListTrigger {
    pub list: ListId,
    pub enters: bool,
}

/// A consumer's purpose: what it may read and when it is refused.
#[derive(Debug)]
pub struct Purpose {
    pub name: String,
    pub description: String,
    /// What the purpose may read: `score`, `grade`, `dimension.NAME`, `list.NAME`.
    pub reads: Vec<String>,
    pub deny: Vec<PolicyRule>,
    /// Whether the purpose ranks subjects by score.
    pub rank_by_score: bool,
    /// Why the purpose may process a subject's data at all, and so what the subject's consent
    /// decides.
    pub basis: Basis,
    /// Adverse decisions (deny) wait for a person's review before they are final.
    pub review_adverse: bool,
    /// The verdict for a subject with no record at all; `None`: the service answers that it
    /// does not know the subject (404).
    pub unknown: Option<Verdict>,
}

/// The legal basis of a purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Required by law (the reference given): consent is not asked and cannot be withdrawn.
    Law(String),
    /// The subject's consent: nothing without an opt-in, and withdrawal stops it at once.
    Consent,
    /// The operator's legitimate interest: processed unless the subject objects (opts out).
    LegitimateInterest,
}

impl Basis {
    pub fn name(&self) -> &'static str {
        match self {
            Basis::Law(_) => "law",
            Basis::Consent => "consent",
            Basis::LegitimateInterest => "legitimate_interest",
        }
    }
}

impl Purpose {
    pub fn may_read(&self, what: &str) -> bool {
        self.reads.iter().any(|read| read == what)
    }
}

#[derive(Debug)]
pub struct PolicyRule {
    pub code: String,
    pub when: BoolExpr,
    pub reason: String,
}

/// The values a policy sees, in slot order: score, grade, each dimension, each list.
pub fn policy_values(
    score: f64,
    grade: usize,
    dimensions: &[f64],
    listed: &[bool],
) -> Vec<FieldValue> {
    let mut values = Vec::with_capacity(2 + dimensions.len() + listed.len());
    values.push(FieldValue::Dec(score));
    values.push(FieldValue::Enum(grade as u16));
    values.extend(dimensions.iter().map(|points| FieldValue::Dec(*points)));
    values.extend(listed.iter().map(|listed| FieldValue::Bool(*listed)));
    values
}

/// A reason text with `{field}` placeholders, filled from the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Field { slot: usize, ty: FieldType },
}

impl Template {
    pub fn render(&self, values: &[FieldValue]) -> String {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(literal) => text.push_str(literal),
                TemplatePart::Field { slot, ty } => match (values.get(*slot), ty) {
                    (Some(FieldValue::Str(value)), _) => text.push_str(value),
                    (Some(FieldValue::Int(value)), _) => text.push_str(&value.to_string()),
                    (Some(FieldValue::Dec(value)), _) => text.push_str(&format_decimal(*value)),
                    (Some(FieldValue::Bool(value)), _) => {
                        text.push_str(if *value { "yes" } else { "no" })
                    }
                    (Some(FieldValue::Time(value)), _) => text.push_str(&value.date_string()),
                    (Some(FieldValue::Enum(index)), FieldType::Enum(names)) => {
                        text.push_str(names.get(*index as usize).map(|n| &**n).unwrap_or("?"))
                    }
                    _ => text.push('?'),
                },
            }
        }
        text
    }
}

fn format_decimal(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
