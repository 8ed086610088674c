//! The one error type of the SDK. The web layer turns it into a JS `AgentRtcError`.

use crate::json::{Map, Value};
use std::fmt;

/// What went wrong, as a stable string code (docs/api.md's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidOptions,
    Http,
    BadResponse,
    Timeout,
    Aborted,
    Media,
    Webrtc,
    IceFailed,
    Signalling,
    Closed,
    BotError,
    /// The browser lacks what the transport needs (`RTCPeerConnection`, `WebSocket`,
    /// `AudioWorklet`); nothing was sent.
    Unsupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidOptions => "invalid_options",
            ErrorCode::Http => "http",
            ErrorCode::BadResponse => "bad_response",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Aborted => "aborted",
            ErrorCode::Media => "media",
            ErrorCode::Webrtc => "webrtc",
            ErrorCode::IceFailed => "ice_failed",
            ErrorCode::Signalling => "signalling",
            ErrorCode::Closed => "closed",
            ErrorCode::BotError => "bot_error",
            ErrorCode::Unsupported => "unsupported",
        }
    }
}

/// Which step of a start or connect an error happened in (`details.phase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Start,
    Media,
    Offer,
    Ice,
    Channel,
    /// The WebSocket transport's socket opening.
    Socket,
    BotReady,
    /// After the connect call resolved: a failure of the live call.
    Call,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Media => "media",
            Phase::Offer => "offer",
            Phase::Ice => "ice",
            Phase::Channel => "channel",
            Phase::Socket => "socket",
            Phase::BotReady => "bot-ready",
            Phase::Call => "call",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub status: Option<u16>,
    pub retryable: bool,
    /// Boxed: errors travel in every `Result` of the crate and should stay small.
    pub details: Box<Details>,
}

/// `details` of an `AgentRtcError`: typed, each field set only where it applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub phase: Option<Phase>,
    /// The browser's `DOMException` name (`media`, `webrtc`).
    pub name: Option<String>,
    /// The server's own `error`, `code` and `detail` fields of a non-2xx JSON answer.
    pub error: Option<Value>,
    pub server_code: Option<Value>,
    pub detail: Option<Value>,
    /// The start of a non-JSON error body.
    pub body: Option<String>,
    /// The budget that ran out (`timeout`).
    pub timeout_ms: Option<f64>,
    /// The request never got an answer.
    pub network: bool,
    /// What the bot sent with an `error-response`.
    pub data: Option<Value>,
    /// Why a live call ended (`ice_failed`, `signalling` after a lost connection).
    pub reason: Option<&'static str>,
    /// A WebSocket's close code and reason, when the browser gave them.
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

/// Retrying can help for these statuses (rate limits, server trouble, request timeouts).
pub fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Longest part of a non-JSON error body kept in `details.body`.
pub const MAX_BODY_EXCERPT: usize = 512;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(code, ErrorCode::Timeout);
        Error {
            code,
            message: message.into(),
            status: None,
            retryable,
            details: Box::default(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidOptions, message)
    }

    pub fn with_phase(mut self, phase: Phase) -> Self {
        self.details.phase = Some(phase);
        self
    }

    pub fn with_name(mut self, name: String) -> Self {
        self.details.name = Some(name);
        self
    }

    pub fn phase(&self) -> Option<&'static str> {
        self.details.phase.map(Phase::as_str)
    }

    pub fn timeout(phase: Phase, timeout_ms: f64) -> Self {
        let mut e = Error::new(
            ErrorCode::Timeout,
            // Whole milliseconds: f64 Display would pull ~15 KB of float formatting into the wasm.
            format!(
                "timed out after {} ms during {}",
                crate::json::decimal(timeout_ms.round() as u64),
                phase.as_str()
            ),
        )
        .with_phase(phase);
        e.details.timeout_ms = Some(timeout_ms);
        e
    }

    pub fn aborted(phase: Phase) -> Self {
        Error::new(
            ErrorCode::Aborted,
            format!("aborted by the caller's signal during {}", phase.as_str()),
        )
        .with_phase(phase)
    }

    /// The request never got an HTTP answer (DNS, refused connection, CORS).
    pub fn network(phase: Phase, what: &str) -> Self {
        let mut e = Error::new(
            ErrorCode::Http,
            format!("{what} request failed: network error"),
        )
        .with_phase(phase);
        e.details.network = true;
        e.retryable = true;
        e
    }

    /// A non-2xx answer: `body` is its text, `json` the same parsed when it is JSON. Its
    /// `{error, code}` or `{detail}` fields, or an excerpt of it, go into `details`. Every
    /// `secret` (the caller's key and header values, which a server may echo back) is cut out of
    /// what comes from the server, whatever its length; the SDK's own wording is never touched.
    pub fn http(
        phase: Phase,
        what: &str,
        status: u16,
        body: &str,
        json: Option<&Value>,
        secrets: &[&str],
    ) -> Self {
        let mut kept: Vec<&str> = secrets.to_vec();
        kept.retain(|s| !s.is_empty());
        let secrets = kept;
        let mut details = Box::new(Details {
            phase: Some(phase),
            ..Details::default()
        });
        let field = |key: &str| {
            json.and_then(|v| v.get(key)).map(|v| {
                let mut v = v.clone();
                redact_value(&mut v, &secrets);
                v
            })
        };
        let (error, server_code, detail) = (field("error"), field("code"), field("detail"));
        if error.is_none() && server_code.is_none() && detail.is_none() {
            // Secrets out first: a cut through one would keep its first part.
            let mut excerpt = String::new();
            for (n, c) in redact_text(body, &secrets).chars().enumerate() {
                if n == MAX_BODY_EXCERPT {
                    break;
                }
                excerpt.push(c);
            }
            if !excerpt.is_empty() {
                details.body = Some(excerpt);
            }
        }
        let server_text = error
            .as_ref()
            .or(detail.as_ref())
            .and_then(Value::as_str)
            .map(|t| truncate(t, 200));
        let code = crate::json::decimal(status.into());
        let message = match server_text {
            Some(text) => format!("{what} request failed with HTTP {code}: {text}"),
            None => format!("{what} request failed with HTTP {code}"),
        };
        (details.error, details.server_code, details.detail) = (error, server_code, detail);
        Error {
            code: ErrorCode::Http,
            message,
            status: Some(status),
            retryable: status_is_retryable(status),
            details,
        }
    }

    pub fn bad_response(phase: Phase, message: impl Into<String>) -> Self {
        Error::new(ErrorCode::BadResponse, message).with_phase(phase)
    }
}

