//! One WebSocket call, as Pipecat's `FastAPIWebsocketTransport` with its protobuf serializer
//! serves it: every message is a binary `pipecat.Frame` ([`crate::frames`]). RTVI rides in
//! message frames, the client's PCM is echoed back frame by frame and feeds the bot's voice
//! activity, and the bot lives exactly as long as the socket: when either side closes it, the
//! bot and its session end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::bot::{Action, Bot};
use crate::fault::{Faults, WS_INTERRUPT_EVERY};
use crate::frames::{self, Audio, Frame};
use crate::peer::lock;
use crate::vad;

/// Messages kept for the debug endpoint.
const KEEP_MESSAGES: usize = 50;
/// How long a closing socket waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Close codes (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// What the server observed of one socket, for `GET /debug/sessions/{id}` (`websocket`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsDebug {
    /// The socket is open.
    pub connected: bool,
    /// Binary messages received, decodable or not.
    pub frames_received: u64,
    pub frames_sent: u64,
    pub audio_frames_received: u64,
    pub audio_frames_sent: u64,
    /// The sample rate and channel count of the last audio frame received.
    pub sample_rate: Option<u32>,
    pub num_channels: Option<u32>,
    /// Binary messages that were not a frame (ignored).
    pub malformed_frames: u64,
    /// Text messages (the protobuf serializer reads none; ignored).
    pub text_messages: u64,
    /// Message frames' data (the JSON, else the text), the last 50.
    pub messages_received: VecDeque<Value>,
    pub messages_sent: u64,
    pub interruptions_sent: u64,
    /// Who closed the socket (`"server"`, `"client"`), with which code, and why.
    pub closed_by: Option<&'static str>,
    pub close_code: Option<u16>,
    pub closed_reason: Option<String>,
}

pub enum WsCmd {
    /// The server shuts down: close with 1001.
    Close,
}

pub struct WsOptions {
    pub faults: Faults,
    pub bot: Arc<Mutex<Bot>>,
    pub debug: Arc<Mutex<WsDebug>>,
    pub rx: mpsc::UnboundedReceiver<WsCmd>,
}

/// Runs the call on an accepted socket until it closes; `on_exit` is called once after, even
/// if the task unwinds.
pub async fn run(socket: WebSocket, opts: WsOptions, on_exit: impl FnOnce() + Send) {
    let _exit = OnDrop(Some(on_exit));
    let mut call = Call {
        socket,
        faults: opts.faults,
        bot: opts.bot,
        debug: opts.debug,
        rx: opts.rx,
        interrupt_at: None,
        serial: 0,
    };
    call.update(|d| d.connected = true);
    let end = call.run_loop().await;
    let reason = match end {
        End::Close(code, reason) => {
            call.close(code, &reason).await;
            reason
        }
        End::Gone(code, reason) => {
            call.update(|d| {
                d.closed_by = Some("client");
                d.close_code = code;
            });
            reason
        }
    };
    call.update(|d| {
        d.connected = false;
        d.closed_reason = Some(reason.clone());
    });
    lock(&call.bot).finish(&reason);
}

struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// How the loop ends.
enum End {
    /// The server closes the socket with this code and reason.
    Close(u16, String),
    /// The client closed it (with its close code, if it sent one) or vanished.
    Gone(Option<u16>, String),
}

struct Call {
    socket: WebSocket,
    faults: Faults,
    bot: Arc<Mutex<Bot>>,
    debug: Arc<Mutex<WsDebug>>,
    rx: mpsc::UnboundedReceiver<WsCmd>,
    /// The next `ws-interrupt` frame.
    interrupt_at: Option<Instant>,
    /// Ids of the frames the server sends, as Pipecat numbers its frames.
    serial: u64,
}

