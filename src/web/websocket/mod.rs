//! The WebSocket transport (Pipecat's WebSocket transport with protobuf frames, docs/protocol.md):
//! what a call carried by one `WebSocket` does that no other transport would — the socket and
//! its frames, and the audio graph (www/agent-rtc-audio.js: the worklet that captures the
//! microphone and plays the bot, and the nodes around it) that the call imports when it starts.
//!
//! | file | job |
//! |---|---|
//! | `socket.rs` | `Socket` and `Audio`: what a call holds of this transport, and what `Carrier` asks of it; the graph's bindings |
//! | `mod.rs` | the socket opened, its events and frames fed to the machine (audio frames to the graph, unread) |
//! | `audio.rs` | the audio file imported and its graph built, the bot's track into `remoteStream` |
//! | `connect.rs` | `connectWebSocket()` and `startAndConnect({ transport: "websocket" })` |
//!
//! The machine runs in its socket mode (`Setup::socket`): it never asks for anything only
//! WebRTC does, so this transport's `Transport` has nothing to carry out.

pub mod audio;
pub mod connect;
pub mod socket;

pub use socket::Socket;

use crate::error::{Error, ErrorCode, Phase};
use crate::frames::{self, Frame};
use crate::machine::{Input, Rtc};
use crate::rtvi::classify;
use crate::web::call::Call;
use crate::web::carrier::Carrier;
use crate::web::error::js_failure;
use crate::web::json::parse_message;
use crate::web::wait::now_ms;
use gloo_events::EventListener;
use js_sys::Uint8Array;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// What `call` holds of this transport; `None` for a call another transport carries.
pub fn socket(call: &Call) -> Option<&Socket> {
    match &call.held.carrier {
        Carrier::WebSocket(socket) => Some(socket),
        _ => None,
    }
}

/// The call's `Transport`: the machine asks nothing of this transport beyond `Carrier`.
pub fn run(_call: &Rc<Call>, _output: Rtc) {}

/// Opens the call's socket at `url` and feeds its events to the machine.
pub fn open(call: &Rc<Call>, url: &str) {
    let Some(held) = socket(call) else { return };
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        // The URL was checked (`websocket::socket_url`): only a browser's own refusal is left.
        Err(e) => {
            let error =
                js_failure(ErrorCode::Signalling, "WebSocket", &e).with_phase(Phase::Socket);
            return call.input(Input::Failure(error));
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(call);
    let on = |name: &'static str, f: fn(&Rc<Call>, &Socket, &web_sys::Event)| {
        let weak = weak.clone();
        EventListener::new(&ws, name, move |e| {
            if let Some(call) = weak.upgrade() {
                if let Some(socket) = socket(&call) {
                    f(&call, socket, e)
                }
            }
        })
    };
    let listeners = vec![
        on("open", |call, socket, _| {
            socket.opened.set(true);
            call.mark("socketOpen");
            call.input(Input::ChannelOpen { now_ms: now_ms() });
        }),
        on("message", |call, socket, e| {
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            received(call, socket, &e.data());
        }),
        on("close", |call, socket, e| {
            let (code, reason) = match e.dyn_ref::<CloseEvent>() {
                Some(e) => (e.code(), e.reason()),
                None => (1006, String::new()),
            };
            if socket.opened.get() {
                return call.input(Input::SocketClosed { code, reason });
            }
            // A refused upgrade (a bad token, an origin not allowed) and an unreachable server
            // look the same to a page: close code 1006 and nothing else.
            let mut error = Error::new(
                ErrorCode::Signalling,
                "the WebSocket could not open: refused by the server or unreachable",
            )
            .with_phase(Phase::Socket);
            error.retryable = true;
            error.details.close_code = Some(code);
            error.details.close_reason = (!reason.is_empty()).then_some(reason);
            call.input(Input::Failure(error));
        }),
    ];
    *held.listeners.borrow_mut() = listeners;
    held.audio.set_ws(&ws);
    *held.ws.borrow_mut() = Some(ws);
}

/// The bytes of a message from the server.
fn bytes_of(view: &Uint8Array) -> Vec<u8> {
    let len = view.length() as usize;
    let mut bytes = Vec::with_capacity(len);
    // SAFETY: `raw_copy_to_ptr` writes exactly `view.length()` bytes, which `bytes` has room
    // for; they are initialised once it returns. (`to_vec` would do the same behind a length
    // assertion whose formatting costs the wasm half a kilobyte.)
    unsafe {
        view.raw_copy_to_ptr(bytes.as_mut_ptr());
        bytes.set_len(len);
    }
    bytes
}

/// UTF-8 text decoded by the browser (a message frame's JSON); `None` if it is not UTF-8.
fn utf8(bytes: &[u8]) -> Option<String> {
    let decoder = web_sys::TextDecoder::new().ok()?;
    decoder.decode_with_u8_array(bytes).ok()
}

/// One message from the server. The bot's audio goes to the worklet as it came (it reads the
/// frame: no copy into the wasm); the rest is decoded here.
fn received(call: &Rc<Call>, socket: &Socket, data: &JsValue) {
    let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() else {
        // Pipecat's protobuf serializer only sends binary frames.
        return;
    };
    // Any frame shows the path is alive (the machine's liveness probe).
    call.machine.borrow_mut().heard(now_ms());
    let view = Uint8Array::new(buffer);
    socket.count(|c| {
        c.bytes_received += f64::from(view.length());
        c.frames_received += 1.0;
    });
    let audio = |socket: &Socket| {
        socket.count(|c| c.audio_frames_received += 1.0);
        socket.audio.play(buffer);
    };
    if view.get_index(0) == frames::AUDIO_TAG {
        return audio(socket);
    }
    let bytes = bytes_of(&view);
    match frames::decode(&bytes) {
        Ok(Frame::Audio) => audio(socket),
        Ok(Frame::Message((start, end))) => {
            let Some(text) = bytes.get(start..end).and_then(utf8) else {
                return;
            };
            let (json, cut) = parse_message(&text).unzip();
            call.input(Input::Message(classify(text, json, cut == Some(true))));
        }
        Ok(Frame::Interruption) => call.input(Input::Interrupted),
        // Text and transcription frames: RTVI carries what a page shows. A malformed frame is
        // dropped: one bad frame does not end a call.
        Ok(Frame::Other) | Err(_) => {}
    }
}
