//! Disputes (FCRA §611, GDPR Art. 16 and 22(3)): a subject or an operator contests an event
//! or a relation. While the dispute is open the item is suspended — a retraction under its
//! source's name goes into the log, so scores change at once and stay reproducible — and the
//! 30-day clock runs; the source hears of it on the change stream. Resolution upholds the
//! dispute (the item stays out) or restores the item (a copy of it goes back into the log, id
//! `ORIGINAL~restored`). A dispute still open after 30 days is upheld: an item nobody verified
//! is deleted. Everything is kept in `disputes/disputes.jsonl` and audited.

use crate::keys::Role;
use crate::ledger::{Ledger, LedgerError};
use crate::watch::{Change, Changes};
use crate::{ApiError, ApiResult, AppState, Request, audit, authenticate, read_node, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use standing_core::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The time a source has to verify a disputed item (FCRA §611(a)(1)).
const DEADLINE: i64 = 30 * 86_400;

/// A dispute, as it stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub subject: String,
    pub source: String,
    /// The contested event's id (of `source`).
    pub event: String,
    pub reason: String,
    /// The key that opened it.
    pub opened_by: String,
    pub opened_at: String,
    /// When an unresolved dispute is upheld.
    pub due: String,
    /// `open`, `upheld` (the item stays out) or `restored`.
    pub status: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

/// The disputes of a data directory.
#[derive(Debug)]
pub struct Disputes {
    ledger: Ledger,
    by_id: Mutex<BTreeMap<String, Dispute>>,
    /// Held across each opening and resolution, from its check to its record: one at a time.
    gate: Mutex<()>,
    /// Held by a writer across its ledger sync, so the map's lock, which readers take, never is.
    writing: Mutex<()>,
}

impl Disputes {
    pub fn open(directory: &std::path::Path) -> Result<Disputes, LedgerError> {
        let (ledger, records) =
            Ledger::open::<Dispute>(&directory.join("disputes/disputes.jsonl"))?;
        let by_id = records.into_iter().map(|d| (d.id.clone(), d)).collect();
        Ok(Disputes {
            ledger,
            by_id: Mutex::new(by_id),
            gate: Mutex::new(()),
            writing: Mutex::new(()),
        })
    }

    fn all(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Dispute>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a dispute, durable first: readers see it once it is synced, and never wait for
    /// the sync (the map's lock is taken only to insert it).
    fn keep(&self, dispute: Dispute) -> Result<(), LedgerError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        self.ledger.append(&dispute)?;
        self.all().insert(dispute.id.clone(), dispute);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Dispute> {
        self.all().get(id).cloned()
    }
}

fn dispute_json(dispute: &Dispute) -> Value {
    serde_json::to_value(dispute).unwrap_or(Value::Null)
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_durable",
        error.to_string(),
    )
}

/// The subject's records in the log, as received (JSON).
fn parsed_records(node: &standing_node::Node, subject: &str) -> Result<Vec<Value>, ApiError> {
    Ok(node
        .records_about(subject)
        .map_err(unavailable)?
        .iter()
        .filter_map(|record| serde_json::from_slice::<Value>(&record.body).ok())
        .collect())
}

fn records_of(state: &AppState, subject: &str) -> Result<Vec<Value>, ApiError> {
    parsed_records(&read_node(state), subject)
}

/// Sends one event record through intake (parsed, applied, synced) from `origin` (the key that
/// opened or resolved the dispute: the log keeps it with the record); `Err` unless accepted.
fn apply(state: &AppState, origin: &str, record: &Value) -> Result<(), ApiError> {
    let answer = crate::intake::ingest_records(state, origin, &[record.to_string().into_bytes()])?;
    match answer.0["results"][0]["status"].as_str() {
        Some("accepted") => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_applied",
            format!("the log did not take it: {}", answer.0["results"][0]),
        )),
    }
}

