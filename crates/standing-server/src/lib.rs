//! Standing over HTTP (axum): sources push events, consumers ask for scores and decisions for
//! a purpose, operators read everything. Every request but `/healthz` carries an API key
//! (`Authorization: Bearer …`) whose role, and for a consumer whose purposes, decide what it may
//! call; a consumer sees only what its purpose may read.
//!
//! The node (model, log, engine) sits behind one lock: reads share it, intake takes it alone
//! and answers only once the accepted events are on stable storage.

pub mod audit;
pub mod json;
pub mod keys;

use audit::{Audit, AuditEntry};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keys::{Key, KeyStore, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use standing_core::Timestamp;
use standing_engine::ApplyOutcome;
use standing_ingest::{RecordedAt, parse_record};
use standing_node::Node;
use std::sync::{Arc, RwLock};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub node: RwLock<Node>,
    pub keys: KeyStore,
    /// Every read of a subject's data, every decision and every refusal.
    pub audit: Audit,
    /// The wall clock (a parameter, so tests can fix it).
    pub now: fn() -> Timestamp,
}

/// An error answer: a status and a JSON body `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The largest request body: 64 MiB of events.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/events", post(post_events))
        .route("/v1/subjects/{subject}/score", get(get_score))
        .route("/v1/subjects/{subject}/explanation", get(get_explanation))
        .route(
            "/v1/subjects/{subject}/lists/{list}",
            get(get_list_membership),
        )
        .route("/v1/decisions", post(post_decision))
        .route("/v1/rank", post(post_rank))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// What a request is about, for the audit log.
struct Request<'r> {
    action: &'static str,
    subject: Option<&'r str>,
    purpose: Option<&'r str>,
}

/// Records a request's answer (or refusal) in the audit log. A failure to write the audit log
/// fails the request: nothing is answered unrecorded.
fn audit(
    state: &AppState,
    key: Option<&Key>,
    request: &Request<'_>,
    action: &str,
    answer: String,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        at: (state.now)().to_string(),
        key: key.map_or("-".into(), |k| k.id.clone()),
        role: key.map_or("-", |k| k.role.name()).into(),
        purpose: request.purpose.map(str::to_owned),
        action: action.into(),
        subject: request.subject.map(str::to_owned),
        answer,
    };
    state.audit.record(&entry).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!("the audit log cannot be written, so nothing is answered: {error}"),
        )
    })
}

/// Records a refusal and returns it.
fn refuse(state: &AppState, key: Option<&Key>, request: &Request<'_>, error: ApiError) -> ApiError {
    let action = format!("refused:{}", error.code);
    match audit(state, key, request, &action, error.message.clone()) {
        Ok(()) => error,
        Err(audit_error) => audit_error,
    }
}

/// The key a request carries, checked against the roles allowed; refusals are audited.
fn authenticate<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    allowed: &[Role],
    request: &Request<'_>,
) -> Result<&'s Key, ApiError> {
    let key = check_key(state, headers, allowed);
    key.map_err(|(key, error)| refuse(state, key, request, error))
}

#[allow(clippy::result_large_err)]
fn check_key<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    allowed: &[Role],
) -> Result<&'s Key, (Option<&'s Key>, ApiError)> {
    let Some(header) = headers.get("authorization") else {
        return Err((
            None,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send an API key: `Authorization: Bearer <key>` (create one with `standing keys create`)",
            ),
        ));
    };
    let secret = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(key) = state.keys.authenticate(secret.trim()) else {
        return Err((
            None,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown_key",
                "the API key is not known here",
            ),
        ));
    };
    if !allowed.contains(&key.role) {
        let roles: Vec<&str> = allowed.iter().map(|role| role.name()).collect();
        return Err((
            Some(key),
            ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_role",
                format!(
                    "key {} may not call this: it is for {}",
                    key.id,
                    roles.join(" or ")
                ),
            ),
        ));
    }
    Ok(key)
}

/// The purpose a request names, checked against its key and the model; refusals are audited.
fn purpose_of<'m>(
    state: &AppState,
    key: &Key,
    model: &'m standing_rules::Model,
    request: &Request<'_>,
) -> Result<Option<&'m standing_rules::Purpose>, ApiError> {
    check_purpose(key, model, request.purpose)
        .map_err(|error| refuse(state, Some(key), request, error))
}

fn check_purpose<'m>(
    key: &Key,
    model: &'m standing_rules::Model,
    purpose: Option<&str>,
) -> Result<Option<&'m standing_rules::Purpose>, ApiError> {
    let Some(name) = purpose else {
        return if key.role == Role::Operator {
            Ok(None)
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "purpose_missing",
                "name the purpose of this request: `purpose`",
            ))
        };
    };
    let Some(purpose) = model.purpose(name) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_purpose",
            format!("model {} has no purpose `{name}`", model.version_label()),
        ));
    };
    if key.role != Role::Operator && !key.purposes.iter().any(|p| p == name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "purpose_not_granted",
            format!("key {} may not use purpose `{name}`", key.id),
        ));
    }
    Ok(Some(purpose))
}

