//! The subject access report (GDPR Art. 15): everything held about a person — the events by
//! source, their relations, list memberships, score and grade with the explanation, consent per
//! purpose, the decisions made about them, and every recipient of their data in the last 12
//! months from the audit log. As JSON for operators and for the person's own key, and as the
//! subject portal (`/portal`), where the person signs in with that key.

use crate::keys::{Key, Role};
use crate::{
    ApiError, ApiResult, AppState, Request, audit, authenticate, json as forms, read_node, refuse,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use standing_core::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How far back the recipients of a report reach.
const RECIPIENTS_SPAN: i64 = 365 * 86_400;

fn report(state: &AppState, key: &Key, subject: &str) -> Result<Value, ApiError> {
    let request = Request {
        action: "report",
        subject: Some(subject),
        purpose: None,
    };
    let node = read_node(state);
    if node.engine().subject_index_of(subject).is_none() {
        let error = crate::consumer::unknown_subject(subject);
        return Err(refuse(state, Some(key), &request, error));
    }
    let model = node.model().clone();
    let clock = node.engine().clock();
    let explanation = node.explain(subject, clock, None);
    let records = node.records_about(subject).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "log_unreadable",
            error.to_string(),
        )
    })?;
    drop(node);

    // Events by source, as they were received, with when each was recorded.
    let mut by_source: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut relations = Vec::new();
    for logged in &records {
        let record: Value = serde_json::from_slice(&logged.body).unwrap_or(Value::Null);
        let source = record["source"].as_str().unwrap_or("?").to_owned();
        let kind = record["type"].as_str().unwrap_or("");
        if kind == standing_rules::RELATION_ADDED || kind == standing_rules::RELATION_REMOVED {
            relations.push(json!({
                "other": record["fields"]["other"],
                "kind": record["fields"]["kind"],
                "change": if kind == standing_rules::RELATION_ADDED { "added" } else { "removed" },
                "occurred_at": record["occurred_at"],
                "source": source,
            }));
        }
        by_source.entry(source).or_default().push(json!({
            "seq": logged.seq,
            "recorded_at": logged.recorded_at.to_string(),
            "key": logged.origin,
            "event": record,
        }));
    }
    let consent: Vec<Value> = model
        .purposes
        .iter()
        .map(|purpose| {
            let choice = state.consents.choice(subject, &purpose.name);
            json!({
                "purpose": purpose.name,
                "description": purpose.description,
                "basis": purpose.basis.name(),
                "state": crate::consent::state_name(&purpose.basis, choice.as_ref().map(|c| c.0)),
                "permitted": state.consents.permits(subject, purpose),
                "reads": purpose.reads,
            })
        })
        .collect();

    // From the audit log: decisions, and who received the subject's data in the last year.
    let now = (state.now)();
    let since = Timestamp(now.0 - RECIPIENTS_SPAN).to_string();
    let audited = state.audit.about(subject, &since).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            error.to_string(),
        )
    })?;
    let mut decisions = Vec::new();
    let mut recipients: BTreeMap<(String, String, String), (u64, String, String)> = BTreeMap::new();
    for record in &audited {
        let action = record["action"].as_str().unwrap_or("");
        let role = record["role"].as_str().unwrap_or("");
        if action.starts_with("refused") || role == Role::Subject.name() {
            continue;
        }
        if action == "decision" || action == "review" {
            decisions.push(json!({
                "at": record["at"], "purpose": record["purpose"], "outcome": record["answer"], "by": record["key"],
            }));
        }
        let at = record["at"].as_str().unwrap_or("").to_owned();
        let who = (
            record["key"].as_str().unwrap_or("-").to_owned(),
            role.to_owned(),
            record["purpose"].as_str().unwrap_or("").to_owned(),
        );
        let entry = recipients.entry(who).or_insert((0, at.clone(), at.clone()));
        entry.0 += 1;
        entry.2 = at;
    }
    let recipients: Vec<Value> = recipients
        .into_iter()
        .map(|((key, role, purpose), (reads, first, last))| {
            json!({
                "key": key, "role": role, "purpose": (!purpose.is_empty()).then_some(purpose),
                "reads": reads, "first": first, "last": last,
            })
        })
        .collect();
    let events: Vec<Value> = by_source
        .into_iter()
        .map(|(source, events)| json!({"source": source, "events": events}))
        .collect();
    let mut explained = forms::explanation_json(&explanation);
    if key.role == Role::Subject {
        // Their contacts' scores are the contacts' data, not the subject's.
        if let Some(contacts) = explained["network"]["contacts"].as_array_mut() {
            for contact in contacts {
                if let Some(contact) = contact.as_object_mut() {
                    contact.remove("score");
                    contact.remove("share");
                }
            }
        }
    }
    Ok(json!({
        "subject": subject,
        "generated_at": now.to_string(),
        "model_version": model.version_label(),
        "score": forms::score_json(&explanation.score),
        "explanation": explained,
        "events": {"count": records.len(), "by_source": events},
        "relations": relations,
        "lists": explained["lists"].clone(),
        "consent": consent,
        "decisions": decisions,
        "recipients": recipients,
        "recipients_since": since,
    }))
}

