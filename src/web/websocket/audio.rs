//! The audio graph of a WebSocket call (its state is `socket::Audio`): one `AudioContext` with
//! the package's `agent-rtc-audio.js`, which is both the worklet module (the capture and playback
//! processors) and, imported on the main thread when a WebSocket call starts, the code that builds
//! the nodes around them (`graph()`): a page that never makes such a call never loads it.
//! Capture: the microphone track → `agent-rtc-capture` → 20 ms frames of 16 kHz PCM (whole
//! protobuf audio frames, built in the worklet) → the socket. Playback: the bot's PCM
//! → `agent-rtc-playback` (jitter buffer) → a `MediaStreamAudioDestinationNode`, whose track joins
//! the call's `remoteStream`: the page plays it as it plays a WebRTC call's (`attachAudio`,
//! `setSpeaker`).

use super::socket;
use super::socket::Inner;
use crate::error::{ErrorCode, Phase};
use crate::machine::Input;
use crate::web::call::Call;
use crate::web::error::js_failure;
use crate::web::media::add_remote_track;
use js_sys::{ArrayBuffer, Promise};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AudioContext, MediaStreamTrack, WebSocket};

#[wasm_bindgen(
    inline_js = "export async function audioGraph(url, context) { url ||= new URL('../../agent-rtc-audio.js', import.meta.url).href; return (await import(/* webpackIgnore: true */ /* @vite-ignore */ /* turbopackIgnore: true */ url)).graph(context, url); }"
)]
extern "C" {
    /// The audio file imported from `url` (left to the browser: bundlers are told not to follow
    /// that import), or from beside the package's JS (`pkg/`, as seen from this snippet in
    /// `pkg/snippets/<crate>/`: bundlers follow `new URL(…, import.meta.url)` and emit the file),
    /// and its `graph(context, url)` built: resolves to the graph's handle.
    #[wasm_bindgen(js_name = audioGraph)]
    fn audio_graph(url: Option<String>, context: &AudioContext) -> Promise;

    /// What `graph()` in agent-rtc-audio.js resolves to.
    pub type Graph;
    #[wasm_bindgen(method, getter)]
    fn track(this: &Graph) -> MediaStreamTrack;
    #[wasm_bindgen(method, setter)]
    pub fn set_ws(this: &Graph, ws: &WebSocket);
    /// `getStats()` of the call: bytes sent and received, frames sent and received, audio
    /// frames received (the socket's counts) with the graph's own.
    #[wasm_bindgen(method)]
    pub fn report(this: &Graph, bs: f64, br: f64, fs: f64, fr: f64, ar: f64) -> JsValue;
    /// A protobuf audio frame as the server sent it (the worklet reads it); none: drop what is
    /// buffered (an interruption).
    #[wasm_bindgen(method)]
    pub fn play(this: &Graph, frame: Option<&ArrayBuffer>);
    #[wasm_bindgen(method, js_name = setMic)]
    pub fn set_mic(this: &Graph, track: &MediaStreamTrack);
    #[wasm_bindgen(method)]
    pub fn close(this: &Graph);
}

/// Loads the audio file (from `worklet_url`, or beside the package's JS) and builds the graph;
/// the bot's track joins `remoteStream`. A failure fails the call.
/// The call's media are ready once this is done (`Audio::ready`, the promise of it).
pub fn start(call: &Rc<Call>, worklet_url: Option<String>) {
    let Some(socket) = socket(call) else { return };
    let inner = socket.audio.0.clone();
    let weak = Rc::downgrade(call);
    let built = crate::web::export_promise(async move {
        let built = build(&inner, &weak, worklet_url).await;
        if let (Err(e), Some(call)) = (&built, weak.upgrade()) {
            let e = js_failure(ErrorCode::Media, "starting the audio worklet", e);
            call.input(Input::Failure(e.with_phase(Phase::Media)));
        }
        built.map(|()| JsValue::UNDEFINED)
    });
    *socket.audio.0.ready.borrow_mut() = Some(built);
}

async fn build(inner: &Inner, call: &Weak<Call>, url: Option<String>) -> Result<(), JsValue> {
    let graph: Graph = JsFuture::from(audio_graph(url, &inner.context))
        .await?
        .unchecked_into();
    let Some(call) = call.upgrade().filter(|c| !c.is_closed()) else {
        graph.close();
        return Ok(());
    };
    if let Some(track) = inner.track.borrow().as_ref() {
        graph.set_mic(track);
    }
    if let Some(socket) = socket(&call) {
        if let Some(ws) = socket.ws.borrow().as_ref() {
            graph.set_ws(ws);
        }
    }
    add_remote_track(&call, &graph.track());
    *inner.graph.borrow_mut() = Some(graph);
    Ok(())
}
