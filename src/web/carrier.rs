//! What every call needs of the transport that carries it, whichever that is: sending a
//! message, sending a track, stats, closing. `Carrier` has one variant per
//! transport; a new transport adds its variant and its arm in each method here, and its own
//! files beside `webrtc/` (its `Transport` function carries out the machine's outputs for it).

use super::export_promise;
use super::webrtc::peer::Link;
#[cfg(feature = "websocket")]
use super::websocket::socket::Socket;
use crate::error::Error;
use wasm_bindgen::JsValue;
use web_sys::MediaStreamTrack;

pub enum Carrier {
    WebRtc(Link),
    #[cfg(feature = "websocket")]
    WebSocket(Socket),
}

impl Carrier {
    /// Sends one message (RTVI JSON text) to the bot; `what` names the step in an error.
    pub fn send(&self, text: &str, what: &str) -> Result<(), Error> {
        match self {
            Carrier::WebRtc(link) => link.send(text, what),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(socket) => socket.send(text, what),
        }
    }

    /// The largest message `send` takes, when the transport knows it.
    pub fn max_message(&self) -> Option<f64> {
        match self {
            Carrier::WebRtc(link) => link.max_message(),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(_) => None,
        }
    }

    /// From now on `track` is sent as the call's track `index` (0 microphone, 1 camera).
    pub fn send_track(&self, index: usize, track: &MediaStreamTrack) -> js_sys::Promise {
        match self {
            Carrier::WebRtc(link) => link.send_track(index, track),
            // The WebSocket transport carries audio only: a camera goes nowhere.
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(socket) if index == 0 => socket.audio.send_track(track),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(_) => js_sys::Promise::resolve(&JsValue::UNDEFINED),
        }
    }

    /// What the transport's own media still wait for before the call's media are ready (the
    /// WebSocket transport's audio graph; WebRTC has none).
    pub fn ready(&self) -> Option<js_sys::Promise> {
        match self {
            Carrier::WebRtc(_) => None,
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(socket) => socket.audio.ready(),
        }
    }

    /// The peer connection (`RTCPeerConnection`), for a transport that has one.
    pub fn peer_connection(&self) -> JsValue {
        match self {
            Carrier::WebRtc(link) => link.peer_connection(),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(_) => JsValue::UNDEFINED,
        }
    }

    /// `getStats()`: the transport's counters, summarised for the page (a promise of them).
    pub fn stats(&self) -> js_sys::Promise {
        match self {
            Carrier::WebRtc(link) => export_promise(link.stats()),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(socket) => socket.stats(),
        }
    }

    /// Ends everything the transport holds.
    pub fn close(&self) {
        match self {
            Carrier::WebRtc(link) => link.close(),
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(socket) => socket.close(),
        }
    }

    /// Drops the bot audio buffered for playback (a WebRTC call buffers none of its own).
    pub fn drop_audio(&self) {
        #[cfg(feature = "websocket")]
        if let Carrier::WebSocket(socket) = self {
            socket.audio.flush();
        }
    }

    /// `conn.transport`.
    pub fn name(&self) -> &'static str {
        match self {
            Carrier::WebRtc(_) => "webrtc",
            #[cfg(feature = "websocket")]
            Carrier::WebSocket(_) => "websocket",
        }
    }
}