fn read_node(state: &AppState) -> std::sync::RwLockReadGuard<'_, Node> {
    // A writer that panicked leaves the node as it was before its batch, or poisoned (which
    // intake reports); reads go on.
    state
        .node
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let node = read_node(&state);
    Json(json!({
        "status": "ok",
        "model_version": node.model().version_label(),
        "events": node.log_records(),
        "subjects": node.engine().subject_count(),
    }))
}

#[derive(Deserialize)]
struct PurposeQuery {
    purpose: Option<String>,
    /// The score at this occurred-time instead of now (RFC 3339).
    at: Option<String>,
    /// Counting only what was recorded by this instant (RFC 3339).
    known_at: Option<String>,
}

fn instant(field: &'static str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
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

async fn get_score(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    Query(query): Query<PurposeQuery>,
) -> ApiResult {
    let request = Request {
        action: "score",
        subject: Some(&subject),
        purpose: query.purpose.as_deref(),
    };
    let key = authenticate(
        &state,
        &headers,
        &[Role::Consumer, Role::Operator],
        &request,
    )?;
    let node = read_node(&state);
    let purpose = purpose_of(&state, key, node.model(), &request)?;
    let at = instant("at", query.at.as_deref())?;
    let known_at = instant("known_at", query.known_at.as_deref())?;
    let Some(current) = node.engine().score(&subject) else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_subject",
            format!("no events about subject `{subject}`"),
        );
        return Err(refuse(&state, Some(key), &request, error));
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
        return Ok(Json(json::score_json(&score)));
    };
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
    let mut answer = json!({
        "subject": score.subject,
        "purpose": purpose.name,
        "model_version": score.model_version,
        "as_of": score.as_of.to_string(),
        "known_at": score.known_at.map(|t| t.to_string()),
    });
    if score_allowed {
        answer["score"] = json!(json::round(score.value));
    }
    if grade_allowed {
        answer["grade"] = json!(score.grade);
    }
    audit(
        &state,
        Some(key),
        &request,
        request.action,
        answer.to_string(),
    )?;
    Ok(Json(answer))
}

async fn get_explanation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> ApiResult {
    let request = Request {
        action: "explanation",
        subject: Some(&subject),
        purpose: None,
    };
    let key = authenticate(&state, &headers, &[Role::Operator], &request)?;
    let node = read_node(&state);
    let clock = node.engine().clock();
    let explanation = node.explain(&subject, clock, None);
    let answer = format!(
        "score {:.2} grade {}, {} key factors",
        explanation.score.value,
        explanation.score.grade,
        explanation.key_factors.len()
    );
    audit(&state, Some(key), &request, request.action, answer)?;
    Ok(Json(json::explanation_json(&explanation)))
}

#[derive(Deserialize)]
struct DecisionRequest {
    purpose: String,
    subject: String,
}

async fn post_decision(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<DecisionRequest>,
) -> ApiResult {
    let asked = Request {
        action: "decision",
        subject: Some(&request.subject),
        purpose: Some(&request.purpose),
    };
    let key = authenticate(&state, &headers, &[Role::Consumer, Role::Operator], &asked)?;
    let node = read_node(&state);
    purpose_of(&state, key, node.model(), &asked)?;
    match node.engine().decide(&request.purpose, &request.subject) {
        Some(decision) => {
            let answer = format!("{:?} {}", decision.verdict, decision.id);
            audit(&state, Some(key), &asked, asked.action, answer)?;
            Ok(Json(json::decision_json(&decision)))
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_purpose",
            format!("no purpose `{}`", request.purpose),
        )),
    }
}

async fn get_list_membership(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((subject, list)): Path<(String, String)>,
    Query(query): Query<PurposeQuery>,
) -> ApiResult {
    let request = Request {
        action: "list",
        subject: Some(&subject),
        purpose: query.purpose.as_deref(),
    };
    let key = authenticate(
        &state,
        &headers,
        &[Role::Consumer, Role::Operator],
        &request,
    )?;
    let node = read_node(&state);
    let purpose = purpose_of(&state, key, node.model(), &request)?;
    if node.model().lists.iter().all(|l| l.name != list) {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_list",
            format!("the model keeps no list `{list}`"),
        );
        return Err(refuse(&state, Some(key), &request, error));
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

#[derive(Deserialize)]
struct RankRequest {
    purpose: String,
    subjects: Vec<String>,
}

/// The subjects given, best first, for a purpose that ranks by score: a dating app orders
/// its candidates. Each subject ranked is an audited read.
async fn post_rank(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<RankRequest>,
) -> ApiResult {
    let asked = Request {
        action: "rank",
        subject: None,
        purpose: Some(&request.purpose),
    };
    let key = authenticate(&state, &headers, &[Role::Consumer, Role::Operator], &asked)?;
    let node = read_node(&state);
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
    for subject in &request.subjects {
        match node.engine().score(subject) {
            Some(score) => known.push((subject.clone(), score.value)),
            None => unknown.push(subject),
        }
    }
    // Best first; ties to the smaller id, so the order never depends on the request's.
    known.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (subject, score) in &known {
        let read = Request {
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
        "ranking": known
            .iter()
            .enumerate()
            .map(|(rank, (subject, score))| json!({"rank": rank + 1, "subject": subject, "score": json::round(*score)}))
            .collect::<Vec<_>>(),
        "unknown": unknown,
    })))
}

