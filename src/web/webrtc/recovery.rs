//! The browser side of recovery after a network drop (the policy is `recovery.rs`, its use
//! `machine/reconnect.rs`): what the policy watches — traffic sampled from `getStats` when the
//! machine asks, the window's `online`/`offline` — and the attempts it orders. An attempt is a new
//! `RTCPeerConnection` sending the same tracks, sharing the call's `MediaStream`s, with its own
//! channel, listeners and requests; it is either dropped whole (`CancelAttempt`) or becomes the
//! call's connection (`Swap`), the old one then closed with everything it held.

use super::link;
use super::listen::listen;
use super::peer::{apply_answer, local_offer, Attempt, Peer};
use super::signal::{to_offer_url, with_gathered};
use crate::error::Phase;
use crate::json::Value;
use crate::machine::{Flight, Input};
use crate::recovery;
use crate::web::call::Call;
use crate::web::http::Method;
use crate::web::json::parse_text;
use crate::web::media::add_remote_track;
use crate::web::wait::spawn;
use crate::web::wait::{defer_drop, now_ms};
use gloo_events::EventListener;
use js_sys::Reflect;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::MediaStreamTrack;

/// `Rtc::PostRestart`: the attempt's offer, with the candidates gathered so far.
pub fn post(call: &Rc<Call>, attempt: u32, mut body: Value) {
    let Some(peer) = attempt_peer(call, attempt) else {
        return;
    };
    with_gathered(call, Some(attempt), &peer, &mut body);
    let what = (Phase::Call, "offer");
    let flight = Flight::Restart(attempt);
    to_offer_url(call, Method::Post, &body, flight, what, move |call, r| {
        call.input(match r {
            Ok(text) => Input::AttemptAnswered {
                attempt,
                body: parse_text(&text),
            },
            Err(error) => Input::AttemptFailed { attempt, error },
        })
    });
}

/// `Rtc::Probe`: a `HEAD` of the offer URL (the machine gives it `PROBE_TIMEOUT_MS`).
pub fn probe(call: &Rc<Call>, attempt: u32) {
    if attempt_peer(call, attempt).is_none() {
        return;
    }
    let what = (Phase::Call, "path probe");
    let flight = Flight::Probe(attempt);
    to_offer_url(
        call,
        Method::Head,
        &Value::Null,
        flight,
        what,
        move |call, r| {
            call.input(Input::AttemptProbed {
                attempt,
                result: r.map(drop),
            })
        },
    );
}

/// `Rtc::AttemptSetRemote`: the server's answer on the attempt's connection.
pub fn set_remote(call: &Rc<Call>, attempt: u32, sdp: String) {
    let Some(peer) = attempt_peer(call, attempt) else {
        return;
    };
    let applied = apply_answer(&peer.pc, &sdp);
    call.feed(Box::pin(async move {
        let error = applied.await.err();
        error.map(|error| Input::AttemptFailed { attempt, error })
    }));
}

/// `Rtc::AttemptPatch`: the attempt's trickled candidates.
pub fn patch(call: &Rc<Call>, attempt: u32, body: Value) {
    let Some(peer) = attempt_peer(call, attempt) else {
        return;
    };
    let what = (Phase::Call, "ICE candidate");
    to_offer_url(
        call,
        Method::Patch,
        &body,
        Flight::AttemptPatch(attempt),
        what,
        move |call, _| {
            // Once the attempt's connection is the call's, its queue is the call's too.
            let current = link(call).is_some_and(|rtc| Rc::ptr_eq(&rtc.peer(), &peer));
            call.input(if current {
                Input::PatchDone(Ok(()))
            } else {
                Input::AttemptPatchDone { attempt }
            })
        },
    );
}

/// `Rtc::CancelAttempt`.
pub fn cancel(call: &Rc<Call>, attempt: u32) {
    let Some(rtc) = link(call) else { return };
    rtc.abort(&|f| f.attempt() == Some(attempt));
    if let Some(a) = rtc.take_attempt(Some(attempt)) {
        a.close();
    }
}

