//! `startSession()` in a real browser against the local agent (started by scripts/with-agent.sh):
//! what the server received for each platform, and one case per error code.
#![cfg(target_arch = "wasm32")]

mod support;

use agent_rtc::web::{is_agent_rtc_error, start_session};
use serde_json::{json, Value};
use support::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request["headers"][name].as_str()
}

#[wasm_bindgen_test]
async fn pipecat_cloud_start_sends_exactly_the_options_set() {
    let tag = fresh_tag("pcc");
    let session = start_session(js(json!({
        "baseUrl": format!("{}/v1/public", agent()),
        "agent": "echo-bot",
        "apiKey": api_key(),
        "headers": {"x-test-tag": tag, "X-Extra": "yes"},
        "enableDefaultIceServers": false,
        "transport": "webrtc",
        "body": {"greeting": "hi", "n": [1, 2]},
    })))
    .await
    .expect("start");
    let id = session.session_id();
    assert!(!id.is_empty());
    assert_eq!(session.platform(), "pipecat-cloud");
    assert_eq!(
        session.offer_url(),
        Some(format!(
            "{}/v1/public/echo-bot/sessions/{id}/api/offer",
            agent()
        ))
    );
    assert_eq!(json(&session.ice_servers()), json!([]));
    assert_eq!(json(&session.response())["sessionId"], json!(id));

    let seen = requests(&tag).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/v1/public/echo-bot/start");
    assert_eq!(
        r["auth"], "key",
        "the agent saw the configured key (redacted in its log)"
    );
    assert_eq!(header(r, "content-type"), Some("application/json"));
    assert_eq!(header(r, "x-extra"), Some("yes"));
    assert_eq!(
        r["body"],
        json!({"enableDefaultIceServers": false, "transport": "webrtc", "body": {"greeting": "hi", "n": [1, 2]}})
    );

    // The key stays private: not a property, not in toJSON.
    let public = json(&session.to_json());
    assert_eq!(public["sessionId"], json!(id));
    assert!(!public.to_string().contains(api_key()), "{public}");
}

#[wasm_bindgen_test]
async fn butter_start_uses_the_agent_id_path() {
    let tag = fresh_tag("butter");
    let session = start_session(js(json!({
        "platform": "butter", "baseUrl": agent(), "agent": "agent_echo",
        "headers": {"x-test-tag": tag}, "createDailyRoom": false,
    })))
    .await
    .expect("start");
    let seen = requests(&tag).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["path"], "/api/start/agent_echo");
    assert_eq!(seen[0]["body"], json!({"createDailyRoom": false}));
    assert_eq!(seen[0]["auth"], "none");
    assert_eq!(session.platform(), "butter");
    assert_eq!(
        session.offer_url(),
        Some(format!(
            "{}/api/sessions/{}/api/offer",
            agent(),
            session.session_id()
        ))
    );
}

#[wasm_bindgen_test]
async fn runner_start_and_start_url_override() {
    let tag = fresh_tag("runner");
    let session = start_session(js(
        json!({"platform": "pipecat-runner", "baseUrl": agent(), "headers": {"x-test-tag": tag}}),
    ))
    .await
    .expect("start");
    let seen = requests(&tag).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["path"], "/start");
    assert_eq!(seen[0]["body"], json!({}));
    assert_eq!(
        session.offer_url(),
        Some(format!(
            "{}/sessions/{}/api/offer",
            agent(),
            session.session_id()
        ))
    );

    let tag = fresh_tag("override");
    let session = start_session(js(json!({
        "startUrl": format!("{}/start", agent()),
        "offerUrl": format!("{}/api/offer?s={{sessionId}}", agent()),
        "headers": {"x-test-tag": tag},
    })))
    .await
    .expect("start");
    assert_eq!(requests(&tag).await[0]["path"], "/start");
    assert_eq!(
        session.offer_url(),
        Some(format!("{}/api/offer?s={}", agent(), session.session_id()))
    );
}

