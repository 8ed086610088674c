use super::*;
use serde_json::json;

fn msg(text: &str) -> Input {
    Input::Message(rtvi::classify(
        text.to_owned(),
        crate::json::parse(text),
        false,
    ))
}

pub(super) fn answered(text: &str) -> Input {
    Input::OfferAnswered(crate::json::parse(text))
}

fn setup(starting: bool, wait: bool) -> Setup {
    Setup {
        starting,
        wait_for_bot_ready: wait,
        socket: false,
        tracks: [true, false],
        request_data: None,
        seed: 7,
        reconnect: crate::recovery::Config::new(0, 30_000.0, 1),
        now_ms: 0.0,
        timeout_ms: BUDGET_MS,
        ice_limit_ms: None,
    }
}

/// The connect budget of these tests' machines.
const BUDGET_MS: f64 = 30_000.0;

/// `out` without the timer's re-arming (for tests about something else).
fn untimed(out: Vec<Output>) -> Vec<Output> {
    out.into_iter()
        .filter(|o| !matches!(o, Output::Timer(_)))
        .collect()
}

pub(super) const ANSWER: &str = r#"{"sdp":"v=0 answer","type":"answer","pc_id":"pc-1"}"#;

type Json = serde_json::Value;

fn posted(out: &[Output]) -> Option<Json> {
    out.iter().find_map(|o| match o {
        Output::Rtc(Rtc::PostOffer(b)) => Some(b.into()),
        _ => None,
    })
}

fn sent(out: &[Output]) -> Vec<Json> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(v) => Some(v.into()),
            Output::SendText(s) => Some(Json::String(s.clone())),
            _ => None,
        })
        .collect()
}

/// A gathered host candidate `n` (port `n`), its line ending in `tail`.
fn candidate(n: u32, tail: &str) -> Input {
    Input::Candidate(Some(Candidate {
        candidate: format!("candidate:{n} 1 udp 1 192.0.2.1 {n} typ host{tail}"),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    }))
}

fn failed(out: &[Output]) -> Option<&Error> {
    out.iter().find_map(|o| match o {
        Output::ConnectFailed(e) => Some(e),
        _ => None,
    })
}

/// A connectWebRtc-style connect up to the open channel, checking the phase at each step.
fn up_to_channel(wait: bool) -> Machine {
    let mut m = Machine::new(setup(false, wait));
    assert_eq!(m.phase(), Phase::Media);
    assert!(m.handle(Input::LocalOffer("v=0 offer".into())).is_empty());
    let out = m.handle(Input::MediaReady);
    assert_eq!(
        posted(&out),
        Some(json!({"sdp":"v=0 offer","type":"offer","pc_id":null,"restart_pc":false}))
    );
    assert_eq!(m.phase(), Phase::Offer);
    let out = m.handle(answered(ANSWER));
    assert_eq!(out, vec![Output::Rtc(Rtc::SetRemote("v=0 answer".into()))]);
    assert_eq!((m.phase(), m.pc_id()), (Phase::Offer, Some("pc-1")));
    m.handle(Input::RemoteApplied);
    assert_eq!(m.phase(), Phase::Ice);
    m.handle(Input::Ice(IceState::Checking));
    m.handle(Input::Ice(IceState::Connected));
    assert_eq!(m.phase(), Phase::Channel);
    m
}

#[test]
fn a_channel_open_before_the_answer_is_applied_is_the_bot_ready_phase() {
    // The browser may deliver the channel's `open` before setRemoteDescription() resolves; a
    // client-ready lost then fails the connect in the phase it is really in.
    let mut m = Machine::new(setup(false, true));
    m.handle(Input::LocalOffer("v=0 offer".into()));
    m.handle(Input::MediaReady);
    m.handle(answered(ANSWER));
    assert_eq!(m.phase(), Phase::Offer);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    assert_eq!(m.phase(), Phase::BotReady);
    let out = m.handle(Input::SendFailed(Error::new(
        ErrorCode::Webrtc,
        "send failed",
    )));
    assert_eq!(
        failed(&out).map(|e| e.details.phase),
        Some(Some(Phase::BotReady))
    );
}

pub(super) fn live() -> Machine {
    let mut m = up_to_channel(false);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    m
}

#[test]
fn the_offer_waits_for_the_start_answer_and_the_media() {
    // Every order of the three events posts exactly once, when the last one arrives.
    let events = [
        Input::Started,
        Input::MediaReady,
        Input::LocalOffer("v=0".into()),
    ];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let mut m = Machine::new(Setup {
            request_data: Some(json!({"who": "t"}).into()),
            ..setup(true, true)
        });
        assert_eq!(m.phase(), Phase::Start);
        for (n, i) in order.iter().enumerate() {
            let out = m.handle(events[*i].clone());
            let body = posted(&out);
            if n < 2 {
                assert_eq!(body, None, "{order:?}: posted before step 3");
            } else {
                assert_eq!(
                    body,
                    Some(
                        json!({"sdp":"v=0","type":"offer","pc_id":null,"restart_pc":false,"request_data":{"who":"t"}})
                    ),
                    "{order:?}"
                );
            }
        }
    }
}

#[test]
fn a_failed_start_or_denied_microphone_fails_at_once_and_posts_nothing() {
    // The start answers 500 while the media is still pending: rejected now, phase start.
    let mut m = Machine::new(setup(true, true));
    m.handle(Input::LocalOffer("v=0".into()));
    let http = Error::http(Phase::Start, "start", 500, "", None, &[]);
    let out = m.handle(Input::Failure(http.clone()));
    assert_eq!(failed(&out), Some(&http));
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Local)));
    assert!(m.is_closed());
    assert!(
        m.handle(Input::MediaReady).is_empty(),
        "nothing after the failure"
    );

    // The microphone is denied after the start answered: no offer, phase media.
    let mut m = Machine::new(setup(true, true));
    m.handle(Input::LocalOffer("v=0".into()));
    m.handle(Input::Started);
    assert_eq!(m.phase(), Phase::Media);
    let denied = Error::new(ErrorCode::Media, "denied").with_phase(Phase::Media);
    let out = m.handle(Input::Failure(denied.clone()));
    assert_eq!(failed(&out), Some(&denied));
    assert!(posted(&out).is_none());

    // A browser failure without a phase gets the current one.
    let mut m = Machine::new(setup(false, true));
    m.handle(Input::MediaReady);
    let out = m.handle(Input::Failure(Error::new(ErrorCode::Webrtc, "createOffer")));
    assert_eq!(failed(&out).and_then(Error::phase), Some("offer"));
}

