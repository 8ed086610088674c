//! Messages on the `chat` data channel (docs/protocol.md §5): what the client sends, and what an
//! incoming message means.

use crate::json::{obj, Value};

pub const RTVI_LABEL: &str = "rtvi-ai";
/// The RTVI version this client announces: 2.2, as Pipecat 1.14 speaks it. What 2.2 changes for a
/// client that announces it: `bot-output` may carry `text_type: "backchannel"` (passed on as the
/// transcript's `textType`), and the `*-raw-text` messages may come (passed on as `rtvi`); every
/// 2.x message is read as before, and a 2.1 or 1.x bot answers as it always did.
pub const RTVI_VERSION: &str = "2.2.0";

/// An RTVI envelope with a fresh id.
pub fn envelope(kind: &str, id: &str, data: Option<Value>) -> Value {
    let mut msg = obj([
        ("label", RTVI_LABEL.into()),
        ("type", kind.into()),
        ("id", id.into()),
    ]);
    if let (Some(d), Value::Object(m)) = (data, &mut msg) {
        m.insert("data", d);
    }
    msg
}

pub fn client_ready(id: &str) -> Value {
    envelope(
        "client-ready",
        id,
        Some(obj([
            ("version", RTVI_VERSION.into()),
            (
                "about",
                obj([
                    ("library", crate::LIBRARY_NAME.into()),
                    ("library_version", crate::VERSION.into()),
                ]),
            ),
        ])),
    )
}

/// Mute state of one transceiver (0 = microphone, 1 = camera).
pub fn track_status(receiver_index: u8, enabled: bool) -> Value {
    obj([
        ("type", "signalling".into()),
        (
            "message",
            obj([
                ("type", "trackStatus".into()),
                ("receiver_index", u32::from(receiver_index).into()),
                ("enabled", enabled.into()),
            ]),
        ),
    ])
}

pub fn ping(now_ms: f64) -> String {
    let mut out = String::from("ping: ");
    crate::json::push_decimal(&mut out, now_ms.max(0.0).round() as u64);
    out
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
    /// JSON nested deeper than the SDK reads (the browser layer's limit): passed on as the
    /// string. When it is the answer to a request, `answers` is the request's id.
    TooDeep {
        text: String,
        answers: Option<String>,
    },
}

/// Classifies a message: `json` is its text parsed, `None` when it is not JSON. `cut`: the JSON
/// was nested too deep to read, and below the limit `json` has `null`s.
pub fn classify(text: String, json: Option<Value>, cut: bool) -> Incoming {
    let Some(value) = json else {
        return Incoming::Text(text);
    };
    let rtvi = value.str_at("label") == Some(RTVI_LABEL);
    if cut {
        let answer = matches!(
            value.str_at("type"),
            Some("server-response" | "error-response")
        );
        let answers = value.str_at("id").filter(|_| rtvi && answer);
        return Incoming::TooDeep {
            text,
            answers: answers.map(str::to_owned),
        };
    }
    if rtvi {
        let kind = value.str_at("type").unwrap_or("").to_owned();
        return Incoming::Rtvi(kind, value);
    }
    if value.str_at("type") == Some("signalling") {
        let kind = value
            .get("message")
            .and_then(|m| m.str_at("type"))
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
        let bits = (x >> 16) as u32;
        let mut id = String::new();
        for i in (0..8).rev() {
            id.push(crate::json::hex_digit(bits >> (i * 4)));
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn parse(text: &str) -> Incoming {
        classify(text.to_owned(), crate::json::parse(text), false)
    }

    #[test]
    fn builds_client_messages() {
        let ready = client_ready("ab12cd34");
        assert_eq!(
            ready,
            json!({"label":"rtvi-ai","type":"client-ready","id":"ab12cd34",
            "data":{"version":RTVI_VERSION,"about":{"library":"agent-rtc","library_version":crate::VERSION}}})
        );
        let ts = track_status(1, false);
        assert_eq!(
            ts,
            json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":1,"enabled":false}})
        );
        assert_eq!(ping(1_700_000_000_123.4), "ping: 1700000000123");
        assert_eq!(
            (ping(0.0), ping(-5.0), ping(9.5)),
            ("ping: 0".into(), "ping: 0".into(), "ping: 10".into())
        );
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
                    json!({"type":"signalling","message":{"type":"renegotiate"}}).into(),
                ),
            ),
            (
                r#"{"type":"signalling","message":{"type":"peerLeft"}}"#,
                Incoming::Signalling(
                    "peerLeft".into(),
                    json!({"type":"signalling","message":{"type":"peerLeft"}}).into(),
                ),
            ),
            (
                r#"{"label":"rtvi-ai","type":"bot-ready","id":"1","data":{"version":"2.2.0"}}"#,
                Incoming::Rtvi(
                    "bot-ready".into(),
                    json!({"label":"rtvi-ai","type":"bot-ready","id":"1","data":{"version":"2.2.0"}}).into(),
                ),
            ),
            (
                r#"{"label":"rtvi-ai","type":"brand-new-type"}"#,
                Incoming::Rtvi(
                    "brand-new-type".into(),
                    json!({"label":"rtvi-ai","type":"brand-new-type"}).into(),
                ),
            ),
            (
                r#"{"label":"other","type":"x"}"#,
                Incoming::Json(json!({"label":"other","type":"x"}).into()),
            ),
            ("42", Incoming::Json(json!(42).into())),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    fn a_message_too_deep_to_read_answers_a_request_only_when_it_says_so() {
        let deep = |top: serde_json::Value| classify("t".into(), Some(top.into()), true);
        let answers = |id: &str| Incoming::TooDeep {
            text: "t".into(),
            answers: Some(id.into()),
        };
        let none = Incoming::TooDeep {
            text: "t".into(),
            answers: None,
        };
        assert_eq!(
            deep(json!({"label":"rtvi-ai","type":"server-response","id":"a"})),
            answers("a")
        );
        assert_eq!(
            deep(json!({"label":"rtvi-ai","type":"error-response","id":"b"})),
            answers("b")
        );
        for envelope in [
            json!({"label":"rtvi-ai","type":"server-message","id":"a"}),
            json!({"label":"other","type":"server-response","id":"a"}),
            json!({"label":"rtvi-ai","type":"server-response"}),
            json!({}),
        ] {
            assert_eq!(deep(envelope.clone()), none, "{envelope}");
        }
    }

    #[test]
    fn ids_are_short_and_distinct() {
        let mut ids = Ids::new(42);
        let a: Vec<String> = (0..100).map(|_| ids.next_id()).collect();
        assert!(a
            .iter()
            .all(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
    }
}
