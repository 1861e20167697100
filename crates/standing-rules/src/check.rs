//! Reading a model file and checking it whole: every problem is reported at once, each with its
//! file, line and column; a model with any error is not built.

use crate::diagnostic::{Diagnostic, Severity, SourceMap};
use crate::expr::{self, ExprProblem, Member, Read, Variable, VariableKind};
use crate::model::*;
use crate::protected::{protected_category, protected_name, resembles_protected};
use serde::Deserialize;
use standing_core::{Category, Duration, EventTypeId, FieldType, FieldValue, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    model: Spanned<RawHeader>,
    scale: Spanned<RawScale>,
    #[serde(default)]
    network: Option<RawNetwork>,
    #[serde(default)]
    dimensions: Vec<RawDimension>,
    #[serde(default)]
    event_types: BTreeMap<Spanned<String>, RawEventType>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    lists: Vec<RawList>,
    #[serde(default)]
    purposes: Vec<RawPurpose>,
    /// The sources that may send events, and what each may send.
    #[serde(default)]
    sources: BTreeMap<Spanned<String>, RawSource>,
    #[serde(default)]
    intake: Option<RawIntake>,
    /// Compliance findings the operator accepts, each with its reason (see `check --profile`).
    #[serde(default)]
    accepted: Vec<RawAccepted>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccepted {
    /// The finding's code, e.g. `EU-NETWORK-SANCTION`.
    finding: Spanned<String>,
    /// What it is about: a purpose, list, event type or `type.field`.
    at: Spanned<String>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    description: String,
    types: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntake {
    /// How far into the future an event's `occurred_at` may lie (a duration).
    #[serde(default)]
    future_skew: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    base: f64,
    min: f64,
    max: f64,
    grades: Vec<Spanned<RawGrade>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    name: String,
    min: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    alpha: Spanned<f64>,
    epsilon: Option<Spanned<f64>>,
    push_budget: Option<Spanned<i64>>,
    #[serde(default)]
    kinds: BTreeMap<Spanned<String>, RawRelationKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelationKind {
    weight: Spanned<f64>,
    #[serde(default = "mutual_by_default")]
    mutual: bool,
}

fn mutual_by_default() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    lower: Spanned<f64>,
    upper: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventType {
    category: Spanned<String>,
    #[serde(default)]
    description: String,
    /// Field name → a type (`"integer"`, an array of enum names) or a table
    /// `{ type, min, max }`; read by the checker, which reports each bad one.
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// How long events of this type are kept (purged after).
    #[serde(default)]
    retention: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPoints {
    Int(i64),
    Float(f64),
    Expression(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    code: Spanned<String>,
    on: Spanned<String>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    points: Spanned<RawPoints>,
    dimension: Spanned<String>,
    #[serde(default)]
    half_life: Option<Spanned<String>>,
    #[serde(default)]
    expires_after: Option<Spanned<String>>,
    #[serde(default)]
    min_total: Option<f64>,
    #[serde(default)]
    max_total: Option<f64>,
    reason: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    until: Option<Spanned<RawUntil>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUntil {
    on: Spanned<String>,
    #[serde(rename = "match")]
    match_field: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    enter: Spanned<RawTrigger>,
    #[serde(default)]
    leave: Option<Spanned<RawTrigger>>,
    #[serde(default, rename = "match")]
    match_field: Option<Spanned<String>>,
    #[serde(default)]
    max_duration: Option<Spanned<String>>,
    /// The law, order or contract the list rests on.
    #[serde(default)]
    legal_basis: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    on: Spanned<String>,
    #[serde(default)]
    when: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPurpose {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    reads: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<RawPolicyRule>,
    #[serde(default)]
    rank_by: Option<Spanned<String>>,
    /// `law`, `consent` or `legitimate_interest` (the default).
    #[serde(default)]
    basis: Option<Spanned<String>>,
    /// The law or contract the purpose rests on; required when `basis = "law"`.
    #[serde(default)]
    legal_basis: Option<Spanned<String>>,
    /// `adverse`: deny decisions wait for a person's review.
    #[serde(default)]
    review: Option<Spanned<String>>,
    /// `allow` or `deny`: the verdict for a subject with no record at all.
    #[serde(default)]
    unknown: Option<Spanned<String>>,
    /// The event categories of the purpose's own context (`financial`, `judicial`, …): what it
    /// reads should come from these only.
    #[serde(default)]
    context: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyRule {
    code: Spanned<String>,
    when: Spanned<String>,
    reason: String,
}

/// The result of checking a model: the model when it has no error, and every diagnostic.
#[derive(Debug)]
pub struct Checked {
    pub model: Option<Model>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The largest model text `check_model` reads, in bytes (1 MiB): beyond it the text is refused
/// unread.
pub const MAX_MODEL_BYTES: usize = 1 << 20;

/// Reads and checks a model. `file` names it in diagnostics.
pub fn check_model(file: &str, text: &str) -> Checked {
    let map = SourceMap::new(file, text);
    if text.len() > MAX_MODEL_BYTES {
        return Checked {
            model: None,
            diagnostics: vec![map.diagnostic(
                Severity::Error,
                0,
                format!(
                    "the model is {} bytes; a model may be at most {MAX_MODEL_BYTES} bytes (1 MiB)",
                    text.len()
                ),
            )],
        };
    }
    let raw: RawModel = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let offset = error.span().map(|span| span.start).unwrap_or(0);
            let message = error.message().trim().to_owned();
            return Checked {
                model: None,
                diagnostics: vec![map.diagnostic(Severity::Error, offset, message)],
            };
        }
    };
    let mut checker = Checker {
        map,
        diagnostics: Vec::new(),
        field_offsets: BTreeMap::new(),
    };
    let model = checker.model(raw);
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|a| (a.line, a.column, a.severity));
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Checked {
        model: if failed { None } else { model },
        diagnostics,
    }
}

struct Checker<'a> {
    map: SourceMap<'a>,
    diagnostics: Vec<Diagnostic>,
    /// Where each declared field is named: (event type, field) → offset.
    field_offsets: BTreeMap<(String, String), usize>,
}

/// A source name: `[a-z0-9][a-z0-9._-]{0,63}` (it also ends up in metrics labels).
fn is_source_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-'
        })
}

/// A TOML value as a diagnostic shows it.
fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("\"{text}\""),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => format!("{number:?}"),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Datetime(_) => "a date-time".into(),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '_'
        })
}

const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
    "int",
    "double",
    "size",
    "string",
    "bool",
    "bytes",
    "list",
    "map",
    "type",
    "has",
];