/// `Rtc::Restart`: a new peer connection for attempt `number`, sending the call's tracks
/// into the same streams.
pub fn restart(call: &Rc<Call>, number: u32) {
    let Some(rtc) = link(call) else { return };
    let tracks = call.page.tracks.borrow().clone();
    let peer = match Peer::new(&rtc.ice.borrow(), &call.page.local_stream, &tracks) {
        Ok(peer) => Rc::new(peer),
        Err(error) => {
            let call = call.clone();
            let input = Input::AttemptFailed {
                attempt: number,
                error,
            };
            return spawn(async move { call.input(input) });
        }
    };
    let listeners = listen(call, &peer, number);
    let previous = rtc.attempt.replace(Some(Attempt {
        number,
        peer: peer.clone(),
        listeners,
        tracks: Vec::new(),
        channel_open: false,
    }));
    if let Some(a) = previous {
        rtc.abort(&|f| f.attempt() == Some(a.number));
        a.close();
    }
    let offer = local_offer(&peer.pc, false);
    call.feed(Box::pin(async move {
        Some(match offer.await {
            Ok(sdp) => Input::AttemptOffer {
                attempt: number,
                sdp,
            },
            Err(error) => Input::AttemptFailed {
                attempt: number,
                error,
            },
        })
    }));
}

/// `Rtc::Swap`: the attempt's connection becomes the call's: same `remoteStream` (the bot's
/// new tracks replace the old ones in it), same sent tracks, the old connection closed.
pub fn swap(call: &Rc<Call>, number: u32) {
    let Some(rtc) = link(call) else { return };
    let Some(a) = rtc.take_attempt(Some(number)) else {
        return;
    };
    let Attempt {
        number,
        peer,
        listeners,
        tracks,
        channel_open,
    } = a;
    let (old, old_listeners) = rtc.replace_peer(peer.clone(), listeners, number);
    *call.page.timings.borrow_mut() = js_sys::Object::new();
    defer_drop(old_listeners);
    // New tracks in first: a stream left without tracks goes inactive, and an element playing
    // it stops for good.
    let remote = &call.page.remote_stream;
    let stale = remote.get_tracks();
    for track in &tracks {
        add_remote_track(call, track);
    }
    for track in stale {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            remote.remove_track(&track);
        }
    }
    // A device switched while the attempt ran went to the old connection only.
    for (sender, track) in peer.senders.iter().zip(call.page.tracks.borrow().iter()) {
        if track.is_some() {
            let _ = sender.replace_track(track.as_ref());
        }
    }
    old.channel.close();
    old.pc.close();
    if channel_open {
        let call = call.clone();
        spawn(async move {
            call.mark("channelOpen");
            call.input(Input::ChannelOpen { now_ms: now_ms() })
        });
    }
}

/// Attempt `number`'s peer connection, if it is the one under way.
fn attempt_peer(call: &Call, number: u32) -> Option<Rc<Peer>> {
    let slot = link(call)?.attempt.borrow();
    slot.as_ref()
        .filter(|a| a.number == number)
        .map(|a| a.peer.clone())
}

/// `online` / `offline` on the window, owned by the call (none when recovery is off).
pub fn network_listeners(call: &Rc<Call>) -> Vec<EventListener> {
    let window = web_sys::window().filter(|_| call.machine.borrow().reconnects());
    let Some(window) = window else {
        return Vec::new();
    };
    let mut listeners = Vec::new();
    for (name, input) in [
        ("online", recovery::Input::Online),
        ("offline", recovery::Input::Offline),
    ] {
        let weak = Rc::downgrade(call);
        listeners.push(EventListener::new(&window, name, move |_| {
            if let Some(call) = weak.upgrade() {
                call.input(Input::Net(input.clone()));
            }
        }));
    }
    listeners
}

/// `Rtc::Sample`: the current connection's inbound audio packets and the channel's message
/// count go to the policy.
pub fn sample(call: &Rc<Call>) {
    let Some(rtc) = link(call) else { return };
    let peer = rtc.peer();
    // Weakly held while the browser answers: a getStats that never settles (a connection
    // closed meanwhile) must not keep the call in memory.
    let weak = Rc::downgrade(call);
    spawn(async move {
        let Ok(report) = JsFuture::from(peer.pc.get_stats()).await else {
            return;
        };
        let Some(call) = weak.upgrade() else { return };
        // A sample of a connection replaced meanwhile would mix two sets of counters.
        let Some(rtc) = link(&call).filter(|rtc| Rc::ptr_eq(&rtc.peer(), &peer)) else {
            return;
        };
        let mut packets = 0.0;
        let map: &js_sys::Map = report.unchecked_ref();
        map.for_each(&mut |stat, _| {
            let read = |key: &str| Reflect::get(&stat, &key.into()).ok();
            let is = |key: &str, want: &str| {
                read(key).and_then(|v| v.as_string()).as_deref() == Some(want)
            };
            if is("type", "inbound-rtp") && is("kind", "audio") {
                packets += read("packetsReceived")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
            }
        });
        call.input(Input::Net(recovery::Input::Traffic {
            packets: packets as u64,
            messages: rtc.messages(),
        }));
    });
}
