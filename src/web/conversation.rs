//! The conversation API on `Connection`: RTVI 2.x messages, client requests and the page's
//! function-call handlers. What each message looks like and what an answer means is the core's
//! (`conversation.rs`, `machine.rs`); this file holds the JS promises and handlers.

use super::connection::Connection;
use super::error::{closed_error, invalid};
use super::json::{get, value_to_json};
use crate::conversation;
use crate::json::Value;
use crate::machine::Input;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How long `sendClientRequest` waits by default.
const DEFAULT_REQUEST_MS: f64 = 10_000.0;

/// `data` as JSON (`undefined`: none).
fn optional_json(data: &JsValue, what: &str) -> Result<Option<Value>, JsValue> {
    if data.is_undefined() {
        return Ok(None);
    }
    value_to_json(data)
        .map(Some)
        .map_err(|_| invalid(&format!("{what}: `data` is not JSON-serialisable")))
}

fn string_arg(value: &JsValue, what: &str) -> Result<String, JsValue> {
    value
        .as_string()
        .ok_or_else(|| invalid(&format!("{what}: pass a string")))
}

fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

#[wasm_bindgen]
impl Connection {
    /// The RTVI version in the bot's `bot-ready`, or undefined before it.
    #[wasm_bindgen(getter, js_name = botVersion)]
    pub fn bot_version(&self) -> Option<String> {
        self.call()
            .machine
            .borrow()
            .bot_version()
            .map(str::to_owned)
    }

    /// RTVI `send-text`: the bot takes `text` as the user's words.
    #[wasm_bindgen(js_name = sendText, skip_typescript)]
    pub fn send_text(&self, text: JsValue, options: JsValue) -> Result<(), JsValue> {
        let text = string_arg(&text, "sendText")?;
        let flag = |key: &str| -> Result<Option<bool>, JsValue> {
            let v = get(&options, key)?;
            if v.is_undefined() || v.is_null() {
                return Ok(None);
            }
            v.as_bool()
                .map(Some)
                .ok_or_else(|| invalid(&format!("sendText: `{key}` must be a boolean")))
        };
        let (run, audio) = (flag("runImmediately")?, flag("audioResponse")?);
        let id = self.call().machine.borrow_mut().next_id();
        self.send_value(&conversation::send_text(&id, &text, run, audio), "sendText")
    }

    /// RTVI `client-message` `{t, d}`, no answer expected; returns its id.
    #[wasm_bindgen(js_name = sendClientMessage, skip_typescript)]
    pub fn send_client_message(&self, kind: JsValue, data: JsValue) -> Result<String, JsValue> {
        let kind = string_arg(&kind, "sendClientMessage")?;
        let data = optional_json(&data, "sendClientMessage")?;
        let id = self.call().machine.borrow_mut().next_id();
        self.send_value(
            &conversation::client_message(&id, &kind, data),
            "sendClientMessage",
        )?;
        Ok(id)
    }

    /// RTVI `client-message` answered by `server-response` (its `d`) or `error-response`
    /// (`bot_error`); `timeout` after `timeoutMs` (10 s); `closed` if the call ends first.
    #[wasm_bindgen(js_name = sendClientRequest, skip_typescript)]
    pub fn send_client_request(&self, kind: JsValue, data: JsValue, options: JsValue) -> Promise {
        self.client_request(kind, data, options)
            .unwrap_or_else(rejected)
    }

    fn client_request(
        &self,
        kind: JsValue,
        data: JsValue,
        options: JsValue,
    ) -> Result<Promise, JsValue> {
        let kind = string_arg(&kind, "sendClientRequest")?;
        let data = optional_json(&data, "sendClientRequest")?;
        let ms = get(&options, "timeoutMs")?;
        let timeout_ms = if ms.is_undefined() || ms.is_null() {
            DEFAULT_REQUEST_MS
        } else {
            ms.as_f64()
                .filter(|m| m.is_finite() && *m > 0.0)
                .ok_or_else(|| {
                    invalid("sendClientRequest: `timeoutMs` must be a positive number")
                })?
        };
        let call = self.call().clone();
        if call.is_closed() {
            return Err(closed_error("sendClientRequest"));
        }
        let message = conversation::client_message("", &kind, data.clone());
        self.check_size(&super::json::stringify(&message), "sendClientRequest")?;
        let id = call.machine.borrow_mut().next_id();
        let mut slots = None;
        let promise = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
        let (resolve, reject) = slots.ok_or_else(|| invalid("Promise is unavailable"))?;
        call.page
            .requests
            .borrow_mut()
            .push((id.clone(), resolve, reject));
        call.input(Input::Request {
            id,
            kind,
            data,
            timeout_ms,
        });
        Ok(promise)
    }

    /// Answers the bot's calls of `name` with what `handler(args, { toolCallId, functionName })`
    /// returns (or resolves to); a handler that throws sends `{error}`. Returns the unregister
    /// function.
    #[wasm_bindgen(js_name = registerFunctionCallHandler, skip_typescript)]
    pub fn register_function_call_handler(
        &self,
        name: JsValue,
        handler: JsValue,
    ) -> Result<Function, JsValue> {
        let name = string_arg(&name, "registerFunctionCallHandler")?;
        let Some(handler) = handler.dyn_ref::<Function>() else {
            return Err(invalid(
                "registerFunctionCallHandler: the handler must be a function",
            ));
        };
        let functions = &self.call().page.functions;
        functions.set(&JsValue::from_str(&name), handler);
        // `map.delete.bind(map, name)`: no Rust closure behind it.
        super::events::bound_delete(functions, &JsValue::from_str(&name)).ok_or_else(|| {
            invalid("registerFunctionCallHandler: Map.prototype.delete is unavailable")
        })
    }

    /// RTVI `disconnect-bot`: asks the bot to end the session.
    #[wasm_bindgen(js_name = disconnectBot, skip_typescript)]
    pub fn disconnect_bot(&self) -> Result<(), JsValue> {
        let id = self.call().machine.borrow_mut().next_id();
        self.send_value(&conversation::disconnect_bot(&id), "disconnectBot")
    }

    /// RTVI `dtmf` with every key of `digits` (0-9, *, #, A-D).
    #[wasm_bindgen(js_name = sendDtmf, skip_typescript)]
    pub fn send_dtmf(&self, digits: JsValue) -> Result<(), JsValue> {
        let digits = string_arg(&digits, "sendDtmf")?;
        let id = self.call().machine.borrow_mut().next_id();
        let message = conversation::dtmf(&id, &digits)?;
        self.send_value(&message, "sendDtmf")
    }
}
