use super::super::tests::{answered, live};
use super::super::*;
use crate::recovery::{Config, Recovery};
use serde_json::json;

type Json = serde_json::Value;

/// A live call whose reconnect policy is on (5 attempts, 30 s), with traffic flowing until
/// `last` ms: armed, so silence is noticed.
fn flowing_until(last: f64) -> Machine {
    let mut m = live();
    m.recovery = Recovery::new(Config::new(5, 30_000.0, 3));
    let mut t = 0.0;
    let mut packets = 0;
    while t <= last {
        assert!(!m.handle_at(traffic(packets), t).iter().any(is_state));
        packets += 25;
        t += 500.0;
    }
    m
}

fn traffic(packets: u64) -> Input {
    Input::Net(recovery::Input::Traffic {
        packets,
        messages: 0,
    })
}

fn is_state(o: &Output) -> bool {
    matches!(o, Output::State(_))
}

fn named(out: &[Output], name: &str) -> Vec<Json> {
    out.iter()
        .filter_map(|o| match o {
            Output::Emit(Event::Named(n, v)) if *n == name => Some(v.into()),
            _ => None,
        })
        .collect()
}

fn error(out: &[Output]) -> Option<&Error> {
    out.iter().find_map(|o| match o {
        Output::Emit(Event::Error(e)) => Some(e),
        _ => None,
    })
}

/// Silence from 1000 ms on, noticed, then the timer runs until attempt 1 starts.
fn down_to_attempt_one() -> (Machine, f64) {
    let mut m = flowing_until(1_000.0);
    let last = 1_000.0;
    // The counter stops growing: 1.5 s later a sample says so.
    let out = m.handle_at(traffic(50), 1_500.0);
    assert!(out.is_empty(), "{out:?}");
    let out = m.handle_at(traffic(50), 2_500.0);
    assert_eq!(out[0], Output::State(State::Reconnecting));
    assert_eq!(m.state(), State::Reconnecting);
    let at = m.recovery.poll_timeout().expect("the policy's timer");
    assert_eq!(at, last + recovery::RESTART_AFTER_SILENCE_MS);
    assert!(
        m.poll_timeout().is_some_and(|t| t <= at),
        "the call's timer covers it"
    );
    let out = m.handle_at(Input::Timeout, at);
    assert_eq!(
        named(&out, "reconnecting"),
        vec![json!({"attempt": 1, "delayMs": 0})]
    );
    assert!(
        out.contains(&Output::Rtc(Rtc::Restart { attempt: 1 })),
        "{out:?}"
    );
    (m, at)
}

fn candidate(n: u32) -> Option<Candidate> {
    Some(Candidate {
        candidate: format!("candidate:{n} 1 udp 1 192.0.2.1 {n} typ host"),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    })
}

/// Attempt `n`'s offer is made at `t`, its probe answered (any status) at `t + 10`; the
/// outputs up to its POST, which goes out after the heal grace (the old connection could still
/// heal).
fn probe_through(m: &mut Machine, n: u32, t: f64, sdp: &str) -> Vec<Output> {
    let out = m.handle_at(
        Input::AttemptOffer {
            attempt: n,
            sdp: sdp.into(),
        },
        t,
    );
    // Nothing is posted before a probe shows the path works.
    assert_eq!(out, vec![Output::Rtc(Rtc::Probe { attempt: n })]);
    let err = Error::http(Phase::Call, "offer", 405, "", None, &[]);
    let out = m.handle_at(
        Input::AttemptProbed {
            attempt: n,
            result: Err(err),
        },
        t + 10.0,
    );
    assert!(out.iter().all(|o| matches!(o, Output::Timer(_))), "{out:?}");
    assert_eq!(
        m.recovery.poll_timeout(),
        Some(t + 10.0 + recovery::HEAL_GRACE_MS)
    );
    m.handle_at(
        Input::Net(recovery::Input::Tick),
        t + 10.0 + recovery::HEAL_GRACE_MS,
    )
}

