//! The last start/offer requests as received, so browser tests can check exactly what the SDK
//! sent (`GET /debug/requests?tag=X` filters on the `x-test-tag` header).

use std::collections::VecDeque;

use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value};

const KEEP: usize = 500;

#[derive(Default)]
pub struct RequestLog {
    entries: VecDeque<(Option<String>, Value)>,
}

impl RequestLog {
    pub fn record(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Option<&[u8]>) {
        let mut hs = Map::new();
        for (name, value) in headers {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
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
            "path": uri.path(),
            "query": uri.query(),
            "headers": hs,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_filters_by_tag() {
        let mut log = RequestLog::default();
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
        assert_eq!(t[0]["headers"]["authorization"], "Bearer k");
        assert_eq!(t[0]["body"]["a"], 1);
        assert_eq!(t[1]["body"], "not json");
        assert!(log.tagged("other").is_empty());
        for _ in 0..600 {
            log.record(&Method::POST, &uri, &HeaderMap::new(), None);
        }
        assert!(log.tagged("t1").is_empty());
        assert_eq!(log.entries.len(), KEEP);
    }
}
