//! One WebRTC peer connection (str0m) on its own UDP socket, driven by a tokio task, with the
//! echo bot behind it. The task owns the `Rtc` and the socket: both are freed when it returns.
//!
//! The transport side follows Pipecat's `SmallWebRTCConnection`: pings and signalling messages
//! are handled here; a client whose pings stop (`ping_timeout`) is considered away and nothing
//! is sent to it, but the peer lives on until ICE consent expires (`consent_timeout` without a
//! datagram from the client), which ends the bot for good.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::media::MediaKind;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::blackout::{self, Blackout, Edge};
use crate::bot::{signalling, Action, Bot};
use crate::fault::Faults;
use crate::rtvi::epoch_ms;
use crate::vad;

/// An Opus frame (TOC 0xF8: CELT fullband 20 ms, one frame) that decodes to silence.
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// Messages queued while the channel is not open yet.
const MAX_PENDING: usize = 50;
/// Messages kept for the debug endpoint.
const KEEP_MESSAGES: usize = 50;
/// A peer that never connects is dropped after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time given to a last message (peerLeft) to reach the client before the peer closes.
const LINGER: Duration = Duration::from_millis(300);

/// What the server observed for one peer, for `GET /debug/sessions/{id}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerDebug {
    pub pc_id: String,
    pub state: &'static str,
    pub ice_state: &'static str,
    pub channel_open: bool,
    pub track_status: TrackStatus,
    pub pings_seen: u64,
    pub last_ping_ms: Option<u64>,
    /// No ping for the ping timeout: the client counts as away and nothing is sent to it.
    pub ping_timed_out: bool,
    pub audio_packets_received: u64,
    pub audio_packets_sent: u64,
    pub messages_received: VecDeque<Value>,
    /// Messages the bot had for the client while it was away (not sent, as Pipecat does).
    pub messages_dropped: u64,
    pub candidates_received: u64,
    /// The offer said `a=end-of-candidates`: a PATCH with candidates is refused (500), as aiortc.
    pub candidates_ended: bool,
    pub renegotiations: u64,
    pub request_data: Value,
    /// Whether this peer took over a bot with `restart_pc`.
    pub restarted: bool,
    pub blackouts: Vec<blackout::Record>,
    pub closed_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackStatus {
    #[serde(rename = "0")]
    pub audio: bool,
    #[serde(rename = "1")]
    pub video: bool,
}

/// Who ended a peer: the client going away leaves its session open for a new offer; the bot
/// ending (peerLeft) ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    ClientGone,
    BotEnded,
    Replaced,
}

pub enum PeerCmd {
    /// A renegotiation offer with this peer's pc_id; the answer SDP goes back.
    Offer(SdpOffer, oneshot::Sender<Result<String, String>>),
    /// Trickled candidates (`candidate:` strings).
    Candidates(Vec<String>),
    /// Cut the media path now for this long; the blackout's record goes back.
    Blackout(Duration, oneshot::Sender<blackout::Record>),
    Close(String, Ending),
}

/// The registry's hold on a running peer.
pub struct PeerHandle {
    pub serial: u64,
    pub pc_id: String,
    /// The ids of the peers this one replaced by `restart_pc`: as Pipecat's request handler,
    /// an offer or PATCH naming any of them reaches this peer.
    pub aliases: Vec<String>,
    pub tx: mpsc::UnboundedSender<PeerCmd>,
    pub debug: Arc<Mutex<PeerDebug>>,
    /// The bot behind the peer; a `restart_pc` hands it to the next peer.
    pub bot: Arc<Mutex<Bot>>,
}

impl PeerHandle {
    /// Its own id or one of the ids it took over.
    pub fn answers_to(&self, pc_id: &str) -> bool {
        self.pc_id == pc_id || self.aliases.iter().any(|a| a == pc_id)
    }

    pub fn is_live(&self) -> bool {
        !self.tx.is_closed()
    }
}

pub struct PeerOptions {
    pub candidates_ended: bool,
    pub faults: Faults,
    pub ping_timeout: Duration,
    pub consent_timeout: Duration,
    /// The session's `blackout-...` fault, for the one peer that gets it: (delay, length).
    pub blackout: Option<(Duration, Duration)>,
    pub restarted: bool,
}

/// Called once when the peer's task ends.
pub type OnExit = Box<dyn FnOnce(Ending) + Send>;

pub fn lock(bot: &Mutex<Bot>) -> MutexGuard<'_, Bot> {
    // A panic while holding the lock would be a bug; keep the bot usable rather than cascade.
    bot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a peer for `offer`: binds its socket, answers the offer, and starts its task.
