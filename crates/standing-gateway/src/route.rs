//! Where each request is answered. A request about one subject goes to the subject's owner; a
//! batch of events is split among the owners of its records; a ranking among the owners of
//! its candidates; a stored item (a decision held for review, a dispute, a logged event) is
//! looked for on every process; the overview, change streams, model changes, purges and clock
//! moves cover every process; everything else is this process's own (the model, keys, pages,
//! its metrics).

use crate::Gateway;
use crate::peer::{FORWARDED, Unavailable};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::{Value, json};
use standing_accountability::keys::Authenticated;
use standing_server::ApiError;
use std::sync::Arc;

/// The largest body a process reads to route it (the server's own limit).
pub(crate) const MAX_BODY: usize = 64 << 20;

/// The one handler of a cluster process's listener.
pub(crate) async fn dispatch(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let forwarded = request.headers().contains_key(FORWARDED);
    if let Some(subject) = path_subject(request.uri().path()) {
        let owner = gateway.owner(&subject);
        if owner == gateway.me() {
            return gateway.local(request).await;
        }
        if forwarded {
            return misdirected(&gateway, &subject, owner);
        }
        return gateway.forward(owner, request).await;
    }
    if request.method() == Method::POST && request.uri().path() == "/v1/clock" {
        return clock(&gateway, forwarded, request).await;
    }
    if request.method() == Method::POST && request.uri().path() == "/v1/purge" {
        return purge(&gateway, forwarded, request).await;
    }
    if let Some(version) = activated_version(request.method(), request.uri().path()) {
        return crate::models::activate(&gateway, forwarded, request, version).await;
    }
    if request.uri().path().starts_with("/cluster/") {
        return crate::internal::answer(&gateway, request).await;
    }
    // What another process sent here is answered here.
    if forwarded {
        return gateway.local(request).await;
    }
    let path = request.uri().path();
    match *request.method() {
        Method::POST if path == "/v1/events" => crate::intake::split(&gateway, request).await,
        Method::POST if path == "/v1/decisions" => by_body_subject(&gateway, request).await,
        Method::POST if path == "/v1/rank" => rank(&gateway, request).await,
        Method::GET if path == "/v1/me/report" => by_key_subject(&gateway, request).await,
        Method::GET if path == "/v1/reviews" => reviews(&gateway, request).await,
        Method::GET if path == "/v1/overview" => overview(&gateway, request).await,
        Method::GET if path == "/v1/changes" => changes(&gateway, request).await,
        Method::POST if path == "/v1/models" => crate::models::upload(&gateway, request).await,
        Method::GET if path.starts_with("/v1/models/") && path.ends_with("/impact") => {
            crate::models::impact(&gateway, request).await
        }
        Method::GET if path.starts_with("/v1/decisions/") || path.starts_with("/v1/events/") => {
            find(&gateway, request).await
        }
        Method::POST if path.starts_with("/v1/reviews/") || path.starts_with("/v1/disputes/") => {
            find(&gateway, request).await
        }
        _ => gateway.local(request).await,
    }
}

/// `POST /v1/clock`: the leader moves its clock (the operator's key checked there), then
/// every other process's, then solves the network; any other process passes it to the leader.
async fn clock(gateway: &Arc<Gateway>, forwarded: bool, request: Request) -> Response {
    use crate::clock::LEADER;
    if gateway.me() != LEADER {
        if forwarded {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected",
                format!(
                    "{} was sent a clock move, which {} leads: do all processes read the same \
                     cluster file?",
                    gateway.peers.name(gateway.me()),
                    gateway.peers.name(LEADER)
                ),
            )
            .into_response();
        }
        return gateway.to_leader(request).await;
    }
    let here = gateway.local(request).await;
    if here.status() != StatusCode::OK {
        return here;
    }
    let (parts, body) = here.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let at = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["clock"].as_str().map(str::to_owned))
        .and_then(|text| standing_core::Timestamp::parse(&text).ok());
    let Some(at) = at else {
        return Response::from_parts(parts, Body::from(body));
    };
    match crate::clock::move_all(gateway, at, true).await {
        Ok(moved) => axum::Json(moved).into_response(),
        Err(refused) => refused,
    }
}

