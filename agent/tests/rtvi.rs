//! The echo bot's RTVI conversation over a real peer connection, with the exact JSON a
//! Pipecat 1.14 server puts on the `chat` channel: client requests and their answers,
//! `send-text` function calls, speaking and transcription events, metrics, errors, DTMF, and
//! the options that make the bot an older server.

mod common;

use std::time::{Duration, Instant};

use common::client::{debug, debug_until, drive_until, session, Client, T};
use common::Agent;
use serde_json::{json, Value};

/// Messages received after the first `n`, as JSON.
fn after(c: &Client, n: usize) -> Vec<Value> {
    c.texts[n..]
        .iter()
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect()
}

fn types(v: &[Value]) -> Vec<&str> {
    v.iter().map(|m| m["type"].as_str().unwrap_or("")).collect()
}

/// Waits until a message of `kind` arrives after the first `n`; returns those after `n`.
async fn until(c: &mut Client, n: usize, kind: &str) -> Vec<Value> {
    let ok = c
        .run_until(T, |c| after(c, n).iter().any(|m| m["type"] == kind))
        .await;
    assert!(ok, "no `{kind}`; got {:?}", &c.texts[n..]);
    after(c, n)
}

/// Waits until at least `count` messages arrived after the first `n`; returns them.
async fn at_least(c: &mut Client, n: usize, count: usize) -> Vec<Value> {
    let ok = c.run_until(T, |c| after(c, n).len() >= count).await;
    assert!(ok, "fewer than {count} messages: {:?}", &c.texts[n..]);
    after(c, n)
}

async fn connected(a: &Agent, query: &str) -> (String, Client) {
    let (id, path) = session(a, query).await;
    let mut c = Client::connect(a, &path, Value::Null).await;
    c.wait_for("server-message").await;
    (id, c)
}

