//! The echo bot behind a real peer connection: a str0m client in the test connects to the agent
//! over loopback (ICE, DTLS, SCTP, SRTP) and checks the data channel protocol, the Opus echo,
//! pings, and the peer faults.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Agent;
use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// The marker that starts every audio payload the client sends.
const MARK: [u8; 3] = [0x78, 0xAA, 0xBB];

struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    chat: ChannelId,
    pt: Option<Pt>,
    open: bool,
    closed: bool,
    texts: Vec<String>,
    media: Vec<Vec<u8>>,
    ping: bool,
    audio: bool,
    next_ping: Instant,
    next_frame: Instant,
    frames_sent: u64,
    pc_id: String,
}

impl Client {
    /// Offers audio + a `chat` channel at `path`; the answer completes the negotiation.
    async fn connect(agent: &Agent, path: &str, request_data: Value) -> Client {
        Client::connect_at(&agent.addr, path, request_data).await
    }

    async fn connect_at(addr: &str, path: &str, request_data: Value) -> Client {
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
        let body = json!({"sdp": offer.to_sdp_string(), "type": "offer", "pc_id": null,
                          "restart_pc": false, "request_data": request_data})
        .to_string();
        let r = common::request(addr, "POST", path, &[], Some(body.as_bytes()))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        let answer = SdpAnswer::from_sdp_string(j["sdp"].as_str().unwrap()).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        let now = Instant::now();
        Client {
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
            next_ping: now,
            next_frame: now,
            frames_sent: 0,
            pc_id: j["pc_id"].as_str().unwrap().to_string(),
        }
    }

    fn send_text(&mut self, text: &str) {
        let mut ch = self.rtc.channel(self.chat).expect("channel is open");
        ch.write(false, text.as_bytes()).unwrap();
    }

    fn messages(&self) -> Vec<Value> {
        self.texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect()
    }

    fn has(&self, kind: &str) -> bool {
        self.messages()
            .iter()
            .any(|m| m["type"] == kind || m["message"]["type"] == kind)
    }

