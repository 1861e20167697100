//! Clock moves across the cluster, and the social network solved across it.
//!
//! Process 0 leads the clock: every `STANDING_CLOCK_SECS`, and when an operator asks
//! (`POST /v1/clock` at any process), it picks the instant, moves its own clock there, and has
//! every other process move to the same instant; the others never move on their own. Then,
//! when the model scores contacts, every process takes part in the distributed solve on timely
//! dataflow (`standing-cluster`, over the `timely` addresses of the cluster file):
//!
//! - each builds its part from its own engine: the rows of its own subjects (whole, since every
//!   relation reaches the owners of both ends) and a mirror of each contact another process
//!   owns. A process mirrors, and its peer sends, the contacts between them sorted by id, so
//!   the processes agree on the order without telling each other any numbering;
//! - the Jacobi sweeps run in lockstep until every residual of the whole network is within
//!   `(1 − α)·ε`;
//! - each pins its mirrors' final scores in its engine ([`standing_node::Node::pin_contacts`]),
//!   which brings its own subjects to the fixed point given them.
//!
//! A process whose relations are not those its peers hold for it (a relation event still on
//! its way to one of the two owners) makes the solve fail on the count of scores exchanged;
//! the next move solves again. Counts equal but ids different (a relation added and another
//! removed in the same instant) is not detected: the next move corrects it.

use crate::Gateway;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde_json::{Value, json};
use standing_cluster::{Layout, Part, Run};
use standing_core::Timestamp;
use standing_server::ApiError;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process that leads the clock.
pub(crate) const LEADER: usize = 0;

/// Moves every process's clock every `period`, as the leader.
pub(crate) async fn lead(gateway: Arc<Gateway>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.tick().await;
    loop {
        interval.tick().await;
        let at = (gateway.state.house.now)();
        if let Err(refused) = move_all(&gateway, at, false).await {
            report(&gateway, refused).await;
        }
    }
}

/// Says on standard error why a move the leader started did not finish.
pub(crate) async fn report(gateway: &Gateway, refused: Response) {
    let status = refused.status();
    let body = axum::body::to_bytes(refused.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    eprintln!(
        "{}: the clock move across the cluster did not finish ({status}): {message}",
        gateway.peers.name(gateway.me())
    );
}

/// Moves every process's clock to `at` — this one's first unless `moved_here` — then solves
/// the network across all of them when the model scores contacts. Moves never overlap.
pub(crate) async fn move_all(
    gateway: &Arc<Gateway>,
    at: Timestamp,
    moved_here: bool,
) -> Result<Value, Response> {
    let _one_at_a_time = gateway.moving.lock().await;
    let started = Instant::now();
    if !moved_here {
        move_here(gateway, at)
            .await
            .map_err(IntoResponse::into_response)?;
    }
    let body = json!({ "at": at.0 }).to_string();
    let others = (0..gateway.peers.len()).filter(|&p| p != gateway.me());
    let asked = join_all(others.map(|process| {
        let request = post("/cluster/v1/clock", body.clone());
        async move {
            gateway
                .peers
                .call_within(process, request, gateway.peers.work_timeout())
                .await
        }
    }))
    .await;
    for answer in asked {
        match answer {
            Ok((StatusCode::OK, _)) => {}
            Ok((status, body)) => return Err(relayed(status, body)),
            Err(unavailable) => return Err(unavailable.into_response()),
        }
    }
    let moved = started.elapsed();
    let network = if gateway.state.house.read_node().model().network.is_active() {
        Some(solve_all(gateway).await?)
    } else {
        None
    };
    Ok(json!({
        "clock": at.to_string(),
        "processes": gateway.peers.len(),
        "moved_ms": moved.as_millis() as u64,
        "network": network,
    }))
}

/// Moves this process's clock to `at`.
pub(crate) async fn move_here(gateway: &Gateway, at: Timestamp) -> Result<(), ApiError> {
    let state = Arc::clone(&gateway.state);
    tokio::task::spawn_blocking(move || standing_server::advance_clock_to(&state, at))
        .await
        .map_err(|error| failed(format!("the clock move here stopped: {error}")))
}

/// Every process solves its part at once (this one here); the answer of each.
pub(crate) async fn solve_all(gateway: &Arc<Gateway>) -> Result<Value, Response> {
    let others = (0..gateway.peers.len()).filter(|&p| p != gateway.me());
    let asked = join_all(others.map(|process| {
        let request = post("/cluster/v1/network", String::new());
        async move {
            gateway
                .peers
                .call_within(process, request, gateway.peers.work_timeout())
                .await
        }
    }));
    let (mine, theirs) = tokio::join!(solve_here(gateway), asked);
    let mine = mine.map_err(IntoResponse::into_response)?;
    let mut solved = vec![mine];
    for answer in theirs {
        match answer {
            Ok((StatusCode::OK, body)) => {
                solved.push(serde_json::from_slice(&body).unwrap_or(Value::Null))
            }
            Ok((status, body)) => return Err(relayed(status, body)),
            Err(unavailable) => return Err(unavailable.into_response()),
        }
    }
    solved.sort_by_key(|s| s["process"].as_u64());
    Ok(Value::Array(solved))
}

/// This process's part of the distributed solve, then its mirrors pinned.
pub(crate) async fn solve_here(gateway: &Arc<Gateway>) -> Result<Value, ApiError> {
    let worker = Arc::clone(gateway);
    tokio::task::spawn_blocking(move || solve_blocking(&worker))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{error}"),
            )
        })?
}

