use super::*;
use Action::*;

const INF: f64 = f64::INFINITY;

fn config(max_attempts: u32, timeout_ms: f64) -> Config {
    Config::new(max_attempts, timeout_ms, 7)
}

/// SYNs of a POST sent while the path is down: the first, then TCP's back-off.
const SYN_AT: [f64; 4] = [0.0, 1_000.0, 3_000.0, 7_000.0];

/// A call on a simulated network: the bot's audio arrives at 50 packets/s while the path is up
/// (on the old connection only if no cut lasted 10 s or more: longer ones never heal), the shell
/// samples the total every `period` ms and ticks at `poll_timeout()`. A probe answers in 5 ms
/// while the path is up and fails after `PROBE_TIMEOUT_MS` while it is down; the server answers
/// a restart POST once one of its SYNs finds the path up (answer 50 ms later, the new
/// connection ICE-connected 100 ms after that).
struct Sim {
    r: Recovery,
    now: f64,
    packets: u64,
    period: f64,
    sampling: bool,
    next_sample: f64,
    last_sample: f64,
    /// Path down in [from, to).
    cuts: Vec<(f64, f64)>,
    /// The current connection carries nothing from then on.
    dead_from: f64,
    /// The server answers restarts.
    server: bool,
    pending: Vec<(f64, Input)>,
    log: Vec<(f64, Action)>,
}

impl Sim {
    fn new(config: Config) -> Sim {
        Sim {
            r: Recovery::new(config),
            now: 0.0,
            packets: 0,
            period: 500.0,
            sampling: true,
            next_sample: 0.0,
            last_sample: 0.0,
            cuts: Vec::new(),
            dead_from: INF,
            server: true,
            pending: Vec::new(),
            log: Vec::new(),
        }
    }

    fn cut(&mut self, from: f64, to: f64) {
        self.cuts.push((from, to));
        if to - from >= 10_000.0 {
            self.dead_from = self.dead_from.min(from);
        }
    }

    fn up(&self, t: f64) -> bool {
        !self.cuts.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// How long the path was up in [a, b).
    fn up_ms(&self, a: f64, b: f64) -> f64 {
        let down: f64 = self
            .cuts
            .iter()
            .map(|&(x, y)| (y.min(b) - x.max(a)).max(0.0))
            .sum();
        (b - a - down).max(0.0)
    }

    fn feed(&mut self, input: Input) -> Vec<Action> {
        let out = self.r.handle(input, self.now);
        for &a in &out {
            self.log.push((self.now, a));
            match a {
                // The machine probes as soon as the attempt's offer is made.
                Restart { attempt } | Probe { attempt } => {
                    let t = self.now;
                    self.pending.push(if self.up(t) {
                        (t + 5.0, Input::Probed(attempt, true))
                    } else {
                        (t + PROBE_TIMEOUT_MS, Input::Probed(attempt, false))
                    });
                }
                Post { attempt } if self.server => {
                    let through = SYN_AT.iter().map(|d| self.now + d).find(|&t| self.up(t));
                    if let Some(t) = through {
                        self.pending.push((t + 50.0, Input::Answered(attempt)));
                        self.pending.push((t + 150.0, Input::Restored(attempt)));
                    }
                }
                Cancel { attempt } => self.pending.retain(|(_, i)| {
                    *i != Input::Answered(attempt)
                        && *i != Input::Restored(attempt)
                        && *i != Input::Probed(attempt, true)
                        && *i != Input::Probed(attempt, false)
                }),
                // The new connection's counters start from zero.
                Recovered { .. } => {
                    self.packets = 0;
                    self.dead_from = INF;
                }
                _ => {}
            }
        }
        out
    }

    /// Run the clock to `t`: samples, server answers and ticks in time order.
    fn run(&mut self, t: f64) {
        loop {
            let tick = self.r.poll_timeout().unwrap_or(INF);
            let sample = if self.sampling { self.next_sample } else { INF };
            let answer = self.pending.iter().map(|p| p.0).fold(INF, f64::min);
            let next = tick.min(sample).min(answer);
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            if answer <= next {
                let i = self.pending.iter().position(|p| p.0 == answer).unwrap();
                let (_, input) = self.pending.remove(i);
                self.feed(input);
            } else if tick <= next {
                self.feed(Input::Tick);
            } else {
                let to = self.now.min(self.dead_from).max(self.last_sample);
                let arrived = self.up_ms(self.last_sample, to) / 20.0;
                self.packets += arrived as u64;
                self.last_sample = self.now;
                self.next_sample += self.period;
                self.feed(Input::Traffic {
                    packets: self.packets,
                    messages: 3,
                });
            }
        }
        self.now = self.now.max(t);
    }

    /// Run to `t`, then feed `input` at `t`.
    fn at(&mut self, t: f64, input: Input) -> Vec<Action> {
        self.run(t);
        self.feed(input)
    }

    fn actions(&self) -> Vec<Action> {
        self.log.iter().map(|&(_, a)| a).collect()
    }

    fn first(&self, pred: impl Fn(&Action) -> bool) -> Option<f64> {
        self.log.iter().find(|(_, a)| pred(a)).map(|&(t, _)| t)
    }

    fn count(&self, pred: impl Fn(&Action) -> bool) -> usize {
        self.log.iter().filter(|(_, a)| pred(a)).count()
    }
}

/// A drop that is told and restarted in the same step: the first attempt, with no delay.
fn told_and_restarted_at_once() -> Vec<Action> {
    vec![
        Interrupted,
        Reconnecting {
            attempt: 1,
            delay_ms: 0,
        },
        Restart { attempt: 1 },
    ]
}

/// Attempt `n`'s probe got through at `t` and, once the old connection may no longer heal, its
/// offer went out: the actions of both steps.
fn probed_and_posted(r: &mut Recovery, n: u32, t: f64) -> Vec<Action> {
    let mut out = r.handle(Input::Probed(n, true), t);
    if !out.contains(&Post { attempt: n }) {
        out.extend(r.handle(Input::Tick, t + HEAL_GRACE_MS));
    }
    out
}

fn is_restart(a: &Action) -> bool {
    matches!(a, Restart { .. })
}

/// The last sample that saw a packet before a cut at `cut` (samples every `period` from 0).
fn last_growth(cut: f64, period: f64) -> f64 {
    (cut / period).ceil() * period
}

#[test]
fn a_short_cut_heals_on_the_same_connection_without_a_restart() {
    for period in [250.0, 500.0] {
        // Up to 10 s less one sample period: the heal is seen before the first restart is due.
        for len in [2_100.0, 5_000.0, 8_000.0, 9_400.0] {
            for offset in [0.0, 1.0, 123.0, 249.0, 499.0] {
                let cut = 20_000.0 + offset;
                let mut sim = Sim::new(config(5, 30_000.0));
                sim.period = period;
                sim.cut(cut, cut + len);
                sim.run(60_000.0);
                let what = format!("period {period}, cut {len} at {cut}");
                assert_eq!(sim.actions(), vec![Interrupted, Healed], "{what}");
                let interrupted = sim.first(|a| *a == Interrupted).unwrap();
                assert!(interrupted - cut <= 2_000.0, "{what}: told late");
                let healed = sim.first(|a| *a == Healed).unwrap();
                // One packet (20 ms) must have arrived.
                assert!(
                    healed - (cut + len) <= period + 20.0,
                    "{what}: heal seen late"
                );
                assert_eq!(sim.r.poll_timeout(), None);
                assert!(!sim.r.is_down());
            }
        }
    }
}

#[test]
fn silence_is_told_within_two_seconds_and_not_before_one_and_a_half() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, 11_400.0);
    sim.run(20_000.0);
    assert_eq!(sim.actions(), vec![], "1.4 s of silence is no drop");

    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, 40_000.0);
    sim.run(11_499.0);
    assert_eq!(sim.actions(), vec![]);
    sim.run(12_000.0);
    assert_eq!(sim.log, vec![(11_500.0, Interrupted)]);
}