/// `GET /v1/changes`: every process's stream of its own subjects' changes, opened with the
/// caller's key (each checks it and audits what it sends), merged event by event. A process
/// whose stream ends says so in an `unavailable` event naming it; the others go on.
async fn changes(gateway: &Gateway, request: Request) -> Response {
    use futures_util::StreamExt;
    let (parts, _) = request.into_parts();
    let mut streams = Vec::new();
    for process in 0..gateway.peers.len() {
        let asked = with_body(&parts, Body::empty());
        let response = if process == gateway.me() {
            gateway.local(asked).await
        } else {
            match gateway.peers.send(process, asked).await {
                Ok(response) => response,
                Err(unavailable) => return unavailable.into_response(),
            }
        };
        if !response.status().is_success() {
            return response;
        }
        let name = gateway.peers.name(process).to_owned();
        streams.push(whole_events(response.into_body(), name).boxed());
    }
    let merged = futures_util::stream::select_all(streams);
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
        .header(axum::http::header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(merged))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A stream of server-sent events cut into whole events (each ending in a blank line), so
/// that merged streams never interleave within one; then an `unavailable` event naming the
/// process once its stream ends.
fn whole_events(
    body: Body,
    process: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    use futures_util::StreamExt;
    struct Cut {
        body: axum::body::BodyDataStream,
        pending: Vec<u8>,
        process: Option<String>,
    }
    let start = Cut {
        body: body.into_data_stream(),
        pending: Vec::new(),
        process: Some(process),
    };
    futures_util::stream::unfold(start, |mut cut| async move {
        loop {
            if let Some(end) = cut.pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = cut.pending.drain(..end + 2).collect();
                return Some((Ok(Bytes::from(event)), cut));
            }
            match cut.body.next().await {
                Some(Ok(bytes)) => cut.pending.extend_from_slice(&bytes),
                _ => {
                    let process = cut.process.take()?;
                    let said = json!({"process": process}).to_string();
                    let event = format!("event: unavailable\ndata: {said}\n\n");
                    return Some((Ok(Bytes::from(event)), cut));
                }
            }
        }
    })
}

