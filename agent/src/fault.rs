//! Fault specs: deterministic misbehaviour asked for by a request, so the SDK's failure paths
//! can be tested against a real server. Syntax and meaning are documented in `agent/README.md`.

use std::time::Duration;

use crate::rtvi::Version;

/// How a refused start/offer/patch answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error": ..., "code": "FAULT"}`
    Json,
    /// FastAPI `{"detail": ...}`
    Detail,
    /// A long text/plain body, like a proxy's error page.
    Text,
    /// JSON error whose message repeats the request's Authorization header.
    Echo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFault {
    pub status: u16,
    pub style: ErrorStyle,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub start_status: Option<StatusFault>,
    pub start_hang: bool,
    pub start_nonjson: bool,
    pub start_nosession: bool,
    /// `start-ice-servers`: the start answer carries an `iceConfig` (a loopback STUN URL that
    /// nothing answers), as a cloud start with ICE servers does.
    pub start_ice_servers: bool,
    pub offer_status: Option<StatusFault>,
    pub offer_hang: bool,
    pub offer_badsdp: bool,
    pub offer_nopcid: bool,
    pub patch_status: Option<StatusFault>,
    pub ice_never: bool,
    pub no_bot_ready: bool,
    pub silent: bool,
    pub drop_after: Option<Duration>,
    pub peer_left_after: Option<Duration>,
    pub renegotiate_after: Option<Duration>,
    pub delay_start: Option<Duration>,
    pub delay_offer: Option<Duration>,
    /// `blackout-<secs>s[-after-<secs>s]`: (delay after the channel opens, length).
    pub blackout: Option<(Duration, Duration)>,
    /// `rtvi-version-<x.y.z>`: the RTVI protocol version the bot speaks.
    pub rtvi_version: Option<Version>,
    /// `function-call-legacy`: function calls announced with `llm-function-call`.
    pub function_call_legacy: bool,
    /// `client-message-strict`: unknown client-message types get an `error-response`.
    pub client_message_strict: bool,
    /// `ws-close-after-ready`: the server closes the WebSocket (1011) right after `bot-ready`.
    pub ws_close_after_ready: bool,
    /// `ws-refuse`: the WebSocket upgrade is refused (403) even with a good token.
    pub ws_refuse: bool,
    /// `ws-interrupt`: after `bot-ready`, an `InterruptionFrame` every [`WS_INTERRUPT_EVERY`].
    pub ws_interrupt: bool,
}

/// How often the `ws-interrupt` fault sends an `InterruptionFrame`.
pub const WS_INTERRUPT_EVERY: Duration = Duration::from_millis(500);

/// When a `blackout-<secs>s` without `-after-` starts: this long after the channel opens.
pub const BLACKOUT_DEFAULT_DELAY: Duration = Duration::from_secs(2);

impl Faults {
    /// Parses a comma-separated spec. Unknown items are an error so a typo in a test is loud.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        f.merge(spec)?;
        Ok(f)
    }

    /// Adds the items of `spec` to these faults.
    pub fn merge(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            self.add(item)
                .ok_or_else(|| format!("unknown fault `{item}`"))?;
        }
        Ok(())
    }

    fn add(&mut self, item: &str) -> Option<()> {
        match item {
            "start-hang" => self.start_hang = true,
            "start-nonjson" => self.start_nonjson = true,
            "start-nosession" => self.start_nosession = true,
            "start-ice-servers" => self.start_ice_servers = true,
            "offer-hang" => self.offer_hang = true,
            "offer-badsdp" => self.offer_badsdp = true,
            "offer-nopcid" => self.offer_nopcid = true,
            "ice-never" => self.ice_never = true,
            "no-bot-ready" => self.no_bot_ready = true,
            "silent" => self.silent = true,
            "function-call-legacy" => self.function_call_legacy = true,
            "client-message-strict" => self.client_message_strict = true,
            "ws-close-after-ready" => self.ws_close_after_ready = true,
            "ws-refuse" => self.ws_refuse = true,
            "ws-interrupt" => self.ws_interrupt = true,
            _ => {
                if let Some(rest) = item.strip_prefix("blackout-") {
                    self.blackout = Some(blackout(rest)?);
                } else if let Some(rest) = item.strip_prefix("rtvi-version-") {
                    self.rtvi_version = Some(Version::parse(rest)?);
                } else if let Some(rest) = item.strip_prefix("drop-after-") {
                    self.drop_after = Some(secs(rest)?);
                } else if let Some(rest) = item.strip_prefix("peer-left-after-") {
                    self.peer_left_after = Some(secs(rest)?);
                } else if let Some(rest) = item.strip_prefix("renegotiate-after-") {
                    self.renegotiate_after = Some(secs(rest)?);
                } else if let Some(rest) = item.strip_prefix("delay-start-") {
                    self.delay_start = Some(millis(rest)?);
                } else if let Some(rest) = item.strip_prefix("delay-offer-") {
                    self.delay_offer = Some(millis(rest)?);
                } else if let Some(rest) = item.strip_prefix("start-") {
                    self.start_status = Some(status(rest)?);
                } else if let Some(rest) = item.strip_prefix("offer-") {
                    self.offer_status = Some(status(rest)?);
                } else if let Some(rest) = item.strip_prefix("patch-") {
                    self.patch_status = Some(status(rest)?);
                } else {
                    return None;
                }
            }
        }
        Some(())
    }
}

