//! What arrives on the channel: plain messages, RTVI messages (bot-ready settles the connect,
//! the conversation's meaning goes to typed events, answers and function calls) and the
//! server's signalling (`renegotiate`, `peerLeft`).

use super::{clock, DisconnectReason, Event, Machine, Output, State};
use crate::conversation::{self, Meaning};
use crate::error::{Error, ErrorCode};
use crate::json::Value;
use crate::rtvi::Incoming;

impl Machine {
    pub(super) fn on_message(&mut self, out: &mut Vec<Output>, incoming: Incoming) {
        let meaning = match incoming {
            Incoming::Text(t) => return out.push(Output::Emit(Event::Message(Value::String(t)))),
            Incoming::Json(v) => return out.push(Output::Emit(Event::Message(v))),
            Incoming::TooDeep { text, answers } => {
                out.push(Output::Emit(Event::Message(Value::String(text))));
                let Some(id) = answers else { return };
                let e = Error::new(
                    ErrorCode::BadResponse,
                    "the bot's answer is nested too deep to read",
                );
                Meaning::Response(id, Err(e))
            }
            Incoming::Rtvi(kind, v) => {
                // The answer to a liveness probe is for the clock only: the next check from now.
                if self.clock.probe_answered(v.str_at("id")) {
                    self.clock.ping = Some(self.now + clock::QUIET_MS);
                    return;
                }
                out.push(Output::Emit(Event::Message(v.clone())));
                out.push(Output::Emit(Event::Rtvi(v.clone())));
                if kind == "bot-ready" {
                    let data = v.get("data").cloned().unwrap_or(Value::Null);
                    self.bot_version = data.str_at("version").map(str::to_owned);
                    out.push(Output::Emit(Event::BotReady(data)));
                    self.bot_ready = true;
                    // A bot that speaks RTVI answers the probes that keep a WebSocket call's
                    // path checked from now on.
                    if self.socket {
                        self.clock.ping = Some(self.now + clock::QUIET_MS);
                    }
                    self.settle_if_ready(out);
                    return;
                }
                if kind == "bot-interrupted" || kind == "user-started-speaking" {
                    out.push(Output::DropAudio);
                }
                if let Some((name, arg)) = conversation::typed(&kind, v.get("data")) {
                    out.push(Output::Emit(Event::Named(name, arg)));
                }
                let Some(m) = conversation::interpret(&kind, &v, &mut self.bot_output_seen) else {
                    return;
                };
                m
            }
            Incoming::Signalling(kind, v) => {
                out.push(Output::Emit(Event::Message(v)));
                match kind.as_str() {
                    "renegotiate" if self.pc_id.is_some() => self.renegotiate(out),
                    "peerLeft" => {
                        let err = Error::new(
                            ErrorCode::Signalling,
                            "the bot left the session during connect",
                        )
                        .with_phase(self.phase());
                        self.fail(out, err, State::Disconnected, DisconnectReason::PeerLeft);
                    }
                    _ => {}
                }
                return;
            }
        };
        match meaning {
            Meaning::Event(name, arg) => out.push(Output::Emit(Event::Named(name, arg))),
            Meaning::Response(id, result) => {
                // The promise settles if it is still waiting.
                if self.clock.answered(&id) {
                    out.push(Output::Settle { id, result });
                }
            }
            Meaning::FunctionCall(call) => out.push(Output::CallFunction(call)),
        }
    }
}
