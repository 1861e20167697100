//! Calls to the other processes: one pool of kept-alive HTTP/1.1 connections, every call bounded
//! by the cluster's timeout, and a process that does not answer named in a 503.

use crate::config::Cluster;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use standing_server::ApiError;
use std::time::Duration;

/// The header a process puts on a request it forwards: the receiver answers it itself.
pub const FORWARDED: &str = "x-standing-forwarded";
/// The header carrying the cluster's secret on calls only processes may make.
pub const SECRET: &str = "x-standing-cluster";

/// The other processes, as one process calls them.
#[derive(Debug)]
pub struct Peers {
    client: Client<HttpConnector, Body>,
    /// `http://host:port` of every process.
    bases: Vec<String>,
    names: Vec<String>,
    me: usize,
    timeout: Duration,
    work_timeout: Duration,
    secret: HeaderValue,
}

/// A process that did not answer in time, or could not be reached.
#[derive(Clone, Debug)]
pub struct Unavailable {
    pub process: usize,
    pub name: String,
    pub reason: String,
}

impl Unavailable {
    /// The answer to a request it left unanswered: 503, naming it.
    pub fn error(&self) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "process_unavailable",
            format!(
                "{} did not answer ({}): what it holds is unavailable until it is back; the \
                 other processes keep answering",
                self.name, self.reason
            ),
        )
    }
}

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        self.error().into_response()
    }
}

impl Peers {
    pub fn new(cluster: &Cluster, me: usize) -> Peers {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(cluster.timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Peers {
            client,
            bases: cluster
                .processes
                .iter()
                .map(|p| format!("http://{}", p.http))
                .collect(),
            names: (0..cluster.len()).map(|i| cluster.name(i)).collect(),
            me,
            timeout: cluster.timeout,
            work_timeout: cluster.work_timeout,
            secret: HeaderValue::from_str(&cluster.secret)
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        }
    }

    pub fn len(&self) -> usize {
        self.bases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    pub fn me(&self) -> usize {
        self.me
    }

    pub fn name(&self, process: usize) -> &str {
        &self.names[process]
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The bound on another process's clock move or part of the solve.
    pub fn work_timeout(&self) -> Duration {
        self.work_timeout
    }

    /// Whether `value` is the cluster's secret.
    pub fn trusts(&self, value: Option<&HeaderValue>) -> bool {
        value.is_some_and(|value| {
            let (a, b) = (value.as_bytes(), self.secret.as_bytes());
            // Compared in full whatever differs first.
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
        })
    }

    /// Sends `request` (its path and query kept, its host set) to `process`, marked as
    /// forwarded, and returns the answer once its head is in; the body streams after.
    pub async fn send(
        &self,
        process: usize,
        request: Request<Body>,
    ) -> Result<Response, Unavailable> {
        self.send_within(process, request, self.timeout).await
    }

    /// [`Peers::send`] with its own bound, for work that takes long (a clock move, a solve).
    pub async fn send_within(
        &self,
        process: usize,
        mut request: Request<Body>,
        within: Duration,
    ) -> Result<Response, Unavailable> {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri: Uri = format!("{}{path}", self.bases[process])
            .parse()
            .map_err(|error| self.unavailable(process, format!("bad address: {error}")))?;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.remove(axum::http::header::HOST);
        headers.insert(FORWARDED, HeaderValue::from(self.me));
        headers.insert(SECRET, self.secret.clone());
        match tokio::time::timeout(within, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response.map(Body::new)),
            Ok(Err(error)) => Err(self.unavailable(process, connection_error(&error))),
            Err(_) => Err(self.unavailable(
                process,
                format!("no answer within {} ms", within.as_millis()),
            )),
        }
    }

    /// [`Peers::send`], then the whole body, read within the timeout too.
    pub async fn call(
        &self,
        process: usize,
        request: Request<Body>,
    ) -> Result<(StatusCode, axum::body::Bytes), Unavailable> {
        self.call_within(process, request, self.timeout).await
    }

    /// [`Peers::call`] with its own bound for the answer's head.
    pub async fn call_within(
        &self,
        process: usize,
        request: Request<Body>,
        within: Duration,
    ) -> Result<(StatusCode, axum::body::Bytes), Unavailable> {
        let response = self.send_within(process, request, within).await?;
        let status = response.status();
        let body = tokio::time::timeout(
            self.timeout,
            axum::body::to_bytes(response.into_body(), usize::MAX),
        )
        .await
        .map_err(|_| self.unavailable(process, "the answer stopped coming".into()))?
        .map_err(|error| self.unavailable(process, format!("the answer broke off: {error}")))?;
        Ok((status, body))
    }

    fn unavailable(&self, process: usize, reason: String) -> Unavailable {
        Unavailable {
            process,
            name: self.names[process].clone(),
            reason,
        }
    }
}

/// What went wrong with a connection, in a few words: the innermost cause.
fn connection_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
