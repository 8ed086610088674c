//! The audio of a WebSocket call: one `AudioContext` with the SDK's worklet module
//! (`agent-rtc-audio.js`). Capture: the microphone track → `agent-rtc-capture` → 20 ms frames of
//! 16 kHz PCM → the socket. Playback: the bot's PCM → `agent-rtc-playback` (jitter buffer) → a
//! `MediaStreamAudioDestinationNode`, whose track joins the call's `remoteStream`: the page
//! plays it as it plays a WebRTC call's (`attachAudio`, `setSpeaker`).

use super::socket;
use crate::error::{Error, ErrorCode, Phase};
use crate::frames;
use crate::machine::Input;
use crate::web::call::Call;
use crate::web::error::js_failure;
use crate::web::media::add_remote_track;
use crate::web::wait::{defer_drop, Slot};
use gloo_events::EventListener;
use js_sys::{Array, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AudioContext, AudioWorkletNode, AudioWorkletNodeOptions, MediaStream,
    MediaStreamAudioDestinationNode, MediaStreamAudioSourceNode, MediaStreamTrack, MessageEvent,
};

/// The capture's rate, as its frames say (mono).
const CAPTURE_RATE: u32 = 16_000;

#[wasm_bindgen(
    inline_js = "export function workletUrl() { return new URL('../../agent-rtc-audio.js', import.meta.url).href; }"
)]
extern "C" {
    /// Where the package's worklet file is: beside its JS (`pkg/`), as seen from this snippet
    /// (`pkg/snippets/<crate>/inline0.js`). Bundlers follow `new URL(…, import.meta.url)`.
    #[wasm_bindgen(js_name = workletUrl, catch)]
    fn default_worklet_url() -> Result<String, JsValue>;
}

/// What a WebSocket call holds of Web Audio (shared with the tasks that wait for the worklet).
pub struct Audio(Rc<Inner>);

struct Inner {
    context: AudioContext,
    /// Set once the module loaded and the nodes exist, or to what went wrong (or the close).
    ready: Slot<Result<(), Error>>,
    nodes: RefCell<Option<Nodes>>,
    /// The microphone's source node (replaced when the microphone is switched).
    source: RefCell<Option<MediaStreamAudioSourceNode>>,
    /// Playback buffer depth (s), underruns, seconds played: the worklet reports them.
    stats: Cell<(f64, f64, f64)>,
}

struct Nodes {
    capture: AudioWorkletNode,
    playback: AudioWorkletNode,
    _destination: MediaStreamAudioDestinationNode,
    _listeners: [EventListener; 2],
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
            ready: Slot::new(),
            nodes: RefCell::new(None),
            source: RefCell::new(None),
            stats: Cell::new((0.0, 0.0, 0.0)),
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

    /// Playback buffer depth (ms), underruns, ms played.
    pub fn playback_stats(&self) -> (f64, f64, f64) {
        let (depth, underruns, played) = self.0.stats.get();
        (depth * 1000.0, underruns, played * 1000.0)
    }

    /// From now on the microphone is `track`: a promise, settled once it feeds the capture.
    pub fn send_track(&self, track: &MediaStreamTrack) -> js_sys::Promise {
        let inner = self.0.clone();
        let track = track.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            inner.ready.wait().await.map_err(JsValue::from)?;
            let stream = MediaStream::new()?;
            stream.add_track(&track);
            let source = inner.context.create_media_stream_source(&stream)?;
            if let Some(nodes) = inner.nodes.borrow().as_ref() {
                source.connect_with_audio_node(&nodes.capture)?;
            }
            if let Some(old) = inner.source.replace(Some(source)) {
                let _ = old.disconnect();
            }
            Ok(JsValue::UNDEFINED)
        })
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
        let _ = inner.context.close();
        // Whoever still waits for the worklet (a `send_track`) finishes now.
        if inner.ready.get().is_none() {
            inner.ready.set(Err(Error::new(
                ErrorCode::Closed,
                "the connection is closed",
            )));
        }
    }
}

