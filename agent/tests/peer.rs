//! The echo bot behind a real peer connection: a str0m client in the test connects to the agent
//! over loopback (ICE, DTLS, SCTP, SRTP) and checks the Opus echo, pings, the peer faults, the
//! blackout, and `restart_pc`. The RTVI conversation is in `tests/rtvi.rs`.

mod common;

use std::time::{Duration, Instant};

use common::client::{debug, debug_until, drive_until, session, Client, T};
use common::Agent;
use serde_json::{json, Value};

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn echo_bot_answers_and_echoes_audio() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, json!({"from": "test"})).await;
    assert!(c.run_until(T, |c| c.open).await, "the chat channel opens");
    let hello = c.wait_for("server-message").await;
    assert_eq!(
        hello,
        json!({"label":"rtvi-ai","type":"server-message","data":{
            "text":"Connected to the agent-rtc local agent","agent":"runner","connection":1}})
    );

    c.rtvi(
        "client-ready",
        "abc1",
        json!({"version":"2.1.0","about":{"library":"test"}}),
    );
    let ready = c.wait_for("bot-ready").await;
    assert_eq!(
        ready,
        json!({"label":"rtvi-ai","type":"bot-ready","id":"abc1","data":{
            "version":"2.2.0",
            "about":{"library":"agent-rtc-agent","library_version":env!("CARGO_PKG_VERSION"),"agent":"runner"},
            "capabilities":{"audio_in":true,"audio_out":true,"video_in":false,"video_out":false,
                            "metrics":true}}})
    );

    c.rtvi(
        "client-message",
        "m7",
        json!({"t":"echo","d":{"k":[1,"two"]}}),
    );
    assert_eq!(
        c.wait_for("server-response").await,
        json!({"label":"rtvi-ai","type":"server-response","id":"m7","data":{"t":"echo","d":{"k":[1,"two"]}}})
    );

    assert!(
        c.run_until(T, |c| c.echoed() >= 20).await,
        "audio is echoed"
    );
    assert_eq!(c.silent(), 0);

    let d = debug(&a, &id).await;
    let p = &d["peers"][0];
    assert_eq!(p["state"], "connected");
    assert!(["connected", "completed"].contains(&p["iceState"].as_str().unwrap()));
    assert_eq!(p["channelOpen"], true);
    assert_eq!(p["pcId"], c.pc_id.as_str());
    assert!(p["pingsSeen"].as_u64().unwrap() >= 1);
    assert!(p["lastPingMs"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(p["pingTimedOut"], false);
    assert!(p["audioPacketsReceived"].as_u64().unwrap() >= 20);
    assert!(p["audioPacketsSent"].as_u64().unwrap() >= 20);
    assert_eq!(p["requestData"], json!({"from": "test"}));
    assert_eq!(p["restarted"], false);
    assert_eq!(p["blackouts"], json!([]));
    let kinds: Vec<Value> = p["messagesReceived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("client-ready"), json!("client-message")],
        "pings excluded"
    );
    assert_eq!(d["bot"]["clientVersion"], "2.1.0");
    assert_eq!(d["bot"]["connections"], 1);

    // Mic muted: the echo turns to silence.
    c.send_json(json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":0,"enabled":false}}));
    c.media.clear();
    assert!(
        c.run_until(T, |c| c.silent() >= 20).await,
        "muted mic echoed as silence"
    );
    let d = debug(&a, &id).await;
    assert_eq!(d["peers"][0]["trackStatus"], json!({"0": false, "1": true}));

    // The client goes away politely: the agent frees the peer; the session stays open for a
    // new offer until its TTL.
    c.rtc.close().unwrap();
    c.open = false;
    let what = "the agent to notice the client left";
    let d = drive_until(&a, &id, &mut c, what, |d| {
        d["peers"][0]["state"] == "closed"
    })
    .await;
    drop(c);
    assert_eq!(d["ended"], false);
}

/// A browser, the controlling ICE agent, starts DTLS as soon as its own check succeeds, often
/// before the agent's check of the same pair has: its ClientHello must not be ignored then (it
/// was, and the browser's 50 ms DTLS retransmission stalled one connect in six).
#[tokio::test]
async fn a_client_hello_before_the_agents_own_check_is_answered() {
    let a = Agent::start(&[]).await;
    let (_, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    c.dtls_before_agent_check = true;
    assert!(c.run_until(T, |c| c.open).await, "the chat channel opens");
    assert_eq!(
        c.client_hellos, 1,
        "the first ClientHello was answered, not sent again"
    );
}

#[tokio::test]
async fn silent_fault_sends_silence() {
    let a = Agent::start(&[]).await;
    let (_, path) = session(&a, "?fault=silent").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.silent() >= 20).await);
    assert_eq!(c.echoed(), 0);
}

#[tokio::test]
async fn a_client_that_stops_pinging_is_away_until_it_pings_again() {
    // Pipecat's ping timeout only stops the bot sending; it does not end the session.
    let a = Agent::start(&["--ping-timeout-ms", "400"]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.open && c.echoed() > 0).await);
    c.ping = false;
    let d = drive_until(&a, &id, &mut c, "the ping timeout", |d| {
        d["peers"][0]["pingTimedOut"] == true
    })
    .await;
    assert_eq!(d["ended"], false);

    // While away, the bot hears the client but sends nothing back, audio included.
    c.clear();
    c.media.clear();
    c.rtvi("client-message", "away-1", json!({"t": "echo", "d": 1}));
    let d = drive_until(&a, &id, &mut c, "the message heard while away", |d| {
        d["peers"][0]["messagesDropped"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(d["peers"][0]["messagesReceived"][0]["id"], "away-1");
    // For a while nothing comes back: no answer, no echo.
    assert!(
        !c.run_until(Duration::from_millis(600), |c| c.has("server-response"))
            .await
    );
    assert_eq!(c.echoed(), 0, "no echo while away");
    assert!(!c.has("peerLeft"));

    // Pinging again brings it back.
    c.ping = true;
    drive_until(&a, &id, &mut c, "the pings again", |d| {
        d["peers"][0]["pingTimedOut"] == false
    })
    .await;
    c.rtvi("client-message", "back-1", json!({"t": "echo", "d": 2}));
    assert_eq!(c.wait_for("server-response").await["id"], "back-1");
    assert!(c.run_until(T, |c| c.echoed() > 0).await);
    assert_eq!(debug(&a, &id).await["ended"], false);
}

#[tokio::test]
async fn the_bot_ends_when_ice_consent_expires() {
    let a = Agent::start(&["--consent-timeout-secs", "1"]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.echoed() > 0).await);
    // The client vanishes: no close, no more datagrams.
    let pc_id = c.pc_id.clone();
    drop(c);
    let gone = Instant::now();
    let d = debug_until(&a, &id, "the session's end", |d| d["ended"] == true).await;
    assert!(gone.elapsed() >= Duration::from_millis(900));
    assert_eq!(d["peers"][0]["closedReason"], "ICE consent expired");
    // The session is over: a restart offer for its pc_id is refused.
    let (c, status, body) =
        Client::offer(&a.addr, &path, json!({"pc_id": pc_id, "restart_pc": true})).await;
    assert!(c.is_none());
    assert_eq!((status, &body["code"]), (404, &json!("SESSION_NOT_FOUND")));
}

#[tokio::test]
async fn scheduled_peer_left_and_renegotiate_faults() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "?fault=renegotiate-after-0.2,peer-left-after-0.6").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.has("renegotiate")).await);
    assert!(!c.has("peerLeft"));
    assert!(c.run_until(T, |c| c.has("peerLeft")).await);
    let d = debug_until(&a, &id, "the session's end", |d| d["ended"] == true).await;
    assert!(d["peers"][0]["closedReason"]
        .as_str()
        .unwrap()
        .contains("peer-left-after"));
}