pub fn start(
    serial: u64,
    pc_id: String,
    offer: SdpOffer,
    request_data: Value,
    bot: Arc<Mutex<Bot>>,
    opts: PeerOptions,
    on_exit: impl FnOnce(u64) -> OnExit,
) -> Result<(String, PeerHandle), String> {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    std_socket
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let local = std_socket.local_addr().map_err(|e| e.to_string())?;
    let socket = UdpSocket::from_std(std_socket).map_err(|e| e.to_string())?;

    let mut rtc = Rtc::builder().build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("cannot accept the offer: {e}"))?;

    let debug = Arc::new(Mutex::new(PeerDebug {
        pc_id: pc_id.clone(),
        state: "new",
        ice_state: "new",
        channel_open: false,
        track_status: TrackStatus {
            audio: true,
            video: true,
        },
        pings_seen: 0,
        last_ping_ms: None,
        ping_timed_out: false,
        audio_packets_received: 0,
        audio_packets_sent: 0,
        messages_received: VecDeque::new(),
        messages_dropped: 0,
        candidates_received: 0,
        candidates_ended: opts.candidates_ended,
        renegotiations: 0,
        request_data,
        restarted: opts.restarted,
        blackouts: Vec::new(),
        closed_reason: None,
    }));
    lock(&bot).attach(serial);
    let (tx, rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let task = Peer {
        serial,
        bot: bot.clone(),
        rtc,
        socket,
        local,
        rx,
        debug: debug.clone(),
        chat: None,
        pending: Vec::new(),
        created: now,
        connected: false,
        last_rx: now,
        last_ping: None,
        away: false,
        mic_enabled: true,
        timers: Timers::default(),
        blackout: Blackout::default(),
        linger: None,
        opts,
    };
    let mut exit = ExitGuard(Some(on_exit(serial)));
    tokio::spawn(async move {
        let ending = task.run().await;
        exit.fire(ending);
    });
    Ok((
        answer.to_sdp_string(),
        PeerHandle {
            serial,
            pc_id,
            aliases: Vec::new(),
            tx,
            debug,
            bot,
        },
    ))
}

/// Reports the end of a peer task exactly once, even if the task unwinds, so its session
/// is never left waiting on a peer that is gone.
struct ExitGuard(Option<OnExit>);

impl ExitGuard {
    fn fire(&mut self, ending: Ending) {
        if let Some(f) = self.0.take() {
            f(ending);
        }
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.fire(Ending::ClientGone);
    }
}

#[derive(Default)]
struct Timers {
    drop_at: Option<Instant>,
    peer_left_at: Option<Instant>,
    renegotiate_at: Option<Instant>,
}

struct Peer {
    serial: u64,
    bot: Arc<Mutex<Bot>>,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    rx: mpsc::UnboundedReceiver<PeerCmd>,
    debug: Arc<Mutex<PeerDebug>>,
    chat: Option<ChannelId>,
    pending: Vec<String>,
    created: Instant,
    connected: bool,
    /// The last datagram from the client (ICE consent).
    last_rx: Instant,
    /// The last `ping: ` message; `None` until the first, and a client that never pings is
    /// trusted as Pipecat does.
    last_ping: Option<Instant>,
    away: bool,
    mic_enabled: bool,
    timers: Timers,
    blackout: Blackout,
    /// A close scheduled after a last message: when, why, and who ended it.
    linger: Option<(Instant, String, Ending)>,
    opts: PeerOptions,
}

/// Why the loop stops.
struct Stop {
    reason: String,
    ending: Ending,
    /// Close DTLS politely; false simulates a peer that vanishes.
    polite: bool,
}

impl Stop {
    fn new(reason: impl Into<String>, ending: Ending) -> Stop {
        Stop {
            reason: reason.into(),
            ending,
            polite: true,
        }
    }
}

impl Peer {
    async fn run(mut self) -> Ending {
        let stop = self.run_loop().await;
        if stop.polite && self.rtc.is_alive() && self.rtc.close().is_ok() {
            let _ = self.drain().await;
        }
        self.update(|d| {
            d.state = "closed";
            d.channel_open = false;
            d.closed_reason = Some(stop.reason.clone());
            if let Some(b) = d.blackouts.last_mut() {
                b.active = false;
            }
        });
        stop.ending
    }

