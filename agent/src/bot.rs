//! The echo bot's conversation side: what a Pipecat bot with an RTVI processor does with the
//! client's RTVI messages, simulated well enough to test a conversation client. Pure logic:
//! the peer task feeds it messages, voice activity and time, and sends what it returns.
//!
//! Like a Pipecat pipeline, a bot outlives the peer connection it started on: a `restart_pc`
//! offer hands it to the new peer with its state (turns, pending function calls, DTMF).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fault::Faults;
use crate::rtvi::{self, Version, LEGACY_MAJOR};
use crate::vad::{Change, Vad};

/// How long the bot "speaks" one reply (bot-started-speaking → bot-stopped-speaking).
const BOT_TALK: Duration = Duration::from_millis(150);
/// The default delay of a `slow` client-message answer, and the longest one allowed.
const SLOW_DEFAULT: Duration = Duration::from_millis(1000);
const SLOW_MAX: Duration = Duration::from_secs(60);
/// Bounds on what the bot keeps, so a client cannot grow it without limit.
const MAX_SCHEDULED: usize = 100;
const MAX_CALLS: usize = 100;
const MAX_DTMF: usize = 200;
/// The function a `send-text` makes the "LLM" call.
pub const DEFAULT_FUNCTION: &str = "get_weather";
const PROCESSOR: &str = "agent-rtc-echo-bot";

pub struct BotOptions {
    pub agent: String,
    pub send_bot_ready: bool,
    /// The RTVI protocol version the server speaks (2.2.0, or an older one to test against).
    pub version: Version,
    /// Announce function calls with the deprecated `llm-function-call` message.
    pub legacy_function_call: bool,
    /// Answer an unknown client-message type with `error-response` instead of the echo.
    pub strict_messages: bool,
    /// The `user_id` of transcriptions: the peer connection's id (the session id over a
    /// WebSocket).
    pub user_id: String,
}

impl BotOptions {
    /// The bot a session's faults ask for, on either transport.
    pub fn new(agent: String, user_id: String, faults: &Faults) -> BotOptions {
        BotOptions {
            agent,
            send_bot_ready: !faults.no_bot_ready,
            version: faults.rtvi_version.unwrap_or(rtvi::PROTOCOL_VERSION),
            legacy_function_call: faults.function_call_legacy,
            strict_messages: faults.client_message_strict,
            user_id,
        }
    }
}

/// What the peer task must do for the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this message on the `chat` channel.
    Send(Value),
    /// The bot ends for good (peerLeft, then the session is over); the reason is recorded.
    End(String),
}

struct FunctionCall {
    tool_call_id: String,
    function_name: String,
    arguments: Value,
    audio_response: bool,
    result: Option<Value>,
}

pub struct Bot {
    opts: BotOptions,
    /// The peer (serial) the bot talks through; others are ignored (a peer being replaced).
    owner: u64,
    connections: u64,
    client_version: Option<Version>,
    vad: Vad,
    user_turns: u64,
    bot_turns: u64,
    bot_speaking_until: Option<Instant>,
    scheduled: Vec<(Instant, Value)>,
    calls: Vec<FunctionCall>,
    unmatched_results: u64,
    dtmf: Vec<String>,
    /// The page's latest accessibility snapshot (RTVI 2.2 `ui-snapshot`), for the UI demo.
    ui_tree: Option<Value>,
    ended: Option<String>,
}

/// Collects a step's actions.
#[derive(Default)]
struct Out(Vec<Action>);

impl Out {
    fn send(&mut self, v: Value) {
        self.0.push(Action::Send(v));
    }
}

impl Bot {
    pub fn new(opts: BotOptions) -> Bot {
        Bot {
            opts,
            owner: 0,
            connections: 0,
            client_version: None,
            vad: Vad::default(),
            user_turns: 0,
            bot_turns: 0,
            bot_speaking_until: None,
            scheduled: Vec::new(),
            calls: Vec::new(),
            unmatched_results: 0,
            dtmf: Vec::new(),
            ui_tree: None,
            ended: None,
        }
    }

    /// Makes the peer with this serial the one the bot talks through.
    pub fn attach(&mut self, serial: u64) {
        self.owner = serial;
    }

