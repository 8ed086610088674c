//! The WebSocket transport against the built binary, with a real WebSocket client: the start
//! answer, token checks before the upgrade (403), protobuf frames both ways (RTVI in message
//! frames, the PCM echo), the bot's end and the socket faults.

mod common;

// The agent's codec, itself pinned to bytes written by Pipecat's own serializer.
#[allow(dead_code)]
#[path = "../src/frames.rs"]
mod frames;

use std::time::{Duration, Instant};

use common::client::T;
use common::{request, until, Agent};
use frames::{Audio, Frame};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// A started WebSocket session.
struct Started {
    id: String,
    ws_url: String,
    token: String,
}

async fn start(a: &Agent, path: &str, body: Value) -> Started {
    let r = a.post(path, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let s = |k: &str| {
        j[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {j}"))
            .to_string()
    };
    Started {
        id: s("sessionId"),
        ws_url: s("wsUrl"),
        token: s("token"),
    }
}

async fn start_ws(a: &Agent, query: &str) -> Started {
    start(
        a,
        &format!("/start{query}"),
        json!({"transport": "websocket"}),
    )
    .await
}

/// A WebSocket client that keeps every frame it received.
struct Ws {
    stream: WebSocketStream<TcpStream>,
    frames: Vec<Frame>,
    /// The close frame's code (1005 for a close without one), once the server closed.
    closed: Option<u16>,
}

/// Opens `url` (with `origin` if given); the handshake error when refused.
async fn open(url: &str, origin: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut req = url.into_client_request()?;
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    let addr = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (stream, resp) = tokio_tungstenite::client_async(req, tcp).await?;
    assert_eq!(resp.status(), 101);
    Ok(Ws {
        stream,
        frames: Vec::new(),
        closed: None,
    })
}

/// The HTTP status a refused handshake got.
fn refused_status(r: Result<Ws, tungstenite::Error>) -> u16 {
    match r {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("the socket was accepted"),
    }
}

impl Ws {
    async fn connect(s: &Started) -> Ws {
        open(&format!("{}?token={}", s.ws_url, s.token), None)
            .await
            .expect("the socket opens")
    }

    async fn send(&mut self, f: &Frame) {
        self.stream
            .send(Message::binary(frames::encode(f)))
            .await
            .expect("sent");
    }

    async fn rtvi(&mut self, kind: &str, id: &str, data: Value) {
        let m = json!({"label": "rtvi-ai", "type": kind, "id": id, "data": data});
        self.send(&Frame::Message(m.to_string())).await;
    }

    /// Reads one more message (by the deadline); false once the socket is over.
    async fn read(&mut self, deadline: Instant) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, self.stream.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(None | Some(Err(_))) => {
                self.closed.get_or_insert(1006);
                return false;
            }
            Err(_) => return false,
        };
        match msg {
            Message::Binary(b) => {
                let f = frames::decode(&b).unwrap_or_else(|| panic!("undecodable frame {b:?}"));
                self.frames.push(f);
            }
            Message::Close(c) => {
                self.closed = Some(c.map_or(1005, |c| u16::from(c.code)));
            }
            Message::Text(t) => panic!("a text message: {t}"),
            _ => {}
        }
        true
    }

    /// Reads until `check` holds for what was received, at most [`T`].
    async fn wait<R>(&mut self, what: &str, check: impl Fn(&Ws) -> Option<R>) -> R {
        let deadline = Instant::now() + T;
        loop {
            if let Some(r) = check(self) {
                return r;
            }
            assert!(
                self.read(deadline).await,
                "no {what} (closed: {:?}); got {:?}",
                self.closed,
                self.messages()
            );
        }
    }

    fn messages(&self) -> Vec<Value> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                Frame::Message(d) => Some(serde_json::from_str(d).expect("JSON in message frames")),
                _ => None,
            })
            .collect()
    }

    /// The first message of `kind` (waiting for it).
    async fn message(&mut self, kind: &str) -> Value {
        self.wait(kind, |w| {
            w.messages().into_iter().find(|m| m["type"] == kind)
        })
        .await
    }

    fn audio(&self) -> Vec<&Audio> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                Frame::Audio(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// The server's close code (waiting for it), once the closing handshake is over.
    async fn close_code(&mut self) -> u16 {
        let code = self.wait("the server's close", |w| w.closed).await;
        // Reading on sends the client's close reply and sees the connection end.
        let _ = tokio::time::timeout(T, async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
        code
    }
}

/// 20 ms of a 440 Hz beep (-10 dBov) at `rate`, `channels` interleaved, 16-bit LE.
fn beep(rate: u32, channels: u32, offset: usize) -> Vec<u8> {
    let n = rate as usize / 50;
    (offset..offset + n)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            let v = (10_362.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            (0..channels).flat_map(move |_| v.to_le_bytes())
        })
        .collect()
}

