//! Standing over HTTP (axum): sources push events, consumers ask for scores and decisions for
//! a purpose, operators read everything. Every request but `/healthz` carries an API key
//! (`Authorization: Bearer …`) whose role, and for a consumer whose purposes, decide what it may
//! call; a consumer sees only what its purpose may read.
//!
//! The node (model, log, engine) sits behind one lock: reads share it, intake takes it alone
//! and answers only once the accepted events are on stable storage.

mod access;
pub mod activity;
mod consent;
mod consumer;
pub mod disputes;
mod extract;
mod intake;
pub mod openapi;
mod operator;
mod review;
mod subscriptions;
pub mod watch;

pub use intake::read_records;
pub use operator::model_json;
use standing_accountability::{House, HouseError, json};

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};
pub(crate) use standing_accountability::audit::Asked;
use standing_accountability::keys::{Authenticated, Key, KeyRefusal, RoleKind};
use standing_core::Timestamp;
use standing_node::Node;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the handlers share: the node's house (the node and its duties) and what only the
/// server has.
#[derive(Debug)]
pub struct AppState {
    pub house: House,
    /// Counters for the overview and `/metrics`.
    pub activity: activity::Activity,
    /// The once-a-second look at every score: subscriptions and the overview.
    pub watch: watch::Watch,
    /// Set when the server stops: open change streams end.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// The state of a server on `node`'s data directory.
    pub fn new(node: Node, now: fn() -> Timestamp) -> Result<AppState, ServeError> {
        Ok(AppState {
            house: House::open(node, now)?,
            activity: activity::Activity::new(),
            watch: watch::Watch::new(),
            stopping: tokio::sync::watch::channel(false).0,
        })
    }
}

/// An error answer: a status and a JSON body `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub enum ApiError {
    /// The request is refused: what the caller can fix, or must know.
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Standing could not do its part (the log, the audit log, a ledger: the disk). The answer
    /// says what failed in general terms; the detail (paths, system errors) goes to the
    /// server's log only, with the code.
    Failed {
        status: StatusCode,
        code: &'static str,
        message: &'static str,
        detail: String,
    },
}

impl ApiError {
    /// A refusal.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    /// A failure of Standing's own (503: try again later), told in general terms; `detail`
    /// goes to the log.
    pub(crate) fn failed(
        code: &'static str,
        message: &'static str,
        detail: impl std::fmt::Display,
    ) -> ApiError {
        ApiError::Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            message,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Refused { status, .. } | ApiError::Failed { status, .. } => *status,
        }
    }

    /// The error's code in the answer (`process_unavailable`, `misdirected`, …).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Refused { code, .. } | ApiError::Failed { code, .. } => code,
        }
    }

    /// What the answer says.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Refused { message, .. } => message,
            ApiError::Failed { message, .. } => message,
        }
    }

    /// The same error, its message prefixed (a refusal; a failure is told as it is).
    pub(crate) fn within(self, prefix: &str) -> ApiError {
        match self {
            ApiError::Refused {
                status,
                code,
                message,
            } => ApiError::Refused {
                status,
                code,
                message: format!("{prefix}: {message}"),
            },
            failed => failed,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Failed {
            status,
            code,
            detail,
            ..
        } = &self
        {
            tracing::error!(status = status.as_u16(), code, detail, "request failed");
        }
        let body = json!({"error": {"code": self.code(), "message": self.message()}});
        (self.status(), Json(body)).into_response()
    }
}

impl From<standing_node::NodeError> for ApiError {
    fn from(error: standing_node::NodeError) -> ApiError {
        ApiError::failed(
            "node_failed",
            "the log or the engine could not do it; nothing was changed",
            error,
        )
    }
}