pub const REDACTED: &str = "[redacted]";

/// A value in double quotes, for messages.
pub fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// Every occurrence of every secret replaced, longest first (a secret that contains another
/// goes out whole).
fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut left = secrets.to_vec();
    let mut out = text.to_owned();
    // Longest first, by picking (a sort would cost the wasm a sort implementation).
    while let Some(i) = (0..left.len()).max_by_key(|&i| left[i].len()) {
        let secret = left.swap_remove(i);
        if crate::substring::contains(&out, secret) {
            out = crate::substring::replace(&out, secret, REDACTED);
        }
    }
    out
}

/// Strings and object keys, at any depth.
fn redact_value(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(s) => *s = redact_text(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secrets)),
        Value::Object(map) => {
            let mut redacted = Map::new();
            for (key, mut v) in std::mem::take(map) {
                redact_value(&mut v, secrets);
                redacted.put(redact_text(&key, secrets), v);
            }
            *map = redacted;
        }
        _ => {}
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((idx, _)) => format!("{}…", s.get(..idx).unwrap_or(s)),
        None => s.to_owned(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http(status: u16, body: &str, secrets: &[&str]) -> Error {
        Error::http(
            Phase::Start,
            "start",
            status,
            body,
            crate::json::parse(body).as_ref(),
            secrets,
        )
    }

    /// The details as the JS object shows them.
    fn shown(e: &Error) -> serde_json::Value {
        let d = &e.details;
        let mut out = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                out.insert(k.into(), v);
            }
        };
        put("error", d.error.as_ref().map(Into::into));
        put("code", d.server_code.as_ref().map(Into::into));
        put("detail", d.detail.as_ref().map(Into::into));
        put("body", d.body.clone().map(Into::into));
        put("phase", d.phase.map(|p| p.as_str().into()));
        serde_json::Value::Object(out)
    }

    #[test]
    fn http_errors_map_bodies_and_retryability() {
        struct Case {
            status: u16,
            body: &'static str,
            retryable: bool,
            details: serde_json::Value,
            message_has: &'static str,
        }
        let long = "x".repeat(600);
        let long_body: &'static str = Box::leak(long.into_boxed_str());
        let cases = [
            Case {
                status: 400,
                body: r#"{"error":"bad agent","code":"BAD"}"#,
                retryable: false,
                details: json!({"error":"bad agent","code":"BAD","phase":"start"}),
                message_has: "bad agent",
            },
            Case {
                status: 401,
                body: r#"{"detail":"nope"}"#,
                retryable: false,
                details: json!({"detail":"nope","phase":"start"}),
                message_has: "HTTP 401: nope",
            },
            Case {
                status: 422,
                body: r#"{"detail":[{"loc":["body"]}]}"#,
                retryable: false,
                details: json!({"detail":[{"loc":["body"]}],"phase":"start"}),
                message_has: "422",
            },
            Case {
                status: 408,
                body: "",
                retryable: true,
                details: json!({"phase":"start"}),
                message_has: "HTTP 408",
            },
            Case {
                status: 429,
                body: "slow down",
                retryable: true,
                details: json!({"body":"slow down","phase":"start"}),
                message_has: "HTTP 429",
            },
            Case {
                status: 500,
                body: "<html>oops</html>",
                retryable: true,
                details: json!({"body":"<html>oops</html>","phase":"start"}),
                message_has: "HTTP 500",
            },
            Case {
                status: 503,
                body: r#"{"other":1}"#,
                retryable: true,
                details: json!({"body":"{\"other\":1}","phase":"start"}),
                message_has: "HTTP 503",
            },
            Case {
                status: 404,
                body: "[1,2]",
                retryable: false,
                details: json!({"body":"[1,2]","phase":"start"}),
                message_has: "HTTP 404",
            },
            Case {
                status: 502,
                body: long_body,
                retryable: true,
                details: json!({"body": "x".repeat(512), "phase":"start"}),
                message_has: "HTTP 502",
            },
        ];
        for case in cases {
            let e = http(case.status, case.body, &[]);
            assert_eq!(e.code, ErrorCode::Http);
            assert_eq!(e.status, Some(case.status));
            assert_eq!(e.retryable, case.retryable, "status {}", case.status);
            assert_eq!(shown(&e), case.details, "status {}", case.status);
            assert!(e.message.contains(case.message_has), "{}", e.message);
        }
    }

    #[test]
    fn redaction_reaches_message_and_nested_details() {
        let key = "pk_live_secret123";
        let body = format!(
            r#"{{"error":"bad key Bearer {key}","code":"AUTH","detail":{{"k":["{key}"],"{key}":1}}}}"#
        );
        let e = http(401, &body, &[key]);
        let text = format!("{} {:?} {}", e.message, e, shown(&e));
        assert!(!text.contains(key), "{text}");
        assert!(e.message.contains(REDACTED));
        let e = http(500, &format!("echo {key}"), &[key]);
        assert_eq!(e.details.body.as_deref(), Some("echo [redacted]"));
    }

    #[test]
    fn short_secrets_are_redacted_and_the_sdks_own_words_are_not() {
        // A 3-character key echoed back goes; a header value that happens to be a word of the
        // SDK's own message ("offer") leaves that message alone.
        let body = r#"{"error":"key abc refused for offer"}"#;
        let e = Error::http(
            Phase::Offer,
            "offer",
            403,
            body,
            crate::json::parse(body).as_ref(),
            &["abc", "offer"],
        );
        assert!(
            e.message
                .starts_with("offer request failed with HTTP 403: "),
            "{}",
            e.message
        );
        assert!(
            !e.message["offer request failed".len()..].contains("abc"),
            "{}",
            e.message
        );
        assert_eq!(
            shown(&e)["error"],
            json!("key [redacted] refused for [redacted]")
        );
        // Overlapping secrets: the longer one is cut whole.
        let e = http(500, "tok_abcdef", &["abc", "tok_abcdef"]);
        assert_eq!(e.details.body.as_deref(), Some("[redacted]"));
        // An empty secret redacts nothing.
        let e = http(500, "plain", &[""]);
        assert_eq!(e.details.body.as_deref(), Some("plain"));
    }

    #[test]
    fn codes_and_phases_have_api_names() {
        let all = [
            (ErrorCode::InvalidOptions, "invalid_options"),
            (ErrorCode::Http, "http"),
            (ErrorCode::BadResponse, "bad_response"),
            (ErrorCode::Timeout, "timeout"),
            (ErrorCode::Aborted, "aborted"),
            (ErrorCode::Media, "media"),
            (ErrorCode::Webrtc, "webrtc"),
            (ErrorCode::IceFailed, "ice_failed"),
            (ErrorCode::Signalling, "signalling"),
            (ErrorCode::Closed, "closed"),
            (ErrorCode::BotError, "bot_error"),
        ];
        for (code, name) in all {
            assert_eq!(code.as_str(), name);
        }
        assert_eq!(Phase::BotReady.as_str(), "bot-ready");
        assert_eq!(Phase::Call.as_str(), "call");
        let t = Error::timeout(Phase::Offer, 250.0);
        assert!(t.retryable);
        assert_eq!(t.phase(), Some("offer"));
        let a = Error::aborted(Phase::Start);
        assert!(!a.retryable);
        let n = Error::network(Phase::Start, "start");
        assert!(n.retryable && n.status.is_none());
    }
}