    pub fn owner(&self) -> u64 {
        self.owner
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// The bot's transport has gone for good (a WebSocket closed): it ends without a word.
    pub fn finish(&mut self, reason: &str) {
        if self.ended.is_none() {
            self.ended = Some(reason.to_string());
            self.scheduled.clear();
        }
    }

    /// The client's channel opened (Pipecat's `on_client_connected`), also after a restart.
    pub fn on_connected(&mut self) -> Vec<Action> {
        if self.is_ended() {
            return Vec::new();
        }
        self.connections += 1;
        vec![Action::Send(rtvi::with_data(
            "server-message",
            json!({
                "text": "Connected to the agent-rtc local agent",
                "agent": self.opts.agent,
                "connection": self.connections,
            }),
        ))]
    }

    /// One application message from the client (pings and signalling are the peer's).
    pub fn on_message(&mut self, now: Instant, m: &Value) -> Vec<Action> {
        let mut out = Out::default();
        if self.is_ended() || m.get("label").and_then(Value::as_str) != Some(rtvi::LABEL) {
            // Pipecat ignores messages without the RTVI label.
            return out.0;
        }
        let kind = m.get("type").and_then(Value::as_str);
        let id = m.get("id").filter(|v| v.is_string());
        let (Some(kind), Some(id)) = (kind, id) else {
            out.send(rtvi::error(
                "Invalid RTVI transport message: `type` and `id` (strings) are required",
                false,
            ));
            return out.0;
        };
        let data = m.get("data").unwrap_or(&Value::Null);
        match kind {
            "client-ready" => self.client_ready(id, data, &mut out),
            "disconnect-bot" => self.end("disconnect-bot", &mut out),
            "client-message" => self.client_message(now, id, data, &mut out),
            "llm-function-call-result" => self.function_result(now, id, data, &mut out),
            "send-text" => self.send_text(id, data, &mut out),
            "dtmf" => self.on_dtmf(id, data, &mut out),
            "ui-snapshot" => match data.get("tree").filter(|t| t.get("root").is_some()) {
                Some(tree) => self.ui_tree = Some(tree.clone()),
                None => out.send(rtvi::error_response(
                    id,
                    "Invalid message: ui-snapshot needs `data.tree.root`",
                )),
            },
            // Accepted by Pipecat, not simulated here.
            "raw-audio" | "raw-audio-batch" | "send-file" | "ui-event" | "ui-cancel-job-group" => {}
            other => out.send(rtvi::error_response(
                id,
                format!("Unsupported type {other}"),
            )),
        }
        out.0
    }

    /// One audio packet from the client: `voiced` is the voice-activity guess for it.
    pub fn on_audio(&mut self, now: Instant, voiced: bool) -> Vec<Action> {
        let mut out = Out(self.poll(now));
        if self.is_ended() {
            return out.0;
        }
        if self.vad.on_packet(now, voiced) == Some(Change::Started) {
            if self.bot_speaking_until.is_some() {
                self.interrupt(&mut out);
            }
            out.send(rtvi::event("user-started-speaking"));
        }
        out.0
    }

    /// What became due by `now`: the end of an utterance, of the bot's speech, slow answers.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Out::default();
        if self.is_ended() {
            return out.0;
        }
        if let Some(Change::Stopped(_)) = self.vad.poll(now) {
            self.user_turn_ended(now, &mut out);
        }
        if self.bot_speaking_until.is_some_and(|t| now >= t) {
            self.bot_speaking_until = None;
            out.send(rtvi::event("bot-stopped-speaking"));
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|(at, _)| now >= *at);
        self.scheduled = later;
        for (_, msg) in due {
            out.send(msg);
        }
        out.0
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.vad.deadline(),
            self.bot_speaking_until,
            self.scheduled.iter().map(|(at, _)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What the debug endpoint shows of the bot.
    pub fn summary(&self) -> Value {
        let calls: Vec<Value> = self
            .calls
            .iter()
            .map(|c| {
                json!({
                    "toolCallId": c.tool_call_id,
                    "functionName": c.function_name,
                    "arguments": c.arguments,
                    "result": c.result,
                    "completed": c.result.is_some(),
                })
            })
            .collect();
        json!({
            "rtviVersion": self.opts.version.to_string(),
            "clientVersion": self.client_version.map(|v| v.to_string()),
            "connections": self.connections,
            "userTurns": self.user_turns,
            "botTurns": self.bot_turns,
            "userSpeaking": self.vad.is_speaking(),
            "botSpeaking": self.bot_speaking_until.is_some(),
            "functionCalls": calls,
            "unmatchedFunctionResults": self.unmatched_results,
            "dtmf": self.dtmf,
            "ended": self.ended,
        })
    }

    fn end(&mut self, reason: &str, out: &mut Out) {
        self.ended = Some(reason.to_string());
        self.scheduled.clear();
        out.0.push(Action::End(reason.to_string()));
    }

    fn client_ready(&mut self, id: &Value, data: &Value, out: &mut Out) {
        let server = self.opts.version;
        // The same checks, and words, as Pipecat's RTVI processor: a mismatch is reported but
        // the bot still gets ready. A 2.x server serves 1.x clients as legacy clients.
        let problem = match data.get("version").and_then(Value::as_str) {
            None => Some("Client version unknown.".to_string()),
            Some(v) => match Version::parse(v) {
                None => Some(format!("Invalid client version format ({v}).")),
                Some(client) => {
                    self.client_version = Some(client);
                    let legacy = server.major() > LEGACY_MAJOR && client.major() == LEGACY_MAJOR;
                    (client.major() != server.major() && !legacy).then(|| {
                        format!("RTVI version {v} is not compatible with server protocol {server}.")
                    })
                }
            },
        };
        if let Some(p) = problem {
            out.send(rtvi::error_response(
                id,
                format!("{p} Compatibility issues may occur."),
            ));
        }
        if !self.opts.send_bot_ready {
            return;
        }
        // A legacy client hears its own version back, so it keeps to the 1.x format.
        let announced = match self.client_version {
            Some(c) if server.major() > LEGACY_MAJOR && c.major() == LEGACY_MAJOR => c,
            _ => server,
        };
        let mut ready = json!({
            "version": announced.to_string(),
            "about": {
                "library": "agent-rtc-agent",
                "library_version": env!("CARGO_PKG_VERSION"),
                "agent": self.opts.agent,
            },
        });
        if server >= Version([2, 2, 0]) {
            ready["capabilities"] = json!({
                "audio_in": true, "audio_out": true, "video_in": false, "video_out": false,
                "metrics": true,
            });
        }
        out.send(rtvi::answer("bot-ready", id, ready));
    }

    fn client_message(&mut self, now: Instant, id: &Value, data: &Value, out: &mut Out) {
        let Some(t) = data.get("t").and_then(Value::as_str) else {
            out.send(rtvi::error_response(
                id,
                "Invalid message: client-message needs `data.t` (string)",
            ));
            return;
        };
        let d = data.get("d").cloned().unwrap_or(Value::Null);
        let reply = |d: Value| rtvi::answer("server-response", id, json!({"t": t, "d": d}));
        match t {
            "echo" => out.send(reply(d)),
            "slow" => {
                let wait = d
                    .get("ms")
                    .and_then(Value::as_u64)
                    .map_or(SLOW_DEFAULT, Duration::from_millis)
                    .min(SLOW_MAX);
                if self.scheduled.len() < MAX_SCHEDULED {
                    self.scheduled.push((now + wait, reply(d)));
                }
            }
            "silent" => {}
            "fail" => {
                let msg = d
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the client asked for an error-response");
                out.send(rtvi::error_response(id, msg));
            }
            "metrics" => {
                let data = if d.is_object() {
                    d.clone()
                } else {
                    json!({
                        "ttfb": [{"processor": PROCESSOR, "value": 0.012}],
                        "processing": [{"processor": PROCESSOR, "value": 0.003}],
                    })
                };
                out.send(rtvi::with_data("metrics", data));
                out.send(reply(d));
            }
            "error" => {
                let fatal = d.get("fatal").and_then(Value::as_bool) == Some(true);
                let msg = d
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("error requested by the client");
                out.send(rtvi::error(msg, fatal));
                if fatal {
                    self.end("fatal error", out);
                } else {
                    out.send(reply(d));
                }
            }
            "function-call" => {
                let name = d
                    .get("function_name")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_FUNCTION)
                    .to_string();
                let arguments = d
                    .get("arguments")
                    .filter(|a| a.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let audio = d.get("audio_response").and_then(Value::as_bool) != Some(false);
                let tool_call_id = self.call_function(name, arguments, audio, out);
                out.send(reply(json!({"tool_call_id": tool_call_id})));
            }
            "speak" => {
                let text = d
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("This is the agent-rtc echo bot speaking.")
                    .to_string();
                self.speak(now, &text, true, out);
                out.send(reply(d));
            }
            "state" => out.send(reply(self.summary())),
            // The UI agent demo: the element named `name` in the page's latest snapshot is
            // highlighted, and clicked with `click: true`.
            "ui-demo" => match self.ui_find(d.get("name").and_then(Value::as_str).unwrap_or("")) {
                Ok(reference) => {
                    let command = |c: &str| {
                        rtvi::with_data(
                            "ui-command",
                            json!({"command": c, "payload": {"ref": reference}}),
                        )
                    };
                    out.send(command("highlight"));
                    if d.get("click").and_then(Value::as_bool) == Some(true) {
                        out.send(command("click"));
                    }
                    out.send(reply(json!({"ref": reference})));
                }
                Err(why) => out.send(rtvi::error_response(id, why)),
            },
            other if self.opts.strict_messages => out.send(rtvi::error_response(
                id,
                format!("Unsupported client-message type {other}"),
            )),
            // The bot's original behaviour, kept for clients and tests that rely on it: any
            // other type is answered with the request's own data.
            _ => out.send(rtvi::answer("server-response", id, data.clone())),
        }
    }

    /// The ref of the first node named `name` in the latest snapshot (depth first; buttons and
    /// links before anything else of that name).
    fn ui_find(&self, name: &str) -> Result<String, String> {
        let Some(tree) = &self.ui_tree else {
            return Err(
                "no ui-snapshot from this page yet: let the agent see the page first".into(),
            );
        };
        let mut stack = vec![&tree["root"]];
        let mut other = None;
        while let Some(node) = stack.pop() {
            let reference = node.get("ref").and_then(Value::as_str).unwrap_or("");
            if !reference.is_empty() && node.get("name").and_then(Value::as_str) == Some(name) {
                match node.get("role").and_then(Value::as_str) {
                    Some("button" | "link") => return Ok(reference.to_string()),
                    _ => other = other.or(Some(reference.to_string())),
                }
            }
            if let Some(children) = node.get("children").and_then(Value::as_array) {
                stack.extend(children.iter().rev());
            }
        }
        other.ok_or_else(|| format!("nothing named {name:?} on the page the agent sees"))
    }

    fn send_text(&mut self, id: &Value, data: &Value, out: &mut Out) {
        let Some(content) = data.get("content").and_then(Value::as_str) else {
            out.send(rtvi::error_response(
                id,
                "Invalid message: send-text needs `data.content` (string)",
            ));
            return;
        };
        let options = data.get("options").unwrap_or(&Value::Null);
        let flag = |name: &str| options.get(name).and_then(Value::as_bool) != Some(false);
        let (run_immediately, audio_response) = (flag("run_immediately"), flag("audio_response"));
        if run_immediately {
            // Pipecat interrupts the bot before it runs the new text.
            out.send(rtvi::event("bot-interrupted"));
            if self.bot_speaking_until.take().is_some() {
                out.send(rtvi::event("bot-stopped-speaking"));
            }
        }
        if self.opts.version.major() > LEGACY_MAJOR {
            out.send(rtvi::with_data(
                "user-input",
                json!({"text": content, "input_type": "chat", "timestamp": rtvi::timestamp_now(),
                       "final": true, "msg_id": id}),
            ));
        }
        if run_immediately {
            self.call_function(
                DEFAULT_FUNCTION.to_string(),
                json!({"location": content}),
                audio_response,
                out,
            );
        }
    }

    /// The "LLM" asks the client to run a function; returns the tool call id.
    fn call_function(
        &mut self,
        name: String,
        arguments: Value,
        audio_response: bool,
        out: &mut Out,
    ) -> String {
        let tool_call_id = format!("call_{:04}", self.calls.len() + 1);
        if self.opts.legacy_function_call {
            out.send(rtvi::with_data(
                "llm-function-call",
                json!({"function_name": name, "tool_call_id": tool_call_id, "args": arguments}),
            ));
        } else {
            out.send(rtvi::with_data(
                "llm-function-call-started",
                json!({"function_name": name}),
            ));
            out.send(rtvi::with_data(
                "llm-function-call-in-progress",
                json!({"tool_call_id": tool_call_id, "function_name": name, "arguments": arguments}),
            ));
        }
        if self.calls.len() >= MAX_CALLS {
            self.calls.remove(0);
        }
        self.calls.push(FunctionCall {
            tool_call_id: tool_call_id.clone(),
            function_name: name,
            arguments,
            audio_response,
            result: None,
        });
        tool_call_id
    }

    fn function_result(&mut self, now: Instant, id: &Value, data: &Value, out: &mut Out) {
        let field = |name: &str| data.get(name);
        let valid = field("function_name").is_some_and(Value::is_string)
            && field("tool_call_id").is_some_and(Value::is_string)
            && field("arguments").is_some_and(Value::is_object)
            && field("result").is_some_and(|r| r.is_object() || r.is_string());
        if !valid {
            out.send(rtvi::error_response(
                id,
                "Invalid message: llm-function-call-result needs function_name, tool_call_id \
                 (strings), arguments (object) and result (object or string)",
            ));
            return;
        }
        let tool_call_id = field("tool_call_id").and_then(Value::as_str).unwrap_or("");
        let result = field("result").cloned().unwrap_or(Value::Null);
        let Some(call) = self
            .calls
            .iter_mut()
            .find(|c| c.tool_call_id == tool_call_id && c.result.is_none())
        else {
            // Pipecat's LLM ignores a result for a call it is not waiting on.
            self.unmatched_results += 1;
            return;
        };
        call.result = Some(result.clone());
        let (name, arguments, audio) = (
            call.function_name.clone(),
            call.arguments.clone(),
            call.audio_response,
        );
        if !self.opts.legacy_function_call {
            out.send(rtvi::with_data(
                "llm-function-call-stopped",
                json!({"tool_call_id": tool_call_id, "cancelled": false, "function_name": name,
                       "result": result}),
            ));
        }
        out.send(rtvi::with_data(
            "server-message",
            json!({"type": "function-result", "tool_call_id": tool_call_id,
                   "function_name": name, "arguments": arguments, "result": result}),
        ));
        let text = format!("{name} returned {result}.");
        self.speak(now, &text, audio, out);
    }

    fn on_dtmf(&mut self, id: &Value, data: &Value, out: &mut Out) {
        let buttons: Option<Vec<String>> = data
            .get("buttons")
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty())
            .and_then(|b| {
                b.iter()
                    .map(|k| {
                        k.as_str()
                            .filter(|k| k.len() == 1 && "0123456789*#".contains(*k))
                            .map(String::from)
                    })
                    .collect()
            });
        let Some(buttons) = buttons else {
            out.send(rtvi::error_response(
                id,
                "Invalid message: dtmf needs `data.buttons`, a non-empty list of 0-9, * or #",
            ));
            return;
        };
        for b in buttons {
            if self.dtmf.len() < MAX_DTMF {
                self.dtmf.push(b);
            }
        }
    }

    fn user_turn_ended(&mut self, now: Instant, out: &mut Out) {
        self.user_turns += 1;
        let n = self.user_turns;
        let text = format!("User utterance {n}.");
        let timestamp = rtvi::timestamp_now();
        out.send(rtvi::event("user-stopped-speaking"));
        out.send(rtvi::with_data(
            "user-transcription",
            json!({"text": text, "user_id": self.opts.user_id, "timestamp": timestamp,
                   "final": true}),
        ));
        if self.opts.version.major() > LEGACY_MAJOR {
            out.send(rtvi::with_data(
                "user-input",
                json!({"text": text, "input_type": "transcription", "timestamp": timestamp,
                       "final": true, "user_id": self.opts.user_id}),
            ));
        }
        self.speak(now, &format!("Echo bot heard utterance {n}."), true, out);
    }

    /// One reply of the bot. Spoken text comes as Pipecat reports TTS output: speaking starts,
    /// the sentence (`bot-output`, `bot-tts-text`), speaking stops a little later.
    fn speak(&mut self, now: Instant, text: &str, spoken: bool, out: &mut Out) {
        self.bot_turns += 1;
        let segment = self.bot_turns;
        if !spoken {
            out.send(rtvi::bot_output(self.opts.version, text, false, segment));
            return;
        }
        if self.bot_speaking_until.take().is_some() {
            out.send(rtvi::event("bot-stopped-speaking"));
        }
        out.send(rtvi::event("bot-started-speaking"));
        out.send(rtvi::bot_output(self.opts.version, text, true, segment));
        out.send(rtvi::with_data("bot-tts-text", json!({"text": text})));
        self.bot_speaking_until = Some(now + BOT_TALK);
    }

    /// The user spoke over the bot: it stops.
    fn interrupt(&mut self, out: &mut Out) {
        out.send(rtvi::event("bot-interrupted"));
        if self.bot_speaking_until.take().is_some() {
            out.send(rtvi::event("bot-stopped-speaking"));
        }
    }
}

/// A `{"type":"signalling","message":{"type":<kind>}}` message.
pub fn signalling(kind: &str) -> String {
    json!({"type": "signalling", "message": {"type": kind}}).to_string()
}

/// Messages as JSON objects, for tests.
#[cfg(test)]
fn sent(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(v) => Some(v.clone()),
            Action::End(_) => None,
        })
        .collect()
}

