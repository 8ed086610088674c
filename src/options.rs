//! `startSession` options: read from a JSON object (the web layer converts the JS object), checked
//! field by field, and turned into the request to send. Nothing is sent when any check fails.

use crate::error::Error;
use crate::json::{Map, Value};
use crate::platform::{offer_template_from_start_url, validate_agent, Platform};
use crate::url::HttpUrl;
use std::fmt;

pub const DEFAULT_TIMEOUT_MS: f64 = 15_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Webrtc,
    Daily,
    Websocket,
}

impl Transport {
    pub fn parse(value: &str) -> Result<Transport, Error> {
        match value {
            "webrtc" => Ok(Transport::Webrtc),
            "daily" => Ok(Transport::Daily),
            "websocket" => Ok(Transport::Websocket),
            other => Err(Error::invalid(format!(
                "`transport` must be \"webrtc\", \"daily\" or \"websocket\", not {}",
                crate::error::quoted(other)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Webrtc => "webrtc",
            Transport::Daily => "daily",
            Transport::Websocket => "websocket",
        }
    }
}

/// The credentials a request carries. Never printed: `Debug` shows only which are set.
#[derive(Clone, Default, PartialEq)]
pub struct Credentials {
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Credentials {
    /// Every value that must not leak into errors or logs.
    pub fn secrets(&self) -> Vec<&str> {
        // Plain loops: iterator chains here were adapters of their own in the wasm.
        let mut out = Vec::new();
        if let Some(key) = &self.api_key {
            out.push(key.as_str());
        }
        for (_, value) in &self.headers {
            out.push(value.as_str());
        }
        out
    }

    /// Request headers: the caller's extras, then `Authorization` from the key (the key wins).
    pub fn request_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            if self.api_key.is_none() || !name.eq_ignore_ascii_case("authorization") {
                out.push((name.clone(), value.clone()));
            }
        }
        if let Some(key) = &self.api_key {
            let mut bearer = String::from("Bearer ");
            bearer.push_str(key);
            out.push(("Authorization".to_owned(), bearer));
        }
        out
    }

    pub fn from_fields(fields: &Fields) -> Result<Credentials, Error> {
        let api_key = fields.string("apiKey")?.filter(|k| !k.is_empty());
        if let Some(k) = &api_key {
            if !is_header_value(k) {
                return Err(Error::invalid(
                    "`apiKey` must be Latin-1 text without control characters",
                ));
            }
        }
        let mut headers = Vec::new();
        let none = Map::new();
        for (name, value) in fields.object("headers")?.unwrap_or(&none).iter() {
            if !is_header_name(name) {
                return Err(Error::invalid(format!(
                    "`headers` has an invalid header name {}",
                    crate::error::quoted(name)
                )));
            }
            let Some(v) = value.as_str() else {
                return Err(Error::invalid(format!("`headers.{name}` must be a string")));
            };
            if !is_header_value(v) {
                return Err(Error::invalid(format!(
                    "`headers.{name}` must be Latin-1 text without control characters"
                )));
            }
            headers.push((name.clone(), v.to_owned()));
        }
        Ok(Credentials { api_key, headers })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Credentials")
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::error::REDACTED),
            )
            .field("header_names", &names)
            .finish()
    }
}

/// What `fetch` accepts as a header value (a ByteString, so every character ≤ U+00FF) and what
/// cannot split or end a header line. Tabs are allowed, as HTTP allows them.
pub fn is_header_value(value: &str) -> bool {
    value
        .chars()
        .all(|c| c == '\t' || (c as u32 <= 0xFF && !c.is_control()))
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Typed access to one options object, with error messages that name the field.
pub struct Fields<'a>(pub &'a Map);

impl<'a> Fields<'a> {
    /// The field's value; `null` counts as not set, as `undefined` does.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type(key, "a string", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(key, "a boolean", other)),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(wrong_type(key, "an object", other)),
        }
    }

    pub fn positive_ms(&self, key: &str, default: f64) -> Result<f64, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) => match *n {
                ms if ms.is_finite() && ms > 0.0 => Ok(ms),
                _ => Err(Error::invalid(format!(
                    "`{key}` must be a positive number of milliseconds"
                ))),
            },
            Some(other) => Err(wrong_type(key, "a positive number", other)),
        }
    }
}

