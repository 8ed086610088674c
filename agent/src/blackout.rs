//! A blackout cuts a peer's media path for a while mid-call: its UDP socket neither receives
//! nor sends, while the WebRTC stack itself keeps running (its timers, retransmissions and
//! consent checks go on and fail), then the path comes back. This is the network side of a
//! reconnect test: the same peer recovering, or the client restarting it.

use std::time::{Duration, Instant};

use serde::Serialize;

/// What one blackout did, for `GET /debug/sessions/{id}` (times in Unix epoch milliseconds).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// `"fault"` (the `blackout-...` fault item) or `"debug"` (the debug route).
    pub trigger: &'static str,
    pub start_ms: u64,
    /// When it ends (planned while `active`, then the actual end).
    pub end_ms: u64,
    pub active: bool,
    pub packets_dropped_in: u64,
    pub packets_dropped_out: u64,
}

/// A change of the blackout state.
#[derive(Debug, PartialEq, Eq)]
pub enum Edge {
    Started(Duration),
    Ended,
}

#[derive(Debug, Default)]
pub struct Blackout {
    /// A blackout planned to start at this time, for this long.
    planned: Option<(Instant, Duration)>,
    /// The one in progress ends at this time.
    until: Option<Instant>,
}

impl Blackout {
    pub fn plan(&mut self, at: Instant, length: Duration) {
        self.planned = Some((at, length));
    }

    /// Starts a blackout now; one in progress is replaced (it ends now).
    pub fn begin(&mut self, now: Instant, length: Duration) {
        self.until = Some(now + length);
    }

    /// Starts the planned blackout or ends the current one when their time has come.
    pub fn tick(&mut self, now: Instant) -> Option<Edge> {
        if self.until.is_some_and(|u| now >= u) {
            self.until = None;
            return Some(Edge::Ended);
        }
        match self.planned {
            Some((at, length)) if now >= at && self.until.is_none() => {
                self.planned = None;
                self.begin(now, length);
                Some(Edge::Started(length))
            }
            _ => None,
        }
    }

    /// Whether datagrams are dropped at `now`.
    pub fn is_active(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    pub fn deadline(&self) -> Option<Instant> {
        match (self.until, self.planned) {
            (Some(u), _) => Some(u),
            (None, Some((at, _))) => Some(at),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_blackout_starts_and_ends() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = Blackout::default();
        b.plan(ms(100), Duration::from_millis(300));
        assert_eq!(b.deadline(), Some(ms(100)));
        assert_eq!(b.tick(ms(99)), None);
        assert!(!b.is_active(ms(99)));
        assert_eq!(
            b.tick(ms(100)),
            Some(Edge::Started(Duration::from_millis(300)))
        );
        assert!(b.is_active(ms(100)) && b.is_active(ms(399)));
        assert!(!b.is_active(ms(400)), "over at its end even before a tick");
        assert_eq!(b.deadline(), Some(ms(400)));
        assert_eq!(b.tick(ms(400)), Some(Edge::Ended));
        assert_eq!(b.tick(ms(500)), None);
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn an_immediate_blackout_replaces_the_current_one() {
        let t0 = Instant::now();
        let mut b = Blackout::default();
        b.begin(t0, Duration::from_secs(10));
        b.begin(t0 + Duration::from_secs(1), Duration::from_millis(100));
        assert!(!b.is_active(t0 + Duration::from_millis(1100)));
        // A planned one waits for the current one to end.
        b.plan(t0, Duration::from_secs(1));
        assert_eq!(b.tick(t0 + Duration::from_millis(1050)), None);
        assert_eq!(b.tick(t0 + Duration::from_millis(1100)), Some(Edge::Ended));
        assert!(matches!(
            b.tick(t0 + Duration::from_millis(1100)),
            Some(Edge::Started(_))
        ));
    }
}