fn status(s: &str) -> Option<StatusFault> {
    let (code, style) = match s.split_once('-') {
        None => (s, ErrorStyle::Json),
        Some((code, "detail")) => (code, ErrorStyle::Detail),
        Some((code, "text")) => (code, ErrorStyle::Text),
        Some((code, "echo")) => (code, ErrorStyle::Echo),
        Some(_) => return None,
    };
    let status: u16 = code.parse().ok()?;
    (100..=599)
        .contains(&status)
        .then_some(StatusFault { status, style })
}

/// `3s` or `3s-after-2s` (the `s` may be left out; fractions allowed).
fn blackout(s: &str) -> Option<(Duration, Duration)> {
    let (length, delay) = match s.split_once("-after-") {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    let seconds = |v: &str| secs(v.strip_suffix('s').unwrap_or(v));
    let length = seconds(length).filter(|d| !d.is_zero())?;
    let delay = match delay {
        Some(d) => seconds(d)?,
        None => BLACKOUT_DEFAULT_DELAY,
    };
    Some((delay, length))
}

/// Longest delay a fault may ask for: deadlines stay far from `Instant` overflow.
const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

fn secs(s: &str) -> Option<Duration> {
    let v: f64 = s.parse().ok()?;
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| *d <= MAX_DELAY)
}

fn millis(s: &str) -> Option<Duration> {
    s.parse()
        .ok()
        .map(Duration::from_millis)
        .filter(|d| *d <= MAX_DELAY)
}

/// The fault spec carried by an agent name: `fault-<spec>` or Butter's `agent_fault-<spec>`.
pub fn from_agent_name(agent: &str) -> Option<&str> {
    agent
        .strip_prefix("agent_")
        .unwrap_or(agent)
        .strip_prefix("fault-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let f = Faults::parse(
            "start-503, start-hang,start-nonjson,start-nosession,start-ice-servers,offer-500-detail,offer-hang,\
             offer-badsdp,offer-nopcid,patch-400-text,ice-never,no-bot-ready,silent,drop-after-1.5,\
             peer-left-after-2,renegotiate-after-0.25,delay-start-100,delay-offer-7,blackout-3s,\
             rtvi-version-1.0.0,function-call-legacy,client-message-strict,ws-close-after-ready,\
             ws-refuse,ws-interrupt",
        )
        .unwrap();
        assert_eq!(
            f.start_status,
            Some(StatusFault {
                status: 503,
                style: ErrorStyle::Json
            })
        );
        assert!(f.start_hang && f.start_nonjson && f.start_nosession);
        assert_eq!(f.offer_status.map(|s| s.style), Some(ErrorStyle::Detail));
        assert!(f.offer_hang && f.offer_badsdp && f.offer_nopcid);
        assert_eq!(f.patch_status.map(|s| s.style), Some(ErrorStyle::Text));
        assert!(f.ice_never && f.no_bot_ready && f.silent && f.start_ice_servers);
        assert_eq!(f.drop_after, Some(Duration::from_millis(1500)));
        assert_eq!(f.peer_left_after, Some(Duration::from_secs(2)));
        assert_eq!(f.renegotiate_after, Some(Duration::from_millis(250)));
        assert_eq!(f.delay_start, Some(Duration::from_millis(100)));
        assert_eq!(f.delay_offer, Some(Duration::from_millis(7)));
        assert_eq!(
            f.blackout,
            Some((BLACKOUT_DEFAULT_DELAY, Duration::from_secs(3)))
        );
        assert_eq!(f.rtvi_version, Some(Version([1, 0, 0])));
        assert!(f.function_call_legacy && f.client_message_strict);
        assert!(f.ws_close_after_ready && f.ws_refuse && f.ws_interrupt);
    }

    #[test]
    fn blackout_forms() {
        let b = |s: &str| Faults::parse(s).unwrap().blackout;
        let d = Duration::from_secs_f64;
        assert_eq!(b("blackout-3s-after-2s"), Some((d(2.0), d(3.0))));
        assert_eq!(b("blackout-1.5-after-0"), Some((d(0.0), d(1.5))));
        assert_eq!(b("blackout-0.25s-after-0.5s"), Some((d(0.5), d(0.25))));
        for bad in [
            "blackout-",
            "blackout-0s",
            "blackout-xs",
            "blackout-3s-after-",
            "blackout-3s-after-ys",
            "blackout-3ss",
            "rtvi-version-2",
            "rtvi-version-a.b.c",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn echo_style_and_empty_spec() {
        let f = Faults::parse("start-401-echo").unwrap();
        assert_eq!(f.start_status.map(|s| s.style), Some(ErrorStyle::Echo));
        assert_eq!(Faults::parse("").unwrap(), Faults::default());
    }

    #[test]
    fn rejects_unknown_items() {
        for bad in [
            "nope",
            "start-abc",
            "start-700",
            "start-500-weird",
            "drop-after-x",
            "drop-after--1",
            "delay-start-1.5",
            "drop-after-1e300",
            "drop-after-100000",
            "delay-offer-99999999999",
            "drop-after-NaN",
            "ws-close",
            "ws-interrupt-1",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn agent_names() {
        assert_eq!(from_agent_name("fault-start-500"), Some("start-500"));
        assert_eq!(from_agent_name("agent_fault-silent"), Some("silent"));
        assert_eq!(from_agent_name("agent_echo"), None);
        assert_eq!(from_agent_name("echo"), None);
    }
}
