//! The connection as a state machine, free of I/O in the manner of str0m: the web layer feeds it
//! what the browser reported (`Input`) and carries out what it decides (`Output`). Every rule —
//! which phase a failure belongs to, what to send when the channel opens, when the connect call
//! resolves, what ends a connection and with which reason — is here and tested natively.

use crate::error::{Error, ErrorCode, Phase};
use crate::rtvi::{self, Ids, Incoming};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Connected,
    Reconnecting,
    Disconnected,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Reconnecting => "reconnecting",
            State::Disconnected => "disconnected",
            State::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    Local,
    PeerLeft,
    IceFailed,
    ChannelClosed,
    Timeout,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::Local => "local",
            DisconnectReason::PeerLeft => "peer-left",
            DisconnectReason::IceFailed => "ice-failed",
            DisconnectReason::ChannelClosed => "channel-closed",
            DisconnectReason::Timeout => "timeout",
        }
    }
}

/// `RTCIceConnectionState` / `RTCPeerConnectionState` values that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    Checking,
    Connected,
    Disconnected,
    Failed,
    Closed,
    Other,
}

impl IceState {
    pub fn parse(s: &str) -> IceState {
        match s {
            "checking" => IceState::Checking,
            "connected" | "completed" => IceState::Connected,
            "disconnected" => IceState::Disconnected,
            "failed" => IceState::Failed,
            "closed" => IceState::Closed,
            _ => IceState::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Media is ready and the offer went out.
    OfferSent,
    AnswerApplied {
        pc_id: String,
    },
    Ice(IceState),
    ChannelOpen {
        now_ms: f64,
    },
    ChannelClosed,
    Message(String),
    PingTick {
        now_ms: f64,
    },
    SetTrack {
        index: u8,
        enabled: bool,
    },
    /// The connect budget ran out (`Timeout`) or the caller aborted (`Aborted`).
    Deadline(ErrorCode, f64),
    /// Something the web layer tried failed; fatal during connect.
    Failure(Error),
    /// A failure worth reporting that does not end the connection (a trickle PATCH, say).
    Warning(Error),
    /// A renegotiation round finished.
    RenegotiationDone,
    Disconnect,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A `chat` message: parsed JSON, or the text when it is not JSON.
    Message(Value),
    Rtvi(Value),
    BotReady(Value),
    Error(Error),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Send(String),
    State(State),
    Emit(Event),
    /// Resolve the connect call.
    Connected,
    /// Reject the connect call (everything is closed by the `Close` that follows).
    ConnectFailed(Error),
    /// Send a new offer with the same `pc_id`.
    Renegotiate,
    StartPing,
    /// Free everything and emit `disconnected` with the reason.
    Close(DisconnectReason),
}

#[derive(Debug)]
pub struct Machine {
    state: State,
    phase: Phase,
    settled: bool,
    closed: bool,
    channel_open: bool,
    wait_for_bot_ready: bool,
    pc_id: Option<String>,
    tracks: [bool; 2],
    ids: Ids,
    client_ready_id: Option<String>,
    renegotiating: bool,
    renegotiate_pending: bool,
}

impl Machine {
    /// `starting`: the session's start request is part of this connect (`startAndConnect`), so
    /// the first phase is `start`; otherwise it is `media`.
    pub fn new(wait_for_bot_ready: bool, tracks: [bool; 2], seed: u64, starting: bool) -> Machine {
        Machine {
            state: State::Connecting,
            phase: if starting { Phase::Start } else { Phase::Media },
            settled: false,
            closed: false,
            channel_open: false,
            wait_for_bot_ready,
            pc_id: None,
            tracks,
            ids: Ids::new(seed),
            client_ready_id: None,
            renegotiating: false,
            renegotiate_pending: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn pc_id(&self) -> Option<&str> {
        self.pc_id.as_deref()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_channel_open(&self) -> bool {
        self.channel_open && !self.closed
    }

    pub fn track_enabled(&self, index: usize) -> bool {
        self.tracks.get(index).copied().unwrap_or(false)
    }

    pub fn next_id(&mut self) -> String {
        self.ids.next_id()
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        match input {
            Input::OfferSent => {
                if matches!(self.phase, Phase::Start | Phase::Media) {
                    self.phase = Phase::Offer;
                }
            }
            Input::AnswerApplied { pc_id } => {
                self.pc_id = Some(pc_id);
                if self.phase == Phase::Offer {
                    self.phase = Phase::Ice;
                }
            }
            Input::Ice(IceState::Connected) => {
                if self.phase == Phase::Ice {
                    self.phase = Phase::Channel;
                }
            }
            Input::Ice(IceState::Failed) => {
                let err = Error::new(
                    ErrorCode::IceFailed,
                    "ICE failed: no network path to the bot",
                )
                .with_phase(self.phase);
                self.fail(&mut out, err, State::Failed, DisconnectReason::IceFailed);
            }
            Input::Ice(_) => {}
            Input::ChannelOpen { now_ms } => {
                self.channel_open = true;
                for (index, enabled) in self.tracks.into_iter().enumerate() {
                    out.push(Output::Send(rtvi::track_status(index as u8, enabled)));
                }
                let id = self.ids.next_id();
                out.push(Output::Send(rtvi::client_ready(&id)));
                self.client_ready_id = Some(id);
                out.push(Output::Send(rtvi::ping(now_ms)));
                out.push(Output::StartPing);
                if self.wait_for_bot_ready {
                    self.phase = Phase::BotReady;
                } else {
                    self.settle(&mut out);
                }
            }
            Input::ChannelClosed => {
                self.channel_open = false;
                let err =
                    Error::new(ErrorCode::Webrtc, "the data channel closed").with_phase(self.phase);
                self.fail(
                    &mut out,
                    err,
                    State::Disconnected,
                    DisconnectReason::ChannelClosed,
                );
            }
            Input::Message(text) => self.on_message(&mut out, &text),
            Input::PingTick { now_ms } => {
                if self.channel_open {
                    out.push(Output::Send(rtvi::ping(now_ms)));
                }
            }
            Input::SetTrack { index, enabled } => {
                if let Some(slot) = self.tracks.get_mut(index as usize) {
                    *slot = enabled;
                    if self.channel_open {
                        out.push(Output::Send(rtvi::track_status(index, enabled)));
                    }
                }
            }
            Input::Deadline(code, timeout_ms) => {
                if !self.settled {
                    let (err, reason) = if code == ErrorCode::Timeout {
                        (
                            Error::timeout(self.phase, timeout_ms),
                            DisconnectReason::Timeout,
                        )
                    } else {
                        (Error::aborted(self.phase), DisconnectReason::Local)
                    };
                    self.fail(&mut out, err, State::Disconnected, reason);
                }
            }
            Input::Failure(err) => self.fail(&mut out, err, State::Failed, DisconnectReason::Local),
            Input::Warning(err) => out.push(Output::Emit(Event::Error(err))),
            Input::RenegotiationDone => {
                self.renegotiating = false;
                if std::mem::take(&mut self.renegotiate_pending) {
                    self.renegotiating = true;
                    out.push(Output::Renegotiate);
                }
            }
            Input::Disconnect => {
                if !self.settled {
                    let err =
                        Error::new(ErrorCode::Closed, "disconnect() was called during connect")
                            .with_phase(self.phase);
                    out.push(Output::ConnectFailed(err));
                    self.settled = true;
                }
                self.close(&mut out, State::Disconnected, DisconnectReason::Local);
            }
        }
        out
    }

    fn on_message(&mut self, out: &mut Vec<Output>, text: &str) {
        match rtvi::parse(text) {
            Incoming::Text(t) => out.push(Output::Emit(Event::Message(Value::String(t)))),
            Incoming::Json(v) => out.push(Output::Emit(Event::Message(v))),
            Incoming::Rtvi(kind, v) => {
                out.push(Output::Emit(Event::Message(v.clone())));
                out.push(Output::Emit(Event::Rtvi(v.clone())));
                if kind == "bot-ready" {
                    out.push(Output::Emit(Event::BotReady(
                        v.get("data").cloned().unwrap_or(Value::Null),
                    )));
                    if self.phase == Phase::BotReady && !self.settled {
                        self.settle(out);
                    }
                }
            }
            Incoming::Signalling(kind, v) => {
                out.push(Output::Emit(Event::Message(v)));
                match kind.as_str() {
                    "renegotiate" if self.pc_id.is_some() => {
                        if self.renegotiating {
                            self.renegotiate_pending = true;
                        } else {
                            self.renegotiating = true;
                            out.push(Output::Renegotiate);
                        }
                    }
                    "peerLeft" => {
                        let err = Error::new(
                            ErrorCode::Signalling,
                            "the bot left the session during connect",
                        )
                        .with_phase(self.phase);
                        self.fail(out, err, State::Disconnected, DisconnectReason::PeerLeft);
                    }
                    _ => {}
                }
            }
        }
    }

    fn settle(&mut self, out: &mut Vec<Output>) {
        self.settled = true;
        self.set_state(out, State::Connected);
        out.push(Output::Connected);
    }

    /// During connect a failure rejects the call; afterwards it is an `error` event — except a
    /// peer that left or a closed channel, which are ordinary ends of a live session.
    fn fail(&mut self, out: &mut Vec<Output>, err: Error, state: State, reason: DisconnectReason) {
        if !self.settled {
            self.settled = true;
            out.push(Output::ConnectFailed(err));
        } else if !matches!(
            reason,
            DisconnectReason::PeerLeft | DisconnectReason::ChannelClosed
        ) {
            out.push(Output::Emit(Event::Error(err)));
        }
        self.close(out, state, reason);
    }

    fn close(&mut self, out: &mut Vec<Output>, state: State, reason: DisconnectReason) {
        self.set_state(out, state);
        self.closed = true;
        self.channel_open = false;
        out.push(Output::Close(reason));
    }

    fn set_state(&mut self, out: &mut Vec<Output>, state: State) {
        if self.state != state {
            self.state = state;
            out.push(Output::State(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn up_to_channel(wait: bool) -> Machine {
        let mut m = Machine::new(wait, [true, false], 7, false);
        assert_eq!(m.phase(), Phase::Media);
        m.handle(Input::OfferSent);
        assert_eq!(m.phase(), Phase::Offer);
        m.handle(Input::AnswerApplied {
            pc_id: "pc-1".into(),
        });
        assert_eq!((m.phase(), m.pc_id()), (Phase::Ice, Some("pc-1")));
        m.handle(Input::Ice(IceState::Checking));
        m.handle(Input::Ice(IceState::Connected));
        assert_eq!(m.phase(), Phase::Channel);
        m
    }

    fn sent(out: &[Output]) -> Vec<Value> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(s) => {
                    Some(serde_json::from_str(s).unwrap_or(Value::String(s.clone())))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn channel_open_sends_track_status_client_ready_and_ping_then_bot_ready_resolves() {
        let mut m = up_to_channel(true);
        let out = m.handle(Input::ChannelOpen { now_ms: 1000.0 });
        let msgs = sent(&out);
        assert_eq!(
            msgs[0]["message"],
            json!({"type":"trackStatus","receiver_index":0,"enabled":true})
        );
        assert_eq!(
            msgs[1]["message"],
            json!({"type":"trackStatus","receiver_index":1,"enabled":false})
        );
        assert_eq!(msgs[2]["type"], "client-ready");
        assert_eq!(msgs[3], json!("ping: 1000"));
        assert!(out.contains(&Output::StartPing));
        assert!(!out.contains(&Output::Connected), "waits for bot-ready");
        assert_eq!(m.phase(), Phase::BotReady);
        assert_eq!(m.state(), State::Connecting);

        let id = msgs[2]["id"].as_str().unwrap().to_owned();
        let out = m.handle(Input::Message(
            json!({"label":"rtvi-ai","type":"bot-ready","id":id,"data":{"version":"2.2.0"}})
                .to_string(),
        ));
        assert!(out.contains(&Output::Emit(Event::BotReady(json!({"version":"2.2.0"})))));
        assert!(out.contains(&Output::State(State::Connected)));
        assert_eq!(out.last(), Some(&Output::Connected));
        assert_eq!(m.state(), State::Connected);
        // A second bot-ready is passed on but resolves nothing again.
        let out = m.handle(Input::Message(
            json!({"label":"rtvi-ai","type":"bot-ready"}).to_string(),
        ));
        assert!(!out.contains(&Output::Connected));
    }

    #[test]
    fn without_waiting_the_channel_open_resolves() {
        let mut m = up_to_channel(false);
        let out = m.handle(Input::ChannelOpen { now_ms: 5.0 });
        assert_eq!(out.last(), Some(&Output::Connected));
        assert_eq!(m.state(), State::Connected);
    }

    #[test]
    fn messages_pass_through_with_their_kinds() {
        let mut m = up_to_channel(false);
        m.handle(Input::ChannelOpen { now_ms: 5.0 });
        let out = m.handle(Input::Message("hello".into()));
        assert_eq!(out, vec![Output::Emit(Event::Message(json!("hello")))]);
        let out = m.handle(Input::Message(
            r#"{"label":"rtvi-ai","type":"user-transcription","data":{"text":"hi"}}"#.into(),
        ));
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[1], Output::Emit(Event::Rtvi(v)) if v["type"] == "user-transcription")
        );
        let out = m.handle(Input::Message(r#"{"a":1}"#.into()));
        assert_eq!(out, vec![Output::Emit(Event::Message(json!({"a":1})))]);
    }

    #[test]
    fn pings_only_while_open_and_mute_sends_track_status() {
        let mut m = up_to_channel(false);
        assert!(m.handle(Input::PingTick { now_ms: 1.0 }).is_empty());
        assert!(
            m.handle(Input::SetTrack {
                index: 0,
                enabled: false
            })
            .is_empty(),
            "not open yet"
        );
        m.handle(Input::ChannelOpen { now_ms: 5.0 });
        let msgs = sent(&m.handle(Input::ChannelOpen { now_ms: 5.0 }));
        assert_eq!(
            msgs[0]["message"]["enabled"],
            json!(false),
            "remembered while closed"
        );
        assert_eq!(
            m.handle(Input::PingTick { now_ms: 2000.0 }),
            vec![Output::Send("ping: 2000".into())]
        );
        let msgs = sent(&m.handle(Input::SetTrack {
            index: 1,
            enabled: true,
        }));
        assert_eq!(
            msgs,
            vec![
                json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":1,"enabled":true}})
            ]
        );
        assert!(m
            .handle(Input::SetTrack {
                index: 5,
                enabled: true
            })
            .is_empty());
    }

    #[test]
    fn failures_during_connect_reject_with_their_phase() {
        // ICE failed while checking.
        let mut m = Machine::new(true, [true, false], 1, false);
        m.handle(Input::OfferSent);
        m.handle(Input::AnswerApplied { pc_id: "p".into() });
        let out = m.handle(Input::Ice(IceState::Failed));
        match &out[0] {
            Output::ConnectFailed(e) => {
                assert_eq!((e.code, e.phase()), (ErrorCode::IceFailed, Some("ice")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            &out[1..],
            &[
                Output::State(State::Failed),
                Output::Close(DisconnectReason::IceFailed)
            ]
        );
        assert!(m.is_closed());
        assert!(
            m.handle(Input::Ice(IceState::Connected)).is_empty(),
            "nothing after close"
        );

        // Timeout while waiting for bot-ready.
        let mut m = up_to_channel(true);
        m.handle(Input::ChannelOpen { now_ms: 1.0 });
        let out = m.handle(Input::Deadline(ErrorCode::Timeout, 15000.0));
        match &out[0] {
            Output::ConnectFailed(e) => {
                assert_eq!((e.code, e.phase()), (ErrorCode::Timeout, Some("bot-ready")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Timeout)));

        // Abort during the offer.
        let mut m = Machine::new(true, [true, false], 1, false);
        m.handle(Input::OfferSent);
        let out = m.handle(Input::Deadline(ErrorCode::Aborted, 15000.0));
        assert!(
            matches!(&out[0], Output::ConnectFailed(e) if e.code == ErrorCode::Aborted && e.phase() == Some("offer"))
        );

        // A start that never answers (startAndConnect).
        let mut m = Machine::new(true, [true, false], 1, true);
        assert_eq!(m.phase(), Phase::Start);
        let out = m.handle(Input::Deadline(ErrorCode::Timeout, 100.0));
        assert!(matches!(&out[0], Output::ConnectFailed(e) if e.phase() == Some("start")));
        let mut m = Machine::new(true, [true, false], 1, true);
        m.handle(Input::OfferSent);
        assert_eq!(m.phase(), Phase::Offer);

        // Media failure reported by the web layer.
        let mut m = Machine::new(true, [true, false], 1, false);
        let media = Error::new(ErrorCode::Media, "denied").with_phase(Phase::Media);
        let out = m.handle(Input::Failure(media.clone()));
        assert_eq!(out[0], Output::ConnectFailed(media));

        // peerLeft before bot-ready is a signalling error.
        let mut m = up_to_channel(true);
        m.handle(Input::ChannelOpen { now_ms: 1.0 });
        let out = m.handle(Input::Message(
            r#"{"type":"signalling","message":{"type":"peerLeft"}}"#.into(),
        ));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::ConnectFailed(e) if e.code == ErrorCode::Signalling)));
        assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::PeerLeft)));

        // disconnect() during connect.
        let mut m = up_to_channel(true);
        let out = m.handle(Input::Disconnect);
        assert!(
            matches!(&out[0], Output::ConnectFailed(e) if e.code == ErrorCode::Closed && e.phase() == Some("channel"))
        );
        assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Local)));
    }

    #[test]
    fn ends_of_a_live_connection() {
        let live = || {
            let mut m = up_to_channel(false);
            m.handle(Input::ChannelOpen { now_ms: 1.0 });
            m
        };
        let mut m = live();
        let out = m.handle(Input::Message(
            r#"{"type":"signalling","message":{"type":"peerLeft"}}"#.into(),
        ));
        assert_eq!(
            &out[1..],
            &[
                Output::State(State::Disconnected),
                Output::Close(DisconnectReason::PeerLeft)
            ]
        );

        let mut m = live();
        let out = m.handle(Input::Ice(IceState::Failed));
        assert!(matches!(&out[0], Output::Emit(Event::Error(e)) if e.code == ErrorCode::IceFailed));
        assert_eq!(
            &out[1..],
            &[
                Output::State(State::Failed),
                Output::Close(DisconnectReason::IceFailed)
            ]
        );

        let mut m = live();
        assert_eq!(
            m.handle(Input::ChannelClosed),
            vec![
                Output::State(State::Disconnected),
                Output::Close(DisconnectReason::ChannelClosed)
            ]
        );

        let mut m = live();
        assert_eq!(
            m.handle(Input::Disconnect),
            vec![
                Output::State(State::Disconnected),
                Output::Close(DisconnectReason::Local)
            ]
        );
        assert!(m.handle(Input::Disconnect).is_empty(), "idempotent");

        let mut m = live();
        assert!(
            m.handle(Input::Deadline(ErrorCode::Timeout, 1.0))
                .is_empty(),
            "the budget only covers the connect"
        );
        assert!(
            m.handle(Input::Ice(IceState::Disconnected)).is_empty(),
            "transient"
        );
        let warn = Error::new(ErrorCode::Http, "patch");
        assert_eq!(
            m.handle(Input::Warning(warn.clone())),
            vec![Output::Emit(Event::Error(warn))]
        );
    }

    #[test]
    fn renegotiation_needs_a_pc_id_and_runs_one_at_a_time() {
        let reneg = r#"{"type":"signalling","message":{"type":"renegotiate"}}"#;
        let mut m = Machine::new(true, [true, false], 1, false);
        assert!(
            !m.handle(Input::Message(reneg.into()))
                .contains(&Output::Renegotiate),
            "no pc_id yet"
        );
        let mut m = up_to_channel(false);
        m.handle(Input::ChannelOpen { now_ms: 1.0 });
        assert!(m
            .handle(Input::Message(reneg.into()))
            .contains(&Output::Renegotiate));
        assert!(
            !m.handle(Input::Message(reneg.into()))
                .contains(&Output::Renegotiate),
            "queued"
        );
        assert_eq!(
            m.handle(Input::RenegotiationDone),
            vec![Output::Renegotiate]
        );
        assert!(m.handle(Input::RenegotiationDone).is_empty());
    }
}
