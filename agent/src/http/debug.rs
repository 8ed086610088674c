//! Debug routes for tests, answered to loopback clients only: what the server observed per
//! session, and the start/offer requests it received.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::errors::{error, session_not_found};
use super::App;

fn loopback_only(peer: SocketAddr) -> Result<(), Response> {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "debug routes answer loopback clients only",
        ))
    }
}

pub async fn session(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let mut reg = app.registry();
    reg.sweep(Instant::now());
    match reg.get(&id) {
        Some(s) => Json(s.debug()).into_response(),
        None => session_not_found(&id),
    }
}

#[derive(serde::Deserialize)]
pub struct TagQuery {
    tag: Option<String>,
}

pub async fn requests(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TagQuery>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let Some(tag) = q.tag else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "query parameter `tag` is required",
        );
    };
    Json(Value::Array(app.log().tagged(&tag))).into_response()
}
