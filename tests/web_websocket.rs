//! The WebSocket transport in the browser against the local agent's WebSocket echo bot
//! (protobuf frames, token auth, the same RTVI bot as over WebRTC): a call connects, echoes the
//! microphone into `remoteStream`, talks RTVI and ends on both sides; a socket the server drops
//! mid-call or refuses is typed; the options and a browser that lacks what a transport needs are
//! refused before anything is sent; nothing is left in memory.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{connect_web_rtc, connect_web_socket, start_and_connect, Connection};
use serde_json::{json, Value};
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `startAndConnect` options for a WebSocket call to the local agent (with `fault`, if any),
/// the worklet served by the agent (the test page has no package beside it), `extra` merged in.
fn ws(fault: Option<&str>, extra: Value) -> JsValue {
    let base = match fault {
        Some(f) => format!("{}/?fault={f}", agent()),
        None => agent().to_owned(),
    };
    let mut options = json!({
        "platform": "pipecat-runner",
        "baseUrl": base,
        "transport": "websocket",
        "workletUrl": format!("{}/agent-rtc-audio.js", agent()),
        "timeoutMs": 8000,
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut options, extra) {
        o.extend(e);
    }
    js(options)
}

/// The loudest RMS heard so far in `stream` (an AnalyserNode polled by the page).
fn meter(stream: &JsValue) -> JsValue {
    run_js(
        "const ctx = new AudioContext(); const an = ctx.createAnalyser();
         ctx.createMediaStreamSource(a).connect(an);
         const buf = new Float32Array(an.fftSize); const m = { peak: 0, ctx };
         m.timer = setInterval(() => { an.getFloatTimeDomainData(buf); let s = 0;
           for (const v of buf) s += v * v; m.peak = Math.max(m.peak, Math.sqrt(s / buf.length)); }, 20);
         m.stop = () => { clearInterval(m.timer); ctx.close(); };
         return m;",
        stream,
    )
}

async fn stats(conn: &Connection) -> Value {
    json(&JsFuture::from(conn.get_stats()).await.expect("stats"))
}

#[wasm_bindgen_test]
async fn a_websocket_call_connects_echoes_talks_and_ends_on_both_sides() {
    let before = agent_rtc::web::allocated_calls();
    let conn = start_and_connect(ws(None, json!({})))
        .await
        .expect("connect over a WebSocket");
    assert_eq!(conn.transport(), "websocket");
    assert!(conn.peer_connection().is_undefined(), "no peer connection");
    assert_eq!(conn.state(), "connected");
    let messages = collect(&conn, "message");
    let disconnected = collect(&conn, "disconnected");
    // The fake microphone's beep goes to the bot and comes back, heard in remoteStream.
    let m = meter(&conn.remote_stream().into());
    until("the echo in remoteStream", HANG_MS, || {
        (get(&m, "peak").as_f64().unwrap_or(0.0) > 0.02).then_some(())
    })
    .await;
    run_js("a.stop()", &m);
    let s = stats(&conn).await;
    assert_eq!(s["transport"], "websocket");
    assert!(s["framesSent"].as_f64() > Some(3.0), "{s}");
    // RTVI as over WebRTC: the bot's greeting on connect, and a client request answered.
    until("the bot's server-message", HANG_MS, || {
        messages
            .borrow()
            .iter()
            .map(json)
            .find(|v| v["type"] == "server-message")
    })
    .await;
    let answer = JsFuture::from(conn.send_client_request(
        "echo".into(),
        js(json!({"n": 7})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("answered");
    assert_eq!(json(&answer), json!({"n": 7}));
    // The server's side of the call ends with it.
    let session = conn.session_id().expect("a session id");
    JsFuture::from(conn.disconnect()).await.expect("disconnect");
    assert_eq!(
        disconnected.borrow().iter().map(json).collect::<Vec<_>>(),
        [json!("local")]
    );
    let ws = until_async(
        "the agent's side of the socket to close",
        HANG_MS,
        || async {
            let s = get_json(&format!("{}/debug/sessions/{session}", agent())).await;
            (s["websocket"]["connected"] == false && s["websocket"]["closeCode"] != Value::Null)
                .then(|| s["websocket"].clone())
        },
    )
    .await;
    // What the server saw: the SDK closed it normally, and sent 16 kHz mono audio frames.
    assert_eq!(
        (&ws["closedBy"], &ws["closeCode"]),
        (&json!("client"), &json!(1000)),
        "{ws}"
    );
    assert_eq!(
        (&ws["sampleRate"], &ws["numChannels"]),
        (&json!(16000), &json!(1)),
        "{ws}"
    );
    assert!(ws["audioFramesReceived"].as_f64() > Some(0.0), "{ws}");
    drop(conn);
    assert_calls_freed(before, "a WebSocket call").await;
}

#[wasm_bindgen_test]
async fn a_socket_the_server_closes_mid_call_ends_it_as_socket_closed() {
    let before = agent_rtc::web::allocated_calls();
    let conn = start_and_connect(ws(Some("ws-close-after-ready"), json!({})))
        .await
        .expect("connect");
    let disconnected = collect(&conn, "disconnected");
    let errors = collect(&conn, "error");
    until("disconnected", HANG_MS, || {
        disconnected.borrow().first().map(json)
    })
    .await;
    assert_eq!(json(&disconnected.borrow()[0]), json!("socket-closed"));
    assert!(
        errors.borrow().is_empty(),
        "a close by the server is an end, not an error"
    );
    assert_eq!(conn.state(), "disconnected");
    drop(conn);
    assert_calls_freed(before, "a dropped WebSocket call").await;
}

#[wasm_bindgen_test]
async fn a_refused_socket_is_a_socket_phase_error_with_nothing_left() {
    let before = agent_rtc::web::allocated_calls();
    let e = expect_error(
        start_and_connect(ws(Some("ws-refuse"), json!({}))).await,
        "signalling",
    );
    let details = json(&get(&e, "details"));
    assert_eq!(details["phase"], "socket", "{details}");
    assert_eq!(details["closeCode"], 1006, "{details}");
    assert_eq!(get(&e, "retryable"), JsValue::TRUE);
    assert_calls_freed(before, "a refused socket").await;
}

#[wasm_bindgen_test]
async fn wrong_options_are_refused_before_anything_is_sent() {
    let tag = fresh_tag("ws-options");
    let tagged = |extra: Value| {
        let mut e = json!({"headers": {"x-test-tag": tag}});
        if let (Value::Object(o), Value::Object(x)) = (&mut e, extra) {
            o.extend(x);
        }
        ws(None, e)
    };
    expect_error(
        start_and_connect(tagged(json!({"video": true}))).await,
        "invalid_options",
    );
    expect_error(
        start_and_connect(tagged(json!({"timeoutMs": -5}))).await,
        "invalid_options",
    );
    for bad in [
        json!({"wsUrl": "http://127.0.0.1:9/ws"}),
        json!({"wsUrl": "ws://example.com/ws"}),
        json!({}),
    ] {
        let e = expect_error(connect_web_socket(js(bad.clone())).await, "invalid_options");
        assert!(
            !get(&e, "message")
                .as_string()
                .unwrap_or_default()
                .is_empty(),
            "{bad}"
        );
    }
    quiet(200).await;
    assert!(requests(&tag).await.is_empty(), "nothing was sent");
}

#[wasm_bindgen_test]
async fn a_browser_without_what_a_transport_needs_gets_unsupported_and_nothing_is_sent() {
    let tag = fresh_tag("unsupported");
    for (global, transport) in [
        ("WebSocket", "websocket"),
        ("AudioWorkletNode", "websocket"),
        ("RTCPeerConnection", "webrtc"),
    ] {
        let saved = run_js(
            "const v = globalThis[a]; delete globalThis[a]; return v;",
            &global.into(),
        );
        let options = ws(
            None,
            json!({"transport": transport, "headers": {"x-test-tag": tag}}),
        );
        let result = start_and_connect(options).await;
        let direct = if transport == "webrtc" {
            connect_web_rtc(js(json!({"offerUrl": format!("{}/api/offer", agent())}))).await
        } else {
            connect_web_socket(js(json!({"wsUrl": "ws://127.0.0.1:9/ws"}))).await
        };
        run_js(
            "globalThis[a[0]] = a[1];",
            &js_sys::Array::of2(&global.into(), &saved).into(),
        );
        let e = expect_error(result, "unsupported");
        let message = get(&e, "message").as_string().unwrap_or_default();
        assert!(message.contains(global), "{message}");
        expect_error(direct, "unsupported");
    }
    quiet(200).await;
    assert!(requests(&tag).await.is_empty(), "nothing was sent");
}

/// Counts the `AudioContext`s and `WebSocket`s the SDK uses from now on and the microphone tracks
/// the page opens, and how many are still open. The SDK's glue keeps the constructors it found
/// when it loaded, so the methods every call uses are wrapped instead (`resume()` of its context,
/// `send()` of its socket); the SDK is not told.
fn record_audio_and_sockets() {
    run_js(
        "if (globalThis.__ws) return;
         const W = globalThis.__ws = { contexts: [], sockets: [], tracks: [] };
         for (const [proto, method, list] of [[AudioContext.prototype, 'resume', W.contexts], [WebSocket.prototype, 'send', W.sockets]]) {
           const native = proto[method];
           proto[method] = function (...a) { if (!list.includes(this)) list.push(this); return native.apply(this, a); };
         }
         const media = navigator.mediaDevices; const gum = media.getUserMedia.bind(media);
         media.getUserMedia = async (c) => { const s = await gum(c); W.tracks.push(...s.getTracks()); return s; };
         W.open = () => ({
           contexts: W.contexts.filter((c) => c.state !== 'closed').length,
           sockets: W.sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length,
           tracks: W.tracks.filter((t) => t.readyState !== 'ended').length,
           made: W.contexts.length,
         });",
        &JsValue::UNDEFINED,
    );
}

#[wasm_bindgen_test]
async fn twenty_websocket_calls_leave_no_context_socket_track_or_call() {
    record_audio_and_sockets();
    let before = agent_rtc::web::allocated_calls();
    for i in 0..20 {
        let conn = start_and_connect(ws(None, json!({})))
            .await
            .unwrap_or_else(|e| panic!("call {i}: {:?}", json(&e)));
        JsFuture::from(conn.disconnect()).await.expect("disconnect");
    }
    let open = until("every context, socket and track closed", HANG_MS, || {
        let open = json(&run_js(
            "return globalThis.__ws.open()",
            &JsValue::UNDEFINED,
        ));
        (open["contexts"] == 0 && open["sockets"] == 0 && open["tracks"] == 0).then_some(open)
    })
    .await;
    assert_eq!(open["made"], 20, "one AudioContext per call: {open}");
    assert_calls_freed(before, "20 WebSocket calls").await;
}
