//! The `Connection` class: the JS handle of a `Call`. Every method checks what JS passed (any
//! value may arrive) and reports a wrong one as an `AgentRtcError`, never a plain exception.
//! Dropping the handle (`free()`, `Symbol.dispose`, garbage collection) does not end the call:
//! only `disconnect()` or the call's own end does.

use super::call::Call;
use super::error::{closed_error, invalid};
use super::json::{stringify, stringify_js, value_to_json};
use crate::error::Phase;
use crate::machine::Input;
use js_sys::Function;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MediaStream;

/// A live (or ended) connection to a bot.
#[wasm_bindgen]
pub struct Connection {
    call: Rc<Call>,
}

impl Connection {
    pub fn new(call: Rc<Call>) -> Connection {
        Connection { call }
    }

    /// Waits for the machine to call the connect done. A failure has already closed
    /// everything.
    pub async fn complete(call: Rc<Call>) -> Result<Connection, JsValue> {
        match call.page.connected.wait().await {
            Ok(()) => {
                call.page.events.resolve();
                Ok(Connection::new(call))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn call(&self) -> &Rc<Call> {
        &self.call
    }

    /// A message larger than the channel takes is refused before it is sent.
    pub fn check_size(&self, text: &str, what: &str) -> Result<(), JsValue> {
        match self.call.held.carrier.max_message() {
            Some(max) if max > 0.0 && text.len() as f64 > max => Err(invalid(&format!(
                "{what}: the message is larger than the channel's maxMessageSize"
            ))),
            _ => Ok(()),
        }
    }

    pub fn send_value(&self, value: &crate::json::Value, what: &str) -> Result<(), JsValue> {
        self.send(&stringify(value), what)
    }
}

fn event_and_handler(
    event: &JsValue,
    handler: &JsValue,
    what: &str,
) -> Result<(String, Function), JsValue> {
    let Some(event) = event.as_string() else {
        return Err(invalid(&format!("{what}: the event name must be a string")));
    };
    let Some(handler) = handler.dyn_ref::<Function>() else {
        return Err(invalid(&format!("{what}: the handler must be a function")));
    };
    Ok((event, handler.clone()))
}

#[wasm_bindgen]
impl Connection {
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        self.call.machine.borrow().state().as_str().to_owned()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Session | undefined")]
    pub fn session(&self) -> JsValue {
        self.call.page.session.borrow().0.clone()
    }

    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.call.page.session.borrow().1.clone()
    }

    #[wasm_bindgen(getter, js_name = pcId)]
    pub fn pc_id(&self) -> Option<String> {
        self.call.machine.borrow().pc_id().map(str::to_owned)
    }

    /// Milliseconds from the connect call to each step it reached: `sessionStarted`
    /// (startAndConnect), `offerSent`, `answerReceived`, `iceConnected`, `channelOpen`,
    /// `remoteTrack`, `botReady`, `connected`.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionTimings")]
    pub fn timings(&self) -> JsValue {
        js_sys::Object::assign(&js_sys::Object::new(), &self.call.page.timings.borrow()).into()
    }

    /// Which transport carries the call: `"webrtc"` or `"websocket"`.
    #[wasm_bindgen(getter, unchecked_return_type = "\"webrtc\" | \"websocket\"")]
    pub fn transport(&self) -> String {
        self.call.held.carrier.name().to_owned()
    }

    #[wasm_bindgen(getter, js_name = peerConnection, unchecked_return_type = "RTCPeerConnection | undefined")]
    pub fn peer_connection(&self) -> JsValue {
        self.call.held.carrier.peer_connection()
    }

    #[wasm_bindgen(getter, js_name = localStream)]
    pub fn local_stream(&self) -> MediaStream {
        // `Clone::clone`, not JS `MediaStream.clone()` (which would copy the tracks).
        Clone::clone(&self.call.page.local_stream)
    }

    #[wasm_bindgen(getter, js_name = remoteStream)]
    pub fn remote_stream(&self) -> MediaStream {
        Clone::clone(&self.call.page.remote_stream)
    }

    /// Subscribes to an event; returns a function that unsubscribes. Events from before the
    /// connect call resolved are kept for the first handler of their name.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: JsValue, handler: JsValue) -> Result<Function, JsValue> {
        let (event, handler) = event_and_handler(&event, &handler, "on")?;
        if event == "devicechange" {
            super::media::watch_devices(&self.call);
        }
        self.call
            .page
            .events
            .on(&event, &handler)
            .ok_or_else(|| invalid("on: Set.prototype.delete is unavailable"))
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, event: JsValue, handler: JsValue) -> Result<(), JsValue> {
        let (event, handler) = event_and_handler(&event, &handler, "off")?;
        self.call.page.events.off(&event, &handler);
        Ok(())
    }

    /// Sends a string, or any JSON-serialisable value as JSON, on the `chat` channel.
    #[wasm_bindgen(js_name = sendMessage)]
    pub fn send_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        let text = match data.as_string() {
            Some(s) => s,
            None => stringify_js(&data)
                .map_err(|_| invalid("sendMessage: the value is not JSON-serialisable"))?,
        };
        self.send(&text, "sendMessage")
    }

