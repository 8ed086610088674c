//! SmallWebRTC signalling of a call (docs/protocol.md §2–3): its local offers, the requests to
//! the offer URL (the offer, trickled candidates, a recovery's offer), and the server's answer
//! applied.

use super::link;
use super::peer::{apply_answer, local_offer, local_sdp, Peer};
use crate::error::{Error, Phase};
use crate::json::Value;
use crate::machine::{Flight, Input};
use crate::web::call::Call;
use crate::web::deadline::Deadline;
use crate::web::http::{send_json, Method};
use crate::web::json::{parse_text, stringify};
use crate::web::wait::abort_controller;
use crate::web::wait::spawn;
use std::rc::Rc;

/// What to do with a request's answer.
type Answered = dyn FnOnce(&Rc<Call>, Result<String, Error>);

/// The offer leaves with the candidates gathered so far (`Machine::offer_leaves`).
pub fn with_gathered(call: &Call, attempt: Option<u32>, peer: &Peer, body: &mut Value) {
    let sdp = local_sdp(&peer.pc);
    if !sdp.is_empty() {
        call.machine.borrow_mut().offer_leaves(attempt, body, sdp);
    }
}

/// Creates a local offer and sets it. `regather`: an ICE restart of the unsent offer, so
/// gathering starts again under the ICE servers now in force (`Input::RegatheredOffer`).
pub fn make_offer(call: &Rc<Call>, regather: bool) {
    let Some(rtc) = link(call) else { return };
    let offer = local_offer(&rtc.peer().pc, regather);
    call.feed(Box::pin(async move {
        Some(match offer.await {
            Ok(sdp) if regather => Input::RegatheredOffer(sdp),
            Ok(sdp) => Input::LocalOffer(sdp),
            Err(e) => Input::Failure(e),
        })
    }));
}

/// Sends `body` to the offer URL as request `flight` and hands the answer's text to `done`,
/// unless the request was aborted meanwhile (the machine timed it out, cancelled its attempt,
/// or the call closed): then what it reports is dropped.
pub fn to_offer_url(
    call: &Rc<Call>,
    method: Method,
    body: &Value,
    flight: Flight,
    (phase, what): (Phase, &'static str),
    done: impl FnOnce(&Rc<Call>, Result<String, Error>) + 'static,
) {
    // One copy of the request's future for every caller.
    request(call, method, body, flight, (phase, what), Box::new(done))
}

fn request(
    call: &Rc<Call>,
    method: Method,
    body: &Value,
    flight: Flight,
    (phase, what): (Phase, &'static str),
    done: Box<Answered>,
) {
    let Some(rtc) = link(call) else { return };
    let controller = match abort_controller() {
        Ok(c) => c,
        Err(e) => return done(call, Err(e)),
    };
    rtc.fly(flight, controller.clone());
    let target = rtc.target.borrow().clone();
    let body = stringify(body);
    let weak = Rc::downgrade(call);
    spawn(async move {
        let deadline = Deadline::within(controller.signal());
        let result = match target {
            None => Err(Error::invalid("no offer URL")),
            Some((url, credentials)) => {
                send_json(method, &url, &credentials, body, &deadline, phase, what).await
            }
        };
        // Weakly held meanwhile, as in `Call::feed`.
        if let Some(call) = weak.upgrade() {
            if link(&call).is_some_and(|rtc| rtc.land(flight, &controller)) {
                done(&call, result)
            }
        }
    });
}

/// `Rtc::PostOffer`: the offer, with the candidates gathered by now.
pub fn post_offer(call: &Rc<Call>, mut body: Value) {
    let Some(rtc) = link(call) else { return };
    with_gathered(call, None, &rtc.peer(), &mut body);
    call.mark("offerSent");
    to_offer_url(
        call,
        Method::Post,
        &body,
        Flight::Offer,
        (Phase::Offer, "offer"),
        |call, r| {
            call.input(match r {
                Ok(text) => Input::OfferAnswered(parse_text(&text)),
                Err(e) => Input::Failure(e),
            })
        },
    );
}

/// `Rtc::SetRemote`: the server's answer on the call's connection.
pub fn set_remote(call: &Rc<Call>, sdp: String) {
    let Some(rtc) = link(call) else { return };
    let applied = apply_answer(&rtc.peer().pc, &sdp);
    call.feed(Box::pin(async move {
        Some(match applied.await {
            Ok(_) => Input::RemoteApplied,
            Err(e) => Input::Failure(e),
        })
    }));
}

/// `Rtc::Patch`: trickled candidates of the call's connection.
pub fn patch(call: &Rc<Call>, body: Value) {
    to_offer_url(
        call,
        Method::Patch,
        &body,
        Flight::Patch,
        (Phase::Ice, "ICE candidate"),
        |call, r| call.input(Input::PatchDone(r.map(drop))),
    );
}
