//! The browser shell: turns JS values, fetch, timers and events into calls on the pure core,
//! and core results into JS values. No protocol decisions live here.

mod connection;
mod deadline;
mod error;
mod http;
mod json;
mod media;
mod session;
mod start;
mod wait;

pub use connection::{connect_web_rtc, start_and_connect, Connection};
pub use error::{is_agent_rtc_error, to_js_error};
pub use json::json_to_js;
pub use session::Session;
pub use start::start_session;
/// Runs two futures side by side (used by the browser tests too).
pub use wait::join;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// The crate version, e.g. `"0.1.0"`.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_owned()
}
