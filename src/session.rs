//! What a start answer means: the session id, ICE servers and the pass-through fields.

use crate::error::{Error, Phase};
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IceServer {
    /// Always a list, whether the server sent a string or an array.
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
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
    /// Parses a 2xx start answer. Only a missing or non-string `sessionId` (or a body that is not a
    /// JSON object) is an error; odd optional fields are left out of the typed view but kept in `raw`.
    pub fn parse(body: &str) -> Result<StartAnswer, Error> {
        let raw: Value = serde_json::from_str(body)
            .map_err(|_| Error::bad_response(Phase::Start, "the start answer is not JSON"))?;
        let Value::Object(obj) = &raw else {
            return Err(Error::bad_response(
                Phase::Start,
                "the start answer is not a JSON object",
            ));
        };
        let session_id = match obj.get("sessionId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(Error::bad_response(
                    Phase::Start,
                    "the start answer's `sessionId` is not a non-empty string",
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

/// `RTCIceServer`-shaped entries; entries without usable `urls` are dropped.
pub fn parse_ice_servers(value: &Value) -> Vec<IceServer> {
    let Some(list) = value.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let urls: Vec<String> = match entry.get("urls")? {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect(),
                _ => return None,
            };
            if urls.is_empty() {
                return None;
            }
            let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            Some(IceServer {
                urls,
                username: text("username"),
                credential: text("credential"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[test]
    fn good_answers() {
        let a = StartAnswer::parse(r#"{"sessionId":"639f91d8","extra":{"x":1}}"#).unwrap();
        assert_eq!(a.session_id, "639f91d8");
        assert!(a.ice_servers.is_empty());
        assert_eq!(a.raw["extra"], json!({"x": 1}));
        assert_eq!(a.daily_room, None);

        let a = StartAnswer::parse(r#"{"sessionId":"call_a1","dailyRoom":"https://d.co/r","dailyToken":"ey","token":"t","wsUrl":"wss://w"}"#).unwrap();
        assert_eq!(
            (a.daily_room.as_deref(), a.daily_token.as_deref()),
            (Some("https://d.co/r"), Some("ey"))
        );
        assert_eq!(
            (a.token.as_deref(), a.ws_url.as_deref()),
            (Some("t"), Some("wss://w"))
        );

        let a = StartAnswer::parse(
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
        assert_eq!(
            serde_json::to_value(&a.ice_servers[1]).unwrap(),
            json!({"urls": ["stun:c"]})
        );
    }

    #[test]
    fn wrong_types_of_optional_fields_are_left_out_not_fatal() {
        let a =
            StartAnswer::parse(r#"{"sessionId":"s","dailyRoom":5,"iceConfig":"x","wsUrl":null}"#)
                .unwrap();
        assert_eq!(a.daily_room, None);
        assert_eq!(a.ws_url, None);
        assert!(a.ice_servers.is_empty());
        assert_eq!(a.raw["dailyRoom"], json!(5));
        let a = StartAnswer::parse(r#"{"sessionId":"s","iceConfig":{"iceServers":{"urls":"x"}}}"#)
            .unwrap();
        assert!(a.ice_servers.is_empty());
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
        ] {
            let e = StartAnswer::parse(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadResponse, "{body}");
            assert_eq!(e.phase(), Some("start"));
        }
    }
}