/// `POST /v1/purge`: led by process 0, holding the clock: every process purges its own log
/// (checking the key and auditing it), then the network is solved again; the answer sums what
/// each removed and kept.
async fn purge(gateway: &Arc<Gateway>, forwarded: bool, request: Request) -> Response {
    use crate::clock::LEADER;
    // What the leader sends each process is its own share; what another sends the leader, the
    // leader leads.
    let from_leader = forwarded
        && request
            .headers()
            .get(FORWARDED)
            .and_then(|from| from.to_str().ok()?.parse::<usize>().ok())
            == Some(LEADER);
    if from_leader && gateway.me() != LEADER {
        return purge_here(gateway, request).await;
    }
    if gateway.me() != LEADER {
        return gateway.to_leader(request).await;
    }
    let _clock_held = gateway.moving.lock().await;
    let (parts, _) = request.into_parts();
    let others: Vec<(usize, Request)> = (0..gateway.peers.len())
        .filter(|&p| p != gateway.me())
        .map(|process| (process, with_body(&parts, Body::empty())))
        .collect();
    let within = gateway.peers.work_timeout();
    let (mine, theirs) = tokio::join!(
        purge_here(gateway, with_body(&parts, Body::empty())),
        ask_all_within(gateway, others, within)
    );
    let status = mine.status();
    let body = axum::body::to_bytes(mine.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mine = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut answers = vec![(gateway.me(), Ok((status, mine)))];
    answers.extend(theirs);
    if let Some(failure) = first_failure(&answers) {
        // A purge is idempotent: asked again, the processes that did purge remove nothing.
        return failure;
    }
    let purged: Vec<Value> = answers
        .into_iter()
        .filter_map(|(_, answer)| answer.ok().map(|(_, body)| body))
        .collect();
    let mut merged = purged[0].clone();
    for other in &purged[1..] {
        for field in ["removed", "kept"] {
            let sum = merged[field].as_u64().unwrap_or(0) + other[field].as_u64().unwrap_or(0);
            merged[field] = json!(sum);
        }
        for (kind, count) in other["by_type"].as_object().into_iter().flatten() {
            let sum = merged["by_type"][kind].as_u64().unwrap_or(0) + count.as_u64().unwrap_or(0);
            merged["by_type"][kind] = json!(sum);
        }
    }
    if gateway.state.house.read_node().model().network.is_active() {
        match crate::clock::solve_all(gateway).await {
            Ok(solved) => merged["network"] = solved,
            Err(refused) => return refused,
        }
    }
    axum::Json(merged).into_response()
}

/// This process's purge (its node renumbers its subjects: it serves its part again).
async fn purge_here(gateway: &Gateway, request: Request) -> Response {
    let answer = gateway.local(request).await;
    if answer.status() == StatusCode::OK {
        let state = Arc::clone(&gateway.state);
        let owned = gateway.owned();
        let _ =
            tokio::task::spawn_blocking(move || state.house.write_node().serve_part(owned)).await;
    }
    answer
}

/// The version `POST /v1/models/{version}/activate` names.
fn activated_version(method: &Method, path: &str) -> Option<String> {
    let version = path
        .strip_prefix("/v1/models/")?
        .strip_suffix("/activate")?;
    (*method == Method::POST && !version.is_empty() && !version.contains('/'))
        .then(|| version.to_owned())
}

/// The subject a path is about: `/v1/subjects/{subject}/…`, decoded.
fn path_subject(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/subjects/")?;
    let segment = rest.split('/').next()?;
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// A forwarded request about a subject this process does not own: the processes disagree on
/// the cluster, which an operator must fix.
fn misdirected(gateway: &Gateway, subject: &str, owner: usize) -> Response {
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected",
        format!(
            "{} was sent a request about `{subject}`, which by its cluster file belongs to {}: \
             do all processes read the same cluster file?",
            gateway.peers.name(gateway.me()),
            gateway.peers.name(owner)
        ),
    )
    .into_response()
}

/// Reads a request's body to route it, within the server's limit.
pub(crate) async fn read_body(request: Request) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a body is at most {MAX_BODY} bytes"),
        )
        .into_response()),
    }
}

/// A copy of a request's head with another body.
pub(crate) fn with_body(parts: &Parts, body: impl Into<Body>) -> Request {
    let mut request = Request::new(body.into());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    request
        .headers_mut()
        .remove(axum::http::header::CONTENT_LENGTH);
    request
}

/// `POST /v1/decisions`: by the subject its body names.
async fn by_body_subject(gateway: &Gateway, request: Request) -> Response {
    #[derive(Deserialize)]
    struct Named {
        subject: String,
    }
    let (parts, bytes) = match read_body(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let owner = serde_json::from_slice::<Named>(&bytes)
        .map_or(gateway.me(), |named| gateway.owner(&named.subject));
    let request = with_body(&parts, bytes);
    if owner == gateway.me() {
        gateway.local(request).await
    } else {
        gateway.forward(owner, request).await
    }
}

/// `GET /v1/me/report`: by the subject its key is bound to.
async fn by_key_subject(gateway: &Gateway, request: Request) -> Response {
    let secret = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let subject = secret.and_then(|secret| {
        match gateway
            .state
            .house
            .keys
            .authenticate(secret, (gateway.state.house.now)())
        {
            Authenticated::Key(key) => key.role.subject().map(str::to_owned),
            _ => None,
        }
    });
    match subject.map(|s| gateway.owner(&s)) {
        Some(owner) if owner != gateway.me() => gateway.forward(owner, request).await,
        // Its own subject's, or refused here as any process would.
        _ => gateway.local(request).await,
    }
}

/// A JSON answer from a process: its status and body.
pub(crate) type Answer = Result<(StatusCode, Value), Unavailable>;

/// Sends a request to every process in `targets` at once (this one in process), and reads each
/// answer as JSON.
pub(crate) async fn ask_all(
    gateway: &Gateway,
    targets: Vec<(usize, Request)>,
) -> Vec<(usize, Answer)> {
    ask_all_within(gateway, targets, gateway.peers.timeout()).await
}

/// [`ask_all`], each process given `within` to answer (for work, not a lookup).
pub(crate) async fn ask_all_within(
    gateway: &Gateway,
    targets: Vec<(usize, Request)>,
    within: std::time::Duration,
) -> Vec<(usize, Answer)> {
    let calls = targets.into_iter().map(|(process, request)| async move {
        let answer = if process == gateway.me() {
            let response = gateway.local(request).await;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            Ok((status, bytes))
        } else {
            gateway.peers.call_within(process, request, within).await
        };
        let answer = answer.map(|(status, bytes)| {
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, value)
        });
        (process, answer)
    });
    join_all(calls).await
}

