//! What operators run the system with: the overview, the model and its versions (upload and
//! check, impact on current scores and decisions, activation), and `/metrics`.

use crate::extract::Caller;
use crate::{ApiError, ApiResult, AppState, audit};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use standing_accountability::versions::{ModelChangeError, VersionError};
use standing_rules::Model;
use std::sync::Arc;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Overview, "overview", Operator);
    crate::extract::endpoint!(ModelUpload, "model.upload", Operator);
    crate::extract::endpoint!(ModelImpact, "model.impact", Operator);
    crate::extract::endpoint!(ModelActivate, "model.activate", Operator);
    crate::extract::endpoint!(Purge, "purge", Operator);
    crate::extract::endpoint!(Clock, "clock", Operator);
    crate::extract::endpoint!(Keys, "keys", Operator);
    crate::extract::endpoint!(KeyRevoke, "key.revoke", Operator);
    crate::extract::endpoint!(Event, "event", Operator);
    crate::extract::endpoint!(Model, "model", Source, Consumer, Operator, Subject);
    crate::extract::endpoint!(Models, "models", Operator);
}

/// The population at a glance: score histogram, grades, lists, events by source, decisions.
#[utoipa::path(get, path = "/v1/overview", tag = "operators",
    responses((status = 200, description = "Figures as of the last look (once a second)", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_overview(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Overview>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let mut overview = match state.watch.overview() {
        Some(overview) => overview,
        None => {
            let worker = Arc::clone(&state);
            tokio::task::spawn_blocking(move || crate::watch::look(&worker))
                .await
                .map_err(internal)?;
            state.watch.overview().unwrap_or(Value::Null)
        }
    };
    overview["sources"] = state
        .activity
        .sources()
        .into_iter()
        .map(|s| json!({"source": s.source, "events": s.events, "per_second": crate::json::round(s.per_second)}))
        .collect();
    overview["decisions"] = state
        .activity
        .decisions()
        .into_iter()
        .map(|(purpose, allow, deny)| json!({"purpose": purpose, "allow": allow, "deny": deny}))
        .collect();
    // It names the lowest and highest scored subjects: a read, audited.
    let named: Vec<String> = ["lowest", "highest"]
        .iter()
        .flat_map(|side| overview[*side].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["subject"].as_str().map(str::to_owned))
        .collect();
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("overview naming {}", named.join(", ")),
    )?;
    Ok(Json(overview))
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::failed("internal", "the work could not be finished", error)
}

/// A model as JSON: what it scores, how, and what each purpose may read.
pub fn model_json(model: &Model) -> Value {
    let duration = |d: Option<standing_core::Duration>| d.map(|d| d.to_string());
    let total = |value: f64| value.is_finite().then_some(value);
    json!({
        "name": model.name,
        "version": model.version,
        "description": model.description,
        "scale": {"base": model.scale.base, "min": model.scale.min, "max": model.scale.max},
        "grades": model.scale.grades.iter().map(|g| json!({"name": g.name, "min": g.min})).collect::<Vec<_>>(),
        "dimensions": model.dimensions.iter().enumerate().map(|(index, d)| json!({
            "name": d.name,
            "description": d.description,
            "lower": d.lower,
            "upper": d.upper,
            "rules": model.rules.iter().filter(|r| r.dimension as usize == index).map(|r| json!({
                "code": r.code,
                "on": model.event_type(r.event_type).name,
                "description": r.description,
                "half_life": duration(r.decay.half_life),
                "expires_after": duration(r.decay.expires_after),
                "max_total": total(r.max_total),
                "min_total": total(r.min_total),
                "until": r.until.as_ref().map(|u| model.event_type(u.event_type).name.clone()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "lists": model.lists.iter().map(|l| json!({
            "name": l.name, "description": l.description, "max_duration": l.max_duration.to_string(),
        })).collect::<Vec<_>>(),
        "purposes": model.purposes.iter().map(|p| json!({
            "name": p.name,
            "description": p.description,
            "reads": p.reads,
            "rank_by_score": p.rank_by_score,
            "basis": p.basis.name(),
            "legal_basis": match &p.basis { standing_rules::Basis::Law(reference) => Some(reference.clone()), _ => None },
            "review_adverse": p.review_adverse,
            "deny": p.deny.iter().map(|d| json!({"code": d.code, "reason": d.reason})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "network": model.network.is_active().then(|| json!({
            "alpha": model.network.alpha,
            "epsilon": model.network.epsilon,
            "kinds": model.network.kinds.iter().map(|k| json!({"name": k.name, "weight": k.weight, "mutual": k.mutual})).collect::<Vec<_>>(),
        })),
        "event_types": model.event_types.iter().map(|t| json!({
            "name": t.name,
            "category": t.category.name(),
            "description": t.description,
            "fields": t.fields.iter().map(|f| json!({"name": f.name, "type": match &f.ty { standing_core::FieldType::Enum(names) => json!(names), ty => json!(ty.name()) }})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn versions_json(state: &AppState, active: &str) -> Result<Value, ApiError> {
    let versions = state.house.versions.list(active).map_err(internal)?;
    Ok(versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "name": v.name,
                "active": v.active,
                "stored_at": v.stored_at.map(|t| {
                    let seconds = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
                    standing_core::Timestamp(seconds).to_string()
                }),
            })
        })
        .collect())
}

/// The active model, and every stored version.
#[utoipa::path(get, path = "/v1/model", tag = "operators",
    responses((status = 200, description = "The active model and the versions stored", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_model(
    State(state): State<Arc<AppState>>,
    _caller: Caller<calls::Model>,
) -> ApiResult {
    // Any key may read the model: it is the published rulebook.
    let model = state.house.read_node().model().clone();
    let mut answer = model_json(&model);
    answer["versions"] = versions_json(&state, &model.version)?;
    Ok(Json(answer))
}

fn version_error(error: VersionError) -> ApiError {
    match error {
        VersionError::Invalid(diagnostics) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "model_invalid",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        VersionError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "version_exists", error.to_string())
        }
        VersionError::BadName(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_version",
            error.to_string(),
        ),
        VersionError::Unknown(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_version", error.to_string())
        }
        VersionError::Io { .. } => internal(error),
    }
}

/// Uploads a model version (TOML): checked, stored, not active.
#[utoipa::path(post, path = "/v1/models", tag = "operators",
    request_body(content = String, description = "The model, TOML", content_type = "application/toml"),
    responses((status = 201, description = "Stored; the checker's warnings", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 409, description = "The version is stored with other text", body = crate::openapi::ErrorBody),
        (status = 422, description = "The model does not check: every problem with its line and column", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_model(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::ModelUpload>,
    body: crate::extract::DeferredBody<String>,
) -> Result<Response, ApiError> {
    let key = &*caller.key;
    let request = caller.asked();
    let body = body.open(&state, key, &request)?;
    if body.len() > standing_rules::MAX_MODEL_BYTES {
        let error = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "a model is at most {} bytes; this one is {}",
                standing_rules::MAX_MODEL_BYTES,
                body.len()
            ),
        );
        return Err(crate::refuse(&state, Some(key), &request, error));
    }
    let (version, warnings) = state
        .house
        .versions
        .store(&body)
        .map_err(|error| crate::refuse(&state, Some(key), &request, version_error(error)))?;
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("stored version {version}"),
    )?;
    let answer = json!({
        "version": version,
        "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Every stored model version.
#[utoipa::path(get, path = "/v1/models", tag = "operators",
    responses((status = 200, description = "Versions, oldest first", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_models(
    State(state): State<Arc<AppState>>,
    _caller: Caller<calls::Models>,
) -> ApiResult {
    let active = state.house.read_node().model().version.clone();
    Ok(Json(json!({"versions": versions_json(&state, &active)?})))
}

/// What activating a candidate would change: grade moves, and decisions flipped per purpose.
fn model_change_error(error: ModelChangeError) -> ApiError {
    match error {
        ModelChangeError::Version(error) => version_error(error),
        ModelChangeError::DoesNotFit(error) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "model_does_not_fit",
            error.to_string(),
        ),
        ModelChangeError::Node(error) => error.into(),
    }
}

/// The impact of a stored version on current scores and decisions, before activating it. Costs
/// a replay of the whole log under the candidate, holding the node for reading: intake waits
/// meanwhile, and so do reads queued behind it (seconds per ten million events).
#[utoipa::path(get, path = "/v1/models/{version}/impact", tag = "operators",
    params(("version" = String, Path, description = "A stored version")),
    responses((status = 200, description = "Grade changes and decisions flipped per purpose", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such version", body = crate::openapi::ErrorBody),
        (status = 422, description = "The log's events do not fit the version", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_impact(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::ModelImpact>,
    Path(version): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let worker = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || worker.house.model_impact(&version))
        .await
        .map_err(internal)?
        .map_err(|error| crate::refuse(&state, Some(key), &request, model_change_error(error)))?;
    let summary = format!("{} grade changes", answer["grade_changes"]);
    audit(&state, Some(key), &request, request.action, summary)?;
    Ok(Json(answer))
}

/// Makes a stored version the active model: the engine is rebuilt from the log under it.
#[utoipa::path(post, path = "/v1/models/{version}/activate", tag = "operators",
    params(("version" = String, Path, description = "A stored version")),
    responses((status = 200, description = "Active; what changed", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such version", body = crate::openapi::ErrorBody),
        (status = 422, description = "The log's events do not fit the version", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_activate(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::ModelActivate>,
    Path(version): Path<String>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let worker = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || {
        let activated = worker.house.activate_model(&version);
        if activated.is_ok() {
            worker.watch.reset();
        }
        activated
    })
    .await
    .map_err(internal)?
    .map_err(|error| crate::refuse(&state, Some(key), &request, model_change_error(error)))?;
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        format!("activated {}", answer["to"]),
    )?;
    Ok(Json(json!({"active": answer["to"], "impact": answer})))
}

/// Counters and gauges in Prometheus' text format (no key: scrape it from a trusted network).
#[utoipa::path(get, path = "/metrics", tag = "operators",
    responses((status = 200, description = "OpenMetrics text (Prometheus' exposition format)", body = String, content_type = "application/openmetrics-text")))]
pub(crate) async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    {
        let node = state.house.read_node();
        state
            .activity
            .subjects
            .set(node.engine().subject_count() as i64);
        state.activity.log_records.set(node.log_records() as i64);
    }
    state
        .activity
        .audit_records
        .set(state.house.audit.count() as i64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.activity.render(),
    )
        .into_response()
}

/// Purges every event past its type's retention from the log and from every query (the engine
/// is rebuilt from what remains); the purge is audited with what it removed.
#[utoipa::path(post, path = "/v1/purge", tag = "operators",
    responses((status = 200, description = "What was removed, by event type, and what was kept", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 503, description = "The log could not be rewritten; nothing changed", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_purge(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Purge>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let worker = Arc::clone(&state);
    let purge = tokio::task::spawn_blocking(move || {
        let mut node = worker.house.write_node();
        let purge = node.purge((worker.house.now)());
        // Subjects were renumbered (some are gone): the watcher starts over.
        worker.watch.reset();
        purge
    })
    .await
    .map_err(internal)?
    .map_err(|error| {
        ApiError::failed(
            "purge_failed",
            "the purge could not be finished; the log is as it was",
            error,
        )
    })?;
    let removed: u64 = purge.removed.values().sum();
    let answer = json!({
        "removed": removed,
        "by_type": purge.removed,
        "kept": purge.kept,
        "at": (state.house.now)().to_string(),
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

/// Moves the engine's clock to now at once, rescoring everyone (the clock otherwise moves on
/// its own every `STANDING_CLOCK_SECS`); the move is audited with the instant reached.
#[utoipa::path(post, path = "/v1/clock", tag = "operators",
    responses((status = 200, description = "The instant the clock moved to", body = Object),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_clock(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Clock>,
) -> ApiResult {
    let key = &*caller.key;
    let request = caller.asked();
    let at = (state.house.now)();
    let worker = Arc::clone(&state);
    tokio::task::spawn_blocking(move || crate::advance_clock_to(&worker, at))
        .await
        .map_err(internal)?;
    let answer = json!({ "clock": at.to_string() });
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        answer.to_string(),
    )?;
    Ok(Json(answer))
}

/// Every API key (without secrets): role, what it is bound to, expiry or revocation, last use.
#[utoipa::path(get, path = "/v1/keys", tag = "operators",
    responses((status = 200, description = "The keys", body = Object),
        (status = 401, description = "No key, an unknown, revoked or expired key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Keys>,
) -> ApiResult {
    let key = std::sync::Arc::clone(&caller.key);
    let request = caller.asked();
    let keys: Vec<Value> = state
        .house
        .keys
        .list()
        .into_iter()
        .map(|(listed, used)| {
            json!({
                "id": listed.id,
                "role": listed.role.name(),
                "purposes": listed.role.purposes(),
                "source": listed.role.source(),
                "subject": listed.role.subject(),
                "history": listed.role.history(),
                "created_at": listed.created_at.map(|at| at.to_string()),
                "expires_at": listed.expires_at.map(|at| at.to_string()),
                "revoked_at": listed.revoked_at.map(|at| at.to_string()),
                "last_used": used.map(|at| at.to_string()),
            })
        })
        .collect();
    audit(
        &state,
        Some(&key),
        &request,
        request.action,
        format!("{} keys", keys.len()),
    )?;
    Ok(Json(json!({"keys": keys})))
}

/// Revokes a key: it is refused from the next request on.
#[utoipa::path(post, path = "/v1/keys/{key_id}/revoke", tag = "operators",
    params(("key_id" = String, Path, description = "The key's id (`key-…`)")),
    responses((status = 200, description = "Revoked", body = Object),
        (status = 401, description = "No key, an unknown, revoked or expired key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such key", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_revoke_key(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::KeyRevoke>,
    Path(key_id): Path<String>,
) -> ApiResult {
    let key = std::sync::Arc::clone(&caller.key);
    let request = caller.asked();
    let worker = Arc::clone(&state);
    let id = key_id.clone();
    let revoked =
        crate::off_worker(move || worker.house.keys.revoke(&id, (worker.house.now)())).await?;
    let revoked = match revoked {
        Ok(revoked) => revoked,
        Err(standing_accountability::keys::KeyError::Unknown(_)) => {
            let error = ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_key_id",
                format!("no key `{key_id}`"),
            );
            return Err(crate::refuse(&state, Some(&key), &request, error));
        }
        Err(error) => {
            return Err(ApiError::failed(
                "not_durable",
                "the revocation was not recorded",
                error,
            ));
        }
    };
    let at = revoked.revoked_at.map(|at| at.to_string());
    audit(
        &state,
        Some(&key),
        &request,
        request.action,
        format!("revoked {key_id}"),
    )?;
    Ok(Json(json!({"id": key_id, "revoked_at": at})))
}

/// An event as the log holds it: when it was recorded and which key sent it (operators).
#[utoipa::path(get, path = "/v1/events/{source}/{event_id}", tag = "operators",
    params(("source" = String, Path, description = "The event's source"),
        ("event_id" = String, Path, description = "The event's id")),
    responses((status = 200, description = "The logged record, its sequence number, recorded time and key", body = Object),
        (status = 401, description = "No key, an unknown, revoked or expired key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an operator key", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such event", body = crate::openapi::ErrorBody),
        (status = 503, description = "The event index of a restored engine is still being built", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_event(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Event>,
    Path((source, event_id)): Path<(String, String)>,
) -> ApiResult {
    let key = std::sync::Arc::clone(&caller.key);
    let request = caller.asked();
    let found = {
        let node = state.house.read_node();
        if !node.engine().events_indexed() {
            let error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "index_building",
                "the event index is being built after a restart; try again in a few seconds",
            );
            return Err(crate::refuse(&state, Some(&key), &request, error));
        }
        node.event_record(&source, &event_id).map_err(|error| {
            ApiError::failed("log_unreadable", "the log could not be read", error)
        })?
    };
    let Some(record) = found else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_event",
            format!("no event `{event_id}` of source `{source}`"),
        );
        return Err(crate::refuse(&state, Some(&key), &request, error));
    };
    let body: Value = serde_json::from_slice(&record.body).unwrap_or(Value::Null);
    audit(
        &state,
        Some(&key),
        &request,
        request.action,
        format!("{source}/{event_id} record {}", record.seq),
    )?;
    Ok(Json(json!({
        "seq": record.seq,
        "recorded_at": record.recorded_at.to_string(),
        "key": record.origin,
        "event": body,
    })))
}
