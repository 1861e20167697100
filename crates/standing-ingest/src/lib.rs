//! Standing's intake: events in their wire form (one JSON object per line) checked against a
//! model into typed [`Event`]s. A record is parsed once here; nothing downstream re-checks it.
//!
//! The wire form:
//!
//! ```json
//! {"id":"pay-000123","source":"payments","subject":"p-42","type":"payment.late",
//!  "occurred_at":"2026-03-01T10:00:00Z","fields":{"amount":1200,"days_late":35}}
//! ```

use serde::Deserialize;
use standing_core::{CHECKPOINT_TYPE, Event, EventBody, FieldType, FieldValue, Timestamp};
use standing_rules::Model;
use std::io::BufRead;

/// The largest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The longest id, source or subject accepted, in bytes.
pub const MAX_ID_BYTES: usize = standing_core::id::MAX_ID_BYTES;

/// Why a record was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("not valid UTF-8")]
    InvalidUtf8,
    #[error("record is {0} bytes; the limit is {MAX_RECORD_BYTES}")]
    Oversize(usize),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("bad CSV row: {0}")]
    BadCsvRow(String),
    #[error("`{field}` must not be empty or longer than {MAX_ID_BYTES} bytes")]
    BadId { field: &'static str },
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("field `{0}` is missing")]
    MissingField(String),
    #[error("field `{0}` is not declared for this event type")]
    UnknownField(String),
    #[error("field `{field}` must be {expected}, not {found}")]
    WrongType {
        field: String,
        expected: String,
        found: String,
    },
    #[error("`{field}`: {message}")]
    BadTime { field: String, message: String },
    #[error("field `{field}`: {message}")]
    BadValue {
        field: &'static str,
        message: String,
    },
    #[error("`{field}` is not an id: it {problem}")]
    NotAnId {
        field: &'static str,
        problem: standing_core::id::IdProblem,
    },
    #[error("`source` is missing: name the source of the record")]
    MissingSource,
    #[error("this key speaks for source `{granted}` and may not send as `{}`", named.escape_debug())]
    SourceNotGranted { named: String, granted: String },
    #[error("the model declares no source `{}`", .0.escape_debug())]
    UnknownSource(String),
    #[error("source `{source_name}` may not send `{event_type}` (see its `types` in the model)")]
    TypeNotGranted {
        source_name: String,
        event_type: String,
    },
    #[error(
        "`recorded_at` is the server's: it is stamped on intake (an operator imports history \
         with `standing ingest --history` or a key created with `--history`)"
    )]
    RecordedAtNotAllowed,
    #[error(
        "`recorded_at` {at} lies before {floor}, what the log already holds: history is imported before it is added to"
    )]
    RecordedBeforeLog { at: Timestamp, floor: Timestamp },
    #[error("`recorded_at` {at} lies in the future (now is {now})")]
    RecordedInFuture { at: Timestamp, now: Timestamp },
    #[error(
        "`occurred_at` {at} lies more than {skew} s beyond now ({now}): the model allows `future_skew = {skew} s`"
    )]
    OccursInFuture {
        at: Timestamp,
        now: Timestamp,
        skew: i64,
    },
    #[error("field `{field}` is {value}, outside its declared range")]
    OutOfRange { field: String, value: String },
    #[error("event id `{}` holds `~`, which marks the records Standing writes itself", .0.escape_debug())]
    ReservedId(String),
}

impl RecordError {
    /// A short, stable code for the reason, as answers carry it.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::InvalidUtf8
            | RecordError::MalformedJson(_)
            | RecordError::BadCsvRow(_) => "malformed",
            RecordError::Oversize(_) => "oversize",
            RecordError::BadId { .. } | RecordError::NotAnId { .. } => "bad_id",
            RecordError::UnknownType(_) => "unknown_type",
            RecordError::MissingField(_) => "missing_field",
            RecordError::UnknownField(_) => "unknown_field",
            RecordError::WrongType { .. } => "wrong_type",
            RecordError::BadTime { .. } => "bad_time",
            RecordError::BadValue { .. } => "bad_value",
            RecordError::MissingSource => "missing_source",
            RecordError::SourceNotGranted { .. } => "source_not_granted",
            RecordError::UnknownSource(_) => "unknown_source",
            RecordError::TypeNotGranted { .. } => "type_not_granted",
            RecordError::RecordedAtNotAllowed => "recorded_at_not_allowed",
            RecordError::RecordedBeforeLog { .. } => "recorded_before_log",
            RecordError::RecordedInFuture { .. } => "recorded_in_future",
            RecordError::OccursInFuture { .. } => "occurs_in_future",
            RecordError::OutOfRange { .. } => "out_of_range",
            RecordError::ReservedId(_) => "bad_id",
        }
    }
}