#[tokio::test]
async fn client_messages_and_their_answers() {
    let a = Agent::start(&[]).await;
    let (_, mut c) = connected(&a, "").await;
    let answer = |id: &str, data: Value| json!({"label":"rtvi-ai","type":"server-response","id":id,"data":data});

    // slow answers after d.ms; silent never; the others at once, in order.
    let t0 = Instant::now();
    let n = c.texts.len();
    c.rtvi(
        "client-message",
        "slow-1",
        json!({"t":"slow","d":{"ms":300}}),
    );
    c.rtvi("client-message", "quiet-1", json!({"t":"silent","d":null}));
    c.rtvi(
        "client-message",
        "echo-1",
        json!({"t":"echo","d":{"n":[1,2]}}),
    );
    c.rtvi(
        "client-message",
        "fail-1",
        json!({"t":"fail","d":{"error":"nope"}}),
    );
    c.rtvi(
        "client-message",
        "odd-1",
        json!({"t":"odd","d":1,"extra":true}),
    );
    c.rtvi("client-message", "bad-1", json!({"d": 1}));
    let got = at_least(&mut c, n, 4).await;
    assert_eq!(
        got[0],
        answer("echo-1", json!({"t":"echo","d":{"n":[1,2]}}))
    );
    assert_eq!(
        got[1],
        json!({"label":"rtvi-ai","type":"error-response","id":"fail-1","data":{"error":"nope"}})
    );
    // An unknown type is answered with the request's own data (strict mode: see below).
    assert_eq!(
        got[2],
        answer("odd-1", json!({"t":"odd","d":1,"extra":true}))
    );
    assert_eq!(
        got[3],
        json!({"label":"rtvi-ai","type":"error-response","id":"bad-1",
               "data":{"error":"Invalid message: client-message needs `data.t` (string)"}})
    );
    assert!(
        c.run_until(T, |c| after(c, n).iter().any(|m| m["id"] == "slow-1"))
            .await
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let slow = after(&c, n)
        .into_iter()
        .find(|m| m["id"] == "slow-1")
        .unwrap();
    assert_eq!(slow, answer("slow-1", json!({"t":"slow","d":{"ms":300}})));
    c.quiet(Duration::from_millis(200)).await;
    assert!(!after(&c, n).iter().any(|m| m["id"] == "quiet-1"), "silent");

    // metrics and a non-fatal error on request.
    let n = c.texts.len();
    c.rtvi("client-message", "met-1", json!({"t":"metrics"}));
    c.rtvi(
        "client-message",
        "err-1",
        json!({"t":"error","d":{"error":"oops"}}),
    );
    let got = at_least(&mut c, n, 4).await;
    assert_eq!(
        got[0],
        json!({"label":"rtvi-ai","type":"metrics","data":{
            "ttfb":[{"processor":"agent-rtc-echo-bot","value":0.012}],
            "processing":[{"processor":"agent-rtc-echo-bot","value":0.003}]}})
    );
    assert_eq!(got[1], answer("met-1", json!({"t":"metrics","d":null})));
    assert_eq!(
        got[2],
        json!({"label":"rtvi-ai","type":"error","data":{"error":"oops","fatal":false}})
    );
    assert_eq!(
        got[3],
        answer("err-1", json!({"t":"error","d":{"error":"oops"}}))
    );

    // Other RTVI types: unsupported ones get an error-response, DTMF is recorded.
    let n = c.texts.len();
    c.rtvi("dtmf", "k1", json!({"buttons": ["1", "2", "#"]}));
    c.rtvi("frobnicate", "z1", json!({}));
    let got = until(&mut c, n, "error-response").await;
    assert_eq!(
        got,
        [json!({"label":"rtvi-ai","type":"error-response","id":"z1",
                "data":{"error":"Unsupported type frobnicate"}})]
    );
}

#[tokio::test]
async fn send_text_function_call_round_trip() {
    let a = Agent::start(&[]).await;
    let (id, mut c) = connected(&a, "").await;
    let n = c.texts.len();
    c.rtvi(
        "send-text",
        "st-1",
        json!({"content":"Lisbon","options":{"run_immediately":true,"audio_response":true}}),
    );
    let got = until(&mut c, n, "llm-function-call-in-progress").await;
    assert_eq!(
        types(&got),
        [
            "bot-interrupted",
            "user-input",
            "llm-function-call-started",
            "llm-function-call-in-progress"
        ]
    );
    assert_eq!(got[0], json!({"label":"rtvi-ai","type":"bot-interrupted"}));
    let input = &got[1]["data"];
    assert_eq!(
        (
            &input["text"],
            &input["input_type"],
            &input["final"],
            &input["msg_id"]
        ),
        (
            &json!("Lisbon"),
            &json!("chat"),
            &json!(true),
            &json!("st-1")
        )
    );
    let ts = input["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 29 && ts.ends_with("+00:00") && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    assert_eq!(
        got[2],
        json!({"label":"rtvi-ai","type":"llm-function-call-started","data":{"function_name":"get_weather"}})
    );
    assert_eq!(
        got[3],
        json!({"label":"rtvi-ai","type":"llm-function-call-in-progress","data":{
            "tool_call_id":"call_0001","function_name":"get_weather","arguments":{"location":"Lisbon"}}})
    );

    let n = c.texts.len();
    c.rtvi(
        "llm-function-call-result",
        "fr-1",
        json!({"function_name":"get_weather","tool_call_id":"call_0001",
               "arguments":{"location":"Lisbon"},"result":{"temp_c":19}}),
    );
    let got = until(&mut c, n, "bot-stopped-speaking").await;
    assert_eq!(
        types(&got),
        [
            "llm-function-call-stopped",
            "server-message",
            "bot-started-speaking",
            "bot-output",
            "bot-tts-text",
            "bot-stopped-speaking"
        ]
    );
    assert_eq!(
        got[0],
        json!({"label":"rtvi-ai","type":"llm-function-call-stopped","data":{
            "tool_call_id":"call_0001","cancelled":false,"function_name":"get_weather",
            "result":{"temp_c":19}}})
    );
    assert_eq!(
        got[1],
        json!({"label":"rtvi-ai","type":"server-message","data":{
            "type":"function-result","tool_call_id":"call_0001","function_name":"get_weather",
            "arguments":{"location":"Lisbon"},"result":{"temp_c":19}}})
    );
    let said = "get_weather returned {\"temp_c\":19}.";
    assert_eq!(
        got[2],
        json!({"label":"rtvi-ai","type":"bot-started-speaking"})
    );
    assert_eq!(
        got[3],
        json!({"label":"rtvi-ai","type":"bot-output","data":{
            "text":said,"output_type":"sentence","text_type":"sentence","aggregated_by":"sentence",
            "segment_id":1,"spoken":true,"will_be_spoken":true,"spoken_status":"completed",
            "spoken_progress":{"accumulated_text":said,"remaining_text":""}}})
    );
    assert_eq!(
        got[4],
        json!({"label":"rtvi-ai","type":"bot-tts-text","data":{"text":said}})
    );
    assert_eq!(
        got[5],
        json!({"label":"rtvi-ai","type":"bot-stopped-speaking"})
    );

    let d = debug(&a, &id).await;
    assert_eq!(
        d["bot"]["functionCalls"],
        json!([{"toolCallId":"call_0001","functionName":"get_weather",
                "arguments":{"location":"Lisbon"},"result":{"temp_c":19},"completed":true}])
    );
}

#[tokio::test]
async fn speaking_and_transcription_from_voice_activity() {
    let a = Agent::start(&[]).await;
    let (id, mut c) = connected(&a, "").await;
    // Silence first: for a while, no events.
    c.quiet(Duration::from_millis(300)).await;
    let n = c.texts.len();
    assert!(!c.has("user-started-speaking"));
    // 200 ms of voice (by the RTP audio level), then silence.
    c.voice = true;
    let got = until(&mut c, n, "user-started-speaking").await;
    assert_eq!(
        got,
        [json!({"label":"rtvi-ai","type":"user-started-speaking"})]
    );
    c.keep_going_for(Duration::from_millis(200)).await;
    c.voice = false;
    let got = until(&mut c, n, "bot-stopped-speaking").await;
    assert_eq!(
        types(&got),
        [
            "user-started-speaking",
            "user-stopped-speaking",
            "user-transcription",
            "user-input",
            "bot-started-speaking",
            "bot-output",
            "bot-tts-text",
            "bot-stopped-speaking"
        ]
    );
    assert_eq!(
        got[1],
        json!({"label":"rtvi-ai","type":"user-stopped-speaking"})
    );
    let tr = &got[2]["data"];
    assert_eq!(
        got[2],
        json!({"label":"rtvi-ai","type":"user-transcription","data":{
            "text":"User utterance 1.","user_id":c.pc_id,"timestamp":tr["timestamp"],"final":true}})
    );
    assert!(tr["timestamp"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(
        got[3]["data"],
        json!({"text":"User utterance 1.","input_type":"transcription",
               "timestamp":tr["timestamp"],"final":true,"user_id":c.pc_id})
    );
    assert_eq!(got[5]["data"]["text"], "Echo bot heard utterance 1.");
    assert_eq!(got[6]["data"]["text"], "Echo bot heard utterance 1.");
    let d = debug(&a, &id).await;
    assert_eq!(
        (&d["bot"]["userTurns"], &d["bot"]["botTurns"]),
        (&json!(1), &json!(1))
    );
    // A muted mic is not voice.
    c.send_json(json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":0,"enabled":false}}));
    drive_until(&a, &id, &mut c, "the mute at the agent", |d| {
        d["peers"][0]["trackStatus"]["0"] == false
    })
    .await;
    let n = c.texts.len();
    c.voice = true;
    // For a while, voice on the muted track makes no events.
    c.quiet(Duration::from_millis(400)).await;
    assert!(after(&c, n).is_empty(), "{:?}", after(&c, n));
}

#[tokio::test]
async fn client_ready_versions_dtmf_and_a_fatal_error() {
    let a = Agent::start(&[]).await;
    let (id, mut c) = connected(&a, "").await;
    // A 1.x client is served as a legacy client: it hears its own version back.
    c.rtvi(
        "client-ready",
        "old",
        json!({"version":"1.0.0","about":{"library":"x"}}),
    );
    let ready = c.wait_for("bot-ready").await;
    assert_eq!(ready["id"], "old");
    assert_eq!(ready["data"]["version"], "1.0.0");
    // A version the server cannot serve: error-response, then bot-ready anyway.
    let n = c.texts.len();
    c.rtvi("client-ready", "new", json!({"version":"3.0.0"}));
    let got = until(&mut c, n, "bot-ready").await;
    assert_eq!(
        got[0],
        json!({"label":"rtvi-ai","type":"error-response","id":"new","data":{"error":
            "RTVI version 3.0.0 is not compatible with server protocol 2.2.0. Compatibility issues may occur."}})
    );
    assert_eq!(got[1]["data"]["version"], "2.2.0");

    c.rtvi("dtmf", "k1", json!({"buttons": ["4", "*"]}));
    c.rtvi("dtmf", "k2", json!({"buttons": ["#"]}));
    let d = drive_until(&a, &id, &mut c, "the three keys at the bot", |d| {
        d["bot"]["dtmf"].as_array().map(Vec::len) >= Some(3)
    })
    .await;
    assert_eq!(d["bot"]["dtmf"], json!(["4", "*", "#"]));

    // A fatal error ends the bot: the error, then peerLeft, and the session is over.
    let n = c.texts.len();
    c.rtvi(
        "client-message",
        "f",
        json!({"t":"error","d":{"error":"broken","fatal":true}}),
    );
    assert!(c.run_until(T, |c| c.has("peerLeft")).await);
    let got = after(&c, n);
    assert_eq!(
        got,
        [
            json!({"label":"rtvi-ai","type":"error","data":{"error":"broken","fatal":true}}),
            json!({"type":"signalling","message":{"type":"peerLeft"}})
        ]
    );
    let d = debug_until(&a, &id, "the session's end", |d| d["ended"] == true).await;
    assert_eq!(d["peers"][0]["closedReason"], "fatal error");
}

#[tokio::test]
async fn an_older_server_and_the_deprecated_forms_on_request() {
    let a = Agent::start(&[]).await;
    let (id, mut c) = connected(
        &a,
        "?fault=rtvi-version-1.0.0,function-call-legacy,client-message-strict",
    )
    .await;
    let n = c.texts.len();
    c.rtvi("client-ready", "r", json!({"version":"2.1.0"}));
    let got = until(&mut c, n, "bot-ready").await;
    assert_eq!(
        got,
        [
            json!({"label":"rtvi-ai","type":"error-response","id":"r","data":{"error":
                "RTVI version 2.1.0 is not compatible with server protocol 1.0.0. Compatibility issues may occur."}}),
            json!({"label":"rtvi-ai","type":"bot-ready","id":"r","data":{"version":"1.0.0",
                "about":{"library":"agent-rtc-agent","library_version":env!("CARGO_PKG_VERSION"),"agent":"runner"}}})
        ]
    );

    let n = c.texts.len();
    c.rtvi("client-message", "u", json!({"t":"odd","d":null}));
    assert_eq!(
        until(&mut c, n, "error-response").await,
        [json!({"label":"rtvi-ai","type":"error-response","id":"u",
                "data":{"error":"Unsupported client-message type odd"}})]
    );

    // The deprecated function call message, and no 2.x-only messages.
    let n = c.texts.len();
    c.rtvi("send-text", "s", json!({"content":"Rome"}));
    let got = until(&mut c, n, "llm-function-call").await;
    assert_eq!(
        got,
        [
            json!({"label":"rtvi-ai","type":"bot-interrupted"}),
            json!({"label":"rtvi-ai","type":"llm-function-call","data":{
                "function_name":"get_weather","tool_call_id":"call_0001","args":{"location":"Rome"}}})
        ]
    );
    let n = c.texts.len();
    c.rtvi(
        "llm-function-call-result",
        "res",
        json!({"function_name":"get_weather","tool_call_id":"call_0001",
               "arguments":{"location":"Rome"},"result":"sunny"}),
    );
    let got = until(&mut c, n, "bot-stopped-speaking").await;
    assert_eq!(
        types(&got),
        [
            "server-message",
            "bot-started-speaking",
            "bot-output",
            "bot-tts-text",
            "bot-stopped-speaking"
        ]
    );
    assert_eq!(
        got[2],
        json!({"label":"rtvi-ai","type":"bot-output","data":{
            "text":"get_weather returned \"sunny\".","spoken":true,"aggregated_by":"sentence"}})
    );
    assert_eq!(debug(&a, &id).await["bot"]["rtviVersion"], "1.0.0");
}