#[test]
fn ticks_alone_never_raise_silence() {
    // A throttled sampler: no sample for 20 s is not a drop, and nothing asks for a tick.
    let mut r = Recovery::new(config(5, 30_000.0));
    for (t, n) in [(0.0, 10), (500.0, 35), (1_000.0, 60)] {
        assert_eq!(
            r.handle(
                Input::Traffic {
                    packets: n,
                    messages: 0
                },
                t
            ),
            vec![]
        );
    }
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.handle(Input::Tick, 21_000.0), vec![]);
    // The next sample tells: nothing came since 1 s, so the healing window is over too.
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 60,
                messages: 0
            },
            21_500.0
        ),
        told_and_restarted_at_once()
    );
}

#[test]
fn counters_that_go_back_are_a_new_baseline() {
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(
        Input::Traffic {
            packets: 100,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 125,
            messages: 0,
        },
        500.0,
    );
    // Another connection's counters: neither growth nor silence.
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 5,
                messages: 0
            },
            2_500.0
        ),
        vec![]
    );
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 5,
                messages: 0
            },
            3_000.0
        ),
        vec![Interrupted]
    );
    // Down: a decrease does not heal, an increase does.
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 1,
                messages: 0
            },
            3_500.0
        ),
        vec![]
    );
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 1,
                messages: 1
            },
            4_000.0
        ),
        vec![Healed]
    );
}

#[test]
fn without_samples_ice_disconnected_then_connected_is_interrupted_then_healed() {
    let mut r = Recovery::new(config(5, 30_000.0));
    assert_eq!(r.handle(Input::Ice(IceState::Checking), 0.0), vec![]);
    assert_eq!(r.handle(Input::Ice(IceState::Connected), 100.0), vec![]);
    assert_eq!(
        r.handle(Input::Ice(IceState::Disconnected), 5_500.0),
        vec![Interrupted]
    );
    // The first restart would come 5 s after `disconnected`.
    assert_eq!(r.poll_timeout(), Some(10_500.0));
    assert_eq!(
        r.handle(Input::Ice(IceState::Connected), 8_000.0),
        vec![Healed]
    );
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.handle(Input::Tick, 10_500.0), vec![]);

    // Not healed in time: the restart at disconnected + 5 s.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Disconnected), 5_500.0);
    assert_eq!(r.handle(Input::Tick, 10_499.0), vec![]);
    assert_eq!(
        r.handle(Input::Tick, 10_500.0),
        vec![
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 }
        ]
    );
}

#[test]
fn ice_disconnected_while_audio_flows_is_no_drop() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.run(5_000.0);
    assert_eq!(sim.feed(Input::Ice(IceState::Disconnected)), vec![]);
    sim.run(10_000.0);
    assert_eq!(sim.feed(Input::Ice(IceState::Connected)), vec![]);
    sim.run(20_000.0);
    assert_eq!(sim.actions(), vec![]);
}

#[test]
fn ice_disconnected_after_the_audio_stopped_can_bring_the_restart_forward() {
    // The sampler stopped (stale traffic): `disconnected` is then a drop of its own.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(
        Input::Traffic {
            packets: 1,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 9,
            messages: 0,
        },
        500.0,
    );
    assert_eq!(
        r.handle(Input::Ice(IceState::Disconnected), 2_000.0),
        vec![Interrupted]
    );
    // 5 s after disconnected comes before 10 s after the last packet.
    assert_eq!(r.poll_timeout(), Some(7_000.0));

    // A real cut: the silence first, `disconnected` 5.5 s in; 10 s after the last packet wins.
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.server = false;
    sim.cut(10_000.0, INF);
    sim.at(15_500.0, Input::Ice(IceState::Disconnected));
    sim.run(30_000.0);
    assert_eq!(sim.first(is_restart), Some(20_000.0));
}