/// A rejected record and where it was.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub error: RecordError,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.error)
    }
}

/// How `recorded_at` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordedAt {
    /// Stamped with this instant: live intake.
    Stamp(Timestamp),
    /// Taken from the record when it has one, else stamped: imports of history already recorded.
    FromRecordOr(Timestamp),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    id: String,
    #[serde(default)]
    source: Option<String>,
    subject: String,
    #[serde(rename = "type")]
    event_type: String,
    occurred_at: String,
    #[serde(default)]
    recorded_at: Option<String>,
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
}

fn json_kind(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(_) => "a boolean".into(),
        serde_json::Value::Number(n) if n.is_i64() => "an integer".into(),
        serde_json::Value::Number(_) => "a number".into(),
        serde_json::Value::String(_) => "a string".into(),
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

fn check_id(value: &str, field: &'static str) -> Result<(), RecordError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        Err(RecordError::BadId { field })
    } else {
        Ok(())
    }
}

fn time(value: &str, field: &str) -> Result<Timestamp, RecordError> {
    Timestamp::parse(value).map_err(|error| RecordError::BadTime {
        field: field.to_owned(),
        message: error.to_string(),
    })
}

fn field_value(
    name: &str,
    ty: &FieldType,
    value: &serde_json::Value,
) -> Result<FieldValue, RecordError> {
    let wrong = |expected: &str| RecordError::WrongType {
        field: name.to_owned(),
        expected: expected.to_owned(),
        found: json_kind(value),
    };
    match ty {
        FieldType::String => value
            .as_str()
            .map(|s| FieldValue::Str(s.into()))
            .ok_or_else(|| wrong("a string")),
        FieldType::Integer => value
            .as_i64()
            .map(FieldValue::Int)
            .ok_or_else(|| wrong("an integer")),
        FieldType::Decimal => value
            .as_f64()
            .filter(|number| number.is_finite())
            .map(FieldValue::Dec)
            .ok_or_else(|| wrong("a number")),
        FieldType::Boolean => value
            .as_bool()
            .map(FieldValue::Bool)
            .ok_or_else(|| wrong("a boolean")),
        FieldType::Timestamp => {
            let text = value
                .as_str()
                .ok_or_else(|| wrong("an RFC 3339 timestamp string"))?;
            time(text, &format!("fields.{name}")).map(FieldValue::Time)
        }
        FieldType::Enum(names) => {
            let text = value
                .as_str()
                .ok_or_else(|| wrong(&format!("one of {}", names.join(", "))))?;
            names
                .iter()
                .position(|candidate| &**candidate == text)
                .map(|index| FieldValue::Enum(index as u16))
                .ok_or_else(|| RecordError::WrongType {
                    field: name.to_owned(),
                    expected: format!("one of {}", names.join(", ")),
                    found: format!("`{text}`"),
                })
        }
    }
}

/// Checks one record against `model`: its form only, as the log's records are checked again on
/// replay (under the model then in force). Live intake uses [`admit`], which also decides what
/// the sender may say.
pub fn parse_record(
    model: &Model,
    record: &[u8],
    recorded: RecordedAt,
) -> Result<Event, RecordError> {
    let (mut wire, text) = read_wire(record)?;
    if wire.event_type == CHECKPOINT_TYPE {
        // Standing's own: never admitted from a sender (`build` knows no such type).
        return checkpoint(wire, recorded);
    }
    let source = wire.source.take().ok_or(RecordError::MissingSource)?;
    build(model, wire, source, text, recorded).map(|(event, _)| event)
}

/// A checkpoint's wire record (see [`EventBody::Checkpoint`]): `fields` holds `stream`,
/// `partition` and `next`.
fn checkpoint(wire: WireEvent, recorded: RecordedAt) -> Result<Event, RecordError> {
    let stream = wire
        .fields
        .get("stream")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| RecordError::MissingField("stream".into()))?;
    let number = |name: &str| {
        wire.fields
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| RecordError::MissingField(name.into()))
    };
    let partition = u32::try_from(number("partition")?).map_err(|_| RecordError::BadValue {
        field: "partition",
        message: "must fit 32 bits".into(),
    })?;
    let next = number("next")?;
    let at = match (recorded, &wire.recorded_at) {
        (RecordedAt::Stamp(now), _) | (RecordedAt::FromRecordOr(now), None) => now,
        (RecordedAt::FromRecordOr(_), Some(text)) => time(text, "recorded_at")?,
    };
    let event = Event::checkpoint(stream, partition, next, at);
    if *event.id != *wire.id {
        return Err(RecordError::BadValue {
            field: "id",
            message: format!("a checkpoint's id is `{}`", event.id),
        });
    }
    Ok(event)
}

