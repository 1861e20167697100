//! What consumers and operators read about a subject: score (now, at an instant, as known at an
//! instant), explanation, history, contacts, list membership, decisions for a purpose and
//! rankings. A consumer sees only what its purpose may read; every answer and every refusal is
//! audited.

use crate::extract::Caller;
use crate::extract::{Deferred, DeferredBody};
use crate::json as forms;
use crate::{ApiError, ApiResult, AppState, Asked, audit, purpose_of, refuse};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use standing_accountability::review::{Review, ReviewError};
use standing_core::Timestamp;
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Score, "score", Consumer, Operator);
    crate::extract::endpoint!(Explanation, "explanation", Operator);
    crate::extract::endpoint!(Decision, "decision", Consumer, Operator);
    crate::extract::endpoint!(List, "list", Consumer, Operator);
    crate::extract::endpoint!(Rank, "rank", Consumer, Operator);
    crate::extract::endpoint!(History, "history", Operator);
    crate::extract::endpoint!(Contacts, "contacts", Operator);
    crate::extract::endpoint!(Audit, "audit", Operator);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PurposeQuery {
    /// The purpose of the request (a consumer must name one of its key's purposes).
    purpose: Option<String>,
    /// The score at this occurred-time instead of now (an RFC 3339 date-time, or a date).
    #[param(schema_with = crate::openapi::instant)]
    at: Option<String>,
    /// Counting only what was recorded by this instant (an RFC 3339 date-time, or a date).
    #[param(schema_with = crate::openapi::instant)]
    known_at: Option<String>,
}

/// A list membership's query: it is answered now, at the engine's clock.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The purpose of the request (a consumer must name one of its key's purposes).
    purpose: Option<String>,
}

pub(crate) fn instant(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        Timestamp::parse(text).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_time",
                format!("`{field}`: {error}"),
            )
        })
    })
    .transpose()
}

/// Refuses (audited) when the subject's consent does not permit the purpose.
fn consented(
    state: &AppState,
    key: &standing_accountability::keys::Key,
    request: &Asked<'_>,
    subject: &str,
    purpose: &standing_rules::Purpose,
) -> Result<(), ApiError> {
    let consented = state.house.consents.check(subject, purpose);
    consented.map_err(|error| refuse(state, Some(key), request, error.into()))
}

pub(crate) fn unknown_subject(subject: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_subject",
        format!("no events about subject `{subject}`"),
    )
}

/// A subject's score and grade (what the purpose may read of them).
#[utoipa::path(get, path = "/v1/subjects/{subject}/score", tag = "consumers",
    params(("subject" = String, Path, description = "The subject's id"), PurposeQuery),
    responses(
        (status = 200, description = "The score (operator: everything; consumer: what its purpose may read)", body = Object),
        (status = 400, description = "Missing purpose or a bad time", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject or purpose", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_score(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Score>,
    Path(subject): Path<String>,
    query: Deferred<Query<PurposeQuery>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let key = &*caller.key;
    let asked = caller.asked();
    let Query(query) = query.open(&state, key, &asked)?;
    let request = Asked {
        purpose: query.purpose.as_deref(),
        ..asked
    };
    let node = state.house.read_node();
    let purpose = purpose_of(&state, key, node.model(), &request)?;
    let refused = |error| refuse(&state, Some(key), &request, error);
    let at = instant("at", query.at.as_deref()).map_err(refused)?;
    let known_at = instant("known_at", query.known_at.as_deref()).map_err(refused)?;
    let Some(current) = node.engine().score(&subject) else {
        return Err(refuse(
            &state,
            Some(key),
            &request,
            unknown_subject(&subject),
        ));
    };
    // History: the score as it was at `at`, as known at `known_at`.
    let score = if at.is_some() || known_at.is_some() {
        let at = at.unwrap_or(node.engine().clock());
        node.explain(&subject, at, known_at).score
    } else {
        current
    };
    let Some(purpose) = purpose else {
        let answer = format!("score {:.2} grade {}", score.value, score.grade);
        audit(&state, Some(key), &request, request.action, answer)?;
        return Ok(Json(forms::score_json(&score)).into_response());
    };
    consented(&state, key, &request, &subject, purpose)?;
    // A consumer sees what its purpose may read, and nothing else.
    let (score_allowed, grade_allowed) = (purpose.may_read("score"), purpose.may_read("grade"));
    if !score_allowed && !grade_allowed {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "beyond_purpose",
            format!(
                "purpose `{}` may not read scores or grades; ask for its decision",
                purpose.name
            ),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    let answer = PurposeScore {
        subject: &score.subject,
        purpose: &purpose.name,
        model_version: &score.model_version,
        as_of: score.as_of.to_string(),
        known_at: score.known_at.map(|t| t.to_string()),
        score: score_allowed.then(|| forms::round(score.value)),
        grade: grade_allowed.then_some(&*score.grade),
    };
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        answer.summary(),
    )?;
    Ok(Json(answer).into_response())
}

/// A score as a purpose may see it: the score, the grade, or both.
#[derive(serde::Serialize)]
struct PurposeScore<'a> {
    subject: &'a str,
    purpose: &'a str,
    model_version: &'a str,
    as_of: String,
    known_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grade: Option<&'a str>,
}

