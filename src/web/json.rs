//! JS values to and from `serde_json::Value`, the core's currency.

use crate::error::Error;
use js_sys::{Array, Object};
use serde_json::{Map, Value};
use wasm_bindgen::{JsCast, JsValue};

/// Reads an options argument as a JSON object, leaving out the keys in `skip` (values that are not
/// JSON, such as an `AbortSignal`, which the caller reads itself). Anything that is not a plain
/// object becomes a non-object value so that the core rejects it with its usual message.
pub fn options_to_json(options: &JsValue, skip: &[&str]) -> Result<Value, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(Value::Null);
    }
    if Array::is_array(options) || !options.is_object() || options.is_function() {
        return Ok(Value::Array(Vec::new()));
    }
    let object: &Object = options.unchecked_ref();
    let mut map = Map::new();
    for entry in Object::entries(object).iter() {
        let pair: Array = entry.unchecked_into();
        let Some(key) = pair.get(0).as_string() else {
            continue;
        };
        if skip.contains(&key.as_str()) {
            continue;
        }
        let value = pair.get(1);
        let json = value_to_json(&value)
            .map_err(|_| Error::invalid(format!("`{key}` must be a JSON value")))?;
        map.insert(key, json);
    }
    Ok(Value::Object(map))
}

pub fn value_to_json(value: &JsValue) -> Result<Value, ()> {
    if value.is_function() || value.is_symbol() || value.is_bigint() {
        return Err(());
    }
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    let text = js_sys::JSON::stringify(value).map_err(|_| ())?;
    serde_json::from_str(&String::from(text)).map_err(|_| ())
}

/// Plain JS objects and arrays (never `Map`s).
pub fn json_to_js(value: &Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::UNDEFINED)
}
