//! Subscriptions as server-sent events: grade changes, crossings of a score threshold and list
//! changes, found by the watcher's once-a-second look. A consumer gets only what its purpose may
//! read (a grade change needs `grade`, a threshold `score`, a list `list.NAME`), and every event
//! sent is an audited read of that subject's data.

use crate::extract::Caller;
use crate::watch::Change;
use crate::{ApiError, AppState, Asked, purpose_of, refuse};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use standing_accountability::keys::{Key, RoleKind};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Who may call each endpoint here, and its name in the audit log.
mod calls {
    crate::extract::endpoint!(Subscribe, "subscribe", Consumer, Operator, Source);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// The purpose (a consumer must name one of its key's).
    purpose: Option<String>,
    /// Comma-separated: `grade`, `threshold`, `list`, `dispute` (sources and operators); default:
    /// every kind the key may read.
    #[param(value_type = Option<Vec<ChangeKind>>, inline, style = Form, explode = false)]
    kinds: Option<String>,
    /// The score whose crossings are sent (needed for `threshold`).
    threshold: Option<f64>,
    /// Comma-separated subject ids to watch; default: everyone.
    subjects: Option<String>,
}

/// The kinds of change a subscription may ask for.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub(crate) enum ChangeKind {
    Grade,
    Threshold,
    List,
    Dispute,
}

/// What one subscription is sent.
struct Filter {
    grades: bool,
    /// Disputes opened and resolved (sources and operators).
    disputes: bool,
    threshold: Option<f64>,
    /// Lists whose changes are sent.
    lists: HashSet<String>,
    subjects: Option<HashSet<String>>,
}

