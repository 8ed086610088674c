//! The agent's HTTP surface, exercised against the built binary: every route, each refusal,
//! the limits, session expiry and the start/offer faults.

mod common;

use std::time::{Duration, Instant};

use common::client::T;
use common::{quiet, request, until, Agent, OFFER};
use serde_json::{json, Value};

fn offer_body() -> Value {
    json!({"sdp": OFFER, "type": "offer", "pc_id": null, "restart_pc": false})
}

#[tokio::test]
async fn health_and_ready_line() {
    let a = Agent::start(&[]).await;
    assert!(a.addr.starts_with("127.0.0.1:"));
    let r = a.get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"ok": true}));
    assert_eq!(a.terminate().await, Some(0));
    let b = Agent::start(&[]).await;
    assert_eq!(b.signal("-INT").await, Some(0), "Ctrl-C exits 0");
}

/// This machine's own non-loopback address, if it has one (a UDP connect sends nothing).
fn interface_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    for target in ["192.0.2.255:9", "10.255.255.255:9", "172.31.255.255:9"] {
        if s.connect(target).is_ok() {
            let ip = s.local_addr().ok()?.ip();
            if !ip.is_loopback() && !ip.is_unspecified() {
                return Some(ip);
            }
        }
    }
    None
}

#[tokio::test]
async fn debug_routes_refuse_non_loopback_clients() {
    let Some(ip) = interface_address() else {
        eprintln!("skipped: this machine has no non-loopback address to connect from");
        return;
    };
    let a = Agent::start(&["--host", "0.0.0.0"]).await;
    let port = a.addr.rsplit(':').next().unwrap();
    let remote = format!("{ip}:{port}");
    let id = a.session().await;
    let room = a
        .post("/start", &json!({"createDailyRoom": true}))
        .await
        .json();
    let room_page = format!(
        "/daily/{}?t={}",
        room["sessionId"].as_str().unwrap(),
        room["dailyToken"].as_str().unwrap()
    );
    for path in [
        format!("/debug/sessions/{id}"),
        "/debug/requests?tag=x".to_string(),
        room_page,
    ] {
        let r = request(&remote, "GET", &path, &[], None).await.unwrap();
        r.assert_error(403, "FORBIDDEN");
        assert_eq!(a.get(&path).await.status, 200, "loopback still answered");
    }
    let blackout = format!("/debug/sessions/{id}/blackout?ms=100");
    let r = request(&remote, "POST", &blackout, &[], None)
        .await
        .unwrap();
    r.assert_error(403, "FORBIDDEN");
    let r = request(&remote, "GET", "/health", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn blackout_route_and_its_refusals() {
    let a = Agent::start(&[]).await;
    a.send("POST", "/debug/sessions/nope/blackout?ms=100", &[], None)
        .await
        .assert_error(404, "SESSION_NOT_FOUND");
    let id = a.session().await;
    let route = format!("/debug/sessions/{id}/blackout");
    a.send("POST", &format!("{route}?ms=100"), &[], None)
        .await
        .assert_error(409, "NO_LIVE_PEER");
    let pc = check_answer(
        &a.post(&format!("/sessions/{id}/api/offer"), &offer_body())
            .await,
    );
    for bad in [
        "",
        "?ms=",
        "?ms=0",
        "?ms=abc",
        "?ms=-5",
        "?ms=600001",
        "?ms=1.5",
    ] {
        a.send("POST", &format!("{route}{bad}"), &[], None)
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let r = a.send("POST", &format!("{route}?ms=250"), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["pcId"], pc.as_str());
    assert_eq!(b["trigger"], "debug");
    assert_eq!(b["active"], true);
    assert_eq!(
        (
            b["packetsDroppedIn"].clone(),
            b["packetsDroppedOut"].clone()
        ),
        (json!(0), json!(0))
    );
    let start = b["startMs"].as_u64().unwrap();
    assert!(
        start >= before && start < before + 1000,
        "{start} vs {before}"
    );
    assert_eq!(b["endMs"].as_u64().unwrap(), start + 250);
    let d = until("the blackout's end", T, || async {
        let d = a.get(&format!("/debug/sessions/{id}")).await.json();
        (d["peers"][0]["blackouts"][0]["active"] == false).then_some(d)
    })
    .await;
    let rec = &d["peers"][0]["blackouts"][0];
    assert!(rec["endMs"].as_u64().unwrap() >= start + 250);

    // The fault's form is checked like every other item.
    for bad in [
        "blackout-0s",
        "blackout-x",
        "blackout-3s-after-",
        "rtvi-version-2",
    ] {
        a.post(&format!("/start?fault={bad}"), &json!({}))
            .await
            .assert_error(400, "INVALID_FAULT");
    }
    let r = a
        .post("/start?fault=blackout-3s-after-2s", &json!({}))
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .post("/v1/public/fault-blackout-3s/start", &json!({}))
        .await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let d = a.get(&format!("/debug/sessions/{id}")).await.json();
    assert_eq!(d["fault"], "blackout-3s", "the agent name carries it too");
}

#[tokio::test]
async fn bad_command_line_exits_2() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_agent-rtc-agent"))
        .args(["--port", "nope"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port"));
}

#[tokio::test]
async fn start_routes_for_each_platform() {
    let a = Agent::start(&[]).await;
    let runner = a.post("/start", &json!({})).await;
    assert_eq!(runner.status, 200);
    let id = runner.json()["sessionId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(
        runner.json().get("iceConfig").is_none(),
        "no ICE servers unless configured"
    );

    let cloud = a
        .post("/v1/public/my-agent/start", &json!({"body": {"x": 1}}))
        .await;
    assert_eq!(cloud.status, 200);
    assert!(cloud.json()["sessionId"].is_string());

    let butter = a
        .post("/api/start/agent_123", &json!({"transport": "webrtc"}))
        .await;
    assert_eq!(butter.status, 200);
    assert!(butter.json()["sessionId"]
        .as_str()
        .unwrap()
        .starts_with("call_"));

    a.post("/api/start/not-an-agent", &json!({}))
        .await
        .assert_error(404, "AGENT_NOT_FOUND");

    // An empty body is an empty request.
    let empty = a.send("POST", "/start", &[], None).await;
    assert_eq!(empty.status, 200);
    assert!(empty.json()["sessionId"].is_string());

    // Ids differ.
    assert_ne!(a.session().await, a.session().await);
}

#[tokio::test]
async fn start_refuses_other_transports_and_bad_bodies() {
    let a = Agent::start(&[]).await;
    for body in [
        json!({"transport": "websocket", "createDailyRoom": true}),
        json!({"transport": "carrier-pigeon"}),
    ] {
        let r = a.post("/start", &body).await;
        r.assert_error(400, "UNSUPPORTED_TRANSPORT");
    }
    // A socket and a Daily room do not go together (the WebSocket transport: tests/websocket.rs).
    assert!(a
        .post(
            "/start",
            &json!({"transport": "websocket", "createDailyRoom": true})
        )
        .await
        .json()["error"]
        .as_str()
        .unwrap()
        .contains("websocket"));
    a.send("POST", "/start", &[], Some("{not json"))
        .await
        .assert_error(400, "INVALID_JSON");
    a.send("POST", "/start", &[], Some("[1,2]"))
        .await
        .assert_error(400, "INVALID_REQUEST");
    // createDailyRoom false and enableDefaultIceServers are fine.
    let ok = a
        .post(
            "/start",
            &json!({"createDailyRoom": false, "enableDefaultIceServers": true}),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.json().get("iceConfig").is_none(),
        "never reaches for public STUN"
    );
}

#[tokio::test]
async fn start_with_a_daily_room_and_its_stand_in_page() {
    let a = Agent::start(&[]).await;
    let base = format!("http://{}", a.addr);
    for (route, body) in [
        ("/start", json!({"createDailyRoom": true})),
        ("/start", json!({"transport": "daily"})),
        (
            "/api/start/agent_x",
            json!({"createDailyRoom": true, "dailyRoomProperties": {"start_video_off": true}}),
        ),
        (
            "/v1/public/bot/start",
            json!({"transport": "daily", "createDailyRoom": true}),
        ),
    ] {
        let r = a.post(route, &body).await;
        assert_eq!(r.status, 200, "{route} {body}: {}", r.text());
        let b = r.json();
        let id = b["sessionId"].as_str().unwrap().to_string();
        let room = b["dailyRoom"].as_str().unwrap();
        assert_eq!(
            room,
            format!("{base}/daily/{id}"),
            "on the agent's own address"
        );
        let token = b["dailyToken"].as_str().unwrap().to_string();
        assert!(
            token.len() >= 32 && token.bytes().all(|c| c.is_ascii_hexdigit()),
            "{token}"
        );
        assert!(!id.contains(&token) && !room.contains(&token));
        if route.starts_with("/api/start/") {
            assert!(id.starts_with("call_"));
        }

        let path = format!("/daily/{id}");
        let page = a.get(&format!("{path}?t={token}")).await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains(&format!("Daily room stand-in: {id}")));
        assert!(
            !page.text().contains(&token),
            "the page does not echo the token"
        );
        a.get(&path).await.assert_error(403, "INVALID_TOKEN");
        a.get(&format!("{path}?t=nope"))
            .await
            .assert_error(403, "INVALID_TOKEN");

        // The session exists; its record says what the start asked for, never the token.
        let d = a.get(&format!("/debug/sessions/{id}")).await;
        assert_eq!(d.status, 200);
        assert!(!d.text().contains(&token), "the debug record has no token");
        let d = d.json();
        assert_eq!(d["ended"], false);
        assert_eq!(d["daily"]["room"], room);
        assert_eq!(d["daily"]["pageLoads"], 1);
        assert_eq!(d["daily"]["createDailyRoom"], body["createDailyRoom"]);
        assert_eq!(d["daily"]["transport"], body["transport"]);
    }
    // Tokens differ from start to start; a plain start has no room.
    let t1 = a
        .post("/start", &json!({"createDailyRoom": true}))
        .await
        .json();
    let t2 = a
        .post("/start", &json!({"createDailyRoom": true}))
        .await
        .json();
    assert_ne!(t1["dailyToken"], t2["dailyToken"]);
    let plain = a
        .post("/start", &json!({"transport": "webrtc"}))
        .await
        .json();
    assert!(plain.get("dailyRoom").is_none() && plain.get("dailyToken").is_none());
    let id = plain["sessionId"].as_str().unwrap();
    assert_eq!(
        a.get(&format!("/debug/sessions/{id}")).await.json()["daily"],
        Value::Null
    );
    a.get(&format!("/daily/{id}?t=x"))
        .await
        .assert_error(404, "ROOM_NOT_FOUND");
    a.get("/daily/nope?t=x")
        .await
        .assert_error(404, "ROOM_NOT_FOUND");
}

#[tokio::test]
async fn daily_room_on_loopback_when_listening_everywhere() {
    let a = Agent::start(&["--host", "0.0.0.0"]).await;
    let port = a.addr.rsplit(':').next().unwrap();
    let b = a
        .post("/start", &json!({"createDailyRoom": true}))
        .await
        .json();
    let room = b["dailyRoom"].as_str().unwrap();
    assert!(
        room.starts_with(&format!("http://127.0.0.1:{port}/daily/")),
        "{room}"
    );
}

#[tokio::test]
async fn ice_servers_from_flags_and_env() {
    let a = Agent::start(&[
        "--ice-server",
        "stun:127.0.0.1:3478",
        "--ice-server",
        "turn:127.0.0.1:3479",
    ])
    .await;
    let r = a.post("/start", &json!({})).await;
    assert_eq!(
        r.json()["iceConfig"],
        json!({"iceServers": [{"urls": ["stun:127.0.0.1:3478", "turn:127.0.0.1:3479"]}]})
    );
    let b = Agent::start_env(
        &[],
        &[("ICE_SERVERS", "stun:127.0.0.1:1, stun:127.0.0.1:2")],
    )
    .await;
    let r = b.post("/v1/public/x/start", &json!({})).await;
    assert_eq!(
        r.json()["iceConfig"]["iceServers"][0]["urls"],
        json!(["stun:127.0.0.1:1", "stun:127.0.0.1:2"])
    );
}

#[tokio::test]
async fn api_key_guards_cloud_routes_only() {
    let a = Agent::start(&["--api-key", "k-123"]).await;
    a.post("/v1/public/x/start", &json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    a.send(
        "POST",
        "/v1/public/x/start",
        &[("authorization", "Bearer wrong")],
        Some("{}"),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    let ok = a
        .send(
            "POST",
            "/v1/public/x/start",
            &[("authorization", "Bearer k-123")],
            Some("{}"),
        )
        .await;
    assert_eq!(ok.status, 200);
    let id = ok.json()["sessionId"].as_str().unwrap().to_string();

    // The cloud offer route checks the key too.
    let path = format!("/v1/public/x/sessions/{id}/api/offer");
    let body = offer_body().to_string();
    a.send("POST", &path, &[], Some(&body))
        .await
        .assert_error(401, "UNAUTHORIZED");
    let r = a
        .send(
            "POST",
            &path,
            &[("authorization", "Bearer k-123")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Runner and Butter routes do not need it.
    assert_eq!(a.post("/start", &json!({})).await.status, 200);
    assert_eq!(a.post("/api/start/agent_x", &json!({})).await.status, 200);

    // The key can come from the environment.
    let b = Agent::start_env(&[], &[("AGENT_API_KEY", "envkey")]).await;
    b.post("/v1/public/x/start", &json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn body_limit_gives_413() {
    let a = Agent::start(&["--max-body-bytes", "200"]).await;
    let big = json!({"body": {"pad": "x".repeat(300)}});
    a.post("/start", &big)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let id = a.session().await;
    a.post(&format!("/sessions/{id}/api/offer"), &offer_body())
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        a.post("/start", &json!({"body": {"pad": "small"}}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn capacity_gives_503_and_frees_on_expiry() {
    let a = Agent::start(&["--max-sessions", "2", "--session-ttl-secs", "0.4"]).await;
    a.session().await;
    a.session().await;
    a.post("/start", &json!({}))
        .await
        .assert_error(503, "CAPACITY");
    // The session-less offer route counts too.
    a.post("/api/offer", &offer_body())
        .await
        .assert_error(503, "CAPACITY");
    // The two expire 0.4 s in, and their slots are free again.
    until("a slot freed by expiry", T, || async {
        a.post("/start", &json!({})).await.status == 200
    })
    .await;
}

#[tokio::test]
async fn session_without_offer_expires() {
    let a = Agent::start(&["--session-ttl-secs", "0.3"]).await;
    let id = a.session().await;
    // Its record stays readable for the tests, marked ended once it expired (0.3 s in).
    until("the session's expiry", T, || async {
        let d = a.get(&format!("/debug/sessions/{id}")).await;
        d.status == 200 && d.json()["ended"] == true
    })
    .await;
    let r = a
        .post(&format!("/sessions/{id}/api/offer"), &offer_body())
        .await;
    r.assert_error(404, "SESSION_NOT_FOUND");

    // A session that got its offer in time stays.
    let id = a.session().await;
    let r = a
        .post(&format!("/sessions/{id}/api/offer"), &offer_body())
        .await;
    assert_eq!(r.status, 200);
    // Past the TTL, for a while nothing ends it.
    quiet(Duration::from_millis(600)).await;
    let r = a
        .patch(
            &format!("/sessions/{id}/api/offer"),
            &json!({"pc_id": r.json()["pc_id"], "candidates": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn unknown_session_is_404() {
    let a = Agent::start(&[]).await;
    for path in [
        "/sessions/nope/api/offer",
        "/v1/public/x/sessions/nope/api/offer",
        "/api/sessions/nope/api/offer",
    ] {
        a.post(path, &offer_body())
            .await
            .assert_error(404, "SESSION_NOT_FOUND");
        a.patch(path, &json!({"pc_id": "p", "candidates": []}))
            .await
            .assert_error(404, "SESSION_NOT_FOUND");
    }
    a.get("/debug/sessions/nope")
        .await
        .assert_error(404, "SESSION_NOT_FOUND");
}

/// Checks an answer: the shape, and that only 127.0.0.1 host candidates are offered.
fn check_answer(r: &common::Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["type"], "answer");
    let sdp = j["sdp"].as_str().unwrap();
    assert!(sdp.starts_with("v=0"));
    let candidates: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate"))
        .collect();
    assert!(!candidates.is_empty(), "host candidates inline: {sdp}");
    for c in candidates {
        assert!(c.contains(" 127.0.0.1 ") && c.contains("typ host"), "{c}");
    }
    assert!(sdp.contains("a=group:BUNDLE"), "bundled answer");
    j["pc_id"].as_str().expect("pc_id").to_string()
}

#[tokio::test]
async fn offer_answer_on_every_route() {
    let a = Agent::start(&[]).await;
    let plain = a.post("/api/offer", &offer_body()).await;
    check_answer(&plain);

    let id = a.session().await;
    check_answer(
        &a.post(&format!("/sessions/{id}/api/offer"), &offer_body())
            .await,
    );
    let id = a.session().await;
    check_answer(
        &a.post(
            &format!("/v1/public/some-agent/sessions/{id}/api/offer"),
            &offer_body(),
        )
        .await,
    );
    let r = a.post("/api/start/agent_b", &json!({})).await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    check_answer(
        &a.post(&format!("/api/sessions/{id}/api/offer"), &offer_body())
            .await,
    );
}

#[tokio::test]
async fn renegotiation_restart_and_trickle() {
    let a = Agent::start(&[]).await;
    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer");
    let mut first = offer_body();
    first["request_data"] = json!({"who": "snake"});
    let pc = check_answer(&a.post(&path, &first).await);

    // Renegotiation with the known pc_id keeps the peer.
    let mut again = offer_body();
    again["pc_id"] = json!(pc);
    again["requestData"] = json!({"ignored": "camel on renegotiation"});
    assert_eq!(check_answer(&a.post(&path, &again).await), pc);
    let d = a.get(&format!("/debug/sessions/{id}")).await.json();
    assert_eq!(d["peers"].as_array().unwrap().len(), 1);
    assert_eq!(d["peers"][0]["renegotiations"], 1);
    assert_eq!(d["peers"][0]["requestData"], json!({"who": "snake"}));
    assert_eq!(d["peers"][0]["pcId"], pc.as_str());
    assert!(["new", "connecting"].contains(&d["peers"][0]["state"].as_str().unwrap()));
    assert_eq!(d["peers"][0]["channelOpen"], false);
    assert_eq!(d["peers"][0]["trackStatus"], json!({"0": true, "1": true}));

    // Trickle.
    let r = a
        .patch(
            &path,
            &json!({"pc_id": pc, "candidates": [
                {"candidate": "candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host", "sdp_mid": "0", "sdp_mline_index": 0},
                {"candidate": "candidate:2 1 udp 2113937151 abc.local 50001 typ host", "sdp_mid": "0", "sdp_mline_index": 0}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "success"}));
    // An empty candidate (end-of-candidates) is not part of this protocol: the runner's parser
    // fails on it after adding the ones before it.
    let r = a
        .patch(
            &path,
            &json!({"pc_id": pc, "candidates": [
                {"candidate": "candidate:3 1 udp 2113937151 127.0.0.1 50002 typ host", "sdp_mid": "0", "sdp_mline_index": 0},
                {"candidate": "", "sdp_mid": "0", "sdp_mline_index": 0},
                {"candidate": "candidate:4 1 udp 2113937151 127.0.0.1 50003 typ host", "sdp_mid": "0", "sdp_mline_index": 0}
            ]}),
        )
        .await;
    assert_eq!(r.status, 500);

    // restart_pc replaces the peer.
    let mut restart = offer_body();
    restart["pc_id"] = json!(pc);
    restart["restart_pc"] = json!(true);
    restart["requestData"] = json!({"camel": true});
    // As Pipecat 1.14: the same bot's new peer gets a new pc_id.
    let pc2 = check_answer(&a.post(&path, &restart).await);
    assert_ne!(pc2, pc, "a restart names the new peer anew");
    let d = until("the first peer closed by the restart", T, || async {
        let d = a.get(&format!("/debug/sessions/{id}")).await.json();
        (d["peers"][0]["state"] == "closed").then_some(d)
    })
    .await;
    let peers = d["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(
        peers[0]["candidatesReceived"], 3,
        "two, then one before the empty one"
    );
    assert_eq!(peers[0]["state"], "closed");
    assert!(peers[0]["closedReason"]
        .as_str()
        .unwrap()
        .contains("restart_pc"));
    assert_eq!(peers[1]["requestData"], json!({"camel": true}));
    assert!(peers[1]["closedReason"].is_null());
    assert_eq!(peers[1]["restarted"], true);

    // The old id still reaches the new peer, as the runner's map keeps it: a PATCH, and a
    // late restart offer naming it, which replaces the new peer (the bot carries on).
    let none = json!({"pc_id": pc, "candidates": []});
    assert_eq!(a.patch(&path, &none).await.status, 200);
    let late = check_answer(&a.post(&path, &restart).await);
    assert!(late != pc && late != pc2);
    let d = until("the second peer closed by the late restart", T, || async {
        let d = a.get(&format!("/debug/sessions/{id}")).await.json();
        (d["peers"][1]["state"] == "closed").then_some(d)
    })
    .await;
    let peers = d["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3);
    assert_eq!(peers[1]["state"], "closed");
    assert_eq!(peers[2]["restarted"], true);

    // An unknown pc_id on POST starts a new peer with a new id.
    let mut other = offer_body();
    other["pc_id"] = json!("pc-unknown");
    let pc3 = check_answer(&a.post(&path, &other).await);
    assert_ne!(pc3, "pc-unknown");
}

#[tokio::test]
async fn no_trickle_after_an_offer_that_ended_its_candidates() {
    // Firefox's local description says `a=end-of-candidates` once gathering is done; aiortc then
    // refuses any trickled candidate (ValueError → 500) and adds none.
    let a = Agent::start(&[]).await;
    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer");
    let ended = OFFER.replacen("a=ice-ufrag:", "a=end-of-candidates\r\na=ice-ufrag:", 1);
    assert_ne!(ended, OFFER);
    let mut body = offer_body();
    body["sdp"] = json!(ended);
    let pc = check_answer(&a.post(&path, &body).await);
    let candidate = json!({"pc_id": pc, "candidates": [
        {"candidate": "candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}
    ]});
    assert_eq!(a.patch(&path, &candidate).await.status, 500);
    let none = json!({"pc_id": pc, "candidates": []});
    assert_eq!(a.patch(&path, &none).await.status, 200);
    let d = a.get(&format!("/debug/sessions/{id}")).await.json();
    assert_eq!(d["peers"][0]["candidatesEnded"], true);
    assert_eq!(d["peers"][0]["candidatesReceived"], 0);

    // An offer without it takes them, as before.
    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer");
    let pc = check_answer(&a.post(&path, &offer_body()).await);
    let candidate = json!({"pc_id": pc, "candidates": candidate["candidates"]});
    assert_eq!(a.patch(&path, &candidate).await.status, 200);
}

#[tokio::test]
async fn patch_and_post_refusals() {
    let a = Agent::start(&[]).await;
    // Unknown pc_id: 404 with FastAPI detail on /api/offer, 400 on the session routes.
    let r = a
        .patch("/api/offer", &json!({"pc_id": "nope", "candidates": []}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Peer connection not found"}));
    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer");
    let r = a
        .patch(&path, &json!({"pc_id": "nope", "candidates": []}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detail"], "Peer connection not found");

    // A POST without sdp: 422. Invalid JSON: 400. Unparseable SDP: 400.
    let r = a.post(&path, &json!({"type": "offer"})).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = a
        .post("/api/offer", &json!({"type": "offer", "pc_id": null}))
        .await;
    assert_eq!(r.status, 422);
    a.send("POST", &path, &[], Some("{"))
        .await
        .assert_error(400, "INVALID_JSON");
    a.post(&path, &json!({"sdp": "v=0 nonsense", "type": "offer"}))
        .await
        .assert_error(400, "INVALID_SDP");
    a.post(&path, &json!({"sdp": OFFER, "type": "answer"}))
        .await
        .assert_error(400, "INVALID_SDP");
    // PATCH without pc_id: 422.
    assert_eq!(a.patch(&path, &json!({"candidates": []})).await.status, 422);

    // The plain route: trickle to a known pc_id works.
    let pc = check_answer(&a.post("/api/offer", &offer_body()).await);
    let r = a
        .patch(
            "/api/offer",
            &json!({"pc_id": pc, "candidates": [{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn start_status_faults_in_every_style() {
    let a = Agent::start(&[]).await;
    for status in [400u16, 401, 403, 404, 429, 500, 502, 503] {
        // By agent name, by query, by header.
        a.post(
            &format!("/v1/public/fault-start-{status}/start"),
            &json!({}),
        )
        .await
        .assert_error(status, "FAULT");
        a.post(&format!("/start?fault=start-{status}"), &json!({}))
            .await
            .assert_error(status, "FAULT");
        let hv = format!("start-{status}");
        a.send("POST", "/start", &[("x-agent-fault", &hv)], Some("{}"))
            .await
            .assert_error(status, "FAULT");
    }
    a.post("/api/start/agent_fault-start-429", &json!({}))
        .await
        .assert_error(429, "FAULT");

    let r = a.post("/start?fault=start-500-detail", &json!({})).await;
    assert_eq!(r.status, 500);
    assert!(r.json()["detail"].is_string());

    let r = a.post("/start?fault=start-502-text", &json!({})).await;
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r.body.len() >= 600, "{}", r.body.len());
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    let r = a
        .send(
            "POST",
            "/v1/public/fault-start-401-echo/start",
            &[("authorization", "Bearer pk_secret_123")],
            Some("{}"),
        )
        .await;
    r.assert_error(401, "FAULT");
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("Bearer pk_secret_123"));

    let r = a.post("/start?fault=start-nonjson", &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok");
    let r = a.post("/start?fault=start-nosession", &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));

    // Unknown fault items are refused loudly; query values are percent-decoded.
    a.post("/start?fault=start-999", &json!({}))
        .await
        .assert_error(400, "INVALID_FAULT");
    a.post("/start?fault=delay-start-1%2Cstart-418", &json!({}))
        .await
        .assert_error(418, "FAULT");
}

#[tokio::test]
async fn hanging_and_delayed_faults() {
    let a = Agent::start(&[]).await;
    for path in [
        "/start?fault=start-hang",
        "/v1/public/fault-start-hang/start",
    ] {
        let r = tokio::time::timeout(
            Duration::from_millis(800),
            request(&a.addr, "POST", path, &[], Some(b"{}")),
        )
        .await;
        assert!(r.is_err(), "no answer from a hanging start");
    }
    let t = Instant::now();
    let r = a.post("/start?fault=delay-start-300", &json!({})).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer?fault=offer-hang");
    let r = tokio::time::timeout(
        Duration::from_millis(800),
        request(
            &a.addr,
            "POST",
            &path,
            &[],
            Some(offer_body().to_string().as_bytes()),
        ),
    )
    .await;
    assert!(r.is_err(), "no answer from a hanging offer");

    let t = Instant::now();
    let r = a
        .post(
            &format!("/sessions/{id}/api/offer?fault=delay-offer-250"),
            &offer_body(),
        )
        .await;
    check_answer(&r);
    assert!(t.elapsed() >= Duration::from_millis(250));

    // The server still shuts down promptly with a hanging request in flight.
    let hold = tokio::spawn({
        let addr = a.addr.clone();
        let tag = [("x-test-tag", "held-at-shutdown")];
        async move { request(&addr, "POST", "/start?fault=start-hang", &tag, Some(b"{}")).await }
    });
    until("the hanging start at the agent", T, || async {
        let seen = a.get("/debug/requests?tag=held-at-shutdown").await.json();
        seen.as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    assert_eq!(a.terminate().await, Some(0));
    hold.abort();
}

#[tokio::test]
async fn offer_faults_and_session_memory() {
    let a = Agent::start(&[]).await;
    // A session started with a fault applies it to its offers.
    let r = a.post("/v1/public/fault-offer-500/start", &json!({})).await;
    assert_eq!(r.status, 200, "start itself is fine");
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    a.post(
        &format!("/v1/public/fault-offer-500/sessions/{id}/api/offer"),
        &offer_body(),
    )
    .await
    .assert_error(500, "FAULT");
    let d = a.get(&format!("/debug/sessions/{id}")).await.json();
    assert_eq!(d["fault"], "offer-500");

    let r = a.post("/start?fault=offer-404-detail", &json!({})).await;
    let id = r.json()["sessionId"].as_str().unwrap().to_string();
    let r = a
        .post(&format!("/sessions/{id}/api/offer"), &offer_body())
        .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());

    let id = a.session().await;
    let path = format!("/sessions/{id}/api/offer");
    let r = a
        .post(&format!("{path}?fault=offer-badsdp"), &offer_body())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"sdp": "v=0 garbage", "type": "answer", "pc_id": "x"})
    );

    let r = a
        .post(&format!("{path}?fault=offer-nopcid"), &offer_body())
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("pc_id").is_none());
    assert!(r.json()["sdp"].as_str().unwrap().starts_with("v=0"));

    let pc = check_answer(&a.post(&path, &offer_body()).await);
    let hv = [("x-agent-fault", "patch-503")];
    let body = json!({"pc_id": pc, "candidates": []}).to_string();
    a.send("PATCH", &path, &hv, Some(&body))
        .await
        .assert_error(503, "FAULT");
    // Status faults for the offer do not touch PATCH, and the reverse.
    let r = a
        .send(
            "PATCH",
            &format!("{path}?fault=offer-500"),
            &[],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 200);
    check_answer(
        &a.post(&format!("{path}?fault=patch-500"), &offer_body())
            .await,
    );
    // Plain route faults come from query or header.
    a.post("/api/offer?fault=offer-429", &offer_body())
        .await
        .assert_error(429, "FAULT");
}

#[tokio::test]
async fn request_log_by_tag() {
    let a = Agent::start(&["--api-key", "k"]).await;
    let tag = [("x-test-tag", "t-42"), ("authorization", "Bearer nope")];
    a.send(
        "POST",
        "/v1/public/x/start?a=1",
        &tag,
        Some(r#"{"body":{"q":1}}"#),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    a.send("POST", "/start?fault=start-500", &tag, Some("not json"))
        .await
        .assert_error(500, "FAULT");
    a.send(
        "PATCH",
        "/api/offer",
        &tag,
        Some(r#"{"pc_id":"z","candidates":[]}"#),
    )
    .await;
    a.send("POST", "/start", &[("x-test-tag", "other")], Some("{}"))
        .await;
    let log = a.get("/debug/requests?tag=t-42").await.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/v1/public/x/start");
    assert_eq!(log[0]["query"], "a=1");
    // Credentials are never returned: the header is redacted and `auth` tells what it was.
    assert_eq!(
        log[0]["headers"]["authorization"],
        "Bearer [redacted, 4 chars]"
    );
    assert_eq!(log[0]["auth"], "other");
    assert!(!log.iter().any(|e| e.to_string().contains("nope")));
    assert_eq!(log[0]["headers"]["x-test-tag"], "t-42");
    assert_eq!(log[0]["body"], json!({"body": {"q": 1}}));
    assert_eq!(log[1]["body"], "not json");
    assert_eq!(log[2]["method"], "PATCH");
    assert_eq!(a.get("/debug/requests?tag=none").await.json(), json!([]));
    let with_key = [("x-test-tag", "t-key"), ("authorization", "Bearer k")];
    a.send("POST", "/v1/public/x/start", &with_key, Some("{}"))
        .await;
    a.send("POST", "/start", &[("x-test-tag", "t-key")], Some("{}"))
        .await;
    let log = a.get("/debug/requests?tag=t-key").await.json();
    assert_eq!(log[0]["auth"], "key");
    assert_eq!(
        log[0]["headers"]["authorization"],
        "Bearer [redacted, 1 chars]"
    );
    assert_eq!(log[1]["auth"], "none");
    assert!(log[1]["headers"].get("authorization").is_none());
    assert_eq!(a.get("/debug/requests").await.status, 400);
}

#[tokio::test]
async fn cors_for_loopback_origins() {
    let a = Agent::start(&[]).await;
    let pre = a
        .send(
            "OPTIONS",
            "/v1/public/x/start",
            &[
                ("origin", "http://127.0.0.1:8123"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type,x-test-tag",
                ),
            ],
            None,
        )
        .await;
    assert!(pre.status == 200 || pre.status == 204, "{}", pre.status);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://127.0.0.1:8123")
    );
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-test-tag"),
        "{allowed}"
    );
    let methods = pre.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("PATCH") && methods.contains("POST"),
        "{methods}"
    );

    let r = a
        .send(
            "POST",
            "/start",
            &[("origin", "http://localhost:9000")],
            Some("{}"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:9000")
    );
    assert!(r.header("access-control-expose-headers").is_some());

    let r = a
        .send(
            "POST",
            "/start",
            &[("origin", "http://example.com")],
            Some("{}"),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn static_files_with_mime_types() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agent-static-{}", std::process::id()));
    let www = dir.join("www");
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(www.join("index.html"), "<p>hello</p>").unwrap();
    std::fs::write(pkg.join("agent_rtc_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(pkg.join("agent_rtc.js"), "export {}").unwrap();
    let a = Agent::start(&[
        "--www",
        www.to_str().unwrap(),
        "--pkg",
        pkg.to_str().unwrap(),
    ])
    .await;
    let r = a.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<p>hello</p>");
    let r = a.get("/pkg/agent_rtc_bg.wasm").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    let r = a.get("/pkg/agent_rtc.js").await;
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert_eq!(a.get("/missing.html").await.status, 404);
    let _ = std::fs::remove_dir_all(&dir);

    // Missing folders are a 404, not a crash.
    let b = Agent::start(&[]).await;
    assert_eq!(b.get("/").await.status, 404);
    assert_eq!(b.get("/pkg/x.wasm").await.status, 404);
    assert_eq!(b.get("/health").await.status, 200);
}
