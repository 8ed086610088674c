//! Live sessions, their peers, expiry and the records the debug endpoint reads.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::bot::Bot;
use crate::peer::{self, Ending, PeerCmd, PeerHandle};
use crate::websocket::{WsCmd, WsDebug};

/// How long an ended session's record stays readable by tests.
pub const KEEP_ENDED: Duration = Duration::from_secs(60);
/// Peers kept per session (live and closed), so a client cannot grow one without bound.
const MAX_PEERS_PER_SESSION: usize = 20;
/// How long a WebSocket session's token stays valid (for one use), as the Pipecat runner's.
pub const WS_TOKEN_TTL: Duration = Duration::from_secs(300);

pub struct Session {
    pub id: String,
    pub agent: String,
    pub fault_spec: String,
    /// Since when the session has had no live peer; it expires `ttl` later.
    idle_since: Option<Instant>,
    ended_at: Option<Instant>,
    pub peers: Vec<PeerHandle>,
    /// The session's `blackout-...` fault applies to one peer only, so a peer that replaces
    /// it after the blackout is not cut again.
    pub blackout_used: bool,
    /// The stand-in Daily room of a start that asked for one.
    pub daily: Option<DailyRoom>,
    /// The WebSocket side of a start with `transport: "websocket"`.
    pub websocket: Option<WsState>,
}

/// A WebSocket session: its one-use token until the socket comes, then the socket's task.
/// The token is never shown: not in the debug record, not in any log.
pub struct WsState {
    /// The token and when it stops being valid; `None` once used.
    token: Option<(String, Instant)>,
    pub link: Option<WsLink>,
}

/// The registry's hold on a running WebSocket task.
pub struct WsLink {
    pub bot: Arc<Mutex<Bot>>,
    pub debug: Arc<Mutex<WsDebug>>,
    pub tx: mpsc::UnboundedSender<WsCmd>,
}

impl WsState {
    pub fn new(token: String, now: Instant) -> WsState {
        WsState {
            token: Some((token, now + WS_TOKEN_TTL)),
            link: None,
        }
    }

    /// Until when an unused token keeps its session from expiring.
    fn token_expiry(&self) -> Option<Instant> {
        self.token.as_ref().map(|(_, until)| *until)
    }

    fn token_is(&self, token: &str, now: Instant) -> bool {
        self.token
            .as_ref()
            .is_some_and(|(t, until)| now < *until && t.as_bytes() == token.as_bytes())
    }
}

/// A start with `createDailyRoom: true` or `transport: "daily"` gets a room at
/// `/daily/{session id}` and a token for it. The token is checked by the room page and never
/// shown: not in the debug record, not in any log.
pub struct DailyRoom {
    pub url: String,
    pub token: String,
    /// What the start asked for, as sent.
    pub create_daily_room: Option<bool>,
    pub transport: Option<String>,
    /// Loads of the room page that carried the right token.
    pub page_loads: u64,
}

impl Session {
    pub fn live_peer(&self, pc_id: &str) -> Option<&PeerHandle> {
        self.peers
            .iter()
            .rev()
            .find(|p| p.answers_to(pc_id) && p.is_live())
    }

    /// The newest peer still running.
    pub fn latest_live_peer(&self) -> Option<&PeerHandle> {
        self.peers.iter().rev().find(|p| p.is_live())
    }

    pub fn debug(&self) -> Value {
        let peers: Vec<Value> = self
            .peers
            .iter()
            .map(|p| {
                p.debug
                    .lock()
                    .ok()
                    .and_then(|d| serde_json::to_value(&*d).ok())
                    .unwrap_or(Value::Null)
            })
            .collect();
        // The bot of the newest peer (a restarted peer carries on its predecessor's bot), or
        // the WebSocket's.
        let ws = self.websocket.as_ref().and_then(|w| w.link.as_ref());
        let bot = match (self.peers.last(), ws) {
            (Some(p), _) => peer::lock(&p.bot).summary(),
            (None, Some(link)) => peer::lock(&link.bot).summary(),
            (None, None) => Value::Null,
        };
        let websocket = self.websocket.as_ref().map(|w| {
            let mut v = w
                .link
                .as_ref()
                .and_then(|l| l.debug.lock().ok())
                .and_then(|d| serde_json::to_value(&*d).ok())
                .unwrap_or_else(|| json!({}));
            v["tokenUsed"] = json!(w.token.is_none());
            v
        });
        json!({
            "sessionId": self.id,
            "agent": self.agent,
            "fault": self.fault_spec,
            "ended": self.ended_at.is_some(),
            "bot": bot,
            "peers": peers,
            "daily": self.daily.as_ref().map(|d| json!({
                "room": d.url,
                "createDailyRoom": d.create_daily_room,
                "transport": d.transport,
                "pageLoads": d.page_loads,
            })),
            "websocket": websocket,
        })
    }
}