#[test]
fn a_bad_offer_answer_fails_the_connect_with_bad_response() {
    for bad in ["nope", r#"{"sdp":"v=0","type":"answer"}"#] {
        let mut m = Machine::new(setup(false, true));
        m.handle(Input::MediaReady);
        m.handle(Input::LocalOffer("v=0".into()));
        let out = m.handle(answered(bad));
        let e = failed(&out).expect("rejected");
        assert_eq!((e.code, e.phase()), (ErrorCode::BadResponse, Some("offer")));
    }
}

#[test]
fn candidates_wait_for_the_answer_then_go_out_one_patch_at_a_time() {
    let mut m = Machine::new(setup(false, true));
    let cand = |n| candidate(n, "");
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0".into()));
    assert!(m.handle(cand(1)).is_empty(), "no pc_id yet");
    assert!(m.handle(cand(2)).is_empty(), "no pc_id yet");
    let out = m.handle(answered(ANSWER));
    assert_eq!(out[0], Output::Rtc(Rtc::SetRemote("v=0 answer".into())));
    let patch = out
        .iter()
        .find_map(|o| match o {
            Output::Rtc(Rtc::Patch(b)) => Some(Json::from(b)),
            _ => None,
        })
        .expect("a patch");
    assert_eq!(patch["pc_id"], "pc-1");
    assert_eq!(patch["candidates"].as_array().map(Vec::len), Some(2));
    assert!(
        m.handle(Input::RemoteApplied).is_empty(),
        "one PATCH in flight"
    );
    assert!(m.handle(cand(3)).is_empty(), "one PATCH in flight");
    m.handle(Input::Candidate(None));
    let out = m.handle(Input::PatchDone(Err(Error::http(
        Phase::Ice,
        "ICE candidate",
        400,
        "",
        None,
        &[],
    ))));
    assert!(
        matches!(&out[0], Output::Emit(Event::Error(e)) if e.code == ErrorCode::Http),
        "a failed PATCH is reported, not fatal: {out:?}"
    );
    let Output::Rtc(Rtc::Patch(body)) = &out[1] else {
        panic!("{out:?}")
    };
    let body = Json::from(body);
    assert_eq!(
        body["candidates"].as_array().map(Vec::len),
        Some(1),
        "the late candidate, and no end-of-candidates (the server cannot parse one): {body:?}"
    );
    assert!(!m.is_closed());
    assert_eq!(m.patches_sent(), 2);
}

#[test]
fn the_offer_leaves_with_the_candidates_gathered_and_they_are_not_patched() {
    let mut m = Machine::new(setup(true, true));
    let cand = |n| candidate(n, " ufrag u");
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0\r\n".into()));
    m.handle(cand(1));
    let Some(Output::Rtc(Rtc::PostOffer(mut body))) = m.handle(Input::Started).pop() else {
        panic!("the offer leaves once started")
    };
    let gathered = "v=0\r\na=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n";
    m.offer_leaves(None, &mut body, gathered.into());
    assert_eq!(Json::from(&body)["sdp"], gathered);
    // Still announced by the browser after the offer left: already the server's.
    m.handle(cand(1));
    m.handle(cand(2));
    let out = m.handle(answered(ANSWER));
    let patched: Vec<Json> = out
        .iter()
        .filter_map(|o| match o {
            Output::Rtc(Rtc::Patch(b)) => Some(Json::from(b)),
            _ => None,
        })
        .collect();
    assert_eq!(patched.len(), 1, "{out:?}");
    let list = patched[0]["candidates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        list[0]["candidate"],
        "candidate:2 1 udp 1 192.0.2.1 2 typ host ufrag u"
    );
    // Another attempt's offer is not this call's: nothing changes.
    let mut other = body.clone();
    m.offer_leaves(Some(9), &mut other, "v=1".into());
    assert_eq!(other, body);
}

#[test]
fn a_regathered_offer_replaces_the_unsent_one_and_its_candidates() {
    let mut m = Machine::new(setup(true, true));
    let cand = |n| candidate(n, "");
    m.handle(Input::MediaReady);
    assert!(m.handle(Input::LocalOffer("v=0 first".into())).is_empty());
    m.handle(cand(1));
    let out = m.handle(Input::RegatheredOffer("v=0 again".into()));
    assert_eq!(
        posted(&out),
        Some(json!({"sdp":"v=0 again","type":"offer","pc_id":null,"restart_pc":false})),
        "it counts as started: {out:?}"
    );
    m.handle(cand(2));
    let out = m.handle(answered(ANSWER));
    let Some(Output::Rtc(Rtc::Patch(body))) =
        out.iter().find(|o| matches!(o, Output::Rtc(Rtc::Patch(_))))
    else {
        panic!("{out:?}")
    };
    let body = Json::from(body);
    assert_eq!(
        body["candidates"][0]["candidate"],
        "candidate:2 1 udp 1 192.0.2.1 2 typ host"
    );
    assert_eq!(
        body["candidates"].as_array().map(Vec::len),
        Some(1),
        "the first gathering's candidate is void: {body:?}"
    );
}

