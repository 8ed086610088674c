//! The browser events of a call's peer connections and channels, fed to its machine.

use super::link;
use super::peer::{Of, Peer};
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::{IceState, Input};
use crate::rtvi::classify;
use crate::trickle::Candidate;
use crate::web::call::Call;
use crate::web::json::parse_message;
use crate::web::media::add_remote_track;
use crate::web::wait::now_ms;
use gloo_events::EventListener;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, RtcPeerConnectionIceEvent, RtcTrackEvent};

/// The peer connection's and channel's listeners, each feeding the call's machine. They hold the
/// call weakly: the call owns them and drops them when it closes. `n` is the machine's number
/// for the peer connection: the call's current one feeds the machine as usual, a recovery
/// attempt's feeds its attempt (`recovery.rs`), any other's is stale and ignored.
pub fn listen(call: &Rc<Call>, peer: &Peer, n: u32) -> Vec<EventListener> {
    let weak = Rc::downgrade(call);
    let on = |target: &web_sys::EventTarget,
              name: &'static str,
              f: fn(&Rc<Call>, Of, &web_sys::Event)| {
        let weak = weak.clone();
        EventListener::new(target, name, move |e| {
            if let Some(call) = weak.upgrade() {
                if let Some(of) = link(&call).and_then(|rtc| rtc.which(n)) {
                    f(&call, of, e)
                }
            }
        })
    };
    vec![
        on(&peer.pc, "icecandidate", |call, of, e| {
            let Some(e) = e.dyn_ref::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            let candidate = e.candidate().map(|c| Candidate {
                candidate: c.candidate(),
                sdp_mid: c.sdp_mid(),
                sdp_mline_index: c.sdp_m_line_index(),
            });
            call.input(match of {
                Of::Call => Input::Candidate(candidate),
                Of::Attempt(attempt) => Input::AttemptCandidate { attempt, candidate },
            });
        }),
        on(&peer.pc, "iceconnectionstatechange", |call, of, _| {
            let Some(peer) = link(call).map(|rtc| rtc.peer_of(of)) else {
                return;
            };
            let state = IceState::parse(&peer.state("iceConnectionState"));
            match (of, state) {
                (Of::Call, _) => {
                    if state == IceState::Connected {
                        call.mark("iceConnected");
                    }
                    call.input(Input::Ice(state));
                }
                (Of::Attempt(n), IceState::Connected) => call.input(Input::AttemptConnected(n)),
                (Of::Attempt(n), IceState::Failed) => call.input(attempt_failed(n)),
                _ => {}
            }
        }),
        on(&peer.pc, "connectionstatechange", |call, of, _| {
            let failed = link(call).map(|rtc| rtc.peer_of(of).state("connectionState"));
            if failed.as_deref() == Some("failed") {
                call.input(match of {
                    Of::Call => Input::Ice(IceState::Failed),
                    Of::Attempt(n) => attempt_failed(n),
                });
            }
        }),
        on(&peer.pc, "track", |call, of, e| {
            let Some(e) = e.dyn_ref::<RtcTrackEvent>() else {
                return;
            };
            match of {
                Of::Call => {
                    call.mark("remoteTrack");
                    add_remote_track(call, &e.track());
                }
                // Moved into `remoteStream` when the attempt's connection becomes the call's.
                Of::Attempt(_) => {
                    let Some(rtc) = link(call) else { return };
                    if let Some(a) = rtc.attempt.borrow_mut().as_mut() {
                        a.tracks.push(e.track());
                    }
                }
            }
        }),
        on(&peer.channel, "open", |call, of, _| match of {
            Of::Call => {
                call.mark("channelOpen");
                call.input(Input::ChannelOpen { now_ms: now_ms() })
            }
            Of::Attempt(_) => {
                let Some(rtc) = link(call) else { return };
                if let Some(a) = rtc.attempt.borrow_mut().as_mut() {
                    a.channel_open = true;
                }
            }
        }),
        on(&peer.channel, "close", |call, of, _| {
            if of == Of::Call {
                call.input(Input::ChannelClosed)
            }
        }),
        on(&peer.channel, "message", |call, of, e| {
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            if let (Of::Call, Some(rtc)) = (of, link(call)) {
                rtc.count_message();
            }
            if let Some(text) = e.data().as_string() {
                let (json, cut) = parse_message(&text).unzip();
                call.input(Input::Message(classify(text, json, cut == Some(true))));
            }
        }),
    ]
}

fn attempt_failed(attempt: u32) -> Input {
    Input::AttemptFailed {
        attempt,
        error: Error::new(ErrorCode::IceFailed, "the new connection failed")
            .with_phase(Phase::Call),
    }
}
