//! What only the cluster's processes may ask each other (with the cluster's secret): who a
//! process is and which model it serves, and the keys it holds.

use crate::Gateway;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use standing_server::ApiError;

pub(crate) async fn answer(gateway: &Gateway, request: Request) -> Response {
    if !gateway
        .peers
        .trusts(request.headers().get(crate::peer::SECRET))
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cluster_only",
            "only the cluster's processes may ask this (with the cluster's secret)",
        )
        .into_response();
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/cluster/v1/hello") => {
            let node = gateway.state.house.read_node();
            axum::Json(json!({
                "process": gateway.me(),
                "processes": gateway.peers.len(),
                "model": {"name": node.model().name, "version": node.model().version},
            }))
            .into_response()
        }
        (&Method::GET, "/cluster/v1/keys") => {
            let keys: Vec<standing_accountability::keys::Key> = gateway
                .state
                .house
                .keys
                .list()
                .into_iter()
                .map(|(key, _)| (*key).clone())
                .collect();
            axum::Json(keys).into_response()
        }
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "no such cluster endpoint",
        )
        .into_response(),
    }
}