impl From<standing_accountability::audit::AuditError> for ApiError {
    fn from(error: standing_accountability::audit::AuditError) -> ApiError {
        ApiError::failed(
            "audit_unavailable",
            "the audit log cannot be written or read, so nothing is answered",
            error,
        )
    }
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

/// The largest request body: 64 MiB of events.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Every route with its handler, each handler with its OpenAPI description: the router and
/// `/openapi.json` are both made from this, so neither has a route the other lacks.
fn routes() -> OpenApiRouter<Arc<AppState>> {
    use consumer::*;
    use operator::*;
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(assets::index))
        .routes(routes!(assets::asset))
        .routes(routes!(healthz))
        .routes(routes!(openapi_json))
        .routes(routes!(get_metrics))
        .routes(routes!(intake::post_events))
        .routes(routes!(get_score))
        .routes(routes!(get_explanation))
        .routes(routes!(get_history))
        .routes(routes!(get_contacts))
        .routes(routes!(get_subject_audit))
        .routes(routes!(get_list_membership))
        .routes(routes!(post_decision))
        .routes(routes!(review::get_decision))
        .routes(routes!(review::get_reviews))
        .routes(routes!(review::post_review))
        .routes(routes!(consent::get_consent))
        .routes(routes!(access::get_report))
        .routes(routes!(access::get_my_report))
        .routes(routes!(disputes::get_disputes, disputes::post_dispute))
        .routes(routes!(disputes::post_resolution))
        .routes(routes!(access::get_counterfactuals))
        .routes(routes!(access::portal))
        .routes(routes!(consent::put_consent))
        .routes(routes!(post_rank))
        .routes(routes!(subscriptions::get_changes))
        .routes(routes!(get_overview))
        .routes(routes!(post_purge))
        .routes(routes!(operator::post_clock))
        .routes(routes!(get_keys))
        .routes(routes!(get_event))
        .routes(routes!(post_revoke_key))
        .routes(routes!(get_model))
        .routes(routes!(get_models, post_model))
        .routes(routes!(get_impact))
        .routes(routes!(post_activate))
}

/// The OpenAPI document of the routes [`router`] serves, as JSON (made once).
pub fn openapi_document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut api) = routes().split_for_parts();
        openapi::complete(&mut api);
        api.to_pretty_json()
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    })
}

pub fn router(state: Arc<AppState>) -> Router {
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such endpoint: see /openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method: see /openapi.json",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A request with a body (`POST`, `PUT`) is read only once its key is known: a body of up to
/// 64 MiB is not buffered for a caller without one. A request whose path does not decode is
/// refused after its key is checked. (The handler then checks the key's role and the rest, as
/// for any request.)
async fn keyed_first(
    state: &Arc<AppState>,
    request: axum::extract::Request,
) -> Result<axum::extract::Request, Response> {
    use axum::extract::FromRequestParts;
    use axum::http::Method;
    let writes = matches!(*request.method(), Method::POST | Method::PUT);
    // Most requests carry no body and no percent-encoded path: nothing to do.
    if !writes && !request.uri().path().contains('%') {
        return Ok(request);
    }
    // A path parameter that does not decode (such as `%FF`) would be refused by the handler's
    // extractor before its key check: it is refused here, after one.
    let (mut parts, body) = request.into_parts();
    let path_readable = axum::extract::RawPathParams::from_request_parts(&mut parts, state)
        .await
        .is_ok();
    let request = axum::extract::Request::from_parts(parts, body);
    if path_readable && !writes {
        return Ok(request);
    }
    match check_key(state, request.headers(), &RoleKind::ALL) {
        Ok(key) if !path_readable => {
            let asked = Asked::action("path");
            let error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_path",
                format!(
                    "{} {}: a path parameter is not valid percent-encoded UTF-8",
                    request.method(),
                    request.uri().path()
                ),
            );
            Err(refuse(state, Some(&key), &asked, error).into_response())
        }
        Ok(_) => Ok(request),
        Err((key, error)) => {
            let asked = Asked::action("write");
            let path = request.uri().path().to_owned();
            let error = error.within(&format!("{} {path}", request.method()));
            Err(refuse(state, key.as_deref(), &asked, error).into_response())
        }
    }
}

/// Counts every answer by route and status, with its latency; requests that must show a key
/// first (see [`keyed_first`]) are refused here when they do not.
async fn count_requests(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    // The matched path is shared, not copied: the request path allocates nothing for it.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = match keyed_first(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    state.activity.answered(
        route.as_ref().map_or("(unmatched)", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operators",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

/// The dashboard: static files that use the public API with an operator key.
pub(crate) mod assets {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};

    const INDEX: &str = include_str!("../assets/index.html");

    /// The dashboard's files.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    pub(crate) enum Asset {
        #[schema(rename = "app.js")]
        App,
        #[schema(rename = "style.css")]
        Style,
    }
    const APP: &str = include_str!("../assets/app.js");
    const STYLE: &str = include_str!("../assets/style.css");

    /// The dashboard's page.
    #[utoipa::path(get, path = "/", tag = "operators",
        responses((status = 200, description = "The dashboard (HTML)", body = String, content_type = "text/html")))]
    pub(crate) async fn index() -> Response {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
    }

    /// The dashboard's script and style sheet.
    #[utoipa::path(get, path = "/assets/{file}", tag = "operators",
        params(("file" = inline(Asset), Path, description = "`app.js` or `style.css`")),
        responses((status = 200, description = "The file", content(
                (String = "text/javascript"),
                (String = "text/css"))),
            (status = 401, description = "A path that does not decode, sent without a key", body = crate::openapi::ErrorBody),
            (status = 404, description = "No such asset", body = crate::openapi::ErrorBody)))]
    pub(crate) async fn asset(Path(file): Path<String>) -> Response {
        let (kind, body) = match file.as_str() {
            "app.js" => ("text/javascript; charset=utf-8", APP),
            "style.css" => ("text/css; charset=utf-8", STYLE),
            _ => {
                let error = crate::ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_such_asset",
                    format!("no asset `{file}`: the dashboard has app.js and style.css"),
                );
                return error.into_response();
            }
        };
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    }
}

