//! Leaks, proven (issue 10): 100 `startAndConnect` / `disconnect` cycles in one page, each with
//! a microphone the SDK opens itself, leave nothing behind — no peer connection that is not
//! closed, no track the SDK opened still live, no listener on `window` or
//! `navigator.mediaDevices`, no call still held. The browser's own constructor and methods are
//! wrapped to count what the SDK creates; the SDK is not told.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{allocated_calls, live_calls, start_and_connect};
use serde_json::{json, Value};
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CYCLES: usize = 100;

/// Records every track `getUserMedia` hands out, and the listeners added to and removed from
/// `window` and `navigator.mediaDevices` from now on (a listener counts once per type, function
/// and capture flag, as the browser counts it).
fn record_tracks_and_listeners() {
    run_js(
        "if (globalThis.__leaks) return;
         const L = globalThis.__leaks = { tracks: [], listeners: [], added: {} };
         const media = navigator.mediaDevices;
         const gum = media.getUserMedia.bind(media);
         media.getUserMedia = async (c) => { const s = await gum(c); L.tracks.push(...s.getTracks()); return s; };
         const capture = (o) => typeof o === 'boolean' ? o : !!(o && o.capture);
         for (const [name, target] of [['window', window], ['mediaDevices', media]]) {
           const add = target.addEventListener.bind(target);
           const remove = target.removeEventListener.bind(target);
           const same = (l, type, fn, o) => l.target === name && l.type === type && l.fn === fn && l.capture === capture(o);
           target.addEventListener = (type, fn, o) => {
             const key = name + ':' + type;
             L.added[key] = (L.added[key] || 0) + 1;
             if (fn && !L.listeners.some(l => same(l, type, fn, o))) L.listeners.push({ target: name, type, fn, capture: capture(o) });
             return add(type, fn, o);
           };
           target.removeEventListener = (type, fn, o) => {
             L.listeners = L.listeners.filter(l => !same(l, type, fn, o));
             return remove(type, fn, o);
           };
         }",
        &JsValue::UNDEFINED,
    );
}

/// What the recorders saw: peer connections created and still open, tracks opened and still
/// live, listeners added (by target and type) and still attached.
fn leak_report() -> Value {
    json(&run_js(
        "const L = globalThis.__leaks, pcs = globalThis.__pcs || [];
         return {
           pcs: pcs.length,
           openPcs: pcs.filter(p => p.connectionState !== 'closed' || p.signalingState !== 'closed').length,
           tracks: L.tracks.length,
           liveTracks: L.tracks.filter(t => t.readyState !== 'ended').map(t => t.kind + ' ' + t.readyState),
           added: L.added,
           attached: L.listeners.map(l => l.target + ':' + l.type),
         };",
        &JsValue::UNDEFINED,
    ))
}

/// Nothing of the closed calls is left: no open peer connection, no live track, no listener
/// attached, no call held.
fn assert_nothing_left(report: &Value, calls_before: usize, when: &str) {
    assert_eq!(
        report["openPcs"],
        json!(0),
        "{when}: peer connections left open: {report}"
    );
    assert_eq!(
        report["liveTracks"],
        json!([]),
        "{when}: tracks left live: {report}"
    );
    assert_eq!(
        report["attached"],
        json!([]),
        "{when}: listeners left attached: {report}"
    );
    assert_eq!(live_calls(), calls_before, "{when}: calls still held");
}

#[wasm_bindgen_test]
async fn a_hundred_calls_leave_no_connection_track_listener_or_call_behind() {
    record_peer_connections();
    record_tracks_and_listeners();
    let before = leak_report();
    let calls_before = live_calls();
    let allocated_before = allocated_calls();
    let t0 = js_sys::Date::now();
    for i in 0..CYCLES {
        let conn = start_and_connect(runner(json!({"audio": true, "waitForBotReady": false})))
            .await
            .unwrap_or_else(|e| panic!("cycle {i}: {:?}", get(&e, "message").as_string()));
        assert_eq!(conn.state(), "connected", "cycle {i}");
        // A page that follows the devices: the SDK listens on mediaDevices from now on.
        conn.on(
            "devicechange".into(),
            js_sys::Function::new_no_args("").into(),
        )
        .expect("on");
        await_js(conn.disconnect().into()).await;
        assert_eq!(conn.state(), "disconnected", "cycle {i}");
        // `disconnect()` promises that everything is released once it resolves.
        assert_nothing_left(&leak_report(), calls_before, &format!("after cycle {i}"));
    }
    let elapsed_s = (js_sys::Date::now() - t0) / 1000.0;
    // And for a while nothing comes back (a late timer, a late getUserMedia answer).
    quiet(300).await;
    let after = leak_report();
    console_log!("{CYCLES} cycles in {elapsed_s:.1} s: {after}");
    assert_nothing_left(&after, calls_before, "after all cycles");
    // And the calls themselves are freed: no task or handler still holds one.
    assert_calls_freed(allocated_before, "after all cycles").await;

    // Each cycle made one peer connection, opened one microphone track and (subscribed to the
    // connection's devicechange) listened for device changes: the recorders saw what they are
    // meant to catch, so the zeros above are not from looking in the wrong place.
    let made = |k: &str| after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
    let cycles = CYCLES as u64;
    assert_eq!((made("pcs"), made("tracks")), (cycles, cycles), "{after}");
    let device_listeners = after["added"]["mediaDevices:devicechange"].as_u64();
    assert!(device_listeners >= Some(cycles), "{after}");
}

/// A peer connection closed while it had an operation pending never settles it (the browser
/// drops the promise): a call that ends then must still be freed at once, not held for ever by
/// the task that waited. The browser's `setRemoteDescription` is made to never answer, the
/// connect runs out of time, and the call is gone from memory.
#[wasm_bindgen_test]
async fn a_call_ended_while_the_browser_never_answers_is_freed() {
    let allocated_before = allocated_calls();
    run_js(
        "const proto = RTCPeerConnection.prototype;
         globalThis.__srd = proto.setRemoteDescription;
         proto.setRemoteDescription = function () { globalThis.__hung = (globalThis.__hung || 0) + 1; return new Promise(() => {}); };",
        &JsValue::UNDEFINED,
    );
    let result = start_and_connect(runner(json!({"timeoutMs": 1500}))).await;
    run_js(
        "RTCPeerConnection.prototype.setRemoteDescription = globalThis.__srd",
        &JsValue::UNDEFINED,
    );
    let error = expect_error(result.map(drop), "timeout");
    let hung = run_js("return globalThis.__hung || 0", &JsValue::UNDEFINED);
    assert_eq!(hung.as_f64(), Some(1.0), "the answer was being applied");
    assert_eq!(
        get(&get(&error, "details"), "phase").as_string().as_deref(),
        Some("offer"),
        "the connect stopped while the answer was being applied"
    );
    assert_calls_freed(allocated_before, "the connect timed out").await;
}
