//! What a call holds of the WebSocket transport (`Socket`: the socket, its counters and its
//! `Audio`), and what every call asks of it through `Carrier`: send a message, send the
//! microphone, stats, close. Nothing here knows the call: the tasks that feed the call's machine
//! are in `mod.rs` (the socket's events) and `audio.rs` (the worklet's nodes).

use crate::error::{Error, ErrorCode, Phase};
use crate::frames;
use crate::web::error::js_failure;
use crate::web::json::to_js;
use crate::web::wait::defer_drop;
use gloo_events::EventListener;
use js_sys::{Array, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::{
    AudioContext, AudioWorkletNode, MediaStream, MediaStreamAudioDestinationNode,
    MediaStreamAudioSourceNode, MediaStreamTrack, WebSocket,
};

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
            return Err(Error::new(
                ErrorCode::Closed,
                format!("{what}: the WebSocket is not open"),
            ));
        };
        ws.send_with_u8_array(bytes)
            .map_err(|e| js_failure(ErrorCode::Signalling, what, &e))?;
        self.count(|c| {
            c.bytes_sent += bytes.len() as f64;
            c.frames_sent += 1.0;
        });
        Ok(())
    }

    /// A frame the worklet built whole (the microphone's), if the socket is open.
    pub fn send_buffer(&self, frame: &js_sys::ArrayBuffer) {
        let ws = self.ws.borrow();
        let Some(ws) = ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) else {
            return;
        };
        if ws.send_with_array_buffer(frame).is_ok() {
            self.count(|c| {
                c.bytes_sent += frame.byte_length() as f64;
                c.frames_sent += 1.0;
            });
        }
    }

    /// An RTVI message (its JSON text) as a `message` frame.
    pub fn send(&self, text: &str, what: &str) -> Result<(), Error> {
        self.send_frame(&frames::encode_message(text), what)
    }

    /// `getStats()` of a WebSocket call: frames and bytes each way, and the playback buffer.
    pub fn stats(&self) -> js_sys::Promise {
        let c = self.counters.get();
        let [buffer_ms, underruns, played_ms, prebuffer_ms] = self.audio.playback_stats();
        let mut out = crate::json::Map::new();
        out.insert("transport", "websocket");
        let fields = [
            ("bytesSent", c.bytes_sent),
            ("bytesReceived", c.bytes_received),
            ("framesSent", c.frames_sent),
            ("framesReceived", c.frames_received),
            ("audioFramesReceived", c.audio_frames_received),
            ("playbackBufferMs", buffer_ms),
            ("playbackUnderruns", underruns),
            ("playedMs", played_ms),
            ("playbackPrebufferMs", prebuffer_ms),
        ];
        for (key, value) in fields {
            out.insert(key, crate::json::Value::Number(value));
        }
        js_sys::Promise::resolve(&to_js(&crate::json::Value::Object(out)))
    }

    pub fn close(&self) {
        if let Some(ws) = self.ws.borrow_mut().take() {
            let _ = ws.close_with_code(1000);
        }
        crate::web::wait::defer_drop(std::mem::take(&mut *self.listeners.borrow_mut()));
        self.audio.close();
    }
}

/// What a WebSocket call holds of Web Audio (shared with the tasks that wait for the worklet).
pub struct Audio(pub(super) Rc<Inner>);

pub(super) struct Inner {
    pub(super) context: AudioContext,
    /// Settles once the nodes exist and the bot's track is in `remoteStream` (or the worklet
    /// failed): the call's media are not ready before.
    pub(super) ready: js_sys::Promise,
    pub(super) settle: RefCell<Option<(js_sys::Function, js_sys::Function)>>,
    pub(super) nodes: RefCell<Option<Nodes>>,
    /// The microphone, and its source node once it feeds the capture (both replaced when the
    /// microphone is switched).
    pub(super) track: RefCell<Option<MediaStreamTrack>>,
    pub(super) source: RefCell<Option<MediaStreamAudioSourceNode>>,
    /// Playback buffer depth (s), underruns, seconds played, the prebuffer it settled on (s):
    /// the worklet reports them.
    pub(super) stats: Cell<[f64; 4]>,
}

