//! Recovery of a live call after a network drop: when the call is suspected down, when to act,
//! how to retry. Pure like the machine (str0m's habit): the machine feeds it what the browser
//! reported with the time (`handle(input, now_ms)`), ticks it at `poll_timeout()`, and carries
//! out the `Action`s — it never does I/O itself.
//!
//! # The policy, and why
//!
//! Measured with Chromium 156 against the Pipecat runner: ICE goes `disconnected` ~5.5 s into a
//! cut and `failed` ~15.5 s in; the server ends the bot ~30 s after the cut (ICE consent
//! expiry). A cut under ~10 s heals by itself — the same peer connection carries audio again
//! 15–30 ms after the path returns — and a restart (`restart_pc: true`) that reaches the server
//! first kills that connection. Longer cuts never heal: only a restart saves the call, and it has
//! to reach the server before the ~30 s expiry.
//!
//! - **Tell the app fast.** The bot's audio flows at ~50 packets/s without pause (silence is
//!   sent as packets too), so a traffic sample (the browser shell takes one every 250 ms) that shows nothing new for
//!   [`SILENCE_MS`] = 1.5 s means the path is down: `Interrupted` comes at most 1.5 s + one
//!   sample period (≤ 1.75 s) after the last packet. A false alarm costs a `reconnecting` →
//!   `connected` blip, never a restart. Silence is judged only on a sample, never on a timer, so
//!   a throttled sampler cannot raise it. Until a first increase is seen ("armed"), or when the
//!   shell does not sample, ICE `disconnected`/`failed` and `offline` are the signals.
//! - **Let short cuts heal.** No restart before [`RESTART_AFTER_SILENCE_MS`] = 10 s after the
//!   last packet (the measured healing window), or [`RESTART_AFTER_DISCONNECTED_MS`] = 5 s
//!   after ICE `disconnected` (~10.5 s into the cut, the official client's rule), whichever is
//!   first. Both are capped at a third of `timeout_ms`, so a short budget still gets attempts.
//!   Traffic growing again on the old connection before a restart was answered is `Healed`
//!   (an attempt under way is cancelled); once armed, the old connection's ICE `connected` alone
//!   is no heal (traffic shows within a sample if it is one). After an answer the server has
//!   dropped the old connection: nothing about it counts any more. A restored connection is
//!   watched for silence once it has carried something, so one that never does cannot cause a
//!   restart loop.
//! - **Act at once when healing is impossible**: ICE `failed`, the old channel closed, or
//!   `online` after `offline` (the OS took the interface away; Chromium dropped its candidate
//!   pairs on it and will not find a path again without an ICE restart).
//! - **Retry** with backoff: attempt 1 at once, then 1 s, 2 s, 2 s… each drawn in [half, full]
//!   (equal jitter, seeded xorshift: deterministic in tests) so clients cut by the same outage do
//!   not return in step. The cap is short because in a real cut nothing tells the browser that
//!   the path is back while it waits (no `online` event, the old ICE long `failed`): with a 4 s
//!   cap a 25 s cut came back 3.7 s after the path did. An attempt's offer POST must be answered within
//!   [`POST_TIMEOUT_MS`] = 4 s: during an outage a POST sits in TCP SYN back-off (SYNs at 0, 1,
//!   3, 7 s) and would answer seconds after the path returns; 4 s still lets the 1 s and 3 s SYNs
//!   through. Once answered, the new connection has [`CONNECT_TIMEOUT_MS`] = 4 s to connect.
//!   A POST stuck in back-off is also aborted and replaced by a fresh one at once on `online`, or
//!   when ICE on the old connection comes back (the path is back). No attempt starts while
//!   `offline` (it would fail at once and burn an attempt).
//! - **A late restart offer is no end.** An attempt's POST that was aborted may still reach the
//!   server: its bytes sit in the send buffer of a kept-alive TCP connection and go out when the
//!   path returns (seen in a real cut: an offer aborted at 12.0 s landed after the one that
//!   recovered the call at 12.1 s). The server takes it as the newest `restart_pc` and drops the
//!   working connection for one no browser will ever connect. So a channel that closes within
//!   `timeout_ms` of a recovery counts as a drop whose old connection is dead: restart at once
//!   (the server hands the bot back to our new connection); a session really over answers that
//!   with 404 and the call ends with `SessionGone`.
//! - **Give up** after `max_attempts` attempts failed, or `timeout_ms` after the drop (default 30
//!   s: the server's own limit), or at once when the session is gone (HTTP 404/410 for the
//!   session or `pc_id`, or `peerLeft`). An answer with another `pc_id` is the same bot's new
//!   connection (Pipecat 1.14 names it anew on every `restart_pc`): the call adopts it. A backoff
//!   that would end past the deadline gives up then and there.
//!
//! Worst case, every attempt stuck (last packet at 0 s): `Interrupted` ≤ 2 s, attempt 1 at 10 s,
//! 2 at ~14.5–15 s, 3 at ~19.5–20 s, 4 at ~24.5–26 s, 5 at ~29–30 s, `GiveUp` at 30 s. Simulated
//! (tests), every cut of 10–27 s is recovered; cuts up to 10 s less one sample period always
//! heal first. Measured with real cuts (`make bench`, `ip link set lo down` in a network
//! namespace): 3, 8, 12, 16, 20 and 25 s cuts all recovered; the official client recovers none
//! of the 12 s or 20 s cuts.
//!
//! `max_attempts: 0` turns all this off: ICE `failed` or a closed channel end the call as before.

