//! Playing the bot: `attachAudio`, `resumeAudio`, `setSpeaker`, and the device switches
//! `setMicrophone` / `setCamera`. Every method returns a promise that rejects with an
//! `AgentRtcError` (`media`, `details.name` the browser's, e.g. `NotAllowedError` when autoplay is
//! blocked).

use super::call::Call;
use super::connection::Connection;
use super::error::{closed_error, js_failure};
use super::media::switch_track;
use crate::error::{Error, ErrorCode, Phase};
use js_sys::{Function, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlMediaElement;

fn media_error(what: &str, e: &JsValue) -> JsValue {
    js_failure(ErrorCode::Media, what, e)
        .with_phase(Phase::Call)
        .into()
}

/// `element.play()`, its rejection (autoplay blocked) as a `media` error.
async fn play(el: &HtmlMediaElement) -> Result<JsValue, JsValue> {
    let promise = el.play().map_err(|e| media_error("play", &e))?;
    JsFuture::from(promise)
        .await
        .map(|_| JsValue::UNDEFINED)
        .map_err(|e| media_error("play", &e))
}

fn element(call: &Rc<Call>) -> Option<HtmlMediaElement> {
    call.held.audio.borrow().as_ref().map(|(el, _)| el.clone())
}

/// One async body for every media method: each `future_to_promise` costs the wasm a state
/// machine of its own.
enum Op {
    Attach(JsValue),
    Resume,
    Speaker(JsValue),
    Switch(usize, JsValue),
}

async fn run(call: Rc<Call>, op: Op) -> Result<JsValue, JsValue> {
    if call.is_closed() {
        return Err(closed_error("media"));
    }
    let attached =
        || element(&call).ok_or_else(|| JsValue::from(Error::invalid("call attachAudio first")));
    match op {
        Op::Attach(element) => {
            let el = attach(&call, element)?;
            play(&el).await
        }
        Op::Resume => play(&attached()?).await,
        Op::Speaker(device_id) => {
            let id = device_id
                .as_string()
                .ok_or_else(|| JsValue::from(Error::invalid("setSpeaker: pass a device id")))?;
            let el = attached()?;
            let set: Function = Reflect::get(&el, &"setSinkId".into())
                .ok()
                .and_then(|f| f.dyn_into().ok())
                .ok_or_else(|| {
                    JsValue::from(
                        Error::new(
                            ErrorCode::Media,
                            "this browser cannot choose the audio output (no setSinkId)",
                        )
                        .with_phase(Phase::Call)
                        .with_name("NotSupportedError".into()),
                    )
                })?;
            let promise = set
                .call1(&el, &JsValue::from_str(&id))
                .map_err(|e| media_error("setSinkId", &e))?;
            JsFuture::from(Promise::resolve(&promise))
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| media_error("setSinkId", &e))
        }
        Op::Switch(index, device) => switch_track(&call, index, &device)
            .await
            .map(|()| JsValue::UNDEFINED)
            .map_err(JsValue::from),
    }
}

/// The element `remoteStream` plays in: the caller's, or an `<audio>` the SDK adds.
fn attach(call: &Rc<Call>, element: JsValue) -> Result<HtmlMediaElement, JsValue> {
    let (el, owned) = if element.is_undefined() || element.is_null() {
        let doc = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| JsValue::from(Error::new(ErrorCode::Media, "no document")))?;
        let el: HtmlMediaElement = doc
            .create_element("audio")
            .map_err(|e| media_error("createElement", &e))?
            .unchecked_into();
        if let Some(body) = doc.body() {
            let _ = web_sys::Node::from(body).append_child(&el);
        }
        (el, true)
    } else {
        let el = element.dyn_into::<HtmlMediaElement>().map_err(|_| {
            JsValue::from(Error::invalid(
                "attachAudio: pass an <audio> or <video> element, or nothing",
            ))
        })?;
        (el, false)
    };
    el.set_autoplay(true);
    el.set_src_object(Some(&call.page.remote_stream));
    let old = call.held.audio.borrow_mut().replace((el.clone(), owned));
    if let Some((old, true)) = old {
        if old != el {
            old.remove();
        }
    }
    Ok(el)
}

#[wasm_bindgen]
impl Connection {
    fn media(&self, op: Op) -> Promise {
        super::export_promise(run(self.call().clone(), op))
    }

    /// Plays `remoteStream` in `element` (an `<audio>`/`<video>`), or in an `<audio>` the SDK
    /// adds to the page and removes on disconnect.
    #[wasm_bindgen(js_name = attachAudio, skip_typescript)]
    pub fn attach_audio(&self, element: JsValue) -> Promise {
        self.media(Op::Attach(element))
    }

    /// Starts playback again, from a click after autoplay was blocked.
    #[wasm_bindgen(js_name = resumeAudio, skip_typescript)]
    pub fn resume_audio(&self) -> Promise {
        self.media(Op::Resume)
    }

    /// Sends the bot's audio to the output device `deviceId` (`setSinkId`).
    #[wasm_bindgen(js_name = setSpeaker, skip_typescript)]
    pub fn set_speaker(&self, device_id: JsValue) -> Promise {
        self.media(Op::Speaker(device_id))
    }

    /// Sends another microphone (a device id, or a caller's track) without renegotiating.
    #[wasm_bindgen(js_name = setMicrophone, skip_typescript)]
    pub fn set_microphone(&self, device: JsValue) -> Promise {
        self.media(Op::Switch(0, device))
    }

    /// Sends another camera (a device id, or a caller's track) without renegotiating.
    #[wasm_bindgen(js_name = setCamera, skip_typescript)]
    pub fn set_camera(&self, device: JsValue) -> Promise {
        self.media(Op::Switch(1, device))
    }
}
