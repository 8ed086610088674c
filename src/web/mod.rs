//! The browser shell: turns JS values, fetch, timers and events into calls on the pure core,
//! and core results into JS values. No protocol decisions live here.
//!
//! What every call has, whatever carries it:
//!
//! | file | job |
//! |---|---|
//! | `auto.rs` | `startAndConnect`: the transport it names, or `"auto"` (WebRTC, else a WebSocket) |
//! | `connect.rs` | the `connectWebRtc` entry point and `startAndConnect` over WebRTC |
//! | `call.rs` | one live call: its machine, what it holds (`Held`) and what the page sees (`Page`); feeds the machine, carries out its outputs (its transport's through `Transport`), keeps its one timer, closes it |
//! | `carrier.rs` | what every call needs of its transport (send a message, send a track, stats, close), one arm per transport |
//! | `media.rs` | the `audio` / `video` options, getUserMedia, attaching tracks, `devicechange` |
//! | `events.rs` | `on` / `off` handlers and the events from before the connect resolved |
//! | `conversation.rs` | RTVI requests, messages and function-call handlers on `Connection` |
//! | `audio.rs` | playback (`attachAudio`, `setSpeaker`) and device switches on `Connection` |
//! | `connection.rs` | the `Connection` class (the JS handle of a call) |
//! | `start.rs`, `session.rs` | `startSession` and the `Session` class |
//! | `http.rs`, `deadline.rs`, `json.rs`, `error.rs`, `wait.rs` | fetch, budgets, JS values, errors, futures |
//!
//! What only WebRTC has is in `webrtc/` (the peer connection, signalling, recovery): a call's
//! `Rtc` outputs go there. What only the WebSocket transport has is in `websocket/` (the socket,
//! its frames, the audio graph of agent-rtc-audio.js). Nothing outside `webrtc/` and `connect.rs` names those files but
//! `carrier.rs`, which names `Link`, the WebRTC state a call holds.

mod audio;
mod auto;
mod call;
mod carrier;
mod connect;
mod connection;
mod conversation;
mod deadline;
mod error;
mod events;
mod http;
mod json;
mod media;
mod session;
mod start;
mod wait;
mod webrtc;
#[cfg(feature = "websocket")]
mod websocket;

pub use auto::start_and_connect;
pub use call::{allocated_calls, live_calls};
pub use connect::connect_web_rtc;
pub use connection::Connection;
pub use error::{is_agent_rtc_error, to_js_error};
pub use media::list_devices;
pub use session::Session;
pub use start::start_session;
#[cfg(feature = "websocket")]
pub use websocket::connect::connect_web_socket;

use js_sys::Promise;
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;

/// The promise of an exported async function. Every export goes through the one
/// `future_to_promise` below: `#[wasm_bindgen] async fn` would give each its own copy of the
/// promise plumbing (about 300 bytes apiece in the wasm).
pub(crate) fn export_promise<T: Into<JsValue>>(
    f: impl Future<Output = Result<T, JsValue>> + 'static,
) -> Promise {
    boxed_export_promise(Box::pin(async move { f.await.map(Into::into) }))
}

#[inline(never)]
fn boxed_export_promise(f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    wasm_bindgen_futures::future_to_promise(f)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// The crate version, e.g. `"0.1.0"`.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_owned()
}