#[test]
fn channel_open_sends_track_status_client_ready_and_ping_then_bot_ready_resolves() {
    let mut m = up_to_channel(true);
    let out = m.handle(Input::ChannelOpen { now_ms: 1000.0 });
    let msgs = sent(&out);
    assert_eq!(
        msgs[0]["message"],
        json!({"type":"trackStatus","receiver_index":0,"enabled":true})
    );
    assert_eq!(
        msgs[1]["message"],
        json!({"type":"trackStatus","receiver_index":1,"enabled":false})
    );
    assert_eq!(msgs[2]["type"], "client-ready");
    assert_eq!(msgs[3], json!("ping: 1000"));
    assert!(
        out.contains(&Output::Timer(Some(1000.0))),
        "the timer now follows the ping, a second after the channel opened (the budget is over)"
    );
    assert!(!out.contains(&Output::Connected), "waits for bot-ready");
    assert_eq!(m.phase(), Phase::BotReady);
    assert_eq!(m.state(), State::Connecting);

    let id = msgs[2]["id"].as_str().unwrap().to_owned();
    let out = m.handle(msg(
        &json!({"label":"rtvi-ai","type":"bot-ready","id":id,"data":{"version":"2.2.0"}})
            .to_string(),
    ));
    assert!(out.contains(&Output::Emit(Event::BotReady(
        json!({"version":"2.2.0"}).into()
    ))));
    assert!(out.contains(&Output::State(State::Connected)));
    assert_eq!(out.last(), Some(&Output::Connected));
    assert_eq!(m.state(), State::Connected);
    assert_eq!(
        m.phase(),
        Phase::Call,
        "a failure from now on is the call's"
    );
    let out = m.handle(msg(
        &json!({"label":"rtvi-ai","type":"bot-ready"}).to_string()
    ));
    assert!(!out.contains(&Output::Connected));
}

#[test]
fn without_waiting_the_channel_open_resolves() {
    let mut m = up_to_channel(false);
    let out = untimed(m.handle(Input::ChannelOpen { now_ms: 5.0 }));
    assert_eq!(out.last(), Some(&Output::Connected));
    assert_eq!(m.state(), State::Connected);
}

#[test]
fn a_send_that_fails_during_connect_fails_it_and_later_is_reported() {
    let mut m = up_to_channel(true);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    let out = m.handle(Input::SendFailed(Error::new(ErrorCode::Webrtc, "send")));
    let e = failed(&out).expect("the connect fails instead of waiting out its budget");
    assert_eq!(e.phase(), Some("bot-ready"));
    let mut m = live();
    let out = m.handle(Input::SendFailed(Error::new(ErrorCode::Webrtc, "send")));
    assert!(
        matches!(&out[..], [Output::Emit(Event::Error(e))] if e.phase() == Some("call")),
        "{out:?}"
    );
    assert!(!m.is_closed());
}

#[test]
fn messages_pass_through_with_their_kinds() {
    let mut m = live();
    let out = m.handle(msg("hello"));
    assert_eq!(out, vec![Output::Emit(Event::Message("hello".into()))]);
    let out = m.handle(msg(
        r#"{"label":"rtvi-ai","type":"user-transcription","data":{"text":"hi"}}"#,
    ));
    assert_eq!(out.len(), 3);
    assert!(matches!(&out[1], Output::Emit(Event::Rtvi(v)) if v["type"] == "user-transcription"));
    assert_eq!(
        out[2],
        Output::Emit(Event::Named(
            "transcript",
            json!({"role":"user","text":"hi","final":true}).into()
        )),
        "the typed event follows the raw one"
    );
    let out = m.handle(msg(r#"{"a":1}"#));
    assert_eq!(
        out,
        vec![Output::Emit(Event::Message(json!({"a":1}).into()))]
    );
}

#[test]
fn pings_only_while_open_and_mute_sends_track_status() {
    let mut m = up_to_channel(false);
    assert!(untimed(m.handle_at(Input::Timeout, 1_000.0)).is_empty());
    assert!(
        m.handle(Input::SetTrack {
            index: 0,
            enabled: false
        })
        .is_empty(),
        "not open yet"
    );
    let msgs = sent(&m.handle_at(Input::ChannelOpen { now_ms: 5.0 }, 5.0));
    assert_eq!(
        msgs[0]["message"]["enabled"],
        json!(false),
        "remembered while closed"
    );
    assert_eq!(
        m.poll_timeout(),
        Some(1_005.0),
        "a ping is due a second later"
    );
    assert!(
        untimed(m.handle_at(Input::Timeout, 1_004.0)).is_empty(),
        "not before"
    );
    assert_eq!(
        m.handle_at(Input::Timeout, 1_005.0),
        vec![
            Output::SendText("ping: 1005".into()),
            Output::Timer(Some(2_005.0))
        ]
    );
    let msgs = sent(&m.handle(Input::SetTrack {
        index: 1,
        enabled: true,
    }));
    assert_eq!(
        msgs,
        vec![
            json!({"type":"signalling","message":{"type":"trackStatus","receiver_index":1,"enabled":true}})
        ]
    );
    assert!(m
        .handle(Input::SetTrack {
            index: 5,
            enabled: true
        })
        .is_empty());
}

#[test]
fn deadlines_and_failures_name_the_first_step_not_done() {
    // ICE failed while checking.
    let mut m = Machine::new(setup(false, true));
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0".into()));
    m.handle(answered(ANSWER));
    m.handle(Input::RemoteApplied);
    let out = m.handle(Input::Ice(IceState::Failed));
    let e = failed(&out).unwrap();
    assert_eq!((e.code, e.phase()), (ErrorCode::IceFailed, Some("ice")));
    assert_eq!(
        &out[1..],
        &[
            Output::State(State::Failed),
            Output::Close(DisconnectReason::IceFailed)
        ]
    );
    assert!(m.handle(Input::Ice(IceState::Connected)).is_empty());

    let cases: [(Vec<Input>, &str); 5] = [
        (vec![], "start"),
        (vec![Input::Started], "media"),
        (
            vec![
                Input::Started,
                Input::MediaReady,
                Input::LocalOffer("v".into()),
            ],
            "offer",
        ),
        (
            vec![
                Input::Started,
                Input::MediaReady,
                Input::LocalOffer("v".into()),
                answered(ANSWER),
                Input::RemoteApplied,
            ],
            "ice",
        ),
        (
            vec![
                Input::Started,
                Input::MediaReady,
                Input::LocalOffer("v".into()),
                answered(ANSWER),
                Input::RemoteApplied,
                Input::Ice(IceState::Connected),
                Input::ChannelOpen { now_ms: 1.0 },
            ],
            "bot-ready",
        ),
    ];
    for (code, reason) in [
        (ErrorCode::Timeout, DisconnectReason::Timeout),
        (ErrorCode::Aborted, DisconnectReason::Local),
    ] {
        for (steps, phase) in &cases {
            let mut m = Machine::new(setup(true, true));
            for s in steps {
                m.handle(s.clone());
            }
            let out = if code == ErrorCode::Timeout {
                assert!(
                    m.poll_timeout().is_some_and(|t| t <= BUDGET_MS),
                    "the budget is due"
                );
                assert!(
                    failed(&m.handle_at(Input::Timeout, BUDGET_MS - 1.0)).is_none(),
                    "not before it runs out"
                );
                m.handle_at(Input::Timeout, BUDGET_MS)
            } else {
                m.handle(Input::Aborted)
            };
            let e = failed(&out).unwrap();
            assert_eq!((e.code, e.phase()), (code, Some(*phase)));
            assert_eq!(out.last(), Some(&Output::Close(reason)));
        }
    }

    // peerLeft before bot-ready is a signalling error.
    let mut m = up_to_channel(true);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    let out = m.handle(msg(
        r#"{"type":"signalling","message":{"type":"peerLeft"}}"#,
    ));
    assert_eq!(failed(&out).map(|e| e.code), Some(ErrorCode::Signalling));
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::PeerLeft)));

    // disconnect() during connect.
    let mut m = up_to_channel(true);
    let out = m.handle(Input::Disconnect);
    let e = failed(&out).unwrap();
    assert_eq!((e.code, e.phase()), (ErrorCode::Closed, Some("channel")));
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Local)));
}

