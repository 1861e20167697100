//! Intake over HTTP: a source's events, checked record by record against the model and what the
//! key may say (its source, the types that source may send, the server's time), applied and
//! made durable with the key's id before the answer. Every batch is audited.

use crate::extract::Caller;
use crate::extract::DeferredBody;
use crate::{ApiError, ApiResult, AppState, Asked, audit, read_node, refuse};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use standing_accountability::keys::Key;
use standing_core::Timestamp;
use standing_engine::ApplyOutcome;
use standing_ingest::{Admission, admit, csv_row_to_wire};
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Events, "events", Source, Operator);
}

/// How a request body holds its records, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One JSON object per line, or a JSON array of objects.
    Json,
    /// A header row naming the columns, then a row per record.
    Csv,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(Format::Json);
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/json" => Ok(Format::Json),
        "text/csv" => Ok(Format::Csv),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "events are sent as application/x-ndjson (or a JSON array as application/json) \
                 or as text/csv with a header row, not `{other}`"
            ),
        )),
    }
}

/// A record of the body: its bytes, or why it could not even be read.
type Slot = Result<Vec<u8>, standing_ingest::RecordError>;

/// The records of a body: a JSON array, or one JSON object per line (NDJSON), or CSV rows.
fn records(
    body: &[u8],
    format: Format,
    model: &standing_rules::Model,
) -> Result<Vec<Slot>, ApiError> {
    let malformed =
        |message: String| ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", message);
    if format == Format::Csv {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body);
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| malformed(format!("the CSV header cannot be read: {error}")))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        return Ok(reader
            .records()
            .map(|row| {
                let row = row
                    .map_err(|error| standing_ingest::RecordError::BadCsvRow(error.to_string()))?;
                let cells: Vec<&str> = row.iter().collect();
                csv_row_to_wire(model, &header, &cells)
            })
            .collect());
    }
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        let values: Vec<Value> = serde_json::from_slice(trimmed).map_err(|error| {
            malformed(format!("the body is not a JSON array of events: {error}"))
        })?;
        Ok(values
            .iter()
            .map(|value| Ok(serde_json::to_vec(value).unwrap_or_default()))
            .collect())
    } else {
        Ok(body
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.trim_ascii().is_empty())
            .map(|line| Ok(line.to_vec()))
            .collect())
    }
}