/// Each fault makes the agent answer one way; each must become the documented error.
#[wasm_bindgen_test]
async fn http_errors_carry_status_details_and_retryability() {
    let cases = [
        ("start-400", 400, false),
        ("start-401", 401, false),
        ("start-404", 404, false),
        ("start-429", 429, true),
        ("start-500", 500, true),
        ("start-503", 503, true),
    ];
    for (fault, status, retryable) in cases {
        let result = start_session(js(json!({
            "baseUrl": format!("{}/v1/public", agent()), "agent": format!("fault-{fault}"), "apiKey": api_key(),
        })))
        .await;
        let err = expect_error(result, "http");
        assert_eq!(get(&err, "status").as_f64(), Some(status as f64), "{fault}");
        assert_eq!(get(&err, "retryable").as_bool(), Some(retryable), "{fault}");
        let details = json(&get(&err, "details"));
        assert_eq!(details["phase"], "start");
        assert!(details["error"].is_string(), "{fault}: {details}");
    }
    let err = expect_error(start_session(js(json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault=start-422-detail", agent())}))).await, "http");
    assert_eq!(get(&err, "status").as_f64(), Some(422.0));
    assert!(!json(&get(&err, "details"))["detail"].is_null());
    let err = expect_error(start_session(js(json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault=start-502-text", agent())}))).await, "http");
    let body = json(&get(&err, "details"))["body"]
        .as_str()
        .map(|s| s.chars().count());
    assert_eq!(body, Some(512));
}

#[wasm_bindgen_test]
async fn the_key_never_appears_in_errors_even_when_the_server_echoes_it() {
    let err = expect_error(
        start_session(js(json!({
            "baseUrl": format!("{}/v1/public", agent()), "agent": "fault-start-401-echo", "apiKey": api_key(),
        })))
        .await,
        "http",
    );
    let text = format!(
        "{} {}",
        get(&err, "message").as_string().unwrap_or_default(),
        json(&get(&err, "details"))
    );
    assert!(!api_key().is_empty());
    assert!(!text.contains(api_key()), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[wasm_bindgen_test]
async fn wrong_key_is_refused_by_the_server() {
    let err = expect_error(
        start_session(js(json!({"baseUrl": format!("{}/v1/public", agent()), "agent": "echo", "apiKey": "wrong-key"}))).await,
        "http",
    );
    assert_eq!(get(&err, "status").as_f64(), Some(401.0));
}

#[wasm_bindgen_test]
async fn bad_responses() {
    for fault in ["start-nonjson", "start-nosession"] {
        let err = expect_error(
            start_session(js(json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault={fault}", agent())}))).await,
            "bad_response",
        );
        assert_eq!(json(&get(&err, "details"))["phase"], "start", "{fault}");
    }
}

#[wasm_bindgen_test]
async fn a_server_that_never_answers_times_out() {
    let err = expect_error(
        start_session(js(json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault=start-hang", agent()), "timeoutMs": 300}))).await,
        "timeout",
    );
    assert_eq!(get(&err, "retryable").as_bool(), Some(true));
    assert_eq!(json(&get(&err, "details"))["phase"], "start");
}

#[wasm_bindgen_test]
async fn abort_mid_request_and_before_sending() {
    let controller = web_sys::AbortController::new().unwrap();
    let tag = fresh_tag("mid-request");
    let options = js(
        json!({"platform": "pipecat-runner", "baseUrl": format!("{}/?fault=start-hang", agent()), "headers": {"x-test-tag": tag}}),
    );
    set(&options, "signal", &controller.signal());
    let call = start_session(options);
    let abort = async {
        // Mid-request: the agent has it (and holds it).
        until_async("the start at the agent", HANG_MS, || async {
            !requests(&tag).await.is_empty()
        })
        .await;
        controller.abort();
    };
    let (result, ()) = join(call, abort).await;
    expect_error(result, "aborted");

    let tag = fresh_tag("pre-aborted");
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let options = js(
        json!({"platform": "pipecat-runner", "baseUrl": agent(), "headers": {"x-test-tag": tag}}),
    );
    set(&options, "signal", &controller.signal());
    expect_error(start_session(options).await, "aborted");
    assert!(
        requests(&tag).await.is_empty(),
        "an aborted call must send nothing"
    );
}

#[wasm_bindgen_test]
async fn network_failure_is_retryable_http() {
    let err = expect_error(
        start_session(js(
            json!({"platform": "pipecat-runner", "baseUrl": "http://127.0.0.1:9"}),
        ))
        .await,
        "http",
    );
    assert_eq!(get(&err, "retryable").as_bool(), Some(true));
    assert_eq!(json(&get(&err, "details"))["network"], json!(true));
}

#[wasm_bindgen_test]
async fn invalid_options_reject_without_sending() {
    let tag = fresh_tag("invalid");
    let bad: Vec<JsValue> = vec![
        JsValue::UNDEFINED,
        JsValue::from_str("http://127.0.0.1"),
        js(json!([1])),
        js(
            json!({"platform": "pipecat-runner", "baseUrl": "not a url", "headers": {"x-test-tag": tag}}),
        ),
        js(json!({"baseUrl": agent(), "headers": {"x-test-tag": tag}})),
        js(
            json!({"platform": "butter", "baseUrl": agent(), "agent": "echo", "headers": {"x-test-tag": tag}}),
        ),
        js(json!({"baseUrl": agent(), "agent": "../x", "headers": {"x-test-tag": tag}})),
        js(
            json!({"platform": "pipecat-runner", "baseUrl": agent(), "timeoutMs": 0, "headers": {"x-test-tag": tag}}),
        ),
        js(
            json!({"platform": "pipecat-runner", "baseUrl": agent(), "transport": "carrier-pigeon", "headers": {"x-test-tag": tag}}),
        ),
        js(
            json!({"platform": "pipecat-runner", "baseUrl": "http://example.com", "headers": {"x-test-tag": tag}}),
        ),
    ];
    for options in bad {
        expect_error(start_session(options).await, "invalid_options");
    }
    let with_bad_signal = js(
        json!({"platform": "pipecat-runner", "baseUrl": agent(), "headers": {"x-test-tag": tag}}),
    );
    set(&with_bad_signal, "signal", &JsValue::from_str("nope"));
    expect_error(start_session(with_bad_signal).await, "invalid_options");
    let with_function = js(
        json!({"platform": "pipecat-runner", "baseUrl": agent(), "headers": {"x-test-tag": tag}}),
    );
    set(
        &with_function,
        "body",
        &js_sys::Function::new_no_args("return 1"),
    );
    expect_error(start_session(with_function).await, "invalid_options");
    assert!(
        requests(&tag).await.is_empty(),
        "invalid options must send nothing"
    );
}

#[wasm_bindgen_test]
fn type_guard() {
    assert!(!is_agent_rtc_error(&js_sys::Error::new("plain").into()));
    assert!(!is_agent_rtc_error(&JsValue::from_str("AgentRtcError")));
    let e = agent_rtc::web::to_js_error(&agent_rtc::error::Error::invalid("x"));
    assert!(is_agent_rtc_error(&e));
    assert_eq!(agent_rtc::web::version(), env!("CARGO_PKG_VERSION"));
}
