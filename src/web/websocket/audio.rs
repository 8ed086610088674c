//! The audio graph of a WebSocket call (its state is `socket::Audio`): one `AudioContext` with the SDK's worklet module
//! (`agent-rtc-audio.js`). Capture: the microphone track → `agent-rtc-capture` → 20 ms frames of
//! 16 kHz PCM → the socket. Playback: the bot's PCM → `agent-rtc-playback` (jitter buffer) → a
//! `MediaStreamAudioDestinationNode`, whose track joins the call's `remoteStream`: the page
//! plays it as it plays a WebRTC call's (`attachAudio`, `setSpeaker`).

use super::socket;
use super::socket::Inner;
use super::socket::Nodes;
use crate::error::{ErrorCode, Phase};
use crate::frames;
use crate::machine::Input;
use crate::web::call::Call;
use crate::web::error::js_failure;
use crate::web::media::add_remote_track;
use gloo_events::EventListener;
use js_sys::{Array, Uint8Array};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AudioWorkletNode, AudioWorkletNodeOptions, MessageEvent};

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