use crate::signalling::{ConnectOptions, DEFAULT_RECONNECT_TIMEOUT_MS};
use crate::trickle::IceState;

/// No new inbound packet or message for this long (seen on a sample) means the path is down.
pub const SILENCE_MS: f64 = 1_500.0;
/// The first restart waits this long after the last packet: cuts shorter than ~10 s heal alone.
pub const RESTART_AFTER_SILENCE_MS: f64 = 10_000.0;
/// … or this long after ICE `disconnected` (itself ~5.5 s into a cut).
pub const RESTART_AFTER_DISCONNECTED_MS: f64 = 5_000.0;
/// An attempt's offer POST must be answered within this.
pub const POST_TIMEOUT_MS: f64 = 4_000.0;
/// After the answer, the new peer connection must be ICE-connected within this.
pub const CONNECT_TIMEOUT_MS: f64 = 4_000.0;
/// A path probe (a `HEAD` to the offer URL) that has not answered within this counts as failed.
pub const PROBE_TIMEOUT_MS: f64 = 1_000.0;
/// The next probe after a failed one starts this long after the failure.
pub const PROBE_GAP_MS: f64 = 250.0;
/// The path is back but the old connection may still heal by itself (its ICE is not `failed`,
/// its channel open): the restart offer waits this long for traffic to say so first.
pub const HEAL_GRACE_MS: f64 = 500.0;
/// Nominal delay before attempt 2; doubled for each next one up to `BACKOFF_CAP_MS`.
pub const BACKOFF_BASE_MS: u32 = 1_000;
pub const BACKOFF_CAP_MS: u32 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Restarts allowed per drop; 0 disables recovery.
    pub max_attempts: u32,
    /// Time allowed from the drop to a restored call.
    pub timeout_ms: f64,
    /// Seeds the jitter.
    pub seed: u64,
}

impl Config {
    /// A timeout that is not a positive finite number gets the default (options are validated
    /// before, this only keeps the arithmetic sane).
    pub fn new(max_attempts: u32, timeout_ms: f64, seed: u64) -> Config {
        let timeout_ms = if timeout_ms.is_finite() && timeout_ms > 0.0 {
            timeout_ms
        } else {
            DEFAULT_RECONNECT_TIMEOUT_MS
        };
        Config {
            max_attempts,
            timeout_ms,
            seed,
        }
    }

    pub fn from_options(options: &ConnectOptions, seed: u64) -> Config {
        Config::new(
            options.reconnect_attempts,
            options.reconnect_timeout_ms,
            seed,
        )
    }
}

impl Default for Config {
    /// The documented defaults: 5 attempts, 30 s.
    fn default() -> Self {
        Config::new(
            crate::signalling::DEFAULT_RECONNECT_ATTEMPTS,
            DEFAULT_RECONNECT_TIMEOUT_MS,
            0,
        )
    }
}