#[test]
fn a_drop_probes_then_restarts_and_adopts_the_pc_id_of_the_answer() {
    let (mut m, t) = down_to_attempt_one();
    // A probe that fails (network) is followed by another after the gap.
    let out = m.handle_at(
        Input::AttemptOffer {
            attempt: 1,
            sdp: "v=0 restart".into(),
        },
        t + 5.0,
    );
    assert_eq!(out, vec![Output::Rtc(Rtc::Probe { attempt: 1 })]);
    let down = Error::new(ErrorCode::Http, "network error");
    let out = m.handle_at(
        Input::AttemptProbed {
            attempt: 1,
            result: Err(down),
        },
        t + 1_005.0,
    );
    let next = t + 1_005.0 + recovery::PROBE_GAP_MS;
    assert!(out.iter().all(|o| matches!(o, Output::Timer(_))), "{out:?}");
    assert_eq!(m.recovery.poll_timeout(), Some(next));
    let out = m.handle_at(Input::Net(recovery::Input::Tick), next);
    assert!(
        out.contains(&Output::Rtc(Rtc::Probe { attempt: 1 })),
        "{out:?}"
    );
    let out = m.handle_at(
        Input::AttemptProbed {
            attempt: 1,
            result: Ok(()),
        },
        next + 5.0,
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Rtc(Rtc::PostRestart { .. }))));
    let out = m.handle_at(
        Input::Net(recovery::Input::Tick),
        next + 5.0 + recovery::HEAL_GRACE_MS,
    );
    let t = next + 5.0 + recovery::HEAL_GRACE_MS;
    let Some(Output::Rtc(Rtc::PostRestart { attempt: 1, body })) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(
        Json::from(body),
        json!({"sdp": "v=0 restart", "type": "offer", "pc_id": "pc-1", "restart_pc": true})
    );
    // Candidates wait for the answer: the server has the new peer only then.
    let out = m.handle_at(
        Input::AttemptCandidate {
            attempt: 1,
            candidate: candidate(1),
        },
        t + 6.0,
    );
    assert!(out.is_empty(), "{out:?}");
    // Pipecat names the same bot's new connection with a new pc_id.
    let Input::OfferAnswered(body) =
        answered(r#"{"sdp":"v=0 answer","type":"answer","pc_id":"pc-2"}"#)
    else {
        unreachable!()
    };
    let out = m.handle_at(Input::AttemptAnswered { attempt: 1, body }, t + 30.0);
    assert_eq!(
        out[0],
        Output::Rtc(Rtc::AttemptSetRemote {
            attempt: 1,
            sdp: "v=0 answer".into()
        })
    );
    let Output::Rtc(Rtc::AttemptPatch { attempt: 1, body }) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(Json::from(body)["pc_id"], "pc-2");
    assert_eq!(m.pc_id(), Some("pc-2"));
    assert_eq!(m.state(), State::Reconnecting);
    let out = m.handle_at(Input::AttemptConnected(1), t + 60.0);
    assert_eq!(out[0], Output::Rtc(Rtc::Swap(1)));
    assert_eq!(out[1], Output::State(State::Connected));
    let down_ms = (t + 60.0 - 1_000.0) as u64;
    assert_eq!(
        named(&out, "reconnected"),
        vec![json!({"attempts": 1, "downMs": down_ms})]
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Connected)));
    // The new channel announces the client again, and the connect is not resolved twice.
    let out = m.handle_at(Input::ChannelOpen { now_ms: t + 70.0 }, t + 70.0);
    let sent: Vec<Json> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send(v) => Some(v.into()),
            _ => None,
        })
        .collect();
    assert!(sent.iter().any(|v| v["type"] == "client-ready"), "{sent:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::Connected)));
    // Later candidates of the new connection go out through the call's own queue (the shell
    // reports the attempt's PATCH still in flight as the call's own once swapped).
    m.handle_at(Input::PatchDone(Ok(())), t + 75.0);
    let out = m.handle_at(Input::Candidate(candidate(2)), t + 80.0);
    assert!(matches!(&out[..], [Output::Rtc(Rtc::Patch(b))] if Json::from(b)["pc_id"] == "pc-2"));

    // The next drop's restart names the newest pc_id (a server that kept the old one would
    // answer with it again, which changes nothing).
    let out = m.handle_at(Input::Ice(IceState::Failed), t + 5_000.0);
    assert!(
        out.contains(&Output::Rtc(Rtc::Restart { attempt: 1 })),
        "{out:?}"
    );
    let err = Error::http(Phase::Call, "offer", 400, "", None, &[]);
    m.handle_at(
        Input::AttemptOffer {
            attempt: 1,
            sdp: "v=0 again".into(),
        },
        t + 5_010.0,
    );
    // The old connection cannot heal (ICE failed): the offer goes out with the probe's answer.
    let out = m.handle_at(
        Input::AttemptProbed {
            attempt: 1,
            result: Err(err),
        },
        t + 5_020.0,
    );
    let Some(Output::Rtc(Rtc::PostRestart { attempt: 1, body })) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(Json::from(body)["pc_id"], "pc-2");
}

#[test]
fn traffic_coming_back_before_the_restart_heals_without_an_attempt() {
    let mut m = flowing_until(1_000.0);
    m.handle_at(traffic(50), 2_600.0);
    assert_eq!(m.state(), State::Reconnecting);
    let out = m.handle_at(traffic(75), 6_000.0);
    assert_eq!(out[0], Output::State(State::Connected));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Rtc(Rtc::Restart { .. }))));
    assert_eq!(m.recovery.poll_timeout(), None, "the policy wants no timer");
}

