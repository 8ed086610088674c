//! Start routes: Pipecat Cloud, Butter and the Pipecat runner each create a session: for the
//! WebRTC transport (an offer follows), a stand-in Daily room, or a WebSocket (`wsUrl`, `token`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::errors::{capacity, error, fault_response, hang};
use super::incoming::{take, Incoming};
use super::App;
use crate::fault;
use crate::sessions::{token, uuid, DailyRoom, WsState};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    Cloud,
    Butter,
    Runner,
}

pub async fn cloud(
    State(app): State<Arc<App>>,
    Path(agent): Path<String>,
    req: Request,
) -> Response {
    start(app, Platform::Cloud, agent, req).await
}

pub async fn butter(
    State(app): State<Arc<App>>,
    Path(agent): Path<String>,
    req: Request,
) -> Response {
    start(app, Platform::Butter, agent, req).await
}

pub async fn runner(State(app): State<Arc<App>>, req: Request) -> Response {
    start(app, Platform::Runner, "runner".into(), req).await
}

async fn start(app: Arc<App>, platform: Platform, agent: String, req: Request) -> Response {
    let inc = take(&app, req).await;
    match start_inner(&app, platform, &agent, &inc).await {
        Ok(r) | Err(r) => r,
    }
}

async fn start_inner(
    app: &App,
    platform: Platform,
    agent: &str,
    inc: &Incoming,
) -> Result<Response, Response> {
    inc.body()?;
    if platform == Platform::Cloud {
        inc.check_key(app)?;
    }
    if platform == Platform::Butter && !agent.starts_with("agent_") {
        return Err(error(
            StatusCode::NOT_FOUND,
            "AGENT_NOT_FOUND",
            format!("unknown agent `{agent}` (Butter agent ids start with agent_)"),
        ));
    }
    let (spec, faults) = inc.faults(fault::from_agent_name(agent).unwrap_or(""))?;
    if let Some(d) = faults.delay_start {
        tokio::time::sleep(d).await;
    }
    if faults.start_hang {
        return Err(hang().await);
    }
    if let Some(f) = faults.start_status {
        return Err(fault_response(f, "start", inc.authorization()));
    }
    if faults.start_nonjson {
        return Err((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response());
    }
    if faults.start_nosession {
        return Err(Json(json!({"status": "ok"})).into_response());
    }

    let body = inc.json()?;
    let Some(body) = body.as_object() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "request body must be a JSON object",
        ));
    };
    let transport = body.get("transport").and_then(Value::as_str);
    let create_daily_room = body.get("createDailyRoom").and_then(Value::as_bool);
    let websocket = transport == Some("websocket");
    match transport {
        Some("webrtc" | "daily" | "websocket") | None => {}
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED_TRANSPORT",
                format!("unknown transport `{other}`"),
            ))
        }
    }
    if websocket && create_daily_room == Some(true) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_TRANSPORT",
            "a Daily room (createDailyRoom) cannot be used with transport `websocket`",
        ));
    }
    let wants_room = create_daily_room == Some(true) || transport == Some("daily");

    let id = match platform {
        Platform::Butter => format!("call_{}", uuid().replace('-', "")),
        _ => uuid(),
    };
    let daily = wants_room.then(|| DailyRoom {
        // On the agent's own (loopback) address, never on a host taken from the request.
        url: format!("{}/daily/{id}", app.base_url),
        token: token(),
        create_daily_room,
        transport: transport.map(String::from),
        page_loads: 0,
    });
    let mut out = json!({"sessionId": id});
    if let Some(d) = &daily {
        out["dailyRoom"] = json!(d.url);
        out["dailyToken"] = json!(d.token);
    }
    // The runner's answer for its WebSocket transport: the socket URL (on the agent's own
    // loopback address, as the room URL) and a one-use token, valid five minutes.
    let ws = websocket.then(|| {
        let url = app.base_url.replacen("http://", "ws://", 1);
        (format!("{url}/ws-client"), token())
    });
    if let Some((url, token)) = &ws {
        out["wsUrl"] = json!(url);
        out["token"] = json!(token);
    }
    {
        let mut reg = app.registry();
        if reg.create(id.clone(), agent, &spec).is_none() {
            return Err(capacity());
        }
        if let Some(s) = reg.live(&id) {
            s.daily = daily;
            s.websocket = ws.map(|(_, token)| WsState::new(token, Instant::now()));
        }
    }
    if websocket {
        // No ICE on this transport.
        return Ok(Json(out).into_response());
    }
    if !app.cfg.ice_servers.is_empty() {
        out["iceConfig"] = json!({"iceServers": [{"urls": app.cfg.ice_servers}]});
    }
    if faults.start_ice_servers {
        out["iceConfig"] = json!({"iceServers": [{"urls": ["stun:127.0.0.1:3478"]}]});
    }
    Ok(Json(out).into_response())
}
