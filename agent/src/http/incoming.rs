//! A request taken apart once: body within the size limit, the Bearer key check, and the fault
//! spec it asks for. Every start/offer request is also recorded for `/debug/requests` here.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::errors::error;
use super::App;
use crate::fault::Faults;

pub struct Incoming {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    body: Result<Bytes, ()>,
}

/// Reads the body (bounded) and records the request for `/debug/requests`.
pub async fn take(app: &App, req: Request) -> Incoming {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, app.cfg.max_body_bytes)
        .await
        .map_err(|_| ());
    app.log().record(
        &parts.method,
        &parts.uri,
        &parts.headers,
        body.as_ref().ok().map(|b| &b[..]),
    );
    Incoming {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    }
}

impl Incoming {
    pub fn body(&self) -> Result<&Bytes, Response> {
        self.body.as_ref().map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body is over the size limit",
            )
        })
    }

    /// The body as a JSON value; an empty body counts as `{}`.
    pub fn json(&self) -> Result<Value, Response> {
        let body = self.body()?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                format!("request body is not valid JSON: {e}"),
            )
        })
    }

    pub fn authorization(&self) -> &str {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn check_key(&self, app: &App) -> Result<(), Response> {
        let Some(key) = &app.cfg.api_key else {
            return Ok(());
        };
        if self.authorization() == format!("Bearer {key}") {
            Ok(())
        } else {
            Err(error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong Bearer key",
            ))
        }
    }

    /// Faults asked for by this request on top of `base`: the `fault` query parameter and the
    /// `x-agent-fault` header. Returns the normalised spec and the parsed faults.
    pub fn faults(&self, base: &str) -> Result<(String, Faults), Response> {
        let mut spec = base.to_string();
        let query = self.uri.query().unwrap_or("");
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("fault=") {
                spec.push(',');
                spec.push_str(&percent_decode(v));
            }
        }
        if let Some(v) = self
            .headers
            .get("x-agent-fault")
            .and_then(|v| v.to_str().ok())
        {
            spec.push(',');
            spec.push_str(v);
        }
        let spec = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        Faults::parse(&spec)
            .map(|f| (spec, f))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "INVALID_FAULT", e))
    }
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        assert_eq!(percent_decode("start-500%2Csilent"), "start-500,silent");
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
