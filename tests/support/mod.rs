//! Shared helpers for the browser tests: the local agent's address and its debug endpoints.
#![allow(dead_code)]

use js_sys::{Promise, Reflect};
use serde_json::Value;
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

pub async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: js_sys::Function =
            Reflect::get(&global, &"setTimeout".into()).unwrap().into();
        set_timeout.call2(&global, &resolve, &ms.into()).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
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

/// Records every RTCPeerConnection the page creates, to check that failures leave none open.
pub fn record_peer_connections() {
    run_js(
        "if (!globalThis.__pcs) { globalThis.__pcs = []; const O = globalThis.RTCPeerConnection;
           globalThis.RTCPeerConnection = class extends O { constructor(...x) { super(...x); globalThis.__pcs.push(this); } }; }",
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

/// Polls the inbound audio energy for up to `ms`, returning as soon as it is above zero.
pub async fn energy_within(pc: &JsValue, ms: i32) -> f64 {
    let mut waited = 0;
    loop {
        let e = inbound_audio_energy(pc).await;
        if e > 0.0 || waited >= ms {
            return e;
        }
        sleep(100).await;
        waited += 100;
    }
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
    let mut waited = 0;
    while agent_rtc::web::allocated_calls() != count && waited < 3000 {
        sleep(50).await;
        waited += 50;
    }
    assert_eq!(
        agent_rtc::web::allocated_calls(),
        count,
        "{what}: calls still in memory"
    );
}