fn refusal(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Changes to scores, grades and lists, as they happen (server-sent events: `grade`,
/// `threshold`, `list`; `lagged` when some were missed).
#[utoipa::path(get, path = "/v1/changes", tag = "consumers", params(ChangesQuery),
    responses(
        (status = 200, description = "An event stream (text/event-stream)", body = String, content_type = "text/event-stream"),
        (status = 400, description = "A kind unknown, or `threshold` missing", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or an unknown key", body = crate::openapi::ErrorBody),
        (status = 403, description = "Wrong role, purpose not granted, or a kind beyond the purpose's binding", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown purpose", body = crate::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn get_changes(
    State(state): State<Arc<AppState>>,
    caller: Caller<calls::Subscribe>,
    query: crate::extract::Deferred<Query<ChangesQuery>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let key = std::sync::Arc::clone(&caller.key);
    let asked = caller.asked();
    let Query(query) = query.open(&state, &key, &asked)?;
    let request = Asked {
        purpose: query.purpose.as_deref(),
        ..asked
    };
    let filter = {
        let node = state.house.read_node();
        let model = node.model();
        let purpose = if key.is(RoleKind::Source) {
            None
        } else {
            purpose_of(&state, &key, model, &request)?
        };
        let source = key.is(RoleKind::Source);
        let may = |what: &str| !source && purpose.is_none_or(|p| p.may_read(what));
        let readable_lists: HashSet<String> = model
            .lists
            .iter()
            .filter(|l| may(&format!("list.{}", l.name)))
            .map(|l| l.name.clone())
            .collect();
        let asked: Vec<&str> = match &query.kinds {
            Some(kinds) => kinds
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect(),
            None => {
                let mut kinds = Vec::new();
                if may("grade") {
                    kinds.push("grade");
                }
                if may("score") && query.threshold.is_some() {
                    kinds.push("threshold");
                }
                if !readable_lists.is_empty() {
                    kinds.push("list");
                }
                if source || key.is(RoleKind::Operator) {
                    kinds.push("dispute");
                }
                kinds
            }
        };
        let mut filter = Filter {
            grades: false,
            disputes: false,
            threshold: None,
            lists: HashSet::new(),
            subjects: query
                .subjects
                .as_ref()
                .map(|s| s.split(',').map(|s| s.trim().to_owned()).collect()),
        };
        let name = purpose.map_or("(operator)", |p| p.name.as_str()).to_owned();
        for kind in asked {
            let refused = match kind {
                "grade" if may("grade") => {
                    filter.grades = true;
                    None
                }
                "grade" => Some(refusal(
                    "beyond_purpose",
                    format!("purpose `{name}` may not read grades"),
                )),
                "threshold" if !may("score") => Some(refusal(
                    "beyond_purpose",
                    format!("purpose `{name}` may not read scores"),
                )),
                "threshold" => match query.threshold {
                    Some(threshold) if threshold.is_finite() => {
                        filter.threshold = Some(threshold);
                        None
                    }
                    _ => Some(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "threshold_missing",
                        "kind `threshold` needs `threshold=<score>`",
                    )),
                },
                "list" if readable_lists.is_empty() => Some(refusal(
                    "beyond_purpose",
                    format!("purpose `{name}` may not read any list"),
                )),
                "list" => {
                    filter.lists = readable_lists.clone();
                    None
                }
                "dispute" if source || key.is(RoleKind::Operator) => {
                    filter.disputes = true;
                    None
                }
                "dispute" => Some(refusal(
                    "beyond_purpose",
                    "disputes go to sources and operators".into(),
                )),
                other => Some(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_kind",
                    format!("no change kind `{other}`: use grade, threshold, list or dispute"),
                )),
            };
            if let Some(error) = refused {
                return Err(refuse(&state, Some(&key), &request, error));
            }
        }
        if !filter.grades
            && filter.threshold.is_none()
            && filter.lists.is_empty()
            && !filter.disputes
        {
            let error = refusal(
                "beyond_purpose",
                format!("purpose `{name}` may read no change"),
            );
            return Err(refuse(&state, Some(&key), &request, error));
        }
        filter
    };
    crate::audit(
        &state,
        Some(&key),
        &request,
        request.action,
        "subscribed".into(),
    )?;
    let receiver = state.watch.subscribe();
    let purpose = query.purpose.clone();
    let stop = state.stopping.subscribe();
    let events = stream::unfold(
        (receiver, state, key, filter, purpose, stop),
        |(mut receiver, state, key, filter, purpose, mut stop)| async move {
            // The server stopping ends every stream, so a graceful shutdown does not wait on them.
            let received = tokio::select! {
                received = receiver.recv() => received,
                _ = stop.wait_for(|stopping| *stopping) => return None,
            };
            let events = match received {
                Ok(changes) => deliver(&state, &key, purpose.as_deref(), &filter, &changes),
                Err(RecvError::Lagged(missed)) => {
                    vec![
                        Event::default()
                            .event("lagged")
                            .data(json!({"missed_looks": missed}).to_string()),
                    ]
                }
                Err(RecvError::Closed) => return None,
            };
            Some((
                stream::iter(events.into_iter().map(Ok)),
                (receiver, state, key, filter, purpose, stop),
            ))
        },
    )
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The events of one look this subscription is sent, each audited.
fn deliver(
    state: &AppState,
    key: &Key,
    purpose: Option<&str>,
    filter: &Filter,
    changes: &crate::watch::Changes,
) -> Vec<Event> {
    let at = changes.at.to_string();
    let mut events = Vec::new();
    let model = state.house.read_node().model().clone();
    let declared = purpose.and_then(|name| model.purpose(name));
    if purpose.is_some() && declared.is_none() {
        // The purpose left the model (a new version): nothing more for it.
        return events;
    }
    // What the purpose may read now (a new version may have narrowed it).
    let may = |what: &str| declared.is_none_or(|p| p.may_read(what));
    for change in &changes.changes {
        let subject = match change {
            Change::Score { subject, .. }
            | Change::List { subject, .. }
            | Change::Dispute { subject, .. } => subject,
        };
        if filter
            .subjects
            .as_ref()
            .is_some_and(|s| !s.contains(&**subject))
        {
            continue;
        }
        if declared.is_some_and(|p| !state.house.consents.permits(subject, p)) {
            continue;
        }
        let mut send = |kind: &str, data: serde_json::Value| {
            let asked = Asked {
                action: "change",
                subject: Some(subject),
                purpose,
            };
            let action = format!("change:{kind}");
            // Nothing is sent unrecorded.
            if state
                .house
                .record(Some(key), &asked, &action, data.to_string())
                .is_ok()
            {
                events.push(Event::default().event(kind).data(data.to_string()));
            }
        };
        match change {
            Change::Score {
                before,
                after,
                grade_before,
                grade_after,
                ..
            } => {
                if filter.grades && may("grade") && grade_before != grade_after {
                    send(
                        "grade",
                        json!({"subject": subject, "from": grade_before, "to": grade_after, "at": at}),
                    );
                }
                if let Some(threshold) = filter.threshold.filter(|_| may("score")) {
                    let direction = if *before >= threshold && *after < threshold {
                        Some("below")
                    } else if *before < threshold && *after >= threshold {
                        Some("above")
                    } else {
                        None
                    };
                    if let Some(direction) = direction {
                        send(
                            "threshold",
                            json!({"subject": subject, "threshold": threshold, "direction": direction,
                            "score": crate::json::round(*after), "at": at}),
                        );
                    }
                }
            }
            Change::List { list, entered, .. }
                if filter.lists.contains(&**list) && may(&format!("list.{list}")) =>
            {
                send(
                    "list",
                    json!({"subject": subject, "list": list, "change": if *entered { "entered" } else { "left" }, "at": at}),
                );
            }
            Change::List { .. } => {}
            // A source hears of disputes about its own events only.
            Change::Dispute {
                id,
                source,
                event,
                status,
                ..
            } if filter.disputes && key.role.source().is_none_or(|own| own == &**source) => {
                send(
                    "dispute",
                    json!({"subject": subject, "dispute": id, "source": source, "event": event, "status": status, "at": at}),
                );
            }
            Change::Dispute { .. } => {}
        }
    }
    events
}
