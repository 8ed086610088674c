//! The WebRTC transport (SmallWebRTC): what a call carried by an `RTCPeerConnection` does that
//! no other transport would — the peer connection and its events, the offer and answer over
//! HTTP, trickled candidates, and recovery on a new peer connection. `run` is the `Transport`
//! of such a call: it carries out every `Rtc` output of the machine; `Link` is what the call
//! holds of WebRTC (its `Carrier`).
//!
//! | file | job |
//! |---|---|
//! | `peer.rs` | the `RTCPeerConnection` and its channel; what a call holds of WebRTC (`Link`) |
//! | `listen.rs` | their browser events, fed to the call's machine |
//! | `signal.rs` | local offers, requests to the offer URL, the answer applied |
//! | `recovery.rs` | traffic samples, `online`/`offline`, recovery attempts and the swap |

pub mod listen;
pub mod peer;
pub mod recovery;
pub mod signal;

use crate::machine::Rtc;
use crate::web::call::Call;
use crate::web::carrier::Carrier;
use peer::Link;
use std::rc::Rc;

/// What `call` holds of WebRTC. Only a call another transport carries has none, and nothing of
/// this transport (its outputs, listeners, requests) exists for such a call.
pub fn link(call: &Call) -> Option<&Link> {
    match &call.held.carrier {
        Carrier::WebRtc(link) => Some(link),
        #[allow(unreachable_patterns)] // the measuring build without the WebSocket transport
        _ => None,
    }
}

/// Carries out one `Rtc` output (the call is live: `Call::run` checked).
pub fn run(call: &Rc<Call>, output: Rtc) {
    let Some(rtc) = link(call) else { return };
    match output {
        Rtc::Offer => signal::make_offer(call, false),
        Rtc::PostOffer(body) => signal::post_offer(call, body),
        Rtc::SetRemote(sdp) => signal::set_remote(call, sdp),
        Rtc::Patch(body) => signal::patch(call, body),
        Rtc::Sample => recovery::sample(call),
        Rtc::Restart { attempt } => recovery::restart(call, attempt),
        Rtc::Probe { attempt } => recovery::probe(call, attempt),
        Rtc::PostRestart { attempt, body } => recovery::post(call, attempt, body),
        Rtc::AttemptSetRemote { attempt, sdp } => recovery::set_remote(call, attempt, sdp),
        Rtc::AttemptPatch { attempt, body } => recovery::patch(call, attempt, body),
        Rtc::CancelAttempt(attempt) => recovery::cancel(call, attempt),
        Rtc::Swap(attempt) => recovery::swap(call, attempt),
        Rtc::Abort(flight) => rtc.abort(&|f| f == flight),
    }
}
