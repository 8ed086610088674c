//! JS values to and from the core's `json::Value`, through the browser's own `JSON` (so the wasm
//! needs no JSON text parser or number formatting). Every read of a caller's value goes through
//! here and cannot throw: a getter or proxy trap that throws, a cycle, a `BigInt`, a `toJSON()`
//! that returns nothing all become `invalid_options`.

use crate::error::Error;
use crate::json::{Map, Value};
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};

/// Deeper values than this are refused (they would only exhaust the stack).
const MAX_DEPTH: u32 = 100;

/// Every JSON option any entry point reads (the others — `signal`, `session`, `audio`, `video` —
/// are read by the web layer itself). Only these are read from the caller's object, once each.
const JSON_OPTIONS: [&str; 22] = [
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
    "wsUrl",
    "token",
    "workletUrl",
    "fallbackAfterMs",
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
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    parse_text(&stringify_js(value)?).ok_or(())
}

/// `JSON.stringify(value)`, refusing what has no JSON text (functions, symbols, `BigInt`s,
/// cycles, a throwing `toJSON`, a `toJSON()` that returns nothing).
pub fn stringify_js(value: &JsValue) -> Result<String, ()> {
    if value.is_function() || value.is_symbol() || value.is_bigint() {
        return Err(());
    }
    JSON::stringify(value).map_err(drop)?.as_string().ok_or(())
}

/// JSON text as a value; `None` when it is not JSON (or nested deeper than the limit).
pub fn parse_text(text: &str) -> Option<Value> {
    match parse_message(text)? {
        (v, false) => Some(v),
        _ => None,
    }
}

/// JSON text as a value (`None`: not JSON), and whether it was nested deeper than the limit:
/// then what lies below the limit reads as `null`.
pub fn parse_message(text: &str) -> Option<(Value, bool)> {
    let mut cut = false;
    let v = walk(&JSON::parse(text).ok()?, MAX_DEPTH, &mut cut)?;
    Some((v, cut))
}

/// Reads what `JSON.parse` made (plain data: no getters, proxies or cycles).
fn walk(v: &JsValue, depth: u32, cut: &mut bool) -> Option<Value> {
    if v.is_null() || v.is_undefined() {
        return Some(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Some(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        return Some(Value::Number(n));
    }
    if let Some(s) = v.as_string() {
        return Some(Value::String(s));
    }
    let Some(depth) = depth.checked_sub(1) else {
        *cut = true;
        return Some(Value::Null);
    };
    if Array::is_array(v) {
        let items: &Array = v.unchecked_ref();
        let mut out = Vec::new();
        for x in items.iter() {
            out.push(walk(&x, depth, cut)?);
        }
        return Some(Value::Array(out));
    }
    let mut map = Map::new();
    for key in Object::keys(v.unchecked_ref::<Object>()).iter() {
        let value = Reflect::get(v, &key).ok()?;
        map.insert(key.as_string()?, walk(&value, depth, cut)?);
    }
    Some(Value::Object(map))
}

/// Plain JS objects and arrays (never `Map`s): the value's text, parsed by the browser. Two
/// crossings into JS whatever the value's size, where building it here took a few per property.
pub fn to_js(value: &Value) -> JsValue {
    JSON::parse(&stringify(value)).unwrap_or(JsValue::NULL)
}

/// JSON text, as `JSON.stringify` writes it; fractional numbers by the browser's own formatting.
pub fn stringify(value: &Value) -> String {
    value.to_text(&|n, out| {
        if let Ok(text) = js_sys::Number::from(n).to_string_with_radix(10) {
            out.push_str(&String::from(text));
        }
    })
}
