//! `startAndConnect()`: over the transport its `transport` option names — WebRTC (the default),
//! a WebSocket — or with `"auto"` wherever the page can: WebRTC when it works, a WebSocket when
//! it cannot (no `RTCPeerConnection`; ICE not connected `fallbackAfterMs` after the answer, or
//! failed; the offer unable to reach the server), and straight to a WebSocket for the rest of the
//! page's session once WebRTC could not connect here (`sessionStorage`).

use super::call::Handover;
use super::connect::start_and_connect_rtc;
use super::connection::Connection;
use super::json::{get, options_to_json};
use super::media::stop_all;
use super::wait::now_ms;
#[cfg(feature = "websocket")]
use super::websocket::connect as socket;
/// The measuring build without the transport (Cargo.toml's `websocket` feature).
#[cfg(not(feature = "websocket"))]
mod socket {
    use super::*;
    pub async fn start_and_connect(_: JsValue, _: Option<JsValue>) -> Result<Connection, JsValue> {
        Err(Error::new(
            crate::error::ErrorCode::Unsupported,
            "this build has no WebSocket transport",
        )
        .into())
    }
}
use crate::error::Error;
use crate::json::Value;
use crate::options::{Fields, StartRequest, Transport, DEFAULT_TIMEOUT_MS};
use js_sys::{Object, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Where the page's session remembers that WebRTC could not connect (nothing secret).
const REMEMBER: &str = "agent-rtc:transport";
/// How long ICE may take after the answer before `auto` gives up on WebRTC.
const FALLBACK_AFTER_MS: f64 = 4_000.0;

/// Starts a session and connects to it in one call (see `startAndConnect` in docs/api.md).
#[wasm_bindgen(js_name = startAndConnect, unchecked_return_type = "Promise<Connection>")]
pub fn start_and_connect_js(
    #[wasm_bindgen(unchecked_param_type = "StartAndConnectOptions")] options: JsValue,
) -> js_sys::Promise {
    super::export_promise(start_and_connect(options))
}

/// `startAndConnect()` (what the export's promise resolves to).
pub async fn start_and_connect(options: JsValue) -> Result<Connection, JsValue> {
    let json = options_to_json(&options)?;
    if json.str_at("transport") == Some("auto") {
        return auto(options, &json).await;
    }
    let request = StartRequest::from_options(&json, Some(Transport::Webrtc))?;
    if request.transport == Some(Transport::Websocket) {
        return socket::start_and_connect(options, None).await;
    }
    start_and_connect_rtc(options, json, request, None).await
}

/// A copy of the caller's options with `changes` made (the caller's object is not touched).
fn with(options: &JsValue, changes: &[(&str, JsValue)]) -> JsValue {
    let copy = Object::assign(&Object::new(), options.unchecked_ref());
    for (key, value) in changes {
        let _ = Reflect::set(&copy, &JsValue::from_str(key), value);
    }
    copy.into()
}

/// The `fallback` event's argument.
fn fallback(reason: &str) -> JsValue {
    let mut m = crate::json::Map::new();
    m.insert("from", "webrtc");
    m.insert("to", "websocket");
    m.insert("reason", reason);
    super::json::to_js(&Value::Object(m))
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Why a failed WebRTC connect should be tried again over a WebSocket; `None`: a second
/// transport would not fix it (a start the server refused, bad options, an abort, a denied
/// microphone, a timeout of the whole call).
fn fallback_reason(e: &JsValue) -> Option<&'static str> {
    let details = get(e, "details").unwrap_or(JsValue::UNDEFINED);
    let read = |v: &JsValue, key: &str| get(v, key).ok().and_then(|v| v.as_string());
    match read(e, "code").as_deref() {
        Some("ice_failed") if read(&details, "reason").as_deref() == Some("ice-timeout") => {
            Some("ice-timeout")
        }
        Some("ice_failed") => Some("ice-failed"),
        Some("http")
            if read(&details, "phase").as_deref() == Some("offer")
                && get(&details, "network").ok() == Some(JsValue::TRUE) =>
        {
            Some("offer-unreachable")
        }
        Some("unsupported") => Some("no-webrtc"),
        _ => None,
    }
}

async fn auto(options: JsValue, json: &Value) -> Result<Connection, JsValue> {
    let t0 = now_ms();
    let Value::Object(map) = json else {
        return Err(Error::invalid("options must be an object").into());
    };
    let f = Fields(map);
    let fallback_ms = f.positive_ms("fallbackAfterMs", FALLBACK_AFTER_MS)?;
    let timeout_ms = f.positive_ms("timeoutMs", DEFAULT_TIMEOUT_MS)?;
    let no_webrtc = !Reflect::has(&js_sys::global(), &"RTCPeerConnection".into()).unwrap_or(false);
    let storage = session_storage();
    let remembered = storage
        .as_ref()
        .and_then(|s| s.get_item(REMEMBER).ok().flatten())
        .as_deref()
        == Some("websocket");
    if no_webrtc || remembered {
        let reason = if no_webrtc { "no-webrtc" } else { "remembered" };
        // The WebSocket transport carries audio only: a camera asked for is left out.
        let options = with(
            &options,
            &[("transport", "websocket".into()), ("video", JsValue::FALSE)],
        );
        return socket::start_and_connect(options, Some(fallback(reason))).await;
    }
    // The microphone is asked for once, by the WebRTC try (beside its start request); if that
    // try cannot connect, the tracks it opened are handed over here, not stopped.
    let handed: Handover = Rc::default();
    // The microphone may end up carried by the WebSocket call, whose bot plays from Web Audio:
    // asked for with the canceller covering that too (`MediaChoice::cancel_all_echo`).
    let audio = get(&options, "audio")?;
    let audio = if audio.is_undefined() || audio.is_null() || audio == JsValue::TRUE {
        crate::web::media::echo_all()
    } else {
        audio
    };
    let first = with(
        &options,
        &[
            ("transport", "webrtc".into()),
            ("fallbackAfterMs", fallback_ms.into()),
            ("audio", audio),
        ],
    );
    let first_json = options_to_json(&first)?;
    let request = StartRequest::from_options(&first_json, Some(Transport::Webrtc))?;
    let error = match start_and_connect_rtc(first, first_json, request, Some(handed.clone())).await
    {
        Ok(conn) => {
            // From now on the call stops its tracks at its end, as any call does.
            conn.call().held.hand_over.take();
            return Ok(conn);
        }
        Err(e) => e,
    };
    let own = std::mem::take(&mut *handed.borrow_mut());
    let Some(reason) = fallback_reason(&error) else {
        stop_all(&own);
        return Err(error);
    };
    // The WebSocket call carries audio only: a camera the first try opened is stopped.
    let (own, video): (Vec<_>, Vec<_>) = own.into_iter().partition(|t| t.kind() == "audio");
    stop_all(&video);
    let mic = match own.first() {
        Some(track) => JsValue::from(track),
        None => get(&options, "audio")?,
    };
    let owned = |conn: Connection| {
        // The call that carries on stops the microphone the first try opened, at its end.
        conn.call()
            .held
            .own_tracks
            .borrow_mut()
            .extend(own.iter().cloned());
        conn
    };
    if let Some(s) = &storage {
        let _ = s.set_item(REMEMBER, "websocket");
    }
    // What is left of the whole call's budget.
    let left = timeout_ms - (now_ms() - t0);
    if left <= 0.0 {
        stop_all(&own);
        return Err(Error::timeout(crate::error::Phase::Start, timeout_ms).into());
    }
    let second = with(
        &options,
        &[
            ("transport", "websocket".into()),
            ("audio", mic),
            ("video", JsValue::FALSE),
            ("timeoutMs", left.into()),
        ],
    );
    match socket::start_and_connect(second, Some(fallback(reason))).await {
        Ok(conn) => Ok(owned(conn)),
        Err(e) => {
            stop_all(&own);
            Err(e)
        }
    }
}
