//! The loop every call runs, in one place: an input goes to the machine, and whatever carries
//! the call out (`Shell`: the browser's `web::call::Call`, or a fake in the native tests) does
//! each output in order. The machine is not borrowed while an output runs, so an output may
//! feed the machine again.

use super::{Input, Machine, Output};
use std::cell::RefMut;

/// What carries out a machine's decisions.
pub trait Shell {
    /// The time now, on the clock the machine's times are in (`Date.now()` in a browser).
    fn now(&self) -> f64;
    /// The machine, borrowed only while it handles an input.
    fn machine(&self) -> RefMut<'_, Machine>;
    /// Carries out one output.
    fn carry_out(&self, output: Output);
}

/// Feeds `input` to the shell's machine and has the shell carry out every output.
pub fn feed<S: Shell + ?Sized>(shell: &S, input: Input) {
    let now = shell.now();
    let outputs = shell.machine().handle_at(input, now);
    for output in outputs {
        shell.carry_out(output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Event, Rtc, Setup, State};
    use crate::rtvi;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    /// A browser and a server that answer at once: every output is recorded, and what the
    /// browser or the server would report next is queued as the next input.
    struct FakeShell {
        machine: RefCell<Machine>,
        now: Cell<f64>,
        done: RefCell<Vec<Output>>,
        next: RefCell<VecDeque<Input>>,
        timer: Cell<Option<f64>>,
    }

    impl Shell for FakeShell {
        fn now(&self) -> f64 {
            self.now.get()
        }
        fn machine(&self) -> RefMut<'_, Machine> {
            self.machine.borrow_mut()
        }
        fn carry_out(&self, output: Output) {
            let mut next = self.next.borrow_mut();
            match &output {
                Output::Rtc(Rtc::PostOffer(_)) => next.push_back(Input::OfferAnswered(
                    crate::json::parse(r#"{"sdp":"v=0 answer","type":"answer","pc_id":"pc-1"}"#),
                )),
                Output::Rtc(Rtc::SetRemote(_)) => next.extend([
                    Input::RemoteApplied,
                    Input::Ice(crate::trickle::IceState::Connected),
                    Input::ChannelOpen {
                        now_ms: self.now.get(),
                    },
                ]),
                Output::Rtc(Rtc::Patch(_)) => next.push_back(Input::PatchDone(Ok(()))),
                Output::Send(v) if v.str_at("type") == Some("client-ready") => {
                    let ready = r#"{"label":"rtvi-ai","type":"bot-ready","id":"r","data":{"version":"2.1.0"}}"#;
                    next.push_back(Input::Message(rtvi::classify(
                        ready.into(),
                        crate::json::parse(ready),
                        false,
                    )))
                }
                Output::Timer(at) => self.timer.set(*at),
                _ => {}
            }
            self.done.borrow_mut().push(output);
        }
    }

    impl FakeShell {
        /// Feeds the queued inputs until none is left.
        fn settle(&self) {
            loop {
                let input = self.next.borrow_mut().pop_front();
                let Some(input) = input else { return };
                feed(self, input);
            }
        }

        /// Lets time pass to `end`, firing the call's one timer wherever it is armed.
        fn run_clock_until(&self, end: f64) {
            while let Some(at) = self.timer.get().filter(|at| *at <= end) {
                self.now.set(at);
                feed(self, Input::Timeout);
                self.settle();
            }
            self.now.set(end);
        }

        fn count(&self, what: impl Fn(&Output) -> bool) -> usize {
            self.done.borrow().iter().filter(|o| what(o)).count()
        }
    }

    #[test]
    fn the_whole_loop_runs_natively_connect_pings_and_disconnect() {
        let setup = Setup {
            socket: false,
            starting: true,
            wait_for_bot_ready: true,
            tracks: [true, false],
            request_data: None,
            seed: 1,
            reconnect: crate::recovery::Config::new(0, 30_000.0, 1),
            now_ms: 0.0,
            timeout_ms: 15_000.0,
            ice_limit_ms: None,
        };
        let machine = Machine::new(setup);
        let shell = FakeShell {
            timer: Cell::new(machine.poll_timeout()),
            machine: RefCell::new(machine),
            now: Cell::new(0.0),
            done: RefCell::new(Vec::new()),
            next: RefCell::new(VecDeque::new()),
        };
        // The page's first steps; the fake browser and server answer the rest.
        shell.next.borrow_mut().extend([
            Input::LocalOffer("v=0 offer".into()),
            Input::MediaReady,
            Input::Started,
        ]);
        shell.settle();
        assert!(shell.done.borrow().contains(&Output::Connected));
        assert_eq!(shell.machine().state(), State::Connected);
        assert_eq!(
            shell.count(|o| matches!(o, Output::Rtc(Rtc::PostOffer(_)))),
            1
        );
        assert_eq!(
            shell.count(|o| matches!(o, Output::Emit(Event::BotReady(_)))),
            1
        );
        // A minute of call: one ping a second, and the budget no longer applies.
        shell.run_clock_until(60_000.0);
        let pings = shell.count(|o| matches!(o, Output::SendText(t) if t.starts_with("ping")));
        assert_eq!(pings, 61, "the one at the open, then one a second");
        assert!(!shell.machine().is_closed());
        feed(&shell, Input::Disconnect);
        assert!(shell.machine().is_closed());
        assert!(matches!(shell.done.borrow().last(), Some(Output::Close(_))));
    }
}