#[tokio::test]
async fn drop_after_fault_vanishes_without_peer_left() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "").await;
    let mut c = Client::connect(&a, &format!("{path}?fault=drop-after-0.3"), Value::Null).await;
    assert!(c.run_until(T, |c| c.echoed() > 0).await);
    let d = drive_until(&a, &id, &mut c, "the dropped peer", |d| {
        d["peers"][0]["state"] == "closed"
    })
    .await;
    assert_eq!(d["peers"][0]["closedReason"], "fault: drop-after");
    // For a while after the drop nothing comes: no peerLeft, no echo.
    let n = c.echoed();
    c.quiet(Duration::from_millis(500)).await;
    assert!(!c.has("peerLeft"));
    assert_eq!(c.echoed(), n, "the echo stopped");
}

#[tokio::test]
async fn blackout_fault_drops_packets_then_audio_flows_again_on_the_same_peer() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "?fault=blackout-1.5s-after-0.4s").await;
    let mut c = Client::connect(&a, &path, Value::Null).await;
    assert!(c.run_until(T, |c| c.echoed() >= 5).await, "echo before");
    let d = drive_until(&a, &id, &mut c, "the blackout", |d| {
        d["peers"][0]["blackouts"][0]["active"] == true
    })
    .await;
    let b = &d["peers"][0]["blackouts"][0];
    assert_eq!(b["trigger"], "fault");
    let planned_end = b["endMs"].as_u64().unwrap();
    assert_eq!(planned_end - b["startMs"].as_u64().unwrap(), 1500);

    // During the blackout nothing comes back (watched until shortly before it ends).
    let left = planned_end.saturating_sub(epoch_ms());
    let window = Duration::from_millis(left.saturating_sub(150).min(500));
    assert!(
        window >= Duration::from_millis(100),
        "blackout seen too late"
    );
    c.media.clear();
    c.quiet(window).await;
    assert_eq!(c.echoed(), 0, "no echo during the blackout");

    // Then the path is back: audio flows again on the same peer, and the channel works.
    assert!(
        c.run_until(T, |c| c.echoed() >= 20).await,
        "echo after the blackout"
    );
    c.rtvi("client-message", "after", json!({"t": "echo", "d": "ok"}));
    assert_eq!(c.wait_for("server-response").await["id"], "after");
    let d = debug(&a, &id).await;
    let peers = d["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "the same peer");
    let p = &peers[0];
    assert_eq!(p["state"], "connected");
    assert_eq!(p["pcId"], c.pc_id.as_str());
    let b = &p["blackouts"][0];
    assert_eq!(b["active"], false);
    let (start, end) = (b["startMs"].as_u64().unwrap(), b["endMs"].as_u64().unwrap());
    // It ends on time (the bound only catches an end far too late on a loaded machine).
    assert!(
        (1450..3000).contains(&(end - start)),
        "lasted {} ms",
        end - start
    );
    eprintln!("blackout record: {b}");
    // 50 frames a second plus pings and RTCP came in; STUN or RTCP went out.
    assert!(b["packetsDroppedIn"].as_u64().unwrap() >= 30, "{b}");
    assert!(b["packetsDroppedOut"].as_u64().unwrap() >= 1, "{b}");
    assert_eq!(p["blackouts"].as_array().unwrap().len(), 1, "once");
    assert_eq!(d["ended"], false);
}

