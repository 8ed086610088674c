//! HTTP signalling (docs/protocol.md §2): the offer body, the answer, and which credentials an offer
//! request may carry.

use crate::error::{Error, Phase};
use crate::json::{obj, Value};
use crate::options::Transport;
use crate::options::{
    validate_offer_template, wrong_type, Credentials, Fields, DEFAULT_TIMEOUT_MS,
};
use crate::platform::resolve_offer_url;
use crate::session::{parse_ice_servers_strict, IceServer, StartAnswer};
use crate::url::HttpUrl;

pub fn offer_body(
    sdp: &str,
    pc_id: Option<&str>,
    restart_pc: bool,
    request_data: Option<&Value>,
) -> Value {
    let mut body = obj([
        ("sdp", sdp.into()),
        ("type", "offer".into()),
        ("pc_id", pc_id.into()),
        ("restart_pc", restart_pc.into()),
    ]);
    if let (Some(data), Value::Object(m)) = (request_data, &mut body) {
        m.insert("request_data", data.clone());
    }
    body
}

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub sdp: String,
    pub pc_id: String,
}

/// Reads a 2xx offer answer (`None`: its body was not JSON).
pub fn parse_answer(value: Option<&Value>) -> Result<Answer, Error> {
    let bad = |why: &str| Error::bad_response(Phase::Offer, format!("the offer answer {why}"));
    let value = value.ok_or_else(|| bad("is not JSON"))?;
    let sdp = value
        .get("sdp")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("has no `sdp`"))?;
    if value.get("type").and_then(Value::as_str) != Some("answer") {
        return Err(bad("is not of `type` \"answer\""));
    }
    let pc_id = value
        .get("pc_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("has no `pc_id`"))?;
    Ok(Answer {
        sdp: sdp.to_owned(),
        pc_id: pc_id.to_owned(),
    })
}

/// The JSON part of `connectWebRtc` options (media, session and signal are read by the web layer).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectOptions {
    pub offer_url: Option<String>,
    /// Credentials given explicitly; `None` means "the session's, for its own origin".
    pub credentials: Option<Credentials>,
    pub ice_servers: Option<Vec<IceServer>>,
    pub request_data: Option<Value>,
    pub wait_for_bot_ready: bool,
    pub timeout_ms: f64,
    pub reconnect_attempts: u32,
    pub reconnect_timeout_ms: f64,
    /// `fallbackAfterMs`: ICE must connect this soon after the answer (`transport: "auto"`).
    pub ice_limit_ms: Option<f64>,
}

/// Recovery after a drop: attempts, and the time it may take in all (docs/api.md).
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 5;
pub const DEFAULT_RECONNECT_TIMEOUT_MS: f64 = 30_000.0;

impl ConnectOptions {
    pub fn from_options(options: &Value) -> Result<ConnectOptions, Error> {
        let Value::Object(map) = options else {
            return Err(Error::invalid("options must be an object"));
        };
        let f = Fields(map);
        let offer_url = f
            .string("offerUrl")?
            .map(|u| validate_offer_template(&u))
            .transpose()?;
        let credentials = if f.get("apiKey").is_some() || f.get("headers").is_some() {
            Some(Credentials::from_fields(&f)?)
        } else {
            None
        };
        let ice_servers = match f.get("iceServers") {
            None => None,
            Some(Value::Array(items)) => Some(parse_ice_servers_strict(items)?),
            Some(other) => return Err(wrong_type("iceServers", "an array", other)),
        };
        let wait_for_bot_ready = f.bool("waitForBotReady")?.unwrap_or(true);
        let ice_limit_ms = match f.get("fallbackAfterMs") {
            None => None,
            Some(_) => Some(f.positive_ms("fallbackAfterMs", 0.0)?),
        };
        let timeout_ms = f.positive_ms("timeoutMs", DEFAULT_TIMEOUT_MS)?;
        let reconnect = f.object("reconnect")?.map(Fields);
        let reconnect_attempts = match reconnect.as_ref().and_then(|r| r.get("maxAttempts")) {
            None => DEFAULT_RECONNECT_ATTEMPTS,
            Some(Value::Number(n)) if n.fract() == 0.0 && (0.0..=100.0).contains(n) => *n as u32,
            Some(Value::Number(_)) => {
                return Err(Error::invalid(
                    "`reconnect.maxAttempts` must be a whole number from 0 to 100",
                ))
            }
            Some(other) => return Err(wrong_type("reconnect.maxAttempts", "a number", other)),
        };
        let reconnect_timeout_ms = match &reconnect {
            Some(r) => r.positive_ms("timeoutMs", DEFAULT_RECONNECT_TIMEOUT_MS)?,
            None => DEFAULT_RECONNECT_TIMEOUT_MS,
        };
        Ok(ConnectOptions {
            offer_url,
            credentials,
            ice_servers,
            request_data: f.get("requestData").cloned(),
            wait_for_bot_ready,
            timeout_ms,
            reconnect_attempts,
            reconnect_timeout_ms,
            ice_limit_ms,
        })
    }
}