#[cfg(test)]
fn types(actions: &[Action]) -> Vec<String> {
    sent(actions)
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> Bot {
        bot_with(|_| {})
    }

    fn bot_with(f: impl FnOnce(&mut BotOptions)) -> Bot {
        let mut opts = BotOptions {
            agent: "echo".into(),
            send_bot_ready: true,
            version: rtvi::PROTOCOL_VERSION,
            legacy_function_call: false,
            strict_messages: false,
            user_id: "pc-1".into(),
        };
        f(&mut opts);
        Bot::new(opts)
    }

    fn msg(kind: &str, id: &str, data: Value) -> Value {
        json!({"label": "rtvi-ai", "type": kind, "id": id, "data": data})
    }

    fn ready(b: &mut Bot, version: &str) -> Vec<Value> {
        let t = Instant::now();
        sent(&b.on_message(
            t,
            &msg(
                "client-ready",
                "r1",
                json!({"version": version, "about": {"library": "t"}}),
            ),
        ))
    }

    #[test]
    fn bot_ready_for_a_current_client() {
        let mut b = bot();
        let out = ready(&mut b, "2.1.0");
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0],
            json!({"label":"rtvi-ai","type":"bot-ready","id":"r1","data":{
                "version":"2.2.0",
                "about":{"library":"agent-rtc-agent","library_version":env!("CARGO_PKG_VERSION"),"agent":"echo"},
                "capabilities":{"audio_in":true,"audio_out":true,"video_in":false,"video_out":false,"metrics":true}}})
        );
    }

    #[test]
    fn legacy_client_hears_its_own_version() {
        let mut b = bot();
        let out = ready(&mut b, "1.0.0");
        assert_eq!(types_of(&out), ["bot-ready"]);
        assert_eq!(out[0]["data"]["version"], "1.0.0");
        assert_eq!(b.summary()["clientVersion"], "1.0.0");
    }

    fn types_of(v: &[Value]) -> Vec<&str> {
        v.iter().map(|m| m["type"].as_str().unwrap_or("")).collect()
    }

    #[test]
    fn incompatible_or_unknown_versions_get_an_error_response_then_bot_ready() {
        for (version, text) in [
            (json!("3.0.0"), "RTVI version 3.0.0 is not compatible with server protocol 2.2.0. Compatibility issues may occur."),
            (json!("2.x"), "Invalid client version format (2.x). Compatibility issues may occur."),
            (Value::Null, "Client version unknown. Compatibility issues may occur."),
        ] {
            let mut b = bot();
            let out = sent(&b.on_message(
                Instant::now(),
                &msg("client-ready", "r9", json!({"version": version})),
            ));
            assert_eq!(
                out[0],
                json!({"label":"rtvi-ai","type":"error-response","id":"r9","data":{"error":text}})
            );
            assert_eq!(out[1]["type"], "bot-ready");
            assert_eq!(out[1]["data"]["version"], "2.2.0");
        }
    }

    #[test]
    fn an_old_server_version_on_request() {
        let mut b = bot_with(|o| o.version = Version([1, 0, 0]));
        let out = ready(&mut b, "2.1.0");
        assert_eq!(
            out[0]["data"]["error"],
            "RTVI version 2.1.0 is not compatible with server protocol 1.0.0. Compatibility issues may occur."
        );
        assert_eq!(out[1]["data"]["version"], "1.0.0");
        assert!(out[1]["data"].get("capabilities").is_none());
        let mut b = bot_with(|o| o.version = Version([1, 0, 0]));
        assert_eq!(types_of(&ready(&mut b, "1.2.0")), ["bot-ready"]);
    }

    #[test]
    fn no_bot_ready_option() {
        let mut b = bot_with(|o| o.send_bot_ready = false);
        assert!(ready(&mut b, "2.2.0").is_empty());
    }

    #[test]
    fn client_messages_by_type() {
        let t0 = Instant::now();
        let mut b = bot();
        let cm = |id: &str, t: &str, d: Value| msg("client-message", id, json!({"t": t, "d": d}));
        let out = sent(&b.on_message(t0, &cm("m1", "echo", json!({"k": [1, "two"]}))));
        assert_eq!(
            out,
            [
                json!({"label":"rtvi-ai","type":"server-response","id":"m1","data":{"t":"echo","d":{"k":[1,"two"]}}})
            ]
        );
        // Slow: nothing now, the answer when its time comes.
        assert!(b
            .on_message(t0, &cm("m2", "slow", json!({"ms": 250})))
            .is_empty());
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(250)));
        assert!(b.poll(t0 + Duration::from_millis(249)).is_empty());
        let out = sent(&b.poll(t0 + Duration::from_millis(250)));
        assert_eq!(out[0]["id"], "m2");
        assert_eq!(out[0]["data"], json!({"t":"slow","d":{"ms":250}}));
        assert!(b.on_message(t0, &cm("m3", "silent", json!(1))).is_empty());
        let out = sent(&b.on_message(t0, &cm("m4", "fail", json!({"error": "no"}))));
        assert_eq!(
            out,
            [json!({"label":"rtvi-ai","type":"error-response","id":"m4","data":{"error":"no"}})]
        );
        // Unknown types: the data echoed whole, or an error-response when strict.
        let odd = msg(
            "client-message",
            "m5",
            json!({"t": "x", "d": {}, "text": "hi"}),
        );
        assert_eq!(
            sent(&b.on_message(t0, &odd))[0]["data"],
            json!({"t":"x","d":{},"text":"hi"})
        );
        let mut strict = bot_with(|o| o.strict_messages = true);
        assert_eq!(
            sent(&strict.on_message(t0, &odd)),
            [json!({"label":"rtvi-ai","type":"error-response","id":"m5",
                    "data":{"error":"Unsupported client-message type x"}})]
        );
        // No `t`: invalid.
        let out = sent(&b.on_message(t0, &msg("client-message", "m6", json!({"d": 1}))));
        assert_eq!(out[0]["type"], "error-response");
    }

    #[test]
    fn metrics_and_error_on_request() {
        let t0 = Instant::now();
        let mut b = bot();
        let cm = |id: &str, t: &str, d: Value| msg("client-message", id, json!({"t": t, "d": d}));
        let out = sent(&b.on_message(t0, &cm("a", "metrics", Value::Null)));
        assert_eq!(
            out[0],
            json!({"label":"rtvi-ai","type":"metrics","data":{
                "ttfb":[{"processor":"agent-rtc-echo-bot","value":0.012}],
                "processing":[{"processor":"agent-rtc-echo-bot","value":0.003}]}})
        );
        assert_eq!(out[1]["type"], "server-response");
        let out = sent(&b.on_message(t0, &cm("b", "error", json!({"error": "oops"}))));
        assert_eq!(
            out[0],
            json!({"label":"rtvi-ai","type":"error","data":{"error":"oops","fatal":false}})
        );
        assert_eq!(out[1]["id"], "b");
        let actions = b.on_message(t0, &cm("c", "error", json!({"fatal": true})));
        assert_eq!(
            sent(&actions),
            [rtvi::error("error requested by the client", true)]
        );
        assert_eq!(actions.last(), Some(&Action::End("fatal error".into())));
        assert!(b.is_ended());
        assert!(b.on_message(t0, &cm("d", "echo", Value::Null)).is_empty());
    }

    #[test]
    fn send_text_asks_for_a_function_call_and_reports_the_result() {
        let t0 = Instant::now();
        let mut b = bot();
        let out = sent(&b.on_message(
            t0,
            &msg(
                "send-text",
                "s1",
                json!({"content": "Paris", "options": {"run_immediately": true, "audio_response": true}}),
            ),
        ));
        assert_eq!(
            types_of(&out),
            [
                "bot-interrupted",
                "user-input",
                "llm-function-call-started",
                "llm-function-call-in-progress"
            ]
        );
        assert_eq!(out[1]["data"]["input_type"], "chat");
        assert_eq!(out[1]["data"]["msg_id"], "s1");
        assert_eq!(out[1]["data"]["text"], "Paris");
        assert_eq!(
            out[2],
            json!({"label":"rtvi-ai","type":"llm-function-call-started","data":{"function_name":"get_weather"}})
        );
        assert_eq!(
            out[3],
            json!({"label":"rtvi-ai","type":"llm-function-call-in-progress","data":{
                "tool_call_id":"call_0001","function_name":"get_weather","arguments":{"location":"Paris"}}})
        );
        let result = msg(
            "llm-function-call-result",
            "f1",
            json!({"function_name": "get_weather", "tool_call_id": "call_0001",
                   "arguments": {"location": "Paris"}, "result": {"temp": 21}}),
        );
        let out = sent(&b.on_message(t0, &result));
        assert_eq!(
            out[0],
            json!({"label":"rtvi-ai","type":"llm-function-call-stopped","data":{
                "tool_call_id":"call_0001","cancelled":false,"function_name":"get_weather","result":{"temp":21}}})
        );
        assert_eq!(
            out[1],
            json!({"label":"rtvi-ai","type":"server-message","data":{
                "type":"function-result","tool_call_id":"call_0001","function_name":"get_weather",
                "arguments":{"location":"Paris"},"result":{"temp":21}}})
        );
        assert_eq!(
            types_of(&out[2..]),
            ["bot-started-speaking", "bot-output", "bot-tts-text"]
        );
        assert_eq!(
            out[3]["data"]["text"],
            "get_weather returned {\"temp\":21}."
        );
        // A second result for the same call, or an unknown one, is ignored.
        assert!(b.on_message(t0, &result).is_empty());
        assert_eq!(b.summary()["unmatchedFunctionResults"], 1);
        assert_eq!(b.summary()["functionCalls"][0]["completed"], true);
        // Invalid results are refused.
        let bad = msg(
            "llm-function-call-result",
            "f2",
            json!({"tool_call_id": "x"}),
        );
        assert_eq!(sent(&b.on_message(t0, &bad))[0]["type"], "error-response");
    }

    #[test]
    fn send_text_without_running_or_audio() {
        let t0 = Instant::now();
        let mut b = bot();
        let out = sent(&b.on_message(
            t0,
            &msg(
                "send-text",
                "s",
                json!({"content": "later", "options": {"run_immediately": false}}),
            ),
        ));
        assert_eq!(types_of(&out), ["user-input"]);
        let out = sent(&b.on_message(
            t0,
            &msg(
                "client-message",
                "c",
                json!({"t": "function-call", "d": {
                "function_name": "lookup", "arguments": {"q": 1}, "audio_response": false}}),
            ),
        ));
        assert_eq!(out[1]["data"]["function_name"], "lookup");
        assert_eq!(out[2]["data"]["d"]["tool_call_id"], "call_0001");
        assert_eq!(
            out[2]["type"], "server-response",
            "answered with the tool call id"
        );
        let out = sent(&b.on_message(
            t0,
            &msg(
                "llm-function-call-result",
                "r",
                json!({"function_name": "lookup",
                 "tool_call_id": "call_0001", "arguments": {"q": 1}, "result": "ok"}),
            ),
        ));
        let output = out.iter().find(|m| m["type"] == "bot-output").unwrap();
        assert_eq!(output["data"]["spoken"], false);
        assert!(!out.iter().any(|m| m["type"] == "bot-started-speaking"));
        assert_eq!(
            sent(&b.on_message(t0, &msg("send-text", "x", json!({}))))[0]["type"],
            "error-response"
        );
    }

    #[test]
    fn legacy_function_call_form() {
        let mut b = bot_with(|o| o.legacy_function_call = true);
        let out = sent(&b.on_message(
            Instant::now(),
            &msg("send-text", "s", json!({"content": "Oslo"})),
        ));
        assert_eq!(
            out[2],
            json!({"label":"rtvi-ai","type":"llm-function-call","data":{
                "function_name":"get_weather","tool_call_id":"call_0001","args":{"location":"Oslo"}}})
        );
        let out = sent(&b.on_message(
            Instant::now(),
            &msg("llm-function-call-result", "r", json!({"function_name": "get_weather",
                 "tool_call_id": "call_0001", "arguments": {"location": "Oslo"}, "result": "sunny"})),
        ));
        assert_eq!(out[0]["data"]["type"], "function-result");
    }

    #[test]
    fn voice_turns() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = bot();
        assert!(b.on_audio(ms(0), false).is_empty());
        assert_eq!(types(&b.on_audio(ms(20), true)), ["user-started-speaking"]);
        assert!(b.on_audio(ms(40), true).is_empty());
        assert_eq!(b.next_deadline(), Some(ms(340)));
        let out = sent(&b.poll(ms(340)));
        assert_eq!(
            types_of(&out),
            [
                "user-stopped-speaking",
                "user-transcription",
                "user-input",
                "bot-started-speaking",
                "bot-output",
                "bot-tts-text"
            ]
        );
        let tr = &out[1]["data"];
        assert_eq!(tr["text"], "User utterance 1.");
        assert_eq!(tr["user_id"], "pc-1");
        assert_eq!(tr["final"], true);
        assert!(tr["timestamp"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(out[4]["data"]["text"], "Echo bot heard utterance 1.");
        assert_eq!(types(&b.poll(ms(490))), ["bot-stopped-speaking"]);
        // Speaking over the bot interrupts it.
        b.on_audio(ms(600), true);
        b.poll(ms(900));
        assert_eq!(
            types(&b.on_audio(ms(950), true)),
            [
                "bot-interrupted",
                "bot-stopped-speaking",
                "user-started-speaking"
            ]
        );
        assert_eq!(b.summary()["userTurns"], 2);
    }

    #[test]
    fn dtmf_disconnect_and_other_types() {
        let t0 = Instant::now();
        let mut b = bot();
        assert!(b
            .on_message(t0, &msg("dtmf", "d1", json!({"buttons": ["1", "#"]})))
            .is_empty());
        let out = sent(&b.on_message(t0, &msg("dtmf", "d2", json!({"button": "1"}))));
        assert_eq!(out[0]["type"], "error-response");
        assert_eq!(b.summary()["dtmf"], json!(["1", "#"]));
        let out = sent(&b.on_message(t0, &msg("frobnicate", "z", Value::Null)));
        assert_eq!(
            out,
            [
                json!({"label":"rtvi-ai","type":"error-response","id":"z","data":{"error":"Unsupported type frobnicate"}})
            ]
        );
        assert!(b
            .on_message(t0, &json!({"type": "client-ready", "id": "no-label"}))
            .is_empty());
        let out = sent(&b.on_message(t0, &json!({"label": "rtvi-ai", "type": "client-ready"})));
        assert_eq!(out[0]["type"], "error");
        assert_eq!(
            b.on_message(t0, &msg("disconnect-bot", "q", Value::Null)),
            [Action::End("disconnect-bot".into())]
        );
        assert_eq!(b.summary()["ended"], "disconnect-bot");
    }

    #[test]
    fn the_ui_demo_finds_a_named_element_in_the_latest_snapshot_and_acts_on_it() {
        let t0 = Instant::now();
        let mut b = bot();
        let cm = |id: &str, d: Value| msg("client-message", id, json!({"t": "ui-demo", "d": d}));
        // Before any snapshot: a readable error.
        let out = sent(&b.on_message(t0, &cm("u1", json!({"name": "Save"}))));
        assert_eq!(out[0]["type"], "error-response");
        assert!(out[0]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("no ui-snapshot"));
        let out = sent(&b.on_message(t0, &msg("ui-snapshot", "s0", json!({"tree": {}}))));
        assert_eq!(out[0]["type"], "error-response");
        let tree = json!({"root": {"ref": "e9", "role": "generic", "children": [
            {"ref": "e1", "role": "heading", "name": "Save", "level": 1},
            {"ref": "", "role": "text", "name": "Save"},
            {"ref": "e2", "role": "main", "children": [{"ref": "e3", "role": "button", "name": "Save"}]},
        ]}, "captured_at": 1});
        assert!(b
            .on_message(t0, &msg("ui-snapshot", "s1", json!({"tree": tree})))
            .is_empty());
        let out = sent(&b.on_message(t0, &cm("u2", json!({"name": "Save", "click": true}))));
        assert_eq!(
            out,
            [
                json!({"label":"rtvi-ai","type":"ui-command","data":{"command":"highlight","payload":{"ref":"e3"}}}),
                json!({"label":"rtvi-ai","type":"ui-command","data":{"command":"click","payload":{"ref":"e3"}}}),
                json!({"label":"rtvi-ai","type":"server-response","id":"u2","data":{"t":"ui-demo","d":{"ref":"e3"}}}),
            ],
            "the button wins over the heading of the same name; text runs have no ref"
        );
        let out = sent(&b.on_message(t0, &cm("u3", json!({"name": "Nothing"}))));
        assert_eq!(out[0]["type"], "error-response");
    }

    #[test]
    fn connects_count_across_a_restart() {
        let mut b = bot();
        let first = sent(&b.on_connected());
        assert_eq!(first[0]["type"], "server-message");
        assert_eq!(first[0]["data"]["connection"], 1);
        assert_eq!(sent(&b.on_connected())[0]["data"]["connection"], 2);
        b.attach(7);
        assert_eq!(b.owner(), 7);
    }

    #[test]
    fn signalling_messages() {
        assert_eq!(
            serde_json::from_str::<Value>(&signalling("peerLeft")).unwrap(),
            json!({"type":"signalling","message":{"type":"peerLeft"}})
        );
    }
}