/// The records of a request body: a JSON array, or one JSON object per line (NDJSON).
fn records(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        let values: Vec<Value> = serde_json::from_slice(trimmed).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("the body is not a JSON array of events: {error}"),
            )
        })?;
        Ok(values
            .iter()
            .map(|value| serde_json::to_vec(value).unwrap_or_default())
            .collect())
    } else {
        Ok(body
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.trim_ascii().is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }
}

async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let request = Request {
        action: "events",
        subject: None,
        purpose: None,
    };
    authenticate(&state, &headers, &[Role::Source, Role::Operator], &request)?;
    let records = records(&body)?;
    let worker = Arc::clone(&state);
    // Intake syncs the log: off the async workers.
    tokio::task::spawn_blocking(move || ingest(&worker, &records))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            )
        })?
}

/// Checks every record, applies and syncs the good ones, and answers per record.
fn ingest(state: &AppState, records: &[Vec<u8>]) -> ApiResult {
    // Records are parsed under no lock; only applying and syncing hold the node alone.
    let model = read_node(state).model().clone();
    let now = (state.now)();
    let mut results: Vec<Value> = Vec::with_capacity(records.len());
    let mut events = Vec::new();
    let mut bodies: Vec<&[u8]> = Vec::new();
    let mut slots = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match parse_record(&model, record, RecordedAt::FromRecordOr(now)) {
            Ok(event) => {
                results.push(json!({"index": index, "id": &*event.id, "source": &*event.source}));
                slots.push(index);
                events.push(event);
                bodies.push(record);
            }
            Err(error) => results.push(json!({
                "index": index, "status": "rejected", "reason": error.to_string(),
            })),
        }
    }
    let mut node = state.node.write().unwrap_or_else(|p| p.into_inner());
    let report = node.ingest(&events, &bodies).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_durable",
            format!("nothing of this request was acknowledged: {error}"),
        )
    })?;
    let (mut accepted, mut duplicate, mut rejected) = (0, 0, records.len() - events.len());
    for (slot, outcome) in slots.into_iter().zip(&report.outcomes) {
        let result = &mut results[slot];
        match outcome {
            ApplyOutcome::Accepted => {
                accepted += 1;
                result["status"] = json!("accepted");
            }
            ApplyOutcome::Duplicate => {
                duplicate += 1;
                result["status"] = json!("duplicate");
            }
            refused => {
                rejected += 1;
                result["status"] = json!("rejected");
                result["reason"] = json!(refused.to_string());
            }
        }
    }
    Ok(Json(json!({
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "durable": true,
        "results": results,
    })))
}

/// Errors that stop the server from starting or ending cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Node(#[from] standing_node::NodeError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error("listening on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

/// Serves the data directory on `listen` until SIGINT or SIGTERM; then finishes the requests
/// in flight, moves the engine clock every minute meanwhile, and stores a snapshot on the way
/// out. Everything acknowledged was durable when it was acknowledged.
pub fn serve(
    directory: &std::path::Path,
    listen: &str,
    now: fn() -> Timestamp,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ServeError> {
    let (node, _) = Node::open(directory, now())?;
    let keys = KeyStore::open(directory)?;
    let audit = Audit::open(directory)?;
    let state = Arc::new(AppState {
        node: RwLock::new(node),
        keys,
        audit,
        now,
    });
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = std::env::var("STANDING_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|&w| w > 0)
    {
        builder.worker_threads(workers);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|source| ServeError::Listen {
            address: listen.into(),
            source,
        })?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Listen {
                address: listen.into(),
                source,
            })?;
        if let Ok(address) = listener.local_addr() {
            ready(address);
        }
        let syncer = Arc::clone(&state);
        tokio::spawn(async move {
            let period = std::env::var("STANDING_AUDIT_SYNC_MS")
                .ok()
                .and_then(|ms| ms.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .unwrap_or(20);
            let mut interval = tokio::time::interval(std::time::Duration::from_millis(period));
            loop {
                interval.tick().await;
                let state = Arc::clone(&syncer);
                let _ = tokio::task::spawn_blocking(move || state.audit.sync()).await;
            }
        });
        let ticker = Arc::clone(&state);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                interval.tick().await;
                let state = Arc::clone(&ticker);
                let _ = tokio::task::spawn_blocking(move || {
                    let mut node = state.node.write().unwrap_or_else(|p| p.into_inner());
                    node.advance_clock((state.now)());
                })
                .await;
            }
        });
        axum::serve(listener, router(Arc::clone(&state)))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|source| ServeError::Listen {
                address: listen.into(),
                source,
            })
    })?;
    state.audit.sync_head()?;
    let mut node = state.node.write().unwrap_or_else(|p| p.into_inner());
    node.snapshot()?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
