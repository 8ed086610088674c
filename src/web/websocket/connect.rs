//! `connectWebSocket()` and `startAndConnect({ transport: "websocket" })`: read and check every
//! option first (nothing is sent when one is wrong, or when the browser lacks what this
//! transport needs), build the call, open its socket once its URL is known, and resolve once
//! the machine says the call is up.

use super::audio;
use super::socket::Audio;
use super::{open, Socket};
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::{Input, Machine, Setup};
use crate::options::{StartRequest, Transport};
use crate::web::call::Call;
use crate::web::carrier::Carrier;
use crate::web::connect::Connecting;
use crate::web::connection::Connection;
use crate::web::error::require_globals;
use crate::web::json::{get, options_to_json};
use crate::web::media::{attach, media_stream, MediaChoice};
use crate::web::session::{Session, SessionData};
use crate::web::start::{check_signal, read_signal, start};
use crate::web::wait::spawn;
use crate::web::wait::{abort_controller, now_ms};
use crate::websocket::{socket_url, SocketOptions};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal};

/// What the browser must have for this transport.
const NEEDS: [&str; 3] = ["WebSocket", "AudioContext", "AudioWorkletNode"];

/// Connects to a bot over Pipecat's WebSocket transport, for a `Session` started with
/// `transport: "websocket"` or a bare `wsUrl` (and `token`).
#[wasm_bindgen(js_name = connectWebSocket, unchecked_return_type = "Promise<Connection>")]
pub fn connect_web_socket_js(
    #[wasm_bindgen(unchecked_param_type = "ConnectWebSocketOptions")] options: JsValue,
) -> js_sys::Promise {
    crate::web::export_promise(connect_web_socket(options))
}

/// Everything a WebSocket connect reads from its options, checked.
struct Plan {
    options: SocketOptions,
    audio: MediaChoice,
    signal: Option<AbortSignal>,
}

impl Plan {
    fn read(options: &JsValue, json: &crate::json::Value) -> Result<Plan, Error> {
        let plan = Plan {
            options: SocketOptions::from_options(json)?,
            audio: MediaChoice::read(options, "audio", true)?.cancel_all_echo(),
            signal: read_signal(options)?,
        };
        let video = get(options, "video")?;
        if !(video.is_undefined() || video.is_null() || video == JsValue::FALSE) {
            return Err(Error::invalid(
                "`video`: the WebSocket transport carries audio only",
            ));
        }
        require_globals(&NEEDS, "WebSocket")?;
        Ok(plan)
    }

    /// The call: its machine in socket mode, the audio context and worklet, the media; the
    /// socket opens once its URL is known (`open`).
    fn begin(self, starting: bool, closer: AbortController, t0: f64) -> Result<Rc<Call>, Error> {
        let o = &self.options;
        let streams = [media_stream()?, media_stream()?];
        let machine = Machine::new(Setup {
            now_ms: t0,
            timeout_ms: o.timeout_ms,
            starting,
            wait_for_bot_ready: o.wait_for_bot_ready,
            socket: true,
            tracks: [self.audio.is_on(), false],
            request_data: None,
            seed: (js_sys::Math::random() * 9.0e15) as u64,
            reconnect: crate::recovery::Config::new(0, 1.0, 0),
            ice_limit_ms: None,
        });
        let socket = Socket::new(Audio::new()?);
        let call = Call::new(
            machine,
            Carrier::WebSocket(socket),
            super::run,
            streams,
            closer,
            t0,
        );
        call.listen_signal(self.signal.as_ref());
        audio::start(&call, o.worklet_url.clone());
        attach(&call, self.audio, MediaChoice::Off);
        Ok(call)
    }
}

/// `connectWebSocket()` (what the export's promise resolves to).
pub async fn connect_web_socket(options: JsValue) -> Result<Connection, JsValue> {
    connect(options, false, None).await
}

/// `startAndConnect({ transport: "websocket" })`: the start request leaves once the call is
/// built, so the audio context, worklet and microphone are prepared while it is in flight; the
/// socket opens on its answer.
/// `fallback`: the `fallback` event's argument when `transport: "auto"` chose this transport.
pub fn start_and_connect(options: JsValue, fallback: Option<JsValue>) -> Connecting {
    Box::pin(connect(options, true, fallback))
}

