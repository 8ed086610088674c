//! Negotiation: when the offer may leave (the start answered, the media settled), the
//! candidates it carries and the trickle that follows, renegotiation one round at a time, and
//! what a failure of a round means before and after the connect resolved.

use super::{DisconnectReason, Event, Machine, Output, Rtc, State};
use crate::error::Error;
use crate::json::Value;
use crate::signalling::offer_body;

impl Machine {
    /// The offer in `body` (of `attempt`, or the call's) leaves now. `sdp` is the browser's
    /// local description as it is now: the same offer with the candidates gathered since it was
    /// set, which the server can check at once. It goes instead, and the trickle skips them.
    pub fn offer_leaves(&mut self, attempt: Option<u32>, body: &mut Value, sdp: String) {
        let trickle = match (attempt, self.attempt.as_mut()) {
            (None, _) => &mut self.trickle,
            (Some(n), Some(a)) if a.number == n => &mut a.trickle,
            _ => return,
        };
        trickle.in_offer(&sdp);
        if let Value::Object(m) = body {
            m.insert("sdp", sdp);
        }
    }

    /// During connect any failure ends it; afterwards a failed renegotiation is reported and
    /// the call goes on with the description it has.
    pub(super) fn failure(&mut self, out: &mut Vec<Output>, err: Error) {
        let err = self.with_phase(err);
        if !self.settled {
            self.fail(out, err, State::Failed, DisconnectReason::Local);
            return;
        }
        out.push(Output::Emit(Event::Error(err)));
        if self.negotiating {
            self.negotiating = false;
            self.pending_offer = None;
            if std::mem::take(&mut self.renegotiate_pending) {
                self.renegotiate(out);
            }
        }
    }

    pub(super) fn local_offer(&mut self, out: &mut Vec<Output>, sdp: String) {
        if self.pc_id.is_some() || self.pending_offer.is_some() {
            // A new offer (a renegotiation, or one replacing an offer not sent) gathers anew.
            self.trickle.restart();
        }
        self.pending_offer = Some(sdp);
        self.post_offer_if_ready(out);
    }

    /// The offer goes out once it exists, the start answered (when part of this connect) and
    /// the media settled: a denied microphone or a failed start never reaches the bot.
    pub(super) fn post_offer_if_ready(&mut self, out: &mut Vec<Output>) {
        if (self.starting && !self.started) || !self.media_ready {
            return;
        }
        if let Some(sdp) = self.pending_offer.take() {
            out.push(Output::Rtc(Rtc::PostOffer(offer_body(
                &sdp,
                self.pc_id.as_deref(),
                false,
                self.request_data.as_ref(),
            ))));
        }
    }

    pub(super) fn renegotiate(&mut self, out: &mut Vec<Output>) {
        if self.negotiating {
            self.renegotiate_pending = true;
        } else {
            self.negotiating = true;
            out.push(Output::Rtc(Rtc::Offer));
        }
    }

    pub(super) fn flush_trickle(&mut self, out: &mut Vec<Output>) {
        if let Some(body) = self.trickle.next_batch() {
            out.push(Output::Rtc(Rtc::Patch(body)));
        }
    }
}