fn read_wire(record: &[u8]) -> Result<(WireEvent, &str), RecordError> {
    if record.len() > MAX_RECORD_BYTES {
        return Err(RecordError::Oversize(record.len()));
    }
    let text = std::str::from_utf8(record).map_err(|_| RecordError::InvalidUtf8)?;
    let wire: WireEvent = serde_json::from_str(text)
        .map_err(|error| RecordError::MalformedJson(error.to_string()))?;
    Ok((wire, text))
}

/// What a sender may say, decided by the intake path and its key, never by the record.
#[derive(Clone, Copy, Debug)]
pub struct Admission<'a> {
    /// The server's clock: `recorded_at` is stamped with it.
    pub now: Timestamp,
    /// The source the sender speaks for (a source key's): a record naming another is refused,
    /// one naming none is sent as this source. `None`: an operator, who names the source.
    pub source: Option<&'a str>,
    /// An operator's import of history: a record may carry its own `recorded_at`, no earlier
    /// than this (the latest the log holds, and the latest answer the directory gave) and not in
    /// the future. `None`: live intake, where a record carrying `recorded_at` is refused.
    pub history_from: Option<Timestamp>,
    /// Records the server writes itself (a dispute's suspension or restoration), whose ids may
    /// hold [`RESERVED_ID_MARK`]; no sender's may.
    pub system: bool,
}

/// The mark that the ids of the records Standing writes itself hold (`…~suspend`,
/// `…~restored`): refused in the ids senders send, so no source can take one in advance.
pub const RESERVED_ID_MARK: char = '~';

/// A record admitted: the event, and the body to log when it differs from the record received
/// (a record that named no source gets its sender's source written in).
#[derive(Debug)]
pub struct Admitted {
    pub event: Event,
    pub body: Option<Vec<u8>>,
}

