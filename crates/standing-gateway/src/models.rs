//! A model's life across the cluster: an upload stored on every process, its impact summed
//! over every process's own subjects, and its activation switching every process at one clock
//! instant.
//!
//! Activation is led by process 0, holding the clock (no clock moves meanwhile), in two
//! phases. *Prepare*: every process builds the candidate — its own log replayed under the
//! version at the clock's instant, the slow part, readers and intake going on — and keeps it.
//! *Commit*, once all have prepared: every process installs its candidate (taking in what was
//! logged since), audits the activation and answers what it changed; then the network is
//! solved across the cluster under the new version. A prepare that fails anywhere is dropped
//! everywhere and nothing changes. The commits take milliseconds each, side by side; between
//! the first and the last an answer about one subject may already name the new version while
//! another names the old one; an answer merged from many processes is asked again until all
//! name one version (see `route::one_version`).

use crate::Gateway;
use crate::clock::{LEADER, relayed};
use crate::route::{ask_all, ask_all_within, first_failure, with_body};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde_json::{Value, json};
use standing_accountability::audit::Asked;
use standing_accountability::keys::{Authenticated, RoleKind};
use standing_accountability::versions::{ModelChangeError, VersionError};
use standing_server::ApiError;
use std::sync::Arc;

/// A candidate built by the prepare phase, waiting for the commit.
pub(crate) struct Prepared {
    version: String,
    candidate: standing_node::Candidate,
    impact: Value,
}

