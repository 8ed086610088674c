//! The `Session` class: what `startSession` resolves to. It keeps the start request's credentials
//! privately so that `connectWebRtc` can reuse them for offers to the same origin.

use super::json::to_js;
use crate::error::Error;
use crate::json::{obj, Value};
use crate::options::{Credentials, Transport};
use crate::platform::{resolve_offer_url, Platform};
use crate::session::{ice_servers_value, parse_session_json, StartAnswer};
use js_sys::{Function, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[derive(Clone)]
pub struct SessionData {
    pub answer: StartAnswer,
    pub platform: Platform,
    pub offer_url: Option<String>,
    /// The start URL's origin: credentials are only reused for offer URLs of this origin.
    pub start_origin: String,
    pub credentials: Credentials,
    pub transport: Option<Transport>,
}

thread_local! {
    // Sessions by handle, so that a `Session` passed back inside an options object can be found
    // without consuming the JS object (wasm-bindgen's own conversion takes ownership).
    // A list, not a map: a page holds a handful of sessions, and a map costs ~2 KB of wasm.
    static SESSIONS: RefCell<Vec<(u32, Weak<SessionData>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_HANDLE: Cell<u32> = const { Cell::new(1) };
}

const HANDLE_METHOD: &str = "__agentRtcHandle";

#[wasm_bindgen]
pub struct Session {
    data: Rc<SessionData>,
    handle: u32,
    response: JsValue,
}

impl Session {
    pub fn new(data: SessionData) -> Session {
        let data = Rc::new(data);
        let handle = NEXT_HANDLE.with(|n| {
            let h = n.get();
            n.set(h.wrapping_add(1).max(1));
            h
        });
        SESSIONS.with(|s| s.borrow_mut().push((handle, Rc::downgrade(&data))));
        let response = to_js(&data.answer.raw);
        Session {
            data,
            handle,
            response,
        }
    }

    pub fn data(&self) -> Rc<SessionData> {
        self.data.clone()
    }

    /// Finds the session behind a JS `Session` object (the caller's, not consumed).
    pub fn data_from_js(value: &JsValue) -> Option<Rc<SessionData>> {
        let method = Reflect::get(value, &HANDLE_METHOD.into())
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        let handle = method.call0(value).ok()?.as_f64()? as u32;
        SESSIONS.with(|s| {
            s.borrow()
                .iter()
                .find(|(h, _)| *h == handle)
                .and_then(|(_, d)| d.upgrade())
        })
    }

    /// The session a connect was given: a `Session` (not consumed), or its `toJSON()` (made by
    /// an app's server; no credentials come with it, so none are reused for the offer).
    pub fn resolve(value: &JsValue) -> Result<Rc<SessionData>, Error> {
        if let Some(data) = Self::data_from_js(value) {
            return Ok(data);
        }
        let json = super::json::value_to_json(value).unwrap_or(Value::Null);
        let (answer, platform, offer_url) = parse_session_json(&json)?;
        Ok(Rc::new(SessionData {
            answer,
            platform,
            offer_url,
            start_origin: String::new(),
            credentials: Credentials::default(),
            transport: None,
        }))
    }

    fn json(&self) -> Value {
        let a = &self.data.answer;
        let mut out = obj([
            ("sessionId", a.session_id.as_str().into()),
            ("platform", self.data.platform.as_str().into()),
            ("iceServers", ice_servers_value(&a.ice_servers)),
            ("response", a.raw.clone()),
        ]);
        let optional = [
            ("offerUrl", &self.data.offer_url),
            ("dailyRoom", &a.daily_room),
            ("dailyToken", &a.daily_token),
            ("token", &a.token),
            ("wsUrl", &a.ws_url),
        ];
        if let Value::Object(m) = &mut out {
            for (key, value) in optional {
                if let Some(v) = value {
                    m.insert(key, v.as_str());
                }
            }
        }
        out
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let handle = self.handle;
        SESSIONS.with(|s| s.borrow_mut().retain(|(h, _)| *h != handle));
    }
}

#[wasm_bindgen]
impl Session {
    #[wasm_bindgen(js_name = "__agentRtcHandle", skip_typescript)]
    pub fn js_handle(&self) -> u32 {
        self.handle
    }

    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> String {
        self.data.answer.session_id.clone()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Platform")]
    pub fn platform(&self) -> String {
        self.data.platform.as_str().to_owned()
    }

    /// The resolved offer URL; undefined when none can be derived.
    #[wasm_bindgen(getter, js_name = offerUrl)]
    pub fn offer_url(&self) -> Option<String> {
        self.data.offer_url.clone()
    }

    /// From the answer's `iceConfig`; `[]` when absent.
    #[wasm_bindgen(getter, js_name = iceServers, unchecked_return_type = "RTCIceServer[]")]
    pub fn ice_servers(&self) -> JsValue {
        to_js(&ice_servers_value(&self.data.answer.ice_servers))
    }

    #[wasm_bindgen(getter, js_name = dailyRoom)]
    pub fn daily_room(&self) -> Option<String> {
        self.data.answer.daily_room.clone()
    }

    #[wasm_bindgen(getter, js_name = dailyToken)]
    pub fn daily_token(&self) -> Option<String> {
        self.data.answer.daily_token.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn token(&self) -> Option<String> {
        self.data.answer.token.clone()
    }

    #[wasm_bindgen(getter, js_name = wsUrl)]
    pub fn ws_url(&self) -> Option<String> {
        self.data.answer.ws_url.clone()
    }

    /// The raw start answer, unknown fields kept.
    #[wasm_bindgen(getter, unchecked_return_type = "Record<string, unknown>")]
    pub fn response(&self) -> JsValue {
        self.response.clone()
    }

    /// Everything public about the session (never the key or headers).
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "SessionJSON")]
    pub fn to_json(&self) -> JsValue {
        to_js(&self.json())
    }
}

pub fn session_data(request: &crate::options::StartRequest, answer: StartAnswer) -> SessionData {
    let offer_url = request
        .offer_template
        .as_deref()
        .map(|t| resolve_offer_url(t, Some(&answer.session_id)));
    SessionData {
        answer,
        platform: request.platform,
        offer_url,
        start_origin: request.start_url.origin(),
        credentials: request.credentials.clone(),
        transport: request.transport,
    }
}