/// Records a request's answer (or refusal) in the audit log. A failure to write the audit log
/// fails the request: nothing is answered unrecorded.
pub(crate) fn audit(
    state: &AppState,
    key: Option<&Key>,
    request: &Asked<'_>,
    action: &str,
    answer: String,
) -> Result<(), ApiError> {
    state
        .house
        .record(key, request, action, answer)
        .map_err(|error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                format!("the audit log cannot be written, so nothing is answered: {error}"),
            )
        })
}

/// Records a refusal and returns it.
pub(crate) fn refuse(
    state: &AppState,
    key: Option<&Key>,
    request: &Asked<'_>,
    error: ApiError,
) -> ApiError {
    let action = format!("refused:{}", error.code());
    // The answer names what was asked, so a refusal says which endpoint refused.
    let answer = match &error {
        ApiError::Failed { detail, .. } => {
            format!("{}: {}: {detail}", request.action, error.message())
        }
        refused => format!("{}: {}", request.action, refused.message()),
    };
    match audit(state, key, request, &action, answer) {
        Ok(()) => error,
        Err(audit_error) => audit_error,
    }
}

/// The key a request carries, checked against the roles allowed; refusals are audited.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    allowed: &[RoleKind],
    request: &Asked<'_>,
) -> Result<Arc<Key>, ApiError> {
    let key = check_key(state, headers, allowed);
    key.map_err(|(key, error)| refuse(state, key.as_deref(), request, error))
}

/// The secret of an `Authorization: Bearer …` header (the scheme in any case).
fn bearer(header: &axum::http::HeaderValue) -> Option<&str> {
    let (scheme, secret) = header.to_str().ok()?.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
}

#[allow(clippy::result_large_err)]
fn check_key(
    state: &AppState,
    headers: &HeaderMap,
    allowed: &[RoleKind],
) -> Result<Arc<Key>, (Option<Arc<Key>>, ApiError)> {
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
    let secret = bearer(header).unwrap_or("");
    let key = match state.house.keys.authenticate(secret, (state.house.now)()) {
        Authenticated::Key(key) => key,
        Authenticated::Unknown => {
            return Err((
                None,
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unknown_key",
                    "the API key is not known here",
                ),
            ));
        }
        Authenticated::Refused(key, refusal) => {
            let (code, message) = match refusal {
                KeyRefusal::Revoked(at) => {
                    ("revoked_key", format!("key {} was revoked at {at}", key.id))
                }
                KeyRefusal::Expired(at) => {
                    ("expired_key", format!("key {} expired at {at}", key.id))
                }
                KeyRefusal::Unbound => (
                    "unbound_key",
                    format!(
                        "key {} is a source key bound to no source; create one with \
                         `standing keys create --role source --source NAME`",
                        key.id
                    ),
                ),
            };
            return Err((
                Some(key),
                ApiError::new(StatusCode::UNAUTHORIZED, code, message),
            ));
        }
    };
    if !allowed.contains(&key.role.kind()) {
        let roles: Vec<&str> = allowed.iter().map(|role| role.name()).collect();
        let message = format!(
            "key {} may not call this: it is for {}",
            key.id,
            roles.join(" or ")
        );
        return Err((
            Some(key),
            ApiError::new(StatusCode::FORBIDDEN, "wrong_role", message),
        ));
    }
    Ok(key)
}

/// A subject key acts for its own subject only; refusals are audited.
pub(crate) fn own_subject(
    state: &AppState,
    key: &Key,
    request: &Asked<'_>,
    subject: &str,
) -> Result<(), ApiError> {
    if key.is(RoleKind::Subject) && key.role.subject() != Some(subject) {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "not_yours",
            "a subject key reads and acts for its own subject only",
        );
        return Err(refuse(state, Some(key), request, error));
    }
    Ok(())
}