/// Loads the worklet module (from `worklet_url`, or beside the package's JS) and builds the
/// capture and playback nodes; the bot's track joins `remoteStream`. A failure fails the call.
pub fn start(call: &Rc<Call>, worklet_url: Option<String>) {
    let Some(socket) = socket(call) else { return };
    let inner = socket.audio.0.clone();
    let weak = Rc::downgrade(call);
    wasm_bindgen_futures::spawn_local(async move {
        let built = build(&inner, &weak, worklet_url).await;
        if let Err(e) = &built {
            if let Some(call) = weak.upgrade() {
                call.input(Input::Failure(e.clone()));
            }
        }
        if inner.ready.get().is_none() {
            inner.ready.set(built);
        }
    });
}

async fn build(inner: &Inner, call: &Weak<Call>, url: Option<String>) -> Result<(), Error> {
    let failed =
        |what: &str, e: &JsValue| js_failure(ErrorCode::Media, what, e).with_phase(Phase::Media);
    let url = match url {
        Some(url) => url,
        None => default_worklet_url().map_err(|e| failed("the audio worklet's URL", &e))?,
    };
    let context = &inner.context;
    let worklet = context.audio_worklet().map_err(|e| {
        js_failure(ErrorCode::Unsupported, "AudioWorklet", &e).with_phase(Phase::Media)
    })?;
    let loading = worklet
        .add_module(&url)
        .map_err(|e| failed("loading the audio worklet", &e))?;
    JsFuture::from(loading)
        .await
        .map_err(|e| failed("loading the audio worklet", &e))?;
    if call.upgrade().is_none_or(|c| c.is_closed()) {
        return Err(Error::new(ErrorCode::Closed, "the connection is closed"));
    }
    let node = |name: &str, inputs: u32, outputs: u32| {
        let options = AudioWorkletNodeOptions::new();
        options.set_number_of_inputs(inputs);
        options.set_number_of_outputs(outputs);
        if outputs > 0 {
            options.set_output_channel_count(&Array::of1(&1.into()));
        }
        AudioWorkletNode::new_with_options(context, name, &options)
            .map_err(|e| failed("AudioWorkletNode", &e))
    };
    // Capture: a node with no output still runs (a sink), pulled by the context.
    let capture = node("agent-rtc-capture", 1, 0)?;
    let capture_port = capture.port().map_err(|e| failed("MessagePort", &e))?;
    let weak = call.clone();
    let on_frame = EventListener::new(&capture_port, "message", move |e| {
        let Some(call) = weak.upgrade() else { return };
        let Some(socket) = socket(&call) else { return };
        let Some(pcm) = e.dyn_ref::<MessageEvent>().map(MessageEvent::data) else {
            return;
        };
        let Some(pcm) = pcm.dyn_ref::<js_sys::ArrayBuffer>() else {
            return;
        };
        let pcm = Uint8Array::new(pcm).to_vec();
        let mut frame = frames::audio_header(pcm.len(), CAPTURE_RATE, 1);
        frame.extend_from_slice(&pcm);
        // Before the socket opens and after it closed, the microphone goes nowhere.
        let _ = socket.send_frame(&frame, "audio");
    });
    capture_port.start();
    // Playback into a stream the page plays like any other.
    let playback = node("agent-rtc-playback", 0, 1)?;
    let destination = context
        .create_media_stream_destination()
        .map_err(|e| failed("MediaStreamAudioDestinationNode", &e))?;
    playback
        .connect_with_audio_node(&destination)
        .map_err(|e| failed("AudioNode.connect", &e))?;
    let playback_port = playback.port().map_err(|e| failed("MessagePort", &e))?;
    let weak = call.clone();
    let on_stats = EventListener::new(&playback_port, "message", move |e| {
        let Some(call) = weak.upgrade() else { return };
        let Some(socket) = socket(&call) else { return };
        let Some(data) = e.dyn_ref::<MessageEvent>().map(MessageEvent::data) else {
            return;
        };
        let data: Array = data.unchecked_into();
        let at = |i| data.get(i).as_f64().unwrap_or(0.0);
        socket.audio.0.stats.set((at(0), at(1), at(2)));
    });
    playback_port.start();
    let tracks = destination.stream().get_audio_tracks();
    *inner.nodes.borrow_mut() = Some(Nodes {
        capture,
        playback,
        _destination: destination,
        _listeners: [on_frame, on_stats],
    });
    if let Some(call) = call.upgrade() {
        for track in tracks.iter() {
            add_remote_track(&call, track.unchecked_ref());
        }
    }
    let _ = context.resume();
    Ok(())
}
