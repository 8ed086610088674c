//! Shared helpers for the browser tests: the local agent's address and its debug endpoints.
#![allow(dead_code)]

use js_sys::{Promise, Reflect};
use serde_json::Value;
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Set by `scripts/with-agent.sh`, which starts a fresh local agent for the run.
pub fn agent() -> &'static str {
    option_env!("AGENT_RTC_TEST_AGENT").unwrap_or("http://127.0.0.1:7860")
}

pub fn api_key() -> &'static str {
    option_env!("AGENT_RTC_TEST_KEY").unwrap_or("")
}

pub fn js(value: Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).expect("JSON")
}

pub fn json(value: &JsValue) -> Value {
    serde_wasm_bindgen::from_value(value.clone()).unwrap_or(Value::Null)
}

pub fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    Reflect::set(target, &key.into(), value).expect("set");
}

/// A tag that marks this test's requests in the agent's request log.
pub fn fresh_tag(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e9) as u64)
}

pub async fn get_json(url: &str) -> Value {
    let resp = gloo_net::http::Request::get(url).send().await.expect("GET");
    assert!(resp.ok(), "GET {url}: {}", resp.status());
    serde_json::from_str(&resp.text().await.expect("text")).expect("json")
}

/// What the agent received from requests carrying `x-test-tag: tag`.
pub async fn requests(tag: &str) -> Vec<Value> {
    match get_json(&format!("{}/debug/requests?tag={tag}", agent())).await {
        Value::Array(items) => items,
        other => panic!("unexpected /debug/requests answer {other}"),
    }
}

