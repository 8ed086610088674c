//! What a call holds of the WebSocket transport (`Socket`: the socket, its counters and its
//! `Audio`), and what every call asks of it through `Carrier`: send a message, send the
//! microphone, stats, close; and the bindings of the audio graph (agent-rtc-audio.js). Nothing
//! here knows the call: the tasks that feed the call's machine are in `mod.rs` (the socket's
//! events) and `audio.rs` (the graph built).

use crate::error::{Error, ErrorCode, Phase};
use crate::frames;
use crate::web::error::js_failure;
use gloo_events::EventListener;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::{AudioContext, MediaStreamTrack, WebSocket};

/// What a call holds of the WebSocket transport.
pub struct Socket {
    /// The socket, once its URL is known (`startAndConnect` learns it from the start answer).
    pub(super) ws: RefCell<Option<WebSocket>>,
    pub(super) listeners: RefCell<Vec<EventListener>>,
    /// The socket has opened (a close before that is a failure to connect, not an end).
    pub(super) opened: Cell<bool>,
    pub audio: Audio,
    /// Bytes and frames each way, for `getStats()`.
    counters: Cell<Counters>,
}

#[derive(Clone, Copy, Default)]
pub(super) struct Counters {
    pub(super) bytes_sent: f64,
    pub(super) bytes_received: f64,
    pub(super) frames_sent: f64,
    pub(super) frames_received: f64,
    pub(super) audio_frames_received: f64,
}

impl Socket {
    pub fn new(audio: Audio) -> Socket {
        Socket {
            ws: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            opened: Cell::new(false),
            audio,
            counters: Cell::new(Counters::default()),
        }
    }

    pub(super) fn count(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    /// Sends one binary frame, if the socket is open.
    pub fn send_frame(&self, bytes: &[u8], what: &str) -> Result<(), Error> {
        let ws = self.ws.borrow();
        let Some(ws) = ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) else {
            return Err(Error::new(ErrorCode::Closed, "the WebSocket is not open"));
        };
        ws.send_with_u8_array(bytes)
            .map_err(|e| js_failure(ErrorCode::Signalling, what, &e))?;
        self.count(|c| {
            c.bytes_sent += bytes.len() as f64;
            c.frames_sent += 1.0;
        });
        Ok(())
    }

    /// An RTVI message (its JSON text) as a `message` frame.
    pub fn send(&self, text: &str, what: &str) -> Result<(), Error> {
        self.send_frame(&frames::encode_message(text), what)
    }

    /// `getStats()` of a WebSocket call: frames and bytes each way, and the playback buffer
    /// (made by the graph, which counts the microphone's frames: they go to the socket from it).
    pub fn stats(&self) -> js_sys::Promise {
        let c = self.counters.get();
        let graph = self.audio.0.graph.borrow();
        // The page has a connection only once the graph is built; it stays after the end.
        let report = graph.as_ref().map_or(JsValue::UNDEFINED, |g| {
            g.report(
                c.bytes_sent,
                c.bytes_received,
                c.frames_sent,
                c.frames_received,
                c.audio_frames_received,
            )
        });
        js_sys::Promise::resolve(&report)
    }

    pub fn close(&self) {
        if let Some(ws) = self.ws.borrow_mut().take() {
            let _ = ws.close_with_code(1000);
        }
        crate::web::wait::defer_drop(std::mem::take(&mut *self.listeners.borrow_mut()));
        self.audio.close();
    }
}