impl PurposeScore<'_> {
    /// What was returned, for the audit log (its record names the subject and purpose).
    fn summary(&self) -> String {
        use std::fmt::Write;
        let mut text = String::with_capacity(96);
        // Writing to a string cannot fail.
        if let Some(score) = self.score {
            let _ = write!(text, "score {score:.2} ");
        }
        if let Some(grade) = self.grade {
            let _ = write!(text, "grade {grade} ");
        }
        let _ = write!(text, "as of {} under {}", self.as_of, self.model_version);
        if let Some(known_at) = &self.known_at {
            let _ = write!(text, " as known at {known_at}");
        }
        text
    }
}

/// A subject's score with every contribution, key factors, lists and contacts' part (operators).
#[utoipa::path(get, path = "/v1/subjects/{subject}/explanation", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id")),
    responses((status = 200, description = "The explanation", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_explanation(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Explanation>,
    Path(subject): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let node = state.house.read_node();
    if node.engine().subject_index_of(&subject).is_none() {
        return Err(refuse(
            &state,
            Some(key),
            &request,
            unknown_subject(&subject),
        ));
    }
    let clock = node.engine().clock();
    let explanation = node.explain(&subject, clock, None);
    let answer = format!(
        "score {:.2} grade {}, {} key factors",
        explanation.score.value,
        explanation.score.grade,
        explanation.key_factors.len()
    );
    audit(&state, Some(key), &request, request.action, answer)?;
    Ok(Json(forms::explanation_json(&explanation)))
}

/// A decision asked for.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DecisionRequest {
    /// The purpose deciding (one of the key's).
    purpose: String,
    subject: String,
}

/// A purpose's decision for a subject: allow or deny, with reasons, model version and id.
#[utoipa::path(post, path = "/v1/decisions", tag = "consumers", request_body = DecisionRequest,
    responses((status = 200, description = "The decision", body = Object),
        (status = 400, description = "Bad request", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_decision(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Decision>,
    request: DeferredBody<Json<DecisionRequest>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let key = &*caller.key;
    let unread = caller.asked();
    let Json(request) = request.open(&state, key, &unread)?;
    let asked = Asked {
        action: "decision",
        subject: Some(&request.subject),
        purpose: Some(&request.purpose),
    };
    // No lock is held over the review's disk sync below: an intake waiting for the write lock
    // would hold up every reader behind it.
    let (review_adverse, decided) = {
        let node = state.house.read_node();
        let purpose = purpose_of(&state, key, node.model(), &asked)?;
        if let Some(purpose) = purpose {
            consented(&state, key, &asked, &request.subject, purpose)?;
        }
        // A person with no record at all: 404, unless the purpose declares what they get.
        if let Some(purpose) = purpose
            && node.engine().subject_index_of(&request.subject).is_none()
        {
            let Some(verdict) = purpose.unknown else {
                return Err(refuse(
                    &state,
                    Some(key),
                    &asked,
                    unknown_subject(&request.subject),
                ));
            };
            let clock = node.engine().clock();
            let version = node.model().version_label();
            state.activity.decided(&purpose.name, verdict);
            let answer = format!("{verdict:?} unknown subject");
            audit(&state, Some(key), &asked, asked.action, answer)?;
            return Ok(Json(json!({
                "purpose": purpose.name,
                "subject": request.subject,
                "verdict": verdict.name(),
                "unknown_subject": true,
                "reasons": [{
                    "code": "unknown_subject",
                    "message": format!(
                        "no record of subject `{}`: purpose `{}` declares `unknown = \"{}\"`",
                        request.subject, purpose.name, verdict.name()
                    ),
                }],
                "model_version": version,
                "as_of": clock.to_string(),
            }))
            .into_response());
        }
        (
            purpose.is_some_and(|p| p.review_adverse),
            node.engine().decide(&request.purpose, &request.subject),
        )
    };
    match decided {
        Some(decision) if review_adverse && decision.verdict == standing_core::Verdict::Deny => {
            // An adverse decision waits for a person.
            let review = Review::of(&decision, &key.id, (state.house.now)());
            let worker = Arc::clone(&state);
            let review = crate::off_worker(move || worker.house.reviews.open_review(review))
                .await?
                .map_err(|error| ApiError::from(ReviewError::NotDurable(error)))?;
            let answer = format!("{} {}", review.status.name(), decision.id);
            audit(&state, Some(key), &asked, asked.action, answer)?;
            Ok(Json(review.to_json()).into_response())
        }
        Some(decision) => {
            state.activity.decided(&decision.purpose, decision.verdict);
            let answer = format!("{:?} {}", decision.verdict, decision.id);
            audit(&state, Some(key), &asked, asked.action, answer)?;
            Ok(Json(forms::DecisionForm::of(&decision)).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_purpose",
            format!("no purpose `{}`", request.purpose),
        )),
    }
}

/// Whether a subject is on a list now, since when and until when.
#[utoipa::path(get, path = "/v1/subjects/{subject}/lists/{list}", tag = "consumers",
    params(("subject" = String, Path, description = "The subject's id"),
        ("list" = String, Path, description = "The list's name"), ListQuery),
    responses((status = 200, description = "The membership", body = Object),
        (status = 400, description = "Bad request", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_list_membership(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::List>,
    Path((subject, list)): Path<(String, String)>,
    query: Deferred<Query<ListQuery>>,
) -> ApiResult {
    let key = &*caller.key;
    let asked = caller.asked();
    let Query(query) = query.open(&state, key, &asked)?;
    let request = Asked {
        purpose: query.purpose.as_deref(),
        ..asked
    };
    let node = state.house.read_node();
    let purpose = purpose_of(&state, key, node.model(), &request)?;
    if node.model().lists.iter().all(|l| l.name != list) {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_list",
            format!("the model keeps no list `{list}`"),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    if let Some(purpose) = purpose {
        consented(&state, key, &request, &subject, purpose)?;
    }
    if let Some(purpose) = purpose
        && !purpose.may_read(&format!("list.{list}"))
    {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "beyond_purpose",
            format!("purpose `{}` may not read list `{list}`", purpose.name),
        );
        return Err(refuse(&state, Some(key), &request, error));
    }
    let clock = node.engine().clock();
    let explanation = node.explain(&subject, clock, None);
    let membership = explanation.lists.iter().find(|m| *m.list == *list);
    let answer = json!({
        "subject": subject,
        "list": list,
        "member": membership.is_some(),
        "since": membership.map(|m| m.since.to_string()),
        "until": membership.map(|m| m.until.to_string()),
        "as_of": clock.to_string(),
    });
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        answer.to_string(),
    )?;
    Ok(Json(answer))
}

/// Subjects to rank for a purpose.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RankRequest {
    purpose: String,
    subjects: Vec<String>,
}

/// The subjects given, best first, for a purpose that ranks by score: a dating app orders
/// its candidates. Each subject ranked is an audited read.
#[utoipa::path(post, path = "/v1/rank", tag = "consumers", request_body = RankRequest,
    responses((status = 200, description = "The subjects known, best first, and those unknown", body = Object),
        (status = 400, description = "Bad request", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_rank(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Rank>,
    request: DeferredBody<Json<RankRequest>>,
) -> ApiResult {
    let key = &*caller.key;
    let unread = caller.asked();
    let Json(request) = request.open(&state, key, &unread)?;
    let asked = Asked {
        purpose: Some(&request.purpose),
        ..unread
    };
    let node = state.house.read_node();
    let purpose =
        purpose_of(&state, key, node.model(), &asked)?.filter(|purpose| purpose.rank_by_score);
    let Some(purpose) = purpose else {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "beyond_purpose",
            format!("purpose `{}` does not rank by score", request.purpose),
        );
        return Err(refuse(&state, Some(key), &asked, error));
    };
    let mut known: Vec<(String, f64)> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    // Subjects whose consent does not permit the purpose are left out, not read.
    let mut withheld: Vec<&str> = Vec::new();
    for subject in &request.subjects {
        if !state.house.consents.permits(subject, purpose) {
            withheld.push(subject);
            continue;
        }
        match node.engine().score(subject) {
            Some(score) => known.push((subject.clone(), score.value)),
            None => unknown.push(subject),
        }
    }
    // Best first; ties to the smaller id, so the order never depends on the request's.
    known.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (subject, score) in &known {
        let read = Asked {
            action: "rank",
            subject: Some(subject),
            purpose: Some(&purpose.name),
        };
        audit(
            &state,
            Some(key),
            &read,
            "rank",
            format!("score {score:.2}"),
        )?;
    }
    Ok(Json(json!({
        "purpose": purpose.name,
        "model_version": node.model().version_label(),
        "ranking": known
            .iter()
            .enumerate()
            .map(|(rank, (subject, score))| json!({"rank": rank + 1, "subject": subject, "score": forms::round(*score)}))
            .collect::<Vec<_>>(),
        "unknown": unknown,
        "withheld": withheld,
    })))
}

/// Subject pages of operators: `history`, `contacts` and `audit`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Monthly points back from now (default 24; more than 120 count as 120).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    months: Option<u32>,
}

/// A subject's own-data (behaviour) score month by month, and its served score now.
#[utoipa::path(get, path = "/v1/subjects/{subject}/history", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id"), HistoryQuery),
    responses((status = 200, description = "Monthly points, oldest first, and the current score", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_history(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::History>,
    Path(subject): Path<String>,
    query: Deferred<Query<HistoryQuery>>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let Query(query) = query.open(&state, key, &request)?;
    let node = state.house.read_node();
    let engine = node.engine();
    let Some(current) = engine.score(&subject) else {
        return Err(refuse(
            &state,
            Some(key),
            &request,
            unknown_subject(&subject),
        ));
    };
    let months = query.months.unwrap_or(24).clamp(1, 120) as i64;
    let clock = engine.clock();
    let points: Vec<_> = (0..=months)
        .rev()
        .filter_map(|back| {
            let at = Timestamp(clock.0 - back * 30 * 86_400);
            engine
                .behaviour_at(&subject, at)
                .map(|value| json!({"at": at.to_string(), "behaviour": forms::round(value)}))
        })
        .collect();
    let answer = format!(
        "{} monthly points, score {:.2}",
        points.len(),
        current.value
    );
    audit(&state, Some(key), &request, request.action, answer)?;
    Ok(Json(json!({
        "subject": subject,
        "points": points,
        "current": {
            "at": clock.to_string(),
            "score": forms::round(current.value),
            "behaviour": forms::round(current.behaviour),
            "grade": current.grade,
        },
    })))
}

/// How many contacts a contacts answer lists at most.
const MAX_CONTACTS: usize = 60;

/// A subject's contacts with their scores and what each moves the subject's score.
#[utoipa::path(get, path = "/v1/subjects/{subject}/contacts", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id")),
    responses((status = 200, description = "At most 60 contacts, largest effect first", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown subject, purpose or list", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_contacts(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Contacts>,
    Path(subject): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let node = state.house.read_node();
    let engine = node.engine();
    if engine.subject_index_of(&subject).is_none() {
        return Err(refuse(
            &state,
            Some(key),
            &request,
            unknown_subject(&subject),
        ));
    }
    let part = engine.contacts(&subject, MAX_CONTACTS);
    let grades = &node.model().scale.grades;
    let contacts: Vec<_> = part
        .iter()
        .flat_map(|part| &part.contacts)
        .map(|c| {
            json!({
                "subject": c.subject,
                "kind": c.kind,
                "weight": c.weight,
                "score": forms::round(c.score),
                "grade": grades[engine.grade_index(c.score)].name,
                "share": forms::round(c.share),
            })
        })
        .collect();
    let count = part.as_ref().map_or(0, |p| p.contact_count);
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{count} contacts"),
    )?;
    Ok(Json(json!({
        "subject": subject,
        "contact_count": count,
        "points": part.as_ref().map(|p| forms::round(p.points)),
        "contacts": contacts,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// At most this many records, newest first (default 50; more than 500 count as 500).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

/// Who read a subject's data recently, and what they were told (from the audit log).
#[utoipa::path(get, path = "/v1/subjects/{subject}/audit", tag = "operators",
    params(("subject" = String, Path, description = "The subject's id"), AuditQuery),
    responses((status = 200, description = "Audit records about the subject, newest first", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or beyond the purpose's binding", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_subject_audit(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Audit>,
    Path(subject): Path<String>,
    query: Deferred<Query<AuditQuery>>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let Query(query) = query.open(&state, key, &request)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500) as usize;
    let entries = state.house.audit.recent(&subject, limit);
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("{} records", entries.len()),
    )?;
    Ok(Json(json!({"subject": subject, "entries": entries})))
}