/// What the browser reported. ICE, channel and traffic are about the call's current ("old")
/// peer connection; the attempt inputs name the attempt they belong to (a stale one is ignored).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// `poll_timeout()` was reached.
    Tick,
    /// The current peer connection's ICE connection state.
    Ice(IceState),
    /// The current peer connection's data channel closed.
    ChannelClosed,
    /// The window's `offline` / `online` events.
    Offline,
    Online,
    /// Running totals on the current peer connection: inbound RTP audio packets, channel messages.
    Traffic {
        packets: u64,
        messages: u64,
    },
    /// The attempt's path probe came back: `true` when the server answered at all (any HTTP
    /// status), `false` on a network error or after [`PROBE_TIMEOUT_MS`].
    Probed(u32, bool),
    /// The attempt's offer was answered: the server dropped the old connection for the new one
    /// (Pipecat names it with a new `pc_id`; the machine adopts it).
    Answered(u32),
    /// The attempt's new peer connection is ICE-connected (its offer answered): the call is back.
    Restored(u32),
    /// The attempt failed: HTTP error, network error, unusable answer, new connection failed.
    AttemptFailed(u32),
    /// The server's session is over: 404/410 on the session's offer route, or `peerLeft`.
    SessionGone,
    /// The app called `disconnect()`: nothing more comes out.
    Disconnect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Audio stopped: state `reconnecting` ("audio interrupted, recovering").
    Interrupted,
    /// The same connection carries traffic again without a restart: state `connected`.
    Healed,
    /// Attempt `attempt` starts in `delay_ms`: the `reconnecting` event `{attempt, delayMs}`.
    Reconnecting { attempt: u32, delay_ms: u32 },
    /// Start attempt `attempt`: a new peer connection and its offer; the offer is not posted
    /// before a probe shows the path to the server works (`Probe`, then `Post`).
    Restart { attempt: u32 },
    /// Probe the path for attempt `attempt` again; report `Probed`.
    Probe { attempt: u32 },
    /// POST attempt `attempt`'s offer (`restart_pc: true`, the call's `pc_id`) now. Report
    /// `Answered`, `Restored` or `AttemptFailed` with the number.
    Post { attempt: u32 },
    /// Drop attempt `attempt`: abort its request if still running, close its peer connection.
    Cancel { attempt: u32 },
    /// The attempt's connection is the call's now (close the old one): state `connected`, the
    /// `reconnected` event `{attempts, downMs}`.
    Recovered { attempts: u32, down_ms: u32 },
    /// End the call (the machine's `Close` frees any attempt still under way).
    GiveUp(Reason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// ICE failed with recovery disabled.
    IceFailed,
    /// `max_attempts` attempts failed.
    Attempts,
    /// `timeout_ms` passed since the drop.
    Timeout,
    /// The server's session is over.
    SessionGone,
    /// The far end closed the channel of a working connection: an ordinary end.
    ChannelClosed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IceFailed => "ice-failed",
            Reason::Attempts => "attempts-exhausted",
            Reason::Timeout => "timeout",
            Reason::SessionGone => "session-gone",
            Reason::ChannelClosed => "channel-closed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// The next attempt starts at this time, not announced yet: the first one (unless the drop
    /// heals first), or one held back while offline.
    Waiting(f64),
    /// Attempt `attempts + 1` is announced and starts at this time.
    Scheduled(f64),
    /// Attempt `attempts` is under way; what happens at `deadline` depends on its leg.
    InFlight { deadline: f64, leg: Leg },
}

/// Where an attempt is. Its offer reaches the server only once a probe got through: an offer
/// POSTed into a dead path may still arrive after the path returns (its bytes wait in the send
/// queue of a kept-alive connection even once the page aborted it) and replace the connection
/// that a later offer restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leg {
    /// Probing the path; at `deadline` (never while a probe is out) the next probe.
    Probing,
    /// A probe got through while the old connection may still heal: at `deadline` the POST.
    Ready,
    /// The offer is POSTed: at `deadline` it has taken too long.
    Posted,
    /// Answered: at `deadline` the new connection has taken too long to connect.
    Answered,
}

