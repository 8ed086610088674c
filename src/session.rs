//! What a start answer means: the session id, ICE servers and the pass-through fields.

use crate::error::{Error, Phase};
use crate::json::{Map, Value};
use crate::platform::Platform;

#[derive(Clone, PartialEq)]
pub struct IceServer {
    /// Always a list, whether the server sent a string or an array.
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// TURN credentials are secrets: `Debug` says whether they are there, never what they are.
impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &hidden(&self.username))
            .field("credential", &hidden(&self.credential))
            .finish()
    }
}

impl IceServer {
    /// As an `RTCIceServer` dictionary.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        let mut urls = Vec::new();
        for url in &self.urls {
            urls.push(Value::from(url.as_str()));
        }
        m.insert("urls", Value::Array(urls));
        for (key, value) in [
            ("username", &self.username),
            ("credential", &self.credential),
        ] {
            if let Some(v) = value {
                m.insert(key, v.as_str());
            }
        }
        Value::Object(m)
    }
}

pub fn ice_servers_value(servers: &[IceServer]) -> Value {
    let mut out = Vec::new();
    for server in servers {
        out.push(server.to_value());
    }
    Value::Array(out)
}

#[derive(Clone, Debug, PartialEq)]
pub struct StartAnswer {
    pub session_id: String,
    pub ice_servers: Vec<IceServer>,
    pub daily_room: Option<String>,
    pub daily_token: Option<String>,
    pub token: Option<String>,
    pub ws_url: Option<String>,
    /// The whole answer, unknown fields included.
    pub raw: Value,
}

impl StartAnswer {
    /// Reads a 2xx start answer (`None`: its body was not JSON). Only a missing or non-string
    /// `sessionId` (or a body that is not a JSON object) is an error; odd optional fields are
    /// left out of the typed view but kept in `raw`.
    pub fn parse(body: Option<Value>) -> Result<StartAnswer, Error> {
        let raw =
            body.ok_or_else(|| Error::bad_response(Phase::Start, "the start answer is not JSON"))?;
        let Value::Object(obj) = &raw else {
            return Err(Error::bad_response(
                Phase::Start,
                "the start answer is not a JSON object",
            ));
        };
        let session_id = match obj.get("sessionId") {
            // "." and ".." would be read as path steps in the offer URL, whatever the encoding.
            Some(Value::String(s)) if !s.is_empty() && s != "." && s != ".." => s.clone(),
            Some(_) => {
                return Err(Error::bad_response(
                    Phase::Start,
                    "the start answer's `sessionId` is not a usable id",
                ))
            }
            None => {
                return Err(Error::bad_response(
                    Phase::Start,
                    "the start answer has no `sessionId`",
                ))
            }
        };
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
        let ice_servers = obj
            .get("iceConfig")
            .and_then(|c| c.get("iceServers"))
            .map(parse_ice_servers)
            .unwrap_or_default();
        Ok(StartAnswer {
            session_id,
            ice_servers,
            daily_room: text("dailyRoom"),
            daily_token: text("dailyToken"),
            token: text("token"),
            ws_url: text("wsUrl"),
            raw,
        })
    }
}

/// A session handed over as its `toJSON()` (an app's server started it with a key the page must
/// not see): the answer, the platform and the offer URL, read back. Its `iceServers` were checked
/// when the session started, and are checked again (a page's JSON may come from anywhere).
pub fn parse_session_json(v: &Value) -> Result<(StartAnswer, Platform, Option<String>), Error> {
    let read = || {
        let mut answer = StartAnswer::parse(Some(v.clone())).ok()?;
        answer.ice_servers = v.get("iceServers").map_or(Vec::new(), parse_ice_servers);
        answer.raw = match v.get("response")? {
            raw @ Value::Object(_) => raw.clone(),
            _ => return None,
        };
        let platform = match v.get("platform") {
            Some(p) => Platform::parse(p.as_str()?).ok()?,
            None => Platform::PipecatRunner,
        };
        let offer_url = match v.get("offerUrl") {
            Some(u) => Some(u.as_str()?.to_owned()),
            None => None,
        };
        Some((answer, platform, offer_url))
    };
    read().ok_or_else(|| {
        Error::invalid(
            "`session` must be a Session from startSession() (not freed) or its toJSON()",
        )
    })
}

/// `RTCIceServer`-shaped entries from a server; entries the browser would refuse are dropped (a
/// server's odd entry must not make the peer connection throw).
pub fn parse_ice_servers(value: &Value) -> Vec<IceServer> {
    let Some(list) = value.as_array() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in list {
        if let Ok(server) = ice_server(entry) {
            out.push(server);
        }
    }
    out
}

/// A caller's `iceServers`: every entry must be one the browser accepts, or nothing is sent.
pub fn parse_ice_servers_strict(items: &[Value]) -> Result<Vec<IceServer>, Error> {
    let mut out = Vec::new();
    for entry in items {
        out.push(ice_server(entry).map_err(|why| Error::invalid(format!("`iceServers`: {why}")))?);
    }
    Ok(out)
}

