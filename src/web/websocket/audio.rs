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
use super::socket::{audio_graph, Graph, Inner};
use crate::error::{ErrorCode, Phase};
use crate::machine::Input;
use crate::web::call::Call;
use crate::web::error::js_failure;
use crate::web::media::add_remote_track;
use std::rc::{Rc, Weak};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

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