impl Leg {
    /// Nothing of the attempt has reached the server.
    fn unsent(self) -> bool {
        matches!(self, Leg::Probing | Leg::Ready)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Down {
    /// When the drop began: the last traffic seen, or the first signal of it.
    since: f64,
    /// Restarts issued.
    attempts: u32,
    step: Step,
    /// The old connection cannot heal: ICE failed or its channel closed.
    old_dead: bool,
}

#[derive(Debug)]
pub struct Recovery {
    config: Config,
    rng: u64,
    down: Option<Down>,
    done: bool,
    last_total: Option<u64>,
    /// The last sample that showed new traffic; `Some` once armed.
    last_growth: Option<f64>,
    /// ICE of the current connection has been `disconnected`/`failed` since.
    ice_down_at: Option<f64>,
    offline: bool,
    /// The last recovery: a channel closing soon after it is a late offer's doing.
    recovered_at: Option<f64>,
}

impl Recovery {
    pub fn new(config: Config) -> Recovery {
        Recovery {
            config,
            // Any seed but the one that would make the xorshift state zero.
            rng: (config.seed ^ 0x9e37_79b9_7f4a_7c15).max(1),
            down: None,
            done: false,
            last_total: None,
            last_growth: None,
            ice_down_at: None,
            offline: false,
            recovered_at: None,
        }
    }

    /// Recovery is on (`max_attempts` > 0).
    pub fn enabled(&self) -> bool {
        self.config.max_attempts > 0
    }

    /// The call is suspected down (state `reconnecting`).
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    /// Gave up, or disconnected: nothing more will come out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The attempt under way, if any.
    pub fn in_flight(&self) -> Option<u32> {
        match self.down {
            Some(Down {
                attempts,
                step: Step::InFlight { .. },
                ..
            }) => Some(attempts),
            _ => None,
        }
    }

    /// When to send the next `Tick` (same clock as `now_ms`); `None`: only inputs matter.
    pub fn poll_timeout(&self) -> Option<f64> {
        let d = self.down.as_ref()?;
        let give_up = d.since + self.config.timeout_ms;
        let step = match d.step {
            Step::InFlight { deadline, .. } => deadline,
            Step::Waiting(_) | Step::Scheduled(_) if self.offline => give_up,
            Step::Waiting(at) | Step::Scheduled(at) => at,
        };
        Some(step.min(give_up))
    }

    pub fn handle(&mut self, input: Input, now: f64) -> Vec<Action> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if input == Input::Disconnect {
            self.done = true;
            self.down = None;
            return out;
        }
        // Timers due before this input fire first.
        self.advance(now, &mut out);
        if self.done {
            return out;
        }
        if self.config.max_attempts == 0 {
            match input {
                Input::Ice(IceState::Failed) => self.give_up(&mut out, Reason::IceFailed),
                Input::ChannelClosed => self.give_up(&mut out, Reason::ChannelClosed),
                Input::SessionGone => self.give_up(&mut out, Reason::SessionGone),
                _ => {}
            }
            return out;
        }
        match input {
            Input::Tick | Input::Disconnect => {}
            Input::Traffic { packets, messages } => self.traffic(&mut out, packets, messages, now),
            Input::Ice(state) => self.ice(&mut out, state, now),
            Input::ChannelClosed => {
                let replaced = self
                    .recovered_at
                    .is_some_and(|t| now - t < self.config.timeout_ms);
                if self.down.is_none() && replaced {
                    self.interrupt(&mut out, now, now);
                }
                match &mut self.down {
                    None => self.give_up(&mut out, Reason::ChannelClosed),
                    Some(d) => d.old_is_dead(now),
                }
            }
            Input::Offline => {
                self.offline = true;
                if self.down.is_none() {
                    self.interrupt(&mut out, now, now);
                }
            }
            Input::Online => {
                if std::mem::take(&mut self.offline) {
                    // The interface went away: the old connection's candidate pairs went with it.
                    if let Some(d) = &mut self.down {
                        d.old_is_dead(now);
                    }
                    self.retry_now(&mut out, now);
                }
            }
            Input::Probed(n, alive) => {
                let can_heal = self.last_growth.is_some();
                if let Some(d) = self.down_with(n) {
                    if let Step::InFlight { deadline, leg } = &mut d.step {
                        if *leg == Leg::Probing && !alive {
                            *deadline = now + PROBE_GAP_MS;
                        } else if *leg == Leg::Probing {
                            // The POST goes out at the end of this input, or after the grace.
                            *leg = Leg::Ready;
                            let grace = can_heal && !d.old_dead;
                            *deadline = now + if grace { HEAL_GRACE_MS } else { 0.0 };
                        }
                    }
                }
            }
            Input::Answered(n) => {
                if let Some(d) = self.down_with(n) {
                    if let Step::InFlight { deadline, leg } = &mut d.step {
                        if *leg == Leg::Posted {
                            *leg = Leg::Answered;
                            *deadline = now + CONNECT_TIMEOUT_MS;
                        }
                    }
                }
            }
            Input::Restored(n) => {
                if let Some(d) = self.down_with(n) {
                    let down_ms = (now - d.since).max(0.0) as u32;
                    out.push(Action::Recovered {
                        attempts: n,
                        down_ms,
                    });
                    self.back_up();
                    self.recovered_at = Some(now);
                    // The new connection's counters start from zero, and its silence counts only
                    // once it carried something: one that never does must not be restarted
                    // every 11.5 s (ICE still watches it).
                    self.last_total = None;
                    self.last_growth = None;
                }
            }
            Input::AttemptFailed(n) => {
                if self.down_with(n).is_some() {
                    out.push(Action::Cancel { attempt: n });
                    self.next_attempt(&mut out, now);
                }
            }
            Input::SessionGone => self.give_up(&mut out, Reason::SessionGone),
        }
        // Decisions made just now (restart at once) fire now.
        self.advance(now, &mut out);
        out
    }

    fn traffic(&mut self, out: &mut Vec<Action>, packets: u64, messages: u64, now: f64) {
        let total = packets.saturating_add(messages);
        let previous = self.last_total.replace(total);
        match previous {
            Some(p) if total > p => {
                self.last_growth = Some(now);
                // Traffic proves a path, whatever `navigator.onLine` said.
                self.offline = false;
                if let Some(d) = &self.down {
                    // Once an offer went out the server drops the old connection: its traffic
                    // is the last of it.
                    let sent = matches!(d.step, Step::InFlight { leg, .. } if !leg.unsent());
                    if !sent && !d.old_dead {
                        self.heal(out);
                    }
                }
            }
            Some(p) if total == p && self.down.is_none() => {
                if let Some(last) = self.last_growth {
                    if now - last >= SILENCE_MS {
                        self.interrupt(out, last, now);
                    }
                }
            }
            // A first sample, or counters that went back (another connection): a new baseline.
            _ => {}
        }
    }

    fn ice(&mut self, out: &mut Vec<Action>, state: IceState, now: f64) {
        match state {
            IceState::Connected => {
                self.ice_down_at = None;
                let armed = self.last_growth.is_some();
                let Some(d) = &mut self.down else { return };
                match d.step {
                    Step::InFlight {
                        leg: Leg::Answered, ..
                    } => {}
                    // Without traffic samples ICE is the only evidence of a heal.
                    _ if !armed && !d.old_dead => self.heal(out),
                    // The path is back: a POST in SYN back-off would answer seconds late, and a
                    // backoff has nothing left to wait for. (Before the first attempt, or while
                    // an attempt waits for a probe, the drop may still heal: traffic will tell.)
                    Step::InFlight {
                        leg: Leg::Posted, ..
                    }
                    | Step::Scheduled(_) => self.retry_now(out, now),
                    _ => {}
                }
            }
            IceState::Disconnected => {
                let at = *self.ice_down_at.get_or_insert(now) + self.restart_after_disconnected();
                match &mut self.down {
                    Some(Down {
                        step: Step::Waiting(w),
                        ..
                    }) => *w = w.min(at),
                    Some(_) => {}
                    None => {
                        // Traffic, when sampled and recent, knows better than ICE.
                        let stale = self.last_growth.is_none_or(|t| now - t >= SILENCE_MS);
                        if stale {
                            self.interrupt(out, now, now);
                        }
                    }
                }
            }
            IceState::Failed => {
                self.ice_down_at.get_or_insert(now);
                if self.down.is_none() {
                    self.interrupt(out, now, now);
                }
                if let Some(d) = &mut self.down {
                    d.old_is_dead(now);
                }
            }
            IceState::Checking | IceState::Closed | IceState::Other => {}
        }
    }

    /// The drop is noticed: `since` is when it began.
    fn interrupt(&mut self, out: &mut Vec<Action>, since: f64, now: f64) {
        out.push(Action::Interrupted);
        let mut at = since + self.restart_after_silence();
        if let Some(t) = self.ice_down_at {
            at = at.min(t + self.restart_after_disconnected());
        }
        self.down = Some(Down {
            since: since.min(now),
            attempts: 0,
            step: Step::Waiting(at),
            old_dead: false,
        });
    }

    fn restart_after_silence(&self) -> f64 {
        RESTART_AFTER_SILENCE_MS.min(self.config.timeout_ms / 3.0)
    }

    fn restart_after_disconnected(&self) -> f64 {
        RESTART_AFTER_DISCONNECTED_MS.min(self.config.timeout_ms / 3.0)
    }

    fn heal(&mut self, out: &mut Vec<Action>) {
        if let Some(n) = self.in_flight() {
            out.push(Action::Cancel { attempt: n });
        }
        out.push(Action::Healed);
        self.back_up();
    }

    fn back_up(&mut self) {
        self.down = None;
        self.ice_down_at = None;
        self.offline = false;
    }

    /// The down state when attempt `n` is the one under way.
    fn down_with(&mut self, n: u32) -> Option<&mut Down> {
        self.down
            .as_mut()
            .filter(|d| d.attempts == n && matches!(d.step, Step::InFlight { .. }))
    }

    /// Replace a POST under way by a fresh attempt now (the last allowed one is kept), probe
    /// again now, or bring the next attempt forward.
    fn retry_now(&mut self, out: &mut Vec<Action>, now: f64) {
        let max = self.config.max_attempts;
        let Some(d) = &mut self.down else { return };
        match &mut d.step {
            Step::InFlight {
                leg: Leg::Posted, ..
            } if d.attempts < max => {
                out.push(Action::Cancel {
                    attempt: d.attempts,
                });
                d.step = Step::Waiting(now);
            }
            // A probe still out answers for itself (a second one would change nothing).
            Step::InFlight {
                leg: Leg::Probing,
                deadline,
            } if deadline.is_finite() => *deadline = deadline.min(now),
            Step::InFlight { .. } => {}
            Step::Waiting(at) | Step::Scheduled(at) => *at = at.min(now),
        }
    }

    /// After a failed or timed-out attempt.
    fn next_attempt(&mut self, out: &mut Vec<Action>, now: f64) {
        let Some(d) = self.down else { return };
        if d.attempts >= self.config.max_attempts {
            return self.give_up(out, Reason::Attempts);
        }
        let step = if self.offline {
            Step::Waiting(now)
        } else {
            let attempt = d.attempts + 1;
            let delay_ms = self.backoff(attempt);
            let at = now + f64::from(delay_ms);
            if at >= d.since + self.config.timeout_ms {
                return self.give_up(out, Reason::Timeout);
            }
            out.push(Action::Reconnecting { attempt, delay_ms });
            Step::Scheduled(at)
        };
        if let Some(d) = &mut self.down {
            d.step = step;
        }
    }

    /// Fire what is due at `now`.
    fn advance(&mut self, now: f64, out: &mut Vec<Action>) {
        let Some(d) = &mut self.down else { return };
        if now >= d.since + self.config.timeout_ms {
            return self.give_up(out, Reason::Timeout);
        }
        match d.step {
            // Nothing sent yet: the next probe (timed only once it reports), or the POST.
            Step::InFlight { deadline, leg } if leg.unsent() && now >= deadline => {
                let attempt = d.attempts;
                let (action, step) = if leg == Leg::Probing {
                    (Action::Probe { attempt }, (f64::INFINITY, Leg::Probing))
                } else {
                    (
                        Action::Post { attempt },
                        (now + POST_TIMEOUT_MS, Leg::Posted),
                    )
                };
                out.push(action);
                d.step = Step::InFlight {
                    deadline: step.0,
                    leg: step.1,
                };
            }
            Step::InFlight { deadline, .. } if now >= deadline => {
                out.push(Action::Cancel {
                    attempt: d.attempts,
                });
                self.next_attempt(out, now);
            }
            Step::Waiting(at) | Step::Scheduled(at) if !self.offline && now >= at => {
                d.attempts += 1;
                let attempt = d.attempts;
                if matches!(d.step, Step::Waiting(_)) {
                    out.push(Action::Reconnecting {
                        attempt,
                        delay_ms: 0,
                    });
                }
                out.push(Action::Restart { attempt });
                // The machine probes once the attempt's offer is made.
                d.step = Step::InFlight {
                    deadline: f64::INFINITY,
                    leg: Leg::Probing,
                };
            }
            _ => {}
        }
    }

    fn give_up(&mut self, out: &mut Vec<Action>, reason: Reason) {
        out.push(Action::GiveUp(reason));
        self.done = true;
        self.down = None;
    }

    /// The delay before attempt `attempt` (≥ 2): nominal 1 s doubling to 4 s, drawn in
    /// [nominal / 2, nominal].
    fn backoff(&mut self, attempt: u32) -> u32 {
        let shift = attempt.saturating_sub(2).min(16);
        let nominal = (BACKOFF_BASE_MS << shift).min(BACKOFF_CAP_MS);
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let half = nominal / 2;
        half + ((x >> 16) % u64::from(half + 1)) as u32
    }
}

impl Down {
    /// The old connection cannot heal any more: the first attempt need not wait.
    fn old_is_dead(&mut self, now: f64) {
        self.old_dead = true;
        if let Step::Waiting(at) = &mut self.step {
            *at = at.min(now);
        }
    }
}

#[cfg(test)]
mod tests;
