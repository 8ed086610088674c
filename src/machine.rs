//! The connection as a state machine, free of I/O in the manner of str0m: the web layer feeds it
//! what the browser reported (`Input`) and carries out what it decides (`Output`). Every rule —
//! when the offer may go out (never before the start answered and the media settled), which
//! phase a failure belongs to, how trickled candidates are batched, what to send when the
//! channel opens, when the connect call resolves, what ends a connection and with which reason —
//! is here and tested natively.

use crate::conversation::{self, FunctionCall};
use crate::error::{Error, ErrorCode, Phase};
use crate::json::Value;
use crate::recovery::{self, Recovery};
use crate::rtvi::{self, Ids, Incoming};
use crate::signalling::parse_answer;
use crate::trickle::{Candidate, TrickleQueue};
// Where the browser's ICE states are read; the recovery policy reads them too.
pub use crate::trickle::IceState;

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
    SocketClosed,
    Timeout,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::Local => "local",
            DisconnectReason::PeerLeft => "peer-left",
            DisconnectReason::IceFailed => "ice-failed",
            DisconnectReason::ChannelClosed => "channel-closed",
            DisconnectReason::SocketClosed => "socket-closed",
            DisconnectReason::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// `startAndConnect`: the start request answered and the offer target is known.
    Started,
    /// The tracks are attached to the senders (or there were none to open).
    MediaReady,
    /// A local offer is set (`setLocalDescription` done); this is its SDP.
    LocalOffer(String),
    /// The start answered with other ICE servers than the offer was gathered with: the unsent
    /// offer was made again under them (an ICE restart). Its SDP; the first gathering's
    /// candidates are void. Counts as `Started`.
    RegatheredOffer(String),
    /// The offer POST answered 2xx with this body (`None`: it was not JSON).
    OfferAnswered(Option<Value>),
    /// The server's answer is applied (`setRemoteDescription` done).
    RemoteApplied,
    /// A gathered local candidate; `None` is the end of gathering.
    Candidate(Option<Candidate>),
    /// A trickle PATCH finished.
    PatchDone(Result<(), Error>),
    Ice(IceState),
    /// The data channel (WebRTC) or the socket (WebSocket) is open.
    ChannelOpen {
        now_ms: f64,
    },
    ChannelClosed,
    /// The server's interruption frame (WebSocket transport): the bot's buffered audio is stale.
    Interrupted,
    /// The WebSocket closed after it opened, with the close frame's code and reason.
    SocketClosed {
        code: u16,
        reason: String,
    },
    /// A message on the channel, classified by `rtvi::classify`.
    Message(Incoming),
    SetTrack {
        index: u8,
        enabled: bool,
    },
    /// The call's timer fired (`Output::Timer`), or the call begins (which arms it): whatever
    /// is due at the time given to `handle_at` is done.
    Timeout,
    /// The caller's `signal` aborted the connect.
    Aborted,
    /// A step the web layer carried out failed (a request, a browser API, getUserMedia). An
    /// error without a phase gets the current one.
    Failure(Error),
    /// Sending on the channel failed.
    SendFailed(Error),
    /// `sendClientRequest`: send it and wait for the answer with this id, at most `timeout_ms`.
    Request {
        id: String,
        kind: String,
        data: Option<Value>,
        timeout_ms: f64,
    },
    /// A function handler finished (its result, or `conversation::error_result` if it threw).
    FunctionDone {
        call: FunctionCall,
        result: Value,
    },
    /// The bot asked for a function no handler is registered for.
    FunctionMissing(String),
    /// For the reconnect policy, about the call's current peer connection: `offline`/`online`,
    /// traffic totals after `Rtc::Sample` (`Ice` and `ChannelClosed` come through their own
    /// inputs; its `Tick` comes from the call's clock).
    Net(recovery::Input),
    /// Recovery attempt `attempt`'s new peer connection has this local offer set.
    AttemptOffer {
        attempt: u32,
        sdp: String,
    },
    /// Its path probe (`Rtc::Probe`) settled: `Ok` for any HTTP answer, else the error.
    AttemptProbed {
        attempt: u32,
        result: Result<(), Error>,
    },
    /// Its offer POST answered 2xx with this body.
    AttemptAnswered {
        attempt: u32,
        body: Option<Value>,
    },
    AttemptCandidate {
        attempt: u32,
        candidate: Option<Candidate>,
    },
    AttemptPatchDone {
        attempt: u32,
    },
    /// Its ICE connected: the call can move over.
    AttemptConnected(u32),
    /// A step of it failed (request, browser API, ICE).
    AttemptFailed {
        attempt: u32,
        error: Error,
    },
    Disconnect,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A `chat` message: parsed JSON, or the text when it is not JSON.
    Message(Value),
    Rtvi(Value),
    BotReady(Value),
    Error(Error),
    /// A typed conversation event (`transcript`, `speaking`, ...) and its argument.
    Named(&'static str, Value),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send this JSON on the channel.
    Send(Value),
    /// Send this text as it is (pings).
    SendText(String),
    State(State),
    Emit(Event),
    /// Resolve the connect call.
    Connected,
    /// Reject the connect call (everything is closed by the `Close` that follows).
    ConnectFailed(Error),
    /// Settle the `sendClientRequest` promise with this id.
    Settle {
        id: String,
        result: Result<Value, Error>,
    },
    /// Run the page's handler for this function call and report `FunctionDone`.
    CallFunction(FunctionCall),
    /// Drop the bot audio buffered for playback: the bot was interrupted (only a transport
    /// that buffers the bot's audio itself has any).
    DropAudio,
    /// The call's one timer: feed `Input::Timeout` at this time (`Date.now()` clock), replacing
    /// any time set before; `None`: no timer.
    Timer(Option<f64>),
    /// What only the WebRTC transport does: signalling, the peer connection, recovery attempts.
    Rtc(Rtc),
    /// Free everything and emit `disconnected` with the reason.
    Close(DisconnectReason),
}