pub(super) struct Nodes {
    pub(super) capture: AudioWorkletNode,
    pub(super) playback: AudioWorkletNode,
    pub(super) _destination: MediaStreamAudioDestinationNode,
    pub(super) _listeners: [EventListener; 2],
}

impl Audio {
    /// The context, made now: a click that started the call still counts as a user gesture
    /// for autoplay here, and may not after the awaits of a connect.
    pub fn new() -> Result<Audio, Error> {
        let context = AudioContext::new().map_err(|e| {
            js_failure(ErrorCode::Unsupported, "AudioContext", &e).with_phase(Phase::Media)
        })?;
        let mut settle = None;
        let ready = js_sys::Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        Ok(Audio(Rc::new(Inner {
            context,
            ready,
            settle: RefCell::new(settle),
            nodes: RefCell::new(None),
            track: RefCell::new(None),
            source: RefCell::new(None),
            stats: Cell::new([0.0; 4]),
        })))
    }

    /// Bot audio for the playback buffer (dropped until the worklet is ready).
    pub fn play(&self, pcm: &[u8], sample_rate: u32, channels: u32) {
        let nodes = self.0.nodes.borrow();
        let Some(port) = nodes.as_ref().and_then(|n| n.playback.port().ok()) else {
            return;
        };
        let buffer = Uint8Array::from(pcm).buffer();
        let message = Array::of3(&sample_rate.into(), &channels.into(), &buffer);
        let _ = port.post_message_with_transferable(&message, &Array::of1(&buffer));
    }

    /// Drops the bot audio buffered for playback (an interruption).
    pub fn flush(&self) {
        let nodes = self.0.nodes.borrow();
        if let Some(port) = nodes.as_ref().and_then(|n| n.playback.port().ok()) {
            let _ = port.post_message(&"flush".into());
        }
    }

    /// Settles once the audio graph is built (`Carrier::ready`).
    pub fn ready(&self) -> js_sys::Promise {
        self.0.ready.clone()
    }

    /// Playback buffer depth (ms), underruns, ms played, the prebuffer (ms).
    pub fn playback_stats(&self) -> [f64; 4] {
        let [depth, underruns, played, prebuffer] = self.0.stats.get();
        [
            depth * 1000.0,
            underruns,
            played * 1000.0,
            prebuffer * 1000.0,
        ]
    }

    /// From now on the microphone is `track`: it feeds the capture as soon as the worklet is
    /// ready (at once if it is). The promise is settled: nothing here waits.
    pub fn send_track(&self, track: &MediaStreamTrack) -> js_sys::Promise {
        *self.0.track.borrow_mut() = Some(track.clone());
        if let Some(nodes) = self.0.nodes.borrow().as_ref() {
            self.0.wire(&nodes.capture);
        }
        js_sys::Promise::resolve(&JsValue::UNDEFINED)
    }

    pub fn close(&self) {
        let inner = &self.0;
        if let Some(nodes) = inner.nodes.borrow_mut().take() {
            let _ = nodes.capture.disconnect();
            let _ = nodes.playback.disconnect();
            defer_drop(nodes);
        }
        if let Some(source) = inner.source.borrow_mut().take() {
            let _ = source.disconnect();
        }
        inner.track.borrow_mut().take();
        inner.settle(Err(JsValue::UNDEFINED));
        let _ = inner.context.close();
    }
}

impl Inner {
    /// Settles `ready` (once).
    pub(super) fn settle(&self, result: Result<(), JsValue>) {
        if let Some((resolve, reject)) = self.settle.borrow_mut().take() {
            let _ = match result {
                Ok(()) => resolve.call0(&JsValue::UNDEFINED),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        }
    }

    /// The microphone's source into `capture`, the previous source disconnected.
    pub(super) fn wire(&self, capture: &AudioWorkletNode) {
        let Some(track) = self.track.borrow().clone() else {
            return;
        };
        let Ok(stream) = MediaStream::new() else {
            return;
        };
        stream.add_track(&track);
        let Ok(source) = self.context.create_media_stream_source(&stream) else {
            return;
        };
        let _ = source.connect_with_audio_node(capture);
        if let Some(old) = self.source.replace(Some(source)) {
            let _ = old.disconnect();
        }
    }
}
