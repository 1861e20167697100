//! Consent over HTTP: a subject's consent per purpose, read and changed by an operator or the
//! subject's own key (what consent decides: `standing_accountability::consent`).

use crate::extract::Caller;
use crate::{ApiError, ApiResult, AppState, audit, off_worker, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use standing_accountability::audit::Asked;
use standing_accountability::consent::{Choice, ConsentError, ConsentState};
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Consent, "consent", Operator, Subject);
    crate::extract::endpoint!(ConsentChange, "consent.change", Operator, Subject);
}

impl From<ConsentError> for ApiError {
    fn from(error: ConsentError) -> ApiError {
        let (status, code) = match &error {
            ConsentError::BadSubject(_) => (StatusCode::BAD_REQUEST, "bad_id"),
            ConsentError::UnknownPurpose { .. } => (StatusCode::NOT_FOUND, "unknown_purpose"),
            ConsentError::RequiredByLaw { .. } => (StatusCode::CONFLICT, "required_by_law"),
            ConsentError::NotGiven { .. } => (StatusCode::FORBIDDEN, "no_consent"),
            ConsentError::NotDurable(error) => {
                return ApiError::failed("not_durable", "the change was not recorded", error);
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// A subject's consent for every purpose of the model, with each purpose's basis.
#[utoipa::path(get, path = "/v1/subjects/{subject}/consent", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id")),
    responses((status = 200, description = "Per purpose: basis, state, and whether it may use the subject's data now", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key, or another subject's key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_consent(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Consent>,
    Path(subject): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let model = state.house.read_node().model().clone();
    let purposes: Vec<_> = state
        .house
        .consents
        .overview(&model, &subject)
        .iter()
        .map(|c| {
            json!({
                "purpose": c.purpose, "basis": c.basis, "legal_basis": c.legal_basis,
                "state": c.state, "since": c.since.map(|at| at.to_string()), "permitted": c.permitted,
            })
        })
        .collect();
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} purposes", purposes.len()),
    )?;
    Ok(Json(json!({"subject": subject, "purposes": purposes})))
}

/// A consent given or withdrawn.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ConsentChange {
    choice: ChoiceBody,
}

/// A subject's choice for a purpose.
#[derive(Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChoiceBody {
    OptedIn,
    OptedOut,
}

/// Records a subject's choice for a purpose (an operator, or the subject's own key); it takes
/// effect at once (the next request sees
/// it). A purpose required by law cannot be opted out of.
#[utoipa::path(put, path = "/v1/subjects/{subject}/consent/{purpose}", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id"),
        ("purpose" = String, Path, description = "A purpose of the model")),
    request_body = ConsentChange,
    responses((status = 200, description = "Recorded and in force", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key, or another subject's key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such purpose", body = crate::openapi::ErrorBody),
        (status = 409, description = "The purpose is required by law", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn put_consent(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::ConsentChange>,
    Path((subject, purpose)): Path<(String, String)>,
    change: crate::extract::DeferredBody<Json<ConsentChange>>,
) -> ApiResult {
    let key = &*caller.key;
    let request = Asked {
        purpose: Some(&purpose),
        ..caller.asked()
    };
    if let Err(problem) = standing_core::id::check_id(&subject) {
        let error = ConsentError::BadSubject(problem.to_string());
        return Err(refuse(&state, Some(key), &request, error.into()));
    }
    let Json(change) = change.open(&state, key, &request)?;
    let model = state.house.read_node().model().clone();
    let at = (state.house.now)();
    let choice = match change.choice {
        ChoiceBody::OptedIn => Choice::OptedIn,
        ChoiceBody::OptedOut => Choice::OptedOut,
    };
    let (worker, by, model_used) = (Arc::clone(&state), key.id.clone(), Arc::clone(&model));
    let (subject_owned, purpose_owned) = (subject.clone(), purpose.clone());
    let changed = off_worker(move || {
        let consents = &worker.house.consents;
        consents.change(&model_used, &subject_owned, &purpose_owned, choice, &by, at)
    })
    .await?;
    let record = changed.map_err(|error| refuse(&state, Some(key), &request, error.into()))?;
    // Recorded, so the purpose is not required by law: the state is the choice.
    let name = match record.choice {
        Choice::OptedIn => ConsentState::OptedIn,
        Choice::OptedOut => ConsentState::OptedOut,
    };
    let permitted = model
        .purpose(&purpose)
        .is_some_and(|p| state.house.consents.permits(&subject, p));
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        name.name().to_owned(),
    )?;
    Ok(Json(json!({
        "subject": subject,
        "purpose": purpose,
        "state": name,
        "since": record.at.to_string(),
        "permitted": permitted,
    })))
}