#[tokio::test]
async fn restart_pc_during_a_blackout_continues_the_session_then_disconnect_bot_ends_it() {
    let a = Agent::start(&[]).await;
    let (id, path) = session(&a, "").await;
    let mut old = Client::connect(&a, &path, Value::Null).await;
    assert!(old.run_until(T, |c| c.open).await);
    old.rtvi("client-ready", "r1", json!({"version": "2.1.0"}));
    old.wait_for("bot-ready").await;
    // A function call the bot will still wait for after the restart.
    old.rtvi(
        "send-text",
        "s1",
        json!({"content": "Paris", "options": {"run_immediately": true, "audio_response": false}}),
    );
    let call = old.wait_for("llm-function-call-in-progress").await;
    assert_eq!(call["data"]["tool_call_id"], "call_0001");

    // Cut the media path now, for longer than the test needs.
    let r = a
        .send(
            "POST",
            &format!("/debug/sessions/{id}/blackout?ms=5000"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["pcId"], old.pc_id.as_str());
    assert_eq!(
        (b["trigger"].clone(), b["active"].clone()),
        (json!("debug"), json!(true))
    );
    assert_eq!(
        b["endMs"].as_u64().unwrap() - b["startMs"].as_u64().unwrap(),
        5000
    );
    old.media.clear();
    old.quiet(Duration::from_millis(300)).await;
    assert_eq!(old.echoed(), 0, "the old peer is cut off");

    // The client restarts the peer connection: a new peer under a new pc_id, the same bot.
    let (new, status, body) = Client::offer(
        &a.addr,
        &path,
        json!({"pc_id": old.pc_id, "restart_pc": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut new = new.unwrap();
    assert_ne!(new.pc_id, old.pc_id, "the runner names the new peer anew");
    let hello = new.wait_for("server-message").await;
    assert_eq!(hello["data"]["connection"], 2, "on_client_connected again");
    new.rtvi("client-ready", "r2", json!({"version": "2.1.0"}));
    assert_eq!(new.wait_for("bot-ready").await["id"], "r2");
    // The bot kept its state: the call made before the cut completes on the new channel.
    new.rtvi(
        "llm-function-call-result",
        "f1",
        json!({"function_name": "get_weather", "tool_call_id": "call_0001",
               "arguments": {"location": "Paris"}, "result": {"sky": "clear"}}),
    );
    assert_eq!(
        new.wait_for("llm-function-call-stopped").await,
        json!({"label":"rtvi-ai","type":"llm-function-call-stopped","data":{
            "tool_call_id":"call_0001","cancelled":false,"function_name":"get_weather",
            "result":{"sky":"clear"}}})
    );
    let result = new
        .messages()
        .into_iter()
        .find(|m| m["data"]["type"] == "function-result")
        .expect("function-result server-message");
    assert_eq!(result["data"]["result"], json!({"sky": "clear"}));
    assert!(
        new.run_until(T, |c| c.echoed() >= 20).await,
        "echo on the new peer"
    );

    let d = debug(&a, &id).await;
    assert_eq!(d["ended"], false);
    let peers = d["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0]["state"], "closed");
    assert_eq!(peers[0]["closedReason"], "replaced (restart_pc)");
    assert!(
        peers[0]["blackouts"][0]["packetsDroppedIn"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(peers[1]["pcId"], new.pc_id.as_str());
    assert_eq!(peers[1]["restarted"], true);
    assert_eq!(peers[1]["state"], "connected");
    assert_eq!(peers[1]["blackouts"], json!([]));
    assert_eq!(d["bot"]["connections"], 2);
    assert_eq!(d["bot"]["functionCalls"][0]["completed"], true);

    // disconnect-bot ends the bot for good: peerLeft, the session is over, offers get 404.
    new.rtvi("disconnect-bot", "bye", Value::Null);
    assert!(new.run_until(T, |c| c.has("peerLeft")).await);
    let d = debug_until(&a, &id, "the session's end", |d| d["ended"] == true).await;
    assert_eq!(d["peers"][1]["closedReason"], "disconnect-bot");
    assert_eq!(d["bot"]["ended"], "disconnect-bot");
    let (none, status, body) = Client::offer(
        &a.addr,
        &path,
        json!({"pc_id": old.pc_id, "restart_pc": true}),
    )
    .await;
    assert!(none.is_none());
    assert_eq!((status, &body["code"]), (404, &json!("SESSION_NOT_FOUND")));
}

#[tokio::test]
async fn ice_never_fault_never_connects() {
    let a = Agent::start(&[]).await;
    let r = a
        .send(
            "POST",
            "/start",
            &[("x-agent-fault", "ice-never")],
            Some("{}"),
        )
        .await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let mut c = Client::connect(&a, &format!("/sessions/{id}/api/offer"), Value::Null).await;
    assert!(!c.run_until(Duration::from_secs(2), |c| c.open).await);
    let d = debug(&a, &id).await;
    assert_ne!(d["peers"][0]["state"], "connected");
    assert_eq!(d["fault"], "ice-never");
}

#[tokio::test]
async fn no_bot_ready_fault() {
    let a = Agent::start(&[]).await;
    let r = a
        .post("/v1/public/fault-no-bot-ready/start", &json!({}))
        .await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let mut c = Client::connect(
        &a,
        &format!("/v1/public/fault-no-bot-ready/sessions/{id}/api/offer"),
        Value::Null,
    )
    .await;
    assert!(c.run_until(T, |c| c.open).await);
    c.rtvi("client-ready", "r1", json!({"version": "2.1.0"}));
    c.rtvi("client-message", "m1", json!({"t": "x"}));
    assert!(c.run_until(T, |c| c.has("server-response")).await);
    assert!(
        !c.run_until(Duration::from_millis(300), |c| c.has("bot-ready"))
            .await
    );
}

/// Resident memory of a process in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn ten_live_sessions_and_memory() {
    let a = Agent::start(&[]).await;
    let pid = a.child.id().unwrap();
    let idle = rss_kib(pid);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<usize>(10);
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (id, path) = session(&a, "").await;
        ids.push(id);
        let addr = a.addr.clone();
        let stop = stop_rx.clone();
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect_at(&addr, &path, Value::Null).await;
            assert!(
                c.run_until(T, |c| c.echoed() >= 25).await,
                "echo on each session"
            );
            ready.send(c.echoed()).await.unwrap();
            // Stay connected (pings, audio) until the measurement is done.
            c.run_until(Duration::from_secs(30), |_| *stop.borrow())
                .await;
            c.echoed()
        }));
    }
    for _ in 0..10 {
        tokio::time::timeout(T, ready_rx.recv())
            .await
            .expect("all ten sessions echo");
    }
    let live = rss_kib(pid);
    for id in &ids {
        let d = debug(&a, id).await;
        assert_eq!(d["peers"][0]["state"], "connected", "{d}");
    }
    stop_tx.send(true).unwrap();
    for t in tasks {
        assert!(t.await.unwrap() >= 25);
    }
    println!("agent RSS: {idle} KiB idle, {live} KiB with 10 live connected sessions");
    assert!(live < 100 * 1024, "RSS {live} KiB stays under 100 MiB");
}