/// A browser timer: resolves after `ms` (on the page's task queue, after pending microtasks).
/// Private on purpose: a test waits for an outcome with [`until`], proves an absence with
/// [`quiet`], and never sleeps and then asserts.
async fn timer(ms: u32) {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: js_sys::Function =
            Reflect::get(&global, &"setTimeout".into()).unwrap().into();
        set_timeout.call2(&global, &resolve, &ms.into()).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// How often [`until`] looks again.
const POLL_MS: u32 = 10;
/// How often [`until_async`] asks again (its checks are requests or `getStats()`).
const POLL_ASYNC_MS: u32 = 25;

/// The deadline of a wait for something that comes soon (a local connect, an event, a request
/// reaching the agent): only there to turn a hang into a failure naming what was awaited, so
/// generous for a loaded 2-core machine.
pub const HANG_MS: u32 = 15_000;

/// What a polled condition gives: `true` / `Some(value)` once it holds.
pub trait Outcome {
    type Value;
    fn holds(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// Waits for `what`: polls `condition` every few ms until it holds (`true`, or `Some(v)`:
/// returns `v`), and fails the test if it still does not after `deadline_ms`. The deadline only
/// catches hangs: a test that waits for something polls for it with this; a fixed wait
/// ([`quiet`]) only ever proves that something does NOT happen.
pub async fn until<C: Outcome>(
    what: &str,
    deadline_ms: u32,
    mut condition: impl FnMut() -> C,
) -> C::Value {
    let polled = poll(deadline_ms, POLL_MS, || std::future::ready(condition()));
    polled
        .await
        .unwrap_or_else(|| panic!("still waiting for {what} after {deadline_ms} ms"))
}

/// [`until`] for a condition that has to await (a request to the agent, `getStats()`).
pub async fn until_async<C: Outcome, F: Future<Output = C>>(
    what: &str,
    deadline_ms: u32,
    condition: impl FnMut() -> F,
) -> C::Value {
    within(deadline_ms, condition)
        .await
        .unwrap_or_else(|| panic!("still waiting for {what} after {deadline_ms} ms"))
}

/// [`until_async`] that hands a timeout back (`None`) instead of failing, for a test that has
/// more to say about it than what it waited for.
pub async fn within<C: Outcome, F: Future<Output = C>>(
    deadline_ms: u32,
    condition: impl FnMut() -> F,
) -> Option<C::Value> {
    poll(deadline_ms, POLL_ASYNC_MS, condition).await
}

/// The one polling loop: `condition` every `every_ms` until it holds or `deadline_ms` passed
/// (on the clock: a loaded machine's late timers do not stretch it).
async fn poll<C: Outcome, F: Future<Output = C>>(
    deadline_ms: u32,
    every_ms: u32,
    mut condition: impl FnMut() -> F,
) -> Option<C::Value> {
    let end = js_sys::Date::now() + f64::from(deadline_ms);
    loop {
        if let Some(v) = condition().await.holds() {
            return Some(v);
        }
        if js_sys::Date::now() >= end {
            return None;
        }
        timer(every_ms).await;
    }
}

/// For a while, nothing happens: lets `ms` pass so that the assertions after it prove that
/// something does NOT happen in that time (no second offer, no late event). The only fixed wait
/// a test may make before asserting; never a wait for something to happen (that is [`until`]).
pub async fn quiet(ms: u32) {
    timer(ms).await;
}

/// Lets `ms` pass as a step of the scenario itself: an input that comes later than another (the
/// network back 40 ms after it went). Nothing is awaited and nothing asserted because of it.
pub async fn after_a_delay(ms: u32) {
    timer(ms).await;
}

/// The rejection of an SDK call, checked to be an AgentRtcError with `code`.
pub fn expect_error(result: Result<impl Sized, JsValue>, code: &str) -> JsValue {
    let err = match result {
        Ok(_) => panic!("expected an AgentRtcError with code {code}, got success"),
        Err(e) => e,
    };
    assert!(
        agent_rtc::web::is_agent_rtc_error(&err),
        "not an AgentRtcError: {err:?}"
    );
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(
        get(&err, "name").as_string().as_deref(),
        Some("AgentRtcError")
    );
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some(code),
        "message: {:?}",
        get(&err, "message").as_string()
    );
    err
}

/// Runs a snippet of JS (test code only) with `arg` bound to `a`.
pub fn run_js(body: &str, arg: &JsValue) -> JsValue {
    js_sys::Function::new_with_args("a", body)
        .call1(&JsValue::UNDEFINED, arg)
        .expect("js")
}

pub async fn await_js(value: JsValue) -> JsValue {
    JsFuture::from(Promise::resolve(&value))
        .await
        .expect("promise")
}

/// Records every RTCPeerConnection the page creates from now on, to check that failures leave
/// none open. Those of the tests before are forgotten: a test that failed (and so never closed
/// its call) must not fail every test after it in the same page.
pub fn record_peer_connections() {
    run_js(
        "if (!globalThis.__pcs) { globalThis.__pcs = []; const O = globalThis.RTCPeerConnection;
           globalThis.RTCPeerConnection = class extends O { constructor(...x) { super(...x); globalThis.__pcs.push(this); } }; }
         globalThis.__pcs.length = 0;",
        &JsValue::UNDEFINED,
    );
}

/// How many recorded peer connections are not closed.
pub fn open_peer_connections() -> u32 {
    run_js("return (globalThis.__pcs || []).filter(p => p.connectionState !== 'closed' || p.signalingState !== 'closed').length", &JsValue::UNDEFINED)
        .as_f64()
        .unwrap_or(-1.0) as u32
}

/// Plays a stream through an <audio> element (energy is only counted for played tracks).
pub fn play(stream: &JsValue) -> JsValue {
    run_js("const el = document.createElement('audio'); el.autoplay = true; el.srcObject = a; document.body.appendChild(el); el.play().catch(() => {}); return el;", stream)
}

/// `totalAudioEnergy` of the inbound audio, as the browser measures it.
pub async fn inbound_audio_energy(pc: &JsValue) -> f64 {
    let report = await_js(run_js("return a.getStats()", pc)).await;
    run_js("let e = 0; a.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') e += s.totalAudioEnergy || 0; }); return e;", &report)
        .as_f64()
        .unwrap_or(0.0)
}

/// Waits (bounded, against hangs) until the inbound audio on `pc` has energy: the bot is heard.
pub async fn until_heard(pc: &JsValue, what: &str) -> f64 {
    until_async(what, HANG_MS, || async {
        let e = inbound_audio_energy(pc).await;
        (e > 0.0).then_some(e)
    })
    .await
}

/// Runs both futures to completion, side by side.
pub async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Options for the local agent's runner routes, with `extra` merged in.
pub fn runner(extra: Value) -> JsValue {
    let mut options =
        serde_json::json!({"platform": "pipecat-runner", "baseUrl": agent(), "timeoutMs": 8000});
    if let (Value::Object(o), Value::Object(e)) = (&mut options, extra) {
        o.extend(e);
    }
    js(options)
}

/// Collects the arguments of one event.
pub fn collect(
    conn: &agent_rtc::web::Connection,
    event: &str,
) -> std::rc::Rc<std::cell::RefCell<Vec<JsValue>>> {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = seen.clone();
    let f = Closure::<dyn FnMut(JsValue)>::new(move |v| sink.borrow_mut().push(v));
    conn.on(event.into(), f.as_ref().clone()).expect("on");
    f.forget(); // test-only: lives for the page
    seen
}

/// Asserts that the calls in memory (`allocated_calls()`) are back to `count`: a closed call is
/// dropped a task or two after it closes. The wait is bounded only against a hang.
pub async fn assert_calls_freed(count: usize, what: &str) {
    let freed = || agent_rtc::web::allocated_calls() == count;
    until(
        &format!("{what}: the calls in memory back to {count}"),
        HANG_MS,
        freed,
    )
    .await;
}
