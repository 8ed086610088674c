//! JSON over fetch, with the call's deadline and the caller's credentials; every failure mapped
//! to an `Error`, with the credentials cut out of whatever the server said.

use super::deadline::Deadline;
use crate::error::{Error, Phase};
use crate::options::Credentials;
use gloo_net::http::{Headers, Request, RequestBuilder};

#[derive(Clone, Copy)]
pub enum Method {
    Post,
    Patch,
}

/// Sends `body` and returns the text of a 2xx answer.
pub async fn send_json(
    method: Method,
    url: &str,
    credentials: &Credentials,
    body: String,
    deadline: &Deadline,
    phase: Phase,
    what: &str,
) -> Result<String, Error> {
    deadline.check(phase)?;
    let failed = || {
        deadline
            .error(phase)
            .unwrap_or_else(|| Error::network(phase, what))
    };
    // `web_sys::Headers::set` reports what fetch refuses (gloo's own `header()` would throw).
    let headers = web_sys::Headers::new().map_err(|_| failed())?;
    headers
        .set("Content-Type", "application/json")
        .map_err(|_| failed())?;
    for (name, value) in credentials.request_headers() {
        headers.set(&name, &value).map_err(|_| {
            Error::invalid(format!("header {name} is not one fetch can send")).with_phase(phase)
        })?;
    }
    let builder: RequestBuilder = match method {
        Method::Post => Request::post(url),
        Method::Patch => Request::patch(url),
    };
    let signal = deadline.signal();
    let request = builder
        .headers(Headers::from_raw(headers))
        .abort_signal(Some(&signal))
        .body(body)
        .map_err(|_| {
            Error::invalid(format!("the {what} request could not be built")).with_phase(phase)
        })?;
    let response = request.send().await.map_err(|_| failed())?;
    let status = response.status();
    // The body through web-sys: gloo's `Response::text` unwraps `text()`'s Result, which links a
    // panic path and JsValue's Debug (with the glue's debugString) into every page.
    let raw: web_sys::Response = response.into();
    let body = raw.text().map_err(|_| failed())?;
    let text = wasm_bindgen_futures::JsFuture::from(body)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(failed)?;
    deadline.check(phase)?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        let json = super::json::parse_text(&text);
        Err(Error::http(
            phase,
            what,
            status,
            &text,
            json.as_ref(),
            &credentials.secrets(),
        ))
    }
}