/// One entry, checked as `new RTCPeerConnection()` checks it (WebRTC §4.4.1.2 "validate an ICE
/// server"): `urls` a non-empty string or list of `stun:`/`stuns:`/`turn:`/`turns:` URLs, and a
/// `username` and `credential` for TURN.
fn ice_server(entry: &Value) -> Result<IceServer, String> {
    let mut urls = Vec::new();
    match entry.get("urls") {
        Some(Value::String(s)) => urls.push(s.clone()),
        Some(Value::Array(items)) => {
            for u in items {
                urls.push(u.as_str().ok_or("`urls` must hold strings")?.to_owned());
            }
        }
        _ => return Err("each entry needs `urls` (a string or an array of strings)".into()),
    }
    if urls.is_empty() {
        return Err("`urls` must not be empty".into());
    }
    let text = |key: &str| match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    };
    let (username, credential) = (text("username")?, text("credential")?);
    for url in &urls {
        let turn = check_ice_url(url).map_err(|why| {
            format!(
                "{} is not a STUN/TURN URL ({why})",
                crate::error::quoted(url)
            )
        })?;
        if turn && (username.is_none() || credential.is_none()) {
            return Err(format!(
                "{} needs a `username` and a `credential`",
                crate::error::quoted(url)
            ));
        }
    }
    Ok(IceServer {
        urls,
        username,
        credential,
    })
}