fn mic(pcm: Vec<u8>, rate: u32, channels: u32) -> Frame {
    Frame::Audio(Audio {
        audio: pcm,
        sample_rate: rate,
        num_channels: channels,
        ..Audio::default()
    })
}

async fn debug(a: &Agent, id: &str) -> Value {
    a.get(&format!("/debug/sessions/{id}")).await.json()
}

/// The session's debug record once it has ended (waiting for it).
async fn ended(a: &Agent, id: &str) -> Value {
    until("the session's end", T, || async {
        let d = debug(a, id).await;
        (d["ended"] == true).then_some(d)
    })
    .await
}

#[tokio::test]
async fn start_answers_a_socket_url_and_a_token_on_every_platform() {
    let a = Agent::start(&["--ice-server", "stun:127.0.0.1:9"]).await;
    let ws_url = format!("ws://{}/ws-client", a.addr);
    let body = json!({"transport": "websocket"});
    let mut tokens = Vec::new();
    for path in ["/start", "/v1/public/my-agent/start", "/api/start/agent_1"] {
        let r = a.post(path, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        assert_eq!(j["wsUrl"], ws_url.as_str(), "{j}");
        let token = j["token"].as_str().unwrap().to_string();
        assert_eq!(token.len(), 32, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(j.get("iceConfig").is_none(), "no ICE on a socket: {j}");
        assert!(j.get("dailyRoom").is_none());
        let id = j["sessionId"].as_str().unwrap();
        let d = debug(&a, id).await;
        assert_eq!(d["websocket"], json!({"tokenUsed": false}), "{d}");
        assert!(!d.to_string().contains(&token), "the token is never shown");
        tokens.push(token);
    }
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2]);
    assert!(start(&a, "/api/start/agent_1", body.clone())
        .await
        .id
        .starts_with("call_"));
    // A Daily room and a socket do not go together; other transports keep no socket.
    a.post(
        "/start",
        &json!({"transport": "websocket", "createDailyRoom": true}),
    )
    .await
    .assert_error(400, "UNSUPPORTED_TRANSPORT");
    let plain = a
        .post("/start", &json!({"transport": "webrtc"}))
        .await
        .json();
    assert!(plain.get("wsUrl").is_none() && plain.get("token").is_none());
    let d = debug(&a, plain["sessionId"].as_str().unwrap()).await;
    assert_eq!(d["websocket"], Value::Null);
}