pub struct Registry {
    ttl: Duration,
    max_sessions: usize,
    sessions: HashMap<String, Session>,
    /// pc_id → session, for the session-less `/api/offer` route.
    plain_pcs: HashMap<String, String>,
    next_serial: u64,
}

impl Registry {
    pub fn new(ttl: Duration, max_sessions: usize) -> Registry {
        Registry {
            ttl,
            max_sessions,
            sessions: HashMap::new(),
            plain_pcs: HashMap::new(),
            next_serial: 1,
        }
    }

    /// Ends expired sessions and forgets old records.
    pub fn sweep(&mut self, now: Instant) {
        let ttl = self.ttl;
        for s in self.sessions.values_mut() {
            if s.ended_at.is_none() {
                if let Some(idle) = s.idle_since {
                    // An unused WebSocket token keeps its session for as long as it is valid.
                    let mut end = idle + ttl;
                    if let Some(until) = s.websocket.as_ref().and_then(WsState::token_expiry) {
                        end = end.max(until);
                    }
                    if now >= end {
                        s.ended_at = Some(end);
                    }
                }
            }
        }
        self.sessions
            .retain(|_, s| s.ended_at.is_none_or(|t| now < t + KEEP_ENDED));
        let sessions = &self.sessions;
        self.plain_pcs.retain(|_, sid| sessions.contains_key(sid));
    }

    pub fn live_count(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.ended_at.is_none())
            .count()
    }

    /// Creates a session unless the live limit is reached.
    pub fn create(&mut self, id: String, agent: &str, fault_spec: &str) -> Option<&Session> {
        self.sweep(Instant::now());
        if self.live_count() >= self.max_sessions {
            return None;
        }
        let s = Session {
            id: id.clone(),
            agent: agent.to_string(),
            fault_spec: fault_spec.to_string(),
            idle_since: Some(Instant::now()),
            ended_at: None,
            peers: Vec::new(),
            blackout_used: false,
            daily: None,
            websocket: None,
        };
        self.sessions.insert(id.clone(), s);
        self.sessions.get(&id)
    }

    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// A session that can still take offers.
    pub fn live(&mut self, id: &str) -> Option<&mut Session> {
        self.sweep(Instant::now());
        self.sessions.get_mut(id).filter(|s| s.ended_at.is_none())
    }

    pub fn plain_session_of(&self, pc_id: &str) -> Option<String> {
        self.plain_pcs.get(pc_id).cloned()
    }

    pub fn register_plain(&mut self, pc_id: &str, session_id: &str) {
        self.plain_pcs
            .insert(pc_id.to_string(), session_id.to_string());
    }

    pub fn next_serial(&mut self) -> u64 {
        let s = self.next_serial;
        self.next_serial += 1;
        s
    }

    /// Adds a started peer; a live peer with the same pc_id is told to close (restart_pc).
    pub fn add_peer(&mut self, session_id: &str, peer: PeerHandle) {
        let Some(s) = self.sessions.get_mut(session_id) else {
            let _ = peer
                .tx
                .send(PeerCmd::Close("session ended".into(), Ending::Replaced));
            return;
        };
        for old in s.peers.iter().filter(|p| peer.answers_to(&p.pc_id)) {
            let _ = old.tx.send(PeerCmd::Close(
                "replaced (restart_pc)".into(),
                Ending::Replaced,
            ));
        }
        if s.peers.len() >= MAX_PEERS_PER_SESSION {
            if let Some(i) = s.peers.iter().position(|p| !p.is_live()) {
                s.peers.remove(i);
            }
        }
        s.peers.push(peer);
        s.idle_since = None;
    }

    /// Bookkeeping when a peer's task has ended.
    pub fn peer_ended(&mut self, serial: u64, ending: Ending) {
        let now = Instant::now();
        let Some(s) = self
            .sessions
            .values_mut()
            .find(|s| s.peers.iter().any(|p| p.serial == serial))
        else {
            return;
        };
        if s.ended_at.is_some() {
            return;
        }
        if ending == Ending::BotEnded {
            s.ended_at = Some(now);
            for p in s.peers.iter().filter(|p| p.serial != serial) {
                let _ =
                    p.tx.send(PeerCmd::Close("session ended".into(), Ending::Replaced));
            }
        } else if !s.peers.iter().any(|p| p.serial != serial && p.is_live()) {
            s.idle_since.get_or_insert(now);
        }
    }

    /// The live WebSocket session whose token this is, if the token is still valid and unused.
    pub fn ws_token_session(&mut self, token: &str, now: Instant) -> Option<String> {
        self.sweep(now);
        self.sessions
            .values()
            .find(|s| {
                s.ended_at.is_none() && s.websocket.as_ref().is_some_and(|w| w.token_is(token, now))
            })
            .map(|s| s.id.clone())
    }

    /// Uses up a valid token: returns its session (id, agent, fault spec), once.
    pub fn take_ws_token(&mut self, token: &str, now: Instant) -> Option<(String, String, String)> {
        let id = self.ws_token_session(token, now)?;
        let s = self.sessions.get_mut(&id)?;
        s.websocket.as_mut()?.token = None;
        Some((s.id.clone(), s.agent.clone(), s.fault_spec.clone()))
    }

    /// A socket was accepted for the session: it lives as long as the socket.
    pub fn ws_attach(&mut self, id: &str, link: WsLink) {
        match self.sessions.get_mut(id) {
            Some(s) if s.ended_at.is_none() => {
                s.idle_since = None;
                if let Some(w) = s.websocket.as_mut() {
                    w.link = Some(link);
                }
            }
            _ => {
                let _ = link.tx.send(WsCmd::Close);
            }
        }
    }

    /// The session's socket has closed: the bot and the session end with it.
    pub fn ws_ended(&mut self, id: &str) {
        if let Some(s) = self.sessions.get_mut(id) {
            s.ended_at.get_or_insert_with(Instant::now);
        }
    }

    /// Asks every live peer and socket to close (shutdown).
    pub fn close_all(&mut self) {
        for s in self.sessions.values() {
            for p in &s.peers {
                let _ =
                    p.tx.send(PeerCmd::Close("server shut down".into(), Ending::Replaced));
            }
            if let Some(link) = s.websocket.as_ref().and_then(|w| w.link.as_ref()) {
                let _ = link.tx.send(WsCmd::Close);
            }
        }
    }
}

