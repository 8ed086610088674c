//! The conversation API in headless Chromium against the local agent's RTVI 2.x echo bot:
//! client requests (answered, refused, timed out, pending at disconnect), function calls (a
//! handler that resolves, throws, is slow, or is missing), the typed events, dtmf, disconnect-bot,
//! the bot's version, switching the microphone mid-call, playback and message size.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{start_and_connect, Connection};
use js_sys::{Function, Promise};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Waits for `what` (bounded, to catch hangs): until `seen` holds a value for which `pred`
/// holds, and returns it.
async fn wait_for(
    seen: &Rc<RefCell<Vec<JsValue>>>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    until(what, HANG_MS, || {
        seen.borrow().iter().map(json).find(|v| pred(v))
    })
    .await
}

async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

async fn bot(conn: &Connection) -> Value {
    get_json(&format!(
        "{}/debug/sessions/{}",
        agent(),
        conn.session_id().unwrap()
    ))
    .await["bot"]
        .clone()
}

#[wasm_bindgen_test]
async fn client_requests_are_answered_refused_timed_out_and_closed() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let answer = settle(conn.send_client_request(
        "echo".into(),
        js(json!({"n": 42, "s": "round trip"})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("answered");
    assert_eq!(json(&answer), json!({"n": 42, "s": "round trip"}));
    // What the SDK writes and hands back is what JSON carries: fractional and large numbers
    // exact, control and non-ASCII characters intact, and a `__proto__` key an own property of
    // the answer, not its prototype.
    let sent = run_js(
        r#"return JSON.parse('{"__proto__":{"polluted":true},"f":0.1,"big":1e21,"neg":-2.5e-7,"s":"tab\\tctl\\u0001 é 😀"}')"#,
        &JsValue::NULL,
    );
    let answer = settle(conn.send_client_request("echo".into(), sent, JsValue::UNDEFINED))
        .await
        .expect("answered");
    let checks = run_js(
        r#"return [Object.getPrototypeOf(a) === Object.prototype, Object.hasOwn(a, "__proto__") && a["__proto__"].polluted === true, a.f === 0.1, a.big === 1e21, a.neg === -2.5e-7, a.s === "tab\tctl\u0001 é 😀"]"#,
        &answer,
    );
    assert_eq!(json(&checks), json!([true, true, true, true, true, true]));

    let err = expect_error(
        settle(conn.send_client_request(
            "fail".into(),
            js(json!({"error": "nope"})),
            JsValue::UNDEFINED,
        ))
        .await,
        "bot_error",
    );
    assert!(get(&err, "message").as_string().unwrap().contains("nope"));
    assert_eq!(
        json(&get(&err, "details"))["data"],
        json!({"error": "nope"})
    );

    let err = expect_error(
        settle(conn.send_client_request(
            "silent".into(),
            JsValue::UNDEFINED,
            js(json!({"timeoutMs": 300})),
        ))
        .await,
        "timeout",
    );
    assert_eq!(json(&get(&err, "details"))["phase"], "call");

    expect_error(
        settle(conn.send_client_request(
            JsValue::from_f64(1.0),
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
        ))
        .await,
        "invalid_options",
    );

    // Still waiting when the app disconnects: rejected with `closed`, nothing left pending.
    let pending =
        conn.send_client_request("slow".into(), js(json!({"ms": 5000})), JsValue::UNDEFINED);
    until_async("the slow request at the bot", HANG_MS, || async {
        let session = get_json(&format!(
            "{}/debug/sessions/{}",
            agent(),
            conn.session_id().unwrap()
        ))
        .await;
        let received = session["peers"][0]["messagesReceived"].to_string();
        received.contains(r#""t":"slow""#)
    })
    .await;
    let _ = conn.disconnect();
    expect_error(settle(pending).await, "closed");
    expect_error(
        settle(conn.send_client_request("echo".into(), JsValue::UNDEFINED, JsValue::UNDEFINED))
            .await,
        "closed",
    );
}

#[wasm_bindgen_test]
async fn function_calls_resolve_throw_are_slow_or_missing() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let server = collect(&conn, "servermessage");
    let errors = collect(&conn, "error");
    let result_of = |server: Rc<RefCell<Vec<JsValue>>>| async move {
        wait_for(&server, "a function-result", |m| {
            m["type"] == "function-result"
        })
        .await
    };

    // Resolves: with the arguments and the tool call id it was given.
    let seen_info = Rc::new(RefCell::new(Value::Null));
    let sink = seen_info.clone();
    let handler = Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(
        move |args: JsValue, info: JsValue| {
            *sink.borrow_mut() = json!({"args": json(&args), "info": json(&info)});
            js(json!({"temperature": 21, "city": json(&args)["location"]}))
        },
    );
    let unregister = conn
        .register_function_call_handler("get_weather".into(), handler.as_ref().clone())
        .expect("register");
    conn.send_text("Paris".into(), JsValue::UNDEFINED)
        .expect("send-text");
    let result = result_of(server.clone()).await;
    assert_eq!(
        result["result"],
        json!({"temperature": 21, "city": "Paris"})
    );
    assert_eq!(seen_info.borrow()["info"]["functionName"], "get_weather");
    assert!(seen_info.borrow()["info"]["toolCallId"].is_string());
    assert_eq!(
        result["tool_call_id"],
        seen_info.borrow()["info"]["toolCallId"]
    );

    // Throws: the bot gets an error result, not silence.
    server.borrow_mut().clear();
    unregister.call0(&JsValue::UNDEFINED).expect("unregister");
    let throwing = Function::new_with_args("args", "throw new Error('no weather today')");
    conn.register_function_call_handler("get_weather".into(), throwing.into())
        .expect("register");
    conn.send_text("Oslo".into(), JsValue::UNDEFINED)
        .expect("send-text");
    let result = result_of(server.clone()).await;
    assert!(
        result["result"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("no weather today"),
        "{result}"
    );

    // Slow: an async handler that answers after 600 ms.
    server.borrow_mut().clear();
    let slow = Function::new_with_args(
        "args",
        "return new Promise(r => setTimeout(() => r({late: true, city: args.location}), 600))",
    );
    conn.register_function_call_handler("get_weather".into(), slow.into())
        .expect("register");
    conn.send_text(
        "Rome".into(),
        js(json!({"runImmediately": true, "audioResponse": false})),
    )
    .expect("send-text");
    let result = result_of(server.clone()).await;
    assert_eq!(result["result"], json!({"late": true, "city": "Rome"}));

    // Missing: reported through `error`.
    let bot_state = bot(&conn).await;
    assert!(bot_state.is_object());
    conn.send_client_message(
        "function-call".into(),
        js(json!({"function_name": "unknown_fn", "arguments": {}})),
    )
    .expect("send");
    let is_bot_error = |e: &JsValue| get(e, "code").as_string().as_deref() == Some("bot_error");
    let err = until("an error event for a missing handler", HANG_MS, || {
        errors.borrow().iter().find(|e| is_bot_error(e)).cloned()
    })
    .await;
    let message = get(&err, "message").as_string().unwrap_or_default();
    assert!(message.contains("unknown_fn"), "{message}");
    drop(handler);
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn typed_events_dtmf_version_and_disconnect_bot() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    assert_eq!(conn.bot_version().as_deref(), Some("2.2.0"));
    let transcripts = collect(&conn, "transcript");
    let speaking = collect(&conn, "speaking");
    let server = collect(&conn, "servermessage");
    let metrics = collect(&conn, "metrics");
    let boterrors = collect(&conn, "boterror");
    let rtvi = collect(&conn, "rtvi");
    // The bot speaks on request (every browser); the fake microphone's beeps are utterances to
    // its voice-activity guess where the browser's fake audio reads as voice (Chromium's does).
    settle(conn.send_client_request(
        "speak".into(),
        js(json!({"text": "Hello from the bot."})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("speak");
    let bot_line = wait_for(&transcripts, "a bot transcript", |t| t["role"] == "bot").await;
    assert!(bot_line["text"].is_string(), "{bot_line}");
    assert_eq!(bot_line["final"], json!(true));
    let bot_speaks = json!({"role":"bot","speaking":true});
    wait_for(&speaking, "the bot speaking", |s| s == &bot_speaks).await;
    // Chromium's fake microphone beeps, and each beep is a turn to the bot: wait for one there.
    // Elsewhere (Firefox's fake microphone is one endless tone) turns are checked if they came.
    if is_chromium() {
        until_async("a user turn heard by the bot", HANG_MS, || async {
            bot(&conn).await["userTurns"].as_u64().unwrap_or(0) > 0
        })
        .await;
    }
    if bot(&conn).await["userTurns"].as_u64().unwrap_or(0) > 0 {
        let user = wait_for(
            &transcripts,
            "a user transcript for each turn the bot heard",
            |t| t["role"] == "user",
        )
        .await;
        assert!(
            user["text"]
                .as_str()
                .unwrap_or("")
                .starts_with("User utterance"),
            "{user}"
        );
        assert_eq!(user["final"], json!(true));
        assert!(user["timestamp"].is_string());
        let user_speaks = json!({"role":"user","speaking":true});
        wait_for(&speaking, "the user speaking", |s| s == &user_speaks).await;
    }
    let bots = transcripts
        .borrow()
        .iter()
        .map(json)
        .filter(|t| t["role"] == "bot")
        .count();
    let outputs = rtvi
        .borrow()
        .iter()
        .map(json)
        .filter(|m| m["type"] == "bot-output")
        .count();
    assert!(
        bots <= outputs,
        "bot-output and bot-tts-text make one transcript each sentence"
    );
    let bot_stops = json!({"role":"bot","speaking":false});
    wait_for(&speaking, "the bot to stop speaking", |s| s == &bot_stops).await;
    // The greeting came before the connect resolved; this late handler still got it.
    wait_for(&server, "the greeting", |m| m["text"].is_string()).await;

    settle(conn.send_client_request("metrics".into(), JsValue::UNDEFINED, JsValue::UNDEFINED))
        .await
        .expect("metrics");
    wait_for(&metrics, "metrics", |m| m["ttfb"].is_array()).await;
    settle(conn.send_client_request(
        "error".into(),
        js(json!({"error": "minor"})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("error");
    assert_eq!(
        wait_for(&boterrors, "a bot error", |_| true).await,
        json!({"message": "minor", "fatal": false})
    );
    // Messages with no typed event of their own still flow through `rtvi`.
    assert!(rtvi
        .borrow()
        .iter()
        .map(json)
        .any(|m| m["type"] == "bot-tts-text"));

    conn.send_dtmf("12#".into()).expect("dtmf");
    expect_error(conn.send_dtmf("12x".into()), "invalid_options");
    let dtmf = until_async("the dtmf at the bot", HANG_MS, || async {
        let dtmf = bot(&conn).await["dtmf"].clone();
        (dtmf.as_array().map(Vec::len) >= Some(3)).then_some(dtmf)
    })
    .await;
    assert_eq!(dtmf, json!(["1", "2", "#"]));

    let reasons = collect(&conn, "disconnected");
    conn.disconnect_bot().expect("disconnect-bot");
    until("the disconnected event", HANG_MS, || {
        !reasons.borrow().is_empty()
    })
    .await;
    assert_eq!(
        reasons
            .borrow()
            .first()
            .and_then(|r| r.as_string())
            .as_deref(),
        Some("peer-left")
    );

    // Older bots (a 2.1 one, a 1.x one) take our client-ready 2.2.0, and say what they speak.
    for version in ["2.1.0", "1.0.0"] {
        let conn = start_and_connect(runner(
            json!({"baseUrl": format!("{}/?fault=rtvi-version-{version}", agent())}),
        ))
        .await
        .expect("an older bot");
        assert_eq!(conn.bot_version().as_deref(), Some(version));
        let _ = conn.disconnect();
    }
}

#[wasm_bindgen_test]
async fn the_microphone_switches_mid_call_and_the_echo_goes_on() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let first = conn.local_stream().get_audio_tracks().get(0);
    conn.set_mic_enabled(false.into()).expect("mute");
    // A device id: listDevices() must list it (the one being sent, a valid id in every browser).
    let devices = await_js(run_js("return a()", &agent_rtc_list())).await;
    // MediaDeviceInfo fields are prototype getters (Firefox): read them in JS.
    let ids = json(&run_js(
        "return a.audioinput.map(d => d.deviceId)",
        &devices,
    ));
    let id = run_js("return a.getSettings().deviceId", &first)
        .as_string()
        .unwrap_or_default();
    assert!(
        ids.as_array().is_some_and(|l| l.contains(&json!(id))),
        "{ids} lacks {id}"
    );
    settle(conn.set_microphone(id.into()))
        .await
        .expect("switched");
    let second = conn.local_stream().get_audio_tracks().get(0);
    assert_ne!(first, second, "a new track");
    assert_eq!(
        get(&first, "readyState").as_string().as_deref(),
        Some("ended"),
        "the SDK's old track is stopped"
    );
    assert_eq!(get(&second, "enabled").as_bool(), Some(false), "mute kept");
    let pc: JsValue = conn.peer_connection();
    let sending = run_js("return a.getSenders()[0].track", &pc);
    assert_eq!(sending, second);
    conn.set_mic_enabled(true.into()).expect("unmute");
    // The caller's own track next: sent, and never stopped by the SDK.
    let stream = await_js(run_js(
        "return navigator.mediaDevices.getUserMedia({audio: true})",
        &JsValue::UNDEFINED,
    ))
    .await;
    let mine = run_js("return a.getAudioTracks()[0]", &stream);
    settle(conn.set_microphone(mine.clone()))
        .await
        .expect("caller's track");
    assert_eq!(
        get(&second, "readyState").as_string().as_deref(),
        Some("ended")
    );
    // A device that fails: a media error, and the current track keeps sending.
    let err = expect_error(
        settle(conn.set_microphone("no-such-device".into())).await,
        "media",
    );
    assert!(json(&get(&err, "details"))["name"].is_string());
    assert_eq!(run_js("return a.getSenders()[0].track", &pc), mine);
    // The echo of the new track is heard, and no renegotiation happened.
    play(&conn.remote_stream().into());
    let before = inbound_audio_energy(&pc).await;
    until_async("the echo after the switch", HANG_MS, || async {
        inbound_audio_energy(&pc).await > before
    })
    .await;
    assert_eq!(
        bot(&conn).await["connections"],
        json!(1),
        "same peer connection"
    );
    let _ = conn.disconnect();
    assert_eq!(
        get(&mine, "readyState").as_string().as_deref(),
        Some("live")
    );
    run_js("a.stop()", &mine);
}

/// Whether the page runs in Chromium (its fake microphone beeps).
fn is_chromium() -> bool {
    run_js("return navigator.userAgent", &JsValue::UNDEFINED)
        .as_string()
        .is_some_and(|ua| ua.contains("Chrome/"))
}

/// `listDevices` as the page imports it.
fn agent_rtc_list() -> JsValue {
    let f = Closure::<dyn FnMut() -> Promise>::new(agent_rtc::web::list_devices);
    let v = f.as_ref().clone();
    f.forget(); // test-only
    v
}

#[wasm_bindgen_test]
async fn playback_devices_and_message_size() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    settle(conn.attach_audio(JsValue::UNDEFINED))
        .await
        .expect("plays");
    let audio = run_js(
        "return document.querySelectorAll('audio').length",
        &JsValue::UNDEFINED,
    );
    assert!(audio.as_f64().unwrap_or(0.0) >= 1.0);
    let owned = run_js(
        "return [...document.querySelectorAll('audio')].find(e => e.srcObject === a)",
        &conn.remote_stream().into(),
    );
    assert!(
        !owned.is_undefined(),
        "the SDK's <audio> plays remoteStream"
    );
    settle(conn.resume_audio()).await.expect("resume");
    settle(conn.set_speaker("".into()))
        .await
        .expect("setSinkId");
    // devicechange while the connection lives.
    let changes = collect(&conn, "devicechange");
    run_js(
        "navigator.mediaDevices.dispatchEvent(new Event('devicechange'))",
        &JsValue::UNDEFINED,
    );
    let list = wait_for(&changes, "devicechange", |l| l["audioinput"].is_array()).await;
    assert!(list["audiooutput"].is_array() && list["videoinput"].is_array());
    // Larger than the channel's maxMessageSize: refused before sending.
    let max = run_js("return a.sctp.maxMessageSize", &conn.peer_connection())
        .as_f64()
        .unwrap();
    let big = "x".repeat(max as usize + 1);
    expect_error(conn.send_message(big.into()), "invalid_options");
    conn.send_message("fits".into()).expect("small message");
    let _ = conn.disconnect();
    assert!(
        owned.dyn_ref::<web_sys::Node>().map(|n| n.is_connected()) == Some(false),
        "the SDK's <audio> is removed"
    );
    changes.borrow_mut().clear();
    run_js(
        "navigator.mediaDevices.dispatchEvent(new Event('devicechange'))",
        &JsValue::UNDEFINED,
    );
    quiet(300).await;
    assert!(
        changes.borrow().is_empty(),
        "no devicechange after disconnect"
    );
}

#[wasm_bindgen_test]
async fn the_camera_switches_without_renegotiating() {
    let conn = start_and_connect(runner(json!({"video": true})))
        .await
        .expect("connect");
    let first = conn.local_stream().get_video_tracks().get(0);
    conn.set_camera_enabled(false.into()).expect("camera off");
    let id = run_js("return a.getSettings().deviceId", &first)
        .as_string()
        .unwrap_or_default();
    settle(conn.set_camera(id.into())).await.expect("switched");
    let second = conn.local_stream().get_video_tracks().get(0);
    assert_ne!(first, second, "a new track");
    assert_eq!(
        get(&first, "readyState").as_string().as_deref(),
        Some("ended"),
        "the SDK's old camera track is stopped"
    );
    assert_eq!(
        get(&second, "enabled").as_bool(),
        Some(false),
        "camera off kept"
    );
    let pc: JsValue = conn.peer_connection();
    assert_eq!(run_js("return a.getSenders()[1].track", &pc), second);
    // An audio track is no camera.
    let audio = conn.local_stream().get_audio_tracks().get(0);
    expect_error(settle(conn.set_camera(audio)).await, "invalid_options");
    assert_eq!(
        bot(&conn).await["connections"],
        json!(1),
        "same peer connection"
    );
    let _ = conn.disconnect();
    assert_eq!(
        get(&second, "readyState").as_string().as_deref(),
        Some("ended")
    );
}
