//! `connectWebRtc()` / `startAndConnect()` and the `Connection` class: the browser side of the
//! connection. Every decision is the core `Machine`'s; this file feeds it browser events and
//! carries out its outputs. Everything per connection (listeners, the ping timer, handlers) is
//! owned by `Inner` and released when the connection closes or is dropped.

use super::deadline::Deadline;
use super::error::to_js_error;
use super::http::{send_json, Method};
use super::json::{json_to_js, options_to_json, value_to_json};
use super::media::{acquire, describe, error_name, stop_all, MediaChoice};
use super::session::{Session, SessionData};
use super::start::{read_signal, read_start_options, start, NON_JSON_KEYS};
use super::wait::{join, Slot};
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::{DisconnectReason, Event, IceState, Input, Machine, Output};
use crate::options::{Credentials, Transport};
use crate::session::IceServer;
use crate::signalling::{
    offer_body, parse_answer, resolve_target, webrtc_session_check, ConnectOptions,
};
use crate::trickle::{Candidate, TrickleQueue};
use gloo_events::EventListener;
use gloo_timers::callback::Interval;
use js_sys::{Array, Function, Reflect};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcBundlePolicy, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcRtpSender,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

/// How long one trickle PATCH may take after the connect (the connect's own budget covers it before).
const TRICKLE_TIMEOUT_MS: f64 = 10_000.0;

struct Inner {
    machine: RefCell<Machine>,
    pc: RtcPeerConnection,
    channel: RtcDataChannel,
    senders: [RtcRtpSender; 2],
    target: RefCell<Option<(String, Credentials)>>,
    request_data: Option<Value>,
    trickle: RefCell<TrickleQueue>,
    session: RefCell<(JsValue, Option<String>)>,
    local_stream: MediaStream,
    remote_stream: MediaStream,
    tracks: RefCell<[Option<MediaStreamTrack>; 2]>,
    own_tracks: RefCell<Vec<MediaStreamTrack>>,
    listeners: RefCell<Vec<EventListener>>,
    ping: RefCell<Option<Interval>>,
    /// Event name → `Set` of handler functions.
    handlers: js_sys::Map,
    /// Events from before the connect call resolved, replayed to the handlers that subscribe
    /// right after it (`await connectWebRtc(...)` then `conn.on(...)`). `None` once replayed.
    early_events: RefCell<Option<Vec<(String, JsValue)>>>,
    replay: RefCell<Option<gloo_timers::callback::Timeout>>,
    connected: Slot<Result<(), Error>>,
    timeout_ms: f64,
    /// When the connect call began (`Date.now()`), and each step's time since then.
    t0: f64,
    timings: js_sys::Object,
}

/// A live (or ended) connection to a bot.
#[wasm_bindgen]
pub struct Connection {
    inner: Rc<Inner>,
}

