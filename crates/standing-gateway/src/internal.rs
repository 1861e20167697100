//! What only the cluster's processes may ask each other (with the cluster's secret): who a
//! process is and which model it serves, and the keys it holds.

use crate::Gateway;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use standing_server::ApiError;

/// The instant of a clock move's body, `{"at": seconds}`.
async fn read_instant(request: Request) -> Option<standing_core::Timestamp> {
    let body = axum::body::to_bytes(request.into_body(), 4096).await.ok()?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some(standing_core::Timestamp(value["at"].as_i64()?))
}

pub(crate) async fn answer(gateway: &std::sync::Arc<Gateway>, request: Request) -> Response {
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
        (&Method::POST, "/cluster/v1/clock") => {
            let Some(at) = read_instant(request).await else {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_clock",
                    "a clock move names the instant as {\"at\": seconds}",
                )
                .into_response();
            };
            match crate::clock::move_here(gateway, at).await {
                Ok(()) => axum::Json(json!({ "clock": at.to_string() })).into_response(),
                Err(error) => error.into_response(),
            }
        }
        (&Method::POST, "/cluster/v1/network") => match crate::clock::solve_here(gateway).await {
            Ok(solved) => axum::Json(solved).into_response(),
            Err(error) => error.into_response(),
        },
        (&Method::POST, "/cluster/v1/models/prepare" | "/cluster/v1/models/commit")
        | (&Method::POST, "/cluster/v1/models/abort") => {
            let path = request.uri().path().to_owned();
            let body = axum::body::to_bytes(request.into_body(), 4096)
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .unwrap_or_default();
            let version = body["version"].as_str().unwrap_or("").to_owned();
            let key = body["key"].as_str().unwrap_or("").to_owned();
            let done = match path.as_str() {
                "/cluster/v1/models/prepare" => crate::models::prepare(gateway, &version)
                    .await
                    .map(|()| json!({"prepared": version})),
                "/cluster/v1/models/commit" => crate::models::commit(gateway, &version, &key).await,
                _ => {
                    crate::models::drop_prepared(gateway);
                    Ok(json!({"dropped": true}))
                }
            };
            match done {
                Ok(answer) => axum::Json(answer).into_response(),
                Err(error) => error.into_response(),
            }
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