/// Events from a source: NDJSON (one event per line), a JSON array, or CSV with a header row.
/// Answers per record (accepted, duplicate, conflict, rejected with a code and the reason) once
/// the accepted ones are durable.
#[utoipa::path(post, path = "/v1/events", tag = "sources",
    request_body(description = "NDJSON events, a JSON array of events (`application/json`), or CSV rows under a header (`text/csv`); an empty body is an empty batch", content(
        (crate::openapi::Records = "application/x-ndjson"),
        (crate::openapi::Records = "text/csv"))),
    responses(
        (status = 200, description = "Per-record results; every accepted record is on stable storage", body = Object),
        (status = 400, description = "The body is not NDJSON, a JSON array or CSV", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key, an unknown, revoked or expired key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not a source or operator key", body = crate::openapi::ErrorBody),
        (status = 415, description = "A Content-Type other than NDJSON, JSON or CSV", body = crate::openapi::ErrorBody),
        (status = 503, description = "Nothing was acknowledged: the log could not be made durable", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    caller: Caller<calls::Events>,
    body: DeferredBody<axum::body::Bytes>,
) -> ApiResult {
    let key = std::sync::Arc::clone(&caller.key);
    let request = caller.asked();
    let body = body.open(&state, &key, &request)?;
    let format =
        format_of(&headers).map_err(|error| refuse(&state, Some(&key), &request, error))?;
    let worker = Arc::clone(&state);
    // Intake syncs the log: off the async workers.
    tokio::task::spawn_blocking(move || {
        let sender = Sender {
            key: Some(&key),
            origin: &key.id,
            source: key.role.source(),
            history: key.role.history(),
        };
        ingest(&worker, &sender, |model| records(&body, format, model))
    })
    .await
    .map_err(|error| ApiError::failed("stopping", "the server is stopping", error))?
}

/// One record's place in the answer and, once parsed, in the batch.
struct Pending {
    result: Value,
    event: Option<usize>,
}

/// Who sends a batch, and what they may say.
struct Sender<'a> {
    /// The key of the request (none for records the server writes itself).
    key: Option<&'a Key>,
    /// What the log keeps as the records' origin.
    origin: &'a str,
    /// The source the sender speaks for, if bound to one.
    source: Option<&'a str>,
    /// Whether records may carry their own `recorded_at`.
    history: bool,
}

/// Checks every record, applies and syncs the good ones, audits the batch and answers per
/// record.
fn ingest(
    state: &AppState,
    sender: &Sender<'_>,
    read: impl Fn(&standing_rules::Model) -> Result<Vec<Slot>, ApiError>,
) -> ApiResult {
    let key = sender.key;
    let request = Asked {
        action: "events",
        subject: None,
        purpose: None,
    };
    // Records are parsed under no lock; only applying and syncing hold the node alone. A model
    // activated in between means parsing again under the new one.
    let (mut model, mut floor) = {
        let node = read_node(state);
        (node.model().clone(), node.last_recorded_at())
    };
    let (mut node, mut pending, events, bodies) = loop {
        let records = read(&model).map_err(|error| refuse(state, key, &request, error))?;
        // History may not be recorded before what the log holds nor before the latest answer
        // given (which it would change); live records are stamped with the clock.
        let history_floor = floor.max(state.house.audit.latest().unwrap_or(Timestamp::MIN));
        let admission = Admission {
            now: (state.house.now)(),
            source: sender.source,
            history_from: sender.history.then_some(history_floor),
            system: sender.key.is_none(),
        };
        let mut pending: Vec<Pending> = Vec::with_capacity(records.len());
        let mut latest = history_floor;
        let mut events = Vec::new();
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            let admitted = record.and_then(|record| {
                admit(&model, &record, &admission).map(|admitted| (admitted, record))
            });
            // An imported history comes in recorded order: what is accepted never lies
            // before what was accepted ahead of it.
            let admitted = admitted.and_then(|(admitted, record)| {
                let at = admitted.event.recorded_at;
                if sender.history {
                    if at < latest {
                        return Err(standing_ingest::RecordError::RecordedBeforeLog {
                            at,
                            floor: latest,
                        });
                    }
                    latest = at;
                }
                Ok((admitted, record))
            });
            match admitted {
                Ok((admitted, record)) => {
                    let event = admitted.event;
                    pending.push(Pending {
                        result: json!({"index": index, "id": &*event.id, "source": &*event.source}),
                        event: Some(events.len()),
                    });
                    bodies.push(admitted.body.unwrap_or(record));
                    events.push(event);
                }
                Err(error) => pending.push(Pending {
                    result: json!({
                        "index": index, "status": "rejected", "code": error.code(), "reason": error.to_string(),
                    }),
                    event: None,
                }),
            }
        }
        let node = crate::write_node(state);
        if Arc::ptr_eq(node.model(), &model) && node.last_recorded_at() == floor {
            break (node, pending, events, bodies);
        }
        model = node.model().clone();
        floor = node.last_recorded_at();
    };
    let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let report = node
        .ingest(&events, &slices, sender.origin)
        .map_err(|error| {
            let error = ApiError::failed(
                "not_durable",
                "the log could not be written: nothing of this request was acknowledged",
                error,
            );
            refuse(state, key, &request, error)
        })?;
    drop(node);
    let (mut accepted, mut duplicate, mut conflict) = (0u64, 0u64, 0u64);
    let mut rejected = (pending.len() - events.len()) as u64;
    let mut by_source: Vec<(&str, u64)> = Vec::new();
    let (mut first, mut last): (Option<&str>, Option<&str>) = (None, None);
    for slot in &mut pending {
        let Some(index) = slot.event else { continue };
        let (event, outcome) = (&events[index], &report.outcomes[index]);
        let result = &mut slot.result;
        match outcome {
            ApplyOutcome::Accepted => {
                accepted += 1;
                first.get_or_insert(&event.id);
                last = Some(&event.id);
                match by_source
                    .iter_mut()
                    .find(|(source, _)| *source == &*event.source)
                {
                    Some((_, count)) => *count += 1,
                    None => by_source.push((&event.source, 1)),
                }
                result["status"] = json!("accepted");
            }
            ApplyOutcome::Duplicate => {
                duplicate += 1;
                result["status"] = json!("duplicate");
            }
            ApplyOutcome::Conflict => {
                conflict += 1;
                result["status"] = json!("conflict");
                result["code"] = json!("conflict");
                result["reason"] = json!(outcome.to_string());
            }
            refused => {
                rejected += 1;
                result["status"] = json!("rejected");
                result["code"] = json!(refused_code(refused));
                result["reason"] = json!(refused.to_string());
            }
        }
    }
    state
        .activity
        .accepted(&by_source, duplicate + conflict, rejected as usize);
    let sources: Vec<&str> = by_source.iter().map(|(source, _)| *source).collect();
    let summary = format!(
        "origin {} source {} accepted {accepted} duplicate {duplicate} conflict {conflict} rejected {rejected} first {} last {}",
        sender.origin,
        if sources.is_empty() {
            sender.source.unwrap_or("-").to_owned()
        } else {
            sources.join(",")
        },
        first.unwrap_or("-"),
        last.unwrap_or("-"),
    );
    audit(state, key, &request, "intake", summary)?;
    Ok(Json(json!({
        "accepted": accepted,
        "duplicate": duplicate,
        "conflict": conflict,
        "rejected": rejected,
        "durable": true,
        "results": pending.into_iter().map(|slot| slot.result).collect::<Vec<_>>(),
    })))
}

/// The code of a refusal the engine decided.
fn refused_code(outcome: &ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::UnknownRetractionTarget => "unknown_retraction_target",
        ApplyOutcome::RetractionSubjectMismatch => "retraction_subject_mismatch",
        ApplyOutcome::CapacityExceeded => "capacity_exceeded",
        _ => "refused",
    }
}
