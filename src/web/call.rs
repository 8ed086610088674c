//! `Call`: one connection in the browser, in three parts — its machine (every decision), what it
//! holds (`Held`: the transport, its one timer, listeners, the tracks it opened; released
//! together when the call closes) and what the page sees of it (`Page`: events, the session,
//! promises of requests, function handlers, timings). The loop that feeds the machine and
//! carries out what it decides is here: what every call does, and through its `Carrier` what
//! only its transport does. Every `Call` stays alive (in `LIVE`) until it is closed, whether or
//! not the page keeps a reference to its `Connection`: garbage collection never ends a call.
//! Closing frees everything and always tells the handlers why.

use super::carrier::Carrier;
use super::error::to_js_error;
use super::events::Events;
use super::json::{stringify, to_js};
use crate::conversation::FunctionCall;
use crate::error::Error;
use crate::json::Value;
use crate::machine::{DisconnectReason, Event, Input, Machine, Output, Rtc};
use crate::web::wait::spawn;
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Function, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, MediaStream, MediaStreamTrack};

use super::wait::{defer_drop, now_ms, Slot};

thread_local! {
    /// Calls that are not closed yet.
    static LIVE: RefCell<Vec<Rc<Call>>> = const { RefCell::new(Vec::new()) };
    /// `Call`s in memory, closed or not (a closed one still referenced by a task or a handle).
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

/// Carries out what only the call's transport does (`webrtc::run` for WebRTC).
pub type Transport = fn(&Rc<Call>, Rtc);

/// Where a closing call puts the tracks it opened instead of stopping them: `auto` moves the
/// microphone of a WebRTC try that could not connect on to the WebSocket call.
pub type Handover = Rc<RefCell<Vec<MediaStreamTrack>>>;

pub struct Call {
    pub machine: RefCell<Machine>,
    pub held: Held,
    pub page: Page,
}

/// What a call holds: released together when it closes (`Call::release`).
pub struct Held {
    /// The transport carrying the call, and what carries out its outputs.
    pub carrier: Carrier,
    transport: Transport,
    /// The call's one timer, armed where the machine says (`Output::Timer`).
    timer: RefCell<Option<Timeout>>,
    /// Listeners on the window and on devices (the transport's own are in `carrier`).
    pub listeners: RefCell<Vec<EventListener>>,
    /// The browser's `devicechange` is listened to (`media::watch_devices`).
    pub watching_devices: Cell<bool>,
    /// The listener on the caller's `signal`, for as long as the connect runs.
    signal_listener: RefCell<Option<EventListener>>,
    /// Aborted on close: every request of this call listens to it.
    closer: AbortController,
    /// Tracks this library opened (stopped on close; never the caller's).
    pub own_tracks: RefCell<Vec<MediaStreamTrack>>,
    /// Set while a try of `auto` may hand its tracks on (see `Handover`).
    pub hand_over: RefCell<Option<Handover>>,
    /// Where `remoteStream` plays (`attachAudio`), and whether the SDK made that element.
    pub audio: RefCell<Option<(web_sys::HtmlMediaElement, bool)>>,
}

/// What the page sees of a call, through its `Connection`.
pub struct Page {
    pub events: Rc<Events>,
    /// The tracks sent (`localStream`) and the bot's (`remoteStream`): the same streams for the
    /// call's whole life, whichever connection carries it.
    pub local_stream: MediaStream,
    pub remote_stream: MediaStream,
    /// The `Session` JS object (or undefined) and its id.
    pub session: RefCell<(JsValue, Option<String>)>,
    /// The microphone and camera tracks being sent.
    pub tracks: RefCell<[Option<MediaStreamTrack>; 2]>,
    /// The connect call's promise waits on this.
    pub connected: Slot<Result<(), Error>>,
    /// `sendClientRequest`s waiting: id, the promise's resolve and reject (the machine keeps
    /// their limits).
    pub requests: RefCell<Vec<(String, js_sys::Function, js_sys::Function)>>,
    /// Function name → the page's handler.
    pub functions: js_sys::Map,
    /// When the connect call began (`Date.now()`), and each step's time since then.
    t0: f64,
    /// Per peer connection: a recovery starts a new one.
    pub timings: RefCell<js_sys::Object>,
}

impl Call {
    pub fn new(
        machine: Machine,
        carrier: Carrier,
        transport: Transport,
        streams: [MediaStream; 2],
        closer: AbortController,
        t0: f64,
    ) -> Rc<Call> {
        let first_timer = machine.poll_timeout();
        let call = Rc::new(Call {
            machine: RefCell::new(machine),
            held: Held {
                carrier,
                transport,
                timer: RefCell::new(None),
                listeners: RefCell::new(Vec::new()),
                watching_devices: Cell::new(false),
                signal_listener: RefCell::new(None),
                closer,
                own_tracks: RefCell::new(Vec::new()),
                hand_over: RefCell::new(None),
                audio: RefCell::new(None),
            },
            page: Page {
                events: Events::new(),
                local_stream: Clone::clone(&streams[0]),
                remote_stream: Clone::clone(&streams[1]),
                session: RefCell::new((JsValue::UNDEFINED, None)),
                tracks: RefCell::new([None, None]),
                connected: Slot::new(),
                requests: RefCell::new(Vec::new()),
                functions: js_sys::Map::new(),
                t0,
                timings: RefCell::new(js_sys::Object::new()),
            },
        });
        LIVE.with(|live| live.borrow_mut().push(call.clone()));
        ALLOCATED.with(|n| n.set(n.get() + 1));
        call.arm(first_timer);
        call
    }

    /// The call's one timer: at `at` (`Date.now()` clock) the machine gets `Input::Timeout`.
    /// The timer it replaces is dropped after the current task (this may run inside it).
    fn arm(self: &Rc<Self>, at: Option<f64>) {
        let timer = at.map(|at| {
            let weak = Rc::downgrade(self);
            let ms = (at - now_ms()).ceil().clamp(0.0, i32::MAX as f64) as u32;
            Timeout::new(ms, move || {
                if let Some(call) = weak.upgrade() {
                    call.input(Input::Timeout);
                }
            })
        });
        defer_drop(self.held.timer.replace(timer));
    }

    /// The caller's `signal` ends the connect through the machine, which names the phase it
    /// stopped in (the machine's clock does the same for `timeoutMs`). Never from inside the
    /// listener (`abort()` may run while the call is in the middle of a step of its own: a page's
    /// hook on fetch aborting the signal), and also when it fired before the call listened (the
    /// WebRTC start request leaves before the call is built).
    pub fn listen_signal(self: &Rc<Self>, signal: Option<&web_sys::AbortSignal>) {
        let abort = |weak: std::rc::Weak<Call>| {
            spawn(async move {
                if let Some(call) = weak.upgrade() {
                    call.input(Input::Aborted);
                }
            })
        };
        if signal.is_some_and(web_sys::AbortSignal::aborted) {
            abort(Rc::downgrade(self));
        }
        let weak = Rc::downgrade(self);
        *self.held.signal_listener.borrow_mut() =
            signal.map(|s| EventListener::once(s, "abort", move |_| abort(weak)));
    }

    /// Records the first time a step happened, in ms since the connect call.
    pub fn mark(&self, step: &str) {
        self.mark_at(step, now_ms());
    }

    pub fn mark_at(&self, step: &str, at: f64) {
        let key = JsValue::from_str(step);
        let timings = self.page.timings.borrow();
        if !Reflect::has(&timings, &key).unwrap_or(true) {
            let _ = Reflect::set(&timings, &key, &(at - self.page.t0).into());
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
        spawn(async move {
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
        crate::machine::feed(self, input);
    }

    /// Carries out one output. Every kind is named here, nothing falls through: a new
    /// `Output` does not compile until it has a place. Side effects stop with the call; the
    /// events that report its end still go out.
    fn run(self: &Rc<Self>, output: Output) {
        let live = !self.is_closed();
        match output {
            Output::State(state) => self.page.events.emit("statechange", &state.as_str().into()),
            Output::Emit(Event::Message(v)) => self.page.events.emit("message", &to_js(&v)),
            Output::Emit(Event::Rtvi(v)) => self.page.events.emit("rtvi", &to_js(&v)),
            Output::Emit(Event::BotReady(v)) => {
                self.mark("botReady");
                self.page.events.emit("botready", &to_js(&v))
            }
            Output::Emit(Event::Error(e)) => self.page.events.emit("error", &to_js_error(&e)),
            Output::Emit(Event::Named(name, v)) => self.page.events.emit(name, &to_js(&v)),
            Output::Settle { id, result } => self.settle(&id, result),
            Output::Connected => {
                self.mark("connected");
                defer_drop(self.held.signal_listener.borrow_mut().take());
                self.page.connected.set(Ok(()))
            }
            Output::ConnectFailed(e) => self.page.connected.set(Err(e)),
            Output::Close(reason) => self.close(reason),
            // Guards do not count towards exhaustiveness: every kind below is still required.
            _ if !live => {}
            Output::Timer(at) => self.arm(at),
            Output::Send(value) => self.send(&stringify(&value)),
            Output::SendText(text) => self.send(&text),
            Output::CallFunction(fc) => call_function(self, fc),
            Output::DropAudio => self.held.carrier.drop_audio(),
            Output::Rtc(rtc) => (self.held.transport)(self, rtc),
        }
    }

    fn send(self: &Rc<Self>, text: &str) {
        if let Err(e) = self.held.carrier.send(text, "send") {
            self.input(Input::SendFailed(e));
        }
    }

    /// Settles one `sendClientRequest` promise.
    fn settle(&self, id: &str, result: Result<crate::json::Value, Error>) {
        let entry = {
            let mut requests = self.page.requests.borrow_mut();
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
        self.page
            .events
            .emit("disconnected", &JsValue::from_str(reason.as_str()));
        self.page.events.clear();
    }

    fn release(&self) {
        self.held.release();
        self.page.functions.clear();
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

impl Held {
    fn release(&self) {
        // Listeners and timers may be running right now (a close can start inside one of their
        // callbacks): drop them once the current task is over, never from inside themselves.
        defer_drop((
            std::mem::take(&mut *self.listeners.borrow_mut()),
            self.signal_listener.borrow_mut().take(),
            self.timer.borrow_mut().take(),
        ));
        self.closer.abort();
        self.carrier.close();
        if let Some((el, owned)) = self.audio.borrow_mut().take() {
            if owned {
                el.remove();
            }
        }
        let own = std::mem::take(&mut *self.own_tracks.borrow_mut());
        match self.hand_over.borrow_mut().take() {
            Some(to) => to.borrow_mut().extend(own),
            None => own.iter().for_each(MediaStreamTrack::stop),
        }
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

/// Runs the page's handler for a function the bot called, and answers the bot whatever happens.
fn call_function(call: &Rc<Call>, fc: FunctionCall) {
    let handler = call
        .page
        .functions
        .get(&JsValue::from_str(&fc.name))
        .dyn_into::<Function>();
    let Ok(handler) = handler else {
        return call.input(Input::FunctionMissing(fc.name));
    };
    let info = js_sys::Object::new();
    let _ = Reflect::set(
        &info,
        &"toolCallId".into(),
        &fc.tool_call_id.as_str().into(),
    );
    let _ = Reflect::set(&info, &"functionName".into(), &fc.name.as_str().into());
    let returned = handler.call2(&JsValue::UNDEFINED, &to_js(&fc.arguments), &info);
    // A handler's promise that never settles must not keep a closed call alive.
    call.feed(Box::pin(async move {
        let settled = match returned {
            Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
            Err(e) => Err(e),
        };
        let result = match settled {
            Ok(v) if v.is_undefined() => Value::Null,
            Ok(v) => super::json::value_to_json(&v).unwrap_or_else(|_| {
                crate::conversation::error_result("the handler's result is not JSON-serialisable")
            }),
            Err(e) => crate::conversation::error_result(&super::error::describe(&e)),
        };
        Some(Input::FunctionDone { call: fc, result })
    }));
}

/// How many `Call`s are in memory, closed or not (for tests and leak checks).
pub fn allocated_calls() -> usize {
    ALLOCATED.with(Cell::get)
}

/// How many calls are not closed yet.
pub fn live_calls() -> usize {
    LIVE.with(|live| live.borrow().len())
}

/// The browser carries out a call's decisions (the loop is `machine::feed`'s).
impl crate::machine::Shell for Rc<Call> {
    fn now(&self) -> f64 {
        now_ms()
    }
    fn machine(&self) -> std::cell::RefMut<'_, Machine> {
        self.machine.borrow_mut()
    }
    fn carry_out(&self, output: Output) {
        self.run(output)
    }
}