/// The outputs for the WebRTC transport alone (`Output::Rtc`); everything else a call does is
/// the same whatever carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Rtc {
    /// Create a new local offer (a renegotiation) and report it with `LocalOffer`.
    Offer,
    /// POST this offer body to the offer URL; report `OfferAnswered` or `Failure`.
    PostOffer(Value),
    /// Apply the server's answer SDP; report `RemoteApplied` or `Failure`.
    SetRemote(String),
    /// PATCH this trickle body to the offer URL; report `PatchDone`.
    Patch(Value),
    /// Read the current peer connection's inbound audio packets (`getStats`) and report
    /// `Input::Net(Traffic)` with them and the channel's message count.
    Sample,
    /// Start recovery attempt `attempt`: a new peer connection sending the same tracks, with a
    /// new channel; create and set its offer, report `AttemptOffer`.
    Restart {
        attempt: u32,
    },
    /// Probe the path to the offer URL for the attempt: a `HEAD` request that the server
    /// answers without acting on it, bounded by `recovery::PROBE_TIMEOUT_MS`; report
    /// `AttemptProbed`.
    Probe {
        attempt: u32,
    },
    /// POST the attempt's offer (`restart_pc: true`, the call's `pc_id`); report
    /// `AttemptAnswered` or `AttemptFailed`.
    PostRestart {
        attempt: u32,
        body: Value,
    },
    AttemptSetRemote {
        attempt: u32,
        sdp: String,
    },
    AttemptPatch {
        attempt: u32,
        body: Value,
    },
    /// Drop the attempt: abort its requests, close its peer connection.
    CancelAttempt(u32),
    /// Cut this request short: it took too long, and the machine has moved on without it.
    Abort(Flight),
    /// The attempt's peer connection is the call's now: close the old one, move the remote
    /// tracks into the same `remoteStream`; its channel's `open` is `ChannelOpen` as usual.
    Swap(u32),
}

#[derive(Debug)]
pub struct Machine {
    state: State,
    /// The connect call has been resolved or rejected.
    settled: bool,
    closed: bool,
    // How far the connect got; the phase of a failure is the first step not done.
    starting: bool,
    started: bool,
    media_ready: bool,
    remote_applied: bool,
    ice_connected: bool,
    channel_open: bool,
    wait_for_bot_ready: bool,
    /// The bot said `bot-ready`.
    bot_ready: bool,
    /// A WebSocket carries the call: no offer, no ICE, no pings, no recovery.
    socket: bool,
    /// A local offer waiting for the start answer or the media before it may be posted.
    pending_offer: Option<String>,
    /// An offer round (create, post, apply) is under way.
    negotiating: bool,
    renegotiate_pending: bool,
    request_data: Option<Value>,
    pc_id: Option<String>,
    trickle: TrickleQueue,
    tracks: [bool; 2],
    ids: Ids,
    client_ready_id: Option<String>,
    bot_output_seen: bool,
    bot_version: Option<String>,
    /// When the server last sent anything (a WebSocket call's liveness, `clock::QUIET_MS`).
    heard: f64,
    recovery: Recovery,
    /// The recovery attempt under way.
    attempt: Option<reconnect::Attempt>,
    /// Everything due at a time, `sendClientRequest`s waiting included.
    clock: clock::Clock,
    /// The time of the input being handled (`handle_at`).
    now: f64,
}