fn notify(state: &AppState, dispute: &Dispute) {
    let change = Change::Dispute {
        subject: dispute.subject.as_str().into(),
        id: dispute.id.as_str().into(),
        source: dispute.source.as_str().into(),
        event: dispute.event.as_str().into(),
        status: dispute.status.as_str().into(),
    };
    state.watch.publish(Changes {
        at: (state.now)(),
        changes: vec![change],
    });
}

/// A dispute asked for.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DisputeRequest {
    /// The contested event's source.
    source: String,
    /// The contested event's id.
    event: String,
    /// Why the subject contests it.
    reason: String,
}

/// Contests an event or relation about the subject: it is suspended from scoring at once.
#[utoipa::path(post, path = "/v1/subjects/{subject}/disputes", tag = "subjects",
    params(("subject" = String, Path, description = "The subject's id")),
    request_body = DisputeRequest,
    responses((status = 201, description = "Open; the item is suspended; the score before and after", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Another subject's, or not an operator or subject key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such event about the subject", body = crate::openapi::ErrorBody),
        (status = 409, description = "The event is already disputed", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_dispute(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    asked: crate::extract::DeferredBody<Json<DisputeRequest>>,
) -> Result<Response, ApiError> {
    let request = Request {
        action: "dispute.open",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &request)?;
    crate::own_subject(&state, &key, &request, &subject)?;
    let Json(asked) = asked.open(&state, &key, &request)?;
    let worker = Arc::clone(&state);
    let subject_owned = subject.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let state = &*worker;
        let _one_at_a_time = state.disputes.gate.lock().unwrap_or_else(|p| p.into_inner());
        let subject = subject_owned;
        let request = Request { action: "dispute.open", subject: Some(&subject), purpose: None };
        let (record, before) = {
            let node = read_node(state);
            let parsed = parsed_records(&node, &subject)?;
            let record = parsed
                .iter()
                .find(|r| r["source"] == asked.source.as_str() && r["id"] == asked.event.as_str())
                .cloned();
            // An item already retracted (by its source, or by an earlier dispute) is not in
            // the score: suspending it again would change nothing.
            let retracted = parsed.iter().any(|r| {
                r["type"] == "retraction"
                    && r["source"] == asked.source.as_str()
                    && r["fields"]["event"] == asked.event.as_str()
            });
            if retracted {
                let restored = format!("{}~restored", asked.event);
                let live = parsed.iter().any(|r| r["source"] == asked.source.as_str() && r["id"] == restored.as_str());
                let hint = if live { format!("; it counts again as `{restored}`: dispute that") } else { String::new() };
                let error = ApiError::new(StatusCode::CONFLICT, "already_retracted", format!("event `{}` of `{}` was retracted{hint}", asked.event, asked.source));
                drop(node);
                return Err(refuse(state, Some(&key), &request, error));
            }
            (record, node.engine().score(&subject).map(|s| s.value))
        };
        let Some(record) = record else {
            let error = ApiError::new(StatusCode::NOT_FOUND, "unknown_event", format!("no event `{}` of `{}` about `{subject}`", asked.event, asked.source));
            return Err(refuse(state, Some(&key), &request, error));
        };
        if record["type"] == "retraction" {
            let error = ApiError::new(StatusCode::CONFLICT, "not_disputable", "a retraction is not an item; dispute the event it retracted");
            return Err(refuse(state, Some(&key), &request, error));
        }
        let open = state.disputes.all().values().any(|d| {
            d.source == asked.source && d.event == asked.event && d.status == "open"
        });
        if open {
            let error = ApiError::new(StatusCode::CONFLICT, "already_disputed", format!("event `{}` of `{}` is already disputed", asked.event, asked.source));
            return Err(refuse(state, Some(&key), &request, error));
        }
        let now = (state.now)();
        let id = format!("dsp-{}-{}", now.0, state.disputes.all().len() + 1);
        // Suspended: retracted under the source's name, so scoring and replay agree.
        apply(state, &key.id, &json!({
            "id": format!("{id}~suspend"), "source": asked.source, "subject": subject, "type": "retraction",
            "occurred_at": record["occurred_at"], "fields": {"event": asked.event, "reason": format!("disputed ({id}): {}", asked.reason)},
        }))?;
        let dispute = Dispute {
            id,
            subject: subject.clone(),
            source: asked.source,
            event: asked.event,
            reason: asked.reason,
            opened_by: key.id.clone(),
            opened_at: now.to_string(),
            due: Timestamp(now.0 + DEADLINE).to_string(),
            status: "open".into(),
            resolved_at: None,
            resolved_by: None,
            note: None,
        };
        state.disputes.keep(dispute.clone()).map_err(unavailable)?;
        notify(state, &dispute);
        let after = read_node(state).engine().score(&subject).map(|s| s.value);
        audit(state, Some(&key), &request, request.action, format!("{} open: {} of {}", dispute.id, dispute.event, dispute.source))?;
        let mut answer = dispute_json(&dispute);
        answer["score_before"] = json!(before.map(crate::json::round));
        answer["score_after"] = json!(after.map(crate::json::round));
        Ok(answer)
    })
    .await
    .map_err(unavailable)??;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A reviewer's resolution.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DisputeResolution {
    /// `upheld` (the item stays out) or `restored` (the source verified it).
    outcome: String,
    note: String,
}

/// Resolves a dispute: upheld (the item stays out) or restored (it counts again).
#[utoipa::path(post, path = "/v1/disputes/{dispute_id}", tag = "operators",
    params(("dispute_id" = String, Path, description = "The dispute")),
    request_body = DisputeResolution,
    responses((status = 200, description = "Resolved", body = Object),
        (status = 400, description = "The outcome is not upheld or restored", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such dispute", body = crate::openapi::ErrorBody),
        (status = 409, description = "Already resolved", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_resolution(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(dispute_id): Path<String>,
    resolution: crate::extract::DeferredBody<Json<DisputeResolution>>,
) -> ApiResult {
    let found = state.disputes.get(&dispute_id);
    let request = Request {
        action: "dispute.resolve",
        subject: found.as_ref().map(|d| d.subject.as_str()),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator], &request)?;
    let Json(resolution) = resolution.open(&state, &key, &request)?;
    let Some(dispute) = found.clone() else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_dispute",
            format!("no dispute `{dispute_id}`"),
        );
        return Err(refuse(&state, Some(&key), &request, error));
    };
    if dispute.status != "open" {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            "already_resolved",
            format!("dispute `{dispute_id}` was resolved: {}", dispute.status),
        );
        return Err(refuse(&state, Some(&key), &request, error));
    }
    if resolution.outcome != "upheld" && resolution.outcome != "restored" {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_outcome",
            "`outcome` is `upheld` or `restored`",
        );
        return Err(refuse(&state, Some(&key), &request, error));
    }
    let worker = Arc::clone(&state);
    let by = key.id.clone();
    let resolved = tokio::task::spawn_blocking(move || {
        resolve(&worker, dispute, &resolution.outcome, &by, resolution.note)
    })
    .await
    .map_err(unavailable)??;
    audit(
        &state,
        Some(&key),
        &request,
        request.action,
        format!("{} {}", resolved.id, resolved.status),
    )?;
    Ok(Json(dispute_json(&resolved)))
}