pub fn wrong_type(key: &str, expected: &str, got: &Value) -> Error {
    Error::invalid(format!("`{key}` must be {expected}, not {}", got.kind()))
}

/// A checked `startSession` request.
#[derive(Clone, Debug, PartialEq)]
pub struct StartRequest {
    pub platform: Platform,
    pub start_url: HttpUrl,
    /// With `{sessionId}` where the id goes; `None` when none can be derived.
    pub offer_template: Option<String>,
    pub credentials: Credentials,
    pub body: Map,
    pub transport: Option<Transport>,
    pub timeout_ms: f64,
}

/// Fields copied into the start body as given, when set.
const BODY_FIELDS: [(&str, Kind); 5] = [
    ("createDailyRoom", Kind::Bool),
    ("dailyRoomProperties", Kind::Object),
    ("dailyMeetingTokenProperties", Kind::Object),
    ("enableDefaultIceServers", Kind::Bool),
    ("body", Kind::Any),
];

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Object,
    Any,
}

impl StartRequest {
    /// `default_transport` is what `startAndConnect` sends when the caller set none.
    pub fn from_options(
        options: &Value,
        default_transport: Option<Transport>,
    ) -> Result<StartRequest, Error> {
        let Value::Object(map) = options else {
            return Err(Error::invalid("options must be an object"));
        };
        let f = Fields(map);
        let platform = match f.string("platform")? {
            Some(p) => Platform::parse(&p)?,
            None => Platform::PipecatCloud,
        };
        let agent = f.string("agent")?;
        let start_override = f.string("startUrl")?;
        let base = match f.string("baseUrl")? {
            Some(b) if b.is_empty() => return Err(Error::invalid("`baseUrl` must not be empty")),
            Some(b) => Some(HttpUrl::parse(&b, "baseUrl")?),
            None if start_override.is_none() => {
                return Err(Error::invalid("`baseUrl` is required (or give `startUrl`)"));
            }
            None => None,
        };
        if let Some(b) = &base {
            b.require_secure_or_loopback("baseUrl")?;
        }
        if let Some(a) = &agent {
            validate_agent(platform, a)?;
        }
        let (start_url, derived_offer) = match (&start_override, &base) {
            (Some(s), _) => {
                let url = HttpUrl::parse(s, "startUrl")?;
                url.require_secure_or_loopback("startUrl")?;
                let offer = offer_template_from_start_url(&url);
                (url, offer)
            }
            (None, Some(b)) => {
                if platform.needs_agent() && agent.is_none() {
                    return Err(Error::invalid(format!(
                        "`agent` is required for platform \"{}\"",
                        platform.as_str()
                    )));
                }
                (
                    platform.start_url(b, agent.as_deref()),
                    Some(platform.offer_template(b, agent.as_deref())),
                )
            }
            (None, None) => {
                return Err(Error::invalid("`baseUrl` is required (or give `startUrl`)"))
            }
        };
        let offer_template = match f.string("offerUrl")? {
            Some(t) => Some(validate_offer_template(&t)?),
            None => derived_offer,
        };
        let credentials = Credentials::from_fields(&f)?;
        let transport = match f.string("transport")? {
            Some(t) => Some(Transport::parse(&t)?),
            None => default_transport,
        };
        let mut body = Map::new();
        for (key, kind) in BODY_FIELDS {
            let value = match kind {
                Kind::Bool => f.bool(key)?.map(Value::Bool),
                Kind::Object => f.object(key)?.map(|m| Value::Object(m.clone())),
                Kind::Any => f.get(key).cloned(),
            };
            if let Some(v) = value {
                body.insert(key.to_owned(), v);
            }
        }
        if let Some(t) = transport {
            body.insert("transport", t.as_str());
        }
        let timeout_ms = f.positive_ms("timeoutMs", DEFAULT_TIMEOUT_MS)?;
        Ok(StartRequest {
            platform,
            start_url,
            offer_template,
            credentials,
            body,
            transport,
            timeout_ms,
        })
    }