#[test]
fn a_session_the_server_no_longer_has_ends_the_call_with_a_typed_error() {
    // The probe of the session's offer route answered 404: the runner's answer once the
    // session's bot has ended (or the runner restarted).
    let (mut m, t) = down_to_attempt_one();
    m.handle_at(
        Input::AttemptOffer {
            attempt: 1,
            sdp: "v=0".into(),
        },
        t,
    );
    let err = Error::http(Phase::Call, "offer", 404, "", None, &[]);
    let out = m.handle_at(
        Input::AttemptProbed {
            attempt: 1,
            result: Err(err),
        },
        t + 1.0,
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Rtc(Rtc::PostRestart { .. }))));
    let e = error(&out).expect("an error event");
    assert_eq!(
        (e.code, e.phase(), e.details.reason, e.retryable),
        (
            ErrorCode::Signalling,
            Some("call"),
            Some("session-gone"),
            false
        )
    );
    assert!(out.contains(&Output::State(State::Disconnected)));
    assert!(out.contains(&Output::Rtc(Rtc::CancelAttempt(1))));
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::PeerLeft)));
    assert!(m
        .handle_at(Input::Net(recovery::Input::Tick), t + 99_000.0)
        .is_empty());

    // 404 for the restart offer itself.
    let (mut m, t) = down_to_attempt_one();
    probe_through(&mut m, 1, t, "v=0");
    let err = Error::http(Phase::Offer, "offer", 404, "", None, &[]);
    let out = m.handle_at(
        Input::AttemptFailed {
            attempt: 1,
            error: err,
        },
        t + 600.0,
    );
    assert_eq!(
        error(&out).and_then(|e| e.details.reason),
        Some("session-gone")
    );
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::PeerLeft)));
}

#[test]
fn failed_attempts_back_off_then_give_up_with_a_retryable_ice_failed() {
    let (mut m, mut t) = down_to_attempt_one();
    let mut delays = Vec::new();
    let mut end = None;
    for attempt in 1..40 {
        let out = m.handle_at(
            Input::AttemptFailed {
                attempt,
                error: Error::network(Phase::Offer, "offer"),
            },
            t,
        );
        assert!(
            out.contains(&Output::Rtc(Rtc::CancelAttempt(attempt))),
            "{out:?}"
        );
        if let Some(e) = error(&out) {
            end = Some((e.clone(), out.clone()));
            break;
        }
        let announced = named(&out, "reconnecting");
        assert_eq!(announced.len(), 1, "{out:?}");
        assert_eq!(announced[0]["attempt"], attempt + 1);
        delays.push(announced[0]["delayMs"].as_u64().unwrap());
        t = m.recovery.poll_timeout().expect("the backoff's timer");
        let out = m.handle_at(Input::Net(recovery::Input::Tick), t);
        assert!(
            out.contains(&Output::Rtc(Rtc::Restart {
                attempt: attempt + 1
            })),
            "{out:?}"
        );
    }
    let (e, out) = end.expect("gave up");
    assert_eq!(
        (e.code, e.phase(), e.retryable),
        (ErrorCode::IceFailed, Some("call"), true)
    );
    assert!(matches!(
        e.details.reason,
        Some("attempts-exhausted" | "timeout")
    ));
    assert!(out.contains(&Output::State(State::Failed)));
    assert_eq!(
        out.last(),
        Some(&Output::Close(DisconnectReason::IceFailed))
    );
    assert!(!delays.is_empty() && delays.iter().all(|d| (500..=4_000).contains(d)));
    assert_eq!(m.state(), State::Failed);
}

#[test]
fn disconnect_during_an_attempt_cancels_it_and_stale_inputs_are_ignored() {
    let (mut m, t) = down_to_attempt_one();
    // An input for an attempt that is not the one under way changes nothing.
    assert!(m.handle_at(Input::AttemptConnected(7), t).is_empty());
    let out = m.handle_at(Input::Disconnect, t + 1.0);
    assert!(out.contains(&Output::Rtc(Rtc::CancelAttempt(1))), "{out:?}");
    assert_eq!(out.last(), Some(&Output::Close(DisconnectReason::Local)));
    assert!(error(&out).is_none());
    assert!(m.handle_at(Input::AttemptConnected(1), t + 2.0).is_empty());
}

#[test]
fn with_recovery_on_a_closed_channel_of_a_working_call_is_still_an_ordinary_end() {
    let mut m = flowing_until(1_000.0);
    let out = m.handle_at(Input::ChannelClosed, 1_100.0);
    assert_eq!(
        out,
        vec![
            Output::State(State::Disconnected),
            Output::Close(DisconnectReason::ChannelClosed)
        ]
    );
}

#[test]
fn ice_failed_mid_call_restarts_at_once_and_recovery_off_ends_the_call() {
    let mut m = flowing_until(1_000.0);
    let out = m.handle_at(Input::Ice(IceState::Failed), 1_200.0);
    assert_eq!(out[0], Output::State(State::Reconnecting));
    assert!(
        out.contains(&Output::Rtc(Rtc::Restart { attempt: 1 })),
        "{out:?}"
    );

    let mut m = live();
    let out = m.handle_at(Input::Ice(IceState::Failed), 5.0);
    let e = error(&out).expect("error");
    assert_eq!(
        (e.code, e.phase(), e.details.reason),
        (ErrorCode::IceFailed, Some("call"), Some("ice-failed"))
    );
    assert_eq!(
        out.last(),
        Some(&Output::Close(DisconnectReason::IceFailed))
    );
}