impl Call {
    async fn run_loop(&mut self) -> End {
        // Pipecat's `on_client_connected`: the socket was accepted.
        let actions = lock(&self.bot).on_connected();
        if let Some(end) = self.apply(actions).await {
            return end;
        }
        loop {
            let now = Instant::now();
            if self.interrupt_at.is_some_and(|t| now >= t) {
                self.interrupt_at = Some(now + WS_INTERRUPT_EVERY);
                self.serial += 1;
                let frame = Frame::Interruption {
                    id: self.serial,
                    name: format!("InterruptionFrame#{}", self.serial),
                };
                if let Err(end) = self.send(&frame).await {
                    return end;
                }
                self.update(|d| d.interruptions_sent += 1);
            }
            let actions = lock(&self.bot).poll(now);
            if let Some(end) = self.apply(actions).await {
                return end;
            }
            let deadline = [lock(&self.bot).next_deadline(), self.interrupt_at]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(WsCmd::Close) | None => {
                        return End::Close(CLOSE_GOING_AWAY, "server shut down".into());
                    }
                },
                msg = self.socket.recv() => match msg {
                    None => return End::Gone(None, "the client went away".into()),
                    Some(Err(e)) => return End::Gone(None, format!("socket error: {e}")),
                    Some(Ok(Message::Close(frame))) => {
                        return End::Gone(
                            Some(frame.map_or(1005, |f| f.code)),
                            "closed by the client".into(),
                        );
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Some(end) = self.on_binary(&bytes).await {
                            return end;
                        }
                    }
                    Some(Ok(Message::Text(_))) => self.update(|d| d.text_messages += 1),
                    // Pings are answered by the socket itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                },
                () = sleep => {}
            }
        }
    }

    async fn on_binary(&mut self, bytes: &[u8]) -> Option<End> {
        self.update(|d| d.frames_received += 1);
        let now = Instant::now();
        match frames::decode(bytes) {
            None => self.update(|d| d.malformed_frames += 1),
            Some(Frame::Message(data)) => {
                let parsed: Option<Value> = serde_json::from_str(&data).ok();
                let kept = parsed.clone().unwrap_or(Value::String(data));
                self.update(|d| {
                    if d.messages_received.len() == KEEP_MESSAGES {
                        d.messages_received.pop_front();
                    }
                    d.messages_received.push_back(kept);
                });
                if let Some(m) = parsed {
                    let actions = lock(&self.bot).on_message(now, &m);
                    return self.apply(actions).await;
                }
            }
            Some(Frame::Audio(a)) => return self.on_audio(now, a).await,
            // Text, transcription and interruption frames from a client: nothing to do.
            Some(_) => {}
        }
        None
    }

    /// The echo: the same PCM straight back at the same rate (zeros with the `silent` fault),
    /// and the frame's level to the bot's voice activity.
    async fn on_audio(&mut self, now: Instant, a: Audio) -> Option<End> {
        self.update(|d| {
            d.audio_frames_received += 1;
            d.sample_rate = Some(a.sample_rate);
            d.num_channels = Some(a.num_channels);
        });
        let voiced = vad::is_voiced_pcm(&a.audio);
        let actions = lock(&self.bot).on_audio(now, voiced);
        if let Some(end) = self.apply(actions).await {
            return Some(end);
        }
        self.serial += 1;
        let audio = if self.faults.silent {
            vec![0; a.audio.len()]
        } else {
            a.audio
        };
        let echo = Frame::Audio(Audio {
            id: self.serial,
            name: format!("OutputAudioRawFrame#{}", self.serial),
            audio,
            sample_rate: a.sample_rate,
            num_channels: a.num_channels,
            pts: None,
        });
        if let Err(end) = self.send(&echo).await {
            return Some(end);
        }
        self.update(|d| d.audio_frames_sent += 1);
        None
    }

    /// Sends the bot's messages; the end of the call when the bot (or a fault) ends it.
    async fn apply(&mut self, actions: Vec<Action>) -> Option<End> {
        for a in actions {
            match a {
                Action::Send(msg) => {
                    if let Err(end) = self.send(&Frame::Message(msg.to_string())).await {
                        return Some(end);
                    }
                    self.update(|d| d.messages_sent += 1);
                    if msg.get("type").and_then(Value::as_str) == Some("bot-ready") {
                        if self.faults.ws_close_after_ready {
                            return Some(End::Close(
                                CLOSE_INTERNAL_ERROR,
                                "fault: ws-close-after-ready".into(),
                            ));
                        }
                        if self.faults.ws_interrupt && self.interrupt_at.is_none() {
                            self.interrupt_at = Some(Instant::now() + WS_INTERRUPT_EVERY);
                        }
                    }
                }
                Action::End(reason) => return Some(End::Close(CLOSE_NORMAL, reason)),
            }
        }
        None
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), End> {
        let bytes = frames::encode(frame);
        match self.socket.send(Message::Binary(bytes.into())).await {
            Ok(()) => {
                self.update(|d| d.frames_sent += 1);
                Ok(())
            }
            Err(e) => Err(End::Gone(None, format!("socket error: {e}"))),
        }
    }

    /// Closes from the server's side and waits a moment for the client's close frame.
    async fn close(&mut self, code: u16, reason: &str) {
        self.update(|d| {
            d.closed_by = Some("server");
            d.close_code = Some(code);
        });
        // A close reason is at most 123 bytes.
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let frame = CloseFrame {
            code,
            reason: reason[..cut].into(),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(m)) = self.socket.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    fn update(&self, f: impl FnOnce(&mut WsDebug)) {
        if let Ok(mut d) = self.debug.lock() {
            f(&mut d);
        }
    }
}