fn webrtc_error(phase: Phase, what: &str, e: &JsValue) -> Error {
    Error::new(ErrorCode::Webrtc, format!("{what} failed: {}", describe(e)))
        .with_phase(phase)
        .with_detail("name", error_name(e))
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Inner {
    /// Builds the peer connection the server expects (PROTOCOL.md §4): audio then video
    /// transceivers, both sendrecv, and the ordered `chat` channel, all before the offer.
    fn new(
        ice_servers: &[IceServer],
        plan: &Plan,
        starting: bool,
        timeout_ms: f64,
        t0: f64,
    ) -> Result<Rc<Inner>, Error> {
        let config = rtc_config(ice_servers);
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|e| webrtc_error(Phase::Media, "RTCPeerConnection", &e))?;
        let local_stream =
            MediaStream::new().map_err(|e| webrtc_error(Phase::Media, "MediaStream", &e))?;
        let remote_stream =
            MediaStream::new().map_err(|e| webrtc_error(Phase::Media, "MediaStream", &e))?;
        let add = |kind: &str| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
            init.set_streams(&Array::of1(&local_stream));
            pc.add_transceiver_with_str_and_init(kind, &init).sender()
        };
        let senders = [add("audio"), add("video")];
        let channel_init = RtcDataChannelInit::new();
        channel_init.set_ordered(true);
        let channel = pc.create_data_channel_with_data_channel_dict("chat", &channel_init);
        let seed = (js_sys::Math::random() * 9.0e15) as u64;
        Ok(Rc::new(Inner {
            machine: RefCell::new(Machine::new(
                plan.options.wait_for_bot_ready,
                [plan.audio.is_on(), plan.video.is_on()],
                seed,
                starting,
            )),
            pc,
            channel,
            senders,
            target: RefCell::new(None),
            request_data: plan.options.request_data.clone(),
            trickle: RefCell::new(TrickleQueue::new()),
            session: RefCell::new((JsValue::UNDEFINED, None)),
            local_stream,
            remote_stream,
            tracks: RefCell::new([None, None]),
            own_tracks: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            ping: RefCell::new(None),
            handlers: js_sys::Map::new(),
            early_events: RefCell::new(Some(Vec::new())),
            replay: RefCell::new(None),
            connected: Slot::new(),
            timeout_ms,
            t0,
            timings: js_sys::Object::new(),
        }))
    }

    fn listen(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let on = |target: &web_sys::EventTarget,
                  name: &'static str,
                  f: fn(&Rc<Inner>, &web_sys::Event)| {
            let weak = weak.clone();
            EventListener::new(target, name, move |e| {
                if let Some(inner) = weak.upgrade() {
                    f(&inner, e)
                }
            })
        };
        let listeners = vec![
            on(&self.pc, "icecandidate", |inner, e| {
                let Some(e) = e.dyn_ref::<RtcPeerConnectionIceEvent>() else {
                    return;
                };
                let candidate = e.candidate().map(|c| Candidate {
                    candidate: c.candidate(),
                    sdp_mid: c.sdp_mid(),
                    sdp_mline_index: c.sdp_m_line_index(),
                });
                inner.trickle.borrow_mut().push(candidate);
                inner.flush_trickle();
            }),
            on(&self.pc, "iceconnectionstatechange", |inner, _| {
                let state = IceState::parse(&ice_state_name(&inner.pc, "iceConnectionState"));
                inner.input(Input::Ice(state));
            }),
            on(&self.pc, "connectionstatechange", |inner, _| {
                if ice_state_name(&inner.pc, "connectionState") == "failed" {
                    inner.input(Input::Ice(IceState::Failed));
                }
            }),
            on(&self.pc, "track", |inner, e| {
                let Some(e) = e.dyn_ref::<RtcTrackEvent>() else {
                    return;
                };
                let track = e.track();
                inner.mark("remoteTrack");
                inner.remote_stream.add_track(&track);
                let arg = js_sys::Object::new();
                let _ = Reflect::set(&arg, &"track".into(), &track);
                let _ = Reflect::set(&arg, &"stream".into(), &inner.remote_stream);
                inner.emit("track", &arg);
            }),
            on(&self.channel, "open", |inner, _| {
                inner.input(Input::ChannelOpen { now_ms: now_ms() })
            }),
            on(&self.channel, "close", |inner, _| {
                inner.input(Input::ChannelClosed)
            }),
            on(&self.channel, "message", |inner, e| {
                let Some(e) = e.dyn_ref::<MessageEvent>() else {
                    return;
                };
                if let Some(text) = e.data().as_string() {
                    inner.input(Input::Message(text));
                }
            }),
        ];
        *self.listeners.borrow_mut() = listeners;
    }

    /// Records the first time a step happened, in ms since the connect call.
    fn mark(&self, step: &str) {
        self.mark_at(step, now_ms());
    }

    fn mark_at(&self, step: &str, at: f64) {
        let key = JsValue::from_str(step);
        if !Reflect::has(&self.timings, &key).unwrap_or(true) {
            let _ = Reflect::set(&self.timings, &key, &(at - self.t0).into());
        }
    }

    fn input(self: &Rc<Self>, input: Input) {
        match &input {
            Input::Ice(IceState::Connected) => self.mark("iceConnected"),
            Input::ChannelOpen { .. } => self.mark("channelOpen"),
            _ => {}
        }
        let outputs = self.machine.borrow_mut().handle(input);
        for output in outputs {
            self.run(output);
        }
    }

    fn run(self: &Rc<Self>, output: Output) {
        match output {
            Output::Send(text) => {
                let _ = self.channel.send_with_str(&text);
            }
            Output::State(state) => self.emit("statechange", &state.as_str().into()),
            Output::Emit(Event::Message(v)) => self.emit("message", &json_to_js(&v)),
            Output::Emit(Event::Rtvi(v)) => self.emit("rtvi", &json_to_js(&v)),
            Output::Emit(Event::BotReady(v)) => {
                self.mark("botReady");
                self.emit("botready", &json_to_js(&v))
            }
            Output::Emit(Event::Error(e)) => self.emit("error", &to_js_error(&e)),
            Output::Connected => {
                self.mark("connected");
                self.connected.set(Ok(()))
            }
            Output::ConnectFailed(e) => self.connected.set(Err(e)),
            Output::Renegotiate => {
                let inner = self.clone();
                spawn_local(async move {
                    let deadline = Deadline::new(inner.timeout_ms, None);
                    let result = match deadline {
                        Ok(d) => inner.negotiate(&d, false).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        inner.input(Input::Warning(e));
                    }
                    inner.input(Input::RenegotiationDone);
                });
            }
            Output::StartPing => {
                let weak = Rc::downgrade(self);
                *self.ping.borrow_mut() = Some(Interval::new(1000, move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.input(Input::PingTick { now_ms: now_ms() });
                    }
                }));
            }
            Output::Close(reason) => self.close(reason),
        }
    }

    /// Frees everything the connection holds, then tells the handlers why, then forgets them.
    fn close(self: &Rc<Self>, reason: DisconnectReason) {
        self.release();
        let early = self.early_events.borrow_mut().take().unwrap_or_default();
        for (event, arg) in early {
            self.deliver(&event, &arg);
        }
        self.deliver("disconnected", &reason.as_str().into());
        self.handlers.clear();
    }

    fn release(&self) {
        // Listeners and the timer may be running right now (a close can start inside one of their
        // callbacks): drop them once the current task is over, never from inside themselves.
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        let ping = self.ping.borrow_mut().take();
        let replay = self.replay.borrow_mut().take();
        spawn_local(async move {
            drop(listeners);
            drop(ping);
            drop(replay);
        });
        self.channel.close();
        self.pc.close();
        stop_all(&self.own_tracks.borrow());
    }

    fn emit(&self, event: &str, arg: &JsValue) {
        if let Some(early) = self.early_events.borrow_mut().as_mut() {
            early.push((event.to_owned(), arg.clone()));
            return;
        }
        self.deliver(event, arg);
    }

    fn deliver(&self, event: &str, arg: &JsValue) {
        let Some(set) = self
            .handlers
            .get(&event.into())
            .dyn_into::<js_sys::Set>()
            .ok()
        else {
            return;
        };
        // A snapshot, so handlers may subscribe or unsubscribe while being called.
        for f in Array::from(&set).iter() {
            if let Some(f) = f.dyn_ref::<Function>() {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, arg) {
                    web_sys::console::error_2(&"agent-rtc: an event handler threw".into(), &e);
                }
            }
        }
    }

    fn flush_trickle(self: &Rc<Self>) {
        let Some(body) = self.trickle.borrow_mut().next_batch() else {
            return;
        };
        let Some((url, credentials)) = self.target.borrow().clone() else {
            return;
        };
        let inner = self.clone();
        spawn_local(async move {
            let result = match Deadline::new(TRICKLE_TIMEOUT_MS, None) {
                Ok(d) => {
                    send_json(
                        Method::Patch,
                        &url,
                        &credentials,
                        body.to_string(),
                        &d,
                        Phase::Ice,
                        "ICE candidate",
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            inner.trickle.borrow_mut().batch_done();
            match result {
                Ok(_) => inner.flush_trickle(),
                Err(e) if !inner.machine.borrow().is_closed() => inner.input(Input::Warning(e)),
                Err(_) => {}
            }
        });
    }

    /// One offer/answer round: a new offer (with the known `pc_id`, if any), the answer applied,
    /// and queued candidates released.
    async fn negotiate(self: &Rc<Self>, deadline: &Deadline, first: bool) -> Result<(), Error> {
        let offer = deadline
            .race(Phase::Offer, promise(self.pc.create_offer(), "createOffer"))
            .await?;
        self.set_local_and_post(offer, deadline, first).await
    }

    async fn set_local_and_post(
        self: &Rc<Self>,
        offer: JsValue,
        deadline: &Deadline,
        first: bool,
    ) -> Result<(), Error> {
        let sdp = Reflect::get(&offer, &"sdp".into())
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        init.set_sdp(&sdp);
        deadline
            .race(
                Phase::Offer,
                promise(self.pc.set_local_description(&init), "setLocalDescription"),
            )
            .await?;
        if !first {
            self.trickle.borrow_mut().restart();
        }
        let (url, credentials) = self
            .target
            .borrow()
            .clone()
            .ok_or_else(|| Error::invalid("no offer URL"))?;
        let pc_id = self.machine.borrow().pc_id().map(str::to_owned);
        let body = offer_body(&sdp, pc_id.as_deref(), false, self.request_data.as_ref());
        if first {
            self.mark("offerSent");
            self.input(Input::OfferSent);
        }
        let text = send_json(
            Method::Post,
            &url,
            &credentials,
            body,
            deadline,
            Phase::Offer,
            "offer",
        )
        .await?;
        let answer = parse_answer(&text).map_err(|e| e.redact(&credentials.secrets()))?;
        let remote = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
        remote.set_sdp(&answer.sdp);
        deadline
            .race(
                Phase::Offer,
                promise(
                    self.pc.set_remote_description(&remote),
                    "setRemoteDescription",
                ),
            )
            .await?;
        self.mark("answerReceived");
        self.trickle.borrow_mut().set_pc_id(answer.pc_id.clone());
        self.input(Input::AnswerApplied {
            pc_id: answer.pc_id,
        });
        self.flush_trickle();
        Ok(())
    }

    /// Attaches the media once getUserMedia answered (the offer did not wait for it).
    async fn attach_media(
        self: &Rc<Self>,
        audio: MediaChoice,
        video: MediaChoice,
        deadline: &Deadline,
    ) -> Result<(), Error> {
        let acquired = deadline.race(Phase::Media, async {
            acquire(&audio, &video).await.map(Some)
        });
        let (audio_track, video_track, own) = match acquired.await {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e),
        };
        *self.own_tracks.borrow_mut() = own;
        if self.machine.borrow().is_closed() {
            stop_all(&self.own_tracks.borrow());
            return Err(Error::new(
                ErrorCode::Closed,
                "the connection closed while media was being opened",
            )
            .with_phase(Phase::Media));
        }
        for (index, track) in [audio_track, video_track].into_iter().enumerate() {
            if let Some(track) = track {
                self.local_stream.add_track(&track);
                let _ = self.senders[index].replace_track(Some(&track));
                self.tracks.borrow_mut()[index] = Some(track);
            }
        }
        Ok(())
    }

    /// Ends a failed connect: the machine decides the error (and its phase) and closes everything.
    fn abort_connect(self: &Rc<Self>, err: Error, deadline: &Deadline) -> Error {
        let input = match err.code {
            ErrorCode::Timeout | ErrorCode::Aborted if deadline.error(Phase::Media).is_some() => {
                Input::Deadline(err.code, deadline.timeout_ms())
            }
            _ => Input::Failure(err.clone()),
        };
        self.input(input);
        if !self.machine.borrow().is_closed() {
            self.input(Input::Disconnect);
        }
        match self.connected.get() {
            Some(Err(e)) => e,
            _ => err,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.machine.borrow().is_closed() {
            self.release();
        }
    }
}

/// One bundle for all media (no per-m-line gathering), and the ICE servers in force.
fn rtc_config(ice_servers: &[IceServer]) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    config.set_bundle_policy(RtcBundlePolicy::MaxBundle);
    config.set_ice_servers(&json_to_js(&json!(ice_servers)));
    config
}

fn ice_state_name(pc: &RtcPeerConnection, prop: &str) -> String {
    Reflect::get(pc, &prop.into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

async fn promise(p: js_sys::Promise, what: &'static str) -> Result<JsValue, Error> {
    JsFuture::from(p)
        .await
        .map_err(|e| webrtc_error(Phase::Offer, what, &e))
}

/// Everything `connectWebRtc` reads from its options.
struct Plan {
    options: ConnectOptions,
    audio: MediaChoice,
    video: MediaChoice,
    signal: Option<web_sys::AbortSignal>,
}

impl Plan {
    fn read(options: &JsValue) -> Result<Plan, Error> {
        let json = options_to_json(options, &NON_JSON_KEYS)?;
        let connect = ConnectOptions::from_options(&json)?;
        Ok(Plan {
            options: connect,
            audio: MediaChoice::read(options, "audio", true)?,
            video: MediaChoice::read(options, "video", false)?,
            signal: read_signal(options)?,
        })
    }
}

/// Refuses sessions that need another kind of client.
fn check_transport(data: &SessionData) -> Result<(), Error> {
    webrtc_session_check(&data.answer, data.transport)
}

/// Connects to a bot over WebRTC, for a `Session` or a bare `offerUrl`.
#[wasm_bindgen(js_name = connectWebRtc)]
pub async fn connect_web_rtc(
    #[wasm_bindgen(unchecked_param_type = "ConnectWebRtcOptions")] options: JsValue,
) -> Result<Connection, JsValue> {
    let t0 = now_ms();
    let plan = Plan::read(&options)?;
    let session_js = Reflect::get(&options, &"session".into()).unwrap_or(JsValue::UNDEFINED);
    let session = if session_js.is_undefined() || session_js.is_null() {
        None
    } else {
        let data = Session::data_from_js(&session_js).ok_or_else(|| {
            Error::invalid("`session` must be a Session returned by startSession() (and not freed)")
        })?;
        check_transport(&data)?;
        Some(data)
    };
    let target = resolve_target(
        &plan.options,
        session.as_ref().map(|d| {
            (
                d.answer.session_id.as_str(),
                d.offer_url.as_deref(),
                d.start_origin.as_str(),
                &d.credentials,
            )
        }),
    )?;
    let ice = plan
        .options
        .ice_servers
        .clone()
        .or_else(|| session.as_ref().map(|d| d.answer.ice_servers.clone()))
        .unwrap_or_default();
    let deadline = Deadline::new(plan.options.timeout_ms, plan.signal.as_ref())?;
    let inner = Inner::new(&ice, &plan, false, plan.options.timeout_ms, t0)?;
    *inner.target.borrow_mut() = Some(target);
    *inner.session.borrow_mut() = (
        session_js,
        session.as_ref().map(|d| d.answer.session_id.clone()),
    );
    inner.listen();
    let media = inner.attach_media(plan.audio.clone(), plan.video.clone(), &deadline);
    let signalling = inner.negotiate(&deadline, true);
    complete(&inner, media, signalling, &deadline).await
}

/// Runs media and signalling side by side, waits for the machine to call the connect done, and
/// resolves with the `Connection` — or closes everything and rejects.
async fn complete(
    inner: &Rc<Inner>,
    media: impl std::future::Future<Output = Result<(), Error>>,
    signalling: impl std::future::Future<Output = Result<(), Error>>,
    deadline: &Deadline,
) -> Result<Connection, JsValue> {
    let result = async {
        let (media, signalling) = join(media, signalling).await;
        signalling?;
        media?;
        let phase = inner.machine.borrow().phase();
        deadline.race(phase, inner.connected.wait()).await
    }
    .await;
    let inner = inner.clone();
    match result {
        Ok(()) => {
            // A macrotask later: after the caller's `await` and the `on(...)` calls that follow it.
            let weak = Rc::downgrade(&inner);
            *inner.replay.borrow_mut() = Some(gloo_timers::callback::Timeout::new(0, move || {
                let Some(inner) = weak.upgrade() else { return };
                let early = inner.early_events.borrow_mut().take().unwrap_or_default();
                for (event, arg) in early {
                    inner.deliver(&event, &arg);
                }
            }));
            Ok(Connection { inner })
        }
        Err(e) => Err(inner.abort_connect(e, deadline).into()),
    }
}

/// Starts a session and connects to it in one call, preparing the peer connection, media and
/// offer while the start request is in flight.
#[wasm_bindgen(js_name = startAndConnect)]
pub async fn start_and_connect(
    #[wasm_bindgen(unchecked_param_type = "StartAndConnectOptions")] options: JsValue,
) -> Result<Connection, JsValue> {
    let t0 = now_ms();
    let (request, signal) = read_start_options(&options, Some(Transport::Webrtc))?;
    let plan = Plan::read(&options)?;
    // The start's offer template is the one to use; connect's `offerUrl` is the same option.
    let deadline = Deadline::new(request.timeout_ms, signal.as_ref())?;
    // The start request goes out first, before the peer connection is built: one poll issues the
    // fetch (a later poll with the real waker picks up the answer).
    let mut started = pin!(async {
        let data = start(&request, &deadline).await?;
        let at = now_ms();
        check_transport(&data)?;
        Ok::<_, Error>((data, at))
    });
    let _ = started
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    let inner = Inner::new(
        plan.options.ice_servers.as_deref().unwrap_or(&[]),
        &plan,
        true,
        request.timeout_ms,
        t0,
    )?;
    inner.listen();
    let prepare = deadline.race(
        Phase::Offer,
        promise(inner.pc.create_offer(), "createOffer"),
    );
    let media = inner.attach_media(plan.audio.clone(), plan.video.clone(), &deadline);
    let signalling = async {
        let (data, offer) = join(started.as_mut(), prepare).await;
        let ((data, started_at), offer) = (data?, offer?);
        inner.mark_at("sessionStarted", started_at);
        let id = data.answer.session_id.clone();
        let target = resolve_target(
            &ConnectOptions {
                offer_url: None,
                credentials: None,
                ..plan.options.clone()
            },
            Some((
                &id,
                data.offer_url.as_deref(),
                &data.start_origin,
                &data.credentials,
            )),
        )?;
        if plan.options.ice_servers.is_none() && !data.answer.ice_servers.is_empty() {
            // Before setLocalDescription: gathering has not started yet.
            let config = rtc_config(&data.answer.ice_servers);
            let set: Function = Reflect::get(&inner.pc, &"setConfiguration".into())
                .map(JsCast::unchecked_into)
                .map_err(|e| webrtc_error(Phase::Offer, "setConfiguration", &e))?;
            set.call1(&inner.pc, &config)
                .map_err(|e| webrtc_error(Phase::Offer, "setConfiguration", &e))?;
        }
        *inner.target.borrow_mut() = Some(target);
        *inner.session.borrow_mut() = (JsValue::from(Session::new(data)), Some(id));
        inner.set_local_and_post(offer, &deadline, true).await
    };
    complete(&inner, media, signalling, &deadline).await
}

fn closed_error(what: &str) -> JsValue {
    Error::new(
        ErrorCode::Closed,
        format!("{what}: the connection is closed"),
    )
    .into()
}

#[wasm_bindgen]
impl Connection {
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        self.inner.machine.borrow().state().as_str().to_owned()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Session | undefined")]
    pub fn session(&self) -> JsValue {
        self.inner.session.borrow().0.clone()
    }

    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.inner.session.borrow().1.clone()
    }

    #[wasm_bindgen(getter, js_name = pcId)]
    pub fn pc_id(&self) -> Option<String> {
        self.inner.machine.borrow().pc_id().map(str::to_owned)
    }

    /// Milliseconds from the connect call to each step it reached: `sessionStarted`
    /// (startAndConnect), `offerSent`, `answerReceived`, `iceConnected`, `channelOpen`,
    /// `remoteTrack`, `botReady`, `connected`.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionTimings")]
    pub fn timings(&self) -> JsValue {
        js_sys::Object::assign(&js_sys::Object::new(), &self.inner.timings).into()
    }

    #[wasm_bindgen(getter, js_name = peerConnection)]
    pub fn peer_connection(&self) -> RtcPeerConnection {
        self.inner.pc.clone()
    }

    #[wasm_bindgen(getter, js_name = localStream)]
    pub fn local_stream(&self) -> MediaStream {
        // `Clone::clone`, not JS `MediaStream.clone()` (which would copy the tracks).
        Clone::clone(&self.inner.local_stream)
    }

    #[wasm_bindgen(getter, js_name = remoteStream)]
    pub fn remote_stream(&self) -> MediaStream {
        Clone::clone(&self.inner.remote_stream)
    }

    /// Subscribes to an event; returns a function that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof ConnectionEvents")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(arg: any) => void")] handler: Function,
    ) -> Function {
        let key = JsValue::from(event);
        let set = match self.inner.handlers.get(&key).dyn_into::<js_sys::Set>() {
            Ok(s) => s,
            Err(_) => {
                let s = js_sys::Set::new(&JsValue::UNDEFINED);
                self.inner.handlers.set(&key, &s);
                s
            }
        };
        set.add(&handler);
        // `set.delete.bind(set, handler)`: an unsubscribe with no Rust closure behind it.
        let delete: Function = Reflect::get(&set, &"delete".into())
            .map(JsCast::unchecked_into)
            .unwrap_or_else(|_| Function::new_no_args(""));
        JsValue::from(delete.bind1(&set, &handler)).unchecked_into()
    }

    pub fn off(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof ConnectionEvents")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(arg: any) => void")] handler: Function,
    ) {
        if let Ok(set) = self
            .inner
            .handlers
            .get(&event.into())
            .dyn_into::<js_sys::Set>()
        {
            set.delete(&handler);
        }
    }

    /// Sends a string, or any JSON-serialisable value as JSON, on the `chat` channel.
    #[wasm_bindgen(js_name = sendMessage)]
    pub fn send_message(&self, data: JsValue) -> Result<(), JsValue> {
        let text = match data.as_string() {
            Some(s) => s,
            None => value_to_json(&data)
                .map_err(|_| {
                    JsValue::from(Error::invalid(
                        "sendMessage: the value is not JSON-serialisable",
                    ))
                })?
                .to_string(),
        };
        self.send_text(&text, "sendMessage")
    }

    /// Sends an RTVI message (`label: "rtvi-ai"`, a fresh id); returns the id.
    #[wasm_bindgen(js_name = sendRtvi)]
    pub fn send_rtvi(&self, kind: String, data: JsValue) -> Result<String, JsValue> {
        let data = if data.is_undefined() {
            None
        } else {
            Some(value_to_json(&data).map_err(|_| {
                JsValue::from(Error::invalid("sendRtvi: `data` is not JSON-serialisable"))
            })?)
        };
        let id = self.inner.machine.borrow_mut().next_id();
        self.send_text(
            &crate::rtvi::envelope(&kind, &id, data).to_string(),
            "sendRtvi",
        )?;
        Ok(id)
    }

    fn send_text(&self, text: &str, what: &str) -> Result<(), JsValue> {
        if !self.inner.machine.borrow().is_channel_open() {
            return Err(closed_error(what));
        }
        self.inner
            .channel
            .send_with_str(text)
            .map_err(|e| JsValue::from(webrtc_error(Phase::Channel, what, &e)))
    }

    #[wasm_bindgen(js_name = setMicEnabled)]
    pub fn set_mic_enabled(&self, enabled: bool) -> Result<(), JsValue> {
        self.set_track(0, enabled, "setMicEnabled")
    }

    #[wasm_bindgen(js_name = setCameraEnabled)]
    pub fn set_camera_enabled(&self, enabled: bool) -> Result<(), JsValue> {
        self.set_track(1, enabled, "setCameraEnabled")
    }

    fn set_track(&self, index: u8, enabled: bool, what: &str) -> Result<(), JsValue> {
        if self.inner.machine.borrow().is_closed() {
            return Err(closed_error(what));
        }
        if let Some(track) = &self.inner.tracks.borrow()[index as usize] {
            track.set_enabled(enabled);
        }
        self.inner.input(Input::SetTrack { index, enabled });
        Ok(())
    }

    /// Round trip, jitter, loss, counters and levels from the peer connection's stats.
    #[wasm_bindgen(js_name = getStats, unchecked_return_type = "ConnectionStats")]
    pub async fn get_stats(&self) -> Result<JsValue, JsValue> {
        let report = JsFuture::from(self.inner.pc.get_stats())
            .await
            .map_err(|e| JsValue::from(webrtc_error(Phase::Channel, "getStats", &e)))?;
        let mut entries = Vec::new();
        let map: &js_sys::Map = report.unchecked_ref();
        map.for_each(&mut |value, _| {
            if let Ok(v) = value_to_json(&value) {
                entries.push(v);
            }
        });
        let stats = crate::stats::summarize(&entries);
        // A typed struct straight to a JS object: serde-wasm-bindgen's serializer is small; only its
        // deserializer (for arbitrary JSON) is costly, which is why `json.rs` uses the browser's JSON.
        Ok(serde_wasm_bindgen::to_value(&stats).unwrap_or(JsValue::UNDEFINED))
    }

    /// Ends the connection; calling it again does nothing.
    pub async fn disconnect(&self) {
        self.inner.input(Input::Disconnect);
    }
}
