//! The machine's side of recovery after a network drop: it feeds the pure policy
//! (`recovery.rs`) what the live call reports, turns the policy's actions into outputs — state,
//! events, a new peer connection, a probe of the path, its offer with `restart_pc: true` and the
//! call's `pc_id`, the swap to it — and ends the call with a typed error when the policy gives up.
//!
//! The `pc_id` of a restart's answer becomes the call's: Pipecat (1.14) names the new peer
//! connection of the same bot with a new id on every `restart_pc` and keeps answering to the old
//! ones, so the next restart and every PATCH use the newest. Only 404/410 on the offer route or
//! `peerLeft` say that the session is over.

use super::{DisconnectReason, Event, Input, Machine, Output, Rtc, State};
use crate::error::{Error, ErrorCode};
use crate::json::obj;
use crate::json::Value;
use crate::recovery::{self, Action, Reason};
use crate::signalling::{offer_body, parse_answer};
use crate::trickle::TrickleQueue;

/// The recovery attempt under way.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) number: u32,
    pub(super) trickle: TrickleQueue,
    /// The restart offer's body, from the local offer until the policy says `Post`.
    offer: Option<Value>,
}

impl Machine {
    /// Feeds the policy and carries out its actions.
    pub(super) fn recover(&mut self, out: &mut Vec<Output>, input: recovery::Input) {
        for action in self.recovery.handle(input, self.now) {
            self.act(out, action);
        }
    }

    fn act(&mut self, out: &mut Vec<Output>, action: Action) {
        if self.closed {
            return;
        }
        match action {
            Action::Interrupted => self.set_state(out, State::Reconnecting),
            Action::Healed => self.set_state(out, State::Connected),
            Action::Reconnecting { attempt, delay_ms } => out.push(Output::Emit(Event::Named(
                "reconnecting",
                obj([("attempt", attempt.into()), ("delayMs", delay_ms.into())]),
            ))),
            Action::Restart { attempt } => {
                self.attempt = Some(Attempt {
                    number: attempt,
                    trickle: TrickleQueue::new(),
                    offer: None,
                });
                out.push(Output::Rtc(Rtc::Restart { attempt }));
            }
            Action::Probe { attempt } => {
                if self.attempt.as_ref().is_some_and(|a| a.number == attempt) {
                    out.push(Output::Rtc(Rtc::Probe { attempt }));
                }
            }
            Action::Post { attempt } => {
                let body = self
                    .attempt
                    .as_mut()
                    .filter(|a| a.number == attempt)
                    .and_then(|a| a.offer.take());
                if let Some(body) = body {
                    out.push(Output::Rtc(Rtc::PostRestart { attempt, body }));
                }
            }
            Action::Cancel { attempt } => {
                if self.attempt.as_ref().is_some_and(|a| a.number == attempt) {
                    self.attempt = None;
                }
                out.push(Output::Rtc(Rtc::CancelAttempt(attempt)));
            }
            Action::Recovered { attempts, down_ms } => {
                if let Some(a) = self.attempt.take() {
                    // Candidates the new connection still gathers go out with the call's own.
                    self.trickle = a.trickle;
                    out.push(Output::Rtc(Rtc::Swap(a.number)));
                }
                // The new channel's `open` sends client-ready again.
                self.channel_open = false;
                self.set_state(out, State::Connected);
                out.push(Output::Emit(Event::Named(
                    "reconnected",
                    obj([("attempts", attempts.into()), ("downMs", down_ms.into())]),
                )));
            }
            Action::GiveUp(reason) => self.give_up(out, reason),
        }
    }

