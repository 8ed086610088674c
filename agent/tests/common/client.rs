//! A str0m WebRTC client for the tests: it offers audio + a `chat` data channel to the agent
//! over loopback (real ICE, DTLS, SCTP, SRTP), pings like the official client, sends marked
//! Opus-shaped frames (loud or silent per the RTP audio-level extension), and records what
//! comes back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

use super::Agent;

pub const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// The marker that starts every audio payload the client sends.
pub const MARK: [u8; 3] = [0x78, 0xAA, 0xBB];
/// Bound on every wait: only to catch hangs.
pub const T: Duration = Duration::from_secs(10);

pub struct Client {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    chat: ChannelId,
    pt: Option<Pt>,
    pub open: bool,
    pub closed: bool,
    pub texts: Vec<String>,
    pub media: Vec<Vec<u8>>,
    pub ping: bool,
    pub audio: bool,
    /// Send frames whose audio level says "voice" (else silence).
    pub voice: bool,
    next_ping: Instant,
    next_frame: Instant,
    frames_sent: u64,
    pub pc_id: String,
    /// Hold the answers to the agent's own connectivity checks until this client's first DTLS
    /// datagram has gone out: the order a browser (the controlling agent) often produces,
    /// its ClientHello arriving before the agent has proven the pair itself.
    pub dtls_before_agent_check: bool,
    held: Vec<(SocketAddr, Vec<u8>)>,
    /// DTLS ClientHello datagrams sent: more than one means the agent ignored one and this
    /// client's DTLS retransmission (1 s) had to send it again.
    pub client_hellos: u32,
}

impl Client {
    /// Offers audio + a `chat` channel at `path`; the answer completes the negotiation.
    pub async fn connect(agent: &Agent, path: &str, request_data: Value) -> Client {
        Client::connect_at(&agent.addr, path, request_data).await
    }

    pub async fn connect_at(addr: &str, path: &str, request_data: Value) -> Client {
        let extra = json!({"pc_id": null, "restart_pc": false, "request_data": request_data});
        let (c, status, body) = Client::offer(addr, path, extra).await;
        assert_eq!(status, 200, "{body}");
        c.expect("an answer")
    }

    /// Offers with `extra` fields (`pc_id`, `restart_pc`, `request_data`) merged into the body;
    /// returns the client when the agent answered, with the status and the body either way.
    pub async fn offer(addr: &str, path: &str, extra: Value) -> (Option<Client>, u16, Value) {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_socket.set_nonblocking(true).unwrap();
        let local = std_socket.local_addr().unwrap();
        let socket = UdpSocket::from_std(std_socket).unwrap();
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let chat = api.add_channel("chat".into());
        let (offer, pending) = api.apply().expect("an offer");
        let mut body = json!({"sdp": offer.to_sdp_string(), "type": "offer"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = super::request(addr, "POST", path, &[], Some(body.to_string().as_bytes()))
            .await
            .unwrap();
        let j: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != 200 {
            return (None, r.status, j);
        }
        let answer = SdpAnswer::from_sdp_string(j["sdp"].as_str().unwrap()).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        let now = Instant::now();
        let client = Client {
            rtc,
            socket,
            local,
            mid,
            chat,
            pt: None,
            open: false,
            closed: false,
            texts: Vec::new(),
            media: Vec::new(),
            ping: true,
            audio: true,
            voice: false,
            next_ping: now,
            next_frame: now,
            frames_sent: 0,
            pc_id: j["pc_id"].as_str().unwrap().to_string(),
            dtls_before_agent_check: false,
            held: Vec::new(),
            client_hellos: 0,
        };
        (Some(client), r.status, j)
    }

    pub fn send_text(&mut self, text: &str) {
        let mut ch = self.rtc.channel(self.chat).expect("channel is open");
        ch.write(false, text.as_bytes()).unwrap();
    }

    pub fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string());
    }

    /// Sends an RTVI message.
    pub fn rtvi(&mut self, kind: &str, id: &str, data: Value) {
        self.send_json(json!({"label": "rtvi-ai", "type": kind, "id": id, "data": data}));
    }

    pub fn messages(&self) -> Vec<Value> {
        self.texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect()
    }

    pub fn has(&self, kind: &str) -> bool {
        self.messages()
            .iter()
            .any(|m| m["type"] == kind || m["message"]["type"] == kind)
    }

    /// The first message of this type received so far.
    pub fn find(&self, kind: &str) -> Option<Value> {
        self.messages().into_iter().find(|m| m["type"] == kind)
    }

    /// Waits for a message of this type and returns it (the first one received).
    pub async fn wait_for(&mut self, kind: &str) -> Value {
        let found = self.run_until(T, |c| c.find(kind).is_some()).await;
        assert!(found, "no `{kind}` message; got {:?}", self.texts);
        self.find(kind).unwrap_or(Value::Null)
    }

    /// For a while, nothing happens: drives the client for `d` so that the assertions after it
    /// prove that something does NOT happen in that time (no message, no echo). Never a wait for
    /// something to happen: that is [`Client::run_until`] with a condition, or [`drive_until`].
    pub async fn quiet(&mut self, d: Duration) {
        self.run_until(d, |_| false).await;
    }

