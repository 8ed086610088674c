//! The defects of the hardening review, each reproduced in headless Chromium against the local
//! agent: bad JS input, a pre-aborted signal, unchecked ICE URLs, a connect that waited for
//! every step before reporting the first failure, a denied microphone that still reached the
//! bot, garbage collection ending live calls, a lost client-ready, and early events lost by a
//! caller who awaited something before subscribing.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{connect_web_rtc, live_calls, start_and_connect, start_session};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn strings(seen: &Rc<RefCell<Vec<JsValue>>>) -> Vec<String> {
    seen.borrow().iter().filter_map(|v| v.as_string()).collect()
}

/// Replaces getUserMedia for the rest of the test; `restore_gum()` puts it back.
fn replace_gum(body: &str) {
    run_js(
        &format!("const d = navigator.mediaDevices; if (!globalThis.__gumSaved) globalThis.__gumSaved = d.getUserMedia; d.getUserMedia = {body};"),
        &JsValue::UNDEFINED,
    );
}

fn restore_gum() {
    run_js(
        "if (globalThis.__gumSaved) { navigator.mediaDevices.getUserMedia = globalThis.__gumSaved; globalThis.__gumSaved = undefined; }",
        &JsValue::UNDEFINED,
    );
}

fn created_peer_connections() -> u32 {
    run_js(
        "return (globalThis.__pcs || []).length",
        &JsValue::UNDEFINED,
    )
    .as_f64()
    .unwrap_or(-1.0) as u32
}

