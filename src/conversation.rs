//! The RTVI 2.x conversation (docs/protocol.md §8, Pipecat's `rtvi/models.py`): the messages the app
//! sends through `sendText`, `sendClientMessage`, `sendClientRequest`, `sendDtmf`,
//! `disconnectBot` and function-call results, and the typed events read from what the bot sends.

use crate::error::{Error, ErrorCode};
use crate::json::{obj, Map, Value};
use crate::rtvi::envelope;

/// `send-text`: `{content, options: {run_immediately, audio_response}}`, options only as set.
pub fn send_text(
    id: &str,
    text: &str,
    run_immediately: Option<bool>,
    audio_response: Option<bool>,
) -> Value {
    let mut options = Map::new();
    if let Some(r) = run_immediately {
        options.insert("run_immediately", r);
    }
    if let Some(a) = audio_response {
        options.insert("audio_response", a);
    }
    let mut data = Map::new();
    data.insert("content", text);
    if !options.is_empty() {
        data.insert("options", options);
    }
    envelope("send-text", id, Some(data.into()))
}

/// `client-message`: `{t, d}`; `d` left out when the app gave none.
pub fn client_message(id: &str, kind: &str, data: Option<Value>) -> Value {
    let mut td = Map::new();
    td.insert("t", kind);
    if let Some(d) = data {
        td.insert("d", d);
    }
    envelope("client-message", id, Some(td.into()))
}

pub fn disconnect_bot(id: &str) -> Value {
    envelope("disconnect-bot", id, None)
}

/// `dtmf` in the RTVI 2.1 form: every key of `digits` in one message, `{buttons: [..]}`.
pub fn dtmf(id: &str, digits: &str) -> Result<Value, Error> {
    let ok = |c: char| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D');
    if digits.is_empty() || digits.len() > 64 || !digits.chars().all(ok) {
        return Err(Error::invalid(
            "sendDtmf: the digits must be 1 to 64 of 0-9, *, # and A-D",
        ));
    }
    let mut buttons = Vec::new();
    for c in digits.chars() {
        buttons.push(Value::String(c.into()));
    }
    Ok(envelope(
        "dtmf",
        id,
        Some(obj([("buttons", Value::Array(buttons))])),
    ))
}

/// A function call the bot asked the page to run.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub tool_call_id: String,
    pub arguments: Value,
}

/// `llm-function-call-result` for `call`.
pub fn function_result(id: &str, call: &FunctionCall, result: Value) -> Value {
    envelope(
        "llm-function-call-result",
        id,
        Some(obj([
            ("function_name", call.name.as_str().into()),
            ("tool_call_id", call.tool_call_id.as_str().into()),
            ("arguments", call.arguments.clone()),
            ("result", result),
        ])),
    )
}

/// What a handler that threw sends back, so the bot is never left waiting.
pub fn error_result(message: &str) -> Value {
    obj([("error", message.into())])
}

