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
use crate::web::wait::defer_drop;
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

/// The capture's rate, as its frames say (mono), and the PCM bytes of one 20 ms frame.
const CAPTURE_RATE: u32 = 16_000;
const CAPTURE_BYTES: usize = 640;

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
    /// Settles once the nodes exist and the bot's track is in `remoteStream` (or the worklet
    /// failed): the call's media are not ready before.
    ready: js_sys::Promise,
    settle: RefCell<Option<(js_sys::Function, js_sys::Function)>>,
    nodes: RefCell<Option<Nodes>>,
    /// The microphone, and its source node once it feeds the capture (both replaced when the
    /// microphone is switched).
    track: RefCell<Option<MediaStreamTrack>>,
    source: RefCell<Option<MediaStreamAudioSourceNode>>,
    /// Playback buffer depth (s), underruns, seconds played, the prebuffer it settled on (s):
    /// the worklet reports them.
    stats: Cell<[f64; 4]>,
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
    fn settle(&self, result: Result<(), JsValue>) {
        if let Some((resolve, reject)) = self.settle.borrow_mut().take() {
            let _ = match result {
                Ok(()) => resolve.call0(&JsValue::UNDEFINED),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        }
    }

    /// The microphone's source into `capture`, the previous source disconnected.
    fn wire(&self, capture: &AudioWorkletNode) {
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

/// Loads the worklet module (from `worklet_url`, or beside the package's JS) and builds the
/// capture and playback nodes; the bot's track joins `remoteStream`. A failure fails the call.
pub fn start(call: &Rc<Call>, worklet_url: Option<String>) {
    let Some(socket) = socket(call) else { return };
    let inner = socket.audio.0.clone();
    let weak = Rc::downgrade(call);
    wasm_bindgen_futures::spawn_local(async move {
        let built = build(&inner, &weak, worklet_url).await;
        if let (Err(e), Some(call)) = (&built, weak.upgrade()) {
            let e = js_failure(ErrorCode::Media, "starting the audio worklet", e);
            call.input(Input::Failure(e.with_phase(Phase::Media)));
        }
        inner.settle(built);
    });
}

async fn build(inner: &Inner, call: &Weak<Call>, url: Option<String>) -> Result<(), JsValue> {
    let url = match url {
        Some(url) => url,
        None => default_worklet_url()?,
    };
    let context = &inner.context;
    JsFuture::from(context.audio_worklet()?.add_module(&url)?).await?;
    if call.upgrade().is_none_or(|c| c.is_closed()) {
        return Ok(());
    }
    let node = |name: &str, inputs: u32, outputs: u32, header: &[u8]| {
        let options = AudioWorkletNodeOptions::new();
        options.set_number_of_inputs(inputs);
        options.set_number_of_outputs(outputs);
        let mono = Array::new();
        for _ in 0..outputs {
            mono.push(&1.into());
        }
        options.set_output_channel_count(&mono);
        // The capture's frames leave whole: this header, then 20 ms of PCM.
        options.set_processor_options(Some(&Uint8Array::from(header)));
        AudioWorkletNode::new_with_options(context, name, &options)
    };
    // Firefox and WebKit run only the nodes the context's destination pulls: each worklet node
    // has an output into it that stays silent (the capture writes none; the playback plays
    // into its second output only what it never writes).
    let speakers = context.destination();
    let header = frames::audio_header(CAPTURE_BYTES, CAPTURE_RATE, 1);
    let capture = node("agent-rtc-capture", 1, 1, &header)?;
    capture.connect_with_audio_node(&speakers)?;
    let capture_port = capture.port()?;
    let weak = call.clone();
    let on_frame = EventListener::new(&capture_port, "message", move |e| {
        let (Some(call), Some(e)) = (weak.upgrade(), e.dyn_ref::<MessageEvent>()) else {
            return;
        };
        if let (Some(socket), Some(frame)) =
            (socket(&call), e.data().dyn_ref::<js_sys::ArrayBuffer>())
        {
            // Before the socket opens and after it closed, the microphone goes nowhere.
            socket.send_buffer(frame);
        }
    });
    capture_port.start();
    // Playback into a stream the page plays like any other.
    let playback = node("agent-rtc-playback", 0, 2, &[])?;
    let destination = context.create_media_stream_destination()?;
    playback.connect_with_audio_node_and_output(&destination, 0)?;
    playback.connect_with_audio_node_and_output(&speakers, 1)?;
    let playback_port = playback.port()?;
    let weak = call.clone();
    let on_stats = EventListener::new(&playback_port, "message", move |e| {
        let (Some(call), Some(e)) = (weak.upgrade(), e.dyn_ref::<MessageEvent>()) else {
            return;
        };
        if let Some(socket) = socket(&call) {
            let data: Array = e.data().unchecked_into();
            let at = |i| data.get(i).as_f64().unwrap_or(0.0);
            socket.audio.0.stats.set([at(0), at(1), at(2), at(3)]);
        }
    });
    playback_port.start();
    let tracks = destination.stream().get_audio_tracks();
    inner.wire(&capture);
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