    /// Drives the connection until `done` holds or `limit` passes; returns whether `done` held.
    async fn run_until(&mut self, limit: Duration, done: impl Fn(&Client) -> bool) -> bool {
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
                    Output::Transmit(t) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
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
        if let Some(w) = self.rtc.writer(self.mid) {
            w.write(pt, now, time, payload).unwrap();
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

    fn echoed(&self) -> usize {
        self.media.iter().filter(|m| m.starts_with(&MARK)).count()
    }

    fn silent(&self) -> usize {
        self.media.iter().filter(|m| m[..] == SILENCE).count()
    }
}

async fn session(a: &Agent, query: &str) -> (String, String) {
    let r = a.post(&format!("/start{query}"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let path = format!("/sessions/{id}/api/offer");
    (id, path)
}

async fn debug(a: &Agent, id: &str) -> Value {
    a.get(&format!("/debug/sessions/{id}")).await.json()
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn echo_bot_speaks_rtvi_and_echoes_audio() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, json!({"from": "test"})).await;
    assert!(c.run_until(T, |c| c.open).await, "the chat channel opens");
    assert!(c.run_until(T, |c| c.has("server-message")).await);

    c.send_text(r#"{"label":"rtvi-ai","type":"client-ready","id":"abc1","data":{"version":"1.0.0","about":{"library":"test"}}}"#);
    assert!(c.run_until(T, |c| c.has("bot-ready")).await);
    let ready = c
        .messages()
        .into_iter()
        .find(|m| m["type"] == "bot-ready")
        .unwrap();
    assert_eq!(ready["id"], "abc1");
    assert_eq!(ready["label"], "rtvi-ai");
    assert_eq!(ready["data"]["version"], "2.2.0");
    assert!(ready["data"]["about"].is_object() && ready["data"]["capabilities"].is_object());

    c.send_text(r#"{"label":"rtvi-ai","type":"client-message","id":"m7","data":{"t":"echo","d":{"k":[1,"two"]}}}"#);
    assert!(c.run_until(T, |c| c.has("server-response")).await);
    let resp = c
        .messages()
        .into_iter()
        .find(|m| m["type"] == "server-response")
        .unwrap();
    assert_eq!(resp["id"], "m7");
    assert_eq!(resp["data"], json!({"t":"echo","d":{"k":[1,"two"]}}));

    assert!(
        c.run_until(T, |c| c.echoed() >= 20).await,
        "audio is echoed"
    );
    assert_eq!(c.silent(), 0);

    let d = debug(&a, &id).await;
    let p = &d["peers"][0];
    assert_eq!(p["state"], "connected");
    assert!(["connected", "completed"].contains(&p["iceState"].as_str().unwrap()));
    assert_eq!(p["channelOpen"], true);
    assert_eq!(p["pcId"], c.pc_id.as_str());
    assert!(p["pingsSeen"].as_u64().unwrap() >= 1);
    assert!(p["lastPingMs"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(p["audioPacketsReceived"].as_u64().unwrap() >= 20);
    assert!(p["audioPacketsSent"].as_u64().unwrap() >= 20);
    assert_eq!(p["requestData"], json!({"from": "test"}));
    let kinds: Vec<Value> = p["messagesReceived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("client-ready"), json!("client-message")],
        "pings excluded"
    );

    // Mic muted: the echo turns to silence.
    c.send_text(r#"{"type":"signalling","message":{"type":"trackStatus","receiver_index":0,"enabled":false}}"#);
    c.media.clear();
    assert!(
        c.run_until(T, |c| c.silent() >= 20).await,
        "muted mic echoed as silence"
    );
    let d = debug(&a, &id).await;
    assert_eq!(d["peers"][0]["trackStatus"], json!({"0": false, "1": true}));

    // The client goes away politely: the agent frees the peer, the session stays open for a
    // restart until its TTL.
    c.rtc.close().unwrap();
    c.open = false;
    c.run_until(Duration::from_millis(300), |_| false).await;
    drop(c);
    let mut closed = false;
    for _ in 0..50 {
        let d = debug(&a, &id).await;
        if d["peers"][0]["state"] == "closed" {
            assert_eq!(d["ended"], false);
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the agent noticed the client left");
}

#[tokio::test]
async fn silent_fault_sends_silence() {
    let a = Agent::start(&[]).await;
    let (_, path) = session(&a, "?fault=silent").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.silent() >= 20).await);
    assert_eq!(c.echoed(), 0);
}

#[tokio::test]
async fn ping_timeout_sends_peer_left_and_ends_the_session() {
    let a = Agent::start(&["--ping-timeout-ms", "500"]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    c.ping = false;
    let t = Instant::now();
    assert!(c.run_until(T, |c| c.has("peerLeft")).await);
    assert!(t.elapsed() >= Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let d = debug(&a, &id).await;
    assert_eq!(d["ended"], true);
    assert_eq!(d["peers"][0]["closedReason"], "ping timeout");
    a.post(&path, &json!({"sdp": "v=0", "type": "offer"}))
        .await
        .assert_error(404, "SESSION_NOT_FOUND");
}

#[tokio::test]
async fn pings_keep_the_peer_alive() {
    let a = Agent::start(&["--ping-timeout-ms", "500"]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.open).await);
    assert!(
        !c.run_until(Duration::from_millis(1500), |c| c.has("peerLeft"))
            .await
    );
    assert_eq!(
        debug(&a, &id).await["peers"][0]["closedReason"],
        Value::Null
    );
}

#[tokio::test]
async fn scheduled_peer_left_and_renegotiate_faults() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "?fault=renegotiate-after-0.2,peer-left-after-0.6").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.has("renegotiate")).await);
    assert!(!c.has("peerLeft"));
    assert!(c.run_until(T, |c| c.has("peerLeft")).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = debug(&a, &id).await;
    assert_eq!(d["ended"], true);
    assert!(d["peers"][0]["closedReason"]
        .as_str()
        .unwrap()
        .contains("peer-left-after"));
}

#[tokio::test]
async fn drop_after_fault_vanishes_without_peer_left() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &format!("{path}?fault=drop-after-0.3"), Value::Null).await;
    assert!(c.run_until(T, |c| c.echoed() > 0).await);
    c.run_until(Duration::from_secs(2), |_| false).await;
    assert!(!c.has("peerLeft"));
    let d = debug(&a, &id).await;
    assert_eq!(d["peers"][0]["state"], "closed");
    assert_eq!(d["peers"][0]["closedReason"], "fault: drop-after");
    // The echo stopped.
    let n = c.echoed();
    c.run_until(Duration::from_millis(300), |_| false).await;
    assert_eq!(c.echoed(), n);
}

#[tokio::test]
async fn ice_never_fault_never_connects() {
    let a = Agent::start(&[]).await;
    let r = a
        .send(
            "POST",
            "/start",
            &[("x-agent-fault", "ice-never")],
            Some("{}"),
        )
        .await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let mut c = Client::connect(&a, &format!("/sessions/{id}/api/offer"), Value::Null).await;
    assert!(!c.run_until(Duration::from_secs(2), |c| c.open).await);
    let d = debug(&a, &id).await;
    assert_ne!(d["peers"][0]["state"], "connected");
    assert_eq!(d["fault"], "ice-never");
}

#[tokio::test]
async fn no_bot_ready_fault() {
    let a = Agent::start(&[]).await;
    let r = a
        .post("/v1/public/fault-no-bot-ready/start", &json!({}))
        .await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let mut c = Client::connect(
        &a,
        &format!("/v1/public/fault-no-bot-ready/sessions/{id}/api/offer"),
        Value::Null,
    )
    .await;
    assert!(c.run_until(T, |c| c.open).await);
    c.send_text(r#"{"label":"rtvi-ai","type":"client-ready","id":"r1","data":{}}"#);
    c.send_text(r#"{"label":"rtvi-ai","type":"client-message","id":"m1","data":{"t":"x"}}"#);
    assert!(c.run_until(T, |c| c.has("server-response")).await);
    assert!(
        !c.run_until(Duration::from_millis(300), |c| c.has("bot-ready"))
            .await
    );
}

/// Resident memory of a process in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn ten_live_sessions_and_memory() {
    let a = Agent::start(&[]).await;
    let pid = a.child.id().unwrap();
    let idle = rss_kib(pid);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<usize>(10);
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (id, path) = session(&a, "").await;
        ids.push(id);
        let addr = a.addr.clone();
        let stop = stop_rx.clone();
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect_at(&addr, &path, Value::Null).await;
            assert!(
                c.run_until(T, |c| c.echoed() >= 25).await,
                "echo on each session"
            );
            ready.send(c.echoed()).await.unwrap();
            // Stay connected (pings, audio) until the measurement is done.
            c.run_until(Duration::from_secs(30), |_| *stop.borrow())
                .await;
            c.echoed()
        }));
    }
    for _ in 0..10 {
        tokio::time::timeout(T, ready_rx.recv())
            .await
            .expect("all ten sessions echo");
    }
    let live = rss_kib(pid);
    for id in &ids {
        let d = debug(&a, id).await;
        assert_eq!(d["peers"][0]["state"], "connected", "{d}");
    }
    stop_tx.send(true).unwrap();
    for t in tasks {
        assert!(t.await.unwrap() >= 25);
    }
    println!("agent RSS: {idle} KiB idle, {live} KiB with 10 live connected sessions");
    assert!(live < 100 * 1024, "RSS {live} KiB stays under 100 MiB");
}
