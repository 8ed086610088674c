//! The last start/offer/socket requests as received, so browser tests can check exactly what the
//! SDK sent (`GET /debug/requests?tag=X` filters on the `x-test-tag` header). Credentials are
//! never kept: the `Authorization` header is stored redacted, with `auth` telling whether it
//! carried the configured key, and so are the WebSocket token in `?token=` or in the
//! `/ws-client/{token}` path.

use std::collections::VecDeque;

use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value};

const KEEP: usize = 500;
/// Headers whose values are credentials: recorded only in redacted form.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];
/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 1] = ["token"];
/// Paths whose last segment is a credential.
const SECRET_PATH_PREFIXES: [&str; 1] = ["/ws-client/"];

#[derive(Default)]
pub struct RequestLog {
    /// The configured `--api-key`, to tell a request that carried it from one that did not.
    api_key: Option<String>,
    entries: VecDeque<(Option<String>, Value)>,
}

impl RequestLog {
    pub fn new(api_key: Option<String>) -> RequestLog {
        RequestLog {
            api_key,
            entries: VecDeque::new(),
        }
    }

    /// `"key"` when the Authorization header is exactly `Bearer <configured key>`, `"other"` for
    /// any other value, `"none"` without the header.
    fn auth_kind(&self, headers: &HeaderMap) -> &'static str {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return "none";
        };
        let matches = self.api_key.as_deref().is_some_and(|key| {
            value
                .as_bytes()
                .strip_prefix(b"Bearer ")
                .is_some_and(|token| token == key.as_bytes())
        });
        if matches {
            "key"
        } else {
            "other"
        }
    }

    pub fn record(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Option<&[u8]>) {
        let mut hs = Map::new();
        for (name, value) in headers {
            let v = if SECRET_HEADERS.contains(&name.as_str()) {
                redact(value.as_bytes())
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            let merged = match hs.remove(name.as_str()) {
                Some(Value::String(prev)) => format!("{prev}, {v}"),
                _ => v,
            };
            hs.insert(name.as_str().to_string(), Value::String(merged));
        }
        let body = match body {
            None => Value::Null,
            Some(b) => serde_json::from_slice(b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
        };
        let tag = headers
            .get("x-test-tag")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let entry = serde_json::json!({
            "method": method.as_str(),
            "path": redact_path(uri.path()),
            "query": uri.query().map(redact_query),
            "headers": hs,
            "auth": self.auth_kind(headers),
            "body": body,
        });
        if self.entries.len() == KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back((tag, entry));
    }

    pub fn tagged(&self, tag: &str) -> Vec<Value> {
        self.entries
            .iter()
            .filter(|(t, _)| t.as_deref() == Some(tag))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// A credential's shape without its value: the scheme word (`Bearer`, `Basic`) when there is
/// one, and the length of the rest.
fn redact(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.split_once(' ') {
        Some((scheme, rest))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            format!("{scheme} [redacted, {} chars]", rest.len())
        }
        _ => format!("[redacted, {} chars]", text.len()),
    }
}

/// The query with the values of [`SECRET_PARAMS`] replaced by their length.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if SECRET_PARAMS.contains(&key) => {
                format!("{key}=[redacted, {} chars]", value.len())
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The path with a credential segment (`/ws-client/{token}`) replaced by its length.
fn redact_path(path: &str) -> String {
    for prefix in SECRET_PATH_PREFIXES {
        if let Some(secret) = path.strip_prefix(prefix) {
            return format!("{prefix}[redacted, {} chars]", secret.len());
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_filters_by_tag() {
        let mut log = RequestLog::new(Some("k".into()));
        let mut h = HeaderMap::new();
        h.insert("x-test-tag", "t1".parse().unwrap());
        h.insert("Authorization", "Bearer k".parse().unwrap());
        let uri: Uri = "/start?fault=x".parse().unwrap();
        log.record(&Method::POST, &uri, &h, Some(br#"{"a":1}"#));
        log.record(&Method::PATCH, &uri, &HeaderMap::new(), Some(b"not json"));
        log.record(&Method::PATCH, &uri, &h, Some(b"not json"));
        let t = log.tagged("t1");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["method"], "POST");
        assert_eq!(t[0]["query"], "fault=x");
        assert_eq!(
            t[0]["headers"]["authorization"],
            "Bearer [redacted, 1 chars]"
        );
        assert_eq!(t[0]["auth"], "key");
        assert_eq!(t[1]["auth"], "key");
        assert_eq!(t[0]["body"]["a"], 1);
        assert_eq!(t[1]["body"], "not json");
        assert!(log.tagged("other").is_empty());

        // Other values and other credential headers are redacted too.
        let mut h = HeaderMap::new();
        h.insert("x-test-tag", "t2".parse().unwrap());
        h.insert("Authorization", "Bearer kk".parse().unwrap());
        h.insert("Cookie", "session=abc123".parse().unwrap());
        h.insert("X-Api-Key", "pk_live".parse().unwrap());
        log.record(&Method::POST, &uri, &h, None);
        log.record(&Method::POST, &uri, &without_auth(&h), None);
        let t = log.tagged("t2");
        assert_eq!(t[0]["auth"], "other");
        assert_eq!(
            t[0]["headers"]["authorization"],
            "Bearer [redacted, 2 chars]"
        );
        assert_eq!(t[0]["headers"]["cookie"], "[redacted, 14 chars]");
        assert_eq!(t[0]["headers"]["x-api-key"], "[redacted, 7 chars]");
        assert!(!t[0].to_string().contains("abc123") && !t[0].to_string().contains("pk_live"));
        assert_eq!(t[1]["auth"], "none");
        assert!(t[1]["headers"].get("authorization").is_none());

        // Without a configured key every Authorization value is "other".
        let mut open = RequestLog::default();
        open.record(&Method::POST, &uri, &h, None);
        assert_eq!(open.tagged("t2")[0]["auth"], "other");

        for _ in 0..600 {
            log.record(&Method::POST, &uri, &HeaderMap::new(), None);
        }
        assert!(log.tagged("t1").is_empty());
        assert_eq!(log.entries.len(), KEEP);
    }

    fn without_auth(h: &HeaderMap) -> HeaderMap {
        let mut h = h.clone();
        h.remove("authorization");
        h
    }

    #[test]
    fn socket_tokens_are_redacted() {
        let mut log = RequestLog::default();
        let mut h = HeaderMap::new();
        h.insert("x-test-tag", "ws".parse().unwrap());
        for uri in [
            "/ws-client?token=0123456789abcdef&x=1",
            "/ws-client/0123456789abcdef",
            "/ws-client?a=token%3D1&token=0123456789abcdef&token=",
        ] {
            log.record(&Method::GET, &uri.parse().unwrap(), &h, None);
        }
        let t = log.tagged("ws");
        assert!(
            !Value::Array(t.clone())
                .to_string()
                .contains("0123456789abcdef"),
            "{t:?}"
        );
        assert_eq!(t[0]["path"], "/ws-client");
        assert_eq!(t[0]["query"], "token=[redacted, 16 chars]&x=1");
        assert_eq!(t[1]["path"], "/ws-client/[redacted, 16 chars]");
        assert_eq!(t[1]["query"], Value::Null);
        assert_eq!(
            t[2]["query"],
            "a=token%3D1&token=[redacted, 16 chars]&token=[redacted, 0 chars]"
        );
        assert_eq!(redact_query("tokens=a&t=b"), "tokens=a&t=b");
        assert_eq!(redact_path("/start"), "/start");
    }

    #[test]
    fn redaction_keeps_only_the_shape() {
        assert_eq!(redact(b"Bearer secret"), "Bearer [redacted, 6 chars]");
        assert_eq!(redact(b"Basic dXNlcjpwdw=="), "Basic [redacted, 12 chars]");
        assert_eq!(redact(b"secret"), "[redacted, 6 chars]");
        assert_eq!(redact(b"a=b c"), "[redacted, 5 chars]");
        assert_eq!(redact(b""), "[redacted, 0 chars]");
    }
}
