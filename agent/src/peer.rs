//! One WebRTC peer connection (str0m) on its own UDP socket, driven by a tokio task, with the echo
//! bot behind it. The task owns the `Rtc` and the socket: both are freed when it returns.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::media::MediaKind;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::bot::{signalling, Bot};
use crate::fault::Faults;

/// An Opus frame (TOC 0xF8: CELT fullband 20 ms, one frame) that decodes to silence.
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// Messages queued while the channel is not open yet.
const MAX_PENDING: usize = 50;
/// A peer that never connects is dropped after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connected peer whose ICE stays disconnected this long is dropped.
const DISCONNECT_GRACE: Duration = Duration::from_secs(5);
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
    pub audio_packets_received: u64,
    pub audio_packets_sent: u64,
    pub messages_received: Vec<Value>,
    pub candidates_received: u64,
    pub end_of_candidates: bool,
    pub renegotiations: u64,
    pub request_data: Value,
    pub closed_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackStatus {
    #[serde(rename = "0")]
    pub audio: bool,
    #[serde(rename = "1")]
    pub video: bool,
}

/// Who ended a peer: the client going away leaves its session open for a restart; the bot
/// ending it (peerLeft) ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    ClientGone,
    BotEnded,
    Replaced,
}

pub enum PeerCmd {
    /// A renegotiation offer with this peer's pc_id; the answer SDP goes back.
    Offer(SdpOffer, oneshot::Sender<Result<String, String>>),
    /// Trickled candidates (`candidate:` strings; empty means end-of-candidates).
    Candidates(Vec<String>),
    Close(String, Ending),
}

/// The registry's hold on a running peer.
pub struct PeerHandle {
    pub serial: u64,
    pub pc_id: String,
    pub tx: mpsc::UnboundedSender<PeerCmd>,
    pub debug: Arc<Mutex<PeerDebug>>,
}

impl PeerHandle {
    pub fn is_live(&self) -> bool {
        !self.tx.is_closed()
    }
}

pub struct PeerOptions {
    pub agent: String,
    pub faults: Faults,
    pub ping_timeout: Duration,
}

/// Called once when the peer's task ends.
pub type OnExit = Box<dyn FnOnce(Ending) + Send>;

