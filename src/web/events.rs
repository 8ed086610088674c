//! A connection's event handlers, and the events that happened before anyone could listen.
//!
//! Events emitted before the connect call resolved (its `statechange`, `track`, `botready`, the
//! first RTVI messages) cannot have a handler yet: they are kept, per event name, until the first
//! `on()` for that name, however late it comes (a caller may `await` other things first). That
//! `on()` gets them in a microtask, in order, before any newer event of the same name.

use js_sys::{Array, Function};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// At most this many early events are kept (a connect emits a handful).
const MAX_EARLY: usize = 256;

#[derive(Default)]
pub struct Events {
    /// Event name → `Set` of handler functions.
    handlers: js_sys::Map,
    /// Early events not claimed by an `on()` yet, in order.
    early: RefCell<Vec<(String, JsValue)>>,
    /// The connect call resolved: from now on an event with no handler and no unclaimed early
    /// events of its name is dropped, as emitters do.
    resolved: Cell<bool>,
}

impl Events {
    pub fn new() -> Rc<Events> {
        Rc::new(Events::default())
    }

    pub fn resolve(&self) {
        self.resolved.set(true);
    }

    fn set_of(&self, event: &str) -> Option<js_sys::Set> {
        self.handlers
            .get(&event.into())
            .dyn_into::<js_sys::Set>()
            .ok()
    }

    pub fn emit(&self, event: &str, arg: &JsValue) {
        let keep = {
            let early = self.early.borrow();
            early.iter().any(|(name, _)| name == event)
                || (!self.resolved.get() && self.set_of(event).is_none_or(|s| s.size() == 0))
        };
        if keep {
            let mut early = self.early.borrow_mut();
            if early.len() < MAX_EARLY {
                early.push((event.to_owned(), arg.clone()));
            }
            return;
        }
        self.deliver(event, arg);
    }

    /// Calls every handler of `event` (none of this object's borrows is held meanwhile: a handler
    /// may subscribe, unsubscribe or call back into the connection).
    fn deliver(&self, event: &str, arg: &JsValue) {
        let Some(set) = self.set_of(event) else {
            return;
        };
        // A snapshot, so handlers may subscribe or unsubscribe while being called.
        for f in Array::from(&set).iter() {
            if let Some(f) = f.dyn_ref::<Function>() {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, arg) {
                    web_sys::console::error_2(&"agent-rtc: an event handler threw".into(), &e);
                }
            }
        }
    }

    /// Adds a handler; returns the function that removes it (`None` only in an engine whose
    /// `Set` has no `delete`).
    pub fn on(self: &Rc<Self>, event: &str, handler: &Function) -> Option<Function> {
        let key = JsValue::from_str(event);
        let set = match self.set_of(event) {
            Some(s) => s,
            None => {
                let s = js_sys::Set::new(&JsValue::UNDEFINED);
                self.handlers.set(&key, &s);
                s
            }
        };
        set.add(handler);
        if self.early.borrow().iter().any(|(name, _)| name == event) {
            let events = self.clone();
            let event = event.to_owned();
            crate::web::wait::spawn(async move { events.replay(&event) });
        }
        // `set.delete.bind(set, handler)`: an unsubscribe with no Rust closure behind it.
        bound_delete(&set, handler)
    }

    pub fn off(&self, event: &str, handler: &Function) {
        if let Some(set) = self.set_of(event) {
            set.delete(handler);
        }
    }

    /// Delivers the early events of one name (and those that joined them meanwhile).
    fn replay(&self, event: &str) {
        let mut mine: Vec<JsValue> = Vec::new();
        self.early.borrow_mut().retain(|(name, arg)| {
            let taken = name == event;
            if taken {
                mine.push(arg.clone());
            }
            !taken
        });
        for arg in mine {
            self.deliver(event, &arg);
        }
    }

    /// After the connection closed: no handler is kept alive by it any more, once the replays
    /// already scheduled have run (early events stay for a late `on()`).
    pub fn clear(self: &Rc<Self>) {
        let events = self.clone();
        crate::web::wait::spawn(async move { events.handlers.clear() });
    }
}

/// `target.delete.bind(target, key)` (a `Set`'s or a `Map`'s): a remover with no Rust closure
/// behind it, and no code made from a string (a strict CSP forbids that).
pub fn bound_delete(target: &JsValue, key: &JsValue) -> Option<Function> {
    let delete: Function = js_sys::Reflect::get(target, &"delete".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(JsValue::from(delete.bind1(target, key)).unchecked_into())
}