#[tokio::test]
async fn bad_missing_and_used_tokens_are_refused_before_the_upgrade() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "").await;
    let tag = ("x-test-tag", "ws-tokens");
    let handshake = [
        tag,
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    // Refused with 403 and a JSON body: no 101, no socket.
    for path in [
        "/ws-client".to_string(),
        "/ws-client?token=".to_string(),
        "/ws-client?token=nope".to_string(),
        "/ws-client/nope".to_string(),
        format!("/ws-client?token={}x", s.token),
    ] {
        let r = a.send("GET", &path, &handshake, None).await;
        r.assert_error(403, "INVALID_TOKEN");
    }
    // A request that is not a handshake does not use the token up.
    let r = a
        .send(
            "GET",
            &format!("/ws-client?token={}", s.token),
            &[tag],
            None,
        )
        .await;
    assert!(r.status >= 400 && r.status != 403, "{}", r.status);
    // A page from another origin may not open it either (the token stays unused).
    let foreign = open(
        &format!("{}?token={}", s.ws_url, s.token),
        Some("http://example.com"),
    )
    .await;
    assert_eq!(refused_status(foreign), 403);
    // The path form works once; the token is then used up, in either form.
    let mut ws = open(
        &format!("{}/{}", s.ws_url, s.token),
        Some("http://localhost:8000"),
    )
    .await
    .expect("the token opens the socket once");
    ws.message("server-message").await;
    for url in [
        format!("{}/{}", s.ws_url, s.token),
        format!("{}?token={}", s.ws_url, s.token),
    ] {
        assert_eq!(refused_status(open(&url, None).await), 403, "{url}");
    }
    let r = a
        .send(
            "GET",
            &format!("/ws-client?token={}", s.token),
            &handshake,
            None,
        )
        .await;
    r.assert_error(403, "INVALID_TOKEN");
    // The requests are logged, the token never in clear.
    let log = a.get("/debug/requests?tag=ws-tokens").await.json();
    assert_eq!(log.as_array().unwrap().len(), 7, "{log}");
    assert!(!log.to_string().contains(&s.token), "{log}");
    assert_eq!(log[4]["query"], "token=[redacted, 33 chars]");
    assert_eq!(log[3]["path"], "/ws-client/[redacted, 4 chars]");
    let d = debug(&a, &s.id).await;
    assert_eq!(d["websocket"]["tokenUsed"], true);
    assert_eq!(d["websocket"]["connected"], true);
}

#[tokio::test]
async fn a_call_talks_rtvi_in_message_frames_and_echoes_audio() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "").await;
    let mut ws = Ws::connect(&s).await;
    // The bot greets the socket, then answers client-ready with bot-ready.
    let hello = ws.message("server-message").await;
    assert_eq!(hello["data"]["connection"], 1);
    ws.send(&Frame::Message(
        json!({"type": "signalling", "message": {"type": "trackStatus", "receiver_index": 0, "enabled": true}})
            .to_string(),
    ))
    .await;
    ws.rtvi(
        "client-ready",
        "r1",
        json!({"version": "2.2.0", "about": {"library": "test"}}),
    )
    .await;
    let ready = ws.message("bot-ready").await;
    assert_eq!(ready["id"], "r1");
    assert_eq!(ready["data"]["version"], "2.2.0");
    assert_eq!(ready["data"]["about"]["agent"], "runner");

    // Twenty loud 16 kHz mono frames come back as they went, and the bot hears speech.
    let sent: Vec<Vec<u8>> = (0..20).map(|i| beep(16_000, 1, i * 320)).collect();
    assert_eq!(sent[0].len(), 640);
    for pcm in &sent {
        ws.send(&mic(pcm.clone(), 16_000, 1)).await;
    }
    ws.wait("20 echoed frames", |w| {
        (w.audio().len() >= 20).then_some(())
    })
    .await;
    for (echo, pcm) in ws.audio().iter().zip(&sent) {
        assert_eq!(
            (echo.sample_rate, echo.num_channels),
            (16_000, 1),
            "same rate and channels"
        );
        assert_eq!(&echo.audio, pcm);
        assert_eq!(echo.pts, None);
        assert!(echo.name.starts_with("OutputAudioRawFrame#") && echo.id > 0);
    }
    ws.message("user-started-speaking").await;
    // 300 ms after the last voiced frame the utterance ends: transcription and the reply.
    let tr = ws.message("user-transcription").await;
    assert_eq!(tr["data"]["user_id"], s.id.as_str(), "the session id");
    ws.message("bot-stopped-speaking").await;
    // Silence echoes too, and is not speech (the bot has heard it before the echo goes out).
    ws.send(&mic(vec![0; 640], 16_000, 1)).await;
    ws.wait("the silent frame's echo", |w| {
        (w.audio().len() == 21).then_some(())
    })
    .await;
    assert_eq!(ws.audio()[20].audio, vec![0; 640]);
    let d = debug(&a, &s.id).await;
    assert_eq!(d["bot"]["userSpeaking"], false, "{d}");
    assert_eq!(d["bot"]["userTurns"], 1);
    assert_eq!(d["bot"]["clientVersion"], "2.2.0");
    // Another rate and channel count are echoed as such.
    ws.send(&mic(beep(48_000, 2, 0), 48_000, 2)).await;
    let echo = ws
        .wait("the stereo echo", |w| {
            w.audio().get(21).map(|a| (*a).clone())
        })
        .await;
    assert_eq!((echo.sample_rate, echo.num_channels), (48_000, 2));
    assert_eq!(echo.audio.len(), 3840);

    // A client request answered.
    ws.rtvi("client-message", "m1", json!({"t": "echo", "d": {"n": 7}}))
        .await;
    let answer = ws
        .wait("the server-response", |w| {
            w.messages().into_iter().find(|m| m["id"] == "m1")
        })
        .await;
    assert_eq!(answer["type"], "server-response");
    assert_eq!(answer["data"], json!({"t": "echo", "d": {"n": 7}}));

    let d = debug(&a, &s.id).await;
    let w = &d["websocket"];
    assert_eq!(w["audioFramesReceived"], 22, "{w}");
    assert_eq!(w["audioFramesSent"], 22, "{w}");
    assert_eq!(w["sampleRate"], 48_000);
    assert_eq!(w["connected"], true);
    assert_eq!(w["messagesReceived"][1]["type"], "client-ready");

    // The client closes: the bot and the session end with the socket.
    ws.stream.close(None).await.unwrap();
    let d = ended(&a, &s.id).await;
    assert_eq!(d["websocket"]["connected"], false);
    assert_eq!(d["websocket"]["closedBy"], "client");
    assert_eq!(d["websocket"]["closeCode"], 1005);
    assert_eq!(d["bot"]["ended"], "closed by the client");
}

