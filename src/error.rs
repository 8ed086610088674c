//! The one error type of the SDK. The web layer turns it into a JS `AgentRtcError`.

use serde_json::{Map, Value};
use std::fmt;

/// What went wrong, as a stable string code (API.md's table).
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
    pub details: Map<String, Value>,
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
            details: Map::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidOptions, message)
    }

    pub fn with_phase(self, phase: Phase) -> Self {
        self.with_detail("phase", phase.as_str())
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn phase(&self) -> Option<&str> {
        self.details.get("phase").and_then(Value::as_str)
    }

    pub fn timeout(phase: Phase, timeout_ms: f64) -> Self {
        Error::new(
            ErrorCode::Timeout,
            // Whole milliseconds: f64 Display would pull ~15 KB of float formatting into the wasm.
            format!(
                "timed out after {} ms during {}",
                timeout_ms.round() as u64,
                phase.as_str()
            ),
        )
        .with_phase(phase)
        .with_detail("timeoutMs", timeout_ms)
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
        .with_phase(phase)
        .with_detail("network", true);
        e.retryable = true;
        e
    }

    /// A non-2xx answer. `body` is the response text; its `{error, code}` or `{detail}` fields,
    /// or an excerpt of it, go into `details`. Every `secret` (the caller's key and header values,
    /// which a server may echo back) is cut out of what comes from the server, whatever its
    /// length; the SDK's own wording is never touched.
    pub fn http(phase: Phase, what: &str, status: u16, body: &str, secrets: &[&str]) -> Self {
        let mut details = Map::new();
        let mut server_text: Option<String> = None;
        match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(obj))
                if ["error", "code", "detail"]
                    .iter()
                    .any(|k| obj.contains_key(*k)) =>
            {
                for key in ["error", "code", "detail"] {
                    if let Some(v) = obj.get(key) {
                        details.insert(key.to_owned(), v.clone());
                    }
                }
                server_text = obj.get("error").or_else(|| obj.get("detail")).map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                });
            }
            _ => {
                let excerpt: String = body.chars().take(MAX_BODY_EXCERPT).collect();
                if !excerpt.is_empty() {
                    details.insert("body".to_owned(), Value::String(excerpt));
                }
            }
        }
        let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
        for value in details.values_mut() {
            redact_value(value, &secrets);
        }
        let server_text = server_text.map(|t| redact_text(&t, &secrets));
        details.insert("phase".to_owned(), phase.as_str().into());
        let message = match server_text {
            Some(text) => format!(
                "{what} request failed with HTTP {status}: {}",
                truncate(&text, 200)
            ),
            None => format!("{what} request failed with HTTP {status}"),
        };
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

/// A value in double quotes with JSON escapes, for messages (cheaper in wasm than `{:?}`).
pub fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

/// Every occurrence of every secret replaced, longest first (a secret that contains another
/// goes out whole).
fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut sorted = secrets.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in sorted {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
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
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                redact_value(&mut v, secrets);
                map.insert(redact_text(&key, secrets), v);
            }
        }
        _ => {}
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
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

    #[test]
    fn http_errors_map_bodies_and_retryability() {
        struct Case {
            status: u16,
            body: &'static str,
            retryable: bool,
            details: Value,
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
            let e = Error::http(Phase::Start, "start", case.status, case.body, &[]);
            assert_eq!(e.code, ErrorCode::Http);
            assert_eq!(e.status, Some(case.status));
            assert_eq!(e.retryable, case.retryable, "status {}", case.status);
            assert_eq!(
                Value::Object(e.details.clone()),
                case.details,
                "status {}",
                case.status
            );
            assert!(e.message.contains(case.message_has), "{}", e.message);
        }
    }

    #[test]
    fn redaction_reaches_message_and_nested_details() {
        let key = "pk_live_secret123";
        let body = format!(
            r#"{{"error":"bad key Bearer {key}","code":"AUTH","detail":{{"k":["{key}"],"{key}":1}}}}"#
        );
        let e = Error::http(Phase::Start, "start", 401, &body, &[key]);
        let text = format!("{} {:?} {}", e.message, e, Value::Object(e.details.clone()));
        assert!(!text.contains(key), "{text}");
        assert!(e.message.contains(REDACTED));
        let e = Error::http(Phase::Offer, "offer", 500, &format!("echo {key}"), &[key]);
        assert_eq!(e.details["body"], json!("echo [redacted]"));
    }

    #[test]
    fn short_secrets_are_redacted_and_the_sdks_own_words_are_not() {
        // A 3-character key echoed back goes; a header value that happens to be a word of the
        // SDK's own message ("offer") leaves that message alone.
        let e = Error::http(
            Phase::Offer,
            "offer",
            403,
            r#"{"error":"key abc refused for offer"}"#,
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
            e.details["error"],
            json!("key [redacted] refused for [redacted]")
        );
        // Overlapping secrets: the longer one is cut whole.
        let e = Error::http(
            Phase::Start,
            "start",
            500,
            "tok_abcdef",
            &["abc", "tok_abcdef"],
        );
        assert_eq!(e.details["body"], json!("[redacted]"));
        // An empty secret redacts nothing.
        let e = Error::http(Phase::Start, "start", 500, "plain", &[""]);
        assert_eq!(e.details["body"], json!("plain"));
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
