//! The echo bot's side of the `chat` data channel: RTVI replies, pings and track status.
//! Pure logic; the peer task feeds it text and sends what it returns.

use std::collections::VecDeque;

use serde_json::{json, Value};

/// RTVI protocol version the bot announces.
pub const RTVI_VERSION: &str = "2.2.0";
/// Messages kept for the debug endpoint.
const KEEP_MESSAGES: usize = 50;

pub struct Bot {
    agent: String,
    send_bot_ready: bool,
    /// Last `trackStatus` per receiver index (0 audio, 1 video); enabled until told otherwise.
    pub track_enabled: [bool; 2],
    pub pings_seen: u64,
    /// The epoch milliseconds carried by the last ping.
    pub last_ping_ms: Option<u64>,
    pub messages: VecDeque<Value>,
}

impl Bot {
    pub fn new(agent: &str, send_bot_ready: bool) -> Bot {
        Bot {
            agent: agent.to_string(),
            send_bot_ready,
            track_enabled: [true, true],
            pings_seen: 0,
            last_ping_ms: None,
            messages: VecDeque::new(),
        }
    }

    /// What the bot says when the client's channel opens.
    pub fn on_open(&self) -> Vec<String> {
        vec![json!({
            "label": "rtvi-ai",
            "type": "server-message",
            "data": {"text": "Connected to the agent-rtc local agent", "agent": self.agent},
        })
        .to_string()]
    }

    /// Handles one text message from the client; returns the replies. `is_ping` in the result
    /// tells the caller to reset its ping timer.
    pub fn on_text(&mut self, text: &str) -> Incoming {
        if let Some(rest) = text.strip_prefix("ping: ").or(text.strip_prefix("ping:")) {
            self.pings_seen += 1;
            self.last_ping_ms = rest.trim().parse().ok();
            return Incoming {
                is_ping: true,
                replies: Vec::new(),
            };
        }
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        self.remember(parsed.clone().unwrap_or_else(|| Value::String(text.into())));
        let replies = parsed.map(|m| self.reply(&m)).unwrap_or_default();
        Incoming {
            is_ping: false,
            replies,
        }
    }

    fn remember(&mut self, v: Value) {
        if self.messages.len() == KEEP_MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(v);
    }

    fn reply(&mut self, m: &Value) -> Vec<String> {
        if m.get("type").and_then(Value::as_str) == Some("signalling") {
            let msg = m.get("message");
            if msg.and_then(|x| x.get("type")).and_then(Value::as_str) == Some("trackStatus") {
                let index = msg
                    .and_then(|x| x.get("receiver_index"))
                    .and_then(Value::as_u64);
                let enabled = msg.and_then(|x| x.get("enabled")).and_then(Value::as_bool);
                if let (Some(i @ 0..=1), Some(on)) = (index, enabled) {
                    self.track_enabled[i as usize] = on;
                }
            }
            return Vec::new();
        }
        if m.get("label").and_then(Value::as_str) != Some("rtvi-ai") {
            return Vec::new();
        }
        let id = m.get("id").cloned().unwrap_or(Value::Null);
        match m.get("type").and_then(Value::as_str) {
            Some("client-ready") if self.send_bot_ready => vec![json!({
                "label": "rtvi-ai",
                "type": "bot-ready",
                "id": id,
                "data": {
                    "version": RTVI_VERSION,
                    "about": {
                        "library": "agent-rtc-agent",
                        "library_version": env!("CARGO_PKG_VERSION"),
                        "agent": self.agent,
                    },
                    "capabilities": {"audio": "echo", "clientMessages": "server-response"},
                },
            })
            .to_string()],
            Some("client-message") => vec![json!({
                "label": "rtvi-ai",
                "type": "server-response",
                "id": id,
                "data": m.get("data").cloned().unwrap_or(Value::Null),
            })
            .to_string()],
            _ => Vec::new(),
        }
    }

    /// Whether the client's microphone audio should be echoed (else silence is sent).
    pub fn mic_enabled(&self) -> bool {
        self.track_enabled[0]
    }
}

pub struct Incoming {
    pub is_ping: bool,
    pub replies: Vec<String>,
}

/// A `{"type":"signalling","message":{"type":<kind>}}` message.
pub fn signalling(kind: &str) -> String {
    json!({"type": "signalling", "message": {"type": kind}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn client_ready_gets_bot_ready_with_same_id() {
        let mut bot = Bot::new("echo", true);
        let r = bot.on_text(r#"{"label":"rtvi-ai","type":"client-ready","id":"e18f","data":{}}"#);
        assert!(!r.is_ping);
        let m = parse(&r.replies[0]);
        assert_eq!(m["type"], "bot-ready");
        assert_eq!(m["id"], "e18f");
        assert_eq!(m["data"]["version"], RTVI_VERSION);
        assert_eq!(m["data"]["about"]["agent"], "echo");
        assert!(m["data"]["capabilities"].is_object());
    }

    #[test]
    fn no_bot_ready_fault() {
        let mut bot = Bot::new("echo", false);
        let r = bot.on_text(r#"{"label":"rtvi-ai","type":"client-ready","id":"1"}"#);
        assert!(r.replies.is_empty());
    }

    #[test]
    fn client_message_round_trips() {
        let mut bot = Bot::new("echo", true);
        let r = bot.on_text(
            r#"{"label":"rtvi-ai","type":"client-message","id":"x1","data":{"t":"hi","d":{"n":[1,2]}}}"#,
        );
        let m = parse(&r.replies[0]);
        assert_eq!(m["type"], "server-response");
        assert_eq!(m["id"], "x1");
        assert_eq!(m["data"], json!({"t":"hi","d":{"n":[1,2]}}));
    }

    #[test]
    fn pings_are_counted_not_kept() {
        let mut bot = Bot::new("echo", true);
        assert!(bot.on_text("ping: 1700000000123").is_ping);
        assert!(bot.on_text("ping: junk").is_ping);
        assert_eq!(bot.pings_seen, 2);
        assert_eq!(bot.last_ping_ms, None);
        bot.on_text("ping: 5");
        assert_eq!(bot.last_ping_ms, Some(5));
        assert!(bot.messages.is_empty());
    }

    #[test]
    fn track_status_and_message_log() {
        let mut bot = Bot::new("echo", true);
        bot.on_text(
            r#"{"type":"signalling","message":{"type":"trackStatus","receiver_index":0,"enabled":false}}"#,
        );
        assert!(!bot.mic_enabled());
        bot.on_text(
            r#"{"type":"signalling","message":{"type":"trackStatus","receiver_index":7,"enabled":true}}"#,
        );
        assert_eq!(bot.track_enabled, [false, true]);
        bot.on_text("not json");
        assert_eq!(bot.messages.len(), 3);
        assert_eq!(bot.messages[2], json!("not json"));
        for i in 0..60 {
            bot.on_text(&format!("{{\"n\":{i}}}"));
        }
        assert_eq!(bot.messages.len(), KEEP_MESSAGES);
        assert_eq!(bot.messages[49], json!({"n":59}));
    }

    #[test]
    fn open_message_and_signalling() {
        let bot = Bot::new("echo", true);
        assert_eq!(parse(&bot.on_open()[0])["type"], "server-message");
        assert_eq!(
            parse(&signalling("peerLeft")),
            json!({"type":"signalling","message":{"type":"peerLeft"}})
        );
    }
}