/// The purpose a request names, checked against its key and the model; refusals are audited.
pub(crate) fn purpose_of<'m>(
    state: &AppState,
    key: &Key,
    model: &'m standing_rules::Model,
    request: &Asked<'_>,
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
        return if key.is(RoleKind::Operator) {
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
    if !key.is(RoleKind::Operator) && !key.role.purposes().iter().any(|p| p == name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "purpose_not_granted",
            format!("key {} may not use purpose `{name}`", key.id),
        ));
    }
    Ok(Some(purpose))
}

/// Runs disk work (a synced ledger append) off the request workers: a sync on the one worker
/// of a two-core server would hold up every request meanwhile.
pub(crate) async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        if error.is_panic() {
            std::panic::resume_unwind(error.into_panic());
        }
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the server is stopping",
        )
    })
}

/// Whether the server is up, with its model version and sizes (no key needed).
#[utoipa::path(get, path = "/healthz", tag = "operators",
    responses((status = 200, description = "Up", body = Object)))]
async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let node = state.house.read_node();
    Json(json!({
        "status": "ok",
        "model_version": node.model().version_label(),
        "events": node.log_records(),
        "subjects": node.engine().subject_count(),
    }))
}

/// Errors that stop the server from starting or ending cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Node(#[from] standing_node::NodeError),
    #[error(transparent)]
    House(#[from] HouseError),
    #[error(transparent)]
    Audit(#[from] standing_accountability::audit::AuditError),
    #[error(transparent)]
    Keys(#[from] standing_accountability::keys::KeyError),
    #[error("listening on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

/// How a server runs: where it listens and the pace of its background work. The command line
/// builds it (flags, or `STANDING_WORKERS`, `STANDING_AUDIT_SYNC_MS`, `STANDING_CLOCK_SECS`);
/// the server reads no environment itself.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: String,
    /// Request workers; `None`: one per core but one (at least one), so the work beside
    /// requests (audit syncs, clock moves, watchers) keeps a core of its own.
    pub workers: Option<usize>,
    /// How often the audit log is synced: answers recorded since are durable then.
    pub audit_sync: std::time::Duration,
    /// How often the engine's clock moves to now, rescoring everyone; `None`: only when told
    /// (`POST /v1/clock`, or a cluster's leader).
    pub clock_period: Option<std::time::Duration>,
    /// The wall clock (a parameter, so tests can fix it).
    pub now: fn() -> Timestamp,
}

impl ServeConfig {
    /// The defaults on `listen` with the clock `now`: every core but one, the audit synced
    /// every 5 ms, the clock moved every minute.
    pub fn new(listen: &str, now: fn() -> Timestamp) -> ServeConfig {
        ServeConfig {
            listen: listen.to_owned(),
            workers: None,
            audit_sync: std::time::Duration::from_millis(5),
            clock_period: Some(std::time::Duration::from_secs(60)),
            now,
        }
    }
}

/// Serves the data directory as `config` says until SIGINT or SIGTERM; then finishes the
/// requests in flight, moves the engine clock meanwhile, and stores a snapshot on the way out.
/// Everything acknowledged was durable when it was acknowledged.
pub fn serve(
    directory: &std::path::Path,
    config: &ServeConfig,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ServeError> {
    let (node, _) = Node::open(directory, (config.now)())?;
    serve_node(node, config, ready, |_| {})
}

/// [`serve`] for a node already open; `started` runs on the server's runtime once it listens
/// (the demo starts its simulated sources and consumers there).
pub fn serve_node(
    node: Node,
    config: &ServeConfig,
    ready: impl FnOnce(std::net::SocketAddr),
    started: impl FnOnce(Arc<AppState>),
) -> Result<(), ServeError> {
    serve_routed(node, config, ready, started, |_, router| router)
}

/// [`serve_node`] with the router made by `route` from this server's own: a cluster's process
/// puts its routing between the listener and the node's routes. `route` and `started` run on
/// the server's runtime.
pub fn serve_routed(
    node: Node,
    config: &ServeConfig,
    ready: impl FnOnce(std::net::SocketAddr),
    started: impl FnOnce(Arc<AppState>),
    route: impl FnOnce(&Arc<AppState>, Router) -> Router,
) -> Result<(), ServeError> {
    let (listen, now) = (config.listen.as_str(), config.now);
    let (audit_sync, clock_period) = (config.audit_sync, config.clock_period);
    let state = Arc::new(AppState::new(node, now)?);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // One core is left to the work beside requests (audit syncs, clock moves, watchers): on two
    // cores, a second request worker buys little throughput and costs the slowest answers.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = config
        .workers
        .filter(|&w| w > 0)
        .unwrap_or(cores.saturating_sub(1).max(1));
    builder.worker_threads(workers);
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
        started(Arc::clone(&state));
        // A restored engine's event index is built here, off the lock, rather than by the first
        // intake under it.
        let indexer = Arc::clone(&state);
        tokio::task::spawn_blocking(move || build_event_index(&indexer));
        let syncer = Arc::clone(&state);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(audit_sync);
            loop {
                interval.tick().await;
                let state = Arc::clone(&syncer);
                let _ = tokio::task::spawn_blocking(move || state.house.audit.sync()).await;
            }
        });
        let watcher = Arc::clone(&state);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                interval.tick().await;
                let state = Arc::clone(&watcher);
                let _ = tokio::task::spawn_blocking(move || {
                    state.activity.sample();
                    watch::look(&state);
                    // When each key was last used, for `standing keys list`: at most a second
                    // behind.
                    let _ = state.house.keys.save_last_used();
                    state.house.keys.notice_file_change();
                })
                .await;
            }
        });
        if let Some(clock_period) = clock_period {
            let ticker = Arc::clone(&state);
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(clock_period);
                loop {
                    interval.tick().await;
                    let state = Arc::clone(&ticker);
                    let _ = tokio::task::spawn_blocking(move || advance_clock(&state)).await;
                }
            });
        }
        axum::serve(listener, route(&state, router(Arc::clone(&state))))
            .with_graceful_shutdown({
                let state = Arc::clone(&state);
                async move {
                    shutdown_signal().await;
                    state.stopping.send_replace(true);
                }
            })
            .await
            .map_err(|source| ServeError::Listen {
                address: listen.into(),
                source,
            })
    })?;
    state.house.audit.sync_head()?;
    state.house.keys.save_last_used()?;
    let mut node = state.house.write_node();
    node.snapshot()?;
    Ok(())
}

