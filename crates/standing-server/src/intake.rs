//! Intake over HTTP: a source's events, checked record by record against the model and what the
//! key may say (its source, the types that source may send, the server's time), applied and
//! made durable with the key's id before the answer. Every batch is audited.

use crate::extract::Caller;
use crate::extract::DeferredBody;
use crate::{ApiError, ApiResult, AppState, refuse};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use standing_accountability::intake::{IntakeError, Outcome, RecordResult, Sender, Slot};
use standing_ingest::csv_row_to_wire;
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

/// The records of a request's body, as its `Content-Type` says they are sent: each record's
/// JSON form (a CSV row's made from the model's field types), or why it cannot be read.
pub fn read_records(
    headers: &HeaderMap,
    body: &[u8],
    model: &standing_rules::Model,
) -> Result<Vec<Slot>, ApiError> {
    records(body, format_of(headers)?, model)
}

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
    let taken = tokio::task::spawn_blocking(move || {
        let sender = Sender { key: &key };
        let intake = worker
            .house
            .ingest(sender, |model| records(&body, format, model));
        (intake, key)
    })
    .await
    .map_err(|error| ApiError::failed("stopping", "the server is stopping", error))?;
    let (intake, key) = taken;
    let intake = intake.map_err(|error| match error {
        IntakeError::Read(error) => refuse(&state, Some(&key), &request, error),
        IntakeError::NotDurable(error) => {
            let error = ApiError::failed(
                "not_durable",
                "the log could not be written: nothing of this request was acknowledged",
                error,
            );
            refuse(&state, Some(&key), &request, error)
        }
        IntakeError::Audit(error) => error.into(),
    })?;
    let by_source: Vec<(&str, u64)> = intake.by_source.iter().map(|(s, n)| (&**s, *n)).collect();
    let (duplicate, conflict) = (intake.duplicate(), intake.conflict());
    let rejected = intake.rejected();
    state
        .activity
        .accepted(&by_source, duplicate + conflict, rejected as usize);
    let results: Vec<Value> = intake.results.iter().map(result_json).collect();
    Ok(Json(json!({
        "accepted": intake.accepted(),
        "duplicate": duplicate,
        "conflict": conflict,
        "rejected": rejected,
        "durable": true,
        "results": results,
    })))
}

/// One record's answer, as the API gives it.
fn result_json(result: &RecordResult) -> Value {
    let mut answer = json!({"index": result.index});
    if let Some((id, source)) = &result.event {
        answer["id"] = json!(&**id);
        answer["source"] = json!(&**source);
    }
    answer["status"] = json!(result.outcome.status());
    match &result.outcome {
        Outcome::Conflict(reason) => {
            answer["code"] = json!("conflict");
            answer["reason"] = json!(reason);
        }
        Outcome::Rejected { code, reason } => {
            answer["code"] = json!(code);
            answer["reason"] = json!(reason);
        }
        Outcome::Accepted | Outcome::Duplicate => {}
    }
    answer
}