    /// Sends an RTVI message (`label: "rtvi-ai"`, a fresh id); returns the id.
    #[wasm_bindgen(js_name = sendRtvi, skip_typescript)]
    pub fn send_rtvi(&self, kind: JsValue, data: Option<JsValue>) -> Result<String, JsValue> {
        let kind = kind
            .as_string()
            .ok_or_else(|| invalid("sendRtvi: the type must be a string"))?;
        let data = match data {
            None => None,
            Some(d) if d.is_undefined() => None,
            Some(d) => Some(
                value_to_json(&d)
                    .map_err(|_| invalid("sendRtvi: `data` is not JSON-serialisable"))?,
            ),
        };
        let id = self.call.machine.borrow_mut().next_id();
        self.send(
            &stringify(&crate::rtvi::envelope(&kind, &id, data)),
            "sendRtvi",
        )?;
        Ok(id)
    }

    fn send(&self, text: &str, what: &str) -> Result<(), JsValue> {
        if !self.call.machine.borrow().is_channel_open() {
            return Err(closed_error(what));
        }
        self.check_size(text, what)?;
        let sent = self.call.held.carrier.send(text, what);
        sent.map_err(|e| e.with_phase(Phase::Call).into())
    }

    #[wasm_bindgen(js_name = setMicEnabled)]
    pub fn set_mic_enabled(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] enabled: JsValue,
    ) -> Result<(), JsValue> {
        self.set_track(0, &enabled, "setMicEnabled")
    }

    #[wasm_bindgen(js_name = setCameraEnabled)]
    pub fn set_camera_enabled(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] enabled: JsValue,
    ) -> Result<(), JsValue> {
        self.set_track(1, &enabled, "setCameraEnabled")
    }

    fn set_track(&self, index: u8, enabled: &JsValue, what: &str) -> Result<(), JsValue> {
        let Some(enabled) = enabled.as_bool() else {
            return Err(invalid(&format!("{what}: pass true or false")));
        };
        if self.call.is_closed() {
            return Err(closed_error(what));
        }
        if let Some(track) = &self.call.page.tracks.borrow()[index as usize] {
            track.set_enabled(enabled);
        }
        self.call.input(Input::SetTrack { index, enabled });
        Ok(())
    }

    /// Round trip, jitter, loss, counters and levels from the peer connection's stats.
    #[wasm_bindgen(js_name = getStats, unchecked_return_type = "Promise<ConnectionStats>")]
    pub fn get_stats(&self) -> js_sys::Promise {
        self.call.held.carrier.stats()
    }

    /// Ends the connection; calling it again does nothing. Everything is released before the
    /// returned promise resolves.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self) -> js_sys::Promise {
        self.call.input(Input::Disconnect);
        js_sys::Promise::resolve(&JsValue::UNDEFINED)
    }
}