/// Builds a peer for `offer`: binds its socket, answers the offer, and starts its task.
pub fn start(
    serial: u64,
    pc_id: String,
    offer: SdpOffer,
    request_data: Value,
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
        audio_packets_received: 0,
        audio_packets_sent: 0,
        messages_received: Vec::new(),
        candidates_received: 0,
        end_of_candidates: false,
        renegotiations: 0,
        request_data,
        closed_reason: None,
    }));
    let (tx, rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let task = Peer {
        bot: Bot::new(&opts.agent, !opts.faults.no_bot_ready),
        rtc,
        socket,
        local,
        rx,
        debug: debug.clone(),
        chat: None,
        pending: Vec::new(),
        created: now,
        connected: false,
        disconnected_since: None,
        last_ping: now,
        timers: Timers::default(),
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
            tx,
            debug,
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
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    rx: mpsc::UnboundedReceiver<PeerCmd>,
    debug: Arc<Mutex<PeerDebug>>,
    bot: Bot,
    chat: Option<ChannelId>,
    pending: Vec<String>,
    created: Instant,
    connected: bool,
    disconnected_since: Option<Instant>,
    last_ping: Instant,
    timers: Timers,
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
        });
        stop.ending
    }

    async fn run_loop(&mut self) -> Stop {
        let mut buf = vec![0u8; 2000];
        loop {
            let rtc_deadline = match self.drain().await {
                Ok(t) => t,
                Err(stop) => return stop,
            };
            if !self.rtc.is_alive() {
                return Stop::new("closed by the client", Ending::ClientGone);
            }
            let now = Instant::now();
            if let Some(stop) = self.check_timers(now) {
                return stop;
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
                },
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { continue };
                    if self.opts.faults.ice_never {
                        continue;
                    }
                    let Some(data) = buf.get(..n) else { continue };
                    let Ok(contents) = data.try_into() else { continue };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents,
                    });
                    if self.rtc.accepts(&input) {
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
                let was_connected = self.connected;
                match s {
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        self.connected = true;
                        self.disconnected_since = None;
                    }
                    IceConnectionState::Disconnected if was_connected => {
                        self.disconnected_since.get_or_insert_with(Instant::now);
                    }
                    _ => {}
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
                    let echo = !self.opts.faults.silent && self.bot.mic_enabled();
                    let payload: Arc<[u8]> = if echo {
                        m.data.clone()
                    } else {
                        Arc::from(&OPUS_SILENCE[..])
                    };
                    let sent = match self.rtc.writer(m.mid) {
                        Some(w) => w.write(m.pt, m.network_time, m.time, payload).is_ok(),
                        None => false,
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
        self.last_ping = now;
        let f = &self.opts.faults;
        self.timers = Timers {
            drop_at: f.drop_after.map(|d| now + d),
            peer_left_at: f.peer_left_after.map(|d| now + d),
            renegotiate_at: f.renegotiate_after.map(|d| now + d),
        };
        self.update(|d| d.channel_open = true);
        let mut queued = std::mem::take(&mut self.pending);
        queued.extend(self.bot.on_open());
        for msg in queued {
            self.send(msg);
        }
    }

    fn on_text(&mut self, text: &str) {
        let incoming = self.bot.on_text(text);
        if incoming.is_ping {
            self.last_ping = Instant::now();
        }
        let (pings, last, track, messages) = (
            self.bot.pings_seen,
            self.bot.last_ping_ms,
            self.bot.track_enabled,
            (!incoming.is_ping).then(|| self.bot.messages.iter().cloned().collect()),
        );
        self.update(|d| {
            d.pings_seen = pings;
            d.last_ping_ms = last;
            d.track_status = TrackStatus {
                audio: track[0],
                video: track[1],
            };
            if let Some(m) = messages {
                d.messages_received = m;
            }
        });
        for reply in incoming.replies {
            self.send(reply);
        }
    }

    /// Sends a text message on the chat channel, or queues it until the channel opens.
    fn send(&mut self, msg: String) {
        let Some(id) = self.chat else {
            if self.pending.len() < MAX_PENDING {
                self.pending.push(msg);
            }
            return;
        };
        if let Some(mut ch) = self.rtc.channel(id) {
            let _ = ch.write(false, msg.as_bytes());
        }
    }

    fn add_candidates(&mut self, list: &[String]) {
        let mut eoc = false;
        for c in list {
            let c = c.trim().trim_start_matches("a=");
            if c.is_empty() {
                eoc = true;
                continue;
            }
            // Unparseable ones (mDNS names, other transports) are ignored, as a browser would.
            if let Ok(cand) = Candidate::from_sdp_string(c) {
                self.rtc.add_remote_candidate(cand);
            }
        }
        let n = list.len() as u64;
        self.update(|d| {
            d.candidates_received += n;
            d.end_of_candidates |= eoc;
        });
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
                ending: Ending::ClientGone,
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
        if self.chat.is_some() && now >= self.last_ping + self.opts.ping_timeout {
            self.leave("ping timeout");
            return None;
        }
        if !self.connected && now >= self.created + CONNECT_TIMEOUT {
            return Some(Stop::new("ICE never connected", Ending::ClientGone));
        }
        if self
            .disconnected_since
            .is_some_and(|t| now >= t + DISCONNECT_GRACE)
        {
            return Some(Stop::new("ICE disconnected", Ending::ClientGone));
        }
        None
    }

    /// The bot ends the session: peerLeft, then close shortly after.
    fn leave(&mut self, reason: &str) {
        self.send(signalling("peerLeft"));
        self.linger = Some((Instant::now() + LINGER, reason.into(), Ending::BotEnded));
    }

    fn next_timer(&self) -> Option<Instant> {
        if let Some((at, _, _)) = &self.linger {
            return Some(*at);
        }
        let mut next = if self.connected {
            None
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
        consider(self.chat.map(|_| self.last_ping + self.opts.ping_timeout));
        consider(self.disconnected_since.map(|t| t + DISCONNECT_GRACE));
        next
    }

    fn update(&self, f: impl FnOnce(&mut PeerDebug)) {
        if let Ok(mut d) = self.debug.lock() {
            f(&mut d);
        }
    }
}