/// `Ok(true)` for a TURN URL, `Ok(false)` for STUN (RFC 7064 / 7065 syntax).
fn check_ice_url(url: &str) -> Result<bool, &'static str> {
    let (scheme, rest) = url.split_once(':').ok_or("no scheme")?;
    let turn = match scheme.to_ascii_lowercase().as_str() {
        "stun" | "stuns" => false,
        "turn" | "turns" => true,
        _ => return Err("the scheme must be stun, stuns, turn or turns"),
    };
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    match query {
        None => {}
        Some("transport=udp" | "transport=tcp") if turn => {}
        Some(_) => return Err("the only query allowed is ?transport=udp|tcp on TURN"),
    }
    let (host, port) = match crate::substring::rsplit_once_ascii(hostport, b':') {
        // A bracketed IPv6 literal holds colons of its own.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (hostport, None),
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err("no host");
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("bad port");
        }
        if p.parse::<u32>().map_or(true, |n| n == 0 || n > 65535) {
            return Err("bad port");
        }
    }
    Ok(turn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    impl StartAnswer {
        fn from_text(text: &str) -> Result<StartAnswer, Error> {
            StartAnswer::parse(crate::json::parse(text))
        }
    }

    #[test]
    fn good_answers() {
        let a = StartAnswer::from_text(r#"{"sessionId":"639f91d8","extra":{"x":1}}"#).unwrap();
        assert_eq!(a.session_id, "639f91d8");
        assert!(a.ice_servers.is_empty());
        assert_eq!(a.raw["extra"], json!({"x": 1}));
        assert_eq!(a.daily_room, None);

        let a = StartAnswer::from_text(r#"{"sessionId":"call_a1","dailyRoom":"https://d.co/r","dailyToken":"ey","token":"t","wsUrl":"wss://w"}"#).unwrap();
        assert_eq!(
            (a.daily_room.as_deref(), a.daily_token.as_deref()),
            (Some("https://d.co/r"), Some("ey"))
        );
        assert_eq!(
            (a.token.as_deref(), a.ws_url.as_deref()),
            (Some("t"), Some("wss://w"))
        );

        let a = StartAnswer::from_text(
            r#"{"sessionId":"s","iceConfig":{"iceServers":[
            {"urls":["stun:a:3478","turn:b:3478?transport=udp"],"username":"u","credential":"c"},
            {"urls":"stun:c"}, {"urls":5}, {"urls":[]}, {"username":"only"}, "junk"]}}"#,
        )
        .unwrap();
        assert_eq!(
            a.ice_servers,
            vec![
                IceServer {
                    urls: vec!["stun:a:3478".into(), "turn:b:3478?transport=udp".into()],
                    username: Some("u".into()),
                    credential: Some("c".into())
                },
                IceServer {
                    urls: vec!["stun:c".into()],
                    username: None,
                    credential: None
                },
            ]
        );
        assert_eq!(a.ice_servers[1].to_value(), json!({"urls": ["stun:c"]}));
    }

    #[test]
    fn ice_urls_are_checked_as_the_browser_checks_them() {
        let strict =
            |v: serde_json::Value| parse_ice_servers_strict(Value::from(v).as_array().unwrap());
        let ok = strict(json!([
            {"urls": "stun:127.0.0.1:3478"}, {"urls": ["STUNS:h"]},
            {"urls": "turn:[::1]:3478?transport=tcp", "username": "u", "credential": "c"},
            {"urls": "turns:t.example", "username": "u", "credential": "c"},
        ]))
        .unwrap();
        assert_eq!(ok.len(), 4);
        for bad in [
            json!([{"urls": "notaurl"}]),
            json!([{"urls": "http://h"}]),
            json!([{"urls": "stun:"}]),
            json!([{"urls": "stun:h:0"}]),
            json!([{"urls": "stun:h:99999"}]),
            json!([{"urls": "stun:h:x"}]),
            json!([{"urls": "stun:h?transport=udp"}]),
            json!([{"urls": "turn:h?x=1", "username": "u", "credential": "c"}]),
            json!([{"urls": "turn:h"}]),
            json!([{"urls": "turn:h", "username": "u"}]),
            json!([{"urls": ["stun:h", 5]}]),
            json!([{"urls": []}]),
            json!([{"urls": "stun:h", "username": 5}]),
            json!([{"username": "u"}]),
            json!(["stun:h"]),
        ] {
            let e = strict(bad.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{bad}");
            assert!(e.message.starts_with("`iceServers`"), "{}", e.message);
        }
        // From a server, the bad entries are dropped and the good ones kept.
        let lenient = parse_ice_servers(
            &json!([{"urls": "notaurl"}, {"urls": "stun:ok"}, {"urls": "turn:x"}]).into(),
        );
        assert_eq!(lenient.len(), 1);
        assert_eq!(lenient[0].urls, vec!["stun:ok".to_owned()]);
    }

    #[test]
    fn wrong_types_of_optional_fields_are_left_out_not_fatal() {
        let a = StartAnswer::from_text(
            r#"{"sessionId":"s","dailyRoom":5,"iceConfig":"x","wsUrl":null}"#,
        )
        .unwrap();
        assert_eq!(a.daily_room, None);
        assert_eq!(a.ws_url, None);
        assert!(a.ice_servers.is_empty());
        assert_eq!(a.raw["dailyRoom"], json!(5));
        let a =
            StartAnswer::from_text(r#"{"sessionId":"s","iceConfig":{"iceServers":{"urls":"x"}}}"#)
                .unwrap();
        assert!(a.ice_servers.is_empty());
    }

    #[test]
    fn debug_output_hides_turn_credentials() {
        let s = IceServer {
            urls: vec!["turn:t.example:3478".into()],
            username: Some("user-9f3".into()),
            credential: Some("pass-7c1".into()),
        };
        let shown = format!("{s:?}");
        assert!(shown.contains("turn:t.example") && shown.contains("<redacted>"));
        assert!(
            !shown.contains("user-9f3") && !shown.contains("pass-7c1"),
            "{shown}"
        );
    }

    #[test]
    fn bad_answers() {
        for body in [
            "",
            "ok",
            "<html>",
            "[1]",
            "\"s\"",
            "null",
            "{}",
            r#"{"sessionId":5}"#,
            r#"{"sessionId":""}"#,
            r#"{"sessionId":null}"#,
            r#"{"session_id":"s"}"#,
            r#"{"sessionId":["s"]}"#,
            r#"{"sessionId":"."}"#,
            r#"{"sessionId":".."}"#,
        ] {
            let e = StartAnswer::from_text(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadResponse, "{body}");
            assert_eq!(e.phase(), Some("start"));
        }
    }

    #[test]
    fn session_json_round_trip_and_refusals() {
        let json = crate::json::parse(
            r#"{"sessionId":"s1","platform":"pipecat-cloud","offerUrl":"https://x.example/s1/api/offer",
                "iceServers":[{"urls":"stun:127.0.0.1:3478"},{"urls":"http://bad"}],
                "wsUrl":"ws://127.0.0.1/ws","token":"t","response":{"sessionId":"s1","x":1}}"#,
        )
        .unwrap();
        let (answer, platform, offer) = parse_session_json(&json).unwrap();
        assert_eq!(answer.session_id, "s1");
        assert_eq!(platform, Platform::PipecatCloud);
        assert_eq!(offer.as_deref(), Some("https://x.example/s1/api/offer"));
        // The entry a browser would refuse is dropped, as from a start answer.
        assert_eq!(answer.ice_servers.len(), 1);
        assert_eq!(answer.ws_url.as_deref(), Some("ws://127.0.0.1/ws"));
        assert_eq!(answer.token.as_deref(), Some("t"));
        assert_eq!(answer.raw.get("x").and_then(Value::as_f64), Some(1.0));
        for bad in [
            "{}",
            "[]",
            "null",
            r#"{"sessionId":"s","response":{},"platform":"elsewhere"}"#,
            r#"{"sessionId":"s","response":{},"platform":3}"#,
            r#"{"sessionId":"s","response":{},"offerUrl":7}"#,
            r#"{"sessionId":"","response":{}}"#,
            r#"{"sessionId":"s"}"#,
            r#"{"sessionId":"s","response":"x"}"#,
            r#"{"__wbg_ptr":1234}"#,
        ] {
            let e = parse_session_json(&crate::json::parse(bad).unwrap()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{bad}");
            assert!(e.message.contains("toJSON()"), "{bad}: {}", e.message);
        }
        // Only what toJSON() always has is needed: the platform defaults to the runner.
        let (_, platform, offer) =
            parse_session_json(&crate::json::parse(r#"{"sessionId":"s","response":{}}"#).unwrap())
                .unwrap();
        assert_eq!((platform, offer), (Platform::PipecatRunner, None));
    }
}
