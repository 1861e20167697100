//! Disputes over HTTP: a subject (or an operator) contests an event about them, an operator
//! resolves it, and the source hears of both on the change stream (the duty itself:
//! `standing_accountability::disputes`).

use crate::extract::Caller;
use crate::watch::{Change, Changes};
use crate::{ApiError, ApiResult, AppState, audit, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use standing_accountability::disputes::{Dispute, DisputeError, Outcome};
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    use crate::extract::{About, endpoint};
    endpoint!(DisputeOpen, "dispute.open", Operator, Subject);
    endpoint!(Disputes, "disputes", Operator, Subject);
    endpoint!(DisputeResolve, "dispute.resolve", Operator; "dispute_id" => dispute);

    /// The subject of a dispute.
    fn dispute(state: &crate::AppState, id: &str) -> About {
        About {
            subject: state.house.disputes.get(id).map(|dispute| dispute.subject),
            purpose: None,
        }
    }
}

impl From<DisputeError> for ApiError {
    fn from(error: DisputeError) -> ApiError {
        let (status, code) = match &error {
            DisputeError::AlreadyRetracted { .. } => (StatusCode::CONFLICT, "already_retracted"),
            DisputeError::UnknownEvent { .. } => (StatusCode::NOT_FOUND, "unknown_event"),
            DisputeError::NotDisputable => (StatusCode::CONFLICT, "not_disputable"),
            DisputeError::AlreadyDisputed { .. } => (StatusCode::CONFLICT, "already_disputed"),
            DisputeError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_dispute"),
            DisputeError::AlreadyResolved { .. } => (StatusCode::CONFLICT, "already_resolved"),
            DisputeError::NotApplied(_) => (StatusCode::CONFLICT, "not_applied"),
            DisputeError::Log(error) => {
                return ApiError::failed("not_durable", "the log could not be written", error);
            }
            DisputeError::NotDurable(error) => {
                return ApiError::failed("not_durable", "the dispute was not recorded", error);
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// A dispute as the API shows it: its stored form.
fn dispute_json(dispute: &Dispute) -> Value {
    json!(dispute)
}

/// Upholds every open dispute past its deadline and tells the change stream; how many.
pub fn uphold_overdue(state: &AppState) -> usize {
    let upheld = state.house.uphold_overdue();
    for dispute in &upheld {
        notify(state, dispute);
    }
    upheld.len()
}

/// Tells the change stream (the source above all) that a dispute opened or ended.
fn notify(state: &AppState, dispute: &Dispute) {
    let change = Change::Dispute {
        subject: dispute.subject.as_str().into(),
        id: dispute.id.as_str().into(),
        source: dispute.source.as_str().into(),
        event: dispute.event.as_str().into(),
        status: dispute.status.name().into(),
    };
    state.watch.publish(Changes {
        at: (state.house.now)(),
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
    caller: Caller<calls::DisputeOpen>,
    Path(subject): Path<String>,
    asked: crate::extract::DeferredBody<Json<DisputeRequest>>,
) -> Result<Response, ApiError> {
    let key = std::sync::Arc::clone(&caller.key);
    let request = caller.asked();
    let Json(asked) = asked.open(&state, &key, &request)?;
    let (worker, opener) = (Arc::clone(&state), Arc::clone(&key));
    let owned = subject.clone();
    let opened = crate::off_worker(move || {
        let house = &worker.house;
        house.open_dispute(&opener, &owned, &asked.source, &asked.event, &asked.reason)
    })
    .await?;
    let opened = opened.map_err(|error| refuse(&state, Some(&key), &request, error.into()))?;
    let dispute = &opened.dispute;
    notify(&state, dispute);
    let summary = format!(
        "{} open: {} of {}",
        dispute.id, dispute.event, dispute.source
    );
    audit(&state, Some(&key), &request, request.action, summary)?;
    let mut answer = dispute_json(dispute);
    answer["score_before"] = json!(opened.score_before.map(crate::json::round));
    answer["score_after"] = json!(opened.score_after.map(crate::json::round));
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
    caller: Caller<calls::DisputeResolve>,
    Path(dispute_id): Path<String>,
    resolution: crate::extract::DeferredBody<Json<DisputeResolution>>,
) -> ApiResult {
    let (key, request) = (Arc::clone(&caller.key), caller.asked());
    let Json(resolution) = resolution.open(&state, &key, &request)?;
    let Some(dispute) = state.house.disputes.get(&dispute_id) else {
        let error = DisputeError::Unknown(dispute_id);
        return Err(refuse(&state, Some(&key), &request, error.into()));
    };
    if dispute.status != standing_accountability::disputes::DisputeStatus::Open {
        let error = DisputeError::AlreadyResolved {
            id: dispute_id,
            status: dispute.status,
        };
        return Err(refuse(&state, Some(&key), &request, error.into()));
    }
    let Some(outcome) = Outcome::parse(&resolution.outcome) else {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_outcome",
            "`outcome` is `upheld` or `restored`",
        );
        return Err(refuse(&state, Some(&key), &request, error));
    };
    let (worker, by) = (Arc::clone(&state), key.id.clone());
    let resolved = crate::off_worker(move || {
        let house = &worker.house;
        house.resolve_dispute(&dispute.id, outcome, &by, resolution.note)
    })
    .await?;
    let resolved = resolved.map_err(|error| refuse(&state, Some(&key), &request, error.into()))?;
    notify(&state, &resolved);
    audit(
        &state,
        Some(&key),
        &request,
        request.action,
        format!("{} {}", resolved.id, resolved.status.name()),
    )?;
    Ok(Json(dispute_json(&resolved)))
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
    caller: Caller<calls::Disputes>,
    Path(subject): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let disputes = state.house.disputes.of_subject(&subject);
    let disputes: Vec<Value> = disputes.iter().map(dispute_json).collect();
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} disputes", disputes.len()),
    )?;
    Ok(Json(json!({"subject": subject, "disputes": disputes})))
}
