//! A request's budget: its own `timeoutMs` and the caller's `signal` folded into one
//! `AbortController` that the request listens to (dropping it clears the timer and removes the
//! listener), or a signal that something else already watches (a connecting call's: its budget
//! ends the call, and the call's end aborts the request).

use crate::error::{Error, ErrorCode, Phase};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use std::cell::Cell;
use std::rc::Rc;
use web_sys::AbortSignal;

pub struct Deadline {
    signal: AbortSignal,
    own: Option<Own>,
}

/// What a deadline of its own holds.
struct Own {
    fired: Rc<Cell<Option<ErrorCode>>>,
    timeout_ms: f64,
    _timer: Timeout,
    _listener: Option<EventListener>,
}

impl Deadline {
    pub fn new(timeout_ms: f64, external: Option<&AbortSignal>) -> Result<Deadline, Error> {
        let controller = super::wait::abort_controller()?;
        let fired = Rc::new(Cell::new(None));
        let fire = {
            let controller = controller.clone();
            let fired = fired.clone();
            move |code: ErrorCode| {
                if fired.get().is_none() {
                    fired.set(Some(code));
                    controller.abort();
                }
            }
        };
        let millis = timeout_ms.clamp(1.0, i32::MAX as f64) as u32;
        let timer = {
            let fire = fire.clone();
            Timeout::new(millis, move || fire(ErrorCode::Timeout))
        };
        let listener = external.map(|signal| {
            let fire = fire.clone();
            EventListener::once(signal, "abort", move |_| fire(ErrorCode::Aborted))
        });
        if external.is_some_and(AbortSignal::aborted) {
            fire(ErrorCode::Aborted);
        }
        Ok(Deadline {
            signal: controller.signal(),
            own: Some(Own {
                fired,
                timeout_ms,
                _timer: timer,
                _listener: listener,
            }),
        })
    }

    /// A request cut short by `signal` only: whoever aborts it reports why.
    pub fn within(signal: AbortSignal) -> Deadline {
        Deadline { signal, own: None }
    }

    pub fn signal(&self) -> &AbortSignal {
        &self.signal
    }

    /// The error to report when the budget ran out or the caller aborted, else `None`.
    pub fn error(&self, phase: Phase) -> Option<Error> {
        let own = self.own.as_ref()?;
        match own.fired.get()? {
            ErrorCode::Timeout => Some(Error::timeout(phase, own.timeout_ms)),
            _ => Some(Error::aborted(phase)),
        }
    }

    pub fn check(&self, phase: Phase) -> Result<(), Error> {
        self.error(phase).map_or(Ok(()), Err)
    }
}
