//! What each process does once a second beside requests: takes in the keys every other process
//! holds (so a key created or revoked on one is valid, or refused, on all within about a second),
//! and says which peers it cannot reach, or whose model differs from its own, when that changes.

use crate::peer::Peers;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use standing_accountability::keys::{Key, KeyStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a peer last looked from here.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Unknown,
    Answers,
    Down(String),
    OtherModel(String),
}

/// Runs until the process ends: every second, every peer.
pub(crate) async fn run(gateway: Arc<crate::Gateway>, data: PathBuf, model: (String, String)) {
    let peers = Arc::clone(&gateway.peers);
    let mut seen = vec![Seen::Unknown; peers.len()];
    let mut all_told = false;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        for process in (0..peers.len()).filter(|&p| p != peers.me()) {
            let now = look(&peers, process, &data, &model).await;
            if now != seen[process] {
                let (me, them) = (peers.name(peers.me()), peers.name(process));
                match &now {
                    Seen::Down(reason) => eprintln!("{me}: cannot reach {them}: {reason}"),
                    Seen::OtherModel(theirs) => eprintln!(
                        "{me}: {them} serves model {theirs}, this process {} {}: every process \
                         must serve the same model",
                        model.0, model.1
                    ),
                    Seen::Answers if seen[process] != Seen::Unknown => {
                        eprintln!("{me}: {them} answers")
                    }
                    Seen::Answers | Seen::Unknown => {}
                }
                seen[process] = now;
                all_told = false;
            }
        }
        let everyone = (0..peers.len())
            .filter(|&p| p != peers.me())
            .all(|p| seen[p] == Seen::Answers);
        if everyone && !all_told {
            eprintln!(
                "{}: all {} processes of the cluster answer",
                peers.name(peers.me()),
                peers.len()
            );
            all_told = true;
            // Every process answers again (or for the first time): the leader moves every
            // clock and solves the network, so a process that was away has its contacts'
            // scores at once.
            if peers.me() == crate::clock::LEADER {
                let gateway = Arc::clone(&gateway);
                tokio::spawn(async move {
                    let at = (gateway.state.house.now)();
                    if let Err(refused) = crate::clock::move_all(&gateway, at, false).await {
                        crate::clock::report(&gateway, refused).await;
                    }
                });
            }
        }
    }
}

async fn look(
    peers: &Peers,
    process: usize,
    data: &std::path::Path,
    model: &(String, String),
) -> Seen {
    let get = |path: &str| {
        Request::get(path)
            .body(Body::empty())
            .expect("a request to a fixed path")
    };
    let hello = match peers.call(process, get("/cluster/v1/hello")).await {
        Ok((StatusCode::OK, body)) => serde_json::from_slice::<Value>(&body).unwrap_or_default(),
        Ok((status, _)) => return Seen::Down(format!("it answered {status}")),
        Err(unavailable) => return Seen::Down(unavailable.reason),
    };
    let theirs = (
        hello["model"]["name"].as_str().unwrap_or("").to_owned(),
        hello["model"]["version"].as_str().unwrap_or("").to_owned(),
    );
    if theirs != *model {
        return Seen::OtherModel(format!("{} {}", theirs.0, theirs.1));
    }
    if let Ok((StatusCode::OK, body)) = peers.call(process, get("/cluster/v1/keys")).await
        && let Ok(keys) = serde_json::from_slice::<Vec<Key>>(&body)
    {
        let data = data.to_owned();
        let merged = tokio::task::spawn_blocking(move || {
            KeyStore::open(&data).and_then(|mut store| store.merge(&keys))
        })
        .await;
        if let Ok(Err(error)) = merged {
            tracing::error!(code = "keys", %error, "keys from another process not taken in");
        }
    }
    Seen::Answers
}
