//! The subject access report and counterfactuals over HTTP, for operators and for the person's
//! own key, and the subject portal (`/portal`), where the person signs in with that key (what
//! the report holds: `standing_accountability::access`).

use crate::extract::Caller;
use crate::{ApiError, ApiResult, AppState, audit, refuse};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use standing_accountability::access::AccessError;
use standing_accountability::audit::Asked;
use standing_accountability::keys::Key;
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Report, "report", Operator, Subject);
    crate::extract::endpoint!(MyReport, "report", Subject);
    crate::extract::endpoint!(Counterfactuals, "counterfactuals", Operator, Subject);
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> ApiError {
        match error {
            AccessError::UnknownSubject(subject) => crate::consumer::unknown_subject(&subject),
            AccessError::UnknownPurpose(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_purpose", error.to_string())
            }
            AccessError::Log(error) => {
                ApiError::failed("log_unreadable", "the log could not be read", error)
            }
            AccessError::Audit(error) => error.into(),
        }
    }
}

fn report(state: &AppState, key: &Key, subject: &str) -> Result<Value, ApiError> {
    let request = Asked {
        action: "report",
        subject: Some(subject),
        purpose: None,
    };
    let report = state.house.access_report(key, subject);
    report.map_err(|error| refuse(state, Some(key), &request, error.into()))
}

fn finish(state: &AppState, key: &Key, subject: &str, answer: Value) -> ApiResult {
    let request = Asked {
        action: "report",
        subject: Some(subject),
        purpose: None,
    };
    let summary = format!(
        "access report: {} events, {} recipients",
        answer["events"]["count"],
        answer["recipients"].as_array().map_or(0, Vec::len)
    );
    audit(state, Some(key), &request, request.action, summary)?;
    Ok(Json(answer))
}

/// Everything held about a subject (operators; a subject's own key for its own id).
#[utoipa::path(get, path = "/v1/subjects/{subject}/report", tag = "subjects",
    params(("subject" = String, Path, description = "The subject's id")),
    responses((status = 200, description = "The access report", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Another subject's report, or not an operator or subject key", body = crate::openapi::ErrorBody),
        (status = 404, description = "Nothing is held about the subject", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_report(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Report>,
    Path(subject): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let _request = caller.asked();
    report_off_worker(&state, key, subject).await
}

/// Builds the report on a blocking thread: it reads the subject's records from the log and
/// the audit log, which would hold up every other request on a request worker.
async fn report_off_worker(state: &Arc<AppState>, key: &Key, subject: String) -> ApiResult {
    let (worker, owner) = (Arc::clone(state), key.clone());
    let (answer, subject) = crate::off_worker(move || {
        let answer = report(&worker, &owner, &subject);
        (answer, subject)
    })
    .await?;
    finish(state, key, &subject, answer?)
}

/// The access report of the subject whose key this is (the portal's call).
#[utoipa::path(get, path = "/v1/me/report", tag = "subjects",
    responses((status = 200, description = "The access report", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not a subject key", body = crate::openapi::ErrorBody),
        (status = 404, description = "Nothing is held about the subject", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_my_report(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::MyReport>,
) -> ApiResult {
    let key = &*caller.key;
    let _request = caller.asked();
    let subject = key.role.subject().unwrap_or_default().to_owned();
    report_off_worker(&state, key, subject).await
}

const PORTAL: &str = include_str!("../assets/portal.html");

/// The subject portal: sign in with your key, read what is held about you, manage consent.
#[utoipa::path(get, path = "/portal", tag = "subjects",
    responses((status = 200, description = "The portal (HTML)", body = String, content_type = "text/html")))]
pub(crate) async fn portal() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PORTAL).into_response()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CounterfactualQuery {
    /// The purpose whose decision matters (default: every purpose of the model).
    purpose: Option<String>,
}

/// The smallest changes on the subject's own data that would change their grade or a
/// decision: each computed by applying it to the subject's events and scoring the result.
#[utoipa::path(get, path = "/v1/subjects/{subject}/counterfactuals", tag = "subjects",
    params(("subject" = String, Path, description = "The subject's id"), CounterfactualQuery),
    responses((status = 200, description = "The outcome now, and each change with the event that makes it and its outcome", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Another subject's, or not an operator or subject key", body = crate::openapi::ErrorBody),
        (status = 404, description = "Nothing is held about the subject, or no such purpose", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_counterfactuals(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Counterfactuals>,
    Path(subject): Path<String>,
    query: crate::extract::Deferred<axum::extract::Query<CounterfactualQuery>>,
) -> ApiResult {
    let key = &*caller.key;
    let asked = caller.asked();
    let axum::extract::Query(query) = query.open(&state, key, &asked)?;
    let worker = Arc::clone(&state);
    let owned = subject.clone();
    let answer = crate::off_worker(move || {
        let purpose = query.purpose.as_deref();
        (worker.house.counterfactuals(&owned, purpose), query.purpose)
    })
    .await?;
    let (answer, purpose) = answer;
    let request = Asked {
        purpose: purpose.as_deref(),
        ..asked
    };
    let answer = answer.map_err(|error| refuse(&state, Some(key), &request, error.into()))?;
    let changes = answer["changes"].as_array().map_or(0, Vec::len);
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{changes} changes"),
    )?;
    Ok(Json(answer))
}
