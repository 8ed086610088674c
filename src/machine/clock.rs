//! Every rule of a call that depends on time, in one place: the connect's budget, the ping on
//! the channel, the sampling of traffic for the recovery policy, each `sendClientRequest`'s own
//! limit, the limits of the HTTP requests a call makes once it is up (`Flight`), and the
//! policy's timer. The shell keeps exactly one timer per call: armed at
//! `poll_timeout()` when the call is made, then at every `Output::Timer(at)`; when it fires the
//! shell feeds `Input::Timeout` (`handle_at` gives the time).

use super::Input;
use super::{DisconnectReason, Machine, Output, Rtc, State};
use crate::error::{Error, ErrorCode, Phase};
use crate::recovery;
use crate::rtvi;

/// How often a ping goes out on an open channel (the server's keep-alive expects one a second).
pub const PING_MS: f64 = 1_000.0;
/// A WebSocket call that has heard nothing from the server for this long sends a probe the bot
/// answers (Pipecat's RTVI answers a type it does not know with `error-response`)...
pub const QUIET_MS: f64 = 2_000.0;
/// ...and, when nothing at all arrives within this long of it, the path is dead: the call ends
/// (`timeout`). The socket itself may stay open for minutes on a dead path (TCP retries).
pub const PROBE_WAIT_MS: f64 = 2_400.0;
/// How often the call's traffic is sampled for the recovery policy once it is up.
pub const SAMPLE_MS: f64 = 250.0;
/// How long one HTTP request of a live call (a renegotiation's offer, a trickle PATCH, a
/// recovery's PATCH) may take. While connecting, the connect's budget covers them.
pub const LATE_REQUEST_MS: f64 = 10_000.0;

/// An HTTP request of the call, at most one of each at a time. The shell keeps what cuts each
/// one short; `Rtc::Abort` tells it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flight {
    /// The call's offer (`Rtc::PostOffer`).
    Offer,
    /// The call's trickle PATCH (`Rtc::Patch`).
    Patch,
    /// Attempt N's path probe, offer and trickle PATCH.
    Probe(u32),
    Restart(u32),
    AttemptPatch(u32),
}

impl Flight {
    /// The recovery attempt the request belongs to.
    pub fn attempt(self) -> Option<u32> {
        match self {
            Flight::Offer | Flight::Patch => None,
            Flight::Probe(n) | Flight::Restart(n) | Flight::AttemptPatch(n) => Some(n),
        }
    }
}

/// A `sendClientRequest` waiting for the bot's answer.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) id: String,
    at: f64,
    timeout_ms: f64,
}

/// The times at which something is due (same clock as `handle_at`).
#[derive(Debug, Default)]
pub(super) struct Clock {
    /// The connect's budget: when it runs out, and how long it was.
    budget: Option<(f64, f64)>,
    /// How long ICE may take once the answer is back (`Setup::ice_limit_ms`), and, once it is,
    /// when that runs out.
    pub(super) ice_limit_ms: Option<f64>,
    pub(super) ice_limit: Option<f64>,
    /// The next ping (WebRTC), or the next liveness check (WebSocket).
    pub(super) ping: Option<f64>,
    /// A WebSocket call's last liveness probe: when it left, its id (kept after its answer:
    /// an answer that comes after other frames is still not the page's).
    probe: Option<(f64, String)>,
    sample: Option<f64>,
    pub(super) pending: Vec<Pending>,
    /// Requests in flight that have a limit, and when it is reached.
    flights: Vec<(Flight, f64)>,
    /// What the shell's timer is armed for.
    armed: Option<f64>,
}

impl Clock {
    /// The shell arms its timer for the budget when it creates the call (`poll_timeout()`).
    pub(super) fn new(now: f64, timeout_ms: f64, ice_limit_ms: Option<f64>) -> Clock {
        let at = now + timeout_ms;
        Clock {
            budget: Some((at, timeout_ms)),
            ice_limit_ms,
            armed: Some(at),
            ..Clock::default()
        }
    }

    pub(super) fn wait(&mut self, id: String, now: f64, timeout_ms: f64) {
        self.pending.push(Pending {
            id,
            at: now + timeout_ms,
            timeout_ms,
        });
    }

    /// Whether `id` is the liveness probe's (its answer is not the page's).
    pub(super) fn probe_answered(&self, id: Option<&str>) -> bool {
        self.probe
            .as_ref()
            .is_some_and(|p| Some(p.1.as_str()) == id)
    }

