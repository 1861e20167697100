//! Intake over HTTP: a source's events, checked record by record, applied and made durable
//! before the answer.

use crate::keys::Role;
use crate::{ApiError, ApiResult, AppState, Request, authenticate, read_node};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use standing_engine::ApplyOutcome;
use standing_ingest::{RecordedAt, parse_record};
use std::sync::Arc;

/// The records of a request body: a JSON array, or one JSON object per line (NDJSON).
fn records(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        let values: Vec<Value> = serde_json::from_slice(trimmed).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("the body is not a JSON array of events: {error}"),
            )
        })?;
        Ok(values
            .iter()
            .map(|value| serde_json::to_vec(value).unwrap_or_default())
            .collect())
    } else {
        Ok(body
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.trim_ascii().is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }
}

/// Events from a source: NDJSON (one event per line) or a JSON array. Answers per record
/// (accepted, duplicate, rejected with the reason) once the accepted ones are durable.
#[utoipa::path(post, path = "/v1/events", tag = "sources",
    request_body(content = String, description = "NDJSON events, or a JSON array of events", content_type = "application/x-ndjson"),
    responses(
        (status = 200, description = "Per-record results; every accepted record is on stable storage", body = Object),
        (status = 400, description = "The body is not NDJSON or a JSON array", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not a source or operator key", body = crate::openapi::ErrorBody),
        (status = 503, description = "Nothing was acknowledged: the log could not be made durable", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let request = Request {
        action: "events",
        subject: None,
        purpose: None,
    };
    authenticate(&state, &headers, &[Role::Source, Role::Operator], &request)?;
    let records = records(&body)?;
    let worker = Arc::clone(&state);
    // Intake syncs the log: off the async workers.
    tokio::task::spawn_blocking(move || ingest(&worker, &records))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            )
        })?
}

/// Checks every record, applies and syncs the good ones, and answers per record.
pub(crate) fn ingest(state: &AppState, records: &[Vec<u8>]) -> ApiResult {
    // Records are parsed under no lock; only applying and syncing hold the node alone. A model
    // activated in between means parsing again under the new one.
    let now = (state.now)();
    let mut model = read_node(state).model().clone();
    let (mut node, results, events, bodies, slots) = loop {
        let mut results: Vec<Value> = Vec::with_capacity(records.len());
        let mut events = Vec::new();
        let mut bodies: Vec<&[u8]> = Vec::new();
        let mut slots = Vec::new();
        for (index, record) in records.iter().enumerate() {
            match parse_record(&model, record, RecordedAt::FromRecordOr(now)) {
                Ok(event) => {
                    results
                        .push(json!({"index": index, "id": &*event.id, "source": &*event.source}));
                    slots.push(index);
                    events.push(event);
                    bodies.push(record.as_slice());
                }
                Err(error) => results.push(json!({
                    "index": index, "status": "rejected", "reason": error.to_string(),
                })),
            }
        }
        let node = crate::write_node(state);
        if std::sync::Arc::ptr_eq(node.model(), &model) {
            break (node, results, events, bodies, slots);
        }
        model = node.model().clone();
    };
    let report = node.ingest(&events, &bodies).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_durable",
            format!("nothing of this request was acknowledged: {error}"),
        )
    })?;
    let mut results = results;
    let (mut accepted, mut duplicate, mut rejected) = (0, 0, records.len() - events.len());
    drop(node);
    let mut by_source: Vec<(&str, u64)> = Vec::new();
    for ((slot, outcome), event) in slots.into_iter().zip(&report.outcomes).zip(&events) {
        let result = &mut results[slot];
        match outcome {
            ApplyOutcome::Accepted => {
                accepted += 1;
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
            refused => {
                rejected += 1;
                result["status"] = json!("rejected");
                result["reason"] = json!(refused.to_string());
            }
        }
    }
    state.activity.accepted(&by_source, duplicate, rejected);
    Ok(Json(json!({
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "durable": true,
        "results": results,
    })))
}
