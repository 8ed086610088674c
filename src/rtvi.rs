//! Messages on the `chat` data channel (PROTOCOL.md §5): what the client sends, and what an
//! incoming message means.

use serde_json::{json, Value};

pub const RTVI_LABEL: &str = "rtvi-ai";
/// The RTVI protocol version this client speaks.
pub const RTVI_VERSION: &str = "1.0.0";

/// An RTVI envelope with a fresh id.
pub fn envelope(kind: &str, id: &str, data: Option<Value>) -> Value {
    let mut msg = json!({"label": RTVI_LABEL, "type": kind, "id": id});
    if let Some(d) = data {
        msg["data"] = d;
    }
    msg
}

pub fn client_ready(id: &str) -> String {
    envelope(
        "client-ready",
        id,
        Some(json!({
            "version": RTVI_VERSION,
            "about": {"library": crate::LIBRARY_NAME, "library_version": crate::VERSION},
        })),
    )
    .to_string()
}

/// Mute state of one transceiver (0 = microphone, 1 = camera).
pub fn track_status(receiver_index: u8, enabled: bool) -> String {
    json!({"type": "signalling", "message": {"type": "trackStatus", "receiver_index": receiver_index, "enabled": enabled}})
        .to_string()
}

pub fn ping(now_ms: f64) -> String {
    format!("ping: {}", now_ms.max(0.0).round() as u64)
}

/// What an incoming text message is.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// Not JSON: passed on as the string.
    Text(String),
    /// Server signalling: `renegotiate`, `peerLeft`, or another type passed through.
    Signalling(String, Value),
    /// An RTVI message (label `rtvi-ai`), with its type.
    Rtvi(String, Value),
    /// Any other JSON.
    Json(Value),
}

pub fn parse(text: &str) -> Incoming {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Incoming::Text(text.to_owned());
    };
    if value.get("label").and_then(Value::as_str) == Some(RTVI_LABEL) {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Incoming::Rtvi(kind, value);
    }
    if value.get("type").and_then(Value::as_str) == Some("signalling") {
        let kind = value
            .pointer("/message/type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Incoming::Signalling(kind, value);
    }
    Incoming::Json(value)
}

/// Short random-looking ids for RTVI messages (xorshift seeded by the caller, so tests are repeatable).
#[derive(Clone, Debug)]
pub struct Ids(u64);

impl Ids {
    pub fn new(seed: u64) -> Ids {
        Ids(seed | 1)
    }

    pub fn next_id(&mut self) -> String {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        format!("{:08x}", (x >> 16) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_client_messages() {
        let ready: Value = serde_json::from_str(&client_ready("ab12cd34")).unwrap();
        assert_eq!(
            ready,
            json!({"label":"rtvi-ai","type":"client-ready","id":"ab12cd34",
            "data":{"version":RTVI_VERSION,"about":{"library":"agent-rtc","library_version":crate::VERSION}}})
        );
        let ts: Value = serde_json::from_str(&track_status(1, false)).unwrap();
        assert_eq!(
            ts,
            json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":1,"enabled":false}})
        );
        assert_eq!(ping(1_700_000_000_123.4), "ping: 1700000000123");
        assert_eq!(
            envelope("send-text", "x", None),
            json!({"label":"rtvi-ai","type":"send-text","id":"x"})
        );
    }

    #[test]
    fn parses_server_messages() {
        let cases = [
            ("pong", Incoming::Text("pong".into())),
            ("{broken", Incoming::Text("{broken".into())),
            (
                r#"{"type":"signalling","message":{"type":"renegotiate"}}"#,
                Incoming::Signalling(
                    "renegotiate".into(),
                    json!({"type":"signalling","message":{"type":"renegotiate"}}),
                ),
            ),
            (
                r#"{"type":"signalling","message":{"type":"peerLeft"}}"#,
                Incoming::Signalling(
                    "peerLeft".into(),
                    json!({"type":"signalling","message":{"type":"peerLeft"}}),
                ),
            ),
            (
                r#"{"label":"rtvi-ai","type":"bot-ready","id":"1","data":{"version":"2.2.0"}}"#,
                Incoming::Rtvi(
                    "bot-ready".into(),
                    json!({"label":"rtvi-ai","type":"bot-ready","id":"1","data":{"version":"2.2.0"}}),
                ),
            ),
            (
                r#"{"label":"rtvi-ai","type":"brand-new-type"}"#,
                Incoming::Rtvi(
                    "brand-new-type".into(),
                    json!({"label":"rtvi-ai","type":"brand-new-type"}),
                ),
            ),
            (
                r#"{"label":"other","type":"x"}"#,
                Incoming::Json(json!({"label":"other","type":"x"})),
            ),
            ("42", Incoming::Json(json!(42))),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    fn ids_are_short_and_distinct() {
        let mut ids = Ids::new(42);
        let a: Vec<String> = (0..100).map(|_| ids.next_id()).collect();
        assert!(a.iter().all(|id| id.len() == 8));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
    }
}