/// Picks the offer URL and its credentials. A session's key and headers go only to its start
/// URL's origin; for any other origin the caller must pass them explicitly.
pub fn resolve_target(
    options: &ConnectOptions,
    session: Option<(&str, Option<&str>, &str, &Credentials)>,
) -> Result<(String, Credentials), Error> {
    let (url, session_creds) = match session {
        Some((session_id, session_offer, start_origin, creds)) => {
            let url = match (&options.offer_url, session_offer) {
                (Some(t), _) => resolve_offer_url(t, Some(session_id)),
                (None, Some(u)) => u.to_owned(),
                (None, None) => {
                    return Err(Error::invalid(
                        "this session has no offer URL; pass `offerUrl`",
                    ))
                }
            };
            let same_origin = HttpUrl::parse(&url, "offerUrl")
                .map(|u| u.origin() == start_origin)
                .unwrap_or(false);
            (
                url,
                if same_origin {
                    creds.clone()
                } else {
                    Credentials::default()
                },
            )
        }
        None => match &options.offer_url {
            Some(t) => (resolve_offer_url(t, None), Credentials::default()),
            None => return Err(Error::invalid("`session` or `offerUrl` is required")),
        },
    };
    HttpUrl::parse(&url, "offerUrl")?.require_secure_or_loopback("offerUrl")?;
    Ok((url, options.credentials.clone().unwrap_or(session_creds)))
}

/// The ICE servers a peer connection uses: the caller's `iceServers` when given, else the
/// session's `iceConfig` (as the official client does), else none — no public STUN server is
/// contacted unless one of them names it.
pub fn choose_ice_servers<'a>(
    explicit: Option<&'a [IceServer]>,
    from_session: &'a [IceServer],
) -> &'a [IceServer] {
    explicit.unwrap_or(from_session)
}