/// What a connect is set up with.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The session's start request is part of this connect (`startAndConnect`): the first
    /// phase is `start`, and the offer waits for its answer.
    pub starting: bool,
    pub wait_for_bot_ready: bool,
    /// The call is carried by a WebSocket (Pipecat's WebSocket transport), not WebRTC (its
    /// `reconnect` has no attempts: recovery is WebRTC's).
    pub socket: bool,
    /// Microphone and camera wanted (their initial mute state).
    pub tracks: [bool; 2],
    pub request_data: Option<Value>,
    /// Seeds the RTVI message ids.
    pub seed: u64,
    /// The reconnect policy's settings (`max_attempts: 0` turns it off).
    pub reconnect: recovery::Config,
    /// When the connect began (`Date.now()`) and how long it may take.
    pub now_ms: f64,
    pub timeout_ms: f64,
    /// ICE must connect within this long of the answer, or the connect fails with `ice_failed`
    /// and `details.reason: "ice-timeout"` (`transport: "auto"` then falls back to a WebSocket).
    pub ice_limit_ms: Option<f64>,
}

impl Machine {
    /// A connect whose first offer is being created.
    pub fn new(setup: Setup) -> Machine {
        Machine {
            state: State::Connecting,
            settled: false,
            closed: false,
            starting: setup.starting,
            started: false,
            media_ready: false,
            remote_applied: false,
            ice_connected: false,
            channel_open: false,
            wait_for_bot_ready: setup.wait_for_bot_ready,
            bot_ready: false,
            socket: setup.socket,
            pending_offer: None,
            negotiating: !setup.socket,
            renegotiate_pending: false,
            request_data: setup.request_data,
            pc_id: None,
            trickle: TrickleQueue::new(),
            tracks: setup.tracks,
            ids: Ids::new(setup.seed),
            client_ready_id: None,
            bot_output_seen: false,
            bot_version: None,
            heard: setup.now_ms,
            recovery: Recovery::new(setup.reconnect),
            attempt: None,
            clock: clock::Clock::new(setup.now_ms, setup.timeout_ms, setup.ice_limit_ms),
            now: setup.now_ms,
        }
    }

    /// The RTVI version in the bot's `bot-ready`.
    pub fn bot_version(&self) -> Option<&str> {
        self.bot_version.as_deref()
    }