/// Resolves an open dispute; a restored item goes back into the log as a copy.
fn resolve(
    state: &AppState,
    dispute: Dispute,
    outcome: &str,
    by: &str,
    note: String,
) -> Result<Dispute, ApiError> {
    let _one_at_a_time = state
        .disputes
        .gate
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    // Resolved meanwhile (an operator and the deadline at once): the first one stands.
    let Some(mut dispute) = state
        .disputes
        .get(&dispute.id)
        .filter(|d| d.status == "open")
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_resolved",
            format!("dispute `{}` was resolved meanwhile", dispute.id),
        ));
    };
    if outcome == "restored" {
        let original = records_of(state, &dispute.subject)?
            .into_iter()
            .find(|r| r["source"] == dispute.source.as_str() && r["id"] == dispute.event.as_str());
        let Some(mut copy) = original else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_applied",
                "the disputed event is no longer in the log",
            ));
        };
        copy["id"] = json!(format!("{}~restored", dispute.event));
        // Recorded now: "as known at" before the restoration, it was suspended.
        if let Some(fields) = copy.as_object_mut() {
            fields.remove("recorded_at");
        }
        apply(state, by, &copy)?;
    }
    dispute.status = outcome.to_owned();
    dispute.resolved_at = Some((state.now)().to_string());
    dispute.resolved_by = Some(by.to_owned());
    dispute.note = Some(note);
    state.disputes.keep(dispute.clone()).map_err(unavailable)?;
    notify(state, &dispute);
    Ok(dispute)
}

