//! Debug routes for tests, answered to loopback clients only: what the server observed per
//! session, the start/offer requests it received, and a blackout on demand.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::errors::{error, session_not_found};
use super::App;
use crate::peer::PeerCmd;

/// The longest blackout the debug route starts.
const MAX_BLACKOUT: Duration = Duration::from_secs(600);

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

#[derive(serde::Deserialize)]
pub struct BlackoutQuery {
    ms: Option<String>,
}

/// `POST /debug/sessions/{id}/blackout?ms=N`: cuts the media path of the session's newest live
/// peer now, for N milliseconds. Answers the blackout's record.
pub async fn blackout(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<BlackoutQuery>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let length =
        q.ms.as_deref()
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis)
            .filter(|d| !d.is_zero() && *d <= MAX_BLACKOUT);
    let Some(length) = length else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "query parameter `ms` must be a whole number of milliseconds from 1 to 600000",
        );
    };
    let target = {
        let mut reg = app.registry();
        let Some(s) = reg.live(&id) else {
            return session_not_found(&id);
        };
        s.latest_live_peer()
            .map(|p| (p.pc_id.clone(), p.tx.clone()))
    };
    let no_peer = || {
        error(
            StatusCode::CONFLICT,
            "NO_LIVE_PEER",
            "the session has no live peer connection",
        )
    };
    let Some((pc_id, tx)) = target else {
        return no_peer();
    };
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx.send(PeerCmd::Blackout(length, reply_tx)).is_err() {
        return no_peer();
    }
    match reply_rx.await {
        Ok(record) => {
            let mut out = serde_json::to_value(record).unwrap_or(Value::Null);
            out["pcId"] = json!(pc_id);
            Json(out).into_response()
        }
        Err(_) => no_peer(),
    }
}

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    t: Option<String>,
}

/// `GET /daily/{room}?t={token}`: a stand-in for the Daily room a start with `createDailyRoom` or
/// `transport: "daily"` was given (the room id is the session id). Loopback clients only, like
/// the debug routes. The token must be the room's; it is checked, never echoed nor logged.
pub async fn daily_room(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(room): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let mut reg = app.registry();
    let Some(daily) = reg.live(&room).and_then(|s| s.daily.as_mut()) else {
        return error(
            StatusCode::NOT_FOUND,
            "ROOM_NOT_FOUND",
            "no such Daily room (unknown, expired or ended session)",
        );
    };
    if q.t.as_deref() != Some(daily.token.as_str()) {
        return error(
            StatusCode::FORBIDDEN,
            "INVALID_TOKEN",
            "the room's token is missing or wrong (?t=)",
        );
    }
    daily.page_loads += 1;
    // The room id is a session id (hex digits, dashes, `call_`), safe in markup as it is.
    let page = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Daily room {room}</title>\
         <p>Daily room stand-in: {room}</p></html>\n"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}