/// A random 64-bit value; session ids need to be unguessable only among local tests.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// A random opaque token: 32 hex digits.
pub fn token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// A random version-4 UUID string.
pub fn uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_right_and_differ() {
        let a = uuid();
        let b = uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(
            parts[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
    }

    #[test]
    fn capacity_and_expiry() {
        let mut r = Registry::new(Duration::from_millis(50), 2);
        assert!(r.create("a".into(), "x", "").is_some());
        assert!(r.create("b".into(), "x", "").is_some());
        assert!(r.create("c".into(), "x", "").is_none());
        assert!(r.live("a").is_some());
        let later = Instant::now() + Duration::from_millis(60);
        r.sweep(later);
        assert_eq!(r.live_count(), 0);
        // The record stays readable after expiry, then goes.
        assert!(r.get("a").is_some());
        r.sweep(later + KEEP_ENDED + Duration::from_millis(100));
        assert!(r.get("a").is_none());
    }

    #[test]
    fn websocket_tokens_are_single_use_and_expire() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_millis(50), 10);
        for (id, token) in [("a", "tok-a"), ("b", "tok-b"), ("c", "tok-c")] {
            r.create(id.into(), "x", "silent").unwrap();
            r.live(id).unwrap().websocket = Some(WsState::new(token.into(), t0));
        }
        assert_eq!(r.ws_token_session("nope", t0), None);
        assert_eq!(r.ws_token_session("tok-a", t0).as_deref(), Some("a"));
        assert_eq!(
            r.take_ws_token("tok-a", t0),
            Some(("a".into(), "x".into(), "silent".into()))
        );
        assert_eq!(r.take_ws_token("tok-a", t0), None, "used");
        assert_eq!(r.ws_token_session("tok-a", t0), None);
        assert_eq!(r.get("a").unwrap().debug()["websocket"]["tokenUsed"], true);
        assert!(!r.get("b").unwrap().debug().to_string().contains("tok-b"));
        // An unused token keeps its session past the idle TTL, until the token expires.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(r.ws_token_session("tok-b", later).as_deref(), Some("b"));
        r.ws_ended("b");
        assert_eq!(r.ws_token_session("tok-b", later), None, "session over");
        let expired = t0 + WS_TOKEN_TTL;
        assert_eq!(r.take_ws_token("tok-c", expired), None, "expired");
        r.sweep(expired);
        assert_eq!(
            r.live_count(),
            0,
            "a used token without a socket keeps nothing alive"
        );
    }
}
