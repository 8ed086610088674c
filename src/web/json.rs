//! JS values to and from `serde_json::Value`, the core's currency. Every read of a caller's value
//! goes through here and cannot throw: a getter or proxy trap that throws, a cycle, a `BigInt`, a
//! `toJSON()` that returns nothing all become `invalid_options`.

use crate::error::Error;
use js_sys::Reflect;
use serde_json::{Map, Value};
use wasm_bindgen::{JsCast, JsValue};

/// Every JSON option any entry point reads (the others — `signal`, `session`, `audio`, `video` —
/// are read by the web layer itself). Only these are read from the caller's object, once each.
const JSON_OPTIONS: [&str; 18] = [
    "baseUrl",
    "platform",
    "agent",
    "apiKey",
    "headers",
    "startUrl",
    "offerUrl",
    "createDailyRoom",
    "dailyRoomProperties",
    "dailyMeetingTokenProperties",
    "enableDefaultIceServers",
    "transport",
    "body",
    "timeoutMs",
    "iceServers",
    "requestData",
    "waitForBotReady",
    "reconnect",
];

/// `obj[key]`, with a throwing getter or proxy trap reported as `invalid_options`; `undefined`
/// for anything that is not an object.
pub fn get(obj: &JsValue, key: &str) -> Result<JsValue, Error> {
    if !obj.is_object() && !obj.is_function() {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(obj, &JsValue::from_str(key))
        .map_err(|_| Error::invalid(format!("reading option `{key}` threw")))
}

/// Reads an options argument as a JSON object of the known options. `undefined`/`null` become
/// `null` and anything that is not a plain object a non-object, so that the core rejects them
/// with its usual message.
pub fn options_to_json(options: &JsValue) -> Result<Value, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(Value::Null);
    }
    if !options.is_object() || options.is_function() || options.is_instance_of::<js_sys::Array>() {
        return Ok(Value::Array(Vec::new()));
    }
    let mut map = Map::new();
    for key in JSON_OPTIONS {
        let value = get(options, key)?;
        if value.is_undefined() {
            continue;
        }
        let json = value_to_json(&value)
            .map_err(|_| Error::invalid(format!("`{key}` must be a JSON value")))?;
        map.insert(key.to_owned(), json);
    }
    Ok(Value::Object(map))
}

/// A JS value as JSON, through the browser's own `JSON.stringify` (so `toJSON`, `Date`s and
/// holes behave as they do everywhere else). `undefined` is `null`.
pub fn value_to_json(value: &JsValue) -> Result<Value, ()> {
    if value.is_function() || value.is_symbol() || value.is_bigint() {
        return Err(());
    }
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    let text = js_sys::JSON::stringify(value).map_err(|_| ())?;
    // `undefined` when `toJSON()` returned nothing.
    let text = text.as_string().ok_or(())?;
    serde_json::from_str(&text).map_err(|_| ())
}

/// Plain JS objects and arrays (never `Map`s).
pub fn json_to_js(value: &Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::UNDEFINED)
}