    /// Takes the request `id` out of the waiting ones; whether it was waiting.
    pub(super) fn answered(&mut self, id: &str) -> bool {
        let i = self.pending.iter().position(|p| p.id == id);
        i.map(|i| self.pending.swap_remove(i)).is_some()
    }
}

impl Machine {
    /// When the next thing is due (`Input::Timeout` then), `None` when nothing is.
    pub fn poll_timeout(&self) -> Option<f64> {
        let c = &self.clock;
        let times = [
            c.budget.map(|b| b.0),
            c.ice_limit,
            c.ping,
            c.sample,
            self.recovery.poll_timeout(),
        ];
        let requests = c.pending.iter().map(|p| Some(p.at));
        let flights = c.flights.iter().map(|f| Some(f.1));
        times
            .into_iter()
            .chain(requests)
            .chain(flights)
            .flatten()
            .reduce(f64::min)
    }

    /// A WebSocket call's liveness: a probe after `QUIET_MS` with nothing heard, the path dead
    /// when nothing comes within `PROBE_WAIT_MS` of it (true); the next check armed otherwise.
    fn check_heard(&mut self, out: &mut Vec<Output>) -> bool {
        let (now, heard) = (self.now, self.heard);
        let c = &mut self.clock;
        let sent = c.probe.as_ref().map(|p| p.0).filter(|at| heard < *at);
        c.ping = Some(match sent {
            Some(at) if now >= at + PROBE_WAIT_MS => return true,
            Some(at) => at + PROBE_WAIT_MS,
            None if now < heard + QUIET_MS => heard + QUIET_MS,
            None if !self.channel_open => now + QUIET_MS,
            None => {
                let id = self.ids.next_id();
                out.push(Output::Send(rtvi::envelope("keepalive", &id, None)));
                c.probe = Some((now, id));
                now + PROBE_WAIT_MS
            }
        });
        false
    }

    /// The channel opened: pings from now on.
    pub(super) fn start_ping(&mut self) {
        self.clock.ping = Some(self.now + PING_MS);
    }

    /// The connect resolved: its budget no longer applies, and sampling starts if the call
    /// recovers from drops.
    pub(super) fn connect_done(&mut self) {
        self.clock.budget = None;
        if self.recovery.enabled() {
            self.clock.sample = Some(self.now + SAMPLE_MS);
        }
    }

    /// Carries out whatever is due at `self.now`.
    pub(super) fn on_timeout(&mut self, out: &mut Vec<Output>) {
        // The shell's timer fired and is gone, whenever it fired: it is armed again below for
        // whatever is still due (a timer can fire a little before its time by `Date.now()`, and
        // a clock waiting for a re-arm that never comes would stop the call's pings, samples and
        // recovery for good).
        self.clock.armed = None;
        let now = self.now;
        if let Some((at, ms)) = self.clock.budget {
            if at <= now {
                self.clock.budget = None;
                if !self.settled {
                    let err = Error::timeout(self.phase(), ms);
                    return self.fail(out, err, State::Disconnected, DisconnectReason::Timeout);
                }
            }
        }
        if self.clock.ice_limit.is_some_and(|at| at <= now) {
            self.clock.ice_limit = None;
            if !self.settled && !self.ice_connected {
                let ms = self.clock.ice_limit_ms.unwrap_or(0.0);
                let mut err = Error::new(
                    ErrorCode::IceFailed,
                    format!(
                        "ICE did not connect within {} ms of the answer",
                        crate::json::decimal(ms as u64)
                    ),
                )
                .with_phase(Phase::Ice);
                err.retryable = true;
                err.details.reason = Some("ice-timeout");
                return self.fail(out, err, State::Failed, DisconnectReason::IceFailed);
            }
        }
        if self.clock.ping.is_some_and(|at| at <= now) {
            if self.socket {
                if self.check_heard(out) {
                    let mut err = Error::new(
                        ErrorCode::Timeout,
                        "no answer to the liveness probe: the path is dead",
                    )
                    .with_phase(Phase::Call);
                    err.details.reason = Some("no-frames");
                    return self.fail(out, err, State::Disconnected, DisconnectReason::Timeout);
                }
            } else {
                self.clock.ping = Some(now + PING_MS);
                if self.channel_open {
                    out.push(Output::SendText(rtvi::ping(now)));
                }
            }
        }
        if self.clock.sample.is_some_and(|at| at <= now) {
            self.clock.sample = Some(now + SAMPLE_MS);
            out.push(Output::Rtc(Rtc::Sample));
        }
        let mut i = 0;
        while i < self.clock.pending.len() {
            if self.clock.pending[i].at <= now {
                let p = self.clock.pending.swap_remove(i);
                out.push(Output::Settle {
                    id: p.id,
                    result: Err(Error::timeout(Phase::Call, p.timeout_ms)),
                });
            } else {
                i += 1;
            }
        }
        while let Some(i) = self.clock.flights.iter().position(|f| f.1 <= now) {
            let (flight, _) = self.clock.flights.swap_remove(i);
            out.push(Output::Rtc(Rtc::Abort(flight)));
            // What the request's own failure would have said.
            let late = |phase| Error::timeout(phase, LATE_REQUEST_MS);
            let input = match flight {
                Flight::Offer => Input::Failure(late(Phase::Offer)),
                Flight::Patch => Input::PatchDone(Err(late(Phase::Ice))),
                Flight::Probe(attempt) => Input::AttemptProbed {
                    attempt,
                    result: Err(Error::timeout(Phase::Call, recovery::PROBE_TIMEOUT_MS)),
                },
                Flight::AttemptPatch(attempt) => Input::AttemptPatchDone { attempt },
                // The policy gives an attempt's offer its own limit (`POST_TIMEOUT_MS`).
                Flight::Restart(_) => continue,
            };
            self.step(out, input);
            if self.closed {
                return;
            }
        }
        if self.recovery.poll_timeout().is_some_and(|at| at <= now) {
            self.recover(out, recovery::Input::Tick);
        }
    }