#[test]
fn ends_of_a_live_connection() {
    let mut m = live();
    let out = m.handle(msg(
        r#"{"type":"signalling","message":{"type":"peerLeft"}}"#,
    ));
    assert_eq!(
        &out[1..],
        &[
            Output::State(State::Disconnected),
            Output::Close(DisconnectReason::PeerLeft)
        ]
    );

    let mut m = live();
    let out = m.handle(Input::Ice(IceState::Failed));
    assert!(matches!(&out[0], Output::Emit(Event::Error(e))
        if e.code == ErrorCode::IceFailed && e.phase() == Some("call")));
    assert_eq!(
        &out[1..],
        &[
            Output::State(State::Failed),
            Output::Close(DisconnectReason::IceFailed)
        ]
    );

    let mut m = live();
    assert_eq!(
        m.handle(Input::ChannelClosed),
        vec![
            Output::State(State::Disconnected),
            Output::Close(DisconnectReason::ChannelClosed)
        ]
    );

    let mut m = live();
    assert_eq!(
        m.handle(Input::Disconnect),
        vec![
            Output::State(State::Disconnected),
            Output::Close(DisconnectReason::Local)
        ]
    );
    assert!(m.handle(Input::Disconnect).is_empty(), "idempotent");

    let mut m = live();
    let out = m.handle_at(Input::Timeout, BUDGET_MS + 1.0);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Close(_) | Output::Emit(Event::Error(_)))),
        "the budget only covers the connect: {out:?}"
    );
    assert!(
        untimed(m.handle(Input::Aborted)).is_empty(),
        "so does the signal"
    );
    assert!(
        m.handle(Input::Ice(IceState::Disconnected)).is_empty(),
        "transient"
    );
}

#[test]
fn renegotiation_needs_a_pc_id_runs_one_at_a_time_and_survives_a_failure() {
    let reneg = r#"{"type":"signalling","message":{"type":"renegotiate"}}"#;
    let is_offer = |out: &[Output]| out.contains(&Output::Rtc(Rtc::Offer));
    let mut m = Machine::new(setup(false, true));
    assert!(!is_offer(&m.handle(msg(reneg))), "no pc_id yet");

    let mut m = live();
    assert!(is_offer(&m.handle(msg(reneg))));
    assert!(!is_offer(&m.handle(msg(reneg))), "queued");
    let out = m.handle(Input::LocalOffer("v=1".into()));
    assert_eq!(posted(&out).unwrap()["pc_id"], "pc-1", "same pc_id");
    m.handle(answered(ANSWER));
    assert!(
        is_offer(&m.handle(Input::RemoteApplied)),
        "the queued one runs next"
    );
    // That second round fails: reported, the call goes on, a later request runs again.
    let out = m.handle(Input::Failure(Error::http(
        Phase::Offer,
        "offer",
        500,
        "",
        None,
        &[],
    )));
    assert!(matches!(&out[..], [Output::Emit(Event::Error(e))] if e.status == Some(500)));
    assert!(!m.is_closed());
    assert!(is_offer(&m.handle(msg(reneg))));
}

