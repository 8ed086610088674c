//! Every rule of a call that depends on time, in one place: the connect's budget, the ping on
//! the channel, the sampling of traffic for the recovery policy, each `sendClientRequest`'s own
//! limit, and the policy's timer. The shell keeps exactly one timer per call: armed at
//! `poll_timeout()` when the call is made, then at every `Output::Timer(at)`; when it fires the
//! shell feeds `Input::Timeout` (`handle_at` gives the time).

use super::{DisconnectReason, Machine, Output, Rtc, State};
use crate::error::{Error, ErrorCode, Phase};
use crate::recovery;
use crate::rtvi;

/// How often a ping goes out on an open channel (the server's keep-alive expects one a second).
pub const PING_MS: f64 = 1_000.0;
/// How often the call's traffic is sampled for the recovery policy once it is up.
pub const SAMPLE_MS: f64 = 250.0;

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
    ping: Option<f64>,
    sample: Option<f64>,
    pub(super) pending: Vec<Pending>,
    /// What the shell's timer is armed for.
    armed: Option<f64>,
}

impl Clock {
    /// The shell arms its timer for the budget when it creates the call (`poll_timeout()`).
    pub(super) fn new(now: f64, timeout_ms: f64) -> Clock {
        let at = now + timeout_ms;
        Clock {
            budget: Some((at, timeout_ms)),
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
            c.ping,
            c.sample,
            self.recovery.poll_timeout(),
        ];
        let requests = c.pending.iter().map(|p| Some(p.at));
        times.into_iter().chain(requests).flatten().reduce(f64::min)
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
        if self.clock.ping.is_some_and(|at| at <= now) {
            self.clock.ping = Some(now + PING_MS);
            if self.channel_open {
                out.push(Output::SendText(rtvi::ping(now)));
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
        if self.recovery.poll_timeout().is_some_and(|at| at <= now) {
            self.recover(out, recovery::Input::Tick);
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
        self.clock.sample = None;
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