impl Checker<'_> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.diagnostics
            .push(self.map.diagnostic(Severity::Error, offset, message));
    }

    fn warning(&mut self, offset: usize, message: impl Into<String>) {
        self.diagnostics
            .push(self.map.diagnostic(Severity::Warning, offset, message));
    }

    fn duration(&mut self, raw: &Spanned<String>) -> Option<Duration> {
        match Duration::parse(raw.get_ref()) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.error(raw.span().start, error.to_string());
                None
            }
        }
    }

    fn expression_problems(&mut self, raw: &Spanned<String>, problems: Vec<ExprProblem>) {
        for problem in problems {
            let offset = self.map.offset_in_string(raw.span().start, problem.offset);
            self.error(offset, problem.message);
        }
    }

    fn read_offset(&self, raw: &Spanned<String>, read: &Read) -> usize {
        self.map.offset_in_string(raw.span().start, read.offset)
    }

    fn model(&mut self, raw: RawModel) -> Option<Model> {
        let scale = self.scale(&raw.scale);
        let mut network = self.network(raw.network.as_ref());
        let header_at = raw.model.span().start;
        let header = raw.model.get_ref();
        if header.name.get_ref().trim().is_empty() {
            self.error(header.name.span().start, "the model needs a name");
        }
        if header.version.get_ref().trim().is_empty() {
            self.error(header.version.span().start, "the model needs a version");
        }
        let intake = self.intake(raw.intake.as_ref());

        for event_type in raw.event_types.values() {
            if let Some(retention) = &event_type.retention {
                self.duration(retention);
            }
        }
        for purpose in &raw.purposes {
            for category in purpose.context.iter().flat_map(|c| c.get_ref()) {
                if Category::from_name(category.get_ref()).is_none() {
                    self.error(
                        category.span().start,
                        format!("`{}` is not an event category", category.get_ref()),
                    );
                }
            }
        }
        let dimensions = self.dimensions(&raw.dimensions);
        let mut event_types = self.event_types(&raw.event_types);
        self.relation_types(
            &mut network,
            &mut event_types,
            &raw.event_types,
            raw.network.as_ref(),
        );
        let sources = self.sources(&raw.sources, &raw.event_types, &event_types, header_at);
        let rules = self.rules(&raw.rules, &event_types, &dimensions);
        let lists = self.lists(&raw.lists, &event_types);
        let purposes = self.purposes(&raw.purposes, scale.as_ref(), &dimensions, &lists);
        // Entries, events and grades keep these indices in 16 bits.
        for (count, what) in [
            (
                event_types.len(),
                "event types (the built-in relation types count)",
            ),
            (rules.len(), "rules"),
            (lists.len(), "lists"),
            (raw.scale.get_ref().grades.len(), "grades"),
        ] {
            if count > u16::MAX as usize {
                self.error(0, format!("a model may declare at most 65535 {what}"));
            }
        }
        let scale = scale?;

        let type_count = event_types.len();
        let mut rules_by_type = vec![Vec::new(); type_count];
        let mut closers_by_type = vec![Vec::new(); type_count];
        for (index, rule) in rules.iter().enumerate() {
            rules_by_type[rule.event_type.0 as usize].push(index as RuleId);
            if let Some(until) = &rule.until {
                closers_by_type[until.event_type.0 as usize].push(index as RuleId);
            }
        }
        let mut list_triggers_by_type = vec![Vec::new(); type_count];
        for (index, list) in lists.iter().enumerate() {
            list_triggers_by_type[list.enter.event_type.0 as usize].push(ListTrigger {
                list: index as ListId,
                enters: true,
            });
            if let Some(leave) = &list.leave {
                list_triggers_by_type[leave.event_type.0 as usize].push(ListTrigger {
                    list: index as ListId,
                    enters: false,
                });
            }
        }
        let header = raw.model.into_inner();
        Some(Model {
            name: header.name.into_inner(),
            version: header.version.into_inner(),
            description: header.description,
            scale,
            network,
            dimensions,
            event_types,
            rules,
            lists,
            purposes,
            sources,
            intake,
            rules_by_type,
            closers_by_type,
            list_triggers_by_type,
        })
    }

    fn scale(&mut self, raw: &Spanned<RawScale>) -> Option<Scale> {
        let at = raw.span().start;
        let scale = raw.get_ref();
        let mut ok = true;
        if scale.min.partial_cmp(&scale.max) != Some(std::cmp::Ordering::Less) {
            self.error(
                at,
                format!(
                    "the scale's min ({}) must be below its max ({})",
                    scale.min, scale.max
                ),
            );
            ok = false;
        }
        if !(scale.min..=scale.max).contains(&scale.base) {
            self.error(
                at,
                format!(
                    "the base ({}) must lie within the scale [{}, {}]",
                    scale.base, scale.min, scale.max
                ),
            );
            ok = false;
        }
        if scale.grades.is_empty() {
            self.error(at, "the scale needs at least one grade");
            return None;
        }
        let mut names = BTreeSet::new();
        for pair in scale.grades.windows(2) {
            if pair[1].get_ref().min >= pair[0].get_ref().min {
                self.error(
                    pair[1].span().start,
                    format!(
                        "grades are listed best first: `{}` (min {}) must have a lower min than `{}` (min {})",
                        pair[1].get_ref().name, pair[1].get_ref().min, pair[0].get_ref().name, pair[0].get_ref().min
                    ),
                );
                ok = false;
            }
        }
        for grade in &scale.grades {
            if !names.insert(grade.get_ref().name.clone()) {
                self.error(
                    grade.span().start,
                    format!("grade `{}` is declared twice", grade.get_ref().name),
                );
                ok = false;
            }
        }
        for grade in &scale.grades {
            if grade.get_ref().min > scale.max {
                self.error(
                    grade.span().start,
                    format!("grade `{}` starts at {}, above the scale's max ({}): no score can reach it", grade.get_ref().name, grade.get_ref().min, scale.max),
                );
                ok = false;
            }
        }
        let lowest = scale.grades.last().map(|g| g.get_ref().min).unwrap_or(0.0);
        if lowest > scale.min {
            self.error(
                scale.grades[scale.grades.len() - 1].span().start,
                format!("the lowest grade starts at {lowest}, so scores from {} up to it would have no grade; set its min to {}", scale.min, scale.min),
            );
            ok = false;
        }
        ok.then(|| Scale {
            base: scale.base,
            min: scale.min,
            max: scale.max,
            grades: scale
                .grades
                .iter()
                .map(|g| Grade {
                    name: g.get_ref().name.clone(),
                    min: g.get_ref().min,
                })
                .collect(),
        })
    }

    fn dimensions(&mut self, raw: &[RawDimension]) -> Vec<Dimension> {
        let mut dimensions: Vec<Dimension> = Vec::new();
        for dimension in raw {
            let name = dimension.name.get_ref();
            if !is_identifier(name) {
                self.error(
                    dimension.name.span().start,
                    format!("dimension name `{name}` must be lowercase letters, digits and `_`"),
                );
            }
            if dimensions.iter().any(|d| &d.name == name) {
                self.error(
                    dimension.name.span().start,
                    format!("dimension `{name}` is declared twice"),
                );
                continue;
            }
            let lower = *dimension.lower.get_ref();
            if !(lower <= 0.0 && 0.0 <= dimension.upper) {
                self.error(
                    dimension.lower.span().start,
                    format!("dimension `{name}` caps must satisfy lower <= 0 <= upper, not [{lower}, {}]", dimension.upper),
                );
            }
            dimensions.push(Dimension {
                name: name.clone(),
                description: dimension.description.clone(),
                lower,
                upper: dimension.upper,
            });
        }
        if dimensions.is_empty() {
            self.error(0, "the model needs at least one [[dimensions]] entry");
        }
        dimensions
    }

    fn network(&mut self, raw: Option<&RawNetwork>) -> Network {
        let mut network = Network {
            alpha: 0.0,
            epsilon: 0.01,
            push_budget: 2_000_000,
            kinds: Vec::new(),
            added: None,
            removed: None,
        };
        let Some(raw) = raw else {
            return network;
        };
        let alpha = *raw.alpha.get_ref();
        if !(0.0..1.0).contains(&alpha) {
            self.error(
                raw.alpha.span().start,
                format!("network alpha must be in [0, 1), not {alpha}"),
            );
        }
        network.alpha = alpha;
        if let Some(epsilon) = &raw.epsilon {
            let value = *epsilon.get_ref();
            // Below 1e-6 points the stopping rule would chase floating-point noise.
            if !(value >= 1e-6 && value.is_finite()) {
                self.error(
                    epsilon.span().start,
                    format!("network epsilon must be at least 0.000001 points, not {value}"),
                );
            }
            network.epsilon = value;
        }
        if let Some(budget) = &raw.push_budget {
            let value = *budget.get_ref();
            if value < 1 {
                self.error(
                    budget.span().start,
                    format!("network push_budget must be at least 1, not {value}"),
                );
            }
            network.push_budget = value.max(1) as u64;
        }
        for (name, kind) in &raw.kinds {
            let at = name.span().start;
            if !is_slug(name.get_ref()) {
                self.error(
                    at,
                    format!(
                        "relation kind `{}` must be lowercase letters, digits, `.`, `-` and `_`",
                        name.get_ref()
                    ),
                );
            }
            if let Some(protected) = protected_name(name.get_ref()) {
                self.error(
                    at,
                    format!(
                        "relation kind `{}` stands for {} — a protected category ({}); Standing refuses to score it",
                        name.get_ref(),
                        protected.category,
                        protected.basis
                    ),
                );
            }
            let weight = *kind.weight.get_ref();
            if !RELATION_WEIGHTS.contains(&weight) {
                self.error(
                    kind.weight.span().start,
                    format!(
                        "a relation kind's weight must be between 1/1024 and 16383/1024 (just under 16), not {weight}"
                    ),
                );
            }
            network.kinds.push(RelationKind {
                name: name.get_ref().clone(),
                weight,
                mutual: kind.mutual,
            });
        }
        if network.kinds.len() > u16::MAX as usize {
            self.error(0, "a model may declare at most 65535 relation kinds");
        }
        network
    }

    /// Declares the built-in relation event types when the model has relation kinds.
    fn relation_types(
        &mut self,
        network: &mut Network,
        event_types: &mut Vec<EventType>,
        raw_types: &BTreeMap<Spanned<String>, RawEventType>,
        raw: Option<&RawNetwork>,
    ) {
        if !network.kinds.is_empty() {
            let mut clash = false;
            for name in raw_types.keys() {
                if [RELATION_ADDED, RELATION_REMOVED].contains(&name.get_ref().as_str()) {
                    self.error(
                        name.span().start,
                        format!(
                            "`{}` is built in when [network.kinds] are declared (fields `other`, `kind`, optional `weight`); remove this declaration",
                            name.get_ref()
                        ),
                    );
                    clash = true;
                }
            }
            if clash {
                return;
            }
        }
        if network.kinds.is_empty() {
            if network.alpha > 0.0
                && let Some(raw) = raw
            {
                self.error(
                    raw.alpha.span().start,
                    "network alpha is above 0 but no relation kinds are declared under [network.kinds]",
                );
            }
            return;
        }
        let kinds: Box<[Box<str>]> = network
            .kinds
            .iter()
            .map(|k| k.name.as_str().into())
            .collect();
        let fields = vec![
            Field {
                name: "other".into(),
                ty: FieldType::String,
                default: None,
                range: None,
            },
            Field {
                name: "kind".into(),
                ty: FieldType::Enum(kinds),
                default: None,
                range: None,
            },
            Field {
                name: "weight".into(),
                ty: FieldType::Decimal,
                default: Some(FieldValue::Dec(1.0)),
                range: None,
            },
        ];
        for (name, description) in [
            (
                RELATION_ADDED,
                "A relation to another subject begins (built in).",
            ),
            (
                RELATION_REMOVED,
                "A relation to another subject ends (built in).",
            ),
        ] {
            let id = EventTypeId(event_types.len() as u16);
            event_types.push(EventType {
                name: name.into(),
                description: description.into(),
                category: Category::Relationship,
                fields: fields.clone(),
                retention: None,
            });
            if name == RELATION_ADDED {
                network.added = Some(id);
            } else {
                network.removed = Some(id);
            }
        }
    }

    fn event_types(&mut self, raw: &BTreeMap<Spanned<String>, RawEventType>) -> Vec<EventType> {
        let mut event_types = Vec::new();
        for (name, event_type) in raw {
            let at = name.span().start;
            if name.get_ref() == "retraction" {
                self.error(
                    at,
                    "`retraction` is built in: an event of that type withdraws an earlier one",
                );
            }
            if !is_slug(name.get_ref()) {
                self.error(
                    at,
                    format!(
                        "event type `{}` must be lowercase letters, digits, `.`, `-` and `_`",
                        name.get_ref()
                    ),
                );
            }
            let category_name = event_type.category.get_ref();
            let category = match Category::from_name(category_name) {
                Some(category) => category,
                None => {
                    let at = event_type.category.span().start;
                    match protected_category(category_name) {
                        Some(protected) => self.error(
                            at,
                            format!(
                                "category `{category_name}` is {} — a protected category ({}); Standing refuses to score it",
                                protected.category, protected.basis
                            ),
                        ),
                        None => {
                            let known: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
                            self.error(at, format!("unknown category `{category_name}`; categories: {}", known.join(", ")))
                        }
                    }
                    Category::Financial
                }
            };
            let mut fields = Vec::new();
            for (field_name, field_type) in &event_type.fields {
                let at = field_name.span().start;
                let field = field_name.get_ref();
                if !is_identifier(field) || CEL_RESERVED.contains(&field.as_str()) {
                    self.error(at, format!("field name `{field}` must be a lowercase identifier that is not a CEL reserved word"));
                }
                self.field_offsets
                    .insert((name.get_ref().clone(), field.clone()), at);
                let Some((ty, range)) = self.field_type(field, field_type) else {
                    continue;
                };
                let declared = Field {
                    default: None,
                    name: field.clone(),
                    ty,
                    range,
                };
                if let Some((protected, what)) = Self::protected_field(&declared) {
                    // Declared data is collected data, even when no rule reads it.
                    self.warning(
                        at,
                        format!("event type `{}` declares {what}, which stands for {}; drop it: Standing never scores it", name.get_ref(), protected.category),
                    );
                } else if let Some((resemblance, what)) = Self::resembling_field(&declared) {
                    self.warning(
                        at,
                        format!(
                            "{what} resembles `{}` ({}): if it is, the model may not read it",
                            resemblance.term, resemblance.protected.category
                        ),
                    );
                }
                fields.push(declared);
            }
            // (A bad duration was reported before the event types were read.)
            let retention = event_type
                .retention
                .as_ref()
                .and_then(|r| Duration::parse(r.get_ref()).ok());
            event_types.push(EventType {
                name: name.get_ref().clone(),
                description: event_type.description.clone(),
                category,
                fields,
                retention,
            });
        }
        event_types
    }

    /// The type and range of a field declared as a type name, an enum's names, or a table
    /// `{ type, min, max }`; `None` (reported) when the declaration is unusable.
    fn field_type(
        &mut self,
        field: &str,
        raw: &Spanned<toml::Value>,
    ) -> Option<(FieldType, Option<FieldRange>)> {
        let at = raw.span().start;
        let (type_value, min, max) = match raw.get_ref() {
            toml::Value::Table(table) => {
                for key in table.keys() {
                    if key == "default" {
                        self.error(
                            at,
                            format!("field `{field}` has a `default`, but fields have none: every declared field is required on every event"),
                        );
                    } else if !["type", "min", "max"].contains(&key.as_str()) {
                        self.error(
                            at,
                            format!("field `{field}` has key `{key}`; a field's table takes `type`, `min` and `max`"),
                        );
                    }
                }
                let Some(type_value) = table.get("type") else {
                    self.error(at, format!("field `{field}` needs a `type`"));
                    return None;
                };
                (type_value, table.get("min"), table.get("max"))
            }
            other => (other, None, None),
        };
        let ty = match type_value {
            toml::Value::String(type_name) => match type_name.as_str() {
                "string" => FieldType::String,
                "integer" => FieldType::Integer,
                "decimal" => FieldType::Decimal,
                "boolean" => FieldType::Boolean,
                "timestamp" => FieldType::Timestamp,
                other => {
                    self.error(
                        at,
                        format!("unknown field type `{other}`; types: string, integer, decimal, boolean, timestamp, or an array of names for an enum"),
                    );
                    FieldType::String
                }
            },
            toml::Value::Array(items) => {
                let names: Vec<&str> = items.iter().filter_map(|item| item.as_str()).collect();
                if names.len() != items.len() {
                    self.error(at, "an enum's names must be strings");
                }
                let unique: BTreeSet<&str> = names.iter().copied().collect();
                if names.is_empty() || unique.len() != names.len() {
                    self.error(at, "an enum needs at least one name, each once");
                }
                if names.len() > u16::MAX as usize {
                    self.error(at, "an enum may have at most 65535 names");
                }
                FieldType::Enum(names.iter().map(|n| (*n).into()).collect())
            }
            other => {
                self.error(
                    at,
                    format!("field `{field}` has type {}; types: string, integer, decimal, boolean, timestamp, or an array of names for an enum", describe(other)),
                );
                return None;
            }
        };
        if min.is_none() && max.is_none() {
            return Some((ty, None));
        }
        let range = match ty {
            FieldType::Integer => {
                let mut bound = |value: Option<&toml::Value>, side: &str, open: i64| match value {
                    None => Some(open),
                    Some(toml::Value::Integer(value)) => Some(*value),
                    Some(other) => {
                        self.error(
                            at,
                            format!("integer field `{field}` needs a whole number as its `{side}`, not {}", describe(other)),
                        );
                        None
                    }
                };
                let (min, max) = (bound(min, "min", i64::MIN), bound(max, "max", i64::MAX));
                let (Some(min), Some(max)) = (min, max) else {
                    return Some((ty, None));
                };
                if min > max {
                    self.error(
                        at,
                        format!("field `{field}`: min ({min}) exceeds max ({max})"),
                    );
                    return Some((ty, None));
                }
                FieldRange::Integer { min, max }
            }
            FieldType::Decimal => {
                let mut bound = |value: Option<&toml::Value>, side: &str, open: f64| {
                    let number = match value {
                        None => return Some(open),
                        Some(toml::Value::Integer(value)) => *value as f64,
                        Some(toml::Value::Float(value)) => *value,
                        Some(other) => {
                            self.error(
                                at,
                                format!("decimal field `{field}` needs a number as its `{side}`, not {}", describe(other)),
                            );
                            return None;
                        }
                    };
                    if number.is_nan() {
                        self.error(
                            at,
                            format!(
                                "decimal field `{field}` needs a number as its `{side}`, not nan"
                            ),
                        );
                        return None;
                    }
                    Some(number)
                };
                let (min, max) = (
                    bound(min, "min", f64::NEG_INFINITY),
                    bound(max, "max", f64::INFINITY),
                );
                let (Some(min), Some(max)) = (min, max) else {
                    return Some((ty, None));
                };
                if min > max {
                    self.error(
                        at,
                        format!("field `{field}`: min ({min}) exceeds max ({max})"),
                    );
                    return Some((ty, None));
                }
                FieldRange::Decimal { min, max }
            }
            ref other => {
                self.error(
                    at,
                    format!(
                        "field `{field}` is a {}: only integer and decimal fields take a range (`min`, `max`)",
                        other.name()
                    ),
                );
                return Some((ty, None));
            }
        };
        Some((ty, Some(range)))
    }

    /// A protected term a field's name or enum values resemble, when they stand for none.
    fn resembling_field(field: &Field) -> Option<(crate::protected::Resemblance, String)> {
        Self::field_names_match(field, resembles_protected)
    }

    /// The first of a field's name and enum values that `test` finds something in, with what
    /// it found and where.
    fn field_names_match<T>(
        field: &Field,
        test: impl Fn(&str) -> Option<T>,
    ) -> Option<(T, String)> {
        if let Some(found) = test(&field.name) {
            return Some((found, format!("field `{}`", field.name)));
        }
        if let FieldType::Enum(names) = &field.ty {
            for name in names.iter() {
                if let Some(found) = test(name) {
                    return Some((
                        found,
                        format!("field `{}` (its value `{name}`)", field.name),
                    ));
                }
            }
        }
        None
    }

    fn intake(&mut self, raw: Option<&RawIntake>) -> Intake {
        let mut intake = Intake::default();
        if let Some(skew) = raw.and_then(|raw| raw.future_skew.as_ref()) {
            let text = skew.get_ref().trim();
            let digits = text.trim_start_matches(|c: char| c.is_ascii_digit());
            let number = &text[..text.len() - digits.len()];
            if text.starts_with('-') || (!number.is_empty() && number.bytes().all(|b| b == b'0')) {
                self.error(
                    skew.span().start,
                    format!("`future_skew` must be a positive duration, not `{text}`"),
                );
            } else if let Some(duration) = self.duration(skew) {
                intake.future_skew = duration;
            }
        }
        intake
    }

    /// The declared sources, by name; each listed type resolved against the model's types.
    fn sources(
        &mut self,
        raw: &BTreeMap<Spanned<String>, RawSource>,
        raw_types: &BTreeMap<Spanned<String>, RawEventType>,
        event_types: &[EventType],
        header_at: usize,
    ) -> Vec<Source> {
        if raw.is_empty() {
            self.warning(
                header_at,
                "the model declares no sources: any source may send any event type",
            );
            return Vec::new();
        }
        let mut sources = Vec::new();
        for (name, source) in raw {
            if !is_source_name(name.get_ref()) {
                self.error(
                    name.span().start,
                    format!(
                        "source name `{}` must match [a-z0-9][a-z0-9._-]{{0,63}}: lowercase letters, digits, `.`, `_` and `-`, at most 64, starting with a letter or digit",
                        name.get_ref()
                    ),
                );
            }
            let mut types = Vec::new();
            for listed in &source.types {
                let type_name = listed.get_ref();
                if type_name == "retraction" {
                    self.error(
                        listed.span().start,
                        format!("source `{}` lists `retraction`, which is never listed: every source may always retract its own events", name.get_ref()),
                    );
                    continue;
                }
                let Some(index) = event_types.iter().position(|t| &t.name == type_name) else {
                    let known: Vec<&str> = event_types.iter().map(|t| t.name.as_str()).collect();
                    let hint = if [RELATION_ADDED, RELATION_REMOVED].contains(&type_name.as_str()) {
                        " (`relation.added` and `relation.removed` are built in only when [network.kinds] are declared)"
                    } else {
                        ""
                    };
                    self.error(
                        listed.span().start,
                        format!(
                            "source `{}` lists unknown event type `{type_name}`{hint}; declared: {}",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    );
                    continue;
                };
                let id = EventTypeId(index as u16);
                if types.contains(&id) {
                    self.warning(
                        listed.span().start,
                        format!("source `{}` lists `{type_name}` twice", name.get_ref()),
                    );
                }
                types.push(id);
            }
            sources.push(Source::new(
                name.get_ref().clone(),
                source.description.clone(),
                types,
                event_types.len(),
            ));
        }
        for type_name in raw_types.keys() {
            let Some(index) = event_types
                .iter()
                .position(|t| &t.name == type_name.get_ref())
            else {
                continue;
            };
            let id = EventTypeId(index as u16);
            if !sources.iter().any(|source| source.may_send(id)) {
                self.warning(
                    type_name.span().start,
                    format!(
                        "no source may send `{}`: intake refuses every event of it; list it under a [sources.NAME]",
                        type_name.get_ref()
                    ),
                );
            }
        }
        sources
    }

    /// The protected category a field stands for, by its name or its enum values.
    fn protected_field(field: &Field) -> Option<(crate::protected::Protected, String)> {
        Self::field_names_match(field, protected_name)
    }

    /// Refuses reads of fields that stand for a protected category.
    fn check_reads(
        &mut self,
        raw: &Spanned<String>,
        reads: &[Read],
        event_type: &EventType,
        who: &str,
    ) {
        for read in reads {
            let Some(field) = event_type.fields.iter().find(|f| f.name == read.name) else {
                continue;
            };
            if let Some((protected, what)) = Self::protected_field(field) {
                let offset = self.read_offset(raw, read);
                self.error(
                    offset,
                    format!(
                        "{who} reads {what}, which stands for {} — a protected category ({}); Standing refuses to score it",
                        protected.category, protected.basis
                    ),
                );
            }
        }
    }

    /// Warns of number fields a rule's points read without a declared range.
    fn unbounded_reads(&mut self, reads: &[Read], event_type: &EventType, code: &str) {
        let names: BTreeSet<&str> = reads.iter().map(|read| read.name.as_str()).collect();
        for name in names {
            let Some(field) = event_type.fields.iter().find(|f| f.name == name) else {
                continue;
            };
            if !matches!(field.ty, FieldType::Integer | FieldType::Decimal) || field.range.is_some()
            {
                continue;
            }
            let Some(&offset) = self
                .field_offsets
                .get(&(event_type.name.clone(), field.name.clone()))
            else {
                continue;
            };
            self.warning(
                offset,
                format!(
                    "field `{name}` declares no range: a value near the limits overflows rule `{code}`, which then awards nothing; declare `min` and `max` and intake refuses such values"
                ),
            );
        }
    }

    fn field_variables(event_type: &EventType) -> Vec<Variable> {
        event_type
            .fields
            .iter()
            .enumerate()
            .map(|(slot, field)| Variable {
                name: field.name.clone(),
                kind: VariableKind::Value {
                    ty: field.ty.clone(),
                    slot,
                    read: field.name.clone(),
                },
            })
            .collect()
    }

    fn lookup_type(
        &mut self,
        raw: &Spanned<String>,
        event_types: &[EventType],
    ) -> Option<EventTypeId> {
        let name = raw.get_ref();
        match event_types.iter().position(|t| &t.name == name) {
            Some(index) => Some(EventTypeId(index as u16)),
            None => {
                let known: Vec<&str> = event_types.iter().map(|t| t.name.as_str()).collect();
                self.error(
                    raw.span().start,
                    format!(
                        "unknown event type `{name}`; declared: {}",
                        known.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn condition(
        &mut self,
        raw: &Spanned<String>,
        variables: &[Variable],
    ) -> Option<expr::Compiled<expr::BoolExpr>> {
        match expr::compile_condition(raw.get_ref(), variables) {
            Ok(compiled) => Some(compiled),
            Err(problems) => {
                self.expression_problems(raw, problems);
                None
            }
        }
    }

    fn template(&mut self, raw: &Spanned<String>, event_type: &EventType) -> Template {
        let text = raw.get_ref();
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        let mut consumed = 0;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TemplatePart::Text(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                let offset = self
                    .map
                    .offset_in_string(raw.span().start, text[..consumed + open].chars().count());
                self.error(offset, "`{` opens a placeholder that is never closed");
                return Template { parts };
            };
            let name = &rest[open + 1..open + close];
            match event_type.field_slot(name) {
                Some(slot) => parts.push(TemplatePart::Field {
                    slot,
                    ty: event_type.fields[slot].ty.clone(),
                }),
                None => {
                    let offset = self.map.offset_in_string(
                        raw.span().start,
                        text[..consumed + open].chars().count(),
                    );
                    let known: Vec<&str> =
                        event_type.fields.iter().map(|f| f.name.as_str()).collect();
                    self.error(
                        offset,
                        format!(
                            "placeholder `{{{name}}}` names no field of `{}`; fields: {}",
                            event_type.name,
                            known.join(", ")
                        ),
                    );
                }
            }
            consumed += open + close + 1;
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_owned()));
        }
        Template { parts }
    }

    fn rules(
        &mut self,
        raw: &[RawRule],
        event_types: &[EventType],
        dimensions: &[Dimension],
    ) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut codes = BTreeSet::new();
        for rule in raw {
            let code = rule.code.get_ref();
            if !is_code(code) {
                self.error(rule.code.span().start, format!("reason code `{code}` must be upper case letters, digits and `_`, starting with a letter"));
            }
            if !codes.insert(code.clone()) {
                self.error(rule.code.span().start, format!("reason code `{code}` is used by another rule; codes are stable identifiers and must be unique"));
            }
            let event_type_id = self.lookup_type(&rule.on, event_types);
            let dimension = match dimensions
                .iter()
                .position(|d| &d.name == rule.dimension.get_ref())
            {
                Some(index) => Some(index as DimensionId),
                None => {
                    let known: Vec<&str> = dimensions.iter().map(|d| d.name.as_str()).collect();
                    self.error(
                        rule.dimension.span().start,
                        format!(
                            "unknown dimension `{}`; declared: {}",
                            rule.dimension.get_ref(),
                            known.join(", ")
                        ),
                    );
                    None
                }
            };
            let half_life = rule.half_life.as_ref().and_then(|raw| self.duration(raw));
            let expires_after = rule
                .expires_after
                .as_ref()
                .and_then(|raw| self.duration(raw));
            let (min_total, max_total) = (
                rule.min_total.unwrap_or(f64::NEG_INFINITY),
                rule.max_total.unwrap_or(f64::INFINITY),
            );
            if min_total > max_total {
                self.error(
                    rule.code.span().start,
                    format!(
                        "rule `{code}`: min_total ({min_total}) exceeds max_total ({max_total})"
                    ),
                );
            }
            let Some(event_type_id) = event_type_id else {
                continue;
            };
            let event_type = &event_types[event_type_id.0 as usize];
            // Data past its type's retention stops counting, purged or not.
            let expires_after = match (expires_after, event_type.retention) {
                (Some(rule), Some(kept)) => Some(Duration(rule.0.min(kept.0))),
                (rule, kept) => rule.or(kept),
            };
            let variables = Self::field_variables(event_type);
            let who = format!("rule `{code}`");

            let when = match &rule.when {
                Some(raw_when) => match self.condition(raw_when, &variables) {
                    Some(compiled) => {
                        self.check_reads(raw_when, &compiled.reads, event_type, &who);
                        Some(compiled.expr)
                    }
                    None => None,
                },
                None => None,
            };
            let points_source = Spanned::new(
                rule.points.span(),
                match rule.points.get_ref() {
                    RawPoints::Int(value) => value.to_string(),
                    RawPoints::Float(value) => format!("{value:?}"),
                    RawPoints::Expression(text) => text.clone(),
                },
            );
            let points = match expr::compile_number(points_source.get_ref(), &variables) {
                Ok(compiled) => {
                    if matches!(rule.points.get_ref(), RawPoints::Expression(_)) {
                        self.check_reads(&points_source, &compiled.reads, event_type, &who);
                        self.unbounded_reads(&compiled.reads, event_type, code);
                    }
                    Some(compiled.expr)
                }
                Err(problems) => {
                    if matches!(rule.points.get_ref(), RawPoints::Expression(_)) {
                        self.expression_problems(&points_source, problems);
                    } else {
                        self.error(
                            rule.points.span().start,
                            "points must be a number or a CEL expression",
                        );
                    }
                    None
                }
            };
            let reason = self.template(&rule.reason, event_type);
            for part in &reason.parts {
                if let TemplatePart::Field { slot, .. } = part
                    && let Some((protected, what)) =
                        Self::protected_field(&event_type.fields[*slot])
                {
                    self.error(rule.reason.span().start, format!("{who}'s reason shows {what}, which stands for {} — a protected category ({})", protected.category, protected.basis));
                }
            }
            let until = rule.until.as_ref().and_then(|raw_until| {
                let until = raw_until.get_ref();
                let closer_id = self.lookup_type(&until.on, event_types)?;
                if closer_id == event_type_id {
                    self.error(
                        until.on.span().start,
                        format!("`until.on` is the rule's own event type `{}`: each event would end its own points", event_type.name),
                    );
                    return None;
                }
                let closer = &event_types[closer_id.0 as usize];
                let field = until.match_field.get_ref();
                let (Some(rule_slot), Some(closer_slot)) =
                    (event_type.field_slot(field), closer.field_slot(field))
                else {
                    self.error(
                        until.match_field.span().start,
                        format!(
                            "`until.match` names `{field}`, which both `{}` and `{}` must declare",
                            event_type.name, closer.name
                        ),
                    );
                    return None;
                };
                if event_type.fields[rule_slot].ty != closer.fields[closer_slot].ty {
                    self.error(
                        until.match_field.span().start,
                        format!(
                            "`{field}` has different types in `{}` and `{}`",
                            event_type.name, closer.name
                        ),
                    );
                    return None;
                }
                if let Some(kept) = closer.retention
                    && event_type.retention.is_none_or(|opened| kept.0 < opened.0)
                {
                    self.error(
                        until.on.span().start,
                        format!(
                            "`{}` is kept {kept} but ends `{}` events kept {}: once purged, what it ended would count again; keep it at least as long",
                            closer.name,
                            event_type.name,
                            event_type.retention.map_or("for good".to_owned(), |d| d.to_string())
                        ),
                    );
                }
                Some(Until {
                    event_type: closer_id,
                    rule_slot,
                    closer_slot,
                    field: field.clone(),
                })
            });
            if rule.until.is_some() && until.is_none() {
                continue;
            }
            let (Some(points), Some(dimension)) = (points, dimension) else {
                continue;
            };
            if rule.when.is_some() && when.is_none() {
                continue;
            }
            rules.push(Rule {
                code: code.clone(),
                description: rule.description.clone(),
                event_type: event_type_id,
                when,
                points,
                dimension,
                decay: Decay {
                    half_life,
                    expires_after,
                },
                min_total,
                max_total,
                reason,
                until,
            });
        }
        rules
    }

    fn trigger(
        &mut self,
        raw: &Spanned<RawTrigger>,
        event_types: &[EventType],
        match_field: Option<&Spanned<String>>,
        list: &str,
    ) -> Option<Trigger> {
        let trigger = raw.get_ref();
        let event_type_id = self.lookup_type(&trigger.on, event_types)?;
        let event_type = &event_types[event_type_id.0 as usize];
        let variables = Self::field_variables(event_type);
        let when = match &trigger.when {
            Some(raw_when) => {
                let compiled = self.condition(raw_when, &variables)?;
                self.check_reads(
                    raw_when,
                    &compiled.reads,
                    event_type,
                    &format!("list `{list}`"),
                );
                Some(compiled.expr)
            }
            None => None,
        };
        let match_slot = match match_field {
            Some(field) => match event_type.field_slot(field.get_ref()) {
                Some(slot) => Some(slot),
                None => {
                    self.error(
                        field.span().start,
                        format!(
                            "list `{list}` matches on `{}`, which `{}` does not declare",
                            field.get_ref(),
                            event_type.name
                        ),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(Trigger {
            event_type: event_type_id,
            when,
            match_slot,
        })
    }

    fn lists(&mut self, raw: &[RawList], event_types: &[EventType]) -> Vec<List> {
        let mut lists: Vec<List> = Vec::new();
        for list in raw {
            let name = list.name.get_ref();
            if !is_slug(name) {
                self.error(
                    list.name.span().start,
                    format!(
                        "list name `{name}` must be lowercase letters, digits, `.`, `-` and `_`"
                    ),
                );
            }
            if lists.iter().any(|l| &l.name == name) {
                self.error(
                    list.name.span().start,
                    format!("list `{name}` is declared twice"),
                );
            }
            let max_duration = match &list.max_duration {
                Some(raw) => self.duration(raw),
                None => {
                    self.error(
                        list.name.span().start,
                        format!(
                            "list `{name}` needs a max_duration: nobody stays on a list forever"
                        ),
                    );
                    None
                }
            };
            let enter = self.trigger(&list.enter, event_types, list.match_field.as_ref(), name);
            let leave = list
                .leave
                .as_ref()
                .map(|raw| self.trigger(raw, event_types, list.match_field.as_ref(), name));
            let (Some(enter), Some(max_duration)) = (enter, max_duration) else {
                continue;
            };
            // An entry lapses when its entering event passes its retention, if that is sooner.
            let max_duration = match event_types[enter.event_type.0 as usize].retention {
                Some(kept) if kept.0 < max_duration.0 => kept,
                _ => max_duration,
            };
            let leave = match leave {
                Some(Some(leave)) => Some(leave),
                Some(None) => continue,
                None => None,
            };
            if let Some(leave) = &leave {
                let (entering, leaving) = (
                    &event_types[enter.event_type.0 as usize],
                    &event_types[leave.event_type.0 as usize],
                );
                if let Some(kept) = leaving.retention
                    && kept.0 < max_duration.0
                {
                    self.error(
                        list.name.span().start,
                        format!(
                            "list `{name}`: `{}` is kept {kept}, less than an entry by `{}` lasts ({max_duration}): once purged, the entry it ended would return",
                            leaving.name, entering.name
                        ),
                    );
                }
            }
            if let (Some(leave), Some(field)) = (&leave, &list.match_field) {
                let type_of = |trigger: &Trigger| {
                    trigger.match_slot.map(|slot| {
                        event_types[trigger.event_type.0 as usize].fields[slot]
                            .ty
                            .clone()
                    })
                };
                if type_of(&enter) != type_of(leave) {
                    self.error(
                        field.span().start,
                        format!("list `{name}` matches on `{}`, which has different types in its enter and leave events", field.get_ref()),
                    );
                    continue;
                }
            }
            lists.push(List {
                name: name.clone(),
                description: list.description.clone(),
                enter,
                leave,
                match_field: list.match_field.as_ref().map(|f| f.get_ref().clone()),
                max_duration,
            });
        }
        lists
    }

    fn policy_variables(
        scale: Option<&Scale>,
        dimensions: &[Dimension],
        lists: &[List],
    ) -> Vec<Variable> {
        let grades: Box<[Box<str>]> = scale
            .map(|s| s.grades.iter().map(|g| g.name.as_str().into()).collect())
            .unwrap_or_default();
        let mut variables = vec![
            Variable {
                name: "score".into(),
                kind: VariableKind::Value {
                    ty: FieldType::Decimal,
                    slot: 0,
                    read: "score".into(),
                },
            },
            Variable {
                name: "grade".into(),
                kind: VariableKind::Value {
                    ty: FieldType::Enum(grades),
                    slot: 1,
                    read: "grade".into(),
                },
            },
        ];
        let dimension_members = dimensions
            .iter()
            .enumerate()
            .map(|(index, d)| Member {
                name: d.name.clone(),
                ty: FieldType::Decimal,
                slot: 2 + index,
                read: format!("dimension.{}", d.name),
            })
            .collect();
        variables.push(Variable {
            name: "dimensions".into(),
            kind: VariableKind::Namespace {
                members: dimension_members,
            },
        });
        let list_members = lists
            .iter()
            .enumerate()
            .map(|(index, l)| Member {
                name: l.name.clone(),
                ty: FieldType::Boolean,
                slot: 2 + dimensions.len() + index,
                read: format!("list.{}", l.name),
            })
            .collect();
        variables.push(Variable {
            name: "lists".into(),
            kind: VariableKind::Set {
                members: list_members,
            },
        });
        variables
    }

    fn purposes(
        &mut self,
        raw: &[RawPurpose],
        scale: Option<&Scale>,
        dimensions: &[Dimension],
        lists: &[List],
    ) -> Vec<Purpose> {
        let variables = Self::policy_variables(scale, dimensions, lists);
        let mut purposes: Vec<Purpose> = Vec::new();
        for purpose in raw {
            let name = purpose.name.get_ref();
            if !is_slug(name) {
                self.error(
                    purpose.name.span().start,
                    format!(
                        "purpose name `{name}` must be lowercase letters, digits, `.`, `-` and `_`"
                    ),
                );
            }
            if purposes.iter().any(|p| &p.name == name) {
                self.error(
                    purpose.name.span().start,
                    format!("purpose `{name}` is declared twice"),
                );
            }
            let mut reads = Vec::new();
            for read in &purpose.reads {
                let what = read.get_ref();
                let known = match what.split_once('.') {
                    None => what == "score" || what == "grade",
                    Some(("dimension", dimension)) => {
                        dimensions.iter().any(|d| d.name == dimension)
                    }
                    Some(("list", list)) => lists.iter().any(|l| l.name == list),
                    Some(_) => false,
                };
                if !known {
                    self.error(read.span().start, format!("purpose `{name}` declares it reads `{what}`, which is not `score`, `grade`, `dimension.NAME` or `list.NAME` of this model"));
                }
                reads.push(what.clone());
            }
            let mut deny = Vec::new();
            let mut codes = BTreeSet::new();
            for rule in &purpose.deny {
                if !is_code(rule.code.get_ref()) {
                    self.error(
                        rule.code.span().start,
                        format!(
                            "reason code `{}` must be upper case letters, digits and `_`, starting with a letter",
                            rule.code.get_ref()
                        ),
                    );
                }
                if !codes.insert(rule.code.get_ref().clone()) {
                    self.error(
                        rule.code.span().start,
                        format!(
                            "reason code `{}` is used twice in purpose `{name}`",
                            rule.code.get_ref()
                        ),
                    );
                }
                let Some(compiled) = self.condition(&rule.when, &variables) else {
                    continue;
                };
                for read in &compiled.reads {
                    if !reads.contains(&read.name) {
                        let offset = self.read_offset(&rule.when, read);
                        self.error(offset, format!("purpose `{name}` reads `{}`, which its `reads` does not declare: a purpose sees only what it is bound to", read.name));
                    }
                }
                deny.push(PolicyRule {
                    code: rule.code.get_ref().clone(),
                    when: compiled.expr,
                    reason: rule.reason.clone(),
                });
            }
            let rank_by_score = match &purpose.rank_by {
                Some(rank_by) if rank_by.get_ref() == "score" => {
                    if !reads.iter().any(|r| r == "score") {
                        self.error(rank_by.span().start, format!("purpose `{name}` ranks by score, so its `reads` must declare `score`"));
                    }
                    true
                }
                Some(rank_by) => {
                    self.error(
                        rank_by.span().start,
                        format!(
                            "purpose `{name}` can rank by `score` only, not `{}`",
                            rank_by.get_ref()
                        ),
                    );
                    false
                }
                None => false,
            };
            let reference = purpose
                .legal_basis
                .as_ref()
                .map(|text| text.get_ref().trim().to_owned())
                .filter(|text| !text.is_empty());
            let basis = match purpose.basis.as_ref().map(|b| (b, b.get_ref().as_str())) {
                None | Some((_, "legitimate_interest")) => Basis::LegitimateInterest,
                Some((_, "consent")) => Basis::Consent,
                Some((basis, "law")) => match &reference {
                    Some(reference) => Basis::Law(reference.clone()),
                    None => {
                        self.error(
                            basis.span().start,
                            format!("purpose `{name}` rests on law: name it with `legal_basis`"),
                        );
                        Basis::Law(String::new())
                    }
                },
                Some((basis, other)) => {
                    self.error(basis.span().start, format!("purpose `{name}` has basis `{other}`; use `law`, `consent` or `legitimate_interest`"));
                    Basis::LegitimateInterest
                }
            };
            let review_adverse = match purpose.review.as_ref().map(|r| (r, r.get_ref().as_str())) {
                None | Some((_, "none")) => false,
                Some((_, "adverse")) => true,
                Some((review, other)) => {
                    self.error(
                        review.span().start,
                        format!("purpose `{name}` has review `{other}`; use `adverse` or `none`"),
                    );
                    false
                }
            };
            let unknown = match purpose.unknown.as_ref().map(|u| (u, u.get_ref().as_str())) {
                None => None,
                Some((_, "allow")) => Some(Verdict::Allow),
                Some((unknown, "deny")) if review_adverse => {
                    // A deny held for review needs a decision to review; a person with no record
                    // has none.
                    self.error(
                        unknown.span().start,
                        format!(
                            "purpose `{name}` reviews adverse decisions, so it cannot deny a person with no record unreviewed: use `unknown = \"allow\"` or leave `unknown` out (404)"
                        ),
                    );
                    None
                }
                Some((_, "deny")) => Some(Verdict::Deny),
                Some((unknown, other)) => {
                    self.error(
                        unknown.span().start,
                        format!("purpose `{name}` has unknown `{other}`; use `allow` or `deny`"),
                    );
                    None
                }
            };
            purposes.push(Purpose {
                name: name.clone(),
                description: purpose.description.clone(),
                reads,
                deny,
                rank_by_score,
                basis,
                review_adverse,
                unknown,
            });
        }
        purposes
    }
}

/// A set of conditions beyond validity that `check --profile` holds a model to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// EU law on scoring people: GDPR Art. 5, 6, 9 and 22, AI Act Art. 5(1)(c).
    Eu,
}

/// Field names that stand in for a protected category (ethnic origin, religion, sex life …)
/// or for a ground of discrimination, though they name none.
const PROXY_FIELDS: &[&str] = &[
    "postcode",
    "postal_code",
    "zip",
    "zip_code",
    "nationality",
    "citizenship",
    "country_of_birth",
    "birthplace",
    "place_of_birth",
    "first_name",
    "given_name",
    "surname",
    "last_name",
    "mother_tongue",
    "native_language",
    "language",
    "gender",
    "sex",
    "age",
    "date_of_birth",
    "birth_date",
    "birth_year",
    "marital_status",
    "photo",
    "face",
];

/// One finding of a profile: its code, what it is about (the name `[[accepted]]` uses), where.
struct Finding {
    code: &'static str,
    at: String,
    offset: usize,
    message: String,
}

/// Reads and checks a model, then holds it to `profile`: each finding is an error at its line,
/// unless the model's `[[accepted]]` names it with a reason (then a warning saying so).
pub fn check_model_profile(file: &str, text: &str, profile: Profile) -> Checked {
    let mut checked = check_model(file, text);
    let (Some(model), Ok(raw)) = (&checked.model, toml::from_str::<RawModel>(text)) else {
        return checked;
    };
    let map = SourceMap::new(file, text);
    let findings = match profile {
        Profile::Eu => eu_findings(&raw, model),
    };
    let mut used = vec![false; raw.accepted.len()];
    for finding in findings {
        let accepted = raw
            .accepted
            .iter()
            .position(|a| a.finding.get_ref() == finding.code && *a.at.get_ref() == finding.at);
        let diagnostic = match accepted {
            Some(index) => {
                used[index] = true;
                let reason = &raw.accepted[index].reason;
                map.diagnostic(
                    Severity::Warning,
                    finding.offset,
                    format!(
                        "[{}] {} — accepted: {reason}",
                        finding.code, finding.message
                    ),
                )
            }
            None => map.diagnostic(
                Severity::Error,
                finding.offset,
                format!("[{}] {}", finding.code, finding.message),
            ),
        };
        checked.diagnostics.push(diagnostic);
    }
    for (accepted, used) in raw.accepted.iter().zip(used) {
        if !used {
            checked.diagnostics.push(map.diagnostic(
                Severity::Warning,
                accepted.finding.span().start,
                format!(
                    "accepts `{}` at `{}`, which the profile does not find",
                    accepted.finding.get_ref(),
                    accepted.at.get_ref()
                ),
            ));
        }
    }
    checked
        .diagnostics
        .sort_by_key(|d| (d.line, d.column, d.severity));
    if checked
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        checked.model = None;
    }
    checked
}

fn eu_findings(raw: &RawModel, model: &Model) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Proxies for protected categories, and data kept without a retention period.
    for (name, event_type) in &raw.event_types {
        for field in event_type.fields.keys() {
            if PROXY_FIELDS.contains(&field.get_ref().as_str()) {
                findings.push(Finding {
                    code: "EU-PROXY",
                    at: format!("{}.{}", name.get_ref(), field.get_ref()),
                    offset: field.span().start,
                    message: format!(
                        "field `{}` of `{}` can stand in for a protected category or a ground of discrimination (GDPR Art. 9, Charter Art. 21)",
                        field.get_ref(),
                        name.get_ref()
                    ),
                });
            }
        }
        if event_type.retention.is_none() {
            findings.push(Finding {
                code: "EU-RETENTION",
                at: name.get_ref().clone(),
                offset: name.span().start,
                message: format!(
                    "event type `{}` declares no `retention`: personal data kept no longer than needed (GDPR Art. 5(1)(e))",
                    name.get_ref()
                ),
            });
        }
    }
    for list in &raw.lists {
        if list.legal_basis.is_none() {
            findings.push(Finding {
                code: "EU-LIST-BASIS",
                at: list.name.get_ref().clone(),
                offset: list.name.span().start,
                message: format!(
                    "list `{}` names no `legal_basis`: a list that restricts people rests on law (GDPR Art. 6, 10)",
                    list.name.get_ref()
                ),
            });
        }
    }

    // Where what a purpose reads comes from.
    let category_of = |event_type: EventTypeId| model.event_type(event_type).category;
    let mut scored: BTreeSet<Category> = model
        .rules
        .iter()
        .map(|r| category_of(r.event_type))
        .collect();
    if model.network.is_active() {
        scored.insert(Category::Relationship);
    }
    let sources_of = |read: &str| -> BTreeSet<Category> {
        match read.split_once('.') {
            None => scored.clone(),
            Some(("dimension", name)) => model
                .rules
                .iter()
                .filter(|r| model.dimensions[r.dimension as usize].name == name)
                .map(|r| category_of(r.event_type))
                .collect(),
            Some(("list", name)) => model
                .lists
                .iter()
                .filter(|l| l.name == name)
                .flat_map(|l| {
                    std::iter::once(l.enter.event_type)
                        .chain(l.leave.as_ref().map(|t| t.event_type))
                })
                .map(category_of)
                .collect(),
            Some(_) => BTreeSet::new(),
        }
    };
    for (raw_purpose, purpose) in raw.purposes.iter().zip(&model.purposes) {
        let name = &purpose.name;
        let at = raw_purpose.name.span().start;
        if raw_purpose.basis.is_none() {
            findings.push(Finding {
                code: "EU-BASIS",
                at: name.clone(),
                offset: at,
                message: format!("purpose `{name}` declares no `basis` (GDPR Art. 6)"),
            });
        }
        match &raw_purpose.context {
            None => findings.push(Finding {
                code: "EU-CONTEXT",
                at: name.clone(),
                offset: at,
                message: format!(
                    "purpose `{name}` declares no `context`: the categories of data its own context covers (AI Act Art. 5(1)(c))"
                ),
            }),
            Some(context) => {
                let own: BTreeSet<Category> = context
                    .get_ref()
                    .iter()
                    .filter_map(|c| Category::from_name(c.get_ref()))
                    .collect();
                for read in &raw_purpose.reads {
                    let foreign: Vec<&str> = sources_of(read.get_ref())
                        .difference(&own)
                        .map(|c| c.name())
                        .collect();
                    if !foreign.is_empty() {
                        findings.push(Finding {
                            code: "EU-UNRELATED-CONTEXT",
                            at: name.clone(),
                            offset: read.span().start,
                            message: format!(
                                "purpose `{name}` reads `{}`, made from {} data outside its context: social scoring with unfavourable treatment in unrelated contexts is prohibited (AI Act Art. 5(1)(c))",
                                read.get_ref(),
                                foreign.join(", ")
                            ),
                        });
                    }
                }
            }
        }
        // Contacts' scores lowering a score this purpose refuses people by.
        let sanctions_by_score = raw_purpose.deny.iter().any(|rule| {
            let when = rule.when.get_ref();
            when.contains("score") || when.contains("grade")
        });
        if model.network.is_active() && model.network.alpha > 0.0 && sanctions_by_score {
            findings.push(Finding {
                code: "EU-NETWORK-SANCTION",
                at: name.clone(),
                offset: at,
                message: format!(
                    "purpose `{name}` refuses by score or grade, and contacts' scores move scores (α = {}): people are sanctioned for others' behaviour (AI Act Art. 5(1)(c)(ii))",
                    model.network.alpha
                ),
            });
        }
    }
    findings
}
