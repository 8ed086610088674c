//! The error answers every route family shares, and the answers a fault asks for.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::fault::{ErrorStyle, StatusFault};

/// How long a hanging fault holds a request at most.
const HANG: Duration = Duration::from_secs(600);

/// The agent's own refusal: `{"error": ..., "code": ...}`.
pub fn error(status: StatusCode, code: &str, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into(), "code": code}))).into_response()
}

/// A missing or mistyped field, answered 422 with FastAPI's `detail` too.
pub fn unprocessable(msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": msg, "code": "UNPROCESSABLE", "detail": msg})),
    )
        .into_response()
}

pub fn session_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
        format!("no live session `{id}` (unknown or expired)"),
    )
}

pub fn capacity() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "CAPACITY",
        "too many live sessions",
    )
}

/// The response a status fault asks for. `authorization` is echoed only by the `-echo` style,
/// whose whole point is to put a credential where the SDK must not show it.
pub fn fault_response(f: StatusFault, what: &str, authorization: &str) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let msg = format!("fault injected: {what} answers {}", f.status);
    match f.style {
        ErrorStyle::Json => error(status, "FAULT", msg),
        ErrorStyle::Detail => (status, Json(json!({"detail": msg}))).into_response(),
        ErrorStyle::Echo => error(
            status,
            "FAULT",
            format!("{msg}; received Authorization: {authorization}"),
        ),
        ErrorStyle::Text => {
            let mut body = format!("<html><body><h1>{} {msg}</h1>", f.status);
            while body.len() < 640 {
                body.push_str("<p>This page stands in for a proxy's error page.</p>");
            }
            body.push_str("</body></html>");
            (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
    }
}

/// Holds a request (a `*-hang` fault) until the client gives up, at most [`HANG`].
pub async fn hang() -> Response {
    tokio::time::sleep(HANG).await;
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "FAULT",
        "fault injected: hang ended",
    )
}