/// The first answer that is not a success, as the caller should see it; a process that did
/// not answer is told after any refusal (a refusal holds wherever it is asked).
pub(crate) fn first_failure(answers: &[(usize, Answer)]) -> Option<Response> {
    let refused = answers.iter().find_map(|(_, answer)| match answer {
        Ok((status, body)) if !status.is_success() => Some((*status, axum::Json(body.clone()))),
        _ => None,
    });
    if let Some(refused) = refused {
        return Some(refused.into_response());
    }
    answers.iter().find_map(|(_, answer)| match answer {
        Err(unavailable) => Some(unavailable.clone().into_response()),
        Ok(_) => None,
    })
}

/// `POST /v1/rank`: each owner ranks its own candidates; the rankings are merged, best first,
/// ties to the smaller id, as one process orders them.
async fn rank(gateway: &Gateway, request: Request) -> Response {
    #[derive(Deserialize)]
    struct Ranked {
        purpose: Value,
        subjects: Vec<String>,
    }
    let (parts, bytes) = match read_body(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let Ok(asked) = serde_json::from_slice::<Ranked>(&bytes) else {
        return gateway.local(with_body(&parts, bytes)).await;
    };
    let mut shares: Vec<Vec<&str>> = vec![Vec::new(); gateway.peers.len()];
    for subject in &asked.subjects {
        shares[gateway.owner(subject)].push(subject);
    }
    let targets: Vec<(usize, Request)> = shares
        .iter()
        .enumerate()
        .filter(|(process, share)| !share.is_empty() || *process == gateway.me())
        .map(|(process, share)| {
            let body = json!({"purpose": asked.purpose, "subjects": share}).to_string();
            (process, with_body(&parts, body))
        })
        .collect::<Vec<_>>();
    let answers = match one_version(gateway, targets).await {
        Ok(answers) => answers,
        Err(refused) => return refused,
    };
    let mut ranking: Vec<(f64, String)> = Vec::new();
    let (mut unknown, mut withheld) = (Vec::new(), Vec::new());
    let (mut purpose, mut version) = (Value::Null, Value::Null);
    for (_, answer) in answers {
        let Ok((_, body)) = answer else { continue };
        purpose = body["purpose"].clone();
        version = body["model_version"].clone();
        for entry in body["ranking"].as_array().into_iter().flatten() {
            if let (Some(score), Some(subject)) =
                (entry["score"].as_f64(), entry["subject"].as_str())
            {
                ranking.push((score, subject.to_owned()));
            }
        }
        unknown.extend(body["unknown"].as_array().cloned().unwrap_or_default());
        withheld.extend(body["withheld"].as_array().cloned().unwrap_or_default());
    }
    // In the order they were asked, as one process lists them.
    let asked_order = |list: &mut Vec<Value>| {
        list.sort_by_key(|s| {
            asked
                .subjects
                .iter()
                .position(|a| Some(a.as_str()) == s.as_str())
        });
    };
    asked_order(&mut unknown);
    asked_order(&mut withheld);
    ranking.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    axum::Json(json!({
        "purpose": purpose,
        "model_version": version,
        "ranking": ranking
            .iter()
            .enumerate()
            .map(|(rank, (score, subject))| json!({"rank": rank + 1, "subject": subject, "score": score}))
            .collect::<Vec<_>>(),
        "unknown": unknown,
        "withheld": withheld,
    }))
    .into_response()
}

/// `GET /v1/reviews`: the decisions pending review on every process, oldest first.
async fn reviews(gateway: &Gateway, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let targets = (0..gateway.peers.len())
        .map(|process| (process, with_body(&parts, Body::empty())))
        .collect();
    let answers = ask_all(gateway, targets).await;
    if let Some(failure) = first_failure(&answers) {
        return failure;
    }
    let mut pending: Vec<Value> = answers
        .into_iter()
        .filter_map(|(_, answer)| answer.ok())
        .flat_map(|(_, body)| body["pending"].as_array().cloned().unwrap_or_default())
        .collect();
    pending.sort_by(|a, b| {
        let at = |v: &Value| v["decided_at"].as_str().unwrap_or("").to_owned();
        at(a)
            .cmp(&at(b))
            .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    axum::Json(json!({"pending": pending})).into_response()
}

/// How often a merged answer is asked again while the processes switch model versions (their
/// commits are milliseconds apart), and how long it waits between.
const SWITCHING_TRIES: usize = 40;
const SWITCHING_WAIT: std::time::Duration = std::time::Duration::from_millis(25);

/// Asks every target, as [`ask_all`], until all answers name one model version: a merged
/// answer never mixes versions. A refusal or a process that does not answer is the answer.
async fn one_version(
    gateway: &Gateway,
    targets: Vec<(usize, Request)>,
) -> Result<Vec<(usize, Answer)>, Response> {
    let (heads, bodies): (Vec<_>, Vec<_>) = {
        let mut heads = Vec::new();
        let mut bodies = Vec::new();
        for (process, request) in targets {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_BODY)
                .await
                .unwrap_or_default();
            heads.push((process, parts));
            bodies.push(bytes);
        }
        (heads, bodies)
    };
    for _ in 0..SWITCHING_TRIES {
        let targets = heads
            .iter()
            .zip(&bodies)
            .map(|((process, parts), body)| (*process, with_body(parts, body.clone())))
            .collect();
        let answers = ask_all(gateway, targets).await;
        if let Some(failure) = first_failure(&answers) {
            return Err(failure);
        }
        let mut versions = answers
            .iter()
            .filter_map(|(_, answer)| answer.as_ref().ok())
            .filter_map(|(_, body)| body["model_version"].as_str());
        let first = versions.next();
        if versions.all(|version| Some(version) == first) {
            return Ok(answers);
        }
        tokio::time::sleep(SWITCHING_WAIT).await;
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "versions_switching",
        "the processes answered under different model versions for a second: an activation \
         did not finish everywhere; ask again, or activate the version again",
    )
    .into_response())
}

/// `GET /v1/overview`: every process's own subjects, summed — counts, histogram, grades,
/// lists, relations, events by source, decisions — and the extremes of all of them (each
/// process audits the read of its own).
async fn overview(gateway: &Gateway, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let targets = (0..gateway.peers.len())
        .map(|process| (process, with_body(&parts, Body::empty())))
        .collect();
    let answers = match one_version(gateway, targets).await {
        Ok(answers) => answers,
        Err(refused) => return refused,
    };
    let parts: Vec<Value> = answers
        .into_iter()
        .filter_map(|(_, answer)| answer.ok().map(|(_, body)| body))
        .collect();
    axum::Json(merge_overviews(parts)).into_response()
}

/// One overview of many processes' (see [`overview`]).
pub(crate) fn merge_overviews(mut parts: Vec<Value>) -> Value {
    if parts.is_empty() {
        return Value::Null;
    }
    let rest = parts.split_off(1);
    let mut merged = parts.remove(0);
    let add = |into: &mut Value, from: &Value| {
        if let (Some(a), Some(b)) = (into.as_u64(), from.as_u64()) {
            *into = json!(a + b);
        } else if let (Some(a), Some(b)) = (into.as_f64(), from.as_f64()) {
            *into = json!(a + b);
        }
    };
    // Entries of a list matched by a field (a source, a purpose), added field by field.
    let by_name = |into: &mut Value, from: &Value, name: &str, fields: &[&str]| {
        for entry in from.as_array().into_iter().flatten() {
            let list = into.as_array_mut();
            let Some(list) = list else { return };
            match list.iter_mut().find(|e| e[name] == entry[name]) {
                Some(found) => {
                    for field in fields {
                        let (mut sum, other) = (found[*field].take(), &entry[*field]);
                        if sum.is_null() {
                            sum = other.clone();
                        } else {
                            add(&mut sum, other);
                        }
                        found[*field] = sum;
                    }
                }
                None => list.push(entry.clone()),
            }
        }
    };
    let extremes = standing_server::watch::EXTREMES;
    for part in &rest {
        for field in ["subjects", "events"] {
            add(&mut merged[field], &part[field]);
        }
        if let (Some(counts), Some(more)) = (
            merged["histogram"]["counts"].as_array_mut(),
            part["histogram"]["counts"].as_array(),
        ) {
            for (count, more) in counts.iter_mut().zip(more) {
                add(count, more);
            }
        }
        for (list, field) in [("grades", "count"), ("lists", "members")] {
            if let (Some(mine), Some(theirs)) = (merged[list].as_array_mut(), part[list].as_array())
            {
                for (entry, other) in mine.iter_mut().zip(theirs) {
                    add(&mut entry[field], &other[field]);
                }
            }
        }
        if merged["network"].is_object() {
            add(
                &mut merged["network"]["relations"],
                &part["network"]["relations"],
            );
        }
        by_name(
            &mut merged["sources"],
            &part["sources"],
            "source",
            &["events", "per_second"],
        );
        by_name(
            &mut merged["decisions"],
            &part["decisions"],
            "purpose",
            &["allow", "deny"],
        );
        for side in ["lowest", "highest"] {
            let more = part[side].as_array().cloned().unwrap_or_default();
            if let Some(list) = merged[side].as_array_mut() {
                list.extend(more);
            }
        }
        let slower = part["looked_in_ms"]
            .as_u64()
            .max(merged["looked_in_ms"].as_u64());
        merged["looked_in_ms"] = json!(slower);
    }
    for (side, lowest) in [("lowest", true), ("highest", false)] {
        if let Some(list) = merged[side].as_array_mut() {
            list.sort_by(|a, b| {
                let (x, y) = (
                    a["score"].as_f64().unwrap_or(0.0),
                    b["score"].as_f64().unwrap_or(0.0),
                );
                let order = if lowest {
                    x.total_cmp(&y)
                } else {
                    y.total_cmp(&x)
                };
                order.then_with(|| a["subject"].as_str().cmp(&b["subject"].as_str()))
            });
            list.truncate(extremes);
        }
    }
    merged
}

/// A request about a stored item (a decision, a dispute, a logged event) that one process holds: asked here
/// first, then on the others until one knows it.
async fn find(gateway: &Gateway, request: Request) -> Response {
    let (parts, bytes) = match read_body(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let here = gateway.local(with_body(&parts, bytes.clone())).await;
    if here.status() != StatusCode::NOT_FOUND {
        return here;
    }
    let mut down = None;
    for process in (0..gateway.peers.len()).filter(|&p| p != gateway.me()) {
        match gateway
            .peers
            .send(process, with_body(&parts, bytes.clone()))
            .await
        {
            Ok(answer) if answer.status() != StatusCode::NOT_FOUND => return answer,
            Ok(_) => {}
            Err(unavailable) => down = Some(unavailable),
        }
    }
    // Unknown everywhere that answered: if a process did not, it may hold it.
    match down {
        Some(unavailable) => unavailable.into_response(),
        None => here,
    }
}