/// What one RTVI message from the bot means to the app, beyond the raw `rtvi` event.
#[derive(Clone, Debug, PartialEq)]
pub enum Meaning {
    /// A typed event: its name and argument.
    Event(&'static str, Value),
    /// The answer to a client request: its id, and the data or the bot's error.
    Response(String, Result<Value, Error>),
    FunctionCall(FunctionCall),
}

/// Reads one RTVI message. `bot_output_seen` remembers whether this bot sends `bot-output`
/// (2.x): then its `bot-tts-text` and deprecated `bot-transcription` repeat the same words and
/// make no transcript of their own.
pub fn interpret(kind: &str, msg: &Value, bot_output_seen: &mut bool) -> Option<Meaning> {
    let data = msg.get("data").cloned().unwrap_or_default();
    let text = || data.str_at("text").unwrap_or("").to_owned();
    let transcript = |role: &str, text: String, final_: bool, timestamp: Option<&Value>| {
        let mut m = Map::new();
        m.insert("role", role);
        m.insert("text", text);
        m.insert("final", final_);
        if let Some(t) = timestamp.filter(|t| !t.is_null()) {
            m.insert("timestamp", t.clone());
        }
        Meaning::Event("transcript", m.into())
    };
    let speaking = |role: &str, on: bool| {
        Meaning::Event(
            "speaking",
            obj([("role", role.into()), ("speaking", on.into())]),
        )
    };
    Some(match kind {
        "user-transcription" => transcript(
            "user",
            text(),
            data.get("final").and_then(Value::as_bool).unwrap_or(true),
            data.get("timestamp"),
        ),
        "bot-output" => {
            *bot_output_seen = true;
            let mut line = transcript("bot", text(), true, data.get("timestamp"));
            // 2.2: `"backchannel"` (a short acknowledgement while the user speaks), `"sentence"`,
            // ...: the page tells a backchannel from the bot's answer by it.
            if let (Meaning::Event(_, Value::Object(m)), Some(t)) =
                (&mut line, data.str_at("text_type"))
            {
                m.insert("textType", t);
            }
            line
        }
        "bot-tts-text" if !*bot_output_seen => transcript("bot", text(), false, None),
        "bot-transcription" if !*bot_output_seen => transcript("bot", text(), true, None),
        "user-started-speaking" => speaking("user", true),
        "user-stopped-speaking" => speaking("user", false),
        "bot-started-speaking" => speaking("bot", true),
        "bot-stopped-speaking" => speaking("bot", false),
        "server-message" => Meaning::Event("servermessage", data),
        "metrics" => Meaning::Event("metrics", data),
        "error" => Meaning::Event(
            "boterror",
            obj([
                ("message", data.str_at("error").unwrap_or("").into()),
                (
                    "fatal",
                    data.get("fatal")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .into(),
                ),
            ]),
        ),
        "server-response" | "error-response" => {
            let id = msg.str_at("id")?.to_owned();
            let result = if kind == "server-response" {
                Ok(data.get("d").cloned().unwrap_or_default())
            } else {
                let text = data
                    .str_at("error")
                    .unwrap_or("the bot refused the request");
                let mut e = Error::new(ErrorCode::BotError, format!("the bot answered: {text}"));
                e.details.data = Some(data.clone());
                Err(e)
            };
            Meaning::Response(id, result)
        }
        // 2.x, and the deprecated 1.x form (`args` for `arguments`).
        "llm-function-call-in-progress" | "llm-function-call" => {
            Meaning::FunctionCall(FunctionCall {
                name: data.str_at("function_name")?.to_owned(),
                tool_call_id: data.str_at("tool_call_id").unwrap_or("").to_owned(),
                arguments: data
                    .get("arguments")
                    .or_else(|| data.get("args"))
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            })
        }
        _ => return None,
    })
}

/// The typed event of a server message beside the conversation's own (`transcript`,
/// `speaking`, ...): its name, and the message's `data` with one field added that says which
/// message of the family it was. RTVI 2.2 (`pipecat/processors/frameworks/rtvi/models.py`).
pub fn typed(kind: &str, data: Option<&Value>) -> Option<(&'static str, Value)> {
    let (name, key, value): (&'static str, &str, Value) = match kind {
        "bot-interrupted" => ("botinterrupted", "", Value::Null),
        "user-mute-started" => ("usermute", "muted", true.into()),
        "user-mute-stopped" => ("usermute", "muted", false.into()),
        "vad-user-started-speaking" => ("vad", "speaking", true.into()),
        "vad-user-stopped-speaking" => ("vad", "speaking", false.into()),
        "user-audio-level" => ("audiolevel", "role", "user".into()),
        "bot-audio-level" => ("audiolevel", "role", "bot".into()),
        "bot-llm-started" => ("llm", "state", "started".into()),
        "bot-llm-text" => ("llm", "state", "text".into()),
        "bot-llm-stopped" => ("llm", "state", "stopped".into()),
        "bot-tts-started" => ("tts", "state", "started".into()),
        "bot-tts-text" => ("tts", "state", "text".into()),
        "bot-tts-stopped" => ("tts", "state", "stopped".into()),
        "llm-function-call-started" => ("functioncall", "state", "started".into()),
        "llm-function-call-in-progress" => ("functioncall", "state", "in-progress".into()),
        "llm-function-call-stopped" => ("functioncall", "state", "stopped".into()),
        "system-log" => ("systemlog", "", Value::Null),
        // The UI agent (2.2): what the page's agent-rtc-ui.js module acts on.
        "ui-command" => ("uicommand", "", Value::Null),
        "ui-job-group" => ("uijob", "", Value::Null),
        // `bot-tts-audio`, `bot-llm-marker`, the `*-raw-text` family, ...: `rtvi` only.
        _ => return None,
    };
    let mut m = match data {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if !key.is_empty() {
        m.insert(key, value);
    }
    Some((name, Value::Object(m)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use serde_json::json;

    fn meaning(text: &str) -> Option<Meaning> {
        let v = parse(text).unwrap();
        let kind = v.str_at("type").unwrap_or("").to_owned();
        interpret(&kind, &v, &mut false)
    }

    #[test]
    fn messages_the_app_sends_have_the_wire_shape() {
        assert_eq!(
            send_text("a1", "Paris", None, None),
            json!({"label":"rtvi-ai","type":"send-text","id":"a1","data":{"content":"Paris"}})
        );
        assert_eq!(
            send_text("a1", "hi", Some(false), Some(true)),
            json!({"label":"rtvi-ai","type":"send-text","id":"a1",
                "data":{"content":"hi","options":{"run_immediately":false,"audio_response":true}}})
        );
        assert_eq!(
            client_message("m1", "echo", Some(json!({"n": 1}).into())),
            json!({"label":"rtvi-ai","type":"client-message","id":"m1","data":{"t":"echo","d":{"n":1}}})
        );
        assert_eq!(
            client_message("m2", "ping", None),
            json!({"label":"rtvi-ai","type":"client-message","id":"m2","data":{"t":"ping"}})
        );
        assert_eq!(
            disconnect_bot("d"),
            json!({"label":"rtvi-ai","type":"disconnect-bot","id":"d"})
        );
        assert_eq!(
            dtmf("t", "12#*A").unwrap(),
            json!({"label":"rtvi-ai","type":"dtmf","id":"t","data":{"buttons":["1","2","#","*","A"]}})
        );
        assert!(dtmf("t", &"#".repeat(64)).is_ok(), "64 keys are allowed");
        for bad in ["", "12x", "1 2", &"1".repeat(65), "١٢"] {
            assert_eq!(
                dtmf("t", bad).unwrap_err().code,
                ErrorCode::InvalidOptions,
                "{bad}"
            );
        }
        let call = FunctionCall {
            name: "get_weather".into(),
            tool_call_id: "call_0001".into(),
            arguments: json!({"location": "Paris"}).into(),
        };
        assert_eq!(
            function_result("r", &call, json!({"temp": 21}).into()),
            json!({"label":"rtvi-ai","type":"llm-function-call-result","id":"r","data":{
                "function_name":"get_weather","tool_call_id":"call_0001",
                "arguments":{"location":"Paris"},"result":{"temp":21}}})
        );
        assert_eq!(error_result("boom"), json!({"error": "boom"}));
    }

    fn event(m: Option<Meaning>) -> (&'static str, serde_json::Value) {
        match m {
            Some(Meaning::Event(name, v)) => (name, (&v).into()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_events_from_the_bot() {
        assert_eq!(
            event(meaning(
                r#"{"label":"rtvi-ai","type":"user-transcription","data":{"text":"hi","user_id":"u","timestamp":"2026-11-23T09:05:01.123+00:00","final":false}}"#
            )),
            (
                "transcript",
                json!({"role":"user","text":"hi","final":false,"timestamp":"2026-11-23T09:05:01.123+00:00"})
            )
        );
        for (kind, role, on) in [
            ("user-started-speaking", "user", true),
            ("user-stopped-speaking", "user", false),
            ("bot-started-speaking", "bot", true),
            ("bot-stopped-speaking", "bot", false),
        ] {
            let text = format!(r#"{{"label":"rtvi-ai","type":"{kind}"}}"#);
            assert_eq!(
                event(meaning(&text)),
                ("speaking", json!({"role": role, "speaking": on}))
            );
        }
        // 2.2: the kind of text a bot-output line is.
        assert_eq!(
            event(meaning(
                r#"{"label":"rtvi-ai","type":"bot-output","data":{"text":"Mm-hmm.","spoken":true,"aggregated_by":"sentence","text_type":"backchannel"}}"#
            )),
            (
                "transcript",
                json!({"role":"bot","text":"Mm-hmm.","final":true,"textType":"backchannel"})
            )
        );
        assert_eq!(
            event(meaning(
                r#"{"label":"rtvi-ai","type":"server-message","data":{"type":"function-result","x":1}}"#
            )),
            ("servermessage", json!({"type":"function-result","x":1}))
        );
        assert_eq!(
            event(meaning(
                r#"{"label":"rtvi-ai","type":"metrics","data":{"ttfb":[{"processor":"p","value":0.012}]}}"#
            )),
            ("metrics", json!({"ttfb":[{"processor":"p","value":0.012}]}))
        );
        assert_eq!(
            event(meaning(
                r#"{"label":"rtvi-ai","type":"error","data":{"error":"oops","fatal":true}}"#
            )),
            ("boterror", json!({"message":"oops","fatal":true}))
        );
        assert_eq!(
            meaning(r#"{"label":"rtvi-ai","type":"bot-llm-text","data":{}}"#),
            None
        );
    }

    #[test]
    fn every_other_server_message_has_a_typed_event() {
        let typed_of = |text: &str| {
            let v = parse(text).unwrap();
            let kind = v.str_at("type").unwrap_or("").to_owned();
            typed(&kind, v.get("data")).map(|(n, arg)| (n, serde_json::Value::from(&arg)))
        };
        let cases = [
            (r#"{"type":"bot-interrupted"}"#, "botinterrupted", json!({})),
            (
                r#"{"type":"user-mute-started"}"#,
                "usermute",
                json!({"muted": true}),
            ),
            (
                r#"{"type":"user-mute-stopped","data":null}"#,
                "usermute",
                json!({"muted": false}),
            ),
            (
                r#"{"type":"vad-user-started-speaking"}"#,
                "vad",
                json!({"speaking": true}),
            ),
            (
                r#"{"type":"vad-user-stopped-speaking"}"#,
                "vad",
                json!({"speaking": false}),
            ),
            (
                r#"{"type":"user-audio-level","data":{"value":0.25}}"#,
                "audiolevel",
                json!({"value": 0.25, "role": "user"}),
            ),
            (
                r#"{"type":"bot-audio-level","data":{"value":1}}"#,
                "audiolevel",
                json!({"value": 1, "role": "bot"}),
            ),
            (
                r#"{"type":"bot-llm-started"}"#,
                "llm",
                json!({"state": "started"}),
            ),
            (
                r#"{"type":"bot-llm-text","data":{"text":"Hi"}}"#,
                "llm",
                json!({"text": "Hi", "state": "text"}),
            ),
            (
                r#"{"type":"bot-llm-stopped"}"#,
                "llm",
                json!({"state": "stopped"}),
            ),
            (
                r#"{"type":"bot-tts-started"}"#,
                "tts",
                json!({"state": "started"}),
            ),
            (
                r#"{"type":"bot-tts-text","data":{"text":"Hi"}}"#,
                "tts",
                json!({"text": "Hi", "state": "text"}),
            ),
            (
                r#"{"type":"bot-tts-stopped"}"#,
                "tts",
                json!({"state": "stopped"}),
            ),
            (
                r#"{"type":"llm-function-call-started","data":{"function_name":"f"}}"#,
                "functioncall",
                json!({"function_name": "f", "state": "started"}),
            ),
            (
                r#"{"type":"llm-function-call-stopped","data":{"function_name":"f","tool_call_id":"c1","cancelled":false,"result":{"ok":1}}}"#,
                "functioncall",
                json!({"function_name": "f", "tool_call_id": "c1", "cancelled": false, "result": {"ok": 1}, "state": "stopped"}),
            ),
            (
                r#"{"type":"system-log","data":{"text":"hello"}}"#,
                "systemlog",
                json!({"text": "hello"}),
            ),
            (
                r#"{"type":"ui-command","data":{"command":"click","payload":{"ref":"e5","target_id":null}}}"#,
                "uicommand",
                json!({"command": "click", "payload": {"ref": "e5", "target_id": null}}),
            ),
            (
                r#"{"type":"ui-job-group","data":{"kind":"group_started","job_id":"j1","cancellable":true,"at":1765040001000}}"#,
                "uijob",
                json!({"kind": "group_started", "job_id": "j1", "cancellable": true, "at": 1765040001000u64}),
            ),
        ];
        for (text, name, arg) in cases {
            assert_eq!(typed_of(text), Some((name, arg)), "{text}");
        }
        // A `state` the server sent is overwritten, not doubled; data that is not an object
        // is left out.
        assert_eq!(
            typed_of(r#"{"type":"bot-llm-text","data":{"state":"x","text":"t"}}"#),
            Some(("llm", json!({"state": "text", "text": "t"})))
        );
        assert_eq!(
            typed_of(r#"{"type":"bot-tts-text","data":"t"}"#),
            Some(("tts", json!({"state": "text"})))
        );
        // The conversation's own, and unknown types, have none here.
        for kind in [
            "bot-output",
            "user-transcription",
            "server-message",
            "error",
            "bot-ready",
            "x",
        ] {
            assert_eq!(typed(kind, None), None, "{kind}");
        }
    }

    #[test]
    fn a_bot_that_sends_bot_output_is_not_transcribed_twice() {
        let parse_kind = |t: &str| {
            let v = parse(t).unwrap();
            (v.str_at("type").unwrap().to_owned(), v)
        };
        let output = parse_kind(
            r#"{"label":"rtvi-ai","type":"bot-output","data":{"text":"Hello.","spoken":true}}"#,
        );
        let tts =
            parse_kind(r#"{"label":"rtvi-ai","type":"bot-tts-text","data":{"text":"Hello."}}"#);
        let old = parse_kind(
            r#"{"label":"rtvi-ai","type":"bot-transcription","data":{"text":"Hello."}}"#,
        );
        // A 1.x bot: its tts text streams (not final), its transcription is final.
        let mut seen = false;
        assert_eq!(
            event(interpret(&tts.0, &tts.1, &mut seen)),
            (
                "transcript",
                json!({"role":"bot","text":"Hello.","final":false})
            )
        );
        assert_eq!(
            event(interpret(&old.0, &old.1, &mut seen)),
            (
                "transcript",
                json!({"role":"bot","text":"Hello.","final":true})
            )
        );
        // A 2.x bot: bot-output is the transcript; the repeats are not.
        assert_eq!(
            event(interpret(&output.0, &output.1, &mut seen)),
            (
                "transcript",
                json!({"role":"bot","text":"Hello.","final":true})
            )
        );
        assert!(seen);
        assert_eq!(interpret(&tts.0, &tts.1, &mut seen), None);
        assert_eq!(interpret(&old.0, &old.1, &mut seen), None);
    }

    #[test]
    fn responses_and_function_calls() {
        assert_eq!(
            meaning(
                r#"{"label":"rtvi-ai","type":"server-response","id":"m1","data":{"t":"echo","d":{"n":1}}}"#
            ),
            Some(Meaning::Response("m1".into(), Ok(json!({"n":1}).into())))
        );
        let Some(Meaning::Response(id, Err(e))) = meaning(
            r#"{"label":"rtvi-ai","type":"error-response","id":"m2","data":{"error":"Unsupported client-message type x"}}"#,
        ) else {
            panic!()
        };
        assert_eq!((id.as_str(), e.code), ("m2", ErrorCode::BotError));
        assert!(e.message.contains("Unsupported client-message type x"));
        assert_eq!(
            e.details.data,
            Some(json!({"error":"Unsupported client-message type x"}).into())
        );
        assert_eq!(
            meaning(r#"{"label":"rtvi-ai","type":"server-response","data":{}}"#),
            None,
            "no id"
        );

        let expected = FunctionCall {
            name: "get_weather".into(),
            tool_call_id: "call_0001".into(),
            arguments: json!({"location":"Paris"}).into(),
        };
        assert_eq!(
            meaning(
                r#"{"label":"rtvi-ai","type":"llm-function-call-in-progress","data":{"tool_call_id":"call_0001","function_name":"get_weather","arguments":{"location":"Paris"}}}"#
            ),
            Some(Meaning::FunctionCall(expected.clone()))
        );
        assert_eq!(
            meaning(
                r#"{"label":"rtvi-ai","type":"llm-function-call","data":{"function_name":"get_weather","tool_call_id":"call_0001","args":{"location":"Paris"}}}"#
            ),
            Some(Meaning::FunctionCall(expected))
        );
        assert_eq!(
            meaning(
                r#"{"label":"rtvi-ai","type":"llm-function-call-in-progress","data":{"tool_call_id":"c"}}"#
            ),
            None,
            "no function name: nothing to call"
        );
    }
}