fn settled(out: &[Output]) -> Vec<(String, Result<Json, ErrorCode>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Settle { id, result } => Some((
                id.clone(),
                result.as_ref().map(Json::from).map_err(|e| e.code),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn client_requests_are_answered_refused_timed_out_or_closed() {
    let mut m = live();
    let req_within = |id: &str, timeout_ms: f64| Input::Request {
        id: id.into(),
        kind: "echo".into(),
        data: Some(json!({"n": 1}).into()),
        timeout_ms,
    };
    let req = |id: &str| req_within(id, 60_000.0);
    let out = m.handle(req("r1"));
    assert_eq!(
        sent(&out),
        vec![
            json!({"label":"rtvi-ai","type":"client-message","id":"r1","data":{"t":"echo","d":{"n":1}}})
        ]
    );
    m.handle(req("r2"));
    m.handle(req_within("r3", 100.0));
    m.handle(req("r4"));
    let out = m.handle(msg(
        r#"{"label":"rtvi-ai","type":"server-response","id":"r1","data":{"t":"echo","d":{"n":1}}}"#,
    ));
    assert_eq!(settled(&out), vec![("r1".into(), Ok(json!({"n":1})))]);
    // The same answer again, or one for an id never asked, settles nothing.
    assert!(settled(&m.handle(msg(
        r#"{"label":"rtvi-ai","type":"server-response","id":"r1","data":{"t":"echo","d":{}}}"#,
    )))
    .is_empty());
    let out = m.handle(msg(
        r#"{"label":"rtvi-ai","type":"error-response","id":"r2","data":{"error":"no"}}"#,
    ));
    assert_eq!(settled(&out), vec![("r2".into(), Err(ErrorCode::BotError))]);
    // An answer nested too deep to read fails its request at once (it does not wait out the
    // request's timeout) and still reaches the page as text.
    m.handle(req("deep"));
    let deep = crate::rtvi::classify(
        "[deep]".into(),
        Some(json!({"label":"rtvi-ai","type":"server-response","id":"deep","data":null}).into()),
        true,
    );
    let out = m.handle(Input::Message(deep));
    assert_eq!(
        settled(&out),
        vec![("deep".into(), Err(ErrorCode::BadResponse))]
    );
    assert!(out.contains(&Output::Emit(Event::Message(Value::String(
        "[deep]".into()
    )))));
    assert!(settled(&m.handle_at(Input::Timeout, 99.0)).is_empty());
    let out = m.handle_at(Input::Timeout, 100.0);
    assert_eq!(settled(&out), vec![("r3".into(), Err(ErrorCode::Timeout))]);
    assert!(settled(&m.handle_at(Input::Timeout, 200.0)).is_empty());
    // disconnect() rejects what is still pending, before the close.
    let out = m.handle(Input::Disconnect);
    assert_eq!(settled(&out), vec![("r4".into(), Err(ErrorCode::Closed))]);
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Local)));
    // After the close a request is refused at once.
    assert_eq!(
        settled(&m.handle(req("r5"))),
        Vec::new(),
        "closed: no output at all"
    );

    let mut m = up_to_channel(true);
    assert_eq!(
        settled(&m.handle(req("early"))),
        vec![("early".into(), Err(ErrorCode::Closed))],
        "the channel is not open yet"
    );
}

