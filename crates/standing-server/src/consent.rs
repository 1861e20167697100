//! Consent per subject and purpose: not enrolled (the start), opted in or opted out, kept in
//! `consent/consent.jsonl` (every change, synced before it is answered), and what it decides
//! with the purpose's legal basis: a purpose required by law always answers, a consent-based
//! one only for subjects who opted in, one on legitimate interest unless the subject opted out.

use crate::keys::Role;
use crate::ledger::{Ledger, LedgerError};
use crate::{
    ApiError, ApiResult, AppState, Request, audit, authenticate, off_worker, read_node, refuse,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use standing_rules::{Basis, Purpose};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A subject's choice for a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    OptedIn,
    OptedOut,
}

/// One recorded change.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    subject: String,
    purpose: String,
    choice: Choice,
    at: String,
    /// The key that recorded it.
    by: String,
}

/// The consents of a data directory.
#[derive(Debug)]
pub struct Consents {
    ledger: Ledger,
    current: Mutex<HashMap<(String, String), (Choice, String)>>,
    /// Held by one change at a time, over its sync: readers of `current` never wait for disk.
    writing: Mutex<()>,
}

impl Consents {
    pub fn open(directory: &std::path::Path) -> Result<Consents, LedgerError> {
        let (ledger, records) = Ledger::open::<Record>(&directory.join("consent/consent.jsonl"))?;
        let mut current = HashMap::new();
        for record in records {
            current.insert((record.subject, record.purpose), (record.choice, record.at));
        }
        Ok(Consents {
            ledger,
            current: Mutex::new(current),
            writing: Mutex::new(()),
        })
    }

    /// The subject's choice for a purpose, if any, and when it was made.
    pub fn choice(&self, subject: &str, purpose: &str) -> Option<(Choice, String)> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(subject.to_owned(), purpose.to_owned()))
            .cloned()
    }

    /// Whether `purpose` may use `subject`'s data now.
    pub fn permits(&self, subject: &str, purpose: &Purpose) -> bool {
        let choice = || {
            self.choice(subject, &purpose.name)
                .map(|(choice, _)| choice)
        };
        match purpose.basis {
            Basis::Law(_) => true,
            Basis::Consent => choice() == Some(Choice::OptedIn),
            Basis::LegitimateInterest => choice() != Some(Choice::OptedOut),
        }
    }

    fn record(&self, record: Record) -> Result<(), LedgerError> {
        // Durable first, then in force (the next request sees it); one change at a time, so the
        // ledger's order is the order in force.
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        self.ledger.append(&record)?;
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((record.subject, record.purpose), (record.choice, record.at));
        Ok(())
    }
}

/// The refusal when a purpose may not use a subject's data for want of consent.
pub(crate) fn no_consent(subject: &str, purpose: &Purpose) -> ApiError {
    let why = match purpose.basis {
        Basis::Consent => "has not opted in to",
        _ => "has opted out of",
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "no_consent",
        format!("subject `{subject}` {why} purpose `{}`", purpose.name),
    )
}

/// State of a subject's consent for a purpose, as the API names it.
pub(crate) fn state_name(basis: &Basis, choice: Option<Choice>) -> &'static str {
    match (basis, choice) {
        (Basis::Law(_), _) => "required_by_law",
        (_, Some(Choice::OptedIn)) => "opted_in",
        (_, Some(Choice::OptedOut)) => "opted_out",
        (_, None) => "not_enrolled",
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
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> ApiResult {
    let request = Request {
        action: "consent",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &request)?;
    let key = &*key;
    crate::own_subject(&state, key, &request, &subject)?;
    let model = read_node(&state).model().clone();
    let purposes: Vec<_> = model
        .purposes
        .iter()
        .map(|purpose| {
            let choice = state.consents.choice(&subject, &purpose.name);
            json!({
                "purpose": purpose.name,
                "basis": purpose.basis.name(),
                "legal_basis": match &purpose.basis { Basis::Law(reference) => Some(reference.clone()), _ => None },
                "state": state_name(&purpose.basis, choice.as_ref().map(|c| c.0)),
                "since": choice.map(|c| c.1),
                "permitted": state.consents.permits(&subject, purpose),
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
    /// `opted_in` or `opted_out`.
    choice: Choice,
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
    headers: HeaderMap,
    Path((subject, purpose)): Path<(String, String)>,
    change: crate::extract::DeferredBody<Json<ConsentChange>>,
) -> ApiResult {
    let request = Request {
        action: "consent.change",
        subject: Some(&subject),
        purpose: Some(&purpose),
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &request)?;
    let key = &*key;
    crate::own_subject(&state, key, &request, &subject)?;
    if let Err(problem) = standing_core::id::check_id(&subject) {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("`subject` is not an id: it {problem}"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    let Json(change) = change.open(&state, key, &request)?;
    let model = read_node(&state).model().clone();
    let Some(declared) = model.purpose(&purpose) else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_purpose",
            format!("model {} has no purpose `{purpose}`", model.version_label()),
        );
        return Err(refuse(&state, Some(key), &request, error));
    };
    if let Basis::Law(reference) = &declared.basis {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            "required_by_law",
            format!("purpose `{purpose}` is required by law ({reference}); consent is not asked"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    let at = (state.now)().to_string();
    let record = Record {
        subject: subject.clone(),
        purpose: purpose.clone(),
        choice: change.choice,
        at: at.clone(),
        by: key.id.clone(),
    };
    let worker = Arc::clone(&state);
    off_worker(move || worker.consents.record(record))
        .await?
        .map_err(|error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_durable",
                format!("the consent was not recorded: {error}"),
            )
        })?;
    let name = state_name(&declared.basis, Some(change.choice));
    audit(&state, Some(key), &request, request.action, name.to_owned())?;
    Ok(Json(json!({
        "subject": subject,
        "purpose": purpose,
        "state": name,
        "since": at,
        "permitted": state.consents.permits(&subject, declared),
    })))
}