    /// The start request's JSON body.
    pub fn body_value(&self) -> Value {
        Value::Object(self.body.clone())
    }
}

/// An offer URL template must be an absolute http(s) URL once the id is filled in.
pub fn validate_offer_template(template: &str) -> Result<String, Error> {
    let probe = crate::substring::replace(template, crate::platform::SESSION_ID_PLACEHOLDER, "x");
    let url = HttpUrl::parse(&probe, "offerUrl")?;
    url.require_secure_or_loopback("offerUrl")?;
    Ok(template.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn start(options: serde_json::Value) -> Result<StartRequest, Error> {
        StartRequest::from_options(&options.into(), None)
    }

    #[test]
    fn accepts_and_builds_each_platform() {
        let r = start(json!({"baseUrl": "https://api.pipecat.daily.co/v1/public", "agent": "bot", "apiKey": "pk_1"})).unwrap();
        assert_eq!(r.platform, Platform::PipecatCloud);
        assert_eq!(
            r.start_url.to_string(),
            "https://api.pipecat.daily.co/v1/public/bot/start"
        );
        assert_eq!(
            r.offer_template.as_deref(),
            Some("https://api.pipecat.daily.co/v1/public/bot/sessions/{sessionId}/api/offer")
        );
        assert_eq!(r.body_value(), json!({}));
        assert_eq!(r.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(
            r.credentials.request_headers(),
            vec![("Authorization".to_owned(), "Bearer pk_1".to_owned())]
        );

        let r = start(json!({"platform": "butter", "baseUrl": "https://b.example", "agent": "agent_7", "timeoutMs": 50})).unwrap();
        assert_eq!(
            r.start_url.to_string(),
            "https://b.example/api/start/agent_7"
        );
        assert_eq!(r.timeout_ms, 50.0);
        assert!(r.credentials.request_headers().is_empty());

        let r = start(json!({"platform": "pipecat-runner", "baseUrl": "http://localhost:7860"}))
            .unwrap();
        assert_eq!(r.start_url.to_string(), "http://localhost:7860/start");

        let r = start(json!({"startUrl": "http://127.0.0.1:9/x/start", "offerUrl": "http://127.0.0.1:9/o/{sessionId}"})).unwrap();
        assert_eq!(r.start_url.to_string(), "http://127.0.0.1:9/x/start");
        assert_eq!(
            r.offer_template.as_deref(),
            Some("http://127.0.0.1:9/o/{sessionId}")
        );

        let r = start(json!({"startUrl": "https://x.example/go"})).unwrap();
        assert_eq!(r.offer_template, None);
    }

    #[test]
    fn body_holds_only_fields_that_were_set() {
        let r = start(json!({
            "baseUrl": "http://127.0.0.1:1", "platform": "pipecat-runner",
            "createDailyRoom": false, "dailyRoomProperties": {"a": 1}, "dailyMeetingTokenProperties": {},
            "enableDefaultIceServers": true, "transport": "webrtc", "body": {"k": [1, "x"]},
            "unknownOption": 5, "timeoutMs": null, "apiKey": null,
        })).unwrap();
        assert_eq!(
            Value::Object(r.body.clone()),
            json!({
                "createDailyRoom": false, "dailyRoomProperties": {"a": 1}, "dailyMeetingTokenProperties": {},
                "enableDefaultIceServers": true, "transport": "webrtc", "body": {"k": [1, "x"]},
            })
        );
        let r = StartRequest::from_options(
            &json!({"baseUrl": "http://127.0.0.1:1", "platform": "pipecat-runner", "body": "text"})
                .into(),
            Some(Transport::Webrtc),
        )
        .unwrap();
        assert_eq!(
            Value::Object(r.body),
            json!({"body": "text", "transport": "webrtc"})
        );
    }

    #[test]
    fn rejects_bad_options_before_sending() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (json!(null), "must be an object"),
            (json!("https://x"), "must be an object"),
            (json!([]), "must be an object"),
            (json!({}), "`baseUrl` is required"),
            (json!({"baseUrl": ""}), "`baseUrl` must not be empty"),
            (json!({"baseUrl": "/v1/public", "agent": "a"}), "absolute"),
            (json!({"baseUrl": "ftp://x.example", "agent": "a"}), "http"),
            (
                json!({"baseUrl": "http://api.example.com", "agent": "a"}),
                "plain http",
            ),
            (
                json!({"baseUrl": "http://192.168.1.2:7860", "platform": "pipecat-runner"}),
                "plain http",
            ),
            (
                json!({"baseUrl": "https://x.example"}),
                "`agent` is required",
            ),
            (
                json!({"baseUrl": "https://x.example", "platform": "butter"}),
                "`agent` is required",
            ),
            (
                json!({"baseUrl": "https://x.example", "platform": "butter", "agent": "bot"}),
                "agent_",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "../admin"}),
                "change the request URL",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a b"}),
                "change the request URL",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a?x=1"}),
                "change the request URL",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a#f"}),
                "change the request URL",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": ""}),
                "must not be empty",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": 5}),
                "`agent` must be a string, not a number",
            ),
            (
                json!({"baseUrl": 7, "agent": "a"}),
                "`baseUrl` must be a string",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "platform": "daily"}),
                "`platform` must be",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "platform": true}),
                "`platform` must be a string",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "timeoutMs": 0}),
                "positive",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "timeoutMs": -5}),
                "positive",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "timeoutMs": "100"}),
                "`timeoutMs` must be a positive number",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "transport": "sip"}),
                "`transport` must be",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "createDailyRoom": "yes"}),
                "`createDailyRoom` must be a boolean",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "enableDefaultIceServers": 1}),
                "`enableDefaultIceServers` must be a boolean",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "dailyRoomProperties": []}),
                "`dailyRoomProperties` must be an object",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "dailyMeetingTokenProperties": "x"}),
                "must be an object",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "headers": []}),
                "`headers` must be an object",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "headers": {"X-A": 1}}),
                "`headers.X-A` must be a string",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "headers": {"bad name": "v"}}),
                "invalid header name",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "headers": {"X-A": "a\r\nb"}}),
                "without control characters",
            ),
            (
                // fetch's Headers would throw on anything above U+00FF.
                json!({"baseUrl": "https://x.example", "agent": "a", "headers": {"X-A": "a – b"}}),
                "`headers.X-A` must be Latin-1",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": "pk_–"}),
                "`apiKey` must be Latin-1",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": "pk_😀"}),
                "`apiKey` must be Latin-1",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": 12}),
                "`apiKey` must be a string",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": "k\n"}),
                "control characters",
            ),
            (json!({"startUrl": "notaurl"}), "`startUrl`"),
            (
                json!({"startUrl": "http://example.com/start"}),
                "plain http",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "offerUrl": "/api/offer"}),
                "`offerUrl`",
            ),
            (
                json!({"baseUrl": "https://x.example", "agent": "a", "offerUrl": "http://evil.example/{sessionId}"}),
                "plain http",
            ),
        ];
        for (options, needle) in cases {
            let e = start(options.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{options}");
            assert!(
                e.message.contains(needle),
                "{options}: {} lacks {needle}",
                e.message
            );
        }
    }

    #[test]
    fn credentials_never_print() {
        let r = start(json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": "pk_secret_1", "headers": {"X-Token": "tok_secret_2", "Authorization": "Basic zzz"}})).unwrap();
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("pk_secret_1") && !debug.contains("tok_secret_2"),
            "{debug}"
        );
        assert!(debug.contains("X-Token"));
        let mut secrets = r.credentials.secrets();
        secrets.sort_unstable();
        assert_eq!(secrets, vec!["Basic zzz", "pk_secret_1", "tok_secret_2"]);
        // The key replaces a caller's own Authorization header rather than sending two.
        let headers = r.credentials.request_headers();
        assert_eq!(
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .count(),
            1
        );
        assert!(headers.contains(&("Authorization".to_owned(), "Bearer pk_secret_1".to_owned())));
        // An empty key is the same as none (forms often submit "").
        let r = start(json!({"baseUrl": "https://x.example", "agent": "a", "apiKey": ""})).unwrap();
        assert!(r.credentials.api_key.is_none());
    }
}