#[test]
fn function_calls_and_the_bot_version() {
    let mut m = up_to_channel(true);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    m.handle(msg(
        r#"{"label":"rtvi-ai","type":"bot-ready","data":{"version":"1.0.0"}}"#,
    ));
    assert_eq!(m.state(), State::Connected, "an older major still works");
    assert_eq!(m.bot_version(), Some("1.0.0"));
    let out = m.handle(msg(
        r#"{"label":"rtvi-ai","type":"llm-function-call-in-progress","data":{"tool_call_id":"c1","function_name":"f","arguments":{"a":1}}}"#,
    ));
    let call = out
        .iter()
        .find_map(|o| match o {
            Output::CallFunction(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a call to run");
    assert_eq!(
        (call.name.as_str(), call.tool_call_id.as_str()),
        ("f", "c1")
    );
    let out = m.handle(Input::FunctionDone {
        call,
        result: json!({"ok": true}).into(),
    });
    let msgs = sent(&out);
    assert_eq!(msgs[0]["type"], "llm-function-call-result");
    assert_eq!(
        msgs[0]["data"],
        json!({"function_name":"f","tool_call_id":"c1","arguments":{"a":1},"result":{"ok":true}})
    );
    let out = m.handle(Input::FunctionMissing("nope".into()));
    assert!(
        matches!(&out[..], [Output::Emit(Event::Error(e))] if e.code == ErrorCode::BotError && e.message.contains("nope"))
    );
}

/// The call's one timer, driven through `Input::Timeout` the way the shell drives it: armed at
/// `poll_timeout()` when made, then wherever `Output::Timer` says; returns every output.
fn run_clock_until(m: &mut Machine, end: f64) -> Vec<(f64, Output)> {
    let mut seen = Vec::new();
    let mut armed = m.poll_timeout();
    while let Some(at) = armed.filter(|at| *at <= end) {
        for o in m.handle_at(Input::Timeout, at) {
            if let Output::Timer(next) = o {
                armed = next;
            } else {
                seen.push((at, o));
            }
        }
        if m.is_closed() {
            break;
        }
    }
    seen
}

#[test]
fn one_timer_carries_the_budget_and_a_connect_that_hangs_ends_when_it_runs_out() {
    let mut m = Machine::new(setup(true, true));
    assert_eq!(m.poll_timeout(), Some(BUDGET_MS), "armed when made");
    // Nothing ever answers: the timer alone ends the connect, naming the first step not done.
    let seen = run_clock_until(&mut m, 1e9);
    let outs: Vec<Output> = seen.iter().map(|(_, o)| o.clone()).collect();
    let e = failed(&outs).expect("the budget ran out");
    assert_eq!((e.code, e.phase()), (ErrorCode::Timeout, Some("start")));
    assert_eq!(seen.last().map(|s| s.0), Some(BUDGET_MS));
    assert_eq!(outs.last(), Some(&Output::Close(DisconnectReason::Timeout)));
    assert!(m.is_closed());
}

#[test]
fn once_up_the_timer_pings_every_second_and_samples_traffic_when_recovery_is_on() {
    // Recovery off: pings only, one a second from the channel's open.
    let mut m = up_to_channel(false);
    m.handle_at(Input::ChannelOpen { now_ms: 100.0 }, 100.0);
    let seen = run_clock_until(&mut m, 3_200.0);
    assert_eq!(
        seen,
        vec![
            (1_100.0, Output::SendText("ping: 1100".into())),
            (2_100.0, Output::SendText("ping: 2100".into())),
            (3_100.0, Output::SendText("ping: 3100".into())),
        ]
    );

    // Recovery on: a sample every 250 ms from the connect, beside the pings.
    let mut s = setup(false, false);
    s.reconnect = crate::recovery::Config::new(3, 30_000.0, 1);
    let mut m = Machine::new(s);
    for input in [
        Input::LocalOffer("v=0".into()),
        Input::MediaReady,
        answered(ANSWER),
        Input::RemoteApplied,
        Input::Ice(IceState::Connected),
    ] {
        m.handle_at(input, 10.0);
    }
    let out = m.handle_at(Input::ChannelOpen { now_ms: 10.0 }, 10.0);
    assert!(out.contains(&Output::Connected));
    assert!(
        out.contains(&Output::Timer(Some(260.0))),
        "the first sample is next: {out:?}"
    );
    let seen = run_clock_until(&mut m, 1_010.0);
    let samples: Vec<f64> = seen
        .iter()
        .filter(|(_, o)| *o == Output::Rtc(Rtc::Sample))
        .map(|s| s.0)
        .collect();
    assert_eq!(samples, vec![260.0, 510.0, 760.0, 1_010.0]);
    assert!(seen.contains(&(1_010.0, Output::SendText("ping: 1010".into()))));
    // The budget went with the connect: no timeout however long the call lasts.
    let seen = run_clock_until(&mut m, BUDGET_MS * 3.0);
    assert!(!seen
        .iter()
        .any(|(_, o)| matches!(o, Output::Close(_) | Output::Emit(Event::Error(_)))));
    // Closed: no timer, nothing more.
    assert!(!untimed(m.handle_at(Input::Disconnect, BUDGET_MS * 3.0)).is_empty());
    assert!(m.handle_at(Input::Timeout, BUDGET_MS * 4.0).is_empty());
}

#[test]
fn each_client_request_has_its_own_limit_on_the_same_timer() {
    let mut m = live();
    for (id, ms) in [("slow", 5_000.0), ("quick", 300.0)] {
        m.handle_at(
            Input::Request {
                id: id.into(),
                kind: "k".into(),
                data: None,
                timeout_ms: ms,
            },
            0.0,
        );
    }
    let seen = run_clock_until(&mut m, 6_000.0);
    let timed_out: Vec<(f64, String)> = seen
        .iter()
        .filter_map(|(at, o)| match o {
            Output::Settle { id, result: Err(e) } if e.code == ErrorCode::Timeout => {
                Some((*at, id.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        timed_out,
        vec![(300.0, "quick".to_string()), (5_000.0, "slow".to_string())]
    );
}

#[test]
fn requests_of_a_live_call_have_a_limit_on_the_same_timer_and_a_late_answer_is_dropped() {
    let mut m = live();
    // A trickle PATCH that never answers: at the limit the shell is told to abort it, and the
    // machine goes on as if it failed (reported, the queue moves on).
    m.handle_at(candidate(1, ""), 0.0);
    let seen = run_clock_until(&mut m, LATE_REQUEST_MS - 1.0);
    assert!(!seen
        .iter()
        .any(|(_, o)| matches!(o, Output::Rtc(Rtc::Abort(_)))));
    let seen = run_clock_until(&mut m, LATE_REQUEST_MS);
    let at_limit: Vec<&Output> = seen
        .iter()
        .filter(|(at, _)| *at == LATE_REQUEST_MS)
        .map(|(_, o)| o)
        .collect();
    assert!(
        at_limit.contains(&&Output::Rtc(Rtc::Abort(Flight::Patch))),
        "{at_limit:?}"
    );
    assert!(
        at_limit.iter().any(|o| matches!(o,
        Output::Emit(Event::Error(e)) if e.code == ErrorCode::Timeout && e.phase() == Some("ice")))
    );
    // The queue moves on: the next candidate goes out at once.
    let out = m.handle_at(candidate(2, ""), LATE_REQUEST_MS + 1.0);
    assert!(
        out.iter().any(|o| matches!(o, Output::Rtc(Rtc::Patch(_)))),
        "the queue moved on: {out:?}"
    );

    // While connecting, the connect's budget covers the requests: no limit of their own.
    let mut m = Machine::new(setup(false, true));
    m.handle_at(Input::LocalOffer("v=0".into()), 0.0);
    let out = m.handle_at(Input::MediaReady, 0.0);
    assert!(posted(&out).is_some());
    assert_eq!(m.poll_timeout(), Some(BUDGET_MS), "only the budget");
}

#[test]
fn a_probe_that_does_not_answer_counts_as_failed_after_its_limit() {
    use crate::recovery::{self, Config, Recovery};
    let mut m = live();
    m.recovery = Recovery::new(Config::new(3, 30_000.0, 1));
    // Cut at once: ICE fails, the policy starts attempt 1, its offer is set, a probe leaves.
    let out = m.handle_at(Input::Ice(IceState::Failed), 0.0);
    assert!(
        out.contains(&Output::Rtc(Rtc::Restart { attempt: 1 })),
        "{out:?}"
    );
    let out = m.handle_at(
        Input::AttemptOffer {
            attempt: 1,
            sdp: "v=0".into(),
        },
        10.0,
    );
    assert_eq!(untimed(out), vec![Output::Rtc(Rtc::Probe { attempt: 1 })]);
    // Nothing answers: at its limit the probe is aborted, and after the gap the next leaves.
    let seen = run_clock_until(&mut m, 10.0 + recovery::PROBE_TIMEOUT_MS);
    assert!(seen.contains(&(
        10.0 + recovery::PROBE_TIMEOUT_MS,
        Output::Rtc(Rtc::Abort(Flight::Probe(1)))
    )));
    let next = 10.0 + recovery::PROBE_TIMEOUT_MS + recovery::PROBE_GAP_MS;
    let seen = run_clock_until(&mut m, next);
    assert!(
        seen.contains(&(next, Output::Rtc(Rtc::Probe { attempt: 1 }))),
        "{seen:?}"
    );
    // The cancelled attempt's requests are over: a late probe answer changes nothing.
    let out = m.handle_at(Input::Disconnect, next + 1.0);
    assert!(out.contains(&Output::Rtc(Rtc::CancelAttempt(1))));
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_timer_that_fires_early_is_armed_again() {
    // `setTimeout` by the monotonic clock, the machine by `Date.now()`: the timer may fire a
    // moment before the time it was armed for. The machine must arm it again, or nothing due
    // later (pings, samples, recovery) ever happens.
    let mut m = live();
    assert_eq!(m.poll_timeout(), Some(1_000.0), "the next ping");
    let out = m.handle_at(Input::Timeout, 999.6);
    assert_eq!(
        out,
        vec![Output::Timer(Some(1_000.0))],
        "nothing due yet, armed again"
    );
    let out = m.handle_at(Input::Timeout, 1_000.0);
    assert_eq!(
        out,
        vec![
            Output::SendText("ping: 1000".into()),
            Output::Timer(Some(2_000.0))
        ]
    );
}

/// A machine for a call over Pipecat's WebSocket transport.
fn socket_call(wait: bool) -> Machine {
    Machine::new(Setup {
        socket: true,
        reconnect: crate::recovery::Config::new(0, 1.0, 0),
        ..setup(false, wait)
    })
}

#[test]
fn a_websocket_call_sends_client_ready_on_open_and_no_offer_ping_or_sample() {
    let mut m = socket_call(true);
    assert_eq!(m.phase(), Phase::Media);
    let out = untimed(m.handle(Input::MediaReady));
    assert!(out.is_empty(), "no offer over a WebSocket: {out:?}");
    assert_eq!(
        m.phase(),
        Phase::Socket,
        "the socket opening is its own phase"
    );
    let out = m.handle(Input::ChannelOpen { now_ms: 10.0 });
    let msgs = sent(&out);
    assert_eq!(
        msgs.len(),
        3,
        "track status ×2 and client-ready, no SmallWebRTC ping"
    );
    assert_eq!(msgs[2]["type"], "client-ready");
    assert_eq!(m.phase(), Phase::BotReady);
    let out = untimed(m.handle(msg(r#"{"label":"rtvi-ai","type":"bot-ready","data":{}}"#)));
    assert_eq!(out.last(), Some(&Output::Connected));
    // A minute of the call's clock with the server sending all along: no ping, no traffic
    // sample (recovery is WebRTC's), no liveness probe.
    let mut at = 0.0;
    while at < 60_000.0 {
        at += 500.0;
        m.heard(at);
        let out = untimed(m.handle_at(Input::Timeout, at));
        assert!(out.is_empty(), "at {at}: {out:?}");
    }
    assert!(!m.reconnects());
}

/// A live WebSocket call whose bot said bot-ready at 20 ms.
fn live_socket_call() -> Machine {
    let mut m = socket_call(false);
    m.handle_at(Input::MediaReady, 5.0);
    m.handle_at(Input::ChannelOpen { now_ms: 10.0 }, 10.0);
    m.handle_at(
        msg(r#"{"label":"rtvi-ai","type":"bot-ready","data":{}}"#),
        20.0,
    );
    assert_eq!(m.state(), State::Connected);
    m
}

#[test]
fn a_websocket_call_that_hears_nothing_probes_the_bot_and_ends_when_the_probe_goes_unanswered() {
    let mut m = live_socket_call();
    // Frames until 1,500 ms: nothing to do before 3,500 (QUIET_MS after the last one).
    m.heard(1_000.0);
    m.heard(1_500.0);
    assert!(run_clock_until(&mut m, 3_499.0).is_empty());
    let out = untimed(m.handle_at(Input::Timeout, 3_500.0));
    let probe = sent(&out);
    assert_eq!(probe.len(), 1, "one probe: {out:?}");
    assert_eq!(probe[0]["type"], "keepalive");
    let id = probe[0]["id"].as_str().expect("an id").to_owned();
    // The bot answers it as Pipecat does (a type it does not know): the page sees nothing, and
    // the next check counts from the answer.
    m.heard(3_600.0);
    let answer = format!(
        r#"{{"label":"rtvi-ai","type":"error-response","id":"{id}","data":{{"error":"Unsupported type keepalive"}}}}"#
    );
    let out = m.handle_at(msg(&answer), 3_600.0);
    assert_eq!(
        out,
        vec![Output::Timer(Some(5_600.0))],
        "nothing for the page"
    );
    // The same answer once more (late, after other frames) is still not the page's.
    m.heard(3_700.0);
    assert!(untimed(m.handle_at(msg(&answer), 3_700.0)).is_empty());
    // Then the path dies: a probe at 5,700, nothing back, the call ends at 8,100 (4.4 s after
    // the last frame), typed.
    let ticks = run_clock_until(&mut m, 20_000.0);
    let (at, second) = &ticks[0];
    assert_eq!(
        (*at, sent(std::slice::from_ref(second))[0]["type"].clone()),
        (5_700.0, "keepalive".into())
    );
    let error = ticks.iter().find_map(|(at, o)| match o {
        Output::Emit(Event::Error(e)) => Some((*at, e.clone())),
        _ => None,
    });
    let (at, e) = error.expect("an error event");
    assert_eq!(at, 8_100.0);
    assert_eq!(
        (e.code, e.phase(), e.details.reason),
        (ErrorCode::Timeout, Some("call"), Some("no-frames"))
    );
    assert_eq!(
        ticks.last().map(|t| &t.1),
        Some(&Output::Close(DisconnectReason::Timeout))
    );
    assert_eq!(m.state(), State::Disconnected);
}

#[test]
fn a_websocket_probe_answered_by_any_frame_keeps_the_call_and_a_bot_without_rtvi_is_never_probed() {
    // Audio (or anything) after the probe is as good as its answer.
    let mut m = live_socket_call();
    let out = untimed(m.handle_at(Input::Timeout, 2_020.0));
    assert_eq!(sent(&out)[0]["type"], "keepalive");
    m.heard(3_000.0);
    let ticks = run_clock_until(&mut m, 4_420.0);
    assert!(ticks.is_empty(), "{ticks:?}");
    assert!(!m.is_closed());
    // A bot that never said bot-ready may not answer probes: its silence is not a dead path.
    let mut m = socket_call(false);
    m.handle_at(Input::MediaReady, 5.0);
    let out = m.handle_at(Input::ChannelOpen { now_ms: 10.0 }, 10.0);
    assert!(out.contains(&Output::Connected));
    assert!(run_clock_until(&mut m, 600_000.0).is_empty());
    assert!(!m.is_closed());
}

#[test]
fn a_socket_open_before_the_microphone_waits_for_it_to_resolve() {
    for wait in [true, false] {
        let mut m = socket_call(wait);
        m.handle(Input::ChannelOpen { now_ms: 1.0 });
        let out = m.handle(msg(r#"{"label":"rtvi-ai","type":"bot-ready"}"#));
        assert!(
            !out.contains(&Output::Connected),
            "wait={wait}: the media is not settled"
        );
        assert_eq!(m.phase(), Phase::Media);
        let out = untimed(m.handle(Input::MediaReady));
        assert_eq!(out.last(), Some(&Output::Connected), "wait={wait}");
    }
    // Waiting for bot-ready still holds once the media settled.
    let mut m = socket_call(true);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    let out = m.handle(Input::MediaReady);
    assert!(!out.contains(&Output::Connected));
}

#[test]
fn a_websocket_that_closes_ends_the_call_with_socket_closed() {
    // During the connect: the connect fails in its phase, with the close code.
    let mut m = socket_call(true);
    m.handle(Input::MediaReady);
    m.handle(Input::ChannelOpen { now_ms: 1.0 });
    let out = m.handle(Input::SocketClosed {
        code: 1011,
        reason: "bot error".into(),
    });
    let e = failed(&out).expect("the connect fails");
    assert_eq!(
        (e.code, e.phase()),
        (ErrorCode::Signalling, Some("bot-ready"))
    );
    assert_eq!(e.details.close_code, Some(1011));
    assert_eq!(e.details.close_reason.as_deref(), Some("bot error"));
    assert_eq!(
        out.last(),
        Some(&Output::Close(DisconnectReason::SocketClosed))
    );

    // A live call the bot ended: an ordinary end, no error event.
    let live_socket = || {
        let mut m = socket_call(false);
        m.handle(Input::MediaReady);
        m.handle(Input::ChannelOpen { now_ms: 1.0 });
        assert_eq!(m.state(), State::Connected);
        m
    };
    let mut m = live_socket();
    let out = m.handle(Input::SocketClosed {
        code: 1000,
        reason: String::new(),
    });
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Emit(Event::Error(_)))),
        "{out:?}"
    );
    assert_eq!(
        out.last(),
        Some(&Output::Close(DisconnectReason::SocketClosed))
    );
    assert!(m.is_closed());

    // 4003 after the socket opened is the server refusing it: said as such.
    let mut m = live_socket();
    let out = m.handle(Input::SocketClosed {
        code: 4003,
        reason: String::new(),
    });
    let errors: Vec<&Error> = out
        .iter()
        .filter_map(|o| match o {
            Output::Emit(Event::Error(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(
        errors[0].message.contains("refused"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[0].details.close_code, Some(4003));
}

#[test]
fn a_websocket_connect_that_hangs_names_the_socket_phase() {
    let mut m = socket_call(true);
    m.handle(Input::MediaReady);
    let ticks = run_clock_until(&mut m, BUDGET_MS + 1.0);
    let out: Vec<Output> = ticks.into_iter().map(|(_, o)| o).collect();
    let e = failed(&out).expect("the budget ends the connect");
    assert_eq!((e.code, e.phase()), (ErrorCode::Timeout, Some("socket")));
}

#[test]
fn with_an_ice_limit_a_connect_whose_ice_does_not_connect_in_time_fails_as_ice_timeout() {
    let limited = || {
        Machine::new(Setup {
            ice_limit_ms: Some(4_000.0),
            ..setup(false, true)
        })
    };
    // The answer arrives at 100 ms; ICE never connects: at 4,100 ms the connect fails, typed.
    let mut m = limited();
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0 offer".into()));
    m.handle_at(answered(ANSWER), 100.0);
    assert_eq!(
        m.poll_timeout(),
        Some(4_100.0),
        "the limit counts from the answer"
    );
    let ticks = run_clock_until(&mut m, 4_099.0);
    assert!(failed(&ticks.iter().map(|t| t.1.clone()).collect::<Vec<_>>()).is_none());
    let out = m.handle_at(Input::Timeout, 4_100.0);
    let e = failed(&out).expect("the connect fails at the limit");
    assert_eq!(
        (e.code, e.phase(), e.details.reason),
        (ErrorCode::IceFailed, Some("ice"), Some("ice-timeout"))
    );
    assert!(e.retryable);
    // ICE that connects in time clears the limit: the budget is what remains.
    let mut m = limited();
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0 offer".into()));
    m.handle_at(answered(ANSWER), 100.0);
    m.handle_at(Input::Ice(IceState::Connected), 3_000.0);
    assert_eq!(m.poll_timeout(), Some(BUDGET_MS));
    // Without a limit nothing changes.
    let mut m = Machine::new(setup(false, true));
    m.handle(Input::MediaReady);
    m.handle(Input::LocalOffer("v=0 offer".into()));
    m.handle_at(answered(ANSWER), 100.0);
    assert_eq!(m.poll_timeout(), Some(BUDGET_MS));
}