#[test]
fn a_long_cut_restarts_after_ten_seconds_and_recovers() {
    for len in [10_500.0, 12_000.0, 15_000.0, 20_000.0, 25_000.0] {
        for seed in 0..20 {
            let cut = 10_000.0;
            let back = cut + len;
            let mut sim = Sim::new(Config::new(5, 30_000.0, seed));
            sim.cut(cut, back);
            // Chromium's view of the old connection.
            sim.at(cut + 5_500.0, Input::Ice(IceState::Disconnected));
            if len > 15_500.0 {
                sim.at(cut + 15_500.0, Input::Ice(IceState::Failed));
            }
            sim.run(60_000.0);
            let what = format!("cut {len}, seed {seed}: {:?}", sim.log);
            let down_at = last_growth(cut, sim.period);
            assert_eq!(sim.first(is_restart), Some(down_at + 10_000.0), "{what}");
            let (t, Recovered { attempts, down_ms }) = *sim.log.last().unwrap() else {
                panic!("not recovered: {what}");
            };
            assert!(t - back <= 4_200.0, "{what}: slow after the path returned");
            assert_eq!(f64::from(down_ms), t - down_at, "{what}");
            assert_eq!(attempts as usize, sim.count(is_restart), "{what}");
            assert_eq!(
                sim.count(|a| matches!(a, Cancel { .. })),
                attempts as usize - 1,
                "{what}"
            );
            // Announced before each attempt: 0 for the first, then growing jittered delays.
            let delays: Vec<u32> = sim
                .log
                .iter()
                .filter_map(|(_, a)| match a {
                    Reconnecting { delay_ms, .. } => Some(*delay_ms),
                    _ => None,
                })
                .collect();
            assert_eq!(delays.len(), attempts as usize, "{what}");
            for (i, d) in delays.iter().enumerate() {
                let (lo, hi) = [(0, 0), (500, 1_000), (1_000, 2_000)][i.min(2)];
                assert!((lo..=hi).contains(d), "{what}: delay {i} = {d}");
            }
            // Back to normal: a short cut later heals alone, a long one gets a fresh budget.
            assert!(!sim.r.is_down() && !sim.r.is_done());
        }
    }
}

#[test]
fn after_a_recovery_the_new_connection_is_watched_and_a_new_drop_gets_a_fresh_budget() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, 21_000.0);
    sim.run(30_000.0);
    assert_eq!(
        sim.actions(),
        vec![
            Interrupted,
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 },
            // The path is back at 21 s: the probe out since 20 s fails at 21 s, the next one
            // 250 ms later gets through, the heal grace, then the offer.
            Probe { attempt: 1 },
            Post { attempt: 1 },
            Recovered {
                attempts: 1,
                down_ms: 11_905
            },
        ]
    );
    assert_eq!(sim.first(|a| matches!(a, Post { .. })), Some(21_755.0));
    sim.log.clear();
    sim.cut(40_000.0, 60_000.0);
    sim.run(90_000.0);
    assert_eq!(sim.first(is_restart), Some(50_000.0));
    assert!(
        matches!(sim.log.last(), Some((_, Recovered { .. }))),
        "{:?}",
        sim.log
    );

    // A restored connection is watched for silence once it carried something.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(
        Input::Traffic {
            packets: 1,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 2,
            messages: 0,
        },
        500.0,
    );
    r.handle(Input::Ice(IceState::Failed), 1_000.0);
    assert_eq!(
        r.handle(Input::Restored(1), 1_200.0),
        vec![Recovered {
            attempts: 1,
            down_ms: 200
        }]
    );
    assert_eq!(r.poll_timeout(), None);
    for t in [1_500.0, 2_000.0, 5_000.0, 20_000.0] {
        let silent = Input::Traffic {
            packets: 0,
            messages: 0,
        };
        assert_eq!(
            r.handle(silent, t),
            vec![],
            "never carried anything: no restart loop"
        );
    }
    r.handle(
        Input::Traffic {
            packets: 50,
            messages: 1,
        },
        20_500.0,
    );
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 50,
                messages: 1
            },
            21_500.0
        ),
        vec![]
    );
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 50,
                messages: 1
            },
            22_000.0
        ),
        vec![Interrupted]
    );
}

#[test]
fn ice_failed_restarts_at_once() {
    let mut r = Recovery::new(config(5, 30_000.0));
    assert_eq!(
        r.handle(Input::Ice(IceState::Failed), 1_000.0),
        told_and_restarted_at_once()
    );
    assert_eq!(r.in_flight(), Some(1));
    // Probing: only the overall deadline is timed until the probe reports.
    assert_eq!(r.poll_timeout(), Some(31_000.0));
    // The old connection cannot heal: the offer goes out as soon as the path works.
    assert_eq!(
        r.handle(Input::Probed(1, true), 1_020.0),
        vec![Post { attempt: 1 }]
    );
    assert_eq!(r.poll_timeout(), Some(1_020.0 + POST_TIMEOUT_MS));

    // Already interrupted by the silence, still inside the healing window.
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, INF);
    sim.run(13_000.0);
    assert_eq!(sim.actions(), vec![Interrupted]);
    assert_eq!(
        sim.feed(Input::Ice(IceState::Failed)),
        vec![
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 }
        ]
    );
    // An attempt under way is not disturbed by the old connection failing.
    assert_eq!(sim.feed(Input::Ice(IceState::Failed)), vec![]);
    assert_eq!(sim.feed(Input::Ice(IceState::Disconnected)), vec![]);
}

#[test]
fn offline_tells_at_once_holds_the_attempts_and_online_restarts_at_once() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, 18_000.0);
    assert_eq!(sim.at(10_000.0, Input::Offline), vec![Interrupted]);
    // Past the 10 s threshold: no attempt while offline, only the overall deadline is timed.
    sim.run(17_900.0);
    assert_eq!(sim.actions(), vec![Interrupted]);
    assert_eq!(sim.r.poll_timeout(), Some(40_000.0));
    assert_eq!(
        sim.at(18_000.0, Input::Online),
        vec![
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 }
        ]
    );
    // The interface came back: the old connection's pairs are gone, so no heal grace.
    sim.run(20_000.0);
    assert_eq!(sim.first(|a| matches!(a, Post { .. })), Some(18_005.0));
    assert_eq!(
        sim.log.last(),
        Some(&(
            18_155.0,
            Recovered {
                attempts: 1,
                down_ms: 8_155
            }
        ))
    );
    // A second `online` is nothing.
    assert_eq!(sim.feed(Input::Online), vec![]);
}