    async fn run_loop(&mut self) -> Stop {
        let mut buf = vec![0u8; 2000];
        loop {
            let now = Instant::now();
            self.tick_blackout(now);
            self.tick_away(now);
            if let Some(stop) = self.check_timers(now) {
                return stop;
            }
            self.poll_bot(now);
            let rtc_deadline = match self.drain().await {
                Ok(t) => t,
                Err(stop) => return stop,
            };
            if !self.rtc.is_alive() {
                return Stop::new("closed by the client", Ending::ClientGone);
            }
            let deadline = self
                .next_timer()
                .map_or(rtc_deadline, |t| t.min(rtc_deadline));
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    None => return Stop::new("server shut down", Ending::Replaced),
                    Some(PeerCmd::Close(reason, ending)) => return Stop::new(reason, ending),
                    Some(PeerCmd::Offer(offer, reply)) => {
                        let answer = self.rtc.sdp_api().accept_offer(offer)
                            .map(|a| a.to_sdp_string())
                            .map_err(|e| format!("cannot accept the offer: {e}"));
                        self.update(|d| d.renegotiations += 1);
                        let _ = reply.send(answer);
                    }
                    Some(PeerCmd::Candidates(list)) => self.add_candidates(&list),
                    Some(PeerCmd::Blackout(length, reply)) => {
                        let now = Instant::now();
                        self.tick_blackout(now);
                        self.blackout.begin(now, length);
                        let record = self.blackout_started("debug", length);
                        let _ = reply.send(record);
                    }
                },
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { continue };
                    let now = Instant::now();
                    if self.opts.faults.ice_never {
                        continue;
                    }
                    if self.blackout.is_active(now) {
                        self.update(|d| {
                            if let Some(b) = d.blackouts.last_mut() {
                                b.packets_dropped_in += 1;
                            }
                        });
                        continue;
                    }
                    let Some(data) = buf.get(..n) else { continue };
                    let Ok(contents) = data.try_into() else { continue };
                    let input = Input::Receive(now, Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents,
                    });
                    // The socket is this peer's own, so any datagram on it is for this Rtc.
                    // `accepts()` is str0m's demultiplexer for a socket that several share; for
                    // anything but STUN it also wants a candidate pair that str0m's own check
                    // has proven. The browser, the controlling agent, sends its DTLS
                    // ClientHello the moment its own check succeeds, often before ours has:
                    // refused, it waited out the browser's 50 ms DTLS retransmission (about one
                    // connect in six, every client alike). STUN must still carry this peer's
                    // credentials. (RFC 7983: a first byte 0..=3 is STUN.)
                    let stun = data.first().is_some_and(|b| *b < 4);
                    if !stun || self.rtc.accepts(&input) {
                        self.last_rx = now;
                        // A bad datagram must not end the peer; str0m already dropped it.
                        let _ = self.rtc.handle_input(input);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return Stop::new(format!("webrtc error: {e}"), Ending::ClientGone);
                    }
                }
            }
        }
    }

    /// Sends what str0m wants sent and handles its events; returns its next deadline.
    async fn drain(&mut self) -> Result<Instant, Stop> {
        loop {
            let out = self
                .rtc
                .poll_output()
                .map_err(|e| Stop::new(format!("webrtc error: {e}"), Ending::ClientGone))?;
            match out {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    if self.blackout.is_active(Instant::now()) {
                        self.update(|d| {
                            if let Some(b) = d.blackouts.last_mut() {
                                b.packets_dropped_out += 1;
                            }
                        });
                        continue;
                    }
                    // Sending fails only for unreachable candidates; ICE copes with that.
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => self.on_event(e)?,
            }
        }
    }

    fn on_event(&mut self, e: Event) -> Result<(), Stop> {
        match e {
            Event::IceConnectionStateChange(s) => {
                let name = match s {
                    IceConnectionState::New => "new",
                    IceConnectionState::Checking => "checking",
                    IceConnectionState::Connected => "connected",
                    IceConnectionState::Completed => "completed",
                    IceConnectionState::Disconnected => "disconnected",
                };
                if matches!(
                    s,
                    IceConnectionState::Connected | IceConnectionState::Completed
                ) {
                    self.connected = true;
                }
                self.update(|d| {
                    d.ice_state = name;
                    if d.state == "new" && s == IceConnectionState::Checking {
                        d.state = "connecting";
                    }
                });
            }
            Event::Connected => self.update(|d| d.state = "connected"),
            Event::ChannelOpen(id, label) if self.chat.is_none() || label == "chat" => {
                self.on_channel_open(id);
            }
            Event::ChannelData(data) if Some(data.id) == self.chat && !data.binary => {
                let text = String::from_utf8_lossy(&data.data).into_owned();
                self.on_text(&text);
            }
            Event::ChannelClose(id) if Some(id) == self.chat => {
                return Err(Stop::new("data channel closed", Ending::ClientGone));
            }
            Event::MediaData(m) => {
                let is_audio = self
                    .rtc
                    .media(m.mid)
                    .is_some_and(|media| media.kind() == MediaKind::Audio);
                if is_audio {
                    let now = Instant::now();
                    let voiced =
                        self.mic_enabled && vad::is_voiced(m.ext_vals.audio_level, m.data.len());
                    let actions = self.with_bot(|bot| bot.on_audio(now, voiced));
                    self.apply(actions);
                    // Pipecat sends nothing, audio included, to a client that stopped pinging.
                    let sent = !self.away && {
                        let echo = !self.opts.faults.silent && self.mic_enabled;
                        let payload: Arc<[u8]> = if echo {
                            m.data.clone()
                        } else {
                            Arc::from(&OPUS_SILENCE[..])
                        };
                        match self.rtc.writer(m.mid) {
                            Some(w) => w.write(m.pt, m.network_time, m.time, payload).is_ok(),
                            None => false,
                        }
                    };
                    self.update(|d| {
                        d.audio_packets_received += 1;
                        if sent {
                            d.audio_packets_sent += 1;
                        }
                    });
                }
            }
            Event::Closed => return Err(Stop::new("closed by the client", Ending::ClientGone)),
            _ => {}
        }
        Ok(())
    }

    fn on_channel_open(&mut self, id: ChannelId) {
        self.chat = Some(id);
        let now = Instant::now();
        let f = &self.opts.faults;
        self.timers = Timers {
            drop_at: f.drop_after.map(|d| now + d),
            peer_left_at: f.peer_left_after.map(|d| now + d),
            renegotiate_at: f.renegotiate_after.map(|d| now + d),
        };
        if let Some((delay, length)) = self.opts.blackout.take() {
            self.blackout.plan(now + delay, length);
        }
        self.update(|d| d.channel_open = true);
        for msg in std::mem::take(&mut self.pending) {
            self.write(&msg);
        }
        let actions = self.with_bot(Bot::on_connected);
        self.apply(actions);
    }

    fn on_text(&mut self, text: &str) {
        let now = Instant::now();
        if let Some(rest) = text.strip_prefix("ping:") {
            self.last_ping = Some(now);
            let ms = rest.trim().parse().ok();
            self.update(|d| {
                d.pings_seen += 1;
                d.last_ping_ms = ms;
            });
            return;
        }
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let kept = parsed.clone().unwrap_or_else(|| Value::String(text.into()));
        self.update(|d| {
            if d.messages_received.len() == KEEP_MESSAGES {
                d.messages_received.pop_front();
            }
            d.messages_received.push_back(kept);
        });
        let Some(m) = parsed else { return };
        if m.get("type").and_then(Value::as_str) == Some("signalling") {
            self.on_signalling(m.get("message").unwrap_or(&Value::Null));
            return;
        }
        let actions = self.with_bot(|bot| bot.on_message(now, &m));
        self.apply(actions);
    }

    fn on_signalling(&mut self, msg: &Value) {
        if msg.get("type").and_then(Value::as_str) != Some("trackStatus") {
            return;
        }
        let index = msg.get("receiver_index").and_then(Value::as_u64);
        let Some(enabled) = msg.get("enabled").and_then(Value::as_bool) else {
            return;
        };
        match index {
            Some(0) => {
                self.mic_enabled = enabled;
                self.update(|d| d.track_status.audio = enabled);
            }
            Some(1) => self.update(|d| d.track_status.video = enabled),
            _ => {}
        }
    }

    /// Runs `f` on the bot if this peer is the one it talks through.
    fn with_bot(&self, f: impl FnOnce(&mut Bot) -> Vec<Action>) -> Vec<Action> {
        let mut bot = lock(&self.bot);
        if bot.owner() != self.serial || self.linger.is_some() {
            return Vec::new();
        }
        f(&mut bot)
    }

    fn poll_bot(&mut self, now: Instant) {
        let actions = self.with_bot(|bot| bot.poll(now));
        self.apply(actions);
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(msg) => self.send(msg.to_string()),
                Action::End(reason) => self.leave(&reason),
            }
        }
    }

    /// Sends a bot message: queued until the channel opens, dropped while the client is away.
    fn send(&mut self, msg: String) {
        if self.chat.is_none() {
            if self.pending.len() < MAX_PENDING {
                self.pending.push(msg);
            }
            return;
        }
        if self.away {
            self.update(|d| d.messages_dropped += 1);
            return;
        }
        self.write(&msg);
    }

    fn write(&mut self, msg: &str) {
        let Some(id) = self.chat else { return };
        if let Some(mut ch) = self.rtc.channel(id) {
            let _ = ch.write(false, msg.as_bytes());
        }
    }

    fn add_candidates(&mut self, list: &[String]) {
        for c in list {
            let c = c.trim().trim_start_matches("a=");
            // Unparseable ones (mDNS names, other transports) are ignored, as a browser would.
            if let Ok(cand) = Candidate::from_sdp_string(c) {
                self.rtc.add_remote_candidate(cand);
            }
        }
        let n = list.len() as u64;
        self.update(|d| {
            d.candidates_received += n;
        });
    }

    fn tick_blackout(&mut self, now: Instant) {
        match self.blackout.tick(now) {
            Some(Edge::Started(length)) => {
                self.blackout_started("fault", length);
            }
            Some(Edge::Ended) => {
                let end = epoch_ms(SystemTime::now());
                self.update(|d| {
                    if let Some(b) = d.blackouts.last_mut() {
                        b.active = false;
                        b.end_ms = end;
                    }
                });
            }
            None => {}
        }
    }

    fn blackout_started(&mut self, trigger: &'static str, length: Duration) -> blackout::Record {
        let start = epoch_ms(SystemTime::now());
        let record = blackout::Record {
            trigger,
            start_ms: start,
            end_ms: start.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX)),
            active: true,
            packets_dropped_in: 0,
            packets_dropped_out: 0,
        };
        let kept = record.clone();
        self.update(|d| {
            if let Some(b) = d.blackouts.last_mut() {
                b.active = false;
            }
            d.blackouts.push(kept);
        });
        record
    }

    fn tick_away(&mut self, now: Instant) {
        let away = self
            .last_ping
            .is_some_and(|t| now >= t + self.opts.ping_timeout);
        if away != self.away {
            self.away = away;
            self.update(|d| d.ping_timed_out = away);
        }
    }

    fn check_timers(&mut self, now: Instant) -> Option<Stop> {
        if let Some((at, reason, ending)) = &self.linger {
            if now >= *at {
                return Some(Stop::new(reason.clone(), *ending));
            }
            return None;
        }
        if self.timers.drop_at.is_some_and(|t| now >= t) {
            return Some(Stop {
                reason: "fault: drop-after".into(),
                // The bot's connection went away: as on the runner, the bot and its session
                // end with it, and the session's routes answer 404.
                ending: Ending::BotEnded,
                polite: false,
            });
        }
        if self.timers.peer_left_at.is_some_and(|t| now >= t) {
            self.timers.peer_left_at = None;
            self.leave("fault: peer-left-after");
            return None;
        }
        if self.timers.renegotiate_at.is_some_and(|t| now >= t) {
            self.timers.renegotiate_at = None;
            self.send(signalling("renegotiate"));
        }
        if self.connected && now >= self.last_rx + self.opts.consent_timeout {
            // As aiortc's consent checks fail: the connection closes and the bot ends.
            self.leave("ICE consent expired");
            return None;
        }
        if !self.connected && now >= self.created + CONNECT_TIMEOUT {
            return Some(Stop::new("ICE never connected", Ending::ClientGone));
        }
        None
    }

    /// The bot ends the session: peerLeft, then close shortly after.
    fn leave(&mut self, reason: &str) {
        if self.linger.is_some() {
            return;
        }
        // Pipecat sends peerLeft whether or not the client still answers pings.
        self.write(&signalling("peerLeft"));
        self.linger = Some((Instant::now() + LINGER, reason.into(), Ending::BotEnded));
    }

    fn next_timer(&self) -> Option<Instant> {
        if let Some((at, _, _)) = &self.linger {
            return Some(*at);
        }
        let mut next = if self.connected {
            Some(self.last_rx + self.opts.consent_timeout)
        } else {
            Some(self.created + CONNECT_TIMEOUT)
        };
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(self.timers.drop_at);
        consider(self.timers.peer_left_at);
        consider(self.timers.renegotiate_at);
        consider(self.blackout.deadline());
        consider(
            self.last_ping
                .filter(|_| !self.away)
                .map(|t| t + self.opts.ping_timeout),
        );
        let bot = lock(&self.bot);
        if bot.owner() == self.serial {
            consider(bot.next_deadline());
        }
        next
    }

    fn update(&self, f: impl FnOnce(&mut PeerDebug)) {
        if let Ok(mut d) = self.debug.lock() {
            f(&mut d);
        }
    }
}
