//! `startSession()`.

use super::deadline::Deadline;
use super::http::{send_json, Method};
use super::json::{get, options_to_json, parse_text, stringify};
use super::session::{session_data, Session, SessionData};
use crate::error::{Error, Phase};
use crate::options::StartRequest;
use crate::session::StartAnswer;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

/// Starts a voice-agent session: one POST to the platform's start API.
#[wasm_bindgen(js_name = startSession, unchecked_return_type = "Promise<Session>")]
pub fn start_session_js(
    #[wasm_bindgen(unchecked_param_type = "StartSessionOptions")] options: JsValue,
) -> js_sys::Promise {
    super::export_promise(start_session(options))
}

/// `startSession()` (what the export's promise resolves to).
pub async fn start_session(options: JsValue) -> Result<Session, JsValue> {
    let request = StartRequest::from_options(&options_to_json(&options)?, None)?;
    let signal = read_signal(&options)?;
    let deadline = Deadline::new(request.timeout_ms, signal.as_ref())?;
    let data = start(&request, &deadline).await?;
    Ok(Session::new(data))
}

pub fn read_signal(options: &JsValue) -> Result<Option<AbortSignal>, Error> {
    let value = get(options, "signal")?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .dyn_into::<AbortSignal>()
        .map(Some)
        .map_err(|_| Error::invalid("`signal` must be an AbortSignal"))
}

/// A signal that already fired ends a connect before anything is built or sent.
pub fn check_signal(signal: &Option<AbortSignal>, phase: Phase) -> Result<(), Error> {
    match signal {
        Some(s) if s.aborted() => Err(Error::aborted(phase)),
        _ => Ok(()),
    }
}

pub async fn start(request: &StartRequest, deadline: &Deadline) -> Result<SessionData, Error> {
    let text = send_json(
        Method::Post,
        &request.start_url.to_string(),
        &request.credentials,
        stringify(&request.body_value()),
        deadline,
        Phase::Start,
        "start",
    )
    .await?;
    let answer = StartAnswer::parse(parse_text(&text))?;
    Ok(session_data(request, answer))
}