#[tokio::test]
async fn the_bot_ending_closes_the_socket_with_1000() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "").await;
    let mut ws = Ws::connect(&s).await;
    ws.rtvi("disconnect-bot", "q", Value::Null).await;
    assert_eq!(ws.close_code().await, 1000);
    let d = ended(&a, &s.id).await;
    assert_eq!(d["bot"]["ended"], "disconnect-bot");
    assert_eq!(d["websocket"]["closedBy"], "server");
    // The session is over: its token was used, and a new start is needed.
    assert_eq!(
        refused_status(open(&format!("{}?token={}", s.ws_url, s.token), None).await),
        403
    );
}

#[tokio::test]
async fn malformed_and_text_messages_are_ignored() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "").await;
    let mut ws = Ws::connect(&s).await;
    for junk in [vec![18], vec![34, 3, 10, 1, 0xff], vec![0xff; 12], vec![]] {
        ws.stream.send(Message::binary(junk)).await.unwrap();
    }
    ws.stream
        .send(Message::text(
            r#"{"label":"rtvi-ai","type":"client-ready","id":"t"}"#,
        ))
        .await
        .unwrap();
    ws.send(&Frame::Message("not json".into())).await;
    ws.send(&Frame::Interruption {
        id: 1,
        name: "i".into(),
    })
    .await;
    ws.rtvi("client-ready", "r", json!({"version": "2.2.0"}))
        .await;
    assert_eq!(ws.message("bot-ready").await["id"], "r");
    assert!(!ws.messages().iter().any(|m| m["id"] == "t"));
    let d = debug(&a, &s.id).await;
    let w = &d["websocket"];
    assert_eq!(w["malformedFrames"], 4, "{w}");
    assert_eq!(w["textMessages"], 1, "{w}");
    assert_eq!(w["framesReceived"], 7, "{w}");
    assert_eq!(w["messagesReceived"][0], "not json");
    assert_eq!(w["connected"], true);
}