/// Upholds every open dispute past its 30 days (the item was not verified in time). Returns
/// how many; called with the clock tick.
pub fn uphold_overdue(state: &AppState) -> usize {
    let now = (state.now)().to_string();
    let overdue: Vec<Dispute> = state
        .disputes
        .all()
        .values()
        .filter(|d| d.status == "open" && d.due <= now)
        .cloned()
        .collect();
    let mut upheld = 0;
    for dispute in overdue {
        let note = "not verified by the source within 30 days: deleted".to_owned();
        if let Ok(resolved) = resolve(state, dispute, "upheld", "standing (deadline)", note) {
            let request = Request {
                action: "dispute.resolve",
                subject: Some(&resolved.subject),
                purpose: None,
            };
            let _ = audit(
                state,
                None,
                &request,
                request.action,
                format!("{} upheld at its deadline", resolved.id),
            );
            upheld += 1;
        }
    }
    upheld
}

/// Disputes, open ones or all, newest first (operators; a subject's key for its own).
#[utoipa::path(get, path = "/v1/subjects/{subject}/disputes", tag = "subjects",
    params(("subject" = String, Path, description = "The subject's id")),
    responses((status = 200, description = "The subject's disputes", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Another subject's, or not an operator or subject key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_disputes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> ApiResult {
    let request = Request {
        action: "disputes",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &request)?;
    let key = &*key;
    crate::own_subject(&state, key, &request, &subject)?;
    let disputes: Vec<Value> = state
        .disputes
        .all()
        .values()
        .rev()
        .filter(|d| d.subject == subject)
        .map(dispute_json)
        .collect();
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} disputes", disputes.len()),
    )?;
    Ok(Json(json!({"subject": subject, "disputes": disputes})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute(id: &str) -> Dispute {
        Dispute {
            id: id.into(),
            subject: "p-1".into(),
            source: "courts".into(),
            event: "c1".into(),
            reason: "not mine".into(),
            opened_by: "key-0000000a".into(),
            opened_at: "2026-01-01T00:00:00Z".into(),
            due: "2026-01-31T00:00:00Z".into(),
            status: "open".into(),
            resolved_at: None,
            resolved_by: None,
            note: None,
        }
    }

    /// A reader of the disputes never waits for a writer's disk sync: with the ledger's file
    /// held (as a slow `fdatasync` holds it), a dispute being kept does not hold up `get`.
    #[test]
    fn a_reader_does_not_wait_for_a_ledger_sync() {
        let directory =
            std::env::temp_dir().join(format!("standing-disputes-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let disputes = std::sync::Arc::new(Disputes::open(&directory).unwrap());
        disputes.keep(dispute("dsp-1")).unwrap();
        let syncing = disputes.ledger.hold();
        let writer = {
            let disputes = std::sync::Arc::clone(&disputes);
            std::thread::spawn(move || disputes.keep(dispute("dsp-2")))
        };
        // Give the writer time to reach the ledger (it then waits for the file).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (answered, answer) = std::sync::mpsc::channel();
        let reader = {
            let disputes = std::sync::Arc::clone(&disputes);
            std::thread::spawn(move || answered.send(disputes.get("dsp-1").is_some()))
        };
        let read = answer.recv_timeout(std::time::Duration::from_secs(5));
        drop(syncing);
        writer.join().unwrap().unwrap();
        reader.join().unwrap().unwrap();
        assert_eq!(read, Ok(true), "the reader waited for the writer's sync");
        assert!(disputes.get("dsp-2").is_some());
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