/// A session started for a Daily room or the WebSocket transport needs another kind of client;
/// say which instead of failing later in an obscure way.
pub fn webrtc_session_check(
    answer: &StartAnswer,
    requested: Option<Transport>,
) -> Result<(), Error> {
    if answer.daily_room.is_some() || requested == Some(Transport::Daily) {
        return Err(Error::invalid(
            "this session was started for a Daily room: join it with a Daily client (daily-js), not connectWebRtc",
        ));
    }
    if answer.ws_url.is_some() || requested == Some(Transport::Websocket) {
        return Err(Error::invalid(
            "this session was started for the WebSocket transport: use a WebSocket client with its `wsUrl` and `token`, not connectWebRtc",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn answer(text: &str) -> Result<Answer, Error> {
        parse_answer(crate::json::parse(text).as_ref())
    }

    fn connect(options: serde_json::Value) -> Result<ConnectOptions, Error> {
        ConnectOptions::from_options(&options.into())
    }

    #[test]
    fn offer_bodies() {
        let b = offer_body("v=0", None, false, None);
        assert_eq!(
            b,
            json!({"sdp":"v=0","type":"offer","pc_id":null,"restart_pc":false})
        );
        let b = offer_body("v=0", Some("pc"), true, Some(&json!({"a":1}).into()));
        assert_eq!(
            b,
            json!({"sdp":"v=0","type":"offer","pc_id":"pc","restart_pc":true,"request_data":{"a":1}})
        );
    }

    #[test]
    fn answers() {
        assert_eq!(
            answer(r#"{"sdp":"v=0","type":"answer","pc_id":"p1","x":1}"#).unwrap(),
            Answer {
                sdp: "v=0".into(),
                pc_id: "p1".into()
            }
        );
        for bad in [
            "",
            "nope",
            "[]",
            r#"{"type":"answer","pc_id":"p"}"#,
            r#"{"sdp":"v=0","pc_id":"p"}"#,
            r#"{"sdp":"v=0","type":"offer","pc_id":"p"}"#,
            r#"{"sdp":"v=0","type":"answer"}"#,
            r#"{"sdp":"","type":"answer","pc_id":"p"}"#,
            r#"{"sdp":1,"type":"answer","pc_id":"p"}"#,
        ] {
            let e = answer(bad).unwrap_err();
            assert_eq!(
                (e.code, e.phase()),
                (ErrorCode::BadResponse, Some("offer")),
                "{bad}"
            );
        }
    }

    #[test]
    fn connect_options() {
        let o = connect(json!({})).unwrap();
        assert_eq!(
            (
                o.wait_for_bot_ready,
                o.timeout_ms,
                o.reconnect_attempts,
                o.credentials.is_none()
            ),
            (true, 15000.0, 5, true)
        );
        let o = connect(json!({
            "offerUrl": "http://127.0.0.1:1/api/offer", "apiKey": "k", "iceServers": [{"urls": "stun:127.0.0.1:1"}],
            "requestData": {"x": 1}, "waitForBotReady": false, "timeoutMs": 99, "reconnect": {"maxAttempts": 0},
        })).unwrap();
        assert_eq!(
            o.ice_servers.unwrap()[0].urls,
            vec!["stun:127.0.0.1:1".to_owned()]
        );
        assert_eq!(
            (o.wait_for_bot_ready, o.timeout_ms, o.reconnect_attempts),
            (false, 99.0, 0)
        );
        assert_eq!(o.credentials.unwrap().api_key.as_deref(), Some("k"));
        for bad in [
            json!(null),
            json!({"offerUrl": 5}),
            json!({"offerUrl": "http://example.com/x"}),
            json!({"iceServers": {}}),
            json!({"iceServers": [{"username": "u"}]}),
            json!({"waitForBotReady": "yes"}),
            json!({"timeoutMs": 0}),
            json!({"reconnect": {"maxAttempts": -1}}),
            json!({"reconnect": true}),
            json!({"reconnect": {"maxAttempts": 1.5}}),
            json!({"reconnect": {"maxAttempts": 101}}),
            json!({"reconnect": {"timeoutMs": 0}}),
            json!({"headers": {"a b": "c"}}),
        ] {
            assert_eq!(
                connect(bad.clone()).unwrap_err().code,
                ErrorCode::InvalidOptions,
                "{bad}"
            );
        }
    }

    #[test]
    fn sessions_for_other_transports_are_refused_with_the_client_they_need() {
        let webrtc = StartAnswer::parse(crate::json::parse(r#"{"sessionId":"s"}"#)).unwrap();
        assert!(webrtc_session_check(&webrtc, None).is_ok());
        assert!(webrtc_session_check(&webrtc, Some(Transport::Webrtc)).is_ok());
        let daily = StartAnswer::parse(crate::json::parse(
            r#"{"sessionId":"s","dailyRoom":"https://d.co/r","dailyToken":"t"}"#,
        ))
        .unwrap();
        let ws = StartAnswer::parse(crate::json::parse(
            r#"{"sessionId":"s","wsUrl":"wss://w","token":"t"}"#,
        ))
        .unwrap();
        let cases = [
            (&daily, None, "Daily"),
            (&webrtc, Some(Transport::Daily), "Daily"),
            (&ws, None, "WebSocket"),
            (&webrtc, Some(Transport::Websocket), "WebSocket"),
        ];
        for (answer, transport, needle) in cases {
            let e = webrtc_session_check(answer, transport).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }

    #[test]
    fn credentials_follow_the_origin() {
        let creds = Credentials {
            api_key: Some("k".into()),
            headers: vec![],
        };
        let none = connect(json!({})).unwrap();
        let same = (
            "s1",
            Some("http://127.0.0.1:7/sessions/s1/api/offer"),
            "http://127.0.0.1:7",
            &creds,
        );
        let (url, c) = resolve_target(&none, Some(same)).unwrap();
        assert_eq!(
            (url.as_str(), c.api_key.as_deref()),
            ("http://127.0.0.1:7/sessions/s1/api/offer", Some("k"))
        );

        let other = connect(json!({"offerUrl": "http://127.0.0.2:7/x/{sessionId}"})).unwrap();
        let (url, c) = resolve_target(&other, Some(same)).unwrap();
        assert_eq!(
            (url.as_str(), c.api_key),
            ("http://127.0.0.2:7/x/s1", None),
            "another origin gets no key"
        );

        let explicit =
            connect(json!({"offerUrl": "http://127.0.0.2:7/x", "apiKey": "k2"})).unwrap();
        assert_eq!(
            resolve_target(&explicit, Some(same))
                .unwrap()
                .1
                .api_key
                .as_deref(),
            Some("k2")
        );
        assert_eq!(
            resolve_target(&explicit, None).unwrap().0,
            "http://127.0.0.2:7/x"
        );

        assert_eq!(
            resolve_target(&none, None).unwrap_err().code,
            ErrorCode::InvalidOptions
        );
        assert_eq!(
            resolve_target(&none, Some(("s", None, "http://h", &creds)))
                .unwrap_err()
                .code,
            ErrorCode::InvalidOptions
        );
    }
}
