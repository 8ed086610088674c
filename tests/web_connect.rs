//! `connectWebRtc()` / `startAndConnect()` in headless Chromium (fake media) against the local
//! agent's real WebRTC peer: each platform's routes, the echo, mute, messages, clean-up, and the
//! failures of each phase.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{connect_web_rtc, start_and_connect, start_session, Connection};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn with_fault(fault: &str, extra: Value) -> JsValue {
    let mut options = json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault={fault}", agent()), "timeoutMs": 8000});
    if let (Value::Object(o), Value::Object(e)) = (&mut options, extra) {
        o.extend(e);
    }
    js(options)
}

/// A runner connect with `fault`, its requests tagged `tag` for the agent's request log.
fn tagged(fault: &str, tag: &str) -> JsValue {
    with_fault(fault, json!({"headers": {"x-test-tag": tag}}))
}

async fn debug_session(id: &str) -> Value {
    get_json(&format!("{}/debug/sessions/{id}", agent())).await
}

async fn assert_echo(conn: &Connection) {
    let pc: JsValue = conn.peer_connection();
    play(&conn.remote_stream().into());
    until_heard(&pc, "the bot's audio, the echo of the fake microphone").await;
}

#[wasm_bindgen_test]
async fn runner_session_connects_echoes_and_disconnects_cleanly() {
    record_peer_connections();
    let session = start_session(runner(json!({}))).await.expect("start");
    let options = js(json!({"timeoutMs": 8000}));
    set(&options, "session", &JsValue::from(session));
    let conn = connect_web_rtc(options).await.expect("connect");
    assert_eq!(conn.state(), "connected");
    assert!(conn.pc_id().is_some());
    let id = conn.session_id().expect("session id");
    let rtvi = collect(&conn, "rtvi");
    let botready = collect(&conn, "botready");
    assert_echo(&conn).await;
    assert!(
        conn.remote_stream().get_audio_tracks().length() > 0,
        "a remote audio track"
    );
    // Events from before the call resolved were replayed to handlers subscribed right after it.
    assert_eq!(botready.borrow().len(), 1);
    assert!(
        rtvi.borrow()
            .iter()
            .any(|m| json(m)["type"] == "server-message"),
        "server-message seen"
    );

    let t = json(&conn.timings());
    let step = |k: &str| {
        t[k].as_f64()
            .unwrap_or_else(|| panic!("timings lack {k}: {t}"))
    };
    assert!(step("offerSent") <= step("answerReceived"), "{t}");
    assert!(step("answerReceived") <= step("channelOpen"), "{t}");
    assert!(
        step("channelOpen") <= step("botReady") && step("botReady") <= step("connected"),
        "{t}"
    );
    assert!(
        t.get("sessionStarted").is_none(),
        "connectWebRtc does not start a session: {t}"
    );

    let report = debug_session(&id).await;
    let peer = &report["peers"][0];
    assert_eq!(peer["channelOpen"], json!(true));
    assert!(peer["pingsSeen"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert!(
        peer["audioPacketsReceived"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );

    let states = collect(&conn, "statechange");
    let reasons = collect(&conn, "disconnected");
    let _ = conn.disconnect();
    let _ = conn.disconnect();
    assert_eq!(conn.state(), "disconnected");
    until("the disconnected events", HANG_MS, || {
        !reasons.borrow().is_empty() && states.borrow().len() >= 2
    })
    .await;
    assert_eq!(
        reasons
            .borrow()
            .iter()
            .map(|r| r.as_string().unwrap())
            .collect::<Vec<_>>(),
        vec!["local"]
    );
    // The first statechange handler also gets the one from before the connect resolved.
    assert_eq!(
        states
            .borrow()
            .iter()
            .map(|s| s.as_string().unwrap())
            .collect::<Vec<_>>(),
        vec!["connected", "disconnected"]
    );
    assert_eq!(
        open_peer_connections(),
        0,
        "disconnect leaves no open peer connection"
    );
    let local = conn.local_stream().get_tracks();
    assert!(local.length() >= 1);
    for t in local.iter() {
        assert_eq!(
            get(&t, "readyState").as_string().as_deref(),
            Some("ended"),
            "tracks the SDK opened are stopped"
        );
    }
    expect_error(conn.send_message("x".into()), "closed");
    expect_error(conn.set_mic_enabled(true.into()), "closed");
}

#[wasm_bindgen_test]
async fn pipecat_cloud_and_butter_via_start_and_connect() {
    let conn = start_and_connect(js(json!({
        "baseUrl": format!("{}/v1/public", agent()), "agent": "echo", "apiKey": api_key(), "timeoutMs": 8000,
    })))
    .await
    .expect("pipecat-cloud");
    assert_eq!(conn.state(), "connected");
    let session = conn.session();
    assert_eq!(
        get(&session, "platform").as_string().as_deref(),
        Some("pipecat-cloud")
    );
    assert_eq!(get(&session, "sessionId").as_string(), conn.session_id());
    assert_echo(&conn).await;
    let _ = conn.disconnect();

    let tag = fresh_tag("butter-connect");
    let conn = start_and_connect(js(json!({
        "platform": "butter", "baseUrl": agent(), "agent": "agent_echo", "timeoutMs": 8000, "headers": {"x-test-tag": tag},
    })))
    .await
    .expect("butter");
    let seen = requests(&tag).await;
    let paths: Vec<&str> = seen
        .iter()
        .map(|r| r["path"].as_str().unwrap_or(""))
        .collect();
    let offer_path = format!("/api/sessions/{}/api/offer", conn.session_id().unwrap());
    assert_eq!(paths[0], "/api/start/agent_echo");
    assert_eq!(seen[0]["body"]["transport"], "webrtc");
    assert!(paths[1..].iter().all(|p| *p == offer_path), "{paths:?}");
    assert_eq!(seen[1]["method"], "POST");
    assert_eq!(seen[1]["body"]["pc_id"], Value::Null);
    assert_eq!(seen[1]["body"]["type"], "offer");
    // Each candidate reached the server once: in the offer (those gathered before it left) or
    // by PATCH with the server's pc_id — never an empty one (the Pipecat server cannot parse an
    // end-of-candidates: it answers 500, as the agent does).
    let errors = collect(&conn, "error");
    until_candidates_reached(&tag, &conn.peer_connection(), true).await;
    // Gathering is over and each candidate is the server's: no end-of-candidates follows.
    quiet(300).await;
    let seen = requests(&tag).await;
    let (in_offer, patched) = candidates_sent(&seen);
    assert!(seen
        .iter()
        .filter(|r| r["method"] == "PATCH")
        .all(|p| p["body"]["pc_id"].as_str() == conn.pc_id().as_deref()));
    assert!(
        patched.iter().all(|c| c.starts_with("candidate:")),
        "{patched:?}"
    );
    let mut all: Vec<String> = in_offer
        .iter()
        .chain(&patched)
        .map(|c| identity(c))
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        n,
        "a candidate sent twice: {in_offer:?} {patched:?}"
    );
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    let _ = conn.disconnect();
}

/// The `urls` of the peer connection's first ICE server.
fn first_ice_urls(pc: &JsValue) -> Value {
    json(&run_js("return a.getConfiguration().iceServers", pc))[0]["urls"].clone()
}

/// A candidate without what may differ between the SDP line and the browser's event.
fn identity(candidate: &str) -> String {
    let words: Vec<&str> = candidate.split_whitespace().take(6).collect();
    words.join(" ")
}

/// The candidates listed in an SDP (without the `a=`).
fn sdp_candidates(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(str::to_owned)
        .collect()
}

/// The candidates the page's connection has gathered so far for its current ICE credentials
/// (its local description lists each), as [`identity`].
fn local_candidates(pc: &JsValue) -> Vec<String> {
    let sdp = run_js(
        "return a.localDescription ? a.localDescription.sdp : ''",
        pc,
    );
    sdp_candidates(&sdp.as_string().unwrap_or_default())
        .iter()
        .map(|c| identity(c))
        .collect()
}

/// Waits until every candidate the connection gathered (at least one) reached the agent, in the
/// offer's SDP or by PATCH, and with `complete` until gathering is over too; returns the
/// requests tagged `tag` then.
async fn until_candidates_reached(tag: &str, pc: &JsValue, complete: bool) -> Vec<Value> {
    candidates_reached(tag, pc, complete)
        .await
        .unwrap_or_else(|missing| panic!("{missing}"))
}

/// [`until_candidates_reached`] that hands back what is missing after the wait instead of
/// failing.
async fn candidates_reached(tag: &str, pc: &JsValue, complete: bool) -> Result<Vec<Value>, String> {
    // The requests once every candidate reached the agent; what is missing until then.
    let check = || async {
        let over = run_js("return a.iceGatheringState", pc).as_string();
        let gathered = local_candidates(pc);
        let seen = requests(tag).await;
        let (in_offer, patched) = candidates_sent(&seen);
        let reached: Vec<String> = in_offer
            .iter()
            .chain(&patched)
            .map(|c| identity(c))
            .collect();
        let done = !complete || over.as_deref() == Some("complete");
        if done && !gathered.is_empty() && gathered.iter().all(|c| reached.contains(c)) {
            Ok(seen)
        } else {
            let sent: Vec<String> = seen
                .iter()
                .map(|r| format!("{} {}", r["method"], r["path"]))
                .collect();
            Err(format!(
                "gathering {over:?}, gathered {gathered:?}, in the offer {in_offer:?}, patched \
                 {patched:?}, requests {sent:?}"
            ))
        }
    };
    match within(HANG_MS, || async { check().await.ok() }).await {
        Some(seen) => Ok(seen),
        None => Err(format!(
            "still waiting for every local candidate to reach the agent (in the offer or by \
             PATCH) after {HANG_MS} ms: {}",
            check().await.err().unwrap_or_default()
        )),
    }
}

/// The candidates of the first offer's SDP, and those PATCHed, as the agent received them.
fn candidates_sent(seen: &[Value]) -> (Vec<String>, Vec<String>) {
    let offer = seen
        .iter()
        .find(|r| r["method"] == "POST" && r["body"]["type"] == "offer")
        .expect("an offer");
    let in_offer = sdp_candidates(offer["body"]["sdp"].as_str().unwrap_or(""));
    let patched = seen
        .iter()
        .filter(|r| r["method"] == "PATCH")
        .flat_map(|p| {
            p["body"]["candidates"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| c["candidate"].as_str().unwrap_or("").to_owned())
        .collect();
    (in_offer, patched)
}

#[wasm_bindgen_test]
async fn the_offer_carries_the_candidates_gathered_while_the_start_was_answered() {
    // The start takes 100 ms: the local offer is set and gathering (loopback) long done when the
    // offer leaves, so it carries the candidates and the server can check them at once.
    let tag = fresh_tag("offer-carries");
    let conn = start_and_connect(tagged("delay-start-100", &tag))
        .await
        .expect("connect");
    let errors = collect(&conn, "error");
    until_candidates_reached(&tag, &conn.peer_connection(), true).await;
    // Gathering is over and each candidate is the server's: none is sent again.
    quiet(300).await;
    let seen = requests(&tag).await;
    let (in_offer, patched) = candidates_sent(&seen);
    assert!(!in_offer.is_empty(), "{seen:?}");
    let carried: Vec<String> = in_offer.iter().map(|c| identity(c)).collect();
    assert!(
        patched.iter().all(|c| !carried.contains(&identity(c))),
        "sent again by PATCH: {patched:?}"
    );
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn ice_servers_from_the_start_answer_gather_the_offer_again() {
    // The offer is set (and gathering started) before the start answers; the answer brings ICE
    // servers, so the unsent offer is made again under them (an ICE restart) before it leaves.
    let tag = fresh_tag("start-ice");
    // Every local description set, in order.
    run_js(
        "const p = RTCPeerConnection.prototype, set = p.setLocalDescription; window.__sets = [];
         p.setLocalDescription = function (d) { window.__sets.push(d && d.sdp); return set.apply(this, arguments); };
         window.__restore = () => { p.setLocalDescription = set; };",
        &JsValue::NULL,
    );
    let conn = start_and_connect(tagged("delay-start-100,start-ice-servers", &tag)).await;
    let sets = json(&run_js(
        "window.__restore(); return window.__sets",
        &JsValue::NULL,
    ));
    let conn = conn.expect("connect");
    let errors = collect(&conn, "error");
    let pc: JsValue = conn.peer_connection();
    assert_eq!(first_ice_urls(&pc), json!(["stun:127.0.0.1:3478"]));
    let current = run_js("return a.localDescription.sdp", &pc)
        .as_string()
        .unwrap_or_default();
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
            .map(str::to_owned)
    };
    // (No STUN server answers there: gathering may go on for a while, so not awaited.)
    let seen = match candidates_reached(&tag, &pc, false).await {
        Ok(seen) => seen,
        Err(missing) => {
            let _ = conn.disconnect(); // not left open for the tests after this one
            panic!("{missing}");
        }
    };
    let offers: Vec<&Value> = seen
        .iter()
        .filter(|r| r["method"] == "POST" && r["body"]["type"] == "offer")
        .collect();
    assert_eq!(offers.len(), 1, "{seen:?}");
    let sent = ufrag(offers[0]["body"]["sdp"].as_str().unwrap_or(""));
    assert!(sent.is_some());
    assert_eq!(
        sent,
        ufrag(&current),
        "the offer sent is the regathered one"
    );
    let set: Vec<Option<String>> = sets
        .as_array()
        .map(|a| a.iter().map(|s| ufrag(s.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    assert_eq!(
        set.len(),
        2,
        "set, then set again under the new servers: {sets}"
    );
    assert_ne!(set[0], set[1], "new ICE credentials");
    assert_eq!(set[1], sent);
    // Every candidate of the gathering under the new servers reached the server, in the offer or
    // by PATCH (waited for above: at least one), and none of the first gathering did: each one
    // the server got is of the current gathering and, where it names its ufrag (Chromium's
    // events do), names the one sent.
    let (in_offer, patched) = candidates_sent(&seen);
    let gathered = local_candidates(&pc);
    assert!(!gathered.is_empty());
    for c in in_offer.iter().chain(&patched) {
        assert!(
            gathered.contains(&identity(c)),
            "{c} is not of the current gathering {gathered:?}"
        );
        let words: Vec<&str> = c.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "ufrag") {
            assert_eq!(words.get(i + 1).copied(), sent.as_deref(), "{c}");
        }
    }
    assert_echo(&conn).await;
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn bare_offer_url_connects_without_waiting_for_bot_ready() {
    let conn = connect_web_rtc(js(json!({"offerUrl": format!("{}/api/offer", agent()), "waitForBotReady": false, "timeoutMs": 8000})))
        .await
        .expect("connect");
    assert_eq!(conn.state(), "connected");
    assert!(conn.session().is_undefined());
    assert_eq!(conn.session_id(), None);
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn the_silent_bot_fails_the_echo_assertion() {
    let conn = start_and_connect(with_fault("silent", json!({})))
        .await
        .expect("connect");
    play(&conn.remote_stream().into());
    // For 3 s (a real echo is heard within one), no energy arrives.
    quiet(3000).await;
    let energy = inbound_audio_energy(&conn.peer_connection()).await;
    assert_eq!(energy, 0.0, "silence must not pass for an echo");
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn mute_reaches_the_server_and_messages_round_trip() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let id = conn.session_id().unwrap();
    conn.set_mic_enabled(false.into()).expect("mute");
    let messages = collect(&conn, "message");
    let rtvi_id = conn
        .send_rtvi(
            "client-message".into(),
            Some(js(json!({"t": "hello", "d": {"n": 1}}))),
        )
        .expect("send");
    conn.send_message("plain text".into()).expect("send text");
    let answer = until("the server-response", HANG_MS, || {
        messages
            .borrow()
            .iter()
            .map(json)
            .find(|m| m["type"] == "server-response")
    })
    .await;
    assert_eq!(answer["id"], json!(rtvi_id));
    assert_eq!(answer["data"], json!({"t": "hello", "d": {"n": 1}}));
    let peer = until_async("the plain text at the agent", HANG_MS, || async {
        let peer = debug_session(&id).await["peers"][0].clone();
        let texts = peer["messagesReceived"].as_array().cloned();
        texts
            .is_some_and(|m| m.iter().any(|x| x == "plain text"))
            .then_some(peer)
    })
    .await;
    assert_eq!(peer["trackStatus"]["0"], json!(false), "{peer}");
    conn.set_mic_enabled(true.into()).expect("unmute");
    until_async("the unmute at the agent", HANG_MS, || async {
        debug_session(&id).await["peers"][0]["trackStatus"]["0"] == json!(true)
    })
    .await;
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn a_callers_track_is_never_stopped() {
    let stream = await_js(run_js(
        "return navigator.mediaDevices.getUserMedia({audio: true})",
        &JsValue::UNDEFINED,
    ))
    .await;
    let track = run_js("return a.getAudioTracks()[0]", &stream);
    let options = runner(json!({}));
    set(&options, "audio", &track);
    let conn = start_and_connect(options).await.expect("connect");
    assert_echo(&conn).await;
    let _ = conn.disconnect();
    assert_eq!(
        get(&track, "readyState").as_string().as_deref(),
        Some("live")
    );
    run_js("a.stop()", &track);
}

#[wasm_bindgen_test]
async fn peer_left_and_renegotiate_from_the_server() {
    let conn = start_and_connect(with_fault("peer-left-after-1", json!({})))
        .await
        .expect("connect");
    let reasons = collect(&conn, "disconnected");
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
    assert_eq!(conn.state(), "disconnected");

    let tag = fresh_tag("reneg");
    let conn = start_and_connect(tagged("renegotiate-after-1", &tag))
        .await
        .expect("connect");
    let posts = until_async("a second offer after renegotiate", HANG_MS, || async {
        let posts: Vec<Value> = requests(&tag)
            .await
            .into_iter()
            .filter(|r| r["method"] == "POST" && r["path"] != "/start")
            .collect();
        (posts.len() >= 2).then_some(posts)
    })
    .await;
    assert_eq!(
        posts.len(),
        2,
        "a second offer after renegotiate: {posts:?}"
    );
    assert_eq!(
        posts[1]["body"]["pc_id"].as_str(),
        conn.pc_id().as_deref(),
        "same pc_id"
    );
    assert_eq!(conn.state(), "connected");
    let _ = conn.disconnect();
}

/// Records every RTCDataChannel the page's connections create, in `globalThis.__channels`.
fn record_data_channels() {
    run_js(
        "if (!globalThis.__channels) { globalThis.__channels = []; const p = RTCPeerConnection.prototype, make = p.createDataChannel;
           p.createDataChannel = function (...x) { const c = make.apply(this, x); globalThis.__channels.push(c); return c; }; }",
        &JsValue::UNDEFINED,
    );
}

/// How many objects a recorder (`globalThis.__pcs`, `__channels`) holds now.
fn recorded(name: &str) -> u32 {
    let count = run_js(
        &format!("return (globalThis.{name} || []).length"),
        &JsValue::UNDEFINED,
    );
    count.as_f64().unwrap_or(0.0) as u32
}

/// Whether the connect whose requests carry `tag` (and whose peer connection and channel are the
/// first recorded after `made`) has reached `phase`, where its fault holds it: its start or offer
/// reached the agent, the answer is applied (ICE), its channel is open (bot-ready).
async fn held_in(phase: &str, tag: &str, made: (u32, u32)) -> bool {
    let check = |body: &str, n: u32| run_js(body, &JsValue::from(n)).as_bool() == Some(true);
    match phase {
        "start" => requests(tag).await.iter().any(|r| r["path"] == "/start"),
        "offer" => requests(tag)
            .await
            .iter()
            .any(|r| r["method"] == "POST" && r["body"]["type"] == "offer"),
        "ice" => check(
            "const p = globalThis.__pcs[a]; return !!p && !!p.remoteDescription",
            made.0,
        ),
        "bot-ready" => check(
            "const c = globalThis.__channels[a]; return !!c && c.readyState === 'open'",
            made.1,
        ),
        other => panic!("no sign for the {other} phase"),
    }
}

/// Each phase, made to hang by a fault: the connect times out or is aborted with that phase, and
/// nothing stays open.
#[wasm_bindgen_test]
async fn timeouts_and_aborts_in_each_phase_close_everything() {
    record_peer_connections();
    let cases = [
        ("start-hang", "start"),
        ("offer-hang", "offer"),
        ("ice-never", "ice"),
        ("no-bot-ready", "bot-ready"),
    ];
    for (fault, phase) in cases {
        let err = expect_error(
            start_and_connect(with_fault(fault, json!({"timeoutMs": 3000}))).await,
            "timeout",
        );
        assert_eq!(json(&get(&err, "details"))["phase"], phase, "{fault}");
        assert_eq!(open_peer_connections(), 0, "{fault}: nothing left open");
    }
    record_data_channels();
    for (fault, phase) in cases {
        let controller = web_sys::AbortController::new().unwrap();
        // The budget is not what ends this connect: the abort, once the connect is held.
        let tag = fresh_tag("abort-in-phase");
        let options = with_fault(
            fault,
            json!({"timeoutMs": 60_000, "headers": {"x-test-tag": tag}}),
        );
        set(&options, "signal", &controller.signal());
        let made = (recorded("__pcs"), recorded("__channels"));
        let abort = async {
            let what = format!("the connect to be held in its {phase} phase ({fault})");
            until_async(&what, HANG_MS, || held_in(phase, &tag, made)).await;
            controller.abort();
        };
        let (result, ()) = join(start_and_connect(options), abort).await;
        let err = expect_error(result, "aborted");
        assert_eq!(json(&get(&err, "details"))["phase"], phase, "{fault}");
        assert_eq!(open_peer_connections(), 0, "{fault}: nothing left open");
    }
}

#[wasm_bindgen_test]
async fn offer_failures_map_to_their_codes() {
    record_peer_connections();
    let err = expect_error(
        start_and_connect(with_fault("offer-500", json!({}))).await,
        "http",
    );
    assert_eq!(get(&err, "status").as_f64(), Some(500.0));
    assert_eq!(json(&get(&err, "details"))["phase"], "offer");
    expect_error(
        start_and_connect(with_fault("offer-badsdp", json!({}))).await,
        "webrtc",
    );
    expect_error(
        start_and_connect(with_fault("offer-nopcid", json!({}))).await,
        "bad_response",
    );
    let err = expect_error(
        start_and_connect(with_fault("peer-left-after-0", json!({}))).await,
        "signalling",
    );
    assert!(json(&get(&err, "details"))["phase"].is_string());
    let bad_media = runner(json!({"audio": {"deviceId": {"exact": "no-such-device"}}}));
    let err = expect_error(start_and_connect(bad_media).await, "media");
    assert!(json(&get(&err, "details"))["name"].is_string());
    assert_eq!(open_peer_connections(), 0);
    expect_error(connect_web_rtc(js(json!({}))).await, "invalid_options");
    expect_error(
        connect_web_rtc(js(json!({"offerUrl": "http://example.com/api/offer"}))).await,
        "invalid_options",
    );
    let not_a_session = js(json!({"session": {"sessionId": "forged"}}));
    expect_error(connect_web_rtc(not_a_session).await, "invalid_options");
}

#[wasm_bindgen_test]
async fn stats_are_summarised() {
    let conn = start_and_connect(runner(json!({}))).await.expect("connect");
    let what = "stats with packets both ways, a candidate pair and its round-trip time";
    let stats = until_async(what, HANG_MS, || async {
        let stats = json(&await_js(conn.get_stats().into()).await);
        let packets = |k: &str| stats[k].as_f64().unwrap_or(0.0) > 0.0;
        let pair = stats["candidatePairType"].is_string() && stats["rttMs"].is_number();
        (packets("packetsSent") && packets("packetsReceived") && pair).then_some(stats)
    })
    .await;
    assert!(
        stats["packetsSent"].as_f64().unwrap_or(0.0) > 0.0,
        "{stats}"
    );
    assert!(
        stats["packetsReceived"].as_f64().unwrap_or(0.0) > 0.0,
        "{stats}"
    );
    assert!(stats["candidatePairType"].is_string(), "{stats}");
    assert!(stats["rttMs"].is_number(), "{stats}");
    let _ = conn.disconnect();
}

#[wasm_bindgen_test]
async fn options_shape_the_peer_connection_and_handlers_unsubscribe() {
    let options = runner(
        json!({"video": true, "iceServers": [{"urls": "stun:127.0.0.1:3478"}], "requestData": {"who": "test"}}),
    );
    let conn = start_and_connect(options).await.expect("connect");
    let pc: JsValue = conn.peer_connection();
    assert_eq!(first_ice_urls(&pc), json!(["stun:127.0.0.1:3478"]));
    assert_eq!(
        conn.local_stream().get_video_tracks().length(),
        1,
        "a camera track was opened"
    );
    let kinds = json(&run_js(
        "return a.getTransceivers().map(t => [t.receiver.track.kind, t.direction])",
        &pc,
    ));
    assert_eq!(
        kinds,
        json!([["audio", "sendrecv"], ["video", "sendrecv"]]),
        "audio then video, both sendrecv"
    );

    conn.set_camera_enabled(false.into()).expect("camera off");
    let id = conn.session_id().unwrap();
    let peer = until_async("the camera off at the agent", HANG_MS, || async {
        let peer = debug_session(&id).await["peers"][0].clone();
        (peer["trackStatus"]["1"] == json!(false)).then_some(peer)
    })
    .await;
    assert_eq!(peer["requestData"], json!({"who": "test"}), "{peer}");

    // An unsubscribed handler hears nothing more; the one still subscribed does.
    let kept = collect(&conn, "message");
    let dropped = Rc::new(RefCell::new(0));
    let count = dropped.clone();
    let f = Closure::<dyn FnMut(JsValue)>::new(move |_| *count.borrow_mut() += 1);
    let unsubscribe = conn.on("message".into(), f.as_ref().clone()).expect("on");
    unsubscribe.call0(&JsValue::UNDEFINED).expect("unsubscribe");
    conn.send_rtvi("client-message".into(), Some(js(json!({"t": "ping"}))))
        .expect("send");
    until("the subscribed handler to get the answer", HANG_MS, || {
        !kept.borrow().is_empty()
    })
    .await;
    assert_eq!(*dropped.borrow(), 0, "the unsubscribed handler got nothing");
    drop(f);
    let _ = conn.disconnect();
    for t in conn.local_stream().get_tracks().iter() {
        assert_eq!(get(&t, "readyState").as_string().as_deref(), Some("ended"));
    }
}

/// A getUserMedia that never answers (a permission prompt nobody clicks): the connect times out
/// or is aborted in the media phase, and nothing stays open.
#[wasm_bindgen_test]
async fn a_media_prompt_that_never_answers_times_out_in_the_media_phase() {
    record_peer_connections();
    run_js(
        "const d = navigator.mediaDevices; globalThis.__gum = d.getUserMedia; d.getUserMedia = () => new Promise(() => {});",
        &JsValue::UNDEFINED,
    );
    let err = expect_error(
        start_and_connect(runner(json!({"timeoutMs": 2000}))).await,
        "timeout",
    );
    assert_eq!(json(&get(&err, "details"))["phase"], "media");
    assert_eq!(open_peer_connections(), 0);

    // The start and the media run side by side: the abort comes once the start's answer was
    // read (the page's fetch hands it over from memory, so the SDK has it in the same task).
    run_js(
        "globalThis.__fetch = window.fetch; globalThis.__startsRead = 0;
         window.fetch = async (...x) => { const r = await globalThis.__fetch.apply(window, x);
           if (!String(x[0] && x[0].url || x[0]).endsWith('/start')) return r;
           const text = await r.text(); r.text = async () => text; r.json = async () => JSON.parse(text);
           globalThis.__startsRead++; return r; };",
        &JsValue::UNDEFINED,
    );
    let controller = web_sys::AbortController::new().unwrap();
    let options = runner(json!({"timeoutMs": 60_000}));
    set(&options, "signal", &controller.signal());
    let abort = async {
        let read = || run_js("return globalThis.__startsRead", &JsValue::UNDEFINED).as_f64();
        until("the start's answer, read", HANG_MS, || read() == Some(1.0)).await;
        controller.abort();
    };
    let (result, ()) = join(start_and_connect(options), abort).await;
    run_js(
        "window.fetch = globalThis.__fetch; navigator.mediaDevices.getUserMedia = globalThis.__gum;",
        &JsValue::UNDEFINED,
    );
    let err = expect_error(result, "aborted");
    assert_eq!(json(&get(&err, "details"))["phase"], "media");
    assert_eq!(open_peer_connections(), 0);
}
