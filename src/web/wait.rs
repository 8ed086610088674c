//! Two tiny single-threaded future helpers, so the connect path needs no executor crates: a slot
//! that is filled once and awaited, and running two futures side by side.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

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

/// Runs both futures to completion, side by side.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}

/// The first of two futures to finish; the other is dropped.
pub async fn first<T, A: Future<Output = T>, B: Future<Output = T>>(a: A, b: B) -> T {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        b.as_mut().poll(cx)
    })
    .await
}
