//! Just enough of URL parsing for the SDK's rules (absolute http(s), loopback, origins, path
//! building) without pulling a full URL crate and its IDNA tables into every page's wasm.

use crate::error::Error;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    secure: bool,
    host: String,
    port: Option<u16>,
    path: String,
    query: String,
}

impl HttpUrl {
    /// Parses an absolute `http:` / `https:` URL. `what` names the option in error messages.
    pub fn parse(input: &str, what: &str) -> Result<HttpUrl, Error> {
        let bad = |why: &str| Error::invalid(format!("`{what}` {why}"));
        if input.is_empty() {
            return Err(bad("must not be empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain whitespace or control characters"));
        }
        let Some((scheme, rest)) = crate::substring::split_once(input, "://") else {
            return Err(bad("must be an absolute http(s) URL"));
        };
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("must use http: or https:")),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        // The `_checked` forms: an index from `find` is a char boundary, and the panicking ones
        // would bring core's slice error message (its char `Debug`, ~4 KB of wasm).
        let (authority, tail) = rest.split_at_checked(authority_end).unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(bad("must not carry credentials"));
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| bad("has an invalid host or port"))?;
        let tail = tail.split('#').next().unwrap_or("");
        let (path, query) = match tail.find('?') {
            Some(i) => tail.split_at_checked(i).unwrap_or((tail, "")),
            None => (tail, ""),
        };
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        Ok(HttpUrl {
            secure,
            host,
            port,
            path,
            query: query.to_owned(),
        })
    }

    pub fn is_secure(&self) -> bool {
        self.secure
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// `localhost` (and `*.localhost`), 127.0.0.0/8 and `[::1]`: the only hosts plain http may reach.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        if h == "localhost" || h.ends_with(".localhost") || h == "[::1]" {
            return true;
        }
        // 127.x.y.z: four decimal octets, the first 127.
        let mut count = 0;
        for octet in h.split('.') {
            count += 1;
            if (count == 1 && octet != "127") || octet.is_empty() || octet.parse::<u8>().is_err() {
                return false;
            }
        }
        count == 4
    }

    /// Rejects plain http to anything but loopback: keys and SDP must not cross a network unencrypted.
    pub fn require_secure_or_loopback(&self, what: &str) -> Result<(), Error> {
        if self.secure || self.is_loopback() {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "`{what}` uses plain http: to a host that is not loopback; use https:"
            )))
        }
    }

    /// `scheme://host[:port]` with the default port left out, for same-origin decisions.
    pub fn origin(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        let default = if self.secure { 443 } else { 80 };
        match self.port {
            Some(p) if p != default => {
                format!(
                    "{scheme}://{}:{}",
                    self.host,
                    crate::json::decimal(p.into())
                )
            }
            _ => format!("{scheme}://{}", self.host),
        }
    }

    /// Appends already-encoded path segments to the path, keeping the query.
    pub fn with_segments(&self, segments: &[&str]) -> HttpUrl {
        let mut path = self.path.trim_end_matches('/').to_owned();
        for s in segments {
            path.push('/');
            path.push_str(s);
        }
        HttpUrl {
            path,
            ..self.clone()
        }
    }

    /// Replaces the path, keeping the query.
    pub fn with_path(&self, path: String) -> HttpUrl {
        HttpUrl {
            path,
            ..self.clone()
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.origin(), self.path, self.query)
    }
}

fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let inner = rest.get(..end)?;
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        let after = rest.get(end + 1..)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inner.to_ascii_lowercase()), port)
    } else {
        let (h, p) = match crate::substring::rsplit_once_ascii(authority, b':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let valid = !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid {
            return None;
        }
        (h.to_ascii_lowercase(), p)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Percent-encodes a value for one path segment, so that it can never change the URL's shape.
pub fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(crate::json::hex_digit(u32::from(b) >> 4).to_ascii_uppercase());
            out.push(crate::json::hex_digit(u32::from(b)).to_ascii_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let cases = [
            (
                "https://api.pipecat.daily.co/v1/public",
                "https://api.pipecat.daily.co/v1/public",
                "https://api.pipecat.daily.co",
            ),
            (
                "HTTP://LocalHost:7860",
                "http://localhost:7860/",
                "http://localhost:7860",
            ),
            (
                "http://127.0.0.1:80/x?y=1#frag",
                "http://127.0.0.1/x?y=1",
                "http://127.0.0.1",
            ),
            (
                "https://[::1]:8443/a/",
                "https://[::1]:8443/a/",
                "https://[::1]:8443",
            ),
            (
                "https://h.example:443/p",
                "https://h.example/p",
                "https://h.example",
            ),
            (
                "http://127.0.0.1:7860?fault=x",
                "http://127.0.0.1:7860/?fault=x",
                "http://127.0.0.1:7860",
            ),
        ];
        for (input, printed, origin) in cases {
            let u = HttpUrl::parse(input, "baseUrl").unwrap();
            assert_eq!(u.to_string(), printed, "{input}");
            assert_eq!(u.origin(), origin, "{input}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_absolute_http_url() {
        let bad = [
            "",
            "/v1/public",
            "api.example.com/start",
            "ftp://x.example",
            "ws://127.0.0.1",
            "javascript://x",
            "https://",
            "https://user:pw@x.example",
            "https://x.example:99999",
            "https://x.example:12a",
            "https://x y.example",
            "https://x.example/ a",
            "https://[zz]/",
            "https://[::1",
            "https://ex%41mple.com",
            "https:///path",
            " https://x.example",
        ];
        for input in bad {
            let e = HttpUrl::parse(input, "baseUrl").unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidOptions, "{input}");
            assert!(e.message.contains("`baseUrl`"), "{}", e.message);
        }
    }

    #[test]
    fn loopback_rules() {
        let cases = [
            ("http://localhost", true),
            ("http://app.localhost:3000", true),
            ("http://127.0.0.1", true),
            ("http://127.255.3.4:1", true),
            ("http://[::1]:7860", true),
            ("http://128.0.0.1", false),
            ("http://127.0.0", false),
            ("http://127.0.0.1.evil.com", false),
            ("http://localhost.evil.com", false),
            ("http://10.0.0.1", false),
            ("http://[::2]", false),
            ("http://127.0.0.256", false),
        ];
        for (input, loop_) in cases {
            let u = HttpUrl::parse(input, "baseUrl").unwrap();
            assert_eq!(u.is_loopback(), loop_, "{input}");
            assert_eq!(
                u.require_secure_or_loopback("baseUrl").is_ok(),
                loop_,
                "{input}"
            );
        }
        assert!(HttpUrl::parse("https://10.0.0.1", "x")
            .unwrap()
            .require_secure_or_loopback("x")
            .is_ok());
    }

    #[test]
    fn segments_are_encoded_and_appended() {
        assert_eq!(encode_segment("my-agent_1.v~"), "my-agent_1.v~");
        assert_eq!(encode_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
        let u = HttpUrl::parse("http://127.0.0.1:7860/v1/public/?q=1", "x").unwrap();
        assert_eq!(
            u.with_segments(&["a", "start"]).to_string(),
            "http://127.0.0.1:7860/v1/public/a/start?q=1"
        );
    }
}
