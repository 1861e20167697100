//! Human review over HTTP: operators list and resolve the decisions held for review; the
//! consumer that asked reads the outcome by decision id (the duty itself:
//! `standing_accountability::review`).

use crate::extract::Caller;
use crate::{ApiError, ApiResult, AppState, audit, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use standing_accountability::keys::RoleKind;
use standing_accountability::review::{ReviewError, ReviewVerdict};
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    use crate::extract::{About, endpoint};
    endpoint!(Reviews, "reviews", Operator);
    endpoint!(Review, "review", Operator; "decision_id" => decision);
    endpoint!(Decision, "decision.status", Consumer, Operator; "decision_id" => decision);

    /// The subject and purpose of a decision held for review.
    fn decision(state: &crate::AppState, id: &str) -> About {
        let review = state.house.reviews.get(id);
        About {
            subject: review.as_ref().map(|review| review.subject.clone()),
            purpose: review.map(|review| review.purpose),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(error: ReviewError) -> ApiError {
        let (status, code) = match &error {
            ReviewError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_review"),
            ReviewError::AlreadyReviewed { .. } => (StatusCode::CONFLICT, "already_reviewed"),
            ReviewError::NotDurable(error) => {
                return ApiError::failed("not_durable", "the change was not recorded", error);
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// Decisions waiting for a person's review.
#[utoipa::path(get, path = "/v1/reviews", tag = "operators",
    responses((status = 200, description = "Pending reviews, oldest decision id first", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_reviews(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Reviews>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let pending: Vec<Value> = state
        .house
        .reviews
        .pending()
        .iter()
        .map(|r| r.to_json())
        .collect();
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} pending", pending.len()),
    )?;
    Ok(Json(json!({"pending": pending})))
}

/// A reviewer's outcome.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Resolution {
    /// `allow` or `deny`.
    verdict: String,
    /// Why, for the record and the subject.
    note: String,
}

/// Resolves a pending review: the final verdict, with a note.
#[utoipa::path(post, path = "/v1/reviews/{decision_id}", tag = "operators",
    params(("decision_id" = String, Path, description = "The decision held for review")),
    request_body = Resolution,
    responses((status = 200, description = "The final decision", body = Object),
        (status = 400, description = "The verdict is not allow or deny", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such review", body = crate::openapi::ErrorBody),
        (status = 409, description = "Already resolved", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_review(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Review>,
    Path(decision_id): Path<String>,
    resolution: crate::extract::DeferredBody<Json<Resolution>>,
) -> ApiResult {
    let (key, request) = (&*caller.key, caller.asked());
    let Some(review) = state.house.reviews.get(&decision_id) else {
        let error = ReviewError::Unknown(decision_id);
        return Err(refuse(&state, Some(key), &request, error.into()));
    };
    let Json(resolution) = resolution.open(&state, key, &request)?;
    if !review.is_pending() {
        let error = ReviewError::AlreadyReviewed {
            id: decision_id,
            status: review.status,
        };
        return Err(refuse(&state, Some(key), &request, error.into()));
    }
    let Some(verdict) = ReviewVerdict::parse(&resolution.verdict) else {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_verdict",
            "`verdict` is `allow` or `deny`",
        );
        return Err(refuse(&state, Some(key), &request, error));
    };
    let (worker, by, at) = (Arc::clone(&state), key.id.clone(), (state.house.now)());
    let id = decision_id.clone();
    let resolved = crate::off_worker(move || {
        let reviews = &worker.house.reviews;
        reviews.resolve(&id, verdict, &by, at, resolution.note)
    })
    .await?;
    let review = resolved.map_err(|error| refuse(&state, Some(key), &request, error.into()))?;
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} {decision_id}", review.status.name()),
    )?;
    Ok(Json(review.to_json()))
}

/// A decision held for review, as it stands: the consumer that asked, or an operator.
#[utoipa::path(get, path = "/v1/decisions/{decision_id}", tag = "consumers",
    params(("decision_id" = String, Path, description = "A decision that was held for review")),
    responses((status = 200, description = "The decision: `pending_review`, or the reviewed verdict", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Another consumer's decision", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such review", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_decision(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Decision>,
    Path(decision_id): Path<String>,
) -> ApiResult {
    let (key, request) = (&*caller.key, caller.asked());
    let found = state.house.reviews.get(&decision_id);
    let Some(review) = &found else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            format!("no decision `{decision_id}` is held for review"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    };
    if !key.is(RoleKind::Operator) && key.id != review.asked_by {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "not_yours",
            format!("decision `{decision_id}` was asked for by another key"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        review.status.name().to_owned(),
    )?;
    Ok(Json(review.to_json()))
}
