//! `Call`: everything one connection holds in the browser — its machine, peer connection,
//! channel, tracks, listeners, timers, requests in flight and event handlers — and the loop that
//! feeds the machine and carries out what it decides. Every `Call` stays alive (in `LIVE`) until
//! it is closed, whether or not the page keeps a reference to its `Connection`: garbage
//! collection never ends a call. Closing frees everything and always tells the handlers why.

use super::deadline::Deadline;
use super::error::to_js_error;
use super::events::Events;
use super::http::{send_json, Method};
use super::json::{parse_text, stringify, to_js};
use super::media::stop_all;
use super::peer::{apply_answer, browser_error, local_offer, local_sdp, Of, Peer};
use super::recovery::Attempt;
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::{DisconnectReason, Event, Input, Machine, Output};
use crate::options::Credentials;
use crate::session::IceServer;
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::Reflect;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, MediaStreamTrack};

use super::wait::Slot;

/// How long one request after the connect (a trickle PATCH, a renegotiation) may take.
const LATE_REQUEST_MS: f64 = 10_000.0;

thread_local! {
    /// Calls that are not closed yet.
    static LIVE: RefCell<Vec<Rc<Call>>> = const { RefCell::new(Vec::new()) };
    /// `Call`s in memory, closed or not (a closed one still referenced by a task or a handle).
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

pub struct Call {
    pub machine: RefCell<Machine>,
    /// The peer connection carrying the call (replaced when a recovery succeeds), its listeners
    /// and the machine's number for it (0, or the recovery attempt that made it).
    peer: RefCell<Rc<Peer>>,
    peer_listeners: RefCell<Vec<EventListener>>,
    current: Cell<u32>,
    /// A recovery attempt under way (`recovery.rs`): the machine's number for it, its peer.
    pub attempt: RefCell<Option<Attempt>>,
    /// The call's one timer, armed where the machine says (`Output::Timer`).
    timer: RefCell<Option<Timeout>>,
    /// Messages received on the current channel (traffic for the reconnect policy).
    messages: Cell<u64>,
    /// The ICE servers in force (a recovery's peer connection uses them too).
    pub ice: RefCell<Vec<IceServer>>,
    /// The offer URL and the credentials its requests carry.
    pub target: RefCell<Option<(String, Credentials)>>,
    /// The `Session` JS object (or undefined) and its id.
    pub session: RefCell<(JsValue, Option<String>)>,
    /// The microphone and camera tracks being sent.
    pub tracks: RefCell<[Option<MediaStreamTrack>; 2]>,
    /// Tracks this library opened (stopped on close; never the caller's).
    pub own_tracks: RefCell<Vec<MediaStreamTrack>>,
    pub events: Rc<Events>,
    listeners: RefCell<Vec<EventListener>>,
    /// The browser's `devicechange` is listened to (`watch_devices`).
    watching_devices: Cell<bool>,
    /// The listener on the caller's `signal`, for as long as the connect runs.
    signal_listener: RefCell<Option<EventListener>>,
    /// Aborted on close: every request of this call listens to it.
    closer: AbortController,
    pub connected: Slot<Result<(), Error>>,
    /// `sendClientRequest`s waiting: id, the promise's resolve and reject (the machine keeps
    /// their limits).
    pub requests: RefCell<Vec<(String, js_sys::Function, js_sys::Function)>>,
    /// Function name → the page's handler.
    pub functions: js_sys::Map,
    /// Where `remoteStream` plays (`attachAudio`), and whether the SDK made that element.
    pub audio: RefCell<Option<(web_sys::HtmlMediaElement, bool)>>,
    /// When the connect call began (`Date.now()`), and each step's time since then.
    t0: f64,
    /// Per peer connection: a recovery starts a new one.
    pub timings: RefCell<js_sys::Object>,
}

/// What to do with a request's answer.
type Answered = dyn FnOnce(&Rc<Call>, Result<String, Error>);

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Call {
    pub fn new(machine: Machine, peer: Peer, closer: AbortController, t0: f64) -> Rc<Call> {
        let first_timer = machine.poll_timeout();
        let call = Rc::new(Call {
            machine: RefCell::new(machine),
            peer: RefCell::new(Rc::new(peer)),
            peer_listeners: RefCell::new(Vec::new()),
            current: Cell::new(0),
            attempt: RefCell::new(None),
            timer: RefCell::new(None),
            messages: Cell::new(0),
            ice: RefCell::new(Vec::new()),
            target: RefCell::new(None),
            session: RefCell::new((JsValue::UNDEFINED, None)),
            tracks: RefCell::new([None, None]),
            own_tracks: RefCell::new(Vec::new()),
            events: Events::new(),
            listeners: RefCell::new(Vec::new()),
            watching_devices: Cell::new(false),
            signal_listener: RefCell::new(None),
            closer,
            connected: Slot::new(),
            requests: RefCell::new(Vec::new()),
            functions: js_sys::Map::new(),
            audio: RefCell::new(None),
            t0,
            timings: RefCell::new(js_sys::Object::new()),
        });
        LIVE.with(|live| live.borrow_mut().push(call.clone()));
        ALLOCATED.with(|n| n.set(n.get() + 1));
        *call.peer_listeners.borrow_mut() = super::peer::listen(&call, &call.peer(), 0);
        *call.listeners.borrow_mut() = super::recovery::network_listeners(&call);
        call.arm(first_timer);
        call
    }

    /// The call's one timer: at `at` (`Date.now()` clock) the machine gets `Input::Timeout`.
    /// The timer it replaces is dropped after the current task (this may run inside it).
    fn arm(self: &Rc<Self>, at: Option<f64>) {
        let timer = at.map(|at| {
            let weak = Rc::downgrade(self);
            let ms = (at - now_ms()).clamp(0.0, i32::MAX as f64) as u32;
            Timeout::new(ms, move || {
                if let Some(call) = weak.upgrade() {
                    call.input(Input::Timeout);
                }
            })
        });
        defer_drop(self.timer.replace(timer));
    }

    /// Listens for the browser's `devicechange` from the first subscription to the connection's:
    /// adding that listener has the browser start watching the devices, work on the page's main
    /// thread that a connect need not pay for (measured: up to 2 ms of it).
    pub fn watch_devices(self: &Rc<Self>) {
        if self.is_closed() || self.watching_devices.replace(true) {
            return;
        }
        let listener = super::media::device_listener(self);
        self.listeners.borrow_mut().extend(listener);
    }

    /// The peer connection carrying the call now.
    pub fn peer(&self) -> Rc<Peer> {
        self.peer.borrow().clone()
    }

    /// Whose events a listener of the peer connection numbered `n` delivers: the call's, the
    /// recovery attempt's, or nobody's (a connection already replaced or dropped).
    pub fn which(&self, n: u32) -> Option<Of> {
        if n == self.current.get() {
            return Some(Of::Call);
        }
        let attempt = self.attempt.borrow();
        attempt
            .as_ref()
            .filter(|a| a.number == n)
            .map(|a| Of::Attempt(a.number))
    }

    pub fn peer_of(&self, of: Of) -> Rc<Peer> {
        match (of, &*self.attempt.borrow()) {
            (Of::Attempt(_), Some(a)) => a.peer.clone(),
            _ => self.peer(),
        }
    }

    /// Makes `peer` (with its listeners, numbered `n`) the call's peer connection and returns
    /// the old one with its listeners.
    pub fn replace_peer(
        &self,
        peer: Rc<Peer>,
        listeners: Vec<EventListener>,
        n: u32,
    ) -> (Rc<Peer>, Vec<EventListener>) {
        self.current.set(n);
        self.messages.set(0);
        *self.timings.borrow_mut() = js_sys::Object::new();
        let old = self.peer.replace(peer);
        (old, self.peer_listeners.replace(listeners))
    }

    pub fn count_message(&self) {
        self.messages.set(self.messages.get() + 1);
    }

    pub fn messages(&self) -> u64 {
        self.messages.get()
    }

    /// A track of the bot's joins `remoteStream`, and the page hears of it.
    pub fn add_remote_track(&self, track: &MediaStreamTrack) {
        let stream = Clone::clone(&self.peer().remote_stream);
        stream.add_track(track);
        let arg = js_sys::Object::new();
        let _ = Reflect::set(&arg, &"track".into(), track);
        let _ = Reflect::set(&arg, &"stream".into(), &stream);
        self.events.emit("track", &arg);
    }

    /// The caller's `signal` ends the connect through the machine, which names the phase it
    /// stopped in (the machine's clock does the same for `timeoutMs`).
    pub fn listen_signal(self: &Rc<Self>, signal: Option<&web_sys::AbortSignal>) {
        let weak = Rc::downgrade(self);
        *self.signal_listener.borrow_mut() = signal.map(|s| {
            EventListener::once(s, "abort", move |_| {
                if let Some(call) = weak.upgrade() {
                    call.input(Input::Aborted);
                }
            })
        });
    }

    /// A budget for one request, cut short when the call closes. While connecting, that is all
    /// it needs: the connect's budget ends the call (naming the phase). Once connected, a short
    /// one of its own.
    pub fn request_deadline(&self) -> Result<Deadline, Error> {
        if self.connected.get().is_none() {
            return Ok(Deadline::within(self.closer.signal()));
        }
        Deadline::new(LATE_REQUEST_MS, Some(&self.closer.signal()))
    }

    /// Records the first time a step happened, in ms since the connect call.
    pub fn mark(&self, step: &str) {
        self.mark_at(step, now_ms());
    }

    pub fn mark_at(&self, step: &str, at: f64) {
        let key = JsValue::from_str(step);
        let timings = self.timings.borrow();
        if !Reflect::has(&timings, &key).unwrap_or(true) {
            let _ = Reflect::set(&timings, &key, &(at - self.t0).into());
        }
    }

    pub fn is_closed(&self) -> bool {
        self.machine.borrow().is_closed()
    }

    /// Feeds the machine what `work` ends with, if the call is still in memory then. Tasks hold
    /// their call weakly: a promise that a closed peer connection had pending never settles, and
    /// neither that nor a page's slow promise may keep a closed call alive. `work` must not
    /// hold the call.
    pub fn feed(self: &Rc<Self>, work: Pin<Box<dyn Future<Output = Option<Input>>>>) {
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            if let (Some(input), Some(call)) = (work.await, weak.upgrade()) {
                call.input(input)
            }
        });
    }

    /// Feeds the machine and carries out what it decided. The machine is never borrowed while
    /// an output runs, so handlers may call back into the connection.
    pub fn input(self: &Rc<Self>, input: Input) {
        if let Input::RemoteApplied = input {
            self.mark("answerReceived");
        }
        let outputs = self.machine.borrow_mut().handle_at(input, now_ms());
        for output in outputs {
            self.run(output);
        }
    }

    /// Carries out one output. Every kind is named here, nothing falls through: a new
    /// `Output` does not compile until it has a place. Side effects stop with the call; the
    /// events that report its end still go out.
    fn run(self: &Rc<Self>, output: Output) {
        use super::recovery as r;
        let live = !self.is_closed();
        match output {
            Output::State(state) => self.events.emit("statechange", &state.as_str().into()),
            Output::Emit(Event::Message(v)) => self.events.emit("message", &to_js(&v)),
            Output::Emit(Event::Rtvi(v)) => self.events.emit("rtvi", &to_js(&v)),
            Output::Emit(Event::BotReady(v)) => {
                self.mark("botReady");
                self.events.emit("botready", &to_js(&v))
            }
            Output::Emit(Event::Error(e)) => self.events.emit("error", &to_js_error(&e)),
            Output::Emit(Event::Named(name, v)) => self.events.emit(name, &to_js(&v)),
            Output::Settle { id, result } => self.settle(&id, result),
            Output::Connected => {
                self.mark("connected");
                defer_drop(self.signal_listener.borrow_mut().take());
                self.connected.set(Ok(()))
            }
            Output::ConnectFailed(e) => self.connected.set(Err(e)),
            Output::Close(reason) => self.close(reason),
            _ if !live => {}
            Output::Timer(at) => self.arm(at),
            Output::Send(value) => self.send(&stringify(&value)),
            Output::SendText(text) => self.send(&text),
            Output::CallFunction(call) => super::conversation::call_function(self, call),
            Output::Offer => self.make_offer(false),
            Output::PostOffer(mut body) => {
                self.with_gathered(None, &self.peer(), &mut body);
                self.post_offer(body)
            }
            Output::SetRemote(sdp) => self.set_remote(sdp),
            Output::Patch(body) => self.patch(body),
            Output::Sample => r::sample(self),
            Output::Restart { attempt } => r::restart(self, attempt),
            Output::Probe { attempt } => r::probe(self, attempt),
            Output::PostRestart { attempt, body } => r::post(self, attempt, body),
            Output::AttemptSetRemote { attempt, sdp } => r::set_remote(self, attempt, sdp),
            Output::AttemptPatch { attempt, body } => r::patch(self, attempt, body),
            Output::CancelAttempt(attempt) => r::cancel(self, attempt),
            Output::Swap(attempt) => r::swap(self, attempt),
        }
    }

    /// The offer leaves with the candidates gathered so far (`Machine::offer_leaves`).
    pub fn with_gathered(&self, attempt: Option<u32>, peer: &Peer, body: &mut crate::json::Value) {
        let sdp = local_sdp(&peer.pc);
        if !sdp.is_empty() {
            self.machine.borrow_mut().offer_leaves(attempt, body, sdp);
        }
    }

    fn send(self: &Rc<Self>, text: &str) {
        if let Err(e) = self.peer().channel.send_with_str(text) {
            self.input(Input::SendFailed(browser_error("send", &e)));
        }
    }

    /// Creates a local offer and sets it. `regather`: an ICE restart of the unsent offer, so
    /// gathering starts again under the ICE servers now in force (`Input::RegatheredOffer`).
    pub fn make_offer(self: &Rc<Self>, regather: bool) {
        let offer = local_offer(&self.peer().pc, regather);
        self.feed(Box::pin(async move {
            Some(match offer.await {
                Ok(sdp) if regather => Input::RegatheredOffer(sdp),
                Ok(sdp) => Input::LocalOffer(sdp),
                Err(e) => Input::Failure(e),
            })
        }));
    }

    /// Sends `body` to the offer URL within `deadline` and hands the answer's text to `done`.
    /// Where offers go (once the connect resolved it).
    pub fn offer_url(&self) -> Option<String> {
        self.target.borrow().as_ref().map(|(url, _)| url.clone())
    }

    pub fn to_offer_url(
        self: &Rc<Self>,
        method: Method,
        body: &crate::json::Value,
        deadline: Result<Deadline, Error>,
        (phase, what): (Phase, &'static str),
        done: impl FnOnce(&Rc<Call>, Result<String, Error>) + 'static,
    ) {
        // One copy of the request's future for every caller.
        self.request(method, body, deadline, (phase, what), Box::new(done))
    }

    fn request(
        self: &Rc<Self>,
        method: Method,
        body: &crate::json::Value,
        deadline: Result<Deadline, Error>,
        (phase, what): (Phase, &'static str),
        done: Box<Answered>,
    ) {
        let target = self.target.borrow().clone();
        let body = stringify(body);
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let result = match (target, deadline) {
                (None, _) => Err(Error::invalid("no offer URL")),
                (_, Err(e)) => Err(e),
                (Some((url, credentials)), Ok(d)) => {
                    send_json(method, &url, &credentials, body, &d, phase, what).await
                }
            };
            // Weakly held meanwhile, as in `feed`.
            if let Some(call) = weak.upgrade() {
                done(&call, result)
            }
        });
    }

    fn post_offer(self: &Rc<Self>, body: crate::json::Value) {
        self.mark("offerSent");
        let deadline = self.request_deadline();
        self.to_offer_url(
            Method::Post,
            &body,
            deadline,
            (Phase::Offer, "offer"),
            |call, r| {
                call.input(match r {
                    Ok(text) => Input::OfferAnswered(parse_text(&text)),
                    Err(e) => Input::Failure(e),
                })
            },
        );
    }

    fn set_remote(self: &Rc<Self>, sdp: String) {
        let applied = apply_answer(&self.peer().pc, &sdp);
        self.feed(Box::pin(async move {
            Some(match applied.await {
                Ok(_) => Input::RemoteApplied,
                Err(e) => Input::Failure(e),
            })
        }));
    }

    fn patch(self: &Rc<Self>, body: crate::json::Value) {
        let deadline = self.request_deadline();
        self.to_offer_url(
            Method::Patch,
            &body,
            deadline,
            (Phase::Ice, "ICE candidate"),
            |call, r| call.input(Input::PatchDone(r.map(drop))),
        );
    }

    /// Settles one `sendClientRequest` promise.
    fn settle(&self, id: &str, result: Result<crate::json::Value, Error>) {
        let entry = {
            let mut requests = self.requests.borrow_mut();
            let i = requests.iter().position(|r| r.0 == id);
            i.map(|i| requests.swap_remove(i))
        };
        let Some((_, resolve, reject)) = entry else {
            return;
        };
        let _ = match result {
            Ok(v) => resolve.call1(&JsValue::UNDEFINED, &to_js(&v)),
            Err(e) => reject.call1(&JsValue::UNDEFINED, &to_js_error(&e)),
        };
    }

    /// Frees everything, then tells the handlers why.
    fn close(self: &Rc<Self>, reason: DisconnectReason) {
        self.release();
        self.events
            .emit("disconnected", &JsValue::from_str(reason.as_str()));
        self.events.clear();
    }

    fn release(&self) {
        // Listeners and timers may be running right now (a close can start inside one of their
        // callbacks): drop them once the current task is over, never from inside themselves.
        defer_drop((
            std::mem::take(&mut *self.listeners.borrow_mut()),
            std::mem::take(&mut *self.peer_listeners.borrow_mut()),
            self.signal_listener.borrow_mut().take(),
            self.timer.borrow_mut().take(),
        ));
        self.closer.abort();
        super::recovery::drop_attempt(self);
        if let Some((el, owned)) = self.audio.borrow_mut().take() {
            if owned {
                el.remove();
            }
        }
        self.functions.clear();
        let peer = self.peer();
        peer.channel.close();
        peer.pc.close();
        stop_all(&self.own_tracks.borrow());
        let me: *const Call = self;
        // Out of the list first, dropped after the borrow ends (the drop may be the last one).
        let removed = LIVE.with(|live| {
            let mut live = live.borrow_mut();
            live.iter()
                .position(|c| std::ptr::eq(Rc::as_ptr(c), me))
                .map(|i| live.swap_remove(i))
        });
        defer_drop(removed);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        ALLOCATED.with(|n| n.set(n.get() - 1));
        // Only reached for a call that never closed when its page goes away.
        if !self.machine.borrow().is_closed() {
            self.release();
        }
    }
}

/// Drops `value` in a later task.
pub fn defer_drop<T: 'static>(value: T) {
    spawn_local(async move { drop(value) });
}

/// How many calls are not closed yet (for tests and leak checks).
pub fn allocated_calls() -> usize {
    ALLOCATED.with(Cell::get)
}

pub fn live_calls() -> usize {
    LIVE.with(|live| live.borrow().len())
}

pub fn closed_error(what: &str) -> JsValue {
    Error::new(
        ErrorCode::Closed,
        format!("{what}: the connection is closed"),
    )
    .into()
}
