//! Tiny single-threaded future helpers, so the connect path needs no executor crates: a slot
//! that is filled once and awaited, a future started at once, a drop put off to a later task,
//! and the clock every call runs on.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub struct Slot<T> {
    inner: Rc<RefCell<(Option<T>, Vec<Waker>)>>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Clone> Slot<T> {
    pub fn new() -> Slot<T> {
        Slot {
            inner: Rc::new(RefCell::new((None, Vec::new()))),
        }
    }

    /// The first value wins; later ones are ignored.
    pub fn set(&self, value: T) {
        let wakers = {
            let mut inner = self.inner.borrow_mut();
            if inner.0.is_some() {
                return;
            }
            inner.0 = Some(value);
            std::mem::take(&mut inner.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn get(&self) -> Option<T> {
        self.inner.borrow().0.clone()
    }

    pub async fn wait(&self) -> T {
        poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            match &inner.0 {
                Some(v) => Poll::Ready(v.clone()),
                None => {
                    inner.1.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// Polls `fut` once right now — so that a request it makes leaves before the caller goes on —
/// and returns the rest of it to spawn. A future that finished in that poll is never polled
/// again.
pub fn started_now<F: Future<Output = ()> + 'static>(fut: F) -> impl Future<Output = ()> {
    let mut fut = Box::pin(fut);
    let done = fut
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready();
    async move {
        if !done {
            fut.await
        }
    }
}

/// Drops `value` in a later task (a listener or timer may be running the current one).
pub fn defer_drop<T: 'static>(value: T) {
    spawn(async move { drop(value) });
}

/// `spawn_local`, every task through one boxed future: the task plumbing is compiled once, not
/// once per kind of future spawned (about 180 B of wasm each).
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    spawn_boxed(Box::pin(fut));
}

fn spawn_boxed(fut: std::pin::Pin<Box<dyn Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(fut);
}

/// The calls' clock: `Date.now()`, in ms.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A new `AbortController`; an engine without one cannot make requests that can be cut short,
/// which makes the options that need them (`signal`, `timeoutMs`) impossible to honour.
pub fn abort_controller() -> Result<web_sys::AbortController, crate::error::Error> {
    web_sys::AbortController::new()
        .map_err(|_| crate::error::Error::invalid("AbortController is unavailable"))
}