fn finish(state: &AppState, key: &Key, subject: &str, answer: Value) -> ApiResult {
    let request = Request {
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
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> ApiResult {
    let request = Request {
        action: "report",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &request)?;
    let key = &*key;
    crate::own_subject(&state, key, &request, &subject)?;
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
    headers: HeaderMap,
) -> ApiResult {
    let request = Request {
        action: "report",
        subject: None,
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Subject], &request)?;
    let key = &*key;
    let subject = key.subject.clone().unwrap_or_default();
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

fn outcome_json(outcome: &standing_engine::whatif::Outcome) -> Value {
    json!({
        "score": forms::round(outcome.score),
        "grade": outcome.grade,
        "decisions": outcome.decisions.iter().map(|(p, v)| json!({"purpose": p, "verdict": v.name()})).collect::<Vec<_>>(),
    })
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
    headers: HeaderMap,
    Path(subject): Path<String>,
    query: crate::extract::Deferred<axum::extract::Query<CounterfactualQuery>>,
) -> ApiResult {
    let asked = Request {
        action: "counterfactuals",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator, Role::Subject], &asked)?;
    let key = &*key;
    crate::own_subject(&state, key, &asked, &subject)?;
    let axum::extract::Query(query) = query.open(&state, key, &asked)?;
    let request = Request {
        purpose: query.purpose.as_deref(),
        ..asked
    };
    let (model, clock, own, contacts) = {
        let node = read_node(&state);
        let Some(score) = node.engine().score(&subject) else {
            let error = crate::consumer::unknown_subject(&subject);
            return Err(refuse(&state, Some(key), &request, error));
        };
        let own = node.own_events(&subject).map_err(|error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unreadable",
                error.to_string(),
            )
        })?;
        (
            node.model().clone(),
            node.engine().clock(),
            own,
            score.network,
        )
    };
    let purposes: Vec<&str> = match &query.purpose {
        Some(name) if model.purpose(name).is_none() => {
            let error = ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_purpose",
                format!("the model has no purpose `{name}`"),
            );
            return Err(refuse(&state, Some(key), &request, error));
        }
        Some(name) => vec![name.as_str()],
        None => model.purposes.iter().map(|p| p.name.as_str()).collect(),
    };
    let (now, changes) = standing_engine::whatif::counterfactuals(
        &model, clock, &subject, &own, contacts, &purposes,
    );
    let changes: Vec<Value> = changes
        .iter()
        .map(|change| {
            json!({
                "change": change.change,
                "event": change.event.as_ref().map(|e| {
                    serde_json::from_slice::<Value>(&standing_ingest::to_wire(&model, e, false)).unwrap_or(Value::Null)
                }),
                "at": change.at.to_string(),
                "outcome": outcome_json(&change.outcome),
            })
        })
        .collect();
    let answer = json!({
        "subject": subject,
        "as_of": clock.to_string(),
        "contacts_part": forms::round(contacts),
        "now": outcome_json(&now),
        "changes": changes,
    });
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} changes", changes.len()),
    )?;
    Ok(Json(answer))
}
