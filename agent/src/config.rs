//! Command-line and environment configuration. A flag wins over its variable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub api_key: Option<String>,
    pub ice_servers: Vec<String>,
    pub www: PathBuf,
    pub pkg: PathBuf,
    pub max_sessions: usize,
    pub max_body_bytes: usize,
    pub session_ttl: Duration,
    pub ping_timeout: Duration,
    pub consent_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 7860,
            api_key: None,
            ice_servers: Vec::new(),
            www: PathBuf::from("www"),
            pkg: PathBuf::from("pkg"),
            max_sessions: 100,
            max_body_bytes: 65536,
            session_ttl: Duration::from_secs(60),
            ping_timeout: Duration::from_millis(3000),
            consent_timeout: Duration::from_secs(30),
        }
    }
}

pub const USAGE: &str = "\
agent-rtc-agent: a local echo agent speaking the Pipecat start and offer/answer protocol
and Pipecat's WebSocket transport

Options (flag wins over environment variable):
  --host ADDR              listen address [HOST] (default 127.0.0.1)
  --port PORT              listen port, 0 picks a free one [PORT] (default 7860)
  --api-key KEY            Bearer key required on Pipecat Cloud routes [AGENT_API_KEY]
  --ice-server URL         ICE server returned in iceConfig, repeatable [ICE_SERVERS, comma-separated]
  --www DIR                static files served at / (default www)
  --pkg DIR                static files served at /pkg/ (default pkg)
  --max-sessions N         live session limit (default 100)
  --max-body-bytes N       request body limit (default 65536)
  --session-ttl-secs S     a session without an offer expires after S seconds (default 60)
  --ping-timeout-ms MS     a client silent (no ping) this long is away: nothing is sent to it
                           until it pings again (default 3000)
  --consent-timeout-secs S the bot ends S seconds after the client's last datagram (ICE
                           consent expiry; default 30)
  -h, --help               print this help
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Config),
    Help,
}

/// Builds the configuration from arguments (without the program name) and a variable lookup.
pub fn parse<I, F>(args: I, env: F) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Option<String>,
{
    let mut cfg = Config::default();
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(v) = env("HOST") {
        cfg.host = parse_value("HOST", &v)?;
    }
    if let Some(v) = env("PORT") {
        cfg.port = parse_value("PORT", &v)?;
    }
    cfg.api_key = env("AGENT_API_KEY");
    if let Some(v) = env("ICE_SERVERS") {
        cfg.ice_servers = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }

    let mut flag_ice: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !name.starts_with("--") {
            return Err(format!("unexpected argument `{arg}` (see --help)"));
        }
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--host" => cfg.host = parse_value(&name, &value()?)?,
            "--port" => cfg.port = parse_value(&name, &value()?)?,
            "--api-key" => {
                let v = value()?;
                cfg.api_key = if v.is_empty() { None } else { Some(v) };
            }
            "--ice-server" => flag_ice.push(value()?),
            "--www" => cfg.www = PathBuf::from(value()?),
            "--pkg" => cfg.pkg = PathBuf::from(value()?),
            "--max-sessions" => cfg.max_sessions = parse_value(&name, &value()?)?,
            "--max-body-bytes" => cfg.max_body_bytes = parse_value(&name, &value()?)?,
            "--session-ttl-secs" => {
                let secs: f64 = parse_value(&name, &value()?)?;
                cfg.session_ttl = seconds(&name, secs)?;
            }
            "--ping-timeout-ms" => {
                let ms: u64 = parse_value(&name, &value()?)?;
                cfg.ping_timeout = bounded(&name, Duration::from_millis(ms))?;
            }
            "--consent-timeout-secs" => {
                let secs: f64 = parse_value(&name, &value()?)?;
                cfg.consent_timeout = seconds(&name, secs)?;
            }
            _ => return Err(format!("unknown option `{name}` (see --help)")),
        }
    }
    if !flag_ice.is_empty() {
        cfg.ice_servers = flag_ice;
    }
    Ok(Command::Run(cfg))
}

fn parse_value<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("invalid value `{v}` for {name}"))
}

/// Longest timeout accepted: deadlines computed from it stay far from `Instant` overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

fn seconds(name: &str, secs: f64) -> Result<Duration, String> {
    let d = Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("invalid value `{secs}` for {name}"))?;
    bounded(name, d)
}

fn bounded(name: &str, d: Duration) -> Result<Duration, String> {
    if d > MAX_TIMEOUT {
        return Err(format!("{name} is over a year"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        match parse(args.iter().map(|s| s.to_string()), lookup)? {
            Command::Run(c) => Ok(c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(run(&[], &[]).unwrap(), Config::default());
    }

    #[test]
    fn flag_wins_over_env() {
        let c = run(
            &["--port", "0", "--api-key=k2", "--ice-server", "stun:a"],
            &[
                ("PORT", "9000"),
                ("AGENT_API_KEY", "k1"),
                ("ICE_SERVERS", "stun:x, stun:y"),
                ("HOST", "0.0.0.0"),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.api_key.as_deref(), Some("k2"));
        assert_eq!(c.ice_servers, vec!["stun:a"]);
        assert_eq!(c.host.to_string(), "0.0.0.0");
    }

    #[test]
    fn env_lists_and_durations() {
        let c = run(
            &[
                "--session-ttl-secs",
                "0.5",
                "--ping-timeout-ms",
                "250",
                "--consent-timeout-secs",
                "1.5",
            ],
            &[("ICE_SERVERS", "stun:x, ,stun:y")],
        )
        .unwrap();
        assert_eq!(c.ice_servers, vec!["stun:x", "stun:y"]);
        assert_eq!(c.session_ttl, Duration::from_millis(500));
        assert_eq!(c.ping_timeout, Duration::from_millis(250));
        assert_eq!(c.consent_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn errors() {
        assert!(run(&["--port"], &[]).is_err());
        assert!(run(&["--port", "x"], &[]).is_err());
        assert!(run(&["--bogus"], &[]).is_err());
        assert!(run(&["stray"], &[]).is_err());
        assert!(run(&["--session-ttl-secs", "-1"], &[]).is_err());
        assert!(run(&["--session-ttl-secs", "1e19"], &[]).is_err());
        assert!(run(&["--ping-timeout-ms", "18446744073709551615"], &[]).is_err());
        assert_eq!(run(&["--help"], &[]), Err("help".into()));
    }
}
