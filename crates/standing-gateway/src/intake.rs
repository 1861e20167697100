//! A batch of events sent to any process: read here as the server reads it, split among the
//! owners of its records (a relation to the owners of both ends, a retraction to every process,
//! since the event it retracts may be a relation held by both ends' owners), sent to each at once as
//! NDJSON with the sender's key, and answered record by record in the batch's order once every
//! owner has answered — so every accepted record is durable on its owner when the answer
//! comes. Each owner admits, applies, syncs and audits its share as a single node does; a record
//! sent again is a duplicate there, so a batch retried after a failure applies nothing twice.

use crate::Gateway;
use crate::route::{Answer, ask_all, read_body, with_body};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use standing_accountability::intake::Slot;

/// What routing needs of a record: its subject, and a relation's other end.
#[derive(Deserialize)]
struct Routed<'a> {
    #[serde(borrow)]
    subject: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    fields: Option<Ends<'a>>,
}

#[derive(Deserialize)]
struct Ends<'a> {
    #[serde(borrow)]
    other: Option<std::borrow::Cow<'a, str>>,
}

/// Where a record goes.
enum Owners {
    /// Its subject's owner and, for a relation, its other end's.
    Ends(usize, Option<usize>),
    /// A retraction: every process, its subject's owner first. The event it retracts may be a
    /// relation, also held by the other end's owner, which only the event's body names.
    All(usize),
}

/// The processes a record goes to. A record that names no subject goes to this process, which
/// refuses it as one node does.
fn owners(gateway: &Gateway, record: &[u8]) -> Owners {
    let Ok(routed) = serde_json::from_slice::<Routed<'_>>(record) else {
        return Owners::Ends(gateway.me(), None);
    };
    let Some(subject) = routed.subject else {
        return Owners::Ends(gateway.me(), None);
    };
    let first = gateway.owner(&subject);
    if routed.event_type.as_deref() == Some("retraction") {
        return Owners::All(first);
    }
    let relation = matches!(
        routed.event_type.as_deref(),
        Some("relation.added" | "relation.removed")
    );
    let second = routed
        .fields
        .and_then(|fields| fields.other)
        .filter(|_| relation)
        .map(|other| gateway.owner(&other))
        .filter(|&owner| owner != first);
    Owners::Ends(first, second)
}

/// `POST /v1/events` on a cluster.
pub(crate) async fn split(gateway: &Gateway, request: Request) -> Response {
    let (parts, bytes) = match read_body(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let model = std::sync::Arc::clone(gateway.state.house.read_node().model());
    // A body that cannot be read is refused here, after the key check, as one node refuses it.
    let Ok(slots) = standing_server::read_records(&parts.headers, &bytes, &model) else {
        return gateway.local(with_body(&parts, bytes)).await;
    };
    // The records each process gets, by their index in the batch, and each record's subject's
    // owner.
    let processes = gateway.peers.len();
    let mut shares: Vec<Vec<usize>> = vec![Vec::new(); processes];
    let mut primary = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        let owners = match slot {
            Ok(record) => owners(gateway, record),
            Err(_) => Owners::Ends(gateway.me(), None),
        };
        match owners {
            Owners::Ends(first, second) => {
                primary.push(first);
                shares[first].push(index);
                if let Some(second) = second {
                    shares[second].push(index);
                }
            }
            Owners::All(first) => {
                primary.push(first);
                for share in &mut shares {
                    share.push(index);
                }
            }
        }
    }
    // All of it for one process: sent as it came.
    let busy: Vec<usize> = (0..shares.len())
        .filter(|&p| !shares[p].is_empty())
        .collect();
    if let [only] = busy[..]
        && slots.iter().all(Result::is_ok)
    {
        let request = with_body(&parts, bytes);
        return if only == gateway.me() {
            gateway.local(request).await
        } else {
            gateway.forward(only, request).await
        };
    }
    let targets = shares
        .iter()
        .enumerate()
        .filter(|(process, share)| !share.is_empty() || *process == gateway.me())
        .map(|(process, share)| {
            let mut body = Vec::new();
            for &index in share {
                match &slots[index] {
                    Ok(record) => body.extend_from_slice(record),
                    // Unreadable here (a CSV row): sent as a record that says why, refused there.
                    Err(_) => body.extend_from_slice(b"{}"),
                }
                body.push(b'\n');
            }
            let mut request = with_body(&parts, body);
            request.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            (process, request)
        })
        .collect();
    let answers = ask_all(gateway, targets).await;
    merge(gateway, &slots, &shares, &primary, answers)
}

