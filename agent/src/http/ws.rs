//! `GET /ws-client?token=T` and `GET /ws-client/{token}`: the WebSocket of a session started with
//! `transport: "websocket"`, as the Pipecat development runner serves it. The token is checked
//! before the upgrade: a missing, unknown, expired or used one (or the `ws-refuse` fault) is
//! answered 403 and no socket is made, which a browser sees as close code 1006. A good token is
//! used up by the upgrade it opens. The token is never echoed, and logged only redacted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::errors::error;
use super::incoming::percent_decode;
use super::{is_loopback_origin, App};
use crate::bot::{Bot, BotOptions};
use crate::fault::Faults;
use crate::sessions::WsLink;
use crate::websocket::{self, WsDebug, WsOptions};

/// The largest message a client may send (a 20 ms frame of 48 kHz stereo is 3840 bytes).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

type Upgrade = Result<WebSocketUpgrade, WebSocketUpgradeRejection>;

pub async fn by_query(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let token = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.strip_prefix("token="))
            .next_back()
            .map(percent_decode)
    });
    connect(&app, token, &method, &uri, &headers, upgrade)
}

pub async fn by_path(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    connect(&app, Some(token), &method, &uri, &headers, upgrade)
}

fn forbidden(msg: &str) -> Response {
    error(StatusCode::FORBIDDEN, "INVALID_TOKEN", msg)
}

fn connect(
    app: &Arc<App>,
    token: Option<String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    upgrade: Upgrade,
) -> Response {
    app.log().record(method, uri, headers, None);
    // A page on another origin may not open the socket (browsers send Origin; others need not).
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !is_loopback_origin(origin.as_bytes()) {
            return error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "only loopback origins may open the socket",
            );
        }
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return forbidden("a token is required (?token= or /ws-client/{token})");
    };
    let now = Instant::now();
    let invalid = "invalid token (unknown, expired or already used)";
    if app.registry().ws_token_session(&token, now).is_none() {
        return forbidden(invalid);
    }
    // Not a WebSocket handshake: refused as axum refuses it, and the token stays unused.
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let Some((session_id, agent, spec)) = app.registry().take_ws_token(&token, now) else {
        return forbidden(invalid);
    };
    // The spec was checked when the session started.
    let faults = Faults::parse(&spec).unwrap_or_default();
    if faults.ws_refuse {
        return error(StatusCode::FORBIDDEN, "FAULT", "fault injected: ws-refuse");
    }

    let bot = Arc::new(Mutex::new(Bot::new(BotOptions::new(
        agent,
        session_id.clone(),
        &faults,
    ))));
    let debug = Arc::new(Mutex::new(WsDebug::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    app.registry().ws_attach(
        &session_id,
        WsLink {
            bot: bot.clone(),
            debug: debug.clone(),
            tx,
        },
    );
    let opts = WsOptions {
        faults,
        bot,
        debug,
        rx,
    };
    let weak = Arc::downgrade(app);
    let ended = session_id.clone();
    let on_exit = move || {
        if let Some(app) = weak.upgrade() {
            app.registry().ws_ended(&ended);
        }
    };
    let failed = Arc::downgrade(app);
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // The handshake answer went out but the connection could not be taken over.
        .on_failed_upgrade(move |_| {
            if let Some(app) = failed.upgrade() {
                app.registry().ws_ended(&session_id);
            }
        })
        .on_upgrade(move |socket| websocket::run(socket, opts, on_exit))
}