#[wasm_bindgen(
    inline_js = "export async function audioGraph(url, context) { url ||= new URL('../../agent-rtc-audio.js', import.meta.url).href; return (await import(/* webpackIgnore: true */ /* @vite-ignore */ /* turbopackIgnore: true */ url)).graph(context, url); }"
)]
extern "C" {
    /// The audio file imported from `url` (left to the browser: bundlers are told not to follow
    /// that import), or from beside the package's JS (`pkg/`, as seen from this snippet in
    /// `pkg/snippets/<crate>/`: bundlers follow `new URL(…, import.meta.url)` and emit the file),
    /// and its `graph(context, url)` built: resolves to the graph's handle.
    #[wasm_bindgen(js_name = audioGraph)]
    pub(super) fn audio_graph(url: Option<String>, context: &AudioContext) -> js_sys::Promise;

    /// What `graph()` in agent-rtc-audio.js resolves to.
    pub type Graph;
    #[wasm_bindgen(method, getter)]
    pub fn track(this: &Graph) -> MediaStreamTrack;
    #[wasm_bindgen(method, setter)]
    pub fn set_ws(this: &Graph, ws: &WebSocket);
    /// `getStats()` of the call: bytes sent and received, frames sent and received, audio
    /// frames received (the socket's counts) with the graph's own.
    #[wasm_bindgen(method)]
    pub fn report(this: &Graph, bs: f64, br: f64, fs: f64, fr: f64, ar: f64) -> JsValue;
    /// A protobuf audio frame as the server sent it (the worklet reads it); none: drop what is
    /// buffered (an interruption).
    #[wasm_bindgen(method)]
    pub fn play(this: &Graph, frame: Option<&js_sys::ArrayBuffer>);
    #[wasm_bindgen(method, js_name = setMic)]
    pub fn set_mic(this: &Graph, track: &MediaStreamTrack);
    #[wasm_bindgen(method)]
    pub fn close(this: &Graph);
}

/// What a WebSocket call holds of Web Audio (shared with the task that builds the graph).
pub struct Audio(pub(super) Rc<Inner>);

pub(super) struct Inner {
    pub(super) context: AudioContext,
    /// Settles once the graph is built and the bot's track is in `remoteStream` (or it failed):
    /// the call's media are not ready before (`audio::start`).
    pub(super) ready: RefCell<Option<js_sys::Promise>>,
    /// The nodes (agent-rtc-audio.js), once built.
    pub(super) graph: RefCell<Option<Graph>>,
    /// The microphone, which feeds the capture once the graph exists (replaced on a switch).
    pub(super) track: RefCell<Option<MediaStreamTrack>>,
}

impl Audio {
    /// The context, made now: a click that started the call still counts as a user gesture
    /// for autoplay here, and may not after the awaits of a connect.
    pub fn new() -> Result<Audio, Error> {
        let context = AudioContext::new().map_err(|e| {
            js_failure(ErrorCode::Unsupported, "AudioContext", &e).with_phase(Phase::Media)
        })?;
        Ok(Audio(Rc::new(Inner {
            context,
            ready: RefCell::new(None),
            graph: RefCell::new(None),
            track: RefCell::new(None),
        })))
    }

    /// A frame of the bot's audio for the playback buffer (dropped until the graph is built).
    pub fn play(&self, frame: &js_sys::ArrayBuffer) {
        if let Some(graph) = self.0.graph.borrow().as_ref() {
            graph.play(Some(frame));
        }
    }

    /// Drops the bot audio buffered for playback (an interruption).
    pub fn flush(&self) {
        if let Some(graph) = self.0.graph.borrow().as_ref() {
            graph.play(None);
        }
    }

    /// From now on the capture frames go to `ws` (while it is open).
    pub fn set_ws(&self, ws: &WebSocket) {
        if let Some(graph) = self.0.graph.borrow().as_ref() {
            graph.set_ws(ws);
        }
    }

    /// Settles once the audio graph is built (`Carrier::ready`).
    pub fn ready(&self) -> Option<js_sys::Promise> {
        self.0.ready.borrow().clone()
    }

    /// From now on the microphone is `track`: it feeds the capture as soon as the graph is
    /// built (at once if it is). The promise is settled: nothing here waits.
    pub fn send_track(&self, track: &MediaStreamTrack) -> js_sys::Promise {
        *self.0.track.borrow_mut() = Some(track.clone());
        if let Some(graph) = self.0.graph.borrow().as_ref() {
            graph.set_mic(track);
        }
        js_sys::Promise::resolve(&JsValue::UNDEFINED)
    }

    pub fn close(&self) {
        let inner = &self.0;
        // Kept (closed) for a getStats() after the end.
        if let Some(graph) = inner.graph.borrow().as_ref() {
            graph.close();
        }
        inner.track.borrow_mut().take();
        let _ = inner.context.close();
    }
}