#[tokio::test]
async fn ws_close_after_ready_closes_with_1011() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "?fault=ws-close-after-ready").await;
    let mut ws = Ws::connect(&s).await;
    ws.rtvi("client-ready", "r", json!({"version": "2.2.0"}))
        .await;
    assert_eq!(ws.close_code().await, 1011);
    assert!(
        ws.messages().iter().any(|m| m["type"] == "bot-ready"),
        "bot-ready first"
    );
    let d = ended(&a, &s.id).await;
    assert_eq!(d["websocket"]["closeCode"], 1011);
    assert_eq!(
        d["websocket"]["closedReason"],
        "fault: ws-close-after-ready"
    );
}

#[tokio::test]
async fn ws_refuse_is_403_even_with_a_good_token() {
    let a = Agent::start(&[]).await;
    let s = start(
        &a,
        "/v1/public/fault-ws-refuse/start",
        json!({"transport": "websocket"}),
    )
    .await;
    let r = open(&format!("{}?token={}", s.ws_url, s.token), None).await;
    assert_eq!(refused_status(r), 403);
    assert_eq!(debug(&a, &s.id).await["websocket"]["tokenUsed"], true);
}

#[tokio::test]
async fn ws_interrupt_sends_an_interruption_frame_every_half_second() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "?fault=ws-interrupt").await;
    let mut ws = Ws::connect(&s).await;
    ws.message("server-message").await;
    // Nothing before bot-ready.
    let count = |w: &Ws| {
        w.frames
            .iter()
            .filter(|f| matches!(f, Frame::Interruption { .. }))
            .count()
    };
    ws.rtvi("client-ready", "r", json!({"version": "2.2.0"}))
        .await;
    ws.message("bot-ready").await;
    assert_eq!(count(&ws), 0);
    let ready_at = Instant::now();
    ws.wait("a first interruption", |w| (count(w) >= 1).then_some(()))
        .await;
    let first = ready_at.elapsed();
    ws.wait("a third interruption", |w| (count(w) >= 3).then_some(()))
        .await;
    let third = ready_at.elapsed();
    assert!(
        first >= Duration::from_millis(400),
        "about 500 ms after bot-ready: {first:?}"
    );
    assert!(
        third >= Duration::from_millis(1400),
        "500 ms apart: {third:?}"
    );
    let Some(Frame::Interruption { id, name }) = ws
        .frames
        .iter()
        .find(|f| matches!(f, Frame::Interruption { .. }))
    else {
        unreachable!()
    };
    assert!(*id > 0 && name.starts_with("InterruptionFrame#"));
    assert!(debug(&a, &s.id).await["websocket"]["interruptionsSent"].as_u64() >= Some(3));
}

#[tokio::test]
async fn faults_of_the_bot_apply_over_a_socket_too() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "?fault=silent,rtvi-version-1.0.0").await;
    let mut ws = Ws::connect(&s).await;
    ws.rtvi("client-ready", "r", json!({"version": "1.0.0"}))
        .await;
    let ready = ws.message("bot-ready").await;
    assert_eq!(ready["data"]["version"], "1.0.0");
    ws.send(&mic(beep(16_000, 1, 0), 16_000, 1)).await;
    let echo = ws
        .wait("the echo", |w| w.audio().first().map(|a| (*a).clone()))
        .await;
    assert_eq!(echo.audio, vec![0; 640], "silence instead of the echo");
    assert_eq!(echo.sample_rate, 16_000);
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_1001() {
    let a = Agent::start(&[]).await;
    let s = start_ws(&a, "").await;
    let mut ws = Ws::connect(&s).await;
    ws.message("server-message").await;
    let (code, exit) = tokio::join!(ws.close_code(), a.terminate());
    assert_eq!(code, 1001);
    assert_eq!(exit, Some(0));
}

#[tokio::test]
async fn a_handshake_without_a_good_token_gets_no_socket_even_over_raw_tcp() {
    // The 403 is the whole answer: no `101 Switching Protocols`, no upgrade headers.
    let a = Agent::start(&[]).await;
    let r = request(
        &a.addr,
        "GET",
        "/ws-client?token=0123",
        &[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.header("upgrade").is_none() && r.header("sec-websocket-accept").is_none());
    assert!(!r.text().contains("0123"), "the token is not echoed");
}
