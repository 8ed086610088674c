//! `AgentRtcError`: a real JS `Error` carrying `code`, `status`, `retryable` and `details`.

use super::json::json_to_js;
use crate::error::Error;
use js_sys::Reflect;
use serde_json::Value;
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
    let details = if e.details.is_empty() {
        JsValue::UNDEFINED
    } else {
        json_to_js(&Value::Object(e.details.clone()))
    };
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(obj, &"code".into(), &e.code.as_str().into());
    let _ = Reflect::set(obj, &"status".into(), &status);
    let _ = Reflect::set(obj, &"retryable".into(), &e.retryable.into());
    let _ = Reflect::set(obj, &"details".into(), &details);
    err.into()
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
