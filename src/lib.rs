//! agent-rtc: start a voice-agent session and connect to it over WebRTC from the browser.
//!
//! The modules at the top level are plain Rust (options, URLs, messages, the connection state
//! machine, error mapping) and are tested natively; `web` translates between them and the browser.

pub mod conversation;
pub mod error;
#[cfg(feature = "websocket")]
pub mod frames;
pub mod json;
pub mod machine;
pub mod options;
pub mod platform;
#[cfg(test)]
mod proptests;
pub mod recovery;
pub mod rtvi;
pub mod session;
pub mod signalling;
pub mod stats;
pub mod substring;
pub mod trickle;
pub mod url;
#[cfg(feature = "websocket")]
pub mod websocket;

#[cfg(target_arch = "wasm32")]
pub mod web;

// The page's single thread is the only one: a free-list allocator a few hundred bytes long does
// instead of dlmalloc (several KB). Allocation here is rare (per message, per request).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature runs one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// The crate version, as `version()` returns it to JS.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The library name sent to bots in RTVI `client-ready`.
pub const LIBRARY_NAME: &str = "agent-rtc";
