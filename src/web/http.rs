//! JSON over fetch, with the call's deadline and the caller's credentials; every failure mapped
//! to an `Error` with the key and header values redacted.

use super::deadline::Deadline;
use crate::error::{Error, Phase};
use crate::options::Credentials;
use gloo_net::http::{Request, RequestBuilder};

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
    let result = async {
        deadline.check(phase)?;
        let mut builder: RequestBuilder = match method {
            Method::Post => Request::post(url),
            Method::Patch => Request::patch(url),
        };
        builder = builder.header("Content-Type", "application/json");
        for (name, value) in credentials.request_headers() {
            builder = builder.header(&name, &value);
        }
        let signal = deadline.signal();
        let request = builder
            .abort_signal(Some(&signal))
            .body(body)
            .map_err(|_| {
                Error::invalid(format!("the {what} request could not be built")).with_phase(phase)
            })?;
        let response = match request.send().await {
            Ok(r) => r,
            Err(_) => {
                return Err(deadline
                    .error(phase)
                    .unwrap_or_else(|| Error::network(phase, what)))
            }
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(_) => {
                return Err(deadline
                    .error(phase)
                    .unwrap_or_else(|| Error::network(phase, what)))
            }
        };
        deadline.check(phase)?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(Error::http(phase, what, status, &text))
        }
    }
    .await;
    result.map_err(|e| e.redact(&credentials.secrets()))
}
