//! Standing as one service over many processes. Each process of a cluster (`cluster.toml`)
//! owns the subjects a stable hash of their ids gives it, and keeps their log, snapshots,
//! engine, consent, disputes, reviews and audit records in its own data directory, as a single
//! node does. Any process answers any request: it serves what its own subjects need, forwards a
//! request about another process's subject to that process, splits a batch of events among the
//! owners of its records, and merges what a request about many subjects needs from many.
//!
//! The processes share one set of keys (each takes in the others' every second), and every
//! answer about a subject is given, and audited, by its owner.

mod clock;
pub mod config;
mod intake;
mod internal;
mod models;
pub mod owner;
pub mod peer;
mod route;
mod sync;

pub use config::{Cluster, ConfigError};
pub use owner::owner_of;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use peer::Peers;
use standing_node::Node;
use standing_server::{AppState, ServeConfig};
use std::sync::Arc;
use tower::ServiceExt as _;

/// One process of a cluster as its listener sees it.
#[derive(Debug)]
pub struct Gateway {
    pub peers: Arc<Peers>,
    /// The node's own server.
    pub state: Arc<AppState>,
    /// The node's own routes, as a single node serves them.
    local: Router,
    /// Every process's timely address, in process order.
    timely: Vec<String>,
    /// Held through a clock move across the cluster, and an activation.
    moving: tokio::sync::Mutex<()>,
    /// A model version prepared for activation, until it is committed or dropped.
    prepared: std::sync::Mutex<Option<models::Prepared>>,
}

impl Gateway {
    /// This process's index.
    pub fn me(&self) -> usize {
        self.peers.me()
    }

    /// The process owning `subject`.
    pub fn owner(&self, subject: &str) -> usize {
        owner_of(subject, self.peers.len())
    }

    /// Which subjects this process owns.
    pub(crate) fn owned(&self) -> standing_engine::Owned {
        let (me, processes) = (self.me(), self.peers.len());
        Arc::new(move |subject| owner_of(subject, processes) == me)
    }

    /// Answers `request` here.
    pub(crate) async fn local(&self, request: Request) -> Response {
        match self.local.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Has `process` answer `request`, or says it did not.
    pub(crate) async fn forward(&self, process: usize, request: Request) -> Response {
        match self.peers.send(process, request).await {
            Ok(response) => response,
            Err(unavailable) => unavailable.into_response(),
        }
    }

    /// Has the leader of the clock answer `request`, which it does once every process has
    /// done its part: work, bounded by the cluster's work timeout, not a lookup.
    pub(crate) async fn to_leader(&self, request: Request) -> Response {
        let within = self.peers.work_timeout();
        match self.peers.send_within(clock::LEADER, request, within).await {
            Ok(response) => response,
            Err(unavailable) => unavailable.into_response(),
        }
    }
}

/// Why a cluster's process did not start or end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{cluster}: there is no process {process}: it lists processes 0 to {last}")]
    NoSuchProcess {
        cluster: String,
        process: usize,
        last: usize,
    },
    #[error(transparent)]
    Node(#[from] standing_node::NodeError),
    #[error(transparent)]
    Serve(#[from] standing_server::ServeError),
}

/// Serves process `process` of `cluster` from its data directory on its HTTP address until
/// SIGINT or SIGTERM, as [`standing_server::serve`] does a single node, with `config`'s pace
/// (its address is the cluster file's).
pub fn serve(
    cluster: &Cluster,
    process: usize,
    config: &ServeConfig,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), GatewayError> {
    let Some(me) = cluster.processes.get(process) else {
        return Err(GatewayError::NoSuchProcess {
            cluster: cluster.path.display().to_string(),
            process,
            last: cluster.len() - 1,
        });
    };
    let (node, _) = Node::open(&me.data, (config.now)())?;
    serve_node(cluster, process, node, config, ready, |_| {})
}

/// [`serve`] for a node already open on the process's data directory; `started` is given the
/// process's front router (what its listener serves) on the server's runtime once it listens
/// (the demo sends its simulated traffic through it).
pub fn serve_node(
    cluster: &Cluster,
    process: usize,
    mut node: Node,
    config: &ServeConfig,
    ready: impl FnOnce(std::net::SocketAddr),
    started: impl FnOnce(Router),
) -> Result<(), GatewayError> {
    let processes = cluster.len();
    node.serve_part(Arc::new(move |subject| {
        owner_of(subject, processes) == process
    }));
    let data = cluster.processes[process].data.clone();
    let model = (node.model().name.clone(), node.model().version.clone());
    let peers = Arc::new(Peers::new(cluster, process));
    let timely = cluster.processes.iter().map(|p| p.timely.clone()).collect();
    // The leader moves every process's clock; no process moves its own.
    let period = config.clock_period.filter(|_| process == clock::LEADER);
    let config = ServeConfig {
        listen: cluster.processes[process].http.clone(),
        clock_period: None,
        ..config.clone()
    };
    standing_server::serve_routed(
        node,
        &config,
        ready,
        |_| {},
        move |state, local| {
            let gateway = Arc::new(Gateway {
                peers,
                state: Arc::clone(state),
                local,
                timely,
                moving: tokio::sync::Mutex::new(()),
                prepared: std::sync::Mutex::new(None),
            });
            tokio::spawn(sync::run(Arc::clone(&gateway), data, model));
            if let Some(period) = period {
                tokio::spawn(clock::lead(Arc::clone(&gateway), period));
            }
            let front = Router::new().fallback(route::dispatch).with_state(gateway);
            started(front.clone());
            front
        },
    )?;
    Ok(())
}