    /// Before an input: the request it reports on has landed (one that timed out was answered
    /// by the clock already, and the shell drops what it reports).
    pub(super) fn landed(&mut self, input: &Input) {
        let flight = match input {
            Input::OfferAnswered(_) | Input::Failure(_) => Flight::Offer,
            Input::PatchDone(_) => Flight::Patch,
            Input::AttemptProbed { attempt, .. } => Flight::Probe(*attempt),
            Input::AttemptPatchDone { attempt } => Flight::AttemptPatch(*attempt),
            _ => return,
        };
        self.clock.flights.retain(|f| f.0 != flight);
    }

    /// After an input: the requests that left get their limits; a swap makes the attempt's
    /// trickle the call's, a cancelled attempt's requests are over.
    pub(super) fn track_flights(&mut self, out: &[Output]) {
        let now = self.now;
        let late = self.settled.then_some(now + LATE_REQUEST_MS);
        let flights = &mut self.clock.flights;
        for o in out {
            let (flight, at) = match o {
                Output::Rtc(Rtc::PostOffer(_)) => (Flight::Offer, late),
                Output::Rtc(Rtc::Patch(_)) => (Flight::Patch, late),
                Output::Rtc(Rtc::Probe { attempt }) => (
                    Flight::Probe(*attempt),
                    Some(now + recovery::PROBE_TIMEOUT_MS),
                ),
                Output::Rtc(Rtc::AttemptPatch { attempt, .. }) => {
                    (Flight::AttemptPatch(*attempt), Some(now + LATE_REQUEST_MS))
                }
                Output::Rtc(Rtc::Swap(n)) => {
                    for f in flights.iter_mut() {
                        if f.0 == Flight::AttemptPatch(*n) {
                            f.0 = Flight::Patch;
                        }
                    }
                    continue;
                }
                Output::Rtc(Rtc::CancelAttempt(n)) => {
                    flights.retain(|f| f.0.attempt() != Some(*n));
                    continue;
                }
                _ => continue,
            };
            flights.retain(|f| f.0 != flight);
            if let Some(at) = at {
                flights.push((flight, at));
            }
        }
    }

    /// After each input: the shell's timer follows the earliest due time.
    pub(super) fn rearm(&mut self, out: &mut Vec<Output>) {
        // A closed call's timer goes with everything else it held (`Output::Close`).
        if self.closed {
            return;
        }
        let at = self.poll_timeout();
        if at != self.clock.armed {
            self.clock.armed = at;
            out.push(Output::Timer(at));
        }
    }

    /// The call ended: nothing is due any more, every waiting request is refused.
    pub(super) fn stop_clock(&mut self, out: &mut Vec<Output>) {
        self.clock.budget = None;
        self.clock.ping = None;
        self.clock.probe = None;
        self.clock.sample = None;
        self.clock.flights.clear();
        for p in std::mem::take(&mut self.clock.pending) {
            let err = Error::new(
                ErrorCode::Closed,
                "the connection closed before the bot answered",
            )
            .with_phase(Phase::Call);
            out.push(Output::Settle {
                id: p.id,
                result: Err(err),
            });
        }
    }
}