/// Checks one record of live intake against `model` and what its sender may say: its form (as
/// [`parse_record`]), ids of the id alphabet, the source the sender speaks for, the event types
/// the model lets that source send, the server's time (`recorded_at` stamped, `occurred_at` no
/// further in the future than the model's `future_skew`) and declared field ranges.
pub fn admit(
    model: &Model,
    record: &[u8],
    admission: &Admission<'_>,
) -> Result<Admitted, RecordError> {
    let (mut wire, text) = read_wire(record)?;
    let named = wire.source.is_some();
    let source = match (wire.source.take(), admission.source) {
        (Some(named), Some(granted)) if named != granted => {
            return Err(RecordError::SourceNotGranted {
                named,
                granted: granted.to_owned(),
            });
        }
        (Some(named), _) => named,
        (None, Some(granted)) => granted.to_owned(),
        (None, None) => return Err(RecordError::MissingSource),
    };
    let recorded = match (&wire.recorded_at, admission.history_from) {
        (Some(_), None) => return Err(RecordError::RecordedAtNotAllowed),
        (Some(_), Some(_)) => RecordedAt::FromRecordOr(admission.now),
        (None, _) => RecordedAt::Stamp(admission.now),
    };
    let (event, type_name) = build(model, wire, source, text, recorded)?;
    for (field, value) in [("id", &event.id), ("subject", &event.subject)] {
        standing_core::id::check_id(value)
            .map_err(|problem| RecordError::NotAnId { field, problem })?;
    }
    // A declared source's name is of the alphabet already (the model checks it).
    if !model.declares_sources() {
        standing_core::id::check_id(&event.source).map_err(|problem| RecordError::NotAnId {
            field: "source",
            problem,
        })?;
    }
    if let Some(floor) = admission.history_from {
        if event.recorded_at < floor {
            return Err(RecordError::RecordedBeforeLog {
                at: event.recorded_at,
                floor,
            });
        }
        if event.recorded_at > admission.now {
            return Err(RecordError::RecordedInFuture {
                at: event.recorded_at,
                now: admission.now,
            });
        }
    }
    let skew = model.intake.future_skew;
    if event.occurred_at > admission.now.saturating_add(skew) {
        return Err(RecordError::OccursInFuture {
            at: event.occurred_at,
            now: admission.now,
            skew: skew.0,
        });
    }
    // Every record of a model with sources, a retraction too, comes from a declared source.
    let declared = match model.declares_sources() {
        true => Some(
            model
                .source(&event.source)
                .ok_or_else(|| RecordError::UnknownSource(event.source.to_string()))?,
        ),
        false => None,
    };
    match &event.body {
        EventBody::Retraction { event_id, .. } => {
            standing_core::id::check_id(event_id).map_err(|problem| RecordError::NotAnId {
                field: "fields.event",
                problem,
            })?;
        }
        EventBody::Fact { event_type, fields } => {
            if let Some(declared) = declared
                && !declared.may_send(*event_type)
            {
                return Err(RecordError::TypeNotGranted {
                    source_name: event.source.to_string(),
                    event_type: type_name,
                });
            }
            let declared = model.event_type(*event_type);
            for (field, value) in declared.fields.iter().zip(fields.iter()) {
                if let Some(range) = &field.range
                    && !range.contains(value)
                {
                    return Err(RecordError::OutOfRange {
                        field: field.name.clone(),
                        value: match value {
                            FieldValue::Int(number) => number.to_string(),
                            FieldValue::Dec(number) => number.to_string(),
                            other => format!("{other:?}"),
                        },
                    });
                }
            }
            let relation = Some(*event_type) == model.network.added
                || Some(*event_type) == model.network.removed;
            if relation
                && let Some(FieldValue::Str(other)) =
                    fields.get(standing_rules::relation_fields::OTHER)
            {
                standing_core::id::check_id(other).map_err(|problem| RecordError::NotAnId {
                    field: "fields.other",
                    problem,
                })?;
            }
        }
        // `build` reads no checkpoint: no sender can write one.
        EventBody::Checkpoint { .. } => {
            return Err(RecordError::UnknownType(CHECKPOINT_TYPE.into()));
        }
    }
    if !admission.system && event.id.contains(RESERVED_ID_MARK) {
        return Err(RecordError::ReservedId(event.id.to_string()));
    }
    let body = if named {
        None
    } else {
        Some(with_source(text, &event.source)?)
    };
    Ok(Admitted { event, body })
}

/// The record with its sender's `source` set (it named none, or `null`): written again from its
/// JSON, so it holds one `source` key and replays as it was admitted.
fn with_source(text: &str, source: &str) -> Result<Vec<u8>, RecordError> {
    let mut record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|error| RecordError::MalformedJson(error.to_string()))?;
    record.insert("source".into(), source.into());
    serde_json::to_vec(&record).map_err(|error| RecordError::MalformedJson(error.to_string()))
}

/// The typed event of a wire record, and its type's name.
fn build(
    model: &Model,
    wire: WireEvent,
    source: String,
    _text: &str,
    recorded: RecordedAt,
) -> Result<(Event, String), RecordError> {
    check_id(&wire.id, "id")?;
    check_id(&source, "source")?;
    check_id(&wire.subject, "subject")?;
    let occurred_at = time(&wire.occurred_at, "occurred_at")?;
    let recorded_at = match (recorded, &wire.recorded_at) {
        (RecordedAt::Stamp(now), _) | (RecordedAt::FromRecordOr(now), None) => now,
        (RecordedAt::FromRecordOr(_), Some(text)) => time(text, "recorded_at")?,
    };
    let body = if wire.event_type == "retraction" {
        let mut event_id = None;
        let mut reason = None;
        for (name, value) in &wire.fields {
            let slot = match name.as_str() {
                "event" => &mut event_id,
                "reason" => &mut reason,
                _ => return Err(RecordError::UnknownField(name.clone())),
            };
            *slot = Some(value.as_str().ok_or_else(|| RecordError::WrongType {
                field: name.clone(),
                expected: "a string".into(),
                found: json_kind(value),
            })?);
        }
        let event_id = event_id.ok_or_else(|| RecordError::MissingField("event".into()))?;
        check_id(event_id, "fields.event")?;
        EventBody::Retraction {
            event_id: event_id.into(),
            reason: reason.unwrap_or("").into(),
        }
    } else {
        let type_id = model
            .event_type_id(&wire.event_type)
            .ok_or_else(|| RecordError::UnknownType(wire.event_type.clone()))?;
        let event_type = model.event_type(type_id);
        if let Some(unknown) = wire
            .fields
            .keys()
            .find(|name| event_type.field_slot(name).is_none())
        {
            return Err(RecordError::UnknownField(unknown.clone()));
        }
        let fields = event_type
            .fields
            .iter()
            .map(
                |field| match (wire.fields.get(&field.name), &field.default) {
                    (Some(value), _) => field_value(&field.name, &field.ty, value),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(RecordError::MissingField(field.name.clone())),
                },
            )
            .collect::<Result<Box<[FieldValue]>, _>>()?;
        if Some(type_id) == model.network.added || Some(type_id) == model.network.removed {
            check_relation(model, &wire.subject, &fields)?;
        }
        EventBody::Fact {
            event_type: type_id,
            fields,
        }
    };
    Ok((
        Event {
            source: source.into(),
            id: wire.id.into(),
            subject: wire.subject.into(),
            occurred_at,
            recorded_at,
            body,
        },
        wire.event_type,
    ))
}

