//! Where each platform's start and offer endpoints live (docs/protocol.md §1–2).

use crate::error::Error;
use crate::url::{encode_segment, HttpUrl};

/// The placeholder in offer URL templates.
pub const SESSION_ID_PLACEHOLDER: &str = "{sessionId}";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    PipecatCloud,
    Butter,
    PipecatRunner,
}

impl Platform {
    pub fn parse(value: &str) -> Result<Platform, Error> {
        match value {
            "pipecat-cloud" => Ok(Platform::PipecatCloud),
            "butter" => Ok(Platform::Butter),
            "pipecat-runner" => Ok(Platform::PipecatRunner),
            other => Err(Error::invalid(format!(
                "`platform` must be \"pipecat-cloud\", \"butter\" or \"pipecat-runner\", not {}",
                crate::error::quoted(other)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::PipecatCloud => "pipecat-cloud",
            Platform::Butter => "butter",
            Platform::PipecatRunner => "pipecat-runner",
        }
    }

    pub fn needs_agent(self) -> bool {
        !matches!(self, Platform::PipecatRunner)
    }

    pub fn start_url(self, base: &HttpUrl, agent: Option<&str>) -> HttpUrl {
        let agent = agent.map(encode_segment).unwrap_or_default();
        match self {
            Platform::PipecatCloud => base.with_segments(&[&agent, "start"]),
            Platform::Butter => base.with_segments(&["api", "start", &agent]),
            Platform::PipecatRunner => base.with_segments(&["start"]),
        }
    }

    /// The offer URL template (with `{sessionId}`) for a session started on this platform.
    pub fn offer_template(self, base: &HttpUrl, agent: Option<&str>) -> String {
        let agent = agent.map(encode_segment).unwrap_or_default();
        let url = match self {
            Platform::PipecatCloud => {
                base.with_segments(&[&agent, "sessions", SESSION_ID_PLACEHOLDER, "api", "offer"])
            }
            Platform::Butter => {
                base.with_segments(&["api", "sessions", SESSION_ID_PLACEHOLDER, "api", "offer"])
            }
            Platform::PipecatRunner => {
                base.with_segments(&["sessions", SESSION_ID_PLACEHOLDER, "api", "offer"])
            }
        };
        url.to_string()
    }
}

/// Pipecat's own client derives the offer URL from a custom start URL: its last `start` path
/// segment becomes `sessions/{sessionId}/api/offer`. `None` when the path has no such segment.
pub fn offer_template_from_start_url(start: &HttpUrl) -> Option<String> {
    let path = start.path();
    // The last segment that is exactly `start` (a segment is what lies between slashes).
    let mut at = None;
    let mut from = 0;
    let bytes = path.as_bytes();
    for i in 0..=bytes.len() {
        if bytes.get(i).is_none_or(|b| *b == b'/') {
            if path.get(from..i) == Some("start") {
                at = Some((from, i));
            }
            from = i + 1;
        }
    }
    let (begin, end) = at?;
    // Built by hand: `[&str]::join` and `format!` are generic copies of their own in the wasm.
    let mut out = String::from(path.get(..begin)?);
    out.push_str("sessions/");
    out.push_str(SESSION_ID_PLACEHOLDER);
    out.push_str("/api/offer");
    out.push_str(path.get(end..)?);
    Some(start.with_path(out).to_string())
}

/// Checks an agent name or id: anything that could change the URL's path is refused, the rest is
/// percent-encoded when the URL is built.
pub fn validate_agent(platform: Platform, agent: &str) -> Result<(), Error> {
    if agent.is_empty() {
        return Err(Error::invalid("`agent` must not be empty"));
    }
    if agent
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%'))
        || crate::substring::contains(agent, "..")
        || agent == "."
    {
        return Err(Error::invalid(format!("`agent` {} contains characters that would change the request URL (/ \\ ? # % .. or whitespace)", crate::error::quoted(agent))));
    }
    if platform == Platform::Butter && !agent.starts_with("agent_") {
        return Err(Error::invalid(format!(
            "a Butter `agent` id starts with \"agent_\"; got {}",
            crate::error::quoted(agent)
        )));
    }
    Ok(())
}

/// Fills the template with a session id (percent-encoded, so an odd id cannot reshape the URL).
pub fn resolve_offer_url(template: &str, session_id: Option<&str>) -> String {
    match session_id {
        Some(id) => {
            crate::substring::replace(template, SESSION_ID_PLACEHOLDER, &encode_segment(id))
        }
        None => template.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> HttpUrl {
        HttpUrl::parse(s, "baseUrl").unwrap()
    }

    #[test]
    fn urls_per_platform() {
        let cases = [
            (
                Platform::PipecatCloud,
                "https://api.pipecat.daily.co/v1/public",
                Some("my-agent"),
                "https://api.pipecat.daily.co/v1/public/my-agent/start",
                "https://api.pipecat.daily.co/v1/public/my-agent/sessions/{sessionId}/api/offer",
            ),
            (
                Platform::PipecatCloud,
                "https://api.pipecat.daily.co/v1/public/",
                Some("a:b"),
                "https://api.pipecat.daily.co/v1/public/a%3Ab/start",
                "https://api.pipecat.daily.co/v1/public/a%3Ab/sessions/{sessionId}/api/offer",
            ),
            (
                Platform::Butter,
                "https://butter.example",
                Some("agent_42"),
                "https://butter.example/api/start/agent_42",
                "https://butter.example/api/sessions/{sessionId}/api/offer",
            ),
            (
                Platform::PipecatRunner,
                "http://localhost:7860",
                None,
                "http://localhost:7860/start",
                "http://localhost:7860/sessions/{sessionId}/api/offer",
            ),
            (
                Platform::PipecatRunner,
                "http://127.0.0.1:7860/base?fault=x",
                None,
                "http://127.0.0.1:7860/base/start?fault=x",
                "http://127.0.0.1:7860/base/sessions/{sessionId}/api/offer?fault=x",
            ),
        ];
        for (platform, b, agent, start, offer) in cases {
            assert_eq!(platform.start_url(&base(b), agent).to_string(), start);
            assert_eq!(platform.offer_template(&base(b), agent), offer);
        }
    }

    #[test]
    fn offer_derived_from_custom_start_url() {
        let cases = [
            (
                "http://127.0.0.1:7860/start",
                Some("http://127.0.0.1:7860/sessions/{sessionId}/api/offer"),
            ),
            (
                "https://x.example/v1/public/bot/start",
                Some("https://x.example/v1/public/bot/sessions/{sessionId}/api/offer"),
            ),
            (
                "https://x.example/start/extra?k=v",
                Some("https://x.example/sessions/{sessionId}/api/offer/extra?k=v"),
            ),
            ("https://x.example/begin", None),
            ("https://x.example/starter", None),
        ];
        for (start, offer) in cases {
            assert_eq!(
                offer_template_from_start_url(&base(start)).as_deref(),
                offer,
                "{start}"
            );
        }
    }

    #[test]
    fn agent_names() {
        for ok in ["my-agent", "agent_1", "a.b", "fault-start-500", "名前"] {
            assert!(validate_agent(Platform::PipecatCloud, ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a/b", "..", "a/../b", "a?b", "a#b", "a b", "a\tb", "a%2Fb", ".", "a\\b", "x\n",
        ] {
            let e = validate_agent(Platform::PipecatCloud, bad).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidOptions, "{bad:?}");
        }
        assert!(validate_agent(Platform::Butter, "agent_x").is_ok());
        assert!(validate_agent(Platform::Butter, "my-agent").is_err());
        assert!(Platform::parse("daily").is_err());
        for p in [
            Platform::PipecatCloud,
            Platform::Butter,
            Platform::PipecatRunner,
        ] {
            assert_eq!(Platform::parse(p.as_str()).unwrap(), p);
        }
    }

    #[test]
    fn session_id_is_encoded_into_the_template() {
        let t = "http://h/sessions/{sessionId}/api/offer";
        assert_eq!(
            resolve_offer_url(t, Some("call_1")),
            "http://h/sessions/call_1/api/offer"
        );
        assert_eq!(
            resolve_offer_url(t, Some("../x?y")),
            "http://h/sessions/..%2Fx%3Fy/api/offer"
        );
        assert_eq!(
            resolve_offer_url("http://h/api/offer", Some("s")),
            "http://h/api/offer"
        );
    }
}