#[test]
fn online_aborts_a_stuck_attempt_and_retries_at_once() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.server = false;
    sim.cut(10_000.0, INF);
    sim.run(20_500.0);
    assert_eq!(sim.r.in_flight(), Some(1));
    assert_eq!(sim.feed(Input::Offline), vec![]);
    // Its failure while offline holds the next attempt back.
    assert_eq!(
        sim.at(21_000.0, Input::AttemptFailed(1)),
        vec![Cancel { attempt: 1 }]
    );
    sim.run(25_000.0);
    assert_eq!(sim.r.in_flight(), None);
    assert_eq!(
        sim.feed(Input::Online),
        vec![
            Reconnecting {
                attempt: 2,
                delay_ms: 0
            },
            Restart { attempt: 2 }
        ]
    );
    // Still probing into the dead path: nothing was posted, nothing to replace; the next
    // probe comes forward.
    sim.at(26_000.0, Input::Offline);
    assert_eq!(sim.at(26_100.0, Input::Online), vec![Probe { attempt: 2 }]);
    assert_eq!(sim.r.in_flight(), Some(2));

    // An offer stuck in SYN back-off when the interface goes and comes back: replaced at once.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    assert_eq!(
        probed_and_posted(&mut r, 1, 10.0),
        vec![Post { attempt: 1 }]
    );
    r.handle(Input::Offline, 1_000.0);
    assert_eq!(
        r.handle(Input::Online, 1_500.0),
        vec![
            Cancel { attempt: 1 },
            Reconnecting {
                attempt: 2,
                delay_ms: 0
            },
            Restart { attempt: 2 }
        ]
    );
    // An `online` without an `offline` before it changes nothing.
    assert_eq!(r.handle(Input::Online, 1_600.0), vec![]);

    // The last allowed attempt is kept: there is nothing to replace it with.
    let mut r = Recovery::new(config(1, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    probed_and_posted(&mut r, 1, 10.0);
    r.handle(Input::Offline, 100.0);
    assert_eq!(r.handle(Input::Online, 200.0), vec![]);
    assert_eq!(r.in_flight(), Some(1));
}

#[test]
fn the_old_connection_coming_back_replaces_a_stuck_post() {
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.server = false;
    sim.cut(10_000.0, INF);
    sim.at(15_500.0, Input::Ice(IceState::Disconnected));
    // Inside the healing window the old connection's ICE is not enough: traffic will tell.
    assert_eq!(sim.at(16_000.0, Input::Ice(IceState::Connected)), vec![]);
    sim.at(16_500.0, Input::Ice(IceState::Disconnected));
    sim.run(21_000.0);
    assert_eq!(sim.r.in_flight(), Some(1));
    // An attempt still probing is left alone: a probe is out, and traffic will tell.
    assert_eq!(sim.feed(Input::Ice(IceState::Connected)), vec![]);
    assert_eq!(sim.r.in_flight(), Some(1));

    // A posted offer gets no answer (SYN back-off): the path coming back replaces it.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    probed_and_posted(&mut r, 1, 10.0);
    assert_eq!(
        r.handle(Input::Ice(IceState::Connected), 2_000.0),
        vec![
            Cancel { attempt: 1 },
            Reconnecting {
                attempt: 2,
                delay_ms: 0
            },
            Restart { attempt: 2 }
        ]
    );
    // Once answered, the server has dropped the old connection: its ICE is no news.
    probed_and_posted(&mut r, 2, 2_010.0);
    r.handle(Input::Answered(2), 2_050.0);
    r.handle(Input::Ice(IceState::Disconnected), 2_100.0);
    assert_eq!(r.handle(Input::Ice(IceState::Connected), 2_200.0), vec![]);
    assert_eq!(r.in_flight(), Some(2));

    // During a backoff wait, the path coming back brings the next attempt forward.
    let mut r = Recovery::new(Config::new(5, 30_000.0, 3));
    r.handle(
        Input::Traffic {
            packets: 1,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 2,
            messages: 0,
        },
        500.0,
    );
    r.handle(Input::Ice(IceState::Failed), 1_000.0);
    let out = r.handle(Input::AttemptFailed(1), 1_100.0);
    assert!(matches!(
        out[..],
        [Cancel { attempt: 1 }, Reconnecting { attempt: 2, .. }]
    ));
    assert_eq!(
        r.handle(Input::Ice(IceState::Connected), 1_200.0),
        vec![Restart { attempt: 2 }]
    );
}

#[test]
fn the_old_connection_healing_abandons_an_attempt_not_answered_yet() {
    // A 15 s budget restarts 5 s after the last packet; the 7 s cut heals while attempt 1 is
    // stuck in SYN back-off (its POST would go through at 18 s).
    let mut sim = Sim::new(config(5, 15_000.0));
    sim.cut(10_000.0, 17_000.0);
    sim.run(25_000.0);
    assert_eq!(
        sim.actions(),
        vec![
            Interrupted,
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 },
            // Probes into the dead path (15 s, 16.25 s): none got through.
            Probe { attempt: 1 },
            Probe { attempt: 1 },
            Cancel { attempt: 1 },
            Healed
        ]
    );
    assert_eq!(sim.first(is_restart), Some(15_000.0));
    assert_eq!(sim.count(|a| matches!(a, Post { .. })), 0);
    assert_eq!(sim.first(|a| *a == Healed), Some(17_500.0));
    // Its late answer is ignored.
    assert_eq!(sim.feed(Input::Answered(1)), vec![]);
    assert_eq!(sim.feed(Input::Restored(1)), vec![]);

    // Answered: the server dropped the old connection, whose counters mean nothing now.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(
        Input::Traffic {
            packets: 1,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 2,
            messages: 0,
        },
        500.0,
    );
    r.handle(Input::Ice(IceState::Failed), 1_000.0);
    probed_and_posted(&mut r, 1, 1_010.0);
    assert_eq!(r.handle(Input::Answered(1), 1_050.0), vec![]);
    assert_eq!(r.poll_timeout(), Some(1_050.0 + CONNECT_TIMEOUT_MS));
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 9,
                messages: 0
            },
            1_100.0
        ),
        vec![]
    );
    // Down since ICE said so.
    assert_eq!(
        r.handle(Input::Restored(1), 1_200.0),
        vec![Recovered {
            attempts: 1,
            down_ms: 200
        }]
    );
}