/// Events read from one NDJSON input, and every record rejected with its line.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub rejected: Vec<Rejection>,
}

/// Reads NDJSON from `reader`. Blank lines are skipped. I/O failures are returned as errors;
/// bad records are collected in [`Batch::rejected`].
pub fn read_ndjson(
    model: &Model,
    file: &str,
    reader: impl BufRead,
    recorded: RecordedAt,
) -> std::io::Result<Batch> {
    let mut batch = Batch::default();
    let mut reader = reader;
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_RECORD_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_RECORD_BYTES && !line.ends_with(b"\n") {
            // Skip the rest of an oversize line without holding it in memory.
            let mut skipped = line.len();
            loop {
                let buffer = reader.fill_buf()?;
                if buffer.is_empty() {
                    break;
                }
                match buffer.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        skipped += end;
                        reader.consume(end + 1);
                        break;
                    }
                    None => {
                        let length = buffer.len();
                        skipped += length;
                        reader.consume(length);
                    }
                }
            }
            batch.rejected.push(Rejection {
                file: file.to_owned(),
                line: number,
                error: RecordError::Oversize(skipped),
            });
            continue;
        }
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        let record = record.strip_suffix(b"\r").unwrap_or(record);
        if record.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_record(model, record, recorded) {
            Ok(event) => batch.events.push(event),
            Err(error) => batch.rejected.push(Rejection {
                file: file.to_owned(),
                line: number,
                error,
            }),
        }
    }
    Ok(batch)
}

use std::io::Read as _;

/// Turns one CSV row into the wire form. The header names the envelope columns (`id`, `source`,
/// `subject`, `type`, `occurred_at`, optionally `recorded_at`) and field columns by field name;
/// an empty cell leaves the field out (so one file can hold several event types). Cells of
/// fields declared numeric or boolean are written as JSON numbers or booleans when they read as
/// such; intake then checks them like any record.
/// The first column a CSV header must name and does not: `id`, `subject`, `type`,
/// `occurred_at`, and `source` unless the sender speaks for one source (`source_given`).
pub fn missing_csv_column(header: &[String], source_given: bool) -> Option<&'static str> {
    let required = ["id", "source", "subject", "type", "occurred_at"];
    required
        .into_iter()
        .filter(|column| !(source_given && *column == "source"))
        .find(|column| !header.iter().any(|h| h == column))
}

/// One CSV row under `header` as a wire record (see [`missing_csv_column`] for the header).
pub fn csv_row_to_wire(
    model: &Model,
    header: &[String],
    row: &[&str],
) -> Result<Vec<u8>, RecordError> {
    if row.len() != header.len() {
        return Err(RecordError::BadCsvRow(format!(
            "the row has {} cells, the header {}",
            row.len(),
            header.len()
        )));
    }
    let mut envelope = serde_json::Map::new();
    let mut fields = serde_json::Map::new();
    let type_name = header
        .iter()
        .position(|h| h == "type")
        .map(|i| row[i])
        .unwrap_or("");
    let event_type = model
        .event_type_id(type_name)
        .map(|id| model.event_type(id));
    for (name, cell) in header.iter().zip(row) {
        match name.as_str() {
            "id" | "source" | "subject" | "type" | "occurred_at" | "recorded_at" => {
                // An empty `recorded_at` or `source` cell is no value: stamped, or the key's.
                if !((name == "recorded_at" || name == "source") && cell.is_empty()) {
                    envelope.insert(name.clone(), serde_json::Value::String((*cell).to_owned()));
                }
            }
            _ if cell.is_empty() => {}
            _ => {
                let declared = event_type
                    .and_then(|t| t.fields.iter().find(|f| &f.name == name))
                    .map(|f| &f.ty);
                let value = match declared {
                    Some(FieldType::Integer) => cell
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| (*cell).into()),
                    Some(FieldType::Decimal) => cell
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number)
                        .unwrap_or_else(|| (*cell).into()),
                    Some(FieldType::Boolean) => match *cell {
                        "true" => true.into(),
                        "false" => false.into(),
                        other => other.into(),
                    },
                    _ => (*cell).into(),
                };
                fields.insert(name.clone(), value);
            }
        }
    }
    envelope.insert("fields".into(), serde_json::Value::Object(fields));
    serde_json::to_vec(&envelope).map_err(|error| RecordError::MalformedJson(error.to_string()))
}