#[wasm_bindgen_test]
async fn bad_js_input_is_an_agent_rtc_error_and_nothing_is_sent() {
    let tag = fresh_tag("bad-input");
    // fetch refuses header values above U+00FF; the SDK must refuse them first.
    for extra in [
        json!({"apiKey": "pk_–dash"}),
        json!({"headers": {"x-test-tag": tag, "x-other": "a – b"}}),
        json!({"apiKey": "😀"}),
    ] {
        let mut o = json!({"platform": "pipecat-runner", "baseUrl": agent(), "headers": {"x-test-tag": tag}});
        if let (Value::Object(o), Value::Object(e)) = (&mut o, extra.clone()) {
            o.extend(e);
        }
        let err = expect_error(start_session(js(o.clone())).await, "invalid_options");
        assert!(
            get(&err, "message")
                .as_string()
                .unwrap_or_default()
                .contains("Latin-1"),
            "{extra}"
        );
        expect_error(start_and_connect(js(o)).await, "invalid_options");
    }
    // A getter that throws, a proxy whose traps throw, a revoked proxy.
    let throwing_getter = run_js(
        "return Object.defineProperty({platform: 'pipecat-runner', baseUrl: a}, 'agent', {get() { throw new Error('boom'); }, enumerable: true})",
        &agent().into(),
    );
    let proxy = run_js(
        "const t = () => { throw new Error('trap'); }; return new Proxy({baseUrl: a}, {get: t, ownKeys: t, has: t, getOwnPropertyDescriptor: t})",
        &agent().into(),
    );
    let revoked = run_js(
        "const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy;",
        &JsValue::UNDEFINED,
    );
    for options in [&throwing_getter, &proxy, &revoked] {
        expect_error(start_session(options.clone()).await, "invalid_options");
        expect_error(connect_web_rtc(options.clone()).await, "invalid_options");
        expect_error(start_and_connect(options.clone()).await, "invalid_options");
    }
    // A body that cannot become JSON: a cycle, a BigInt, a toJSON that returns nothing.
    for body in [
        "const o = {}; o.o = o; return o;",
        "return {n: 10n};",
        "return {toJSON() {}};",
    ] {
        let options = runner(json!({"headers": {"x-test-tag": tag}}));
        set(&options, "body", &run_js(body, &JsValue::UNDEFINED));
        let err = expect_error(start_session(options).await, "invalid_options");
        assert!(get(&err, "message")
            .as_string()
            .unwrap_or_default()
            .contains("`body`"));
    }
    assert_eq!(
        requests(&tag).await,
        Vec::<Value>::new(),
        "nothing was sent"
    );

    // On a live connection: values that are not JSON, arguments of the wrong type.
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let no_json = run_js("return {toJSON() {}}", &JsValue::UNDEFINED);
    expect_error(conn.send_message(no_json.clone()), "invalid_options");
    expect_error(conn.send_rtvi("x".into(), Some(no_json)), "invalid_options");
    expect_error(
        conn.send_rtvi(JsValue::from_f64(5.0), None),
        "invalid_options",
    );
    expect_error(conn.set_mic_enabled("yes".into()), "invalid_options");
    expect_error(
        conn.on("message".into(), JsValue::from_f64(1.0)),
        "invalid_options",
    );
    expect_error(conn.on(JsValue::NULL, JsValue::NULL), "invalid_options");
    assert_eq!(
        conn.state(),
        "connected",
        "a bad argument does not end the call"
    );
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn start_and_connect_with_an_aborted_signal_sends_and_builds_nothing() {
    record_peer_connections();
    let before = created_peer_connections();
    let tag = fresh_tag("pre-aborted");
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    for connect in [true, false] {
        let options = runner(
            json!({"headers": {"x-test-tag": tag}, "offerUrl": format!("{}/api/offer", agent())}),
        );
        set(&options, "signal", &controller.signal());
        let err = if connect {
            expect_error(start_and_connect(options).await, "aborted")
        } else {
            expect_error(connect_web_rtc(options).await, "aborted")
        };
        assert!(json(&get(&err, "details"))["phase"].is_string());
    }
    assert_eq!(
        created_peer_connections(),
        before,
        "no peer connection built"
    );
    assert_eq!(
        requests(&tag).await,
        Vec::<Value>::new(),
        "nothing was sent"
    );
}

#[wasm_bindgen_test]
async fn ice_server_urls_are_checked_before_anything_is_sent() {
    let tag = fresh_tag("bad-ice");
    for servers in [
        json!([{"urls": "notaurl"}]),
        json!([{"urls": ["stun:127.0.0.1:9", "http://127.0.0.1"]}]),
        json!([{"urls": "turn:127.0.0.1:3478"}]),
    ] {
        let options = runner(json!({"iceServers": servers, "headers": {"x-test-tag": tag}}));
        let err = expect_error(start_and_connect(options).await, "invalid_options");
        assert!(
            get(&err, "message")
                .as_string()
                .unwrap_or_default()
                .contains("iceServers"),
            "{servers}"
        );
    }
    assert_eq!(
        requests(&tag).await,
        Vec::<Value>::new(),
        "no /start went out"
    );
}

#[wasm_bindgen_test]
async fn the_connect_stops_at_its_first_failure() {
    record_peer_connections();
    // A start that fails while getUserMedia has not answered: the 500 is reported now, not
    // after the media (which never answers here) or the budget.
    replace_gum("() => new Promise(() => {})");
    let err = expect_error(
        start_and_connect(runner(
            json!({"baseUrl": format!("{}/?fault=start-500", agent()), "timeoutMs": 20000}),
        ))
        .await,
        "http",
    );
    assert_eq!(get(&err, "status").as_f64(), Some(500.0));
    assert_eq!(json(&get(&err, "details"))["phase"], "start");
    assert_eq!(open_peer_connections(), 0);

    // A microphone denied after the start answered: the offer never reaches the server.
    replace_gum(
        "() => new Promise((_, reject) => setTimeout(() => reject(new DOMException('denied', 'NotAllowedError')), 300))",
    );
    let tag = fresh_tag("denied");
    let err = expect_error(
        start_and_connect(runner(json!({"headers": {"x-test-tag": tag}}))).await,
        "media",
    );
    restore_gum();
    let details = json(&get(&err, "details"));
    assert_eq!(details["name"], "NotAllowedError");
    assert_eq!(details["phase"], "media");
    // For a while nothing more reaches the agent: no offer, no candidate.
    quiet(500).await;
    let seen: Vec<String> = requests(&tag)
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec!["POST /start"],
        "no offer, no candidates after a denied microphone"
    );
    assert_eq!(open_peer_connections(), 0);

    // An offer that fails while the start is slow to answer... cannot happen (the offer waits for
    // the start); an offer 500 is reported as soon as it comes back.
    let err = expect_error(
        start_and_connect(runner(
            json!({"baseUrl": format!("{}/?fault=offer-503", agent())}),
        ))
        .await,
        "http",
    );
    assert_eq!(json(&get(&err, "details"))["phase"], "offer");
    assert_eq!(get(&err, "retryable").as_bool(), Some(true));
}

