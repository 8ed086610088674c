//! JSON over fetch, with the call's deadline and the caller's credentials; every failure mapped
//! to an `Error`, with the credentials cut out of whatever the server said.

use super::deadline::Deadline;
use crate::error::{Error, Phase};
use crate::options::Credentials;
use gloo_net::http::{Headers, Request, RequestBuilder};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`: a window's, a worker's, or Node's (an app's server may start sessions).
    #[wasm_bindgen(catch)]
    fn fetch(request: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

#[derive(Clone, Copy, PartialEq)]
pub enum Method {
    Post,
    Patch,
    /// A path probe: whether the server answers at all. A simple request (no body, no headers
    /// of ours, so no preflight and no credentials) that any answer settles, whatever its
    /// status; the server acts on nothing. (Not `no-cors`: Chromium's opaque-response blocking
    /// turns such an answer into a network error.)
    Head,
}

/// Sends `body` and returns the text of a 2xx answer (`Head`: `Ok("")` for any answer).
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
    let probe = method == Method::Head;
    // `web_sys::Headers::set` reports what fetch refuses (gloo's own `header()` would throw).
    let headers = web_sys::Headers::new().map_err(|_| failed())?;
    if !probe {
        headers
            .set("Content-Type", "application/json")
            .map_err(|_| failed())?;
        for (name, value) in credentials.request_headers() {
            headers.set(&name, &value).map_err(|_| {
                Error::invalid(format!("header {name} is not one fetch can send")).with_phase(phase)
            })?;
        }
    }
    let builder: RequestBuilder = match method {
        Method::Post => Request::post(url),
        Method::Patch => Request::patch(url),
        Method::Head => RequestBuilder::new(url).method(gloo_net::http::Method::HEAD),
    }
    .headers(Headers::from_raw(headers))
    .abort_signal(Some(deadline.signal()));
    let built = if probe {
        builder.build()
    } else {
        builder.body(body)
    };
    let request = built.map_err(|_| {
        Error::invalid(format!("the {what} request could not be built")).with_phase(phase)
    })?;
    // gloo-net builds the request; the fetch and the body go through web-sys, so that what the
    // network does only ever becomes our `network` error: gloo's `send()` and `text()` have panic
    // paths (a non-Response, an Err unwrapped) that would bring JsValue's Debug and the glue's
    // debugString into every page.
    let request: web_sys::Request = request.into();
    let response: web_sys::Response = JsFuture::from(fetch(&request).map_err(|_| failed())?)
        .await
        .ok()
        .and_then(|r| r.dyn_into().ok())
        .ok_or_else(failed)?;
    if probe {
        return deadline.check(phase).map(|_| String::new());
    }
    let status = response.status();
    let body = response.text().map_err(|_| failed())?;
    let text = JsFuture::from(body)
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