/// Builds a restored engine's event index under the read lock and installs it.
fn build_event_index(state: &AppState) {
    let Some(job) = state.house.read_node().engine().event_index_job() else {
        return;
    };
    let index = job.build();
    state.house.write_node().install_event_index(index);
}

/// Subjects rescored per piece when the clock moves.
const CLOCK_STEP: usize = 2_048;

/// Moves the engine's clock to now with readers and intake going on: every piece of work is
/// done under the read lock (behaviour scores of 2,048 subjects at a time, then a copy of the
/// network solved with no lock at all) and the write lock is taken only to install each result,
/// which is a copy. A move rescores every subject: about a second per million.
pub fn advance_clock(state: &AppState) {
    advance_clock_to(state, (state.house.now)());
}

/// [`advance_clock`] to instant `at` (a cluster's processes move to the instant their leader
/// chose).
pub fn advance_clock_to(state: &AppState, at: Timestamp) {
    let write = || state.house.write_node();
    write().start_clock(at);
    let mut start = 0;
    while start < state.house.read_node().engine().subject_count() {
        let computed = state
            .house
            .read_node()
            .engine()
            .behaviours_at_clock(start..start + CLOCK_STEP);
        write().install_behaviours(computed);
        start += CLOCK_STEP;
    }
    let copy = write().start_network_copy();
    let solve = copy.and_then(|copy| state.house.read_node().engine().network_copy(copy));
    let installed = solve.is_some_and(|mut solve| {
        solve.solve();
        write().install_network(solve)
    });
    if !installed {
        write().finish_clock();
    }
    // Disputes past their 30 days are upheld.
    disputes::uphold_overdue(state);
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// A failure of Standing's own answers 503 with its code and a general message: the detail
    /// (a path, a system error) is for the server's log, not the caller.
    #[tokio::test]
    async fn a_failure_is_answered_without_its_detail() {
        let detail =
            "/var/lib/standing/consent/consent.jsonl: No space left on device (os error 28)";
        let error = ApiError::failed("not_durable", "the change was not recorded", detail);
        let (status, answer) = body(error.into_response()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer["error"]["code"], "not_durable");
        assert_eq!(answer["error"]["message"], "the change was not recorded");
        assert!(!answer.to_string().contains("/var/lib"), "{answer}");
        assert!(!answer.to_string().contains("os error"), "{answer}");
    }

    /// A refusal says what the caller can fix, whole; a prefix names where.
    #[tokio::test]
    async fn a_refusal_is_answered_with_its_message() {
        let error = ApiError::new(StatusCode::NOT_FOUND, "unknown_subject", "no `p-1`")
            .within("GET /v1/subjects/p-1/score");
        let (status, answer) = body(error.into_response()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            answer["error"]["message"],
            "GET /v1/subjects/p-1/score: no `p-1`"
        );
    }
}