/// Both entry points: every option is checked, and the browser too, before anything is sent.
async fn connect(
    options: JsValue,
    starting: bool,
    fallback: Option<JsValue>,
) -> Result<Connection, JsValue> {
    let call = prepare(options, starting, fallback)?;
    Connection::complete(call).await
}

/// The call built and, for `connectWebSocket`, its socket opened; for `startAndConnect`, the
/// start request sent (its answer opens the socket). Nothing here waits.
fn prepare(options: JsValue, starting: bool, fallback: Option<JsValue>) -> Result<Rc<Call>, Error> {
    let t0 = now_ms();
    let json = options_to_json(&options)?;
    let plan = Plan::read(&options, &json)?;
    let mut session_js = JsValue::UNDEFINED;
    let target = if starting {
        Err(StartRequest::from_options(
            &json,
            Some(Transport::Websocket),
        )?)
    } else {
        session_js = get(&options, "session")?;
        Ok(given_target(&plan.options, &session_js)?)
    };
    check_signal(
        &plan.signal,
        if starting { Phase::Start } else { Phase::Media },
    )?;
    let closer = abort_controller()?;
    let signal = closer.signal();
    let call = plan.begin(starting, closer, t0)?;
    if let Some(fallback) = fallback {
        // Before the connect resolves: kept for the page's first `fallback` handler.
        call.page.events.emit("fallback", &fallback);
    }
    match target {
        Ok((url, session_id)) => {
            *call.page.session.borrow_mut() = (session_js, session_id);
            open(&call, &url);
        }
        // The call's budget and its end cut the start short (`closer`); weakly held meanwhile,
        // as in `Call::feed`.
        Err(request) => {
            let weak = Rc::downgrade(&call);
            spawn(async move {
                let result = started(&request, signal).await;
                let Some(call) = weak.upgrade() else { return };
                match result {
                    Ok((url, session)) => {
                        call.mark("sessionStarted");
                        *call.page.session.borrow_mut() = session;
                        call.input(Input::Started);
                        open(&call, &url);
                    }
                    Err(e) => call.input(Input::Failure(e)),
                }
            });
        }
    }
    Ok(call)
}

/// The socket URL and session id a `connectWebSocket` was given: a session's, or a bare `wsUrl`.
fn given_target(
    o: &SocketOptions,
    session_js: &JsValue,
) -> Result<(String, Option<String>), Error> {
    if session_js.is_undefined() || session_js.is_null() {
        let Some(ws_url) = o.ws_url.as_deref() else {
            return Err(Error::invalid(
                "pass a `session` started with transport \"websocket\", or a `wsUrl`",
            ));
        };
        return Ok((socket_url(ws_url, o.token.as_deref())?, None));
    }
    let data = Session::resolve(session_js)?;
    let token = o.token.as_deref().or(data.answer.token.as_deref());
    let url = session_url(&data, token).map_err(|e| Error::invalid(e.message))?;
    Ok((url, Some(data.answer.session_id.clone())))
}

/// The start request of `startAndConnect`; the socket URL, and the `Session` and its id.
async fn started(
    request: &StartRequest,
    signal: AbortSignal,
) -> Result<(String, (JsValue, Option<String>)), Error> {
    let deadline = crate::web::deadline::Deadline::within(signal);
    let data = start(request, &deadline).await?;
    let url = session_url(&data, data.answer.token.as_deref())?;
    let id = data.answer.session_id.clone();
    Ok((url, (JsValue::from(Session::new(data)), Some(id))))
}

/// The socket URL of a session started for this transport (`bad_response` if it has none).
fn session_url(data: &SessionData, token: Option<&str>) -> Result<String, Error> {
    let Some(ws_url) = data.answer.ws_url.as_deref() else {
        return Err(Error::new(
            ErrorCode::BadResponse,
            "the session has no `wsUrl`: start it with transport \"websocket\"",
        )
        .with_phase(Phase::Start));
    };
    socket_url(ws_url, token).map_err(|e| e.with_phase(Phase::Start))
}