    /// Drives the client for `d` as a step of the scenario itself (the voice lasts 200 ms): nothing
    /// is awaited and nothing asserted because of it.
    pub async fn keep_going_for(&mut self, d: Duration) {
        self.run_until(d, |_| false).await;
    }

    /// Forgets the messages received so far.
    pub fn clear(&mut self) {
        self.texts.clear();
    }

    /// Drives the connection until `done` holds or `limit` passes; returns whether `done` held.
    pub async fn run_until(&mut self, limit: Duration, done: impl Fn(&Client) -> bool) -> bool {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 2000];
        loop {
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= end || self.closed {
                return done(self);
            }
            if self.open && self.ping && now >= self.next_ping {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                self.send_text(&format!("ping: {t}"));
                self.next_ping = now + Duration::from_millis(300);
            }
            if self.open && self.audio && now >= self.next_frame {
                self.send_frame(now);
                self.next_frame = now + Duration::from_millis(20);
            }
            let deadline = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => self.transmit(t.destination, &t.contents).await,
                    Output::Event(e) => self.on_event(e),
                }
            };
            let mut wake = deadline.min(end);
            if self.open {
                wake = wake.min(self.next_frame).min(self.next_ping);
            }
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    let (n, source) = r.unwrap();
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents: buf[..n].try_into().unwrap(),
                    });
                    let _ = self.rtc.handle_input(input);
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
                }
            }
        }
    }

    async fn transmit(&mut self, to: SocketAddr, data: &[u8]) {
        // RFC 7983: 0..=3 is STUN, 20..=63 DTLS. A STUN binding success response is 0x0101;
        // a DTLS handshake record is 22, its message type (1: ClientHello) at byte 13.
        let dtls = matches!(data.first(), Some(20..=63));
        if dtls && data.first() == Some(&22) && data.get(13) == Some(&1) {
            self.client_hellos += 1;
        }
        if self.dtls_before_agent_check
            && data.starts_with(&[0x01, 0x01])
            && self.client_hellos == 0
        {
            self.held.push((to, data.to_vec()));
            return;
        }
        let _ = self.socket.send_to(data, to).await;
        if dtls {
            for (to, held) in std::mem::take(&mut self.held) {
                let _ = self.socket.send_to(&held, to).await;
            }
        }
    }

    fn send_frame(&mut self, now: Instant) {
        let pt = *self.pt.get_or_insert_with(|| {
            self.rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == Codec::Opus)
                .expect("opus negotiated")
                .pt()
        });
        let n = self.frames_sent;
        let mut payload = MARK.to_vec();
        payload.extend_from_slice(&n.to_be_bytes());
        let time = MediaTime::new(n * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
        let (level, voice) = if self.voice {
            (-20, true)
        } else {
            (-127, false)
        };
        if let Some(w) = self.rtc.writer(self.mid) {
            w.audio_level(level, voice)
                .write(pt, now, time, payload)
                .unwrap();
            self.frames_sent += 1;
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::ChannelOpen(id, _) if id == self.chat => self.open = true,
            Event::ChannelData(d) if !d.binary => self
                .texts
                .push(String::from_utf8_lossy(&d.data).into_owned()),
            Event::MediaData(m) => self.media.push(m.data.to_vec()),
            Event::Closed => self.closed = true,
            _ => {}
        }
    }

    pub fn echoed(&self) -> usize {
        self.media.iter().filter(|m| m.starts_with(&MARK)).count()
    }

    pub fn silent(&self) -> usize {
        self.media.iter().filter(|m| m[..] == SILENCE).count()
    }
}

/// Starts a runner session (with an optional query, e.g. `?fault=...`); returns its id and
/// offer path.
pub async fn session(a: &Agent, query: &str) -> (String, String) {
    let r = a.post(&format!("/start{query}"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let path = format!("/sessions/{id}/api/offer");
    (id, path)
}

pub async fn debug(a: &Agent, id: &str) -> Value {
    a.get(&format!("/debug/sessions/{id}")).await.json()
}

/// Polls the session's debug record until `ok` holds (bounded by [`T`], failing the test with
/// `what` and the last record) and returns it.
pub async fn debug_until(a: &Agent, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    poll_debug(a, id, None, what, ok).await
}

/// [`debug_until`] that drives the client meanwhile (its datagrams, pings and audio go on).
pub async fn drive_until(
    a: &Agent,
    id: &str,
    c: &mut Client,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    poll_debug(a, id, Some(c), what, ok).await
}

async fn poll_debug(
    a: &Agent,
    id: &str,
    mut c: Option<&mut Client>,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + T;
    loop {
        let d = debug(a, id).await;
        if ok(&d) {
            return d;
        }
        assert!(
            Instant::now() < end,
            "still waiting for {what} after {T:?}: {d}"
        );
        match c.as_deref_mut() {
            Some(c) if !c.closed => {
                c.run_until(Duration::from_millis(20), |_| false).await;
            }
            // A closed client returns at once: wait between looks all the same.
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
