//! `AgentRtcError`: a real JS `Error` carrying `code`, `status`, `retryable` and `details`.

use super::json::to_js;
use crate::error::{Error, ErrorCode};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub const ERROR_NAME: &str = "AgentRtcError";

pub fn to_js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name(ERROR_NAME);
    let obj: &JsValue = err.as_ref();
    let status = e
        .status
        .map(|s| JsValue::from(s as f64))
        .unwrap_or(JsValue::UNDEFINED);
    // Setting a property on a fresh object cannot fail.
    let set = |target: &JsValue, key: &str, value: &JsValue| {
        let _ = Reflect::set(target, &JsValue::from_str(key), value);
    };
    let details = if e.details.is_empty() {
        JsValue::UNDEFINED
    } else {
        let d = &e.details;
        let out: JsValue = Object::new().into();
        let server = [
            ("error", &d.error),
            ("code", &d.server_code),
            ("detail", &d.detail),
            ("data", &d.data),
        ];
        for (key, value) in server {
            if let Some(v) = value {
                set(&out, key, &to_js(v));
            }
        }
        let text = [
            ("body", &d.body),
            ("name", &d.name),
            ("closeReason", &d.close_reason),
        ];
        for (key, value) in text {
            if let Some(v) = value {
                set(&out, key, &JsValue::from_str(v));
            }
        }
        if let Some(p) = d.phase {
            set(&out, "phase", &p.as_str().into());
        }
        if let Some(ms) = d.timeout_ms {
            set(&out, "timeoutMs", &ms.into());
        }
        if let Some(r) = d.reason {
            set(&out, "reason", &r.into());
        }
        if let Some(code) = d.close_code {
            set(&out, "closeCode", &code.into());
        }
        if d.network {
            set(&out, "network", &JsValue::TRUE);
        }
        out
    };
    set(obj, "code", &e.code.as_str().into());
    set(obj, "status", &status);
    set(obj, "retryable", &e.retryable.into());
    set(obj, "details", &details);
    err.into()
}

/// `unsupported` unless the page has every one of `names` (globals such as `RTCPeerConnection`)
/// that `transport` needs; checked before anything is sent.
pub fn require_globals(names: &[&str], transport: &str) -> Result<(), Error> {
    let global = js_sys::global();
    for name in names {
        if !Reflect::has(&global, &JsValue::from_str(name)).unwrap_or(false) {
            return Err(Error::new(
                ErrorCode::Unsupported,
                format!("this browser has no {name}: the {transport} transport cannot run here"),
            ));
        }
    }
    Ok(())
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        to_js_error(&e)
    }
}

/// Type guard: `true` for errors this library produced.
#[wasm_bindgen(js_name = isAgentRtcError, unchecked_return_type = "value is AgentRtcError")]
pub fn is_agent_rtc_error(value: &JsValue) -> bool {
    // Property reads that cannot throw: the value may be a proxy with throwing traps.
    let read = |key: &str| Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
    value.is_instance_of::<js_sys::Error>()
        && read("name").as_string().as_deref() == Some(ERROR_NAME)
        && read("code").is_string()
}

/// The `name` of a JS error ("Error" when it has none).
pub fn error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "Error".into())
}

/// "Name: message" of a JS error, or its name alone.
pub fn describe(e: &JsValue) -> String {
    let message = Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_default();
    let name = error_name(e);
    if message.is_empty() {
        name
    } else {
        format!("{name}: {message}")
    }
}

/// A browser API that refused something, as an error of `code`: "`what` failed: Name: message",
/// with the JS error's name kept.
pub fn js_failure(code: ErrorCode, what: &str, e: &JsValue) -> Error {
    Error::new(code, format!("{what} failed: {}", describe(e))).with_name(error_name(e))
}

/// An argument the caller got wrong (`invalid_options`), as the JS error to throw.
pub fn invalid(message: &str) -> JsValue {
    Error::invalid(message).into()
}

/// A method called on a connection that is closed (`closed`).
pub fn closed_error(what: &str) -> JsValue {
    Error::new(
        ErrorCode::Closed,
        format!("{what}: the connection is closed"),
    )
    .into()
}