/// The wire form of a typed event under `model` (the inverse of [`parse_record`]; `recorded_at`
/// is written only when `with_recorded_at`).
pub fn to_wire(model: &Model, event: &Event, with_recorded_at: bool) -> Vec<u8> {
    let mut envelope = serde_json::Map::new();
    envelope.insert("id".into(), (*event.id).into());
    envelope.insert("source".into(), (*event.source).into());
    envelope.insert("subject".into(), (*event.subject).into());
    let mut fields = serde_json::Map::new();
    match &event.body {
        EventBody::Fact {
            event_type,
            fields: values,
        } => {
            let declared = model.event_type(*event_type);
            envelope.insert("type".into(), declared.name.as_str().into());
            for (field, value) in declared.fields.iter().zip(values.iter()) {
                let value = match (value, &field.ty) {
                    (FieldValue::Str(text), _) => serde_json::Value::from(&**text),
                    (FieldValue::Int(number), _) => (*number).into(),
                    (FieldValue::Dec(number), _) => serde_json::Number::from_f64(*number)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number),
                    (FieldValue::Bool(flag), _) => (*flag).into(),
                    (FieldValue::Time(instant), _) => instant.to_string().into(),
                    (FieldValue::Enum(index), FieldType::Enum(names)) => names
                        .get(*index as usize)
                        .map(|n| &**n)
                        .unwrap_or("")
                        .into(),
                    (FieldValue::Enum(index), _) => (*index).into(),
                };
                fields.insert(field.name.clone(), value);
            }
        }
        EventBody::Retraction { event_id, reason } => {
            envelope.insert("type".into(), "retraction".into());
            fields.insert("event".into(), (**event_id).into());
            fields.insert("reason".into(), (**reason).into());
        }
        EventBody::Checkpoint {
            stream,
            partition,
            next,
        } => {
            envelope.insert("type".into(), CHECKPOINT_TYPE.into());
            fields.insert("stream".into(), (**stream).into());
            fields.insert("partition".into(), (*partition).into());
            fields.insert("next".into(), (*next).into());
        }
    }
    envelope.insert("occurred_at".into(), event.occurred_at.to_string().into());
    if with_recorded_at {
        envelope.insert("recorded_at".into(), event.recorded_at.to_string().into());
    }
    envelope.insert("fields".into(), serde_json::Value::Object(fields));
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// A relation event names another subject and a usable weight.
fn check_relation(model: &Model, subject: &str, fields: &[FieldValue]) -> Result<(), RecordError> {
    use standing_rules::relation_fields::{KIND, OTHER, WEIGHT};
    if let Some(FieldValue::Str(other)) = fields.get(OTHER) {
        check_id(other, "other")?;
        if &**other == subject {
            return Err(RecordError::BadValue {
                field: "other",
                message: "a subject cannot be related to itself".into(),
            });
        }
    }
    if let (Some(FieldValue::Enum(kind)), Some(FieldValue::Dec(weight))) =
        (fields.get(KIND), fields.get(WEIGHT))
    {
        let kind = &model.network.kinds[*kind as usize];
        let effective = kind.weight * weight;
        if !(*weight > 0.0 && standing_rules::RELATION_WEIGHTS.contains(&effective)) {
            return Err(RecordError::BadValue {
                field: "weight",
                message: format!(
                    "must be above 0 and, times the kind's weight ({}), between 1/1024 and 16383/1024; {weight} is not",
                    kind.weight
                ),
            });
        }
    }
    Ok(())
}