#[wasm_bindgen_test]
async fn a_connection_nobody_references_stays_up_until_it_ends() {
    let before = live_calls();
    let conn = start_and_connect(runner(
        json!({"baseUrl": format!("{}/?fault=peer-left-after-4", agent())}),
    ))
    .await
    .expect("connect");
    let id = conn.session_id().expect("session id");
    let states = collect(&conn, "statechange");
    let reasons = collect(&conn, "disconnected");
    let remote = conn.remote_stream();
    play(&remote.clone().into());
    // What wasm-bindgen's finalizer does when the page drops its last reference.
    drop(conn);
    // For a while (the finalizer's chance to run), the call is not ended: still held, still up.
    quiet(1500).await;
    assert_eq!(live_calls(), before + 1, "the call is still held");
    let peer = get_json(&format!("{}/debug/sessions/{id}", agent())).await["peers"][0].clone();
    assert_eq!(peer["state"], "connected", "{peer}");
    let track = remote.get_audio_tracks().get(0);
    assert_eq!(
        get(&track, "readyState").as_string().as_deref(),
        Some("live")
    );
    // Its own end still reaches the handlers, and then it is let go.
    until("the peer-left the agent sends 4 s in", HANG_MS, || {
        !reasons.borrow().is_empty()
    })
    .await;
    assert_eq!(strings(&reasons), vec!["peer-left"]);
    assert_eq!(strings(&states), vec!["connected", "disconnected"]);
    assert_eq!(live_calls(), before);
}

#[wasm_bindgen_test]
async fn a_client_ready_that_cannot_be_sent_fails_the_connect_at_once() {
    record_peer_connections();
    run_js(
        "const P = RTCDataChannel.prototype; globalThis.__send = P.send;
         P.send = function (d) { if (String(d).includes('client-ready')) throw new DOMException('lost', 'OperationError'); return globalThis.__send.call(this, d); };",
        &JsValue::UNDEFINED,
    );
    let result = start_and_connect(runner(json!({"timeoutMs": 20000}))).await;
    run_js(
        "RTCDataChannel.prototype.send = globalThis.__send;",
        &JsValue::UNDEFINED,
    );
    let err = expect_error(result, "webrtc");
    let details = json(&get(&err, "details"));
    assert_eq!(details["phase"], "bot-ready", "{details}");
    assert_eq!(details["name"], "OperationError");
    assert_eq!(open_peer_connections(), 0);
}

#[wasm_bindgen_test]
async fn events_from_before_the_connect_resolved_reach_a_late_subscriber() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    // The caller awaits something else before subscribing: a request to the agent.
    get_json(&format!("{}/health", agent())).await;
    let botready = collect(&conn, "botready");
    let states = collect(&conn, "statechange");
    let tracks = collect(&conn, "track");
    assert!(
        botready.borrow().is_empty(),
        "delivered in a microtask, not inside on()"
    );
    until("bot-ready replayed", HANG_MS, || {
        !botready.borrow().is_empty()
    })
    .await;
    assert_eq!(botready.borrow().len(), 1, "bot-ready replayed once");
    assert_eq!(json(&botready.borrow()[0])["version"], "2.2.0");
    assert_eq!(strings(&states), vec!["connected"]);
    assert!(!tracks.borrow().is_empty());
    // Replayed once: a second handler of the same event gets nothing old.
    let again = collect(&conn, "botready");
    quiet(200).await;
    assert!(again.borrow().is_empty());
    let _ = conn.disconnect();
    assert_eq!(strings(&states), vec!["connected", "disconnected"]);
}