    fn give_up(&mut self, out: &mut Vec<Output>, reason: Reason) {
        let (err, state, end) = match reason {
            // The far end closed the channel of a working call: an ordinary end, no error.
            Reason::ChannelClosed => {
                return self.close(out, State::Disconnected, DisconnectReason::ChannelClosed)
            }
            Reason::SessionGone => (
                Error::new(
                    ErrorCode::Signalling,
                    "the connection was lost and the server's session is over",
                ),
                State::Disconnected,
                DisconnectReason::PeerLeft,
            ),
            Reason::IceFailed | Reason::Attempts | Reason::Timeout => {
                let mut e = Error::new(
                    ErrorCode::IceFailed,
                    "the connection was lost and could not be restored",
                );
                e.retryable = true;
                (e, State::Failed, DisconnectReason::IceFailed)
            }
        };
        let mut err = err.with_phase(self.phase());
        err.details.reason = Some(reason.as_str());
        out.push(Output::Emit(Event::Error(err)));
        self.close(out, state, end);
    }

    /// Inputs about the attempt under way; a stale attempt's are dropped.
    pub(super) fn attempt_input(&mut self, out: &mut Vec<Output>, input: Input) {
        let n = match &input {
            Input::AttemptOffer { attempt, .. }
            | Input::AttemptProbed { attempt, .. }
            | Input::AttemptAnswered { attempt, .. }
            | Input::AttemptCandidate { attempt, .. }
            | Input::AttemptPatchDone { attempt }
            | Input::AttemptFailed { attempt, .. }
            | Input::AttemptConnected(attempt) => *attempt,
            _ => return,
        };
        let Some(attempt) = self.attempt.as_mut().filter(|a| a.number == n) else {
            return;
        };
        let trickle = &mut attempt.trickle;
        match input {
            Input::AttemptOffer { sdp, .. } => {
                attempt.offer = Some(offer_body(
                    &sdp,
                    self.pc_id.as_deref(),
                    true,
                    self.request_data.as_ref(),
                ));
                out.push(Output::Rtc(Rtc::Probe { attempt: n }));
            }
            Input::AttemptProbed { result, .. } => {
                let input = match result {
                    // A network error or no answer in time: the path is still down.
                    Err(e) if e.status.is_none() => recovery::Input::Probed(n, false),
                    // The session's offer route is gone (the runner's answer for a session
                    // whose bot ended).
                    Err(e) if matches!(e.status, Some(404 | 410)) => recovery::Input::SessionGone,
                    // Any other answer: the server is reachable.
                    _ => recovery::Input::Probed(n, true),
                };
                self.recover(out, input);
            }
            Input::AttemptAnswered { body, .. } => match parse_answer(body.as_ref()) {
                Ok(answer) => {
                    // Pipecat's answer names the same bot's new connection with a new id.
                    self.pc_id = Some(answer.pc_id.clone());
                    trickle.set_pc_id(answer.pc_id);
                    let batch = trickle.next_batch();
                    out.push(Output::Rtc(Rtc::AttemptSetRemote {
                        attempt: n,
                        sdp: answer.sdp,
                    }));
                    if let Some(body) = batch {
                        out.push(Output::Rtc(Rtc::AttemptPatch { attempt: n, body }));
                    }
                    self.recover(out, recovery::Input::Answered(n));
                }
                Err(_) => self.recover(out, recovery::Input::AttemptFailed(n)),
            },
            Input::AttemptCandidate { candidate, .. } => {
                trickle.push(candidate);
                if let Some(body) = trickle.next_batch() {
                    out.push(Output::Rtc(Rtc::AttemptPatch { attempt: n, body }));
                }
            }
            Input::AttemptPatchDone { .. } => {
                trickle.batch_done();
                if let Some(body) = trickle.next_batch() {
                    out.push(Output::Rtc(Rtc::AttemptPatch { attempt: n, body }));
                }
            }
            Input::AttemptConnected(_) => self.recover(out, recovery::Input::Restored(n)),
            Input::AttemptFailed { error, .. } => {
                // 404/410 for the call's `pc_id`: the server's session is over.
                let gone = matches!(error.status, Some(404 | 410));
                let input = if gone {
                    recovery::Input::SessionGone
                } else {
                    recovery::Input::AttemptFailed(n)
                };
                self.recover(out, input);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
