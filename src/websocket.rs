//! The WebSocket transport's options (`connectWebSocket`, `startAndConnect({ transport:
//! "websocket" })`) and the URL the socket opens: the session's `wsUrl` with its `token`.

use crate::error::Error;
use crate::json::Value;
use crate::options::{Fields, DEFAULT_TIMEOUT_MS};
use crate::url::{encode_segment, HttpUrl};

/// Everything a WebSocket connect reads from its options besides the media and the signal.
#[derive(Clone, PartialEq)]
pub struct SocketOptions {
    /// `wsUrl` and `token` given directly (a `session` brings its own).
    pub ws_url: Option<String>,
    pub token: Option<String>,
    pub wait_for_bot_ready: bool,
    pub timeout_ms: f64,
    /// Where the SDK's audio worklet is served, when not beside the package's JS.
    pub worklet_url: Option<String>,
}

impl SocketOptions {
    pub fn from_options(options: &Value) -> Result<SocketOptions, Error> {
        let Value::Object(map) = options else {
            return Err(Error::invalid("options must be an object"));
        };
        let f = Fields(map);
        Ok(SocketOptions {
            ws_url: f.string("wsUrl")?,
            token: f.string("token")?,
            wait_for_bot_ready: f.bool("waitForBotReady")?.unwrap_or(true),
            timeout_ms: f.positive_ms("timeoutMs", DEFAULT_TIMEOUT_MS)?,
            worklet_url: f.string("workletUrl")?,
        })
    }
}

/// The token is a secret: `Debug` says only whether there is one.
impl std::fmt::Debug for SocketOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketOptions")
            .field("ws_url", &self.ws_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("wait_for_bot_ready", &self.wait_for_bot_ready)
            .field("timeout_ms", &self.timeout_ms)
            .field("worklet_url", &self.worklet_url)
            .finish()
    }
}

/// The URL the socket opens: `ws_url` (`ws:` only to a loopback host, as plain `http:` is)
/// with `token` added as the `token` query parameter, the way the Pipecat runner reads it.
pub fn socket_url(ws_url: &str, token: Option<&str>) -> Result<String, Error> {
    let (secure, rest) = if let Some(rest) = ws_url.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = ws_url.strip_prefix("ws://") {
        (false, rest)
    } else {
        return Err(Error::invalid("`wsUrl` must be a ws:// or wss:// URL"));
    };
    if ws_url.contains('#') {
        return Err(Error::invalid("`wsUrl` must not have a #fragment"));
    }
    // Checked as the http(s) URL it upgrades from: host, port, and the loopback rule.
    let scheme = if secure { "https://" } else { "http://" };
    let http = HttpUrl::parse(&format!("{scheme}{rest}"), "wsUrl")?;
    http.require_secure_or_loopback("wsUrl")?;
    let mut url = ws_url.to_owned();
    if let Some(token) = token {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("token=");
        url.push_str(&encode_segment(token));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn the_token_rides_as_a_query_parameter_encoded() {
        assert_eq!(
            socket_url("ws://localhost:7860/ws-client", Some("a.b+c/=")).unwrap(),
            "ws://localhost:7860/ws-client?token=a.b%2Bc%2F%3D"
        );
        assert_eq!(
            socket_url("wss://api.example.com/ws/generic/agent.org?x=1", Some("t")).unwrap(),
            "wss://api.example.com/ws/generic/agent.org?x=1&token=t"
        );
        assert_eq!(
            socket_url("ws://127.0.0.1:9/ws-client", None).unwrap(),
            "ws://127.0.0.1:9/ws-client"
        );
    }

    #[test]
    fn plain_ws_only_to_loopback_and_nothing_but_ws_schemes() {
        for bad in [
            "ws://example.com/ws",
            "http://localhost/ws",
            "localhost/ws",
            "",
            "wss://",
            "ws://localhost/ws#frag",
        ] {
            let e = socket_url(bad, Some("secret-token")).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{bad}");
            assert!(!e.message.contains("secret-token"), "{}", e.message);
        }
        assert!(socket_url("wss://example.com/ws", None).is_ok());
    }

    #[test]
    fn options_are_read_and_typed() {
        let v: Value = serde_json::json!({"wsUrl": "ws://localhost/ws", "token": "t", "waitForBotReady": false, "timeoutMs": 5000}).into();
        let o = SocketOptions::from_options(&v).unwrap();
        assert_eq!(
            (
                o.ws_url.as_deref(),
                o.token.as_deref(),
                o.wait_for_bot_ready,
                o.timeout_ms
            ),
            (Some("ws://localhost/ws"), Some("t"), false, 5000.0)
        );
        assert!(!format!("{o:?}").contains("\"t\""), "{o:?}");
        let v: Value = serde_json::json!({"token": 5}).into();
        assert_eq!(
            SocketOptions::from_options(&v).unwrap_err().code,
            ErrorCode::InvalidOptions
        );
        let v: Value = serde_json::json!({"timeoutMs": -1}).into();
        assert!(SocketOptions::from_options(&v).is_err());
    }
}