    /// Something arrived from the server at `now_ms` (every frame of a WebSocket call).
    pub fn heard(&mut self, now_ms: f64) {
        self.heard = now_ms;
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The step a failure now belongs to: the first one of the connect not done yet, or `call`
    /// once the connect resolved.
    pub fn phase(&self) -> Phase {
        if self.settled {
            Phase::Call
        } else if self.starting && !self.started {
            Phase::Start
        } else if !self.media_ready {
            Phase::Media
        } else if self.socket {
            if self.channel_open {
                Phase::BotReady
            } else {
                Phase::Socket
            }
        } else if self.channel_open {
            // An open channel means the answer is applied and ICE is up, whichever of their
            // events this page has seen yet: the browser may deliver the channel's `open` before
            // `setRemoteDescription()` resolves.
            Phase::BotReady
        } else if !self.remote_applied {
            Phase::Offer
        } else if !self.ice_connected {
            Phase::Ice
        } else {
            Phase::Channel
        }
    }

    /// A drop is met with recovery attempts (`reconnect.maxAttempts` > 0).
    pub fn reconnects(&self) -> bool {
        self.recovery.enabled()
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

    /// How many trickle PATCHes went out.
    pub fn patches_sent(&self) -> u32 {
        self.trickle.sent_requests()
    }

    pub fn next_id(&mut self) -> String {
        self.ids.next_id()
    }

    /// `handle` at time `now_ms` (`Date.now()`), the clock of the reconnect policy.
    pub fn handle_at(&mut self, input: Input, now_ms: f64) -> Vec<Output> {
        self.now = now_ms;
        self.handle(input)
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        self.landed(&input);
        self.step(&mut out, input);
        self.track_flights(&out);
        self.rearm(&mut out);
        out
    }

    fn step(&mut self, out: &mut Vec<Output>, input: Input) {
        match input {
            // A live call: the reconnect policy decides.
            Input::Ice(state) if self.settled => {
                if state == IceState::Connected {
                    self.ice_connected = true;
                }
                self.recover(out, recovery::Input::Ice(state));
            }
            Input::ChannelClosed if self.settled => {
                self.channel_open = false;
                self.recover(out, recovery::Input::ChannelClosed);
            }
            Input::Net(net) => {
                if self.settled {
                    self.recover(out, net);
                }
            }
            Input::AttemptOffer { .. }
            | Input::AttemptProbed { .. }
            | Input::AttemptAnswered { .. }
            | Input::AttemptCandidate { .. }
            | Input::AttemptPatchDone { .. }
            | Input::AttemptConnected(_)
            | Input::AttemptFailed { .. } => self.attempt_input(out, input),
            Input::RegatheredOffer(sdp) => {
                self.started = true;
                self.local_offer(out, sdp);
            }
            Input::Started => {
                self.started = true;
                self.post_offer_if_ready(out);
            }
            Input::MediaReady => {
                self.media_ready = true;
                self.post_offer_if_ready(out);
                self.settle_if_ready(out);
            }
            Input::LocalOffer(sdp) => self.local_offer(out, sdp),
            Input::OfferAnswered(body) => match parse_answer(body.as_ref()) {
                Ok(answer) => {
                    if !self.ice_connected && !self.settled {
                        self.clock.ice_limit = self.clock.ice_limit_ms.map(|ms| self.now + ms);
                    }
                    self.trickle.set_pc_id(answer.pc_id.clone());
                    self.pc_id = Some(answer.pc_id);
                    out.push(Output::Rtc(Rtc::SetRemote(answer.sdp)));
                    // The server has its peer as soon as it answered: candidates need not wait
                    // for the answer to be applied here.
                    self.flush_trickle(out);
                }
                Err(e) => self.failure(out, e),
            },
            Input::RemoteApplied => {
                self.remote_applied = true;
                self.negotiating = false;
                self.flush_trickle(out);
                if std::mem::take(&mut self.renegotiate_pending) {
                    self.renegotiate(out);
                }
            }
            Input::Candidate(c) => {
                self.trickle.push(c);
                self.flush_trickle(out);
            }
            Input::PatchDone(result) => {
                self.trickle.batch_done();
                if let Err(e) = result {
                    // ICE may still connect through the server's own candidates: report, go on.
                    out.push(Output::Emit(Event::Error(self.with_phase(e))));
                }
                self.flush_trickle(out);
            }
            Input::Ice(IceState::Connected) => {
                self.ice_connected = true;
                self.clock.ice_limit = None;
            }
            Input::Ice(IceState::Failed) => {
                let err = Error::new(
                    ErrorCode::IceFailed,
                    "ICE failed: no network path to the bot",
                )
                .with_phase(self.phase());
                self.fail(out, err, State::Failed, DisconnectReason::IceFailed);
            }
            Input::Ice(_) => {}
            Input::ChannelOpen { now_ms } => {
                if self.channel_open {
                    return;
                }
                self.channel_open = true;
                for (index, enabled) in self.tracks.into_iter().enumerate() {
                    out.push(Output::Send(rtvi::track_status(index as u8, enabled)));
                }
                let id = self.ids.next_id();
                out.push(Output::Send(rtvi::client_ready(&id)));
                self.client_ready_id = Some(id);
                // SmallWebRTC's keepalive; the WebSocket transport has none.
                if !self.socket {
                    out.push(Output::SendText(rtvi::ping(now_ms)));
                    self.start_ping();
                }
                self.settle_if_ready(out);
            }
            Input::Interrupted => out.push(Output::DropAudio),
            Input::SocketClosed { code, reason } => {
                // 4003: the runner refuses a token or an origin this way.
                let refused = code == 4003;
                let mut err = Error::new(
                    ErrorCode::Signalling,
                    if refused {
                        "the server refused the WebSocket (close code 4003)"
                    } else {
                        "the WebSocket closed"
                    },
                )
                .with_phase(self.phase());
                err.details.close_code = Some(code);
                err.details.close_reason = (!reason.is_empty()).then_some(reason);
                self.channel_open = false;
                if refused && self.settled {
                    out.push(Output::Emit(Event::Error(err.clone())));
                }
                self.fail(
                    out,
                    err,
                    State::Disconnected,
                    DisconnectReason::SocketClosed,
                );
            }
            Input::ChannelClosed => {
                let err = Error::new(ErrorCode::Webrtc, "the data channel closed")
                    .with_phase(self.phase());
                self.channel_open = false;
                self.fail(
                    out,
                    err,
                    State::Disconnected,
                    DisconnectReason::ChannelClosed,
                );
            }
            Input::Message(incoming) => self.on_message(out, incoming),
            Input::SetTrack { index, enabled } => {
                if let Some(slot) = self.tracks.get_mut(index as usize) {
                    *slot = enabled;
                    if self.channel_open {
                        out.push(Output::Send(rtvi::track_status(index, enabled)));
                    }
                }
            }
            Input::Timeout => self.on_timeout(out),
            Input::Aborted => {
                if !self.settled {
                    let err = Error::aborted(self.phase());
                    self.fail(out, err, State::Disconnected, DisconnectReason::Local);
                }
            }
            Input::Failure(err) => self.failure(out, err),
            Input::SendFailed(err) => {
                let err = self.with_phase(err);
                if self.settled {
                    out.push(Output::Emit(Event::Error(err)));
                } else {
                    // A lost client-ready would only wait out the budget: fail now.
                    self.fail(out, err, State::Failed, DisconnectReason::Local);
                }
            }
            Input::Request {
                id,
                kind,
                data,
                timeout_ms,
            } => {
                if self.channel_open {
                    out.push(Output::Send(conversation::client_message(&id, &kind, data)));
                    self.clock.wait(id, self.now, timeout_ms);
                } else {
                    let err = Error::new(
                        ErrorCode::Closed,
                        "sendClientRequest: the channel is not open",
                    )
                    .with_phase(self.phase());
                    out.push(Output::Settle {
                        id,
                        result: Err(err),
                    });
                }
            }
            Input::FunctionDone { call, result } => {
                if self.channel_open {
                    let id = self.ids.next_id();
                    out.push(Output::Send(conversation::function_result(
                        &id, &call, result,
                    )));
                }
            }
            Input::FunctionMissing(name) => {
                let err = Error::new(
                    ErrorCode::BotError,
                    format!("the bot called the function {name}, which has no handler"),
                )
                .with_phase(self.phase());
                out.push(Output::Emit(Event::Error(err)));
            }
            Input::Disconnect => {
                if !self.settled {
                    let err =
                        Error::new(ErrorCode::Closed, "disconnect() was called during connect")
                            .with_phase(self.phase());
                    out.push(Output::ConnectFailed(err));
                    self.settled = true;
                }
                self.close(out, State::Disconnected, DisconnectReason::Local);
            }
        }
    }

    fn with_phase(&self, err: Error) -> Error {
        if err.phase().is_some() {
            err
        } else {
            err.with_phase(self.phase())
        }
    }

    /// The connect resolves once the channel is open and the media settled, and the bot said
    /// `bot-ready` if the caller waits for it. (Over WebRTC the channel cannot open before the
    /// media settled: the offer waits for them. A WebSocket opens beside the media.)
    fn settle_if_ready(&mut self, out: &mut Vec<Output>) {
        if !self.settled
            && self.channel_open
            && self.media_ready
            && (self.bot_ready || !self.wait_for_bot_ready)
        {
            self.settle(out);
        }
    }

    fn settle(&mut self, out: &mut Vec<Output>) {
        self.settled = true;
        self.connect_done();
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
            DisconnectReason::PeerLeft
                | DisconnectReason::ChannelClosed
                | DisconnectReason::SocketClosed
        ) {
            out.push(Output::Emit(Event::Error(err)));
        }
        self.close(out, state, reason);
    }

    fn close(&mut self, out: &mut Vec<Output>, state: State, reason: DisconnectReason) {
        self.set_state(out, state);
        self.closed = true;
        self.channel_open = false;
        self.recovery.handle(recovery::Input::Disconnect, self.now);
        if let Some(a) = self.attempt.take() {
            out.push(Output::Rtc(Rtc::CancelAttempt(a.number)));
        }
        // Nothing pending survives the call.
        self.stop_clock(out);
        out.push(Output::Close(reason));
    }

    fn set_state(&mut self, out: &mut Vec<Output>, state: State) {
        if self.state != state {
            self.state = state;
            out.push(Output::State(state));
        }
    }
}

mod clock;
mod messages;
mod negotiation;
mod reconnect;
mod shell;

pub use clock::{Flight, LATE_REQUEST_MS};
pub use shell::{feed, Shell};
#[cfg(test)]
mod tests;