/// `POST /v1/models`: stored on every process (each checks and audits it); the answer once all
/// have it.
pub(crate) async fn upload(gateway: &Gateway, request: Request) -> Response {
    let (parts, bytes) = match crate::route::read_body(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let targets = (0..gateway.peers.len())
        .map(|process| (process, with_body(&parts, bytes.clone())))
        .collect();
    let answers = ask_all(gateway, targets).await;
    if let Some(failure) = first_failure(&answers) {
        return failure;
    }
    match answers
        .into_iter()
        .find(|(process, _)| *process == gateway.me())
    {
        Some((_, Ok((status, body)))) => (status, axum::Json(body)).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /v1/models/{version}/impact`: every process's impact on its own subjects, summed.
pub(crate) async fn impact(gateway: &Gateway, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let targets = (0..gateway.peers.len())
        .map(|process| (process, with_body(&parts, Body::empty())))
        .collect();
    // Each process replays its log under the version: work, not a lookup.
    let answers = ask_all_within(gateway, targets, gateway.peers.work_timeout()).await;
    if let Some(failure) = first_failure(&answers) {
        return failure;
    }
    let impacts = answers
        .into_iter()
        .filter_map(|(_, answer)| answer.ok().map(|(_, body)| body))
        .collect();
    axum::Json(merge_impacts(impacts)).into_response()
}

/// One impact of many processes': counts summed, transitions and purposes matched by name.
pub(crate) fn merge_impacts(impacts: Vec<Value>) -> Value {
    let mut impacts = impacts.into_iter();
    let Some(mut merged) = impacts.next() else {
        return Value::Null;
    };
    let add = |into: &mut Value, from: &Value| {
        *into = json!(into.as_u64().unwrap_or(0) + from.as_u64().unwrap_or(0));
    };
    for impact in impacts {
        for field in ["subjects", "grade_changes"] {
            add(&mut merged[field], &impact[field]);
        }
        for (list, keys, counts) in [
            ("transitions", &["from", "to"][..], &["count"][..]),
            (
                "purposes",
                &["purpose"][..],
                &["allow_to_deny", "deny_to_allow"][..],
            ),
        ] {
            for entry in impact[list].as_array().into_iter().flatten() {
                let Some(mine) = merged[list].as_array_mut() else {
                    continue;
                };
                match mine
                    .iter_mut()
                    .find(|m| keys.iter().all(|k| m[*k] == entry[*k]))
                {
                    Some(found) => {
                        for count in counts {
                            let mut sum = found[*count].take();
                            add(&mut sum, &entry[*count]);
                            found[*count] = sum;
                        }
                    }
                    None => mine.push(entry.clone()),
                }
            }
        }
    }
    merged
}

/// `POST /v1/models/{version}/activate`: led by process 0 (any other passes it there).
pub(crate) async fn activate(
    gateway: &Arc<Gateway>,
    forwarded: bool,
    request: Request,
    version: String,
) -> Response {
    if gateway.me() != LEADER {
        if forwarded {
            return StatusCode::MISDIRECTED_REQUEST.into_response();
        }
        return gateway.to_leader(request).await;
    }
    // Only an operator activates; anyone else is refused (and audited) by the node here.
    let secret = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let now = (gateway.state.house.now)();
    let operator =
        secret.and_then(
            |secret| match gateway.state.house.keys.authenticate(&secret, now) {
                Authenticated::Key(key) if key.is(RoleKind::Operator) => Some(key),
                _ => None,
            },
        );
    let Some(operator) = operator else {
        return gateway.local(request).await;
    };
    let _clock_held = gateway.moving.lock().await;
    let others: Vec<usize> = (0..gateway.peers.len())
        .filter(|&p| p != gateway.me())
        .collect();
    let body = json!({"version": version, "key": operator.id}).to_string();
    let call = |path: &'static str| {
        let body = body.clone();
        join_all(others.iter().map(move |&process| {
            let request = Request::post(path)
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .expect("a request to a fixed path");
            async move {
                gateway
                    .peers
                    .call_within(process, request, gateway.peers.work_timeout())
                    .await
            }
        }))
    };
    // Prepare everywhere.
    let (mine, theirs) = tokio::join!(
        prepare(gateway, &version),
        call("/cluster/v1/models/prepare")
    );
    let failed = mine.err().map(IntoResponse::into_response).or_else(|| {
        theirs.into_iter().find_map(|answer| match answer {
            Ok((StatusCode::OK, _)) => None,
            Ok((status, body)) => Some(relayed(status, body)),
            Err(unavailable) => Some(unavailable.into_response()),
        })
    });
    if let Some(failed) = failed {
        drop_prepared(gateway);
        let _ = call("/cluster/v1/models/abort").await;
        return failed;
    }
    // Commit everywhere.
    let (mine, theirs) = tokio::join!(
        commit(gateway, &version, &operator.id),
        call("/cluster/v1/models/commit")
    );
    let mut impacts = Vec::new();
    let mut missed = Vec::new();
    match mine {
        Ok(impact) => impacts.push(impact),
        Err(error) => missed.push(format!(
            "{}: {}",
            gateway.peers.name(gateway.me()),
            error.message()
        )),
    }
    for (&process, answer) in others.iter().zip(theirs) {
        match answer {
            Ok((StatusCode::OK, body)) => {
                impacts.push(serde_json::from_slice(&body).unwrap_or(Value::Null))
            }
            Ok((status, body)) => missed.push(format!(
                "{}: {status} {}",
                gateway.peers.name(process),
                String::from_utf8_lossy(&body)
            )),
            Err(unavailable) => {
                missed.push(format!("{}: {}", unavailable.name, unavailable.reason))
            }
        }
    }
    if !missed.is_empty() {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "activation_incomplete",
            format!(
                "every process prepared `{version}`, but {} did not switch to it; the others \
                 did: activate it again to bring all to one version",
                missed.join("; ")
            ),
        )
        .into_response();
    }
    let network = if gateway.state.house.read_node().model().network.is_active() {
        match crate::clock::solve_all(gateway).await {
            Ok(solved) => Some(solved),
            Err(refused) => return refused,
        }
    } else {
        None
    };
    axum::Json(json!({
        "active": version,
        "impact": merge_impacts(impacts),
        "network": network,
    }))
    .into_response()
}

/// This process builds and keeps the candidate of `version` at its clock.
pub(crate) async fn prepare(gateway: &Arc<Gateway>, version: &str) -> Result<(), ApiError> {
    let worker = Arc::clone(gateway);
    let version = version.to_owned();
    tokio::task::spawn_blocking(move || {
        let house = &worker.state.house;
        let text = house
            .versions
            .text(&version)
            .map_err(|e| change_error(e.into()))?;
        let node = house.read_node();
        let clock = node.engine().clock();
        let candidate = node
            .candidate(&format!("models/{version}.toml"), &text, clock)
            .map_err(|e| change_error(e.into()))?;
        let impact = standing_accountability::versions::impact(node.engine(), &candidate.engine);
        drop(node);
        *worker.prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(Prepared {
            version,
            candidate,
            impact,
        });
        Ok(())
    })
    .await
    .map_err(|error| failed(format!("the prepare stopped: {error}")))?
}

/// This process installs the candidate it prepared for `version`, serves its part under it and
/// audits the activation by key `key`; returns what it changed.
pub(crate) async fn commit(
    gateway: &Arc<Gateway>,
    version: &str,
    key: &str,
) -> Result<Value, ApiError> {
    let worker = Arc::clone(gateway);
    let (version, key) = (version.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || {
        let prepared = worker
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(prepared) = prepared.filter(|p| p.version == version) else {
            return Err(failed(format!("`{version}` was not prepared here")));
        };
        let house = &worker.state.house;
        {
            let mut node = house.write_node();
            node.activate(prepared.candidate)
                .map_err(|e| change_error(ModelChangeError::Node(e)))?;
            node.serve_part(worker.owned());
        }
        worker.state.watch.reset();
        let operator = house.keys.list().into_iter().find(|(k, _)| k.id == key);
        house
            .record(
                operator.as_ref().map(|(k, _)| &**k),
                &Asked::action("model.activate"),
                "model.activate",
                format!("activated {} across the cluster", prepared.impact["to"]),
            )
            .map_err(|error| failed(format!("the activation could not be audited: {error}")))?;
        Ok(prepared.impact)
    })
    .await
    .map_err(|error| failed(format!("the commit stopped: {error}")))?
}

/// Forgets a prepared candidate.
pub(crate) fn drop_prepared(gateway: &Gateway) {
    gateway
        .prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn change_error(error: ModelChangeError) -> ApiError {
    match error {
        ModelChangeError::Version(VersionError::Unknown(version)) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_version",
            format!("no stored version `{version}`"),
        ),
        ModelChangeError::DoesNotFit(error) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "model_does_not_fit",
            error.to_string(),
        ),
        other => failed(other.to_string()),
    }
}

fn failed(message: String) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "activation_failed",
        message,
    )
}