fn solve_blocking(gateway: &Gateway) -> Result<Value, ApiError> {
    let started = Instant::now();
    let (me, processes) = (gateway.me(), gateway.peers.len());
    let (part, mirrors, run) = {
        let node = gateway.state.house.read_node();
        let network = &node.model().network;
        let run = Run {
            alpha: network.alpha,
            threshold: (1.0 - network.alpha) * network.epsilon,
            max_sweeps: 100_000,
            timeout: gateway.peers.timeout(),
            progress: None,
        };
        let (part, mirrors) = assemble(node.engine(), me, processes)
            .map_err(|reason| failed(format!("{}: {reason}", gateway.peers.name(me))))?;
        (part, mirrors, run)
    };
    let built = started.elapsed();
    let layout = Layout::Processes {
        addresses: gateway.timely.clone(),
        process: me,
        workers: 1,
        timeout: gateway.peers.timeout(),
    };
    let rows = part.subjects().len();
    let solved = standing_cluster::solve_parts(&layout, vec![part], run).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "network_unsolved",
            format!(
                "{}: the network could not be solved across the cluster: {error}; scores keep \
                 their last solve until the next clock move",
                gateway.peers.name(me)
            ),
        )
    })?;
    let Some(solved) = solved.into_iter().next() else {
        return Err(failed("the solve returned no part".into()));
    };
    let pins: Vec<(u32, f64)> = mirrors
        .iter()
        .copied()
        .zip(solved.part.mirror_scores().iter().copied())
        .collect();
    let pinned = gateway.state.house.write_node().pin_contacts(&pins);
    Ok(json!({
        "process": me,
        "subjects": rows,
        "contacts_elsewhere": pinned,
        "sweeps": solved.sweeps,
        "max_residual": solved.max_residual,
        "built_ms": built.as_millis() as u64,
        "solved_ms": solved.elapsed.as_millis() as u64,
    }))
}

/// This process's part, and the engine index of each mirror in slot order.
fn assemble(
    engine: &standing_engine::Engine,
    me: usize,
    processes: usize,
) -> Result<(Part, Vec<u32>), String> {
    let Some(rows) = engine.network_rows() else {
        return Err("the engine serves no part of a network".into());
    };
    let owner = |index: u32| crate::owner_of(engine.subject_name(index), processes);
    const NONE: u32 = u32::MAX;
    let mut slot = vec![NONE; rows.graph.len() as usize];
    for (i, &s) in rows.own.iter().enumerate() {
        slot[s as usize] = i as u32;
    }
    // Mirrors: every contact owned elsewhere, by owner, then by id.
    let mut mirrors: Vec<(usize, &str, u32)> = Vec::new();
    for &s in &rows.own {
        for entry in rows.graph.entries_of(s) {
            let t = entry.target;
            if slot[t as usize] == NONE {
                slot[t as usize] = NONE - 1;
                mirrors.push((owner(t), engine.subject_name(t), t));
            }
        }
    }
    mirrors.sort_unstable();
    let own = rows.own.len();
    for (i, &(_, _, t)) in mirrors.iter().enumerate() {
        slot[t as usize] = (own + i) as u32;
    }
    let receive = (0..processes)
        .map(|q| {
            own + mirrors.partition_point(|m| m.0 < q)..own + mirrors.partition_point(|m| m.0 <= q)
        })
        .collect();
    // What each other process mirrors of ours: every own subject with a contact it owns, by id.
    let mut send: Vec<Vec<(&str, u32)>> = vec![Vec::new(); processes];
    let mut to = Vec::new();
    for (i, &s) in rows.own.iter().enumerate() {
        to.clear();
        to.extend(
            rows.graph
                .entries_of(s)
                .map(|e| e.target)
                .filter(|&t| slot[t as usize] as usize >= own)
                .map(|t| mirrors[slot[t as usize] as usize - own].0),
        );
        to.sort_unstable();
        to.dedup();
        for &q in &to {
            send[q].push((engine.subject_name(s), i as u32));
        }
    }
    let send = send
        .into_iter()
        .map(|mut list| {
            list.sort_unstable();
            list.into_iter().map(|(_, slot)| slot).collect()
        })
        .collect();
    let part_rows = rows.graph.relabelled(&rows.own, |t| slot[t as usize]);
    let behaviour: Vec<f64> = rows
        .own
        .iter()
        .map(|&s| engine.behaviour_of(s).unwrap_or_default())
        .collect();
    let served = engine.served_scores();
    let mut score: Vec<f64> = rows.own.iter().map(|&s| served[s as usize]).collect();
    score.extend(mirrors.iter().map(|&(_, _, t)| served[t as usize]));
    let mirrors = mirrors.into_iter().map(|(_, _, t)| t).collect();
    let part = Part::from_rows(me as u32, part_rows, behaviour, score, send, receive)?;
    Ok((part, mirrors))
}

fn post(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a request to a fixed path")
}

fn failed(message: String) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "clock_move_failed",
        message,
    )
}

/// Another process's refusal, passed on as it came.
pub(crate) fn relayed(status: StatusCode, body: axum::body::Bytes) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