/// How two owners' answers for one record combine: a refusal over a conflict over an
/// acceptance over a duplicate (a relation accepted on one end and sent before to the other was
/// accepted now).
fn rank(status: &str) -> u8 {
    match status {
        "rejected" => 3,
        "conflict" => 2,
        "accepted" => 1,
        _ => 0,
    }
}

fn merge(
    gateway: &Gateway,
    slots: &[Slot],
    shares: &[Vec<usize>],
    primary: &[usize],
    answers: Vec<(usize, Answer)>,
) -> Response {
    let mut results: Vec<Option<Value>> = vec![None; slots.len()];
    let mut down = Vec::new();
    for (process, answer) in answers {
        let share = &shares[process];
        match answer {
            Ok((status, body)) if status == StatusCode::OK => {
                for result in body["results"].as_array().into_iter().flatten() {
                    let Some(&index) = result["index"].as_u64().and_then(|i| share.get(i as usize))
                    else {
                        continue;
                    };
                    // A retraction is told by its subject's owner; another process that never
                    // held the event it retracts has nothing to say of it.
                    if process != primary[index] && result["code"] == "unknown_retraction_target" {
                        continue;
                    }
                    let mut result = result.clone();
                    result["index"] = json!(index);
                    let keep = match &results[index] {
                        None => true,
                        Some(kept) => {
                            rank(result["status"].as_str().unwrap_or(""))
                                > rank(kept["status"].as_str().unwrap_or(""))
                        }
                    };
                    if keep {
                        results[index] = Some(result);
                    }
                }
            }
            // A refusal of the request (its key, its form) is the same on every process.
            Ok((status, body)) if status.is_client_error() => {
                return (status, axum::Json(body)).into_response();
            }
            Ok((status, body)) => {
                down.push((process, format!("{status}: {}", body["error"]["message"])))
            }
            Err(unavailable) => down.push((process, unavailable.reason)),
        }
    }
    // A record is acknowledged only when every process it went to took it.
    for (process, _) in &down {
        for &index in &shares[*process] {
            results[index] = None;
        }
    }
    // A CSV row this process could not read was sent on as `{}`: its own reason is told.
    for (index, slot) in slots.iter().enumerate() {
        if let Err(error) = slot {
            results[index] = Some(json!({
                "index": index, "status": "rejected", "code": error.code(), "reason": error.to_string(),
            }));
        }
    }
    let count = |status: &str| {
        results
            .iter()
            .flatten()
            .filter(|r| r["status"] == status)
            .count()
    };
    let (accepted, duplicate) = (count("accepted"), count("duplicate"));
    let (conflict, rejected) = (count("conflict"), count("rejected"));
    if down.is_empty() {
        let results: Vec<Value> = results.into_iter().flatten().collect();
        return axum::Json(json!({
            "accepted": accepted,
            "duplicate": duplicate,
            "conflict": conflict,
            "rejected": rejected,
            "durable": true,
            "results": results,
        }))
        .into_response();
    }
    // Some owners did not answer: what the others accepted is durable and is told, record by
    // record; the rest is not acknowledged and may be sent again.
    let names: Vec<String> = down
        .iter()
        .map(|(process, reason)| format!("{} ({reason})", gateway.peers.name(*process)))
        .collect();
    let answered: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| {
            result.unwrap_or_else(|| json!({"index": index, "status": "unavailable"}))
        })
        .collect();
    let body = json!({
        "error": {
            "code": "process_unavailable",
            "message": format!(
                "{} did not answer: the records for its subjects were not acknowledged (status \
                 `unavailable`); the others were, and sending the batch again applies none twice",
                names.join(", ")
            ),
        },
        "accepted": accepted,
        "duplicate": duplicate,
        "conflict": conflict,
        "rejected": rejected,
        "results": answered,
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}