#[test]
fn a_backoff_wait_is_dropped_when_the_drop_heals() {
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(
        Input::Traffic {
            packets: 1,
            messages: 0,
        },
        0.0,
    );
    r.handle(
        Input::Traffic {
            packets: 2,
            messages: 0,
        },
        500.0,
    );
    r.handle(Input::Ice(IceState::Disconnected), 6_000.0);
    r.handle(Input::Tick, 10_500.0);
    r.handle(Input::AttemptFailed(1), 10_600.0);
    assert_eq!(
        r.handle(
            Input::Traffic {
                packets: 3,
                messages: 0
            },
            10_700.0
        ),
        vec![Healed]
    );
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn attempts_time_out_and_failures_up_to_max_attempts_give_up() {
    // Every attempt fails at once.
    let mut r = Recovery::new(Config::new(3, 30_000.0, 11));
    let mut out = r.handle(Input::Ice(IceState::Failed), 0.0);
    let mut now = 0.0;
    let mut log = Vec::new();
    for n in 1..=3 {
        log.extend(out);
        now += 100.0;
        log.extend(r.handle(Input::AttemptFailed(n), now));
        now = r.poll_timeout().unwrap_or(now);
        out = r.handle(Input::Tick, now);
    }
    log.extend(out);
    let shape: Vec<Action> = log
        .iter()
        .map(|a| match *a {
            Reconnecting { attempt, .. } => Reconnecting {
                attempt,
                delay_ms: 0,
            },
            a => a,
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            Interrupted,
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 },
            Cancel { attempt: 1 },
            Reconnecting {
                attempt: 2,
                delay_ms: 0
            },
            Restart { attempt: 2 },
            Cancel { attempt: 2 },
            Reconnecting {
                attempt: 3,
                delay_ms: 0
            },
            Restart { attempt: 3 },
            Cancel { attempt: 3 },
            GiveUp(Reason::Attempts),
        ]
    );
    assert!(r.is_done());
    assert_eq!(r.poll_timeout(), None);

    // Every attempt times out: the POST after 4 s, the connection 4 s after the answer.
    let mut r = Recovery::new(config(2, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    probed_and_posted(&mut r, 1, 0.0);
    assert_eq!(r.handle(Input::Tick, 3_999.0), vec![]);
    let out = r.handle(Input::Tick, 4_000.0);
    let [Cancel { attempt: 1 }, Reconnecting {
        attempt: 2,
        delay_ms,
    }] = out[..]
    else {
        panic!("{out:?}");
    };
    let start = 4_000.0 + f64::from(delay_ms);
    assert_eq!(r.poll_timeout(), Some(start));
    assert_eq!(r.handle(Input::Tick, start), vec![Restart { attempt: 2 }]);
    probed_and_posted(&mut r, 2, start);
    r.handle(Input::Answered(2), start + 3_000.0);
    assert_eq!(r.handle(Input::Tick, start + 6_999.0), vec![]);
    assert_eq!(
        r.handle(Input::Tick, start + 7_000.0),
        vec![Cancel { attempt: 2 }, GiveUp(Reason::Attempts)]
    );
    // A duplicate answer does not extend the deadline.
    let mut r = Recovery::new(config(2, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    probed_and_posted(&mut r, 1, 0.0);
    r.handle(Input::Answered(1), 1_000.0);
    r.handle(Input::Answered(1), 3_000.0);
    assert_eq!(r.poll_timeout(), Some(5_000.0));
    // An answer to an offer that was never posted is nobody's.
    let mut r = Recovery::new(config(2, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    r.handle(Input::Answered(1), 1_000.0);
    assert_eq!(r.poll_timeout(), Some(30_000.0));
    // Probes that fail are no failed attempt: the next one 250 ms after each failure.
    assert_eq!(r.handle(Input::Probed(1, false), 1_000.0), vec![]);
    assert_eq!(r.poll_timeout(), Some(1_000.0 + PROBE_GAP_MS));
    assert_eq!(r.handle(Input::Tick, 1_250.0), vec![Probe { attempt: 1 }]);
    assert_eq!(r.poll_timeout(), Some(30_000.0));
    assert_eq!(r.in_flight(), Some(1));
}

#[test]
fn stale_attempt_results_are_ignored() {
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    for i in [
        Input::Answered(0),
        Input::Restored(2),
        Input::AttemptFailed(7),
    ] {
        assert_eq!(r.handle(i, 100.0), vec![]);
    }
    probed_and_posted(&mut r, 1, 150.0);
    r.handle(Input::Offline, 200.0);
    r.handle(Input::Online, 300.0);
    assert_eq!(r.in_flight(), Some(2));
    for i in [
        Input::Probed(1, true),
        Input::Answered(1),
        Input::Restored(1),
        Input::AttemptFailed(1),
    ] {
        assert_eq!(r.handle(i, 400.0), vec![]);
    }
    // And nothing is under way while waiting: no result is taken.
    r.handle(Input::AttemptFailed(2), 500.0);
    assert_eq!(r.in_flight(), None);
    assert_eq!(r.handle(Input::Restored(2), 600.0), vec![]);
}

#[test]
fn the_overall_timeout_gives_up() {
    // Offline all along: no attempt, then the deadline 30 s after the last packet.
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.cut(10_000.0, INF);
    sim.at(10_000.0, Input::Offline);
    sim.run(100_000.0);
    assert_eq!(
        sim.log,
        vec![(10_000.0, Interrupted), (40_000.0, GiveUp(Reason::Timeout))]
    );

    // Attempts stuck until the end: the one under way goes with the call.
    let mut sim = Sim::new(Config::new(50, 30_000.0, 5));
    sim.server = false;
    sim.cut(10_000.0, INF);
    sim.run(100_000.0);
    let (t, last) = *sim.log.last().unwrap();
    assert_eq!(last, GiveUp(Reason::Timeout));
    assert!(t <= 40_000.0);
    let (_, before) = sim.log[sim.log.len() - 2];
    assert!(
        matches!(before, Cancel { .. } | Restart { .. } | Probe { .. }),
        "{:?}",
        sim.log
    );
    assert!(sim.log.iter().all(|&(t, _)| t <= 40_000.0));

    // A backoff that would end past the deadline gives up then and there.
    let mut r = Recovery::new(config(5, 3_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    r.handle(Input::AttemptFailed(1), 1_000.0);
    r.handle(Input::Tick, r.poll_timeout().unwrap());
    assert_eq!(
        r.handle(Input::AttemptFailed(2), 2_600.0),
        vec![Cancel { attempt: 2 }, GiveUp(Reason::Timeout)]
    );

    // A late input past the deadline: the deadline first, the input not at all.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    probed_and_posted(&mut r, 1, 50.0);
    r.handle(Input::Answered(1), 100.0);
    assert_eq!(
        r.handle(Input::Restored(1), 30_000.0),
        vec![GiveUp(Reason::Timeout)]
    );
}

#[test]
fn a_short_timeout_shortens_the_healing_wait() {
    let mut sim = Sim::new(config(5, 6_000.0));
    sim.server = false;
    sim.cut(10_000.0, INF);
    sim.run(30_000.0);
    assert_eq!(sim.first(is_restart), Some(12_000.0));
    assert_eq!(sim.first(|a| matches!(a, GiveUp(_))), Some(16_000.0));
}

#[test]
fn a_session_that_is_gone_gives_up_at_once() {
    // Live, waiting for the first attempt, attempt under way, backoff wait.
    let mut r = Recovery::new(config(5, 30_000.0));
    assert_eq!(
        r.handle(Input::SessionGone, 0.0),
        vec![GiveUp(Reason::SessionGone)]
    );
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Offline, 0.0);
    assert_eq!(
        r.handle(Input::SessionGone, 10.0),
        vec![GiveUp(Reason::SessionGone)]
    );
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    assert_eq!(
        r.handle(Input::SessionGone, 10.0),
        vec![GiveUp(Reason::SessionGone)]
    );
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    r.handle(Input::AttemptFailed(1), 10.0);
    assert_eq!(
        r.handle(Input::SessionGone, 20.0),
        vec![GiveUp(Reason::SessionGone)]
    );
    assert!(r.is_done());
    assert_eq!(r.handle(Input::Ice(IceState::Failed), 30.0), vec![]);
    assert_eq!(Reason::SessionGone.as_str(), "session-gone");
}

#[test]
fn a_closed_channel_ends_a_working_call_and_speeds_up_a_broken_one() {
    let mut r = Recovery::new(config(5, 30_000.0));
    assert_eq!(
        r.handle(Input::ChannelClosed, 0.0),
        vec![GiveUp(Reason::ChannelClosed)]
    );

    // Down, inside the healing window: the old connection cannot heal any more.
    let mut sim = Sim::new(config(5, 30_000.0));
    sim.server = false;
    sim.cut(10_000.0, 14_000.0);
    sim.run(12_000.0);
    assert_eq!(
        sim.feed(Input::ChannelClosed),
        vec![
            Reconnecting {
                attempt: 1,
                delay_ms: 0
            },
            Restart { attempt: 1 }
        ]
    );
    // Its traffic does not heal it; its ICE coming back says the path is back.
    sim.run(15_000.0);
    assert_eq!(sim.count(|a| *a == Healed), 0);
    assert_eq!(
        sim.feed(Input::Ice(IceState::Connected)),
        vec![
            Cancel { attempt: 1 },
            Reconnecting {
                attempt: 2,
                delay_ms: 0
            },
            Restart { attempt: 2 }
        ]
    );
    assert_eq!(sim.count(|a| *a == Healed), 0);

    // During an attempt the server dropping the old connection is expected.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    assert_eq!(r.handle(Input::ChannelClosed, 10.0), vec![]);
    assert_eq!(r.in_flight(), Some(1));

    // Without samples, ICE coming back does not heal a connection whose channel closed.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Offline, 0.0);
    r.handle(Input::ChannelClosed, 10.0);
    assert_eq!(r.handle(Input::Ice(IceState::Connected), 20.0), vec![]);
    assert!(r.is_down());
}

#[test]
fn a_channel_closed_soon_after_a_recovery_is_a_late_offer_and_restarts_at_once() {
    // Recovered by attempt 1 at 200 ms; an offer aborted during the cut reaches the server at
    // 2.2 s and takes the bot's peer away: the channel of the working connection closes.
    let recovered = || {
        let mut r = Recovery::new(config(5, 30_000.0));
        r.handle(Input::Ice(IceState::Failed), 0.0);
        r.handle(Input::Answered(1), 100.0);
        assert!(matches!(
            r.handle(Input::Restored(1), 200.0)[..],
            [Recovered { attempts: 1, .. }]
        ));
        r
    };
    let mut r = recovered();
    assert_eq!(
        r.handle(Input::ChannelClosed, 2_200.0),
        told_and_restarted_at_once()
    );
    r.handle(Input::Answered(1), 2_300.0);
    assert_eq!(
        r.handle(Input::Restored(1), 2_400.0),
        vec![Recovered {
            attempts: 1,
            down_ms: 200
        }]
    );
    // A session really over says so to that restart: the call ends, no loop.
    assert_eq!(
        r.handle(Input::ChannelClosed, 3_000.0).last(),
        Some(&Restart { attempt: 1 })
    );
    assert_eq!(
        r.handle(Input::SessionGone, 3_100.0),
        vec![GiveUp(Reason::SessionGone)]
    );

    // Long after the recovery, a closed channel is the ordinary end again.
    let mut r = recovered();
    assert_eq!(
        r.handle(Input::ChannelClosed, 30_200.0),
        vec![GiveUp(Reason::ChannelClosed)]
    );
}

#[test]
fn disconnect_during_recovery_ends_everything() {
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    assert_eq!(r.handle(Input::Disconnect, 100.0), vec![]);
    assert!(r.is_done());
    assert_eq!(r.poll_timeout(), None);
    for i in all_inputs(1) {
        assert_eq!(r.handle(i, 60_000.0), vec![]);
    }
    // Even with a deadline long past.
    let mut r = Recovery::new(config(5, 30_000.0));
    r.handle(Input::Ice(IceState::Failed), 0.0);
    assert_eq!(r.handle(Input::Disconnect, 90_000.0), vec![]);
}

#[test]
fn max_attempts_zero_disables_recovery() {
    let mut sim = Sim::new(config(0, 30_000.0));
    sim.cut(10_000.0, INF);
    sim.at(11_000.0, Input::Offline);
    sim.at(15_500.0, Input::Ice(IceState::Disconnected));
    sim.at(16_000.0, Input::Online);
    sim.run(25_000.0);
    assert_eq!(sim.actions(), vec![]);
    assert_eq!(sim.r.poll_timeout(), None);
    assert_eq!(
        sim.at(25_500.0, Input::Ice(IceState::Failed)),
        vec![GiveUp(Reason::IceFailed)]
    );
    let mut r = Recovery::new(config(0, 30_000.0));
    assert_eq!(
        r.handle(Input::ChannelClosed, 0.0),
        vec![GiveUp(Reason::ChannelClosed)]
    );
    let mut r = Recovery::new(config(0, 30_000.0));
    assert_eq!(
        r.handle(Input::SessionGone, 0.0),
        vec![GiveUp(Reason::SessionGone)]
    );
}

#[test]
fn jitter_is_deterministic_per_seed_and_within_bounds() {
    let draws = |seed: u64| -> Vec<u32> {
        let mut r = Recovery::new(Config::new(100, 30_000.0, seed));
        (2..=40).map(|n| r.backoff(n)).collect()
    };
    let mut distinct = 0;
    for seed in 0..500u64 {
        let a = draws(seed);
        assert_eq!(a, draws(seed), "seed {seed}");
        for (i, d) in a.iter().enumerate() {
            let nominal = [1_000, 2_000][i.min(1)];
            assert!(
                (nominal / 2..=nominal).contains(d),
                "seed {seed}, attempt {}: {d}",
                i + 2
            );
        }
        if a != draws(seed + 1) {
            distinct += 1;
        }
    }
    assert!(distinct >= 490, "seeds give the same delays: {distinct}");
    // Spread over the whole range, not stuck at one end.
    let all: Vec<u32> = (0..200).flat_map(|s| draws(s)[2..].to_vec()).collect();
    assert!(all.iter().any(|&d| d < 1_100) && all.iter().any(|&d| d > 1_900));
}

#[test]
fn config_comes_from_the_connect_options() {
    let o = ConnectOptions::from_options(&crate::json::parse("{}").unwrap()).unwrap();
    let c = Config::from_options(&o, 9);
    assert_eq!(
        c,
        Config {
            max_attempts: 5,
            timeout_ms: 30_000.0,
            seed: 9
        }
    );
    let o = ConnectOptions::from_options(
        &crate::json::parse(r#"{"reconnect":{"maxAttempts":0,"timeoutMs":5000}}"#).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            Config::from_options(&o, 1).max_attempts,
            Config::from_options(&o, 1).timeout_ms
        ),
        (0, 5_000.0)
    );
    for bad in [0.0, -1.0, f64::NAN, INF] {
        assert_eq!(Config::new(5, bad, 0).timeout_ms, 30_000.0);
    }
    let reasons = [
        Reason::IceFailed,
        Reason::Attempts,
        Reason::Timeout,
        Reason::SessionGone,
        Reason::ChannelClosed,
    ];
    let names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "ice-failed",
            "attempts-exhausted",
            "timeout",
            "session-gone",
            "channel-closed"
        ]
    );
}

fn all_inputs(n: u32) -> Vec<Input> {
    vec![
        Input::Tick,
        Input::Ice(IceState::Checking),
        Input::Ice(IceState::Connected),
        Input::Ice(IceState::Disconnected),
        Input::Ice(IceState::Failed),
        Input::Ice(IceState::Closed),
        Input::Ice(IceState::Other),
        Input::ChannelClosed,
        Input::Offline,
        Input::Online,
        Input::Traffic {
            packets: u64::MAX,
            messages: u64::MAX,
        },
        Input::Traffic {
            packets: 0,
            messages: 0,
        },
        Input::Probed(n, false),
        Input::Probed(n, true),
        Input::Answered(n),
        Input::Restored(n),
        Input::AttemptFailed(n),
        Input::SessionGone,
        Input::Disconnect,
    ]
}

/// A small xorshift for the property loop (no extra crates).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Thousands of random input sequences against the rules every run must keep.
#[test]
fn random_inputs_keep_the_invariants() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // How often each kind of action came out: the loop must reach them all.
    let mut seen = [0u32; 9];
    for case in 0..5_000 {
        let max = rng.below(7) as u32;
        let timeout = [3_000.0, 10_000.0, 30_000.0, 60_000.0][rng.below(4) as usize];
        let mut r = Recovery::new(Config::new(max, timeout, rng.next()));
        let mut now = 0.0;
        let mut total = 0u64;
        // The model: what the actions so far say.
        let mut done = false;
        let mut down_since: Option<f64> = None;
        let mut attempts = 0u32;
        let mut announced: Option<u32> = None;
        let mut open: Option<(u32, f64)> = None;
        // When the open attempt's offer was posted.
        let mut posted: Option<f64> = None;
        for step in 0..150 {
            let what = format!("case {case}, step {step}, max {max}, timeout {timeout}");
            // Time: a random step, or exactly the next tick, sometimes going nowhere.
            now += match rng.below(4) {
                0 => 0.0,
                1 => rng.below(600) as f64,
                2 => rng.below(12_000) as f64,
                _ => r.poll_timeout().map_or(300.0, |t| (t - now).max(0.0)),
            };
            // Mostly the attempt under way, sometimes a stale or future one.
            let n = match (open, rng.below(4)) {
                (Some((n, _)), 0) => n.wrapping_add(rng.below(3) as u32).wrapping_sub(1),
                (Some((n, _)), _) => n,
                (None, _) => attempts + rng.below(2) as u32,
            };
            let others = [
                Input::Tick,
                Input::Ice(IceState::Checking),
                Input::Ice(IceState::Connected),
                Input::Ice(IceState::Disconnected),
                Input::Ice(IceState::Failed),
                Input::Ice(IceState::Closed),
                Input::Ice(IceState::Other),
                Input::Offline,
                Input::Online,
            ];
            let input = match rng.below(40) {
                0 => Input::Disconnect,
                1 => Input::SessionGone,
                2 => Input::ChannelClosed,
                3..=16 => {
                    // Mostly counters going up, sometimes not, sometimes reset.
                    total = match rng.below(5) {
                        0 | 1 => total,
                        2 => rng.below(5),
                        _ => total + 1 + rng.below(30),
                    };
                    Input::Traffic {
                        packets: total,
                        messages: 0,
                    }
                }
                17..=18 => Input::Answered(n),
                24..=30 => Input::Probed(n, rng.below(2) == 0),
                19..=20 => Input::Restored(n),
                21..=23 => Input::AttemptFailed(n),
                _ => others[rng.below(others.len() as u64) as usize].clone(),
            };
            let disconnect = input == Input::Disconnect;
            let out = r.handle(input.clone(), now);
            if done {
                assert_eq!(out, vec![], "{what}: action after the end");
                continue;
            }
            for &a in &out {
                seen[match a {
                    Interrupted => 0,
                    Healed => 1,
                    Reconnecting { .. } => 2,
                    Restart { .. } => 3,
                    Cancel { .. } => 4,
                    Recovered { .. } => 5,
                    GiveUp(_) => 6,
                    Probe { .. } => 7,
                    Post { .. } => 8,
                }] += 1;
                let what = format!("{what}: {input:?} -> {out:?}");
                if let Some(since) = down_since {
                    if !matches!(a, GiveUp(_)) {
                        assert!(now < since + timeout, "{what}: past the deadline");
                    }
                }
                match a {
                    Interrupted => {
                        assert!(max > 0 && down_since.is_none(), "{what}");
                        down_since = Some(now);
                        attempts = 0;
                    }
                    Healed => {
                        assert!(down_since.is_some() && open.is_none(), "{what}");
                        down_since = None;
                        announced = None;
                    }
                    Reconnecting { attempt, delay_ms } => {
                        assert!(down_since.is_some() && open.is_none(), "{what}");
                        assert_eq!(attempt, attempts + 1, "{what}");
                        assert!(attempt <= max, "{what}");
                        if attempt == 1 {
                            assert_eq!(delay_ms, 0, "{what}");
                        } else {
                            assert!(delay_ms <= BACKOFF_CAP_MS, "{what}");
                        }
                        announced = Some(attempt);
                    }
                    Restart { attempt } => {
                        assert!(down_since.is_some(), "{what}");
                        assert_eq!(open, None, "{what}: two attempts at once");
                        assert_eq!(announced, Some(attempt), "{what}: not announced");
                        assert!(attempt <= max, "{what}: too many attempts");
                        attempts = attempt;
                        open = Some((attempt, now));
                        posted = None;
                    }
                    Probe { attempt } => {
                        assert_eq!(open.map(|o| o.0), Some(attempt), "{what}");
                        assert_eq!(posted, None, "{what}: a probe after the POST");
                    }
                    Post { attempt } => {
                        assert_eq!(open.map(|o| o.0), Some(attempt), "{what}");
                        assert_eq!(posted, None, "{what}: posted twice");
                        posted = Some(now);
                    }
                    Cancel { attempt } => {
                        assert_eq!(open.map(|o| o.0), Some(attempt), "{what}");
                        open = None;
                    }
                    Recovered {
                        attempts: n,
                        down_ms,
                    } => {
                        assert_eq!(open.map(|o| o.0), Some(n), "{what}");
                        assert!(f64::from(down_ms) < timeout, "{what}");
                        open = None;
                        down_since = None;
                        announced = None;
                    }
                    GiveUp(reason) => {
                        if max == 0 {
                            assert_ne!(reason, Reason::Attempts, "{what}");
                            assert_ne!(reason, Reason::Timeout, "{what}");
                        }
                        done = true;
                    }
                }
            }
            done |= disconnect;
            assert_eq!(r.is_done(), done, "{what}");
            if done {
                assert_eq!(r.poll_timeout(), None, "{what}");
                continue;
            }
            assert_eq!(r.is_down(), down_since.is_some(), "{what}");
            assert_eq!(r.in_flight(), open.map(|o| o.0), "{what}");
            // Nothing overdue after an input, and a timer whenever down.
            match (r.poll_timeout(), down_since) {
                (None, None) => {}
                (Some(t), Some(since)) => {
                    assert!(t > now, "{what}: overdue {t}");
                    assert!(t <= since + timeout, "{what}: deadline not timed");
                    // Probing may last until the deadline; a posted offer is bounded.
                    if let (Some(_), Some(at)) = (open, posted) {
                        let limit = at + POST_TIMEOUT_MS + CONNECT_TIMEOUT_MS;
                        assert!(t <= limit, "{what}: attempt unbounded");
                    }
                }
                (t, since) => panic!("{what}: timer {t:?} while down since {since:?}"),
            }
        }
    }
    assert!(seen.iter().all(|&n| n >= 100), "coverage: {seen:?}");
}

#[test]
fn every_cut_from_ten_to_twenty_seven_seconds_is_recovered_soon_after_the_path_returns() {
    // The official client recovers none of the 12 s or 20 s cuts, and answers 1.6–3.9 s after
    // the path returns when it does. (The server's own ~30 s limit is not simulated here.)
    for len in (40..=108).map(|q| f64::from(q) * 250.0) {
        for seed in 0..25u64 {
            let cut = 10_000.0 + (seed % 7) as f64 * 71.0;
            let mut sim = Sim::new(Config::new(5, 30_000.0, seed));
            sim.cut(cut, cut + len);
            sim.run(80_000.0);
            let what = format!("cut {len}, seed {seed}: {:?}", sim.log);
            let Some(&(t, Recovered { attempts, .. })) = sim.log.last() else {
                panic!("{what}");
            };
            // Probes every 1.25 s at worst, the heal grace, the POST, ICE.
            assert!(attempts <= 5 && t - (cut + len) <= 2_500.0, "{what}");
            assert_eq!(sim.count(|a| *a == Healed), 0, "{what}");
            // One offer, and only into a working path: none can arrive late.
            let posts: Vec<f64> = sim
                .log
                .iter()
                .filter(|(_, a)| matches!(a, Post { .. }))
                .map(|&(t, _)| t)
                .collect();
            assert_eq!(posts.len(), 1, "{what}");
            assert!(posts.iter().all(|&t| sim.up(t)), "{what}");
        }
    }
}
