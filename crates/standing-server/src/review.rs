//! Human review of adverse decisions: a purpose declared with `review = "adverse"` answers a
//! deny as `pending_review`; an operator resolves it (allow or deny, with a note), and the
//! consumer reads the outcome by decision id. Every opening and resolution is kept in
//! `review/reviews.jsonl`, synced before it is answered, and audited.

use crate::keys::Role;
use crate::ledger::{Ledger, LedgerError};
use crate::{ApiError, ApiResult, AppState, Request, audit, authenticate, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A decision held for review, and how it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Review {
    pub decision_id: String,
    pub purpose: String,
    pub subject: String,
    /// The decision as the model made it (JSON form), with its reasons.
    pub proposed: Value,
    /// The key that asked.
    pub asked_by: String,
    pub opened_at: String,
    /// `pending_review`, `allow` or `deny`.
    pub status: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<String>,
    pub note: Option<String>,
}

/// The reviews of a data directory.
#[derive(Debug)]
pub struct Reviews {
    ledger: Ledger,
    by_id: Mutex<BTreeMap<String, Review>>,
    /// Held by one change at a time, over its sync: readers of `by_id` never wait for disk.
    writing: Mutex<()>,
}

impl Reviews {
    pub fn open(directory: &std::path::Path) -> Result<Reviews, LedgerError> {
        let (ledger, records) = Ledger::open::<Review>(&directory.join("review/reviews.jsonl"))?;
        // Later records of a decision supersede earlier ones.
        let by_id = records
            .into_iter()
            .map(|review| (review.decision_id.clone(), review))
            .collect();
        Ok(Reviews {
            ledger,
            by_id: Mutex::new(by_id),
            writing: Mutex::new(()),
        })
    }

    pub fn get(&self, decision_id: &str) -> Option<Review> {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(decision_id)
            .cloned()
    }

    /// Keeps a review (durable first); an existing one for the same decision is returned as it
    /// stands instead.
    pub fn open_review(&self, review: Review) -> Result<Review, LedgerError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.get(&review.decision_id) {
            return Ok(existing);
        }
        self.ledger.append(&review)?;
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(review.decision_id.clone(), review.clone());
        Ok(review)
    }

    /// Records a resolution, unless the review was resolved meanwhile (`Ok(false)`).
    fn resolve(&self, review: Review) -> Result<bool, LedgerError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .get(&review.decision_id)
            .is_some_and(|r| r.status != "pending_review")
        {
            return Ok(false);
        }
        self.ledger.append(&review)?;
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(review.decision_id.clone(), review);
        Ok(true)
    }

    fn pending(&self) -> Vec<Review> {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.status == "pending_review")
            .cloned()
            .collect()
    }
}

pub(crate) fn review_json(review: &Review) -> Value {
    let mut answer = review.proposed.clone();
    answer["verdict"] = json!(review.status);
    answer["review"] = json!({
        "status": if review.status == "pending_review" { "pending" } else { "reviewed" },
        "proposed_verdict": review.proposed["verdict"],
        "opened_at": review.opened_at,
        "reviewed_at": review.reviewed_at,
        "reviewed_by": review.reviewed_by,
        "note": review.note,
    });
    answer
}

/// Decisions waiting for a person's review.
#[utoipa::path(get, path = "/v1/reviews", tag = "operators",
    responses((status = 200, description = "Pending reviews, oldest decision id first", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_reviews(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult {
    let request = Request {
        action: "reviews",
        subject: None,
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator], &request)?;
    let key = &*key;
    let pending: Vec<Value> = state.reviews.pending().iter().map(review_json).collect();
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

/// The answer when a review could not be made durable: nothing of it was kept.
pub(crate) fn not_recorded(error: LedgerError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_durable",
        format!("the review was not recorded: {error}"),
    )
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
    headers: HeaderMap,
    Path(decision_id): Path<String>,
    resolution: crate::extract::DeferredBody<Json<Resolution>>,
) -> ApiResult {
    let Some(mut review) = state.reviews.get(&decision_id) else {
        let request = Request {
            action: "review",
            subject: None,
            purpose: None,
        };
        let key = authenticate(&state, &headers, &[Role::Operator], &request)?;
        let key = &*key;
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_review",
            format!("no decision `{decision_id}` is held for review"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    };
    let request = Request {
        action: "review",
        subject: Some(&review.subject),
        purpose: Some(&review.purpose),
    };
    let key = authenticate(&state, &headers, &[Role::Operator], &request)?;
    let key = &*key;
    let Json(resolution) = resolution.open(&state, key, &request)?;
    if review.status != "pending_review" {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            "already_reviewed",
            format!("decision `{decision_id}` was reviewed: {}", review.status),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    if resolution.verdict != "allow" && resolution.verdict != "deny" {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_verdict",
            "`verdict` is `allow` or `deny`",
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    review.status = resolution.verdict.clone();
    review.reviewed_by = Some(key.id.clone());
    review.reviewed_at = Some((state.now)().to_string());
    review.note = Some(resolution.note);
    let (worker, resolving) = (Arc::clone(&state), review.clone());
    let resolved = crate::off_worker(move || worker.reviews.resolve(resolving))
        .await?
        .map_err(not_recorded)?;
    if !resolved {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            "already_reviewed",
            format!("decision `{decision_id}` was reviewed meanwhile"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} {decision_id}", review.status),
    )?;
    Ok(Json(review_json(&review)))
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
    headers: HeaderMap,
    Path(decision_id): Path<String>,
) -> ApiResult {
    let found = state.reviews.get(&decision_id);
    let request = Request {
        action: "decision.status",
        subject: found.as_ref().map(|r| r.subject.as_str()),
        purpose: found.as_ref().map(|r| r.purpose.as_str()),
    };
    let key = authenticate(
        &state,
        &headers,
        &[Role::Consumer, Role::Operator],
        &request,
    )?;
    let key = &*key;
    let Some(review) = &found else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            format!("no decision `{decision_id}` is held for review"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    };
    if key.role != Role::Operator && key.id != review.asked_by {
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
        review.status.clone(),
    )?;
    Ok(Json(review_json(review)))
}
